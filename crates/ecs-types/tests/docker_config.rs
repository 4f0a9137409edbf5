//! The typed `dockerConfig` fragments against the spec example's strings.

use ecs_types::docker_config::{
    ContainerConfigFragment, HealthCheck, HostConfigFragment, LogConfiguration, Ulimit,
};
use ecs_types::task::DockerConfig;
use serde_json::{Value, json};

const CONFIG: &str = r#"{"Healthcheck":{"Test":["CMD-SHELL","curl -fsS http://localhost/ || exit 1"],"Interval":10000000000,"Timeout":5000000000,"Retries":3,"StartPeriod":0}}"#;
const HOST_CONFIG: &str = r#"{"CapAdd":[],"CapDrop":[],"LogConfig":{"Type":"json-file","Config":{"max-size":"10m"}},"MemoryReservation":268435456}"#;

fn spec_example() -> DockerConfig {
    DockerConfig {
        version: Some("1.17".into()),
        config: Some(CONFIG.into()),
        host_config: Some(HOST_CONFIG.into()),
    }
}

#[test]
fn spec_example_fragments_decode() {
    let dc = spec_example();
    let config = dc.config_fragment().unwrap();
    let hc = config.healthcheck.unwrap();
    assert_eq!(hc.test.unwrap()[0], "CMD-SHELL");
    assert_eq!(hc.interval, Some(10_000_000_000));
    assert_eq!(hc.retries, Some(3));
    let host = dc.host_config_fragment().unwrap();
    assert_eq!(host.cap_add, Some(vec![]));
    assert_eq!(host.memory_reservation, Some(268_435_456));
    let log = host.log_config.unwrap();
    assert_eq!(log.log_driver.as_deref(), Some("json-file"));
    assert_eq!(log.config.unwrap()["max-size"], "10m");
}

#[test]
fn fragments_encode_back_to_the_same_json() {
    let dc = spec_example();
    let rebuilt = DockerConfig::from_fragments(
        &dc.config_fragment().unwrap(),
        &dc.host_config_fragment().unwrap(),
        "1.17",
    )
    .unwrap();
    let as_value =
        |s: &Option<String>| serde_json::from_str::<Value>(s.as_deref().unwrap()).unwrap();
    assert_eq!(as_value(&rebuilt.config), as_value(&dc.config));
    assert_eq!(as_value(&rebuilt.host_config), as_value(&dc.host_config));
    assert_eq!(rebuilt.version.as_deref(), Some("1.17"));
}

#[test]
fn building_from_task_definition_settings() {
    let config = ContainerConfigFragment {
        user: Some("1000".into()),
        healthcheck: Some(HealthCheck::from_task_definition(
            vec!["CMD".into(), "true".into()],
            None,
            Some(2),
            None,
            None,
        )),
        ..Default::default()
    };
    let host = HostConfigFragment {
        cap_add: Some(vec![]),
        cap_drop: Some(vec![]),
        ulimits: Some(vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 4096,
        }]),
        log_config: Some(LogConfiguration {
            log_driver: Some("json-file".into()),
            config: None,
        }),
        ..Default::default()
    };
    let dc = DockerConfig::from_fragments(&config, &host, DockerConfig::DEFAULT_VERSION).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(dc.config.as_deref().unwrap()).unwrap(),
        json!({"User":"1000","Healthcheck":{"Test":["CMD","true"],"Interval":30000000000i64,"Timeout":2000000000,"Retries":3}})
    );
    assert_eq!(
        serde_json::from_str::<Value>(dc.host_config.as_deref().unwrap()).unwrap(),
        json!({"CapAdd":[],"CapDrop":[],"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":4096}],"LogConfig":{"Type":"json-file"}})
    );
}

#[test]
fn empty_and_invalid_fragments() {
    let empty = DockerConfig::default();
    assert_eq!(
        empty.config_fragment().unwrap(),
        ContainerConfigFragment::default()
    );
    assert_eq!(
        empty.host_config_fragment().unwrap(),
        HostConfigFragment::default()
    );
    let bad = DockerConfig {
        host_config: Some("{\"MemoryReservation\":\"lots\"}".into()),
        ..Default::default()
    };
    assert!(bad.host_config_fragment().is_err());
}
