//! Wire shapes shared by the ECS agent and ecs-local: ACS and TCS messages
//! (`spec/models/*.json`), the Task/Container payloads, statuses and ARNs.
//!
//! serde only, no I/O. Every model member is an `Option` and is omitted when
//! unset; unknown members are ignored on input because the backend adds members.
//! Secrets (credentials) are [`SensitiveString`]s, which `Debug` never prints.
//!
//! ```
//! use ecs_types::{AcsMessage, acs::HeartbeatMessage};
//!
//! let frame = r#"{"type":"HeartbeatMessage","message":{"healthy":true,"messageId":"hb-1"}}"#;
//! let AcsMessage::HeartbeatMessage(hb) = AcsMessage::from_json(frame)? else {
//!     unreachable!("a heartbeat frame")
//! };
//! let reply = AcsMessage::from(hb.ack()).to_json()?;
//! assert_eq!(reply, r#"{"type":"HeartbeatAckRequest","message":{"messageId":"hb-1"}}"#);
//!
//! // A type this crate does not know is kept, not rejected.
//! let other = AcsMessage::from_json(r#"{"type":"NewThing","message":{}}"#)?;
//! assert_eq!(other.message_type(), "NewThing");
//! # Ok::<(), ecs_types::EnvelopeError>(())
//! ```

mod go_float;
mod wire_enum;

pub mod acs;
pub mod arn;
pub mod docker_config;
pub mod envelope;
pub mod lenient;
pub mod sensitive;
pub mod status;
pub mod task;
pub mod tcs;
pub mod validate;

pub use arn::{Arn, ArnError, EcsArn, EcsResource};
pub use envelope::{AcsMessage, EnvelopeError, RawEnvelope, TcsMessage};
pub use lenient::Lenient;
pub use sensitive::SensitiveString;
pub use status::{ContainerStatus, HealthStatus, TaskStatus};
