//! Wire shapes shared by the ECS agent and ecs-local: ACS and TCS messages
//! (`spec/models/*.json`), the Task/Container payloads, statuses and ARNs.
//!
//! serde only, no I/O. Every model member is an `Option` and is omitted when
//! unset; unknown members are ignored on input because the backend adds members.
//! Secrets (credentials) are [`SensitiveString`]s, which `Debug` never prints.

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

pub use arn::{Arn, ArnError, EcsArn, EcsResource};
pub use envelope::{AcsMessage, EnvelopeError, RawEnvelope, TcsMessage};
pub use lenient::Lenient;
pub use sensitive::SensitiveString;
pub use status::{ContainerStatus, HealthStatus, TaskStatus};
