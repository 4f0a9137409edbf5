//! Checks the Rust shapes against the wire models themselves: for every message
//! shape, a message with every member set (recursively) must decode into the
//! known variant and re-encode to the same JSON. A misspelt or missing member, or
//! a wrong number type, fails here.

use ecs_types::{AcsMessage, RawEnvelope, TcsMessage};
use serde_json::{Map, Value, json};

const ACS_MODEL: &str = include_str!("../models/acs-api-2.json");
const TCS_MODEL: &str = include_str!("../models/tcs-api-2.json");

/// A value for `shape` with every member set. Recursion is bounded because the
/// models have no recursive shapes.
fn example(shapes: &Map<String, Value>, shape: &str) -> Value {
    let def = &shapes[shape];
    match def["type"].as_str().unwrap() {
        "structure" => {
            let members = def["members"].as_object().unwrap();
            Value::Object(
                members
                    .iter()
                    .map(|(name, m)| (name.clone(), example(shapes, m["shape"].as_str().unwrap())))
                    .collect(),
            )
        }
        "list" => json!([example(shapes, def["member"]["shape"].as_str().unwrap())]),
        "map" => json!({"key": example(shapes, def["value"]["shape"].as_str().unwrap())}),
        "string" => match def.get("enum") {
            Some(values) => values[values.as_array().unwrap().len() - 1].clone(),
            None => json!(format!("{shape}-value")),
        },
        "boolean" => json!(true),
        "integer" | "long" => json!(7),
        "double" => json!(1.5),
        "timestamp" => json!(1717171720.25),
        other => panic!("unhandled model type {other} for {shape}"),
    }
}

fn model_shapes(text: &str) -> Map<String, Value> {
    let model: Value = serde_json::from_str(text).unwrap();
    model["shapes"].as_object().unwrap().clone()
}

/// Every structure that is an operation input/output or an exception: those are
/// the shapes that appear as an envelope `type`.
fn message_shapes(text: &str) -> Vec<String> {
    let model: Value = serde_json::from_str(text).unwrap();
    let mut names: Vec<String> = model["operations"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|op| {
            ["input", "output"]
                .into_iter()
                .filter_map(|k| op.get(k).map(|v| v["shape"].as_str().unwrap().to_owned()))
        })
        .collect();
    for (name, def) in model["shapes"].as_object().unwrap() {
        if def.get("exception").is_some() {
            names.push(name.clone());
        }
    }
    names.sort();
    names.dedup();
    names
}

fn raw(message_type: &str, message: &Value) -> RawEnvelope {
    RawEnvelope {
        message_type: message_type.to_owned(),
        message: message.clone(),
    }
}

#[test]
fn every_acs_message_shape_round_trips_with_every_member() {
    let shapes = model_shapes(ACS_MODEL);
    let names = message_shapes(ACS_MODEL);
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        let message = example(&shapes, &name);
        let decoded =
            AcsMessage::from_raw(raw(&name, &message)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !matches!(decoded, AcsMessage::Unknown { .. }),
            "{name} is not a known ACS type"
        );
        if let AcsMessage::PayloadMessage(p) = &decoded {
            for t in p.tasks() {
                assert!(t.is_valid(), "task did not decode: {t:?}");
            }
        }
        let encoded = decoded.to_value().unwrap();
        assert_eq!(encoded["type"], json!(name));
        assert_eq!(
            encoded["message"], message,
            "{name} changed in a round trip"
        );
    }
}

#[test]
fn every_tcs_message_shape_round_trips_with_every_member() {
    let shapes = model_shapes(TCS_MODEL);
    let names = message_shapes(TCS_MODEL);
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let message = example(&shapes, &name);
        let decoded =
            TcsMessage::from_raw(raw(&name, &message)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !matches!(decoded, TcsMessage::Unknown { .. }),
            "{name} is not a known TCS type"
        );
        let encoded = decoded.to_value().unwrap();
        assert_eq!(
            encoded["message"], message,
            "{name} changed in a round trip"
        );
    }
}

/// The Debug text of `value` decoded as the Rust enum for model enum `shape`.
fn decode_enum(shape: &str, value: &Value) -> String {
    use ecs_types::{acs, status, task, tcs};
    macro_rules! dbg_as {
        ($t:ty) => {
            format!("{:?}", serde_json::from_value::<$t>(value.clone()).unwrap())
        };
    }
    match shape {
        "TransportProtocol" => dbg_as!(task::TransportProtocol),
        "ContainerCondition" => dbg_as!(task::ContainerCondition),
        "VolumeType" => dbg_as!(task::VolumeType),
        "Scope" => dbg_as!(task::Scope),
        "SecretType" => dbg_as!(task::SecretType),
        "SecretTarget" => dbg_as!(task::SecretTarget),
        "SecretProvider" => dbg_as!(task::SecretProvider),
        "AuthenticationType" => dbg_as!(task::AuthenticationType),
        "AssociationType" => dbg_as!(task::AssociationType),
        "Encoding" => dbg_as!(task::Encoding),
        "EnvironmentFileType" => dbg_as!(task::EnvironmentFileType),
        "FirelensConfigurationType" => dbg_as!(task::FirelensConfigurationType),
        "HealthCheckType" => dbg_as!(task::HealthCheckType),
        "AuthStrategy" => dbg_as!(task::AuthStrategy),
        "ManagedAgentName" => dbg_as!(task::ManagedAgentName),
        "DeviceCgroupPermission" => dbg_as!(task::DeviceCgroupPermission),
        "EFSAuthorizationConfigIAM" | "EFSTransitEncryption" => dbg_as!(task::EFSToggle),
        "ProxyConfigurationType" => dbg_as!(task::ProxyConfigurationType),
        "IsolationMode" => dbg_as!(task::IsolationMode),
        "NetworkInterfaceAssociationProtocol" => dbg_as!(task::NetworkInterfaceAssociationProtocol),
        "RoleType" => dbg_as!(acs::RoleType),
        "HealthStatus" => dbg_as!(status::HealthStatus),
        "InstanceHealthcheckStatus" => dbg_as!(tcs::InstanceHealthcheckStatus),
        "MetricType" => dbg_as!(tcs::MetricType),
        other => panic!("model enum {other} has no Rust type in this test"),
    }
}

#[test]
fn every_model_enum_value_is_a_known_variant() {
    // A value decoding into `Other` would mean a typo in a variant string.
    for model in [ACS_MODEL, TCS_MODEL] {
        for (name, def) in &model_shapes(model) {
            let Some(values) = def.get("enum") else {
                continue;
            };
            for value in values.as_array().unwrap() {
                let debug = decode_enum(name, value);
                assert!(
                    !debug.starts_with("Other("),
                    "{name} value {value} decodes as {debug}"
                );
            }
        }
    }
}
