//! Errors of the backend, and their classification (backend-protocol.md §2.3.5,
//! config-and-lifecycle.md §3.7).

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Error codes the reference's registration loop retries.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ServerException",
    "LimitExceededException",
];

/// A failed ECS API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct ApiError {
    pub operation: &'static str,
    /// The service's error code (`ClientException`, ...); `None` for local and network errors.
    pub code: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(operation: &'static str, code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            operation,
            code: code.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        let message = match (&err, err.message()) {
            (SdkError::ServiceError(_), Some(m)) => m.to_owned(),
            _ => DisplayErrorContext(&err).to_string(),
        };
        Self {
            operation,
            code,
            message,
        }
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// Worth retrying with the registration backoff: throttling, server errors, or the
    /// SDK's client-side retry quota running dry.
    pub fn is_transient(&self) -> bool {
        match &self.code {
            Some(code) => TRANSIENT_CODES.contains(&code.as_str()),
            None => {
                let m = self.message.to_ascii_lowercase();
                m.contains("retry quota") || m.contains("quotaexceeded")
            }
        }
    }
}

/// Why registration failed, with the exit code the reference uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// Do not restart the agent (exit 5).
    #[error("{0}")]
    Terminal(String),
    /// Restart and try again (exit 1).
    #[error("{0}")]
    Retriable(String),
}

impl RegistrationError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RegistrationError::Terminal(_) => crate::exit::TERMINAL,
            RegistrationError::Retriable(_) => crate::exit::ERROR,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, RegistrationError::Terminal(_))
    }

    /// The table of §3.7: `reregistering` is true when a saved ARN was sent.
    pub fn classify(err: &ApiError, reregistering: bool) -> Self {
        let text = err.to_string();
        if err.has_code("InvalidParameterException") || err.has_code("ClientException") {
            return RegistrationError::Terminal(text);
        }
        if reregistering
            && err
                .message
                .contains("Container instance type changes are not supported.")
        {
            return RegistrationError::Terminal(text);
        }
        RegistrationError::Retriable(text)
    }
}

/// Failures of the backend's set-up and sessions.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("no AWS region configured (set AWS_DEFAULT_REGION)")]
    MissingRegion,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("no instance credentials: {0}")]
    Credentials(String),
    #[error("cannot sign request: {0}")]
    Signing(String),
    #[error("invalid endpoint URL {url:?}: {reason}")]
    Endpoint { url: String, reason: String },
    #[error("websocket: {0}")]
    WebSocket(String),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_reference() {
        let e =
            |code: Option<&str>, msg: &str| ApiError::new("RegisterContainerInstance", code, msg);
        assert!(RegistrationError::classify(&e(Some("ClientException"), "x"), false).is_terminal());
        assert!(
            RegistrationError::classify(&e(Some("InvalidParameterException"), "x"), true)
                .is_terminal()
        );
        let type_change = e(
            Some("ClientException2"),
            "Container instance type changes are not supported.",
        );
        assert!(!RegistrationError::classify(&type_change, false).is_terminal());
        assert!(RegistrationError::classify(&type_change, true).is_terminal());
        let denied = e(Some("AccessDeniedException"), "no");
        assert_eq!(RegistrationError::classify(&denied, false).exit_code(), 1);
        assert!(e(Some("ThrottlingException"), "slow").is_transient());
        assert!(!denied.is_transient());
        assert_eq!(
            e(Some("ClientException"), "bad").to_string(),
            "RegisterContainerInstance: ClientException: bad"
        );
    }
}
