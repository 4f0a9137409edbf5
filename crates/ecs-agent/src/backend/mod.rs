//! The agent on the wire: the ECS API client, registration, the ACS and TCS sessions and
//! the state-change submitter (backend-protocol.md; config-and-lifecycle.md §2.3, §3, §7).

pub mod backoff;
pub mod capabilities;
pub mod client;
pub mod error;
pub mod registration;
pub mod settings;

pub use client::{EcsClient, PollEndpoints};
pub use error::{ApiError, BackendError, RegistrationError};
pub use registration::{Registered, Registrar, register_with_store};
pub use settings::BackendSettings;
