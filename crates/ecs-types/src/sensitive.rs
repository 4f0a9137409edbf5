//! A string whose value must never reach a log line or a debug print.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Serialises as the plain string (the wire needs the value); `Debug` and
/// `Display` print a placeholder so that `{:?}` of any enclosing shape is safe.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SensitiveString(String);

impl SensitiveString {
    /// What `Debug`/`Display` print instead of the value.
    pub const REDACTED: &'static str = "<redacted>";

    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; callers take responsibility for where it goes.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SensitiveString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for SensitiveString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl From<String> for SensitiveString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SensitiveString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Member names whose values are secrets wherever they appear in raw JSON
/// (compared case-insensitively, as Go decoding matches names).
const SECRET_KEYS: &[&str] = &[
    "secretaccesskey",
    "sessiontoken",
    "token",
    "password",
    "authorization",
    "x-amz-security-token",
];

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// A copy of `value` with the values of secret members replaced, for printing
/// JSON this crate could not type (unknown messages, undecodable tasks).
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() {
                        Value::String(SensitiveString::REDACTED.to_owned())
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// `Debug`/`Display` of raw JSON with secret members redacted.
pub struct RedactedJson<'a>(pub &'a serde_json::Value);

impl fmt::Debug for RedactedJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", redact_json(self.0))
    }
}

impl fmt::Display for RedactedJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", redact_json(self.0))
    }
}
