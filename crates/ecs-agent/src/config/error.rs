//! Fatal configuration errors and the warnings for ignored, clamped or invalid values.

use std::fmt;
use std::path::PathBuf;

/// A configuration the reference refuses to start with (exit code 1, restartable).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the JSON config file {path} (ECS_AGENT_CONFIG_FILE_PATH): {source}")]
    JsonFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid JSON config file {path} (ECS_AGENT_CONFIG_FILE_PATH): {message}")]
    JsonFile { path: PathBuf, message: String },
    #[error("invalid {variable}: {message}")]
    InvalidValue {
        variable: &'static str,
        message: String,
    },
    #[error(
        "Invalid logging drivers: {} (ECS_AVAILABLE_LOGGING_DRIVERS accepts json-file, syslog, journald, gelf, fluentd, awslogs, splunk, logentries, sumologic, none, awsfirelens)",
        .drivers.join(", ")
    )]
    UnknownLoggingDrivers { drivers: Vec<String> },
    #[error(
        "AWS_DEFAULT_REGION has to be set when running on external capacity (ECS_EXTERNAL=true)"
    )]
    MissingExternalRegion,
    #[error(
        "Missing required fields: AWSRegion (set AWS_DEFAULT_REGION, or AWSRegion in the JSON config file)"
    )]
    MissingRegion,
    #[error("{key} in the JSON config file is {value}, below the minimum of {minimum}")]
    BelowMinimum {
        key: &'static str,
        value: String,
        minimum: String,
    },
    #[error(
        "ECS_DATADIR {path} must be an existing directory when checkpointing is on (ECS_CHECKPOINT)"
    )]
    DataDirMissing { path: PathBuf },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// One error for a non-empty list: itself when alone, `Several` otherwise.
    pub(crate) fn combine(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Several(errors)),
        }
    }
}

/// One ignored, clamped or invalid value. Displayed as
/// `ECS_X="given": problem; using <value> instead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The variable (or JSON key, for JSON-only settings).
    pub variable: String,
    /// The value as given (`<redacted>` for secrets).
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
    /// The effective value that was used instead; `None` when nothing replaces it
    /// (e.g. a malformed `ecs.config` line).
    pub used: Option<String>,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.problem)?;
        match self.used.as_deref() {
            None => Ok(()),
            Some("") => f.write_str("; using an empty value instead"),
            Some(used) => write!(f, "; using {used} instead"),
        }
    }
}
