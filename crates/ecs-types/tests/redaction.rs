//! Secrets never appear in `Debug` output, typed or raw.

use ecs_types::sensitive::{RedactedJson, redact_json};
use ecs_types::task::IAMRoleCredentials;
use ecs_types::{AcsMessage, RawEnvelope, SensitiveString};
use serde_json::json;

const SECRET: &str = "wJalrXUtnFEMI-SECRET";
const TOKEN: &str = "IQoJb3JpZ2luX2Vj-TOKEN";

fn assert_clean(printed: &str) {
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(!printed.contains(TOKEN), "{printed}");
}

#[test]
fn sensitive_string_never_prints_but_serialises() {
    let s = SensitiveString::new(SECRET);
    assert_eq!(format!("{s:?}"), "<redacted>");
    assert_eq!(format!("{s}"), "<redacted>");
    assert_eq!(s.expose(), SECRET);
    assert_eq!(serde_json::to_value(&s).unwrap(), json!(SECRET));
}

#[test]
fn credentials_debug_is_redacted() {
    let c = IAMRoleCredentials {
        credentials_id: Some("id-1".into()),
        access_key_id: Some("ASIAEXAMPLE".into()),
        secret_access_key: Some(SECRET.into()),
        session_token: Some(TOKEN.into()),
        ..Default::default()
    };
    let printed = format!("{c:?} {c:#?}");
    assert_clean(&printed);
    assert!(printed.contains("id-1"));
}

#[test]
fn undecodable_task_debug_is_redacted() {
    let text = json!({"type":"PayloadMessage","message":{"messageId":"m","tasks":[
        {"arn":"arn:aws:ecs:r:1:task/c/t","memory":"bad",
         "roleCredentials":{"credentialsId":"x","secretAccessKey":SECRET,"sessionToken":TOKEN}}]}})
    .to_string();
    let msg = AcsMessage::from_json(&text).unwrap();
    let printed = format!("{msg:?}");
    assert_clean(&printed);
    assert!(printed.contains("arn:aws:ecs:r:1:task/c/t"), "{printed}");
    let AcsMessage::PayloadMessage(p) = msg else {
        panic!()
    };
    let invalid = p.tasks()[0].clone().into_result().unwrap_err();
    assert_clean(&format!("{invalid:?}"));
    // The raw element itself keeps the values (it is re-sent or reported as is).
    assert_eq!(invalid.raw["roleCredentials"]["secretAccessKey"], SECRET);
}

#[test]
fn unknown_message_and_raw_envelope_debug_are_redacted() {
    let text = json!({"type":"FutureCredentialsMessage","message":{
        "creds":[{"SecretAccessKey":SECRET,"Token":TOKEN,"keep":"visible"}]}})
    .to_string();
    let msg = AcsMessage::from_json(&text).unwrap();
    let printed = format!("{msg:?}");
    assert_clean(&printed);
    assert!(printed.contains("visible"));
    let raw = RawEnvelope::from_json(&text).unwrap();
    assert_clean(&format!("{raw:?}"));
}

#[test]
fn redact_json_replaces_only_secret_members() {
    let v = json!({"password":"p","nested":[{"sessionToken":"t","name":"n"}],"token":null});
    assert_eq!(
        redact_json(&v),
        json!({"password":"<redacted>","nested":[{"sessionToken":"<redacted>","name":"n"}],"token":null})
    );
    assert_eq!(
        RedactedJson(&json!({"Authorization":"AWS4 x"})).to_string(),
        r#"{"Authorization":"<redacted>"}"#
    );
}
