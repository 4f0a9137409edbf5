//! ACS messages other than the payload: decoding, acks, envelope errors.

use ecs_types::acs::{
    HandshakeError, HeartbeatMessage, IAMRoleCredentialsMessage, RoleType, TaskIdentifier,
    TaskStopVerificationMessage,
};
use ecs_types::{AcsMessage, EnvelopeError};
use serde_json::{Value, json};

fn round_trip(text: &str) -> AcsMessage {
    let msg = AcsMessage::from_json(text).unwrap();
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        msg.to_value().unwrap(),
        original,
        "re-encoding changed the JSON"
    );
    msg
}

const CREDENTIALS: &str = r#"{"type":"IAMRoleCredentialsMessage","message":{
  "messageId":"c-77",
  "taskArn":"arn:aws:ecs:us-east-1:111122223333:task/local/0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
  "taskClusterArn":"arn:aws:ecs:us-east-1:111122223333:cluster/local",
  "roleType":"TaskApplication",
  "roleCredentials":{"credentialsId":"e4f0a6f2-1111-4222-8333-944455556666",
    "roleArn":"arn:aws:iam::111122223333:role/web-task",
    "accessKeyId":"ASIAEXAMPLEACCESSKEY","secretAccessKey":"SECRETwJalrXUtnFEMIK7MDENG",
    "sessionToken":"TOKENIQoJb3JpZ2luX2VjEXAMPLE","expiration":"2025-06-01T12:00:00Z",
    "credentialScope":"task"}}}"#;

#[test]
fn credentials_message_round_trips_and_acks() {
    let AcsMessage::IAMRoleCredentialsMessage(m) = round_trip(CREDENTIALS) else {
        panic!("wrong variant")
    };
    assert_eq!(m.role_type, Some(RoleType::TaskApplication));
    let creds = m.role_credentials.as_ref().unwrap();
    assert_eq!(creds.access_key_id.as_deref(), Some("ASIAEXAMPLEACCESSKEY"));
    assert_eq!(
        creds.session_token.as_ref().unwrap().expose(),
        "TOKENIQoJb3JpZ2luX2VjEXAMPLE"
    );
    let ack = AcsMessage::from(m.ack()).to_value().unwrap();
    assert_eq!(
        ack,
        json!({"type":"IAMRoleCredentialsAckRequest","message":{
            "credentialsId":"e4f0a6f2-1111-4222-8333-944455556666",
            "expiration":"2025-06-01T12:00:00Z","messageId":"c-77"}})
    );
}

#[test]
fn debug_of_credentials_does_not_contain_the_secrets() {
    let msg = AcsMessage::from_json(CREDENTIALS).unwrap();
    for printed in [format!("{msg:?}"), format!("{msg:#?}")] {
        assert!(!printed.contains("SECRETwJalrXUtnFEMIK7MDENG"), "{printed}");
        assert!(
            !printed.contains("TOKENIQoJb3JpZ2luX2VjEXAMPLE"),
            "{printed}"
        );
        assert!(printed.contains("<redacted>"));
        assert!(printed.contains("e4f0a6f2-1111-4222-8333-944455556666"));
    }
}

#[test]
fn unknown_role_type_is_kept_not_rejected() {
    let text = CREDENTIALS.replace("TaskApplication", "TaskSomethingNew");
    let AcsMessage::IAMRoleCredentialsMessage(m) = round_trip(&text) else {
        panic!("wrong variant")
    };
    assert_eq!(
        m.role_type,
        Some(RoleType::Other("TaskSomethingNew".into()))
    );
    assert!(m.role_type.unwrap().is_other());
}

#[test]
fn heartbeat_round_trips_and_acks() {
    let text = r#"{"type":"HeartbeatMessage","message":{"healthy":true,"messageId":"hb-000123"}}"#;
    let AcsMessage::HeartbeatMessage(hb) = round_trip(text) else {
        panic!("wrong variant")
    };
    assert_eq!(
        hb,
        HeartbeatMessage {
            healthy: Some(true),
            message_id: Some("hb-000123".into())
        }
    );
    assert_eq!(
        AcsMessage::from(hb.ack()).to_json().unwrap(),
        r#"{"type":"HeartbeatAckRequest","message":{"messageId":"hb-000123"}}"#
    );
}

#[test]
fn task_manifest_round_trips_and_builds_stop_verification() {
    let text = r#"{"type":"TaskManifestMessage","message":{
      "clusterArn":"arn:aws:ecs:us-east-1:111122223333:cluster/local",
      "containerInstanceArn":"arn:aws:ecs:us-east-1:111122223333:container-instance/local/8f0c",
      "messageId":"manifest-1","generatedAt":1717171700000,"timeline":12,
      "tasks":[{"taskArn":"arn:aws:ecs:us-east-1:111122223333:task/local/aaa","desiredStatus":"RUNNING",
                "taskClusterArn":"arn:aws:ecs:us-east-1:111122223333:cluster/local"}]}}"#;
    let AcsMessage::TaskManifestMessage(m) = round_trip(text) else {
        panic!("wrong variant")
    };
    assert_eq!(m.timeline, Some(12));
    assert_eq!(
        m.tasks.as_ref().unwrap()[0].desired_status.as_deref(),
        Some("RUNNING")
    );
    assert_eq!(m.ack().message_id.as_deref(), Some("manifest-1"));
    assert_eq!(
        m.ack().container_instance.as_deref(),
        Some("arn:aws:ecs:us-east-1:111122223333:container-instance/local/8f0c")
    );

    let verification = TaskStopVerificationMessage {
        message_id: m.message_id.clone(),
        stop_candidates: Some(vec![TaskIdentifier {
            task_arn: Some("arn:aws:ecs:us-east-1:111122223333:task/local/bbb".into()),
            task_cluster_arn: m.cluster_arn.clone(),
            desired_status: Some("STOPPED".into()),
        }]),
    };
    assert_eq!(
        AcsMessage::from(verification).to_value().unwrap(),
        json!({"type":"TaskStopVerificationMessage","message":{"messageId":"manifest-1",
          "stopCandidates":[{"desiredStatus":"STOPPED",
            "taskArn":"arn:aws:ecs:us-east-1:111122223333:task/local/bbb",
            "taskClusterArn":"arn:aws:ecs:us-east-1:111122223333:cluster/local"}]}})
    );
}

#[test]
fn stop_verification_ack_attachments_and_updates_round_trip() {
    for text in [
        r#"{"type":"TaskStopVerificationAck","message":{"generatedAt":1,"messageId":"manifest-1","stopTasks":[{"taskArn":"arn:aws:ecs:r:1:task/c/x","desiredStatus":"STOPPED"}]}}"#,
        r#"{"type":"AttachTaskNetworkInterfacesMessage","message":{"clusterArn":"c","containerInstanceArn":"ci","messageId":"m","taskArn":"t","waitTimeoutMs":5000,
           "elasticNetworkInterfaces":[{"attachmentArn":"arn:aws:ecs:r:1:attachment/a","ec2Id":"eni-1","macAddress":"0a:1b:2c:3d:4e:5f",
             "ipv4Addresses":[{"primary":true,"privateAddress":"10.0.0.5"}],"subnetGatewayIpv4Address":"10.0.0.1/24",
             "domainNameServers":["10.0.0.2"],"interfaceAssociationProtocol":"vlan",
             "interfaceVlanProperties":{"vlanId":"101","trunkInterfaceMacAddress":"0a:00:00:00:00:01"},"index":0}]}}"#,
        r#"{"type":"AttachInstanceNetworkInterfacesMessage","message":{"clusterArn":"c","containerInstanceArn":"ci","messageId":"m","waitTimeoutMs":5000,"elasticNetworkInterfaces":[]}}"#,
        r#"{"type":"ConfirmAttachmentMessage","message":{"clusterArn":"c","containerInstanceArn":"ci","messageId":"m","taskArn":"t","waitTimeoutMs":0,
           "attachment":{"attachmentArn":"arn:aws:ecs:r:1:attachment/a","attachmentType":"amazonebs","attachmentProperties":[{"name":"volumeId","value":"vol-1"}]}}}"#,
        r#"{"type":"StageUpdateMessage","message":{"clusterArn":"c","containerInstanceArn":"ci","messageId":"m","updateInfo":{"location":"https://x/y.tar","signature":"abc"}}}"#,
        r#"{"type":"PerformUpdateMessage","message":{"clusterArn":"c","containerInstanceArn":"ci","messageId":"m","updateInfo":{"location":"https://x/y.tar","signature":"abc"}}}"#,
        r#"{"type":"NackRequest","message":{"cluster":"c","containerInstance":"ci","messageId":"m","reason":"Updates are disabled"}}"#,
        r#"{"type":"CloseMessage","message":{"message":"bye"}}"#,
        r#"{"type":"ErrorMessage","message":{"message":"oops"}}"#,
        r#"{"type":"InactiveInstanceException","message":{"message":"gone"}}"#,
    ] {
        let msg = round_trip(text);
        assert!(!matches!(msg, AcsMessage::Unknown { .. }), "{text}");
        let t: Value = serde_json::from_str(text).unwrap();
        assert_eq!(msg.message_type(), t["type"]);
    }
}

#[test]
fn unknown_type_is_kept_verbatim() {
    let text = r#"{"type":"FancyNewMessage","message":{"messageId":"x","nested":{"a":[1,2]}}}"#;
    let msg = round_trip(text);
    match &msg {
        AcsMessage::Unknown {
            message_type,
            message,
        } => {
            assert_eq!(message_type, "FancyNewMessage");
            assert_eq!(message["nested"]["a"][1], 2);
        }
        other => panic!("decoded as {other:?}"),
    }
    assert_eq!(msg.message_type(), "FancyNewMessage");
}

#[test]
fn unknown_members_are_ignored() {
    let text = r#"{"type":"HeartbeatMessage","message":{"healthy":true,"messageId":"h","addedLater":{"x":1}},"extra":1}"#;
    let AcsMessage::HeartbeatMessage(hb) = AcsMessage::from_json(text).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(hb.message_id.as_deref(), Some("h"));
}

#[test]
fn absent_or_null_message_is_an_empty_message() {
    for text in [
        r#"{"type":"HeartbeatMessage"}"#,
        r#"{"type":"HeartbeatMessage","message":null}"#,
    ] {
        assert_eq!(
            AcsMessage::from_json(text).unwrap(),
            AcsMessage::HeartbeatMessage(HeartbeatMessage::default())
        );
    }
}

#[test]
fn malformed_frames_give_clear_errors() {
    let err = AcsMessage::from_json("{not json").unwrap_err();
    assert!(matches!(err, EnvelopeError::Malformed(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("frame is not a JSON message envelope"),
        "{err}"
    );

    for text in [r#"{"message":{}}"#, r#"{"type":7,"message":{}}"#, "[1,2]"] {
        let err = AcsMessage::from_json(text).unwrap_err();
        assert!(matches!(err, EnvelopeError::MissingType), "{text}: {err:?}");
    }

    let err = AcsMessage::from_json(r#"{"type":"HeartbeatMessage","message":{"healthy":"yes"}}"#)
        .unwrap_err();
    match &err {
        EnvelopeError::Message { message_type, .. } => assert_eq!(message_type, "HeartbeatMessage"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("invalid HeartbeatMessage message"),
        "{err}"
    );
    assert!(err.to_string().contains("expected a boolean"), "{err}");
}

#[test]
fn envelope_works_through_serde_too() {
    let msg: AcsMessage = serde_json::from_str(CREDENTIALS).unwrap();
    let back: Value = serde_json::to_value(&msg).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(CREDENTIALS).unwrap());
    assert!(serde_json::from_str::<AcsMessage>(r#"{"message":{}}"#).is_err());
    let _: IAMRoleCredentialsMessage = match msg {
        AcsMessage::IAMRoleCredentialsMessage(m) => m,
        _ => panic!(),
    };
}

#[test]
fn handshake_errors_decode_in_both_forms() {
    let e = HandshakeError::from_body(br#"{"InactiveInstanceException":"instance is inactive"}"#)
        .unwrap();
    assert!(e.is_inactive_instance());
    assert_eq!(
        e.to_string(),
        "InactiveInstanceException: instance is inactive"
    );

    let body = HandshakeError::new("InvalidClusterException", "no such cluster").to_body();
    let e = HandshakeError::from_body(body.as_bytes()).unwrap();
    assert_eq!(e.exception_type, "InvalidClusterException");
    assert_eq!(e.message, "no such cluster");
    assert!(!e.is_inactive_instance());

    assert_eq!(HandshakeError::from_body(b"<html>502</html>"), None);
    assert_eq!(HandshakeError::from_body(b"{}"), None);
}
