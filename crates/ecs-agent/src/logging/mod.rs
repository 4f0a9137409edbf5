//! Logging: stdout and the on-instance file, in the reference's logfmt/json line shapes.

pub mod settings;

pub use settings::{LogFormat, LogLevel, LogSettings, RolloverType};
