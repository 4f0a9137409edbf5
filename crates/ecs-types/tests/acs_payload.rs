//! Round trips of the ACS payload example of backend-protocol.md §4.5.

use ecs_types::acs::PayloadMessage;
use ecs_types::task::{ContainerCondition, HealthCheckType, TransportProtocol, VolumeType};
use ecs_types::{AcsMessage, TaskStatus};
use serde_json::Value;

const PAYLOAD: &str = include_str!("fixtures/payload_two_containers.json");

fn payload() -> PayloadMessage {
    match AcsMessage::from_json(PAYLOAD).unwrap() {
        AcsMessage::PayloadMessage(p) => p,
        other => panic!("decoded as {}", other.message_type()),
    }
}

#[test]
fn payload_round_trips_to_the_same_json() {
    let msg = AcsMessage::from_json(PAYLOAD).unwrap();
    let original: Value = serde_json::from_str(PAYLOAD).unwrap();
    assert_eq!(msg.to_value().unwrap(), original);
    let reparsed = AcsMessage::from_json(&msg.to_json().unwrap()).unwrap();
    assert_eq!(reparsed, msg);
}

#[test]
fn payload_members_decode_with_wire_types() {
    let p = payload();
    assert_eq!(
        p.message_id.as_deref(),
        Some("5b0d7d3e-6a51-4b8e-9c43-2f1a8e7d6c01")
    );
    assert_eq!(p.seq_num, Some(7));
    assert_eq!(p.generated_at, Some(1_717_171_700_000));
    assert_eq!(p.tasks().len(), 1);

    let task = p.tasks()[0].valid().expect("task decodes");
    assert_eq!(task.family.as_deref(), Some("web-app"));
    assert_eq!(task.version.as_deref(), Some("3"));
    assert_eq!(task.desired_status().unwrap(), Some(TaskStatus::Running));
    assert_eq!(task.cpu, Some(0.5));
    assert_eq!(task.memory, Some(768));
    assert_eq!(task.network_mode.as_deref(), Some("bridge"));

    let volumes = task.volumes();
    assert_eq!(volumes.len(), 2);
    assert_eq!(volumes[0].volume_type, Some(VolumeType::Host));
    assert_eq!(volumes[0].host.as_ref().unwrap().source_path, None);
    assert_eq!(
        volumes[1].host.as_ref().unwrap().source_path.as_deref(),
        Some("/srv/web-app/extra")
    );

    let creds = task.role_credentials.as_ref().unwrap();
    assert_eq!(
        creds.credentials_id.as_deref(),
        Some("3c6f8a52-1d0e-4f3b-9b7c-5a2e1d0c9b8a")
    );
    assert_eq!(
        creds.secret_access_key.as_ref().unwrap().expose(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );

    let [content, web] = task.containers() else {
        panic!("expected two containers")
    };
    assert_eq!(content.name(), "content");
    assert!(!content.is_essential());
    assert_eq!(content.cpu, Some(128));
    assert_eq!(content.environment.as_ref().unwrap()["GREETING"], "hello");
    assert_eq!(
        content.mount_points()[0].source_volume.as_deref(),
        Some("shared-data")
    );
    assert_eq!(content.mount_points()[0].read_only, Some(false));
    assert_eq!(content.stop_timeout, Some(10));
    assert_eq!(
        content.effective_command().unwrap().unwrap(),
        ["sh", "-c", "echo hello > /data/index.html && sleep 300"]
    );

    assert!(web.is_essential());
    assert_eq!(web.port_mappings()[0].container_port, Some(80));
    assert_eq!(web.port_mappings()[0].host_port, Some(0));
    assert_eq!(
        web.port_mappings()[0].protocol,
        Some(TransportProtocol::Tcp)
    );
    assert_eq!(
        web.depends_on()[0].container_name.as_deref(),
        Some("content")
    );
    assert_eq!(
        web.depends_on()[0].condition,
        Some(ContainerCondition::Start)
    );
    assert_eq!(web.health_check_type, Some(HealthCheckType::Docker));
    assert_eq!(web.start_timeout, Some(120));
    let docker = web.docker_config.as_ref().unwrap();
    assert_eq!(docker.version.as_deref(), Some("1.17"));
    let host_config: Value = serde_json::from_str(docker.host_config.as_ref().unwrap()).unwrap();
    assert_eq!(host_config["MemoryReservation"], 268_435_456);
    let config: Value = serde_json::from_str(docker.config.as_ref().unwrap()).unwrap();
    assert_eq!(config["Healthcheck"]["Interval"], 10_000_000_000i64);
}

#[test]
fn acks_copy_the_payload_identity() {
    let p = payload();
    let ack = AcsMessage::from(p.ack()).to_value().unwrap();
    let expected: Value = serde_json::from_str(
        r#"{"type":"AckRequest","message":{"cluster":"arn:aws:ecs:us-east-1:111122223333:cluster/local","containerInstance":"arn:aws:ecs:us-east-1:111122223333:container-instance/local/8f0c2f3b7a8e4c5d9e1f2a3b4c5d6e7f","messageId":"5b0d7d3e-6a51-4b8e-9c43-2f1a8e7d6c01"}}"#,
    )
    .unwrap();
    assert_eq!(ack, expected);

    let task = p.tasks()[0].valid().unwrap();
    let cred_ack = ecs_types::acs::IAMRoleCredentialsAckRequest::for_credentials(
        p.message_id.clone(),
        task.role_credentials.as_ref(),
    );
    let expected: Value = serde_json::from_str(
        r#"{"type":"IAMRoleCredentialsAckRequest","message":{"credentialsId":"3c6f8a52-1d0e-4f3b-9b7c-5a2e1d0c9b8a","expiration":"2025-06-01T12:00:00Z","messageId":"5b0d7d3e-6a51-4b8e-9c43-2f1a8e7d6c01"}}"#,
    )
    .unwrap();
    assert_eq!(AcsMessage::from(cred_ack).to_value().unwrap(), expected);
}

#[test]
fn debug_of_a_payload_does_not_print_secrets() {
    let printed = format!("{:?}", payload());
    assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
    assert!(!printed.contains("je7MtGbClwBF"), "{printed}");
    assert!(
        !printed.contains("IQoJb3JpZ2luX2VjEXAMPLETOKEN"),
        "{printed}"
    );
    assert!(printed.contains("3c6f8a52-1d0e-4f3b-9b7c-5a2e1d0c9b8a"));
}

#[test]
fn one_malformed_task_does_not_lose_the_others() {
    let mut value: Value = serde_json::from_str(PAYLOAD).unwrap();
    let good = value["message"]["tasks"][0].clone();
    let mut bad = good.clone();
    bad["arn"] = "arn:aws:ecs:us-east-1:111122223333:task/local/bad".into();
    bad["memory"] = "lots".into();
    value["message"]["tasks"] = Value::Array(vec![bad, Value::Null, good]);

    let AcsMessage::PayloadMessage(p) = AcsMessage::from_json(&value.to_string()).unwrap() else {
        panic!("not a payload")
    };
    let tasks = p.tasks();
    assert_eq!(tasks.len(), 3);
    let invalid = tasks[0].clone().into_result().unwrap_err();
    assert_eq!(
        invalid.str_member("arn"),
        Some("arn:aws:ecs:us-east-1:111122223333:task/local/bad")
    );
    assert!(invalid.error.contains("invalid type"), "{}", invalid.error);
    assert!(!tasks[1].is_valid());
    assert!(tasks[2].is_valid());
    // The invalid elements are re-encoded exactly as received.
    assert_eq!(serde_json::to_value(&p).unwrap(), value["message"]);
}

#[test]
fn sending_side_builds_a_payload_from_tasks() {
    let p = payload();
    let tasks: Vec<_> = p.valid_tasks().cloned().collect();
    let mut rebuilt = PayloadMessage {
        message_id: p.message_id.clone(),
        cluster_arn: p.cluster_arn.clone(),
        container_instance_arn: p.container_instance_arn.clone(),
        generated_at: p.generated_at,
        seq_num: p.seq_num,
        ..Default::default()
    };
    rebuilt.set_tasks(tasks);
    assert_eq!(rebuilt, p);
}
