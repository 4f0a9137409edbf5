//! Typed errors of the Docker module. Nothing outside `docker/` sees bollard's error type.

use std::time::Duration;

/// An error from a Docker Engine API call, already classified for the task engine.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DockerError {
    /// No engine answers at the configured address (socket missing, connection refused, ...).
    #[error("Cannot connect to the Docker daemon at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The `DOCKER_HOST` value has a scheme this agent cannot speak.
    #[error("unsupported Docker host '{0}': expected unix:// or tcp://")]
    UnsupportedHost(String),
    /// HTTP 404 from the engine (no such container, image or volume).
    #[error("{message}")]
    NotFound { message: String },
    /// HTTP 409 from the engine (name in use, container running, image in use, ...).
    #[error("{message}")]
    Conflict { message: String },
    /// The call did not complete within the deadline the caller gave.
    #[error("{operation} timed out after waiting {}", humantime::format_duration(*after))]
    Timeout {
        operation: &'static str,
        after: Duration,
    },
    /// Any other error status from the engine; `message` is the daemon's own text.
    #[error("{message} (status {status})")]
    Api { status: u16, message: String },
    /// An image pull failed inside the progress stream (the HTTP status was 200).
    #[error("{message}")]
    Pull { image: String, message: String },
    /// The create request could not be expressed as a Docker create body.
    #[error("invalid container create request: {0}")]
    InvalidSpec(String),
    /// The engine answered with something we cannot read (bad JSON, bad port key, ...).
    #[error("unreadable Docker response: {0}")]
    Decode(String),
}

impl DockerError {
    /// The daemon's message (or our description) without the classification prefix; the engine
    /// embeds it in the reference's reason strings (`CannotCreateContainerError: <message>`).
    pub fn message(&self) -> String {
        match self {
            DockerError::NotFound { message }
            | DockerError::Conflict { message }
            | DockerError::Api { message, .. }
            | DockerError::Pull { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DockerError::NotFound { .. })
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, DockerError::Timeout { .. })
    }
}

/// Classifies a bollard error. `address` names the engine for `Unreachable`.
pub(crate) fn from_bollard(err: bollard::errors::Error, address: &str) -> DockerError {
    use bollard::errors::Error as B;
    match err {
        B::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => DockerError::NotFound { message },
            409 => DockerError::Conflict { message },
            status => DockerError::Api { status, message },
        },
        B::SocketNotFoundError(path) => DockerError::Unreachable {
            address: address.to_string(),
            reason: format!("socket {path} does not exist"),
        },
        B::HyperLegacyError { err } => DockerError::Unreachable {
            address: address.to_string(),
            reason: err.to_string(),
        },
        B::IOError { err } => DockerError::Unreachable {
            address: address.to_string(),
            reason: err.to_string(),
        },
        B::HyperResponseError { err } => DockerError::Unreachable {
            address: address.to_string(),
            reason: err.to_string(),
        },
        B::RequestTimeoutError => DockerError::Timeout {
            operation: "Docker request",
            after: super::client::TRANSPORT_TIMEOUT,
        },
        B::JsonDataError { message, .. } => DockerError::Decode(message),
        B::JsonSerdeError { err } => DockerError::Decode(err.to_string()),
        B::UnsupportedURISchemeError { uri } => DockerError::UnsupportedHost(uri),
        other => DockerError::Api {
            status: 0,
            message: other.to_string(),
        },
    }
}
