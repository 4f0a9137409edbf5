//! The reference's acceptance rules for ACS messages.

use ecs_types::AcsMessage;
use ecs_types::acs::{
    AttachTaskNetworkInterfacesMessage, ConfirmAttachmentMessage, IAMRoleCredentialsMessage,
    PayloadMessage, TaskManifestMessage,
};
use ecs_types::task::Task;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn from<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn problem(r: Result<(), ecs_types::validate::InvalidMessage>) -> String {
    r.unwrap_err().problem
}

#[test]
fn payload_needs_its_identity() {
    let AcsMessage::PayloadMessage(p) =
        AcsMessage::from_json(include_str!("fixtures/payload_two_containers.json")).unwrap()
    else {
        panic!()
    };
    assert!(p.validate().is_ok());
    let mut no_id = p.clone();
    no_id.message_id = Some(String::new());
    let err = no_id.validate().unwrap_err();
    assert_eq!(err.to_string(), "invalid PayloadMessage: missing messageId");
    let p: PayloadMessage = from(json!({"messageId":"m","clusterArn":"c"}));
    assert_eq!(problem(p.validate()), "missing containerInstanceArn");
}

#[test]
fn credentials_message_rules() {
    let good = json!({"messageId":"m","taskArn":"t","roleType":"TaskExecution",
                      "roleCredentials":{"credentialsId":"c"}});
    assert!(
        from::<IAMRoleCredentialsMessage>(good.clone())
            .validate()
            .is_ok()
    );
    let mut v = good.clone();
    v["roleType"] = json!("Other");
    assert!(problem(from::<IAMRoleCredentialsMessage>(v).validate()).contains("roleType"));
    let mut v = good.clone();
    v["roleCredentials"] = json!({});
    assert_eq!(
        problem(from::<IAMRoleCredentialsMessage>(v).validate()),
        "missing roleCredentials.credentialsId"
    );
    let mut v = good;
    v.as_object_mut().unwrap().remove("roleCredentials");
    assert_eq!(
        problem(from::<IAMRoleCredentialsMessage>(v).validate()),
        "missing roleCredentials"
    );
}

#[test]
fn manifest_members_the_reference_crashes_without() {
    let good =
        json!({"messageId":"m","timeline":3,"tasks":[{"taskArn":"t","desiredStatus":"RUNNING"}]});
    assert!(from::<TaskManifestMessage>(good.clone()).validate().is_ok());
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("timeline");
    assert_eq!(
        problem(from::<TaskManifestMessage>(v).validate()),
        "missing timeline"
    );
    let mut v = good;
    v["tasks"][0]
        .as_object_mut()
        .unwrap()
        .remove("desiredStatus");
    assert_eq!(
        problem(from::<TaskManifestMessage>(v).validate()),
        "missing tasks[].desiredStatus"
    );
}

#[test]
fn task_attachment_rules() {
    let ok: Task = from(json!({"attachments":[{"attachmentType":"amazonebs",
        "attachmentProperties":[{"name":"volumeName","value":"data"}]}],"volumes":[{"name":"data"}]}));
    assert!(ok.validate_for_reference().is_ok());
    let t: Task = from(json!({"attachments":[{"attachmentArn":"a"}]}));
    assert_eq!(
        problem(t.validate_for_reference()),
        "attachment without attachmentType"
    );
    let t: Task = from(json!({"attachments":[{"attachmentType":"amazonebs"}],"volumes":[{}]}));
    assert!(problem(t.validate_for_reference()).starts_with("volume without name"));
}

fn attach(eni: Value) -> AttachTaskNetworkInterfacesMessage {
    from(
        json!({"messageId":"m","clusterArn":"c","containerInstanceArn":"ci","taskArn":"t",
                "waitTimeoutMs":5000,"elasticNetworkInterfaces":[eni]}),
    )
}

#[test]
fn eni_rules() {
    let eni = json!({"macAddress":"0a:00:00:00:00:01","ec2Id":"eni-1",
        "ipv4Addresses":[{"primary":true,"privateAddress":"10.0.0.5"}],
        "subnetGatewayIpv4Address":"10.0.0.1/24"});
    assert!(attach(eni.clone()).validate().is_ok());

    let mut bad_gw = eni.clone();
    bad_gw["subnetGatewayIpv4Address"] = json!("10.0.0.1");
    assert!(problem(attach(bad_gw).validate()).contains("is not a.b.c.d/n"));

    let v6 = json!({"macAddress":"m","ec2Id":"e","ipv6Addresses":[{"address":"2001:db8::5"}],
                    "subnetGatewayIpv6Address":"2001:db8::1/64"});
    assert!(attach(v6).validate().is_ok());
    let none = json!({"macAddress":"m","ec2Id":"e"});
    assert_eq!(problem(attach(none).validate()), "no IPv4 or IPv6 address");

    let mut vlan = eni.clone();
    vlan["interfaceAssociationProtocol"] = json!("vlan");
    assert!(problem(attach(vlan.clone()).validate()).contains("vlan properties"));
    vlan["interfaceVlanProperties"] =
        json!({"vlanId":"101","trunkInterfaceMacAddress":"0a:00:00:00:00:02"});
    assert!(attach(vlan).validate().is_ok());

    let mut m = attach(eni);
    m.wait_timeout_ms = Some(0);
    assert_eq!(problem(m.validate()), "waitTimeoutMs must be > 0");
    m.wait_timeout_ms = Some(1);
    m.elastic_network_interfaces = Some(vec![]);
    assert_eq!(problem(m.validate()), "no elasticNetworkInterfaces");
}

#[test]
fn confirm_attachment_rules() {
    let good = json!({"messageId":"m","clusterArn":"arn:aws:ecs:r:1:cluster/c",
        "containerInstanceArn":"arn:aws:ecs:r:1:container-instance/c/i","waitTimeoutMs":0,
        "attachment":{"attachmentArn":"arn:aws:ecs:r:1:attachment/a","attachmentType":"amazonebs",
                      "attachmentProperties":[{"name":"volumeId","value":"vol-1"}]}});
    let m: ConfirmAttachmentMessage = from(good.clone());
    assert!(m.validate().is_ok());
    assert_eq!(m.effective_wait_timeout_ms(), 300_000);
    let mut v = good.clone();
    v["clusterArn"] = json!("local");
    assert!(
        problem(from::<ConfirmAttachmentMessage>(v).validate())
            .contains("clusterArn \"local\" is not an ARN")
    );
    let mut v = good;
    v["attachment"]["attachmentProperties"][0]["value"] = json!("");
    assert!(
        problem(from::<ConfirmAttachmentMessage>(v).validate()).contains("without name or value")
    );
}
