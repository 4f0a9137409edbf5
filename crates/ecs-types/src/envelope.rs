//! The `{"type":"<ShapeName>","message":{...}}` frame wrapping every ACS and TCS
//! message (backend-protocol.md §3.4).
//!
//! An unknown `type` decodes into an `Unknown` variant rather than failing, so a
//! newer backend cannot break a session; a known type whose `message` does not
//! decode is an [`EnvelopeError::Message`] naming the type.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

use crate::sensitive::RedactedJson;

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("frame is not a JSON message envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("frame has no \"type\" string")]
    MissingType,
    #[error("invalid {message_type} message: {source}")]
    Message {
        message_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode {message_type} message: {source}")]
    Encode {
        message_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The envelope with its message left undecoded. `Debug` redacts secret members.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEnvelope {
    #[serde(rename = "type")]
    pub message_type: String,
    /// Absent or `null` decodes as an empty message, as the reference does.
    #[serde(default)]
    pub message: Value,
}

impl fmt::Debug for RawEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEnvelope")
            .field("message_type", &self.message_type)
            .field("message", &RedactedJson(&self.message))
            .finish()
    }
}

impl RawEnvelope {
    pub fn from_json(text: &str) -> Result<Self, EnvelopeError> {
        let value: Value = serde_json::from_str(text).map_err(EnvelopeError::Malformed)?;
        Self::from_value(value)
    }

    fn from_value(mut value: Value) -> Result<Self, EnvelopeError> {
        let obj = value.as_object_mut().ok_or(EnvelopeError::MissingType)?;
        let message_type = match obj.remove("type") {
            Some(Value::String(t)) => t,
            _ => return Err(EnvelopeError::MissingType),
        };
        let message = obj.remove("message").unwrap_or(Value::Null);
        Ok(RawEnvelope {
            message_type,
            message,
        })
    }

    /// Decodes the message member as `T`.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, EnvelopeError> {
        let message = match self.message {
            Value::Null => Value::Object(Default::default()),
            other => other,
        };
        serde_json::from_value(message).map_err(|source| EnvelopeError::Message {
            message_type: self.message_type,
            source,
        })
    }
}

/// The envelope as written: `type` before `message`, like the reference.
#[derive(Serialize)]
struct Frame<'a, T> {
    #[serde(rename = "type")]
    message_type: &'a str,
    message: &'a T,
}

/// Builds a message enum over the shapes of one protocol, with `from_json`,
/// `to_json`, `message_type` and serde impls of the envelope form.
macro_rules! message_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $module:ident {
            $($variant:ident),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq)]
        pub enum $name {
            $( $variant(crate::$module::$variant), )+
            /// A type this crate does not know, kept verbatim.
            Unknown { message_type: String, message: Value },
        }

        impl $name {
            /// Every type name this enum decodes.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// The envelope's `type` string.
            pub fn message_type(&self) -> &str {
                match self {
                    $( $name::$variant(_) => stringify!($variant), )+
                    $name::Unknown { message_type, .. } => message_type,
                }
            }

            pub fn from_json(text: &str) -> Result<Self, EnvelopeError> {
                Self::from_raw(RawEnvelope::from_json(text)?)
            }

            pub fn from_raw(raw: RawEnvelope) -> Result<Self, EnvelopeError> {
                match raw.message_type.as_str() {
                    $( stringify!($variant) => raw.decode().map($name::$variant), )+
                    _ => Ok($name::Unknown {
                        message_type: raw.message_type,
                        message: raw.message,
                    }),
                }
            }

            pub fn to_value(&self) -> Result<Value, EnvelopeError> {
                serde_json::to_value(self).map_err(|source| self.encode_error(source))
            }

            /// The frame text: `type` first, then `message` with members in model order.
            pub fn to_json(&self) -> Result<String, EnvelopeError> {
                serde_json::to_string(self).map_err(|source| self.encode_error(source))
            }

            fn encode_error(&self, source: serde_json::Error) -> EnvelopeError {
                EnvelopeError::Encode {
                    message_type: self.message_type().to_owned(),
                    source,
                }
            }
        }

        /// Typed messages print their own (redacting) `Debug`; an unknown
        /// message's raw JSON is printed with secret members redacted.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant(m) => f.debug_tuple(stringify!($variant)).field(m).finish(), )+
                    $name::Unknown { message_type, message } => f
                        .debug_struct("Unknown")
                        .field("message_type", message_type)
                        .field("message", &RedactedJson(message))
                        .finish(),
                }
            }
        }

        $(
            impl From<crate::$module::$variant> for $name {
                fn from(m: crate::$module::$variant) -> Self {
                    $name::$variant(m)
                }
            }
        )+

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let message_type = self.message_type();
                match self {
                    $( $name::$variant(message) => Frame { message_type, message }.serialize(s), )+
                    $name::Unknown { message, .. } => Frame { message_type, message }.serialize(s),
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(d)?;
                RawEnvelope::from_value(value)
                    .and_then(Self::from_raw)
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

message_enum! {
    /// Every ACS message type, in either direction.
    pub enum AcsMessage in acs {
        HeartbeatMessage,
        HeartbeatAckRequest,
        PayloadMessage,
        CloseMessage,
        AckRequest,
        NackRequest,
        PerformUpdateMessage,
        StageUpdateMessage,
        IAMRoleCredentialsMessage,
        IAMRoleCredentialsAckRequest,
        ServerException,
        BadRequestException,
        InvalidClusterException,
        InvalidInstanceException,
        AccessDeniedException,
        InactiveInstanceException,
        ErrorMessage,
        AttachTaskNetworkInterfacesMessage,
        AttachInstanceNetworkInterfacesMessage,
        ConfirmAttachmentMessage,
        TaskManifestMessage,
        TaskStopVerificationAck,
        TaskStopVerificationMessage,
        PollRequest,
    }
}

message_enum! {
    /// Every TCS message type, in either direction.
    pub enum TcsMessage in tcs {
        PublishMetricsRequest,
        PublishHealthRequest,
        PublishInstanceStatusRequest,
        AckPublishMetric,
        AckPublishHealth,
        AckPublishInstanceStatus,
        HeartbeatMessage,
        StartTelemetrySessionRequest,
        StopTelemetrySessionMessage,
        ServerException,
        BadRequestException,
        ResourceValidationException,
        InvalidParameterException,
    }
}

impl TcsMessage {
    /// Decodes a frame as either side sends it: the agent's signed header block,
    /// if present, is skipped.
    pub fn from_frame(frame: &str) -> Result<Self, EnvelopeError> {
        Self::from_json(crate::tcs::split_signed_frame(frame).1)
    }
}
