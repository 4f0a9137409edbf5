//! Per-element decoding for lists where one bad element must not sink the message.
//!
//! The reference agent decodes each task of a `PayloadMessage` on its own: a task
//! that does not decode is reported STOPPED and the other tasks still run
//! (backend-protocol.md §3.7.2). Decoding `Vec<Task>` with serde would instead fail
//! the whole message, so list elements are wrapped in [`Lenient`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

use crate::sensitive::RedactedJson;

/// One list element: decoded, or kept raw with the reason it did not decode.
/// `Debug` of a raw element redacts secret members.
#[derive(Clone, PartialEq)]
pub enum Lenient<T> {
    Valid(T),
    Invalid {
        /// The element exactly as received (may be `null`).
        raw: Value,
        /// The decode error, e.g. `invalid type: string "x", expected i64 at line 1 column 9`.
        error: String,
    },
}

impl<T> Lenient<T> {
    pub fn valid(&self) -> Option<&T> {
        match self {
            Lenient::Valid(t) => Some(t),
            Lenient::Invalid { .. } => None,
        }
    }

    pub fn into_result(self) -> Result<T, InvalidElement> {
        match self {
            Lenient::Valid(t) => Ok(t),
            Lenient::Invalid { raw, error } => Err(InvalidElement { raw, error }),
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self, Lenient::Valid(_))
    }
}

impl<T> From<T> for Lenient<T> {
    fn from(t: T) -> Self {
        Lenient::Valid(t)
    }
}

/// An element that did not decode, with its raw JSON.
#[derive(Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct InvalidElement {
    pub raw: Value,
    pub error: String,
}

impl InvalidElement {
    /// A string member of the raw element, e.g. `arn` to report an invalid task.
    pub fn str_member(&self, name: &str) -> Option<&str> {
        self.raw.get(name).and_then(Value::as_str)
    }
}

impl<T: fmt::Debug> fmt::Debug for Lenient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lenient::Valid(t) => f.debug_tuple("Valid").field(t).finish(),
            Lenient::Invalid { raw, error } => f
                .debug_struct("Invalid")
                .field("raw", &RedactedJson(raw))
                .field("error", error)
                .finish(),
        }
    }
}

impl fmt::Debug for InvalidElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidElement")
            .field("raw", &RedactedJson(&self.raw))
            .field("error", &self.error)
            .finish()
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Lenient::Valid(t) => t.serialize(s),
            Lenient::Invalid { raw, .. } => raw.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        if raw.is_null() {
            return Ok(Lenient::Invalid {
                raw,
                error: "null element".to_owned(),
            });
        }
        match T::deserialize(&raw) {
            Ok(t) => Ok(Lenient::Valid(t)),
            Err(e) => Ok(Lenient::Invalid {
                error: e.to_string(),
                raw,
            }),
        }
    }
}
