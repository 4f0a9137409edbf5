//! The agent on the wire: the ECS API client, registration, the ACS and TCS sessions and
//! the state-change submitter (backend-protocol.md; config-and-lifecycle.md §2.3, §3, §7).

pub mod acs;
pub mod backoff;
pub mod capabilities;
pub mod client;
pub mod credentials;
pub mod engine_adapter;
pub mod engine_port;
pub mod error;
pub mod imds;
pub mod insecure_http;
pub mod outbox;
pub mod registration;
pub mod runtime;
pub mod settings;
pub mod submitter;
pub mod tags;
pub mod tcs;
pub mod tls;
pub mod ws;

pub use acs::{AcsIdentity, AcsSession, AcsSignals, AcsTimers};
pub use client::{EcsClient, PollEndpoints};
pub use credentials::{CredentialsManager, CredentialsStore, TaskCredentials};
pub use engine_adapter::forward_state_changes;
pub use engine_port::{NotAccepted, TaskEngine};
pub use error::{ApiError, BackendError, RegistrationError};
pub use registration::{Registered, Registrar, register_with_store};
pub use runtime::{Registration, Sessions, StartupError, register};
pub use settings::BackendSettings;
pub use submitter::{Submitter, SubmitterTimers};
pub use tcs::{MetricsMode, TcsIdentity, TcsSession, TcsTimers};

/// True once shutdown was asked for, or once nobody can ask any more (the sender is
/// gone), so that a dropped handle never leaves a session spinning on a closed channel.
pub(crate) fn stopping(shutdown: &tokio::sync::watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}
