//! Task/Container helpers: overrides, defaults, desired status, open enums.

use ecs_types::TaskStatus;
use ecs_types::task::{Container, ContainerOverridesWire, Task, TransportProtocol, VolumeType};
use serde_json::json;

fn container(value: serde_json::Value) -> Container {
    serde_json::from_value(value).unwrap()
}

#[test]
fn overrides_as_string_or_object_replace_the_command() {
    let base = json!({"name":"app","command":["a"]});
    let mut as_string = base.clone();
    as_string["overrides"] = json!("{\"command\":[\"b\",\"c\"]}");
    let mut as_object = base.clone();
    as_object["overrides"] = json!({"command":["b","c"]});
    for v in [as_string, as_object] {
        let c = container(v.clone());
        assert_eq!(c.effective_command().unwrap().unwrap(), ["b", "c"]);
        assert_eq!(serde_json::to_value(&c).unwrap(), v);
    }

    for (overrides, expected) in [
        (json!("{}"), vec!["a"]),
        (json!(""), vec!["a"]),
        (json!({"command": null}), vec!["a"]),
    ] {
        let mut v = base.clone();
        v["overrides"] = overrides;
        assert_eq!(container(v).effective_command().unwrap().unwrap(), expected);
    }
}

#[test]
fn overrides_with_other_keys_are_an_error() {
    let c = container(json!({"name":"app","overrides":"{\"environment\":{}}"}));
    let err = c.effective_command().unwrap_err();
    assert!(
        err.to_string().contains("unknown field `environment`"),
        "{err}"
    );
    let wire = ContainerOverridesWire::Text("not json".into());
    assert!(wire.parse().is_err());
}

#[test]
fn defaults_match_the_reference() {
    let c = container(json!({"name":"app"}));
    assert!(!c.is_essential());
    assert!(c.port_mappings().is_empty());
    assert!(c.depends_on().is_empty());
    assert_eq!(c.effective_command().unwrap(), None);
    assert_eq!(serde_json::to_value(&c).unwrap(), json!({"name":"app"}));
    let t: Task = serde_json::from_value(json!({})).unwrap();
    assert!(t.containers().is_empty());
    assert_eq!(t.desired_status().unwrap(), None);
}

#[test]
fn desired_status_is_checked_only_when_asked() {
    let t: Task = serde_json::from_value(json!({"desiredStatus":"STOPPED"})).unwrap();
    assert_eq!(t.desired_status().unwrap(), Some(TaskStatus::Stopped));
    let t: Task = serde_json::from_value(json!({"desiredStatus":"PENDING"})).unwrap();
    assert!(t.desired_status().is_err());
}

#[test]
fn unknown_enum_values_are_kept_for_validation() {
    let c = container(json!({"portMappings":[{"containerPort":53,"protocol":"sctp"}]}));
    let p = &c.port_mappings()[0];
    assert_eq!(p.protocol, Some(TransportProtocol::Other("sctp".into())));
    assert_eq!(p.protocol.as_ref().unwrap().as_str(), "sctp");
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        json!({"portMappings":[{"containerPort":53,"protocol":"sctp"}]})
    );
    let v: ecs_types::task::Volume =
        serde_json::from_value(json!({"name":"x","type":"amazonebs"})).unwrap();
    assert_eq!(v.volume_type, Some(VolumeType::from("amazonebs")));
    assert!(VolumeType::KNOWN.contains(&VolumeType::Docker));
    assert_eq!(
        VolumeType::FSxWindowsFileServer.to_string(),
        "fsxWindowsFileServer"
    );
}

#[test]
fn wrong_number_types_are_errors() {
    assert!(serde_json::from_value::<Container>(json!({"cpu":"128"})).is_err());
    assert!(serde_json::from_value::<Container>(json!({"memory":1.5})).is_err());
    // Task CPU is a double (vCPUs), so an integer is fine.
    let t: Task = serde_json::from_value(json!({"cpu":1})).unwrap();
    assert_eq!(t.cpu, Some(1.0));
    assert_eq!(serde_json::to_value(&t).unwrap(), json!({"cpu":1}));
}
