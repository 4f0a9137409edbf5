//! The reference's two line shapes (spec config-and-lifecycle §5.2), independent of
//! `tracing` so that they can be checked byte for byte.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::quote::{go_quote_into, json_quote_into};
use super::settings::LogFormat;

/// The level of one record. `Critical` is the reference's level above `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl Level {
    /// The level word the reference writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }
}

/// One field value of a structured record.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Strings and errors: quoted in logfmt, JSON strings in JSON.
    Str(String),
    /// Numbers and booleans: bare in both formats.
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// One log record, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub level: Level,
    pub time: DateTime<Utc>,
    pub msg: String,
    /// Base name of the source file; written only for plain records (no fields).
    pub module: String,
    pub fields: Vec<(String, FieldValue)>,
}

/// RFC 3339 with second precision in UTC, as Go's `time.RFC3339` prints a UTC time.
pub fn format_time(out: &mut String, time: &DateTime<Utc>) {
    let _ = write!(out, "{}", time.format("%Y-%m-%dT%H:%M:%SZ"));
}

/// The base name of a source path (`src/app.rs` -> `app.rs`), as seelog's `FileName`.
pub fn file_base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Renders a record as one line, `\n` included.
pub fn format_line(format: LogFormat, record: &Record) -> String {
    let mut out = String::with_capacity(96 + record.msg.len());
    match format {
        LogFormat::Logfmt => write_logfmt(&mut out, record),
        LogFormat::Json => write_json(&mut out, record),
    }
    out.push('\n');
    out
}

fn write_logfmt(out: &mut String, record: &Record) {
    out.push_str("level=");
    out.push_str(record.level.as_str());
    out.push_str(" time=");
    format_time(out, &record.time);
    out.push_str(" msg=");
    go_quote_into(out, &record.msg);
    if record.fields.is_empty() {
        out.push_str(" module=");
        out.push_str(&record.module);
        return;
    }
    for (key, value) in &record.fields {
        out.push(' ');
        out.push_str(key);
        out.push('=');
        match value {
            FieldValue::Str(s) => go_quote_into(out, s),
            FieldValue::I64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::U64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::F64(v) => write_go_float(out, *v),
            FieldValue::Bool(v) => {
                let _ = write!(out, "{v}");
            }
        }
    }
}

fn write_json(out: &mut String, record: &Record) {
    out.push_str("{\"level\":\"");
    out.push_str(record.level.as_str());
    out.push_str("\",\"time\":\"");
    format_time(out, &record.time);
    out.push_str("\",\"msg\":");
    if record.fields.is_empty() {
        // The reference writes a plain message with `%q`, not with the JSON encoder.
        go_quote_into(out, &record.msg);
        out.push_str(",\"module\":\"");
        out.push_str(&record.module);
        out.push_str("\"}");
        return;
    }
    json_quote_into(out, &record.msg);
    // Go marshals the field map, which sorts by key; a repeated key keeps its last value.
    let mut fields: Vec<&(String, FieldValue)> = record.fields.iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    fields.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            *earlier = *later;
            true
        } else {
            false
        }
    });
    for (key, value) in fields {
        out.push(',');
        json_quote_into(out, key);
        out.push(':');
        match value {
            FieldValue::Str(s) => json_quote_into(out, s),
            FieldValue::I64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::U64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::F64(v) if v.is_finite() => write_go_float(out, *v),
            // encoding/json refuses NaN and infinities; a string keeps the line valid.
            FieldValue::F64(v) => json_quote_into(out, &v.to_string()),
            FieldValue::Bool(v) => {
                let _ = write!(out, "{v}");
            }
        }
    }
    out.push('}');
}

/// Floats as Go's `%v` prints them: shortest representation, `+Inf`/`-Inf`/`NaN`.
fn write_go_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_name_of_paths() {
        assert_eq!(file_base_name("crates/ecs-agent/src/app.rs"), "app.rs");
        assert_eq!(file_base_name("main.rs"), "main.rs");
        assert_eq!(file_base_name(r"C:\x\y.rs"), "y.rs");
    }

    #[test]
    fn json_repeated_key_keeps_last_value() {
        let record = Record {
            level: Level::Info,
            time: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            msg: "m".into(),
            module: "m.rs".into(),
            fields: vec![
                ("b".into(), FieldValue::I64(1)),
                ("a".into(), FieldValue::I64(2)),
                ("b".into(), FieldValue::I64(3)),
            ],
        };
        assert_eq!(
            format_line(LogFormat::Json, &record),
            "{\"level\":\"info\",\"time\":\"1970-01-01T00:00:00Z\",\"msg\":\"m\",\"a\":2,\"b\":3}\n"
        );
    }
}
