//! The logging settings that the configuration hands to the logger.
//!
//! Shared by `config` (which parses the variables) and `logging` (which builds the
//! outputs), so that neither reaches into the other.

use std::path::PathBuf;

/// A level word as the reference accepts it (`debug`, `info`, `warn`, `error`, `crit`, `none`).
/// A level admits itself and every more severe level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Critical,
    /// `none`: nothing is written to that output.
    Off,
}

impl LogLevel {
    /// Parses a level word case-insensitively; `None` for an unknown word.
    pub fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warn" => Some(Self::Warn),
            "error" => Some(Self::Error),
            "crit" | "critical" => Some(Self::Critical),
            "none" | "off" => Some(Self::Off),
            _ => None,
        }
    }

    /// The name the reference prints in a log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Off => "off",
        }
    }
}

/// `ECS_LOG_ROLLOVER_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloverType {
    /// Rename to `<name>.<N>` once the file reaches the size limit (the default).
    Size,
    /// Rename to `<name>.<YYYY-MM-DD-HH>` when the hour changes.
    Hourly,
    /// One plain file, never rotated (undocumented reference value `none`).
    None,
}

/// `ECS_LOG_OUTPUT_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Everything the logger needs, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// `ECS_LOGFILE`; `None` when empty (no on-instance file).
    pub logfile: Option<PathBuf>,
    /// `ECS_LOGLEVEL`: the stdout level.
    pub level: LogLevel,
    /// `ECS_LOGLEVEL_ON_INSTANCE` (resolved as spec §5.1 says): the file level.
    pub level_on_instance: LogLevel,
    pub rollover: RolloverType,
    /// `ECS_LOG_MAX_FILE_SIZE_MB`, decimal megabytes.
    pub max_file_size_mb: f64,
    /// `ECS_LOG_MAX_ROLL_COUNT`; zero or less keeps every rotated file.
    pub max_roll_count: i64,
    pub format: LogFormat,
    /// `ECS_AUDIT_LOGFILE`; `None` when `ECS_AUDIT_LOGFILE_DISABLED`.
    pub audit_logfile: Option<PathBuf>,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            logfile: None,
            level: LogLevel::Info,
            level_on_instance: LogLevel::Info,
            rollover: RolloverType::Size,
            max_file_size_mb: 5.0,
            max_roll_count: 24,
            format: LogFormat::Logfmt,
            audit_logfile: Some(PathBuf::from("/log/audit.log")),
        }
    }
}
