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

impl LogFormat {
    /// `logfmt` or `json`, exactly as the reference compares them.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "logfmt" => Some(Self::Logfmt),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

impl LogSettings {
    /// Settings for output before (or without) a loaded configuration: stdout only,
    /// its level and format read from `ECS_LOGLEVEL` and `ECS_LOG_OUTPUT_FORMAT` as the
    /// reference's logger reads them at start, anything unreadable left at the default.
    /// The configuration's own settings (with warnings for bad values) replace these.
    pub fn early(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let defaults = Self::default();
        Self {
            logfile: None,
            audit_logfile: None,
            level: lookup("ECS_LOGLEVEL")
                .and_then(|w| LogLevel::parse(&w))
                .unwrap_or(defaults.level),
            format: lookup("ECS_LOG_OUTPUT_FORMAT")
                .and_then(|w| LogFormat::parse(&w))
                .unwrap_or(defaults.format),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_settings_read_level_and_format_only() {
        let env = |name: &str| match name {
            "ECS_LOGLEVEL" => Some("WARN".to_string()),
            "ECS_LOG_OUTPUT_FORMAT" => Some("json".to_string()),
            "ECS_LOGFILE" => Some("/tmp/x.log".to_string()),
            _ => None,
        };
        let s = LogSettings::early(env);
        assert_eq!(
            (s.level, s.format, s.logfile),
            (LogLevel::Warn, LogFormat::Json, None)
        );
        let s = LogSettings::early(|_| Some("bogus".to_string()));
        assert_eq!((s.level, s.format), (LogLevel::Info, LogFormat::Logfmt));
    }
}
