//! Named errors: the reference's error kinds, rendered `"<Name>: <message>"` when they
//! reach ECS as a container or task reason.

use std::fmt;
use std::time::Duration;

/// The error names the engine produces (spelling exactly as the reference's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorName {
    CannotPullContainerError,
    CannotPullImageManifestError,
    CannotPullECRContainerError,
    CannotPullContainerAuthError,
    DockerTimeoutError,
    CannotCreateContainerError,
    CannotStartContainerError,
    CannotStopContainerError,
    CannotInspectContainerError,
    CannotDescribeContainerError,
    CannotRemoveContainerError,
    CannotCreateVolumeError,
    CannotInspectVolumeError,
    CannotRemoveVolumeError,
    OutOfMemoryError,
    DockerStateError,
    ContainerVanishedError,
    TaskStoppedBeforePullBeginError,
    HostConfigError,
    DockerClientConfigError,
    ResourceInitializationError,
    TaskStateError,
    CgroupError,
    VolumeError,
}

impl ErrorName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CannotPullContainerError => "CannotPullContainerError",
            Self::CannotPullImageManifestError => "CannotPullImageManifestError",
            Self::CannotPullECRContainerError => "CannotPullECRContainerError",
            Self::CannotPullContainerAuthError => "CannotPullContainerAuthError",
            Self::DockerTimeoutError => "DockerTimeoutError",
            Self::CannotCreateContainerError => "CannotCreateContainerError",
            Self::CannotStartContainerError => "CannotStartContainerError",
            Self::CannotStopContainerError => "CannotStopContainerError",
            Self::CannotInspectContainerError => "CannotInspectContainerError",
            Self::CannotDescribeContainerError => "CannotDescribeContainerError",
            Self::CannotRemoveContainerError => "CannotRemoveContainerError",
            Self::CannotCreateVolumeError => "CannotCreateVolumeError",
            Self::CannotInspectVolumeError => "CannotInspectVolumeError",
            Self::CannotRemoveVolumeError => "CannotRemoveVolumeError",
            Self::OutOfMemoryError => "OutOfMemoryError",
            Self::DockerStateError => "DockerStateError",
            Self::ContainerVanishedError => "ContainerVanishedError",
            Self::TaskStoppedBeforePullBeginError => "TaskStoppedBeforePullBeginError",
            Self::HostConfigError => "HostConfigError",
            Self::DockerClientConfigError => "DockerClientConfigError",
            Self::ResourceInitializationError => "ResourceInitializationError",
            Self::TaskStateError => "TaskStateError",
            Self::CgroupError => "CgroupError",
            Self::VolumeError => "VolumeError",
        }
    }
}

/// An error with a name, as reported to ECS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
pub struct NamedError {
    pub name: ErrorName,
    pub message: String,
}

impl fmt::Display for NamedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name.as_str(), self.message)
    }
}

impl NamedError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }

    /// `DockerTimeoutError: Could not transition to <what>; timed out after waiting <d>`.
    pub fn timeout(what: &str, waited: Duration) -> Self {
        Self::new(
            ErrorName::DockerTimeoutError,
            format!(
                "Could not transition to {what}; timed out after waiting {}",
                go_duration(waited)
            ),
        )
    }

    /// A pull error with the reference's hints prepended (§4.4 augmentation).
    pub fn pull(message: impl Into<String>) -> Self {
        Self::new(
            ErrorName::CannotPullContainerError,
            augment_pull_error(&message.into()),
        )
    }

    pub fn vanished() -> Self {
        Self::new(
            ErrorName::ContainerVanishedError,
            "No container matching saved ID found",
        )
    }

    pub fn out_of_memory() -> Self {
        Self::new(
            ErrorName::OutOfMemoryError,
            "Container killed due to memory usage",
        )
    }

    /// Whether a start failure means the container might be running anyway (§4.3).
    pub fn start_may_have_run(&self) -> bool {
        match self.name {
            ErrorName::DockerTimeoutError | ErrorName::CannotInspectContainerError => true,
            ErrorName::CannotStartContainerError => self.message.ends_with("EOF"),
            _ => false,
        }
    }
}

fn augment_pull_error(message: &str) -> String {
    const HINT: &str = "The task can\u{2019}t pull the image.";
    let hint = if message.contains("denied: User: ")
        && message.contains("is not authorized to perform: ecr:BatchGetImage on resource")
    {
        Some("Check that the role has the permissions to pull images from the registry.")
    } else if message.contains("denied: requested access to the resource is denied") {
        Some("Check whether the image exists.")
    } else if message.contains("request canceled while waiting for connection") {
        Some("Check your network configuration.")
    } else {
        None
    };
    match hint {
        Some(hint) => format!("{HINT} {hint} {message}"),
        None => message.to_owned(),
    }
}

/// Formats a duration like Go's `time.Duration.String()` (`3m0s`, `30s`, `2h0m0s`,
/// `1.5s`, `250ms`).
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        return if nanos < 1_000 {
            format!("{nanos}ns")
        } else if nanos < 1_000_000 {
            format!("{}µs", trim_fraction(nanos, 1_000))
        } else {
            format!("{}ms", trim_fraction(nanos, 1_000_000))
        };
    }
    let total_secs = d.as_secs();
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let secs_nanos = nanos - u128::from(hours * 3600 + minutes * 60) * 1_000_000_000;
    let secs = trim_fraction(secs_nanos, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_name_colon_message() {
        let err = NamedError::new(ErrorName::CannotStartContainerError, "boom");
        assert_eq!(err.to_string(), "CannotStartContainerError: boom");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(180)), "3m0s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(7200)), "2h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_secs(150)), "2m30s");
    }

    #[test]
    fn timeout_text() {
        assert_eq!(
            NamedError::timeout("pulled", Duration::from_secs(7200)).to_string(),
            "DockerTimeoutError: Could not transition to pulled; timed out after waiting 2h0m0s"
        );
    }

    #[test]
    fn pull_errors_are_augmented() {
        let err = NamedError::pull(
            "Error response from daemon: pull access denied for x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
        );
        assert!(err.to_string().starts_with(
            "CannotPullContainerError: The task can\u{2019}t pull the image. Check whether the image exists. Error response"
        ));
        let plain = NamedError::pull("manifest unknown");
        assert_eq!(
            plain.to_string(),
            "CannotPullContainerError: manifest unknown"
        );
    }

    #[test]
    fn start_errors_that_may_have_run() {
        assert!(
            NamedError::new(ErrorName::CannotStartContainerError, "unexpected EOF")
                .start_may_have_run()
        );
        assert!(
            !NamedError::new(ErrorName::CannotStartContainerError, "no such file")
                .start_may_have_run()
        );
        assert!(NamedError::timeout("started", Duration::from_secs(1)).start_may_have_run());
    }
}
