//! JSON written the way the reference's Go `encoding/json` writes it (spec endpoints §0.2):
//! declared field order (struct order), integral floats without `.0`, timestamps with
//! trailing fractional zeros removed, and `<`, `>`, `&`, U+2028, U+2029 escaped.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

/// Go's zero `time.Time` as `encoding/json` prints it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// RFC 3339 in UTC with nanoseconds, trailing fractional zeros (and a bare dot) removed.
pub fn go_time(t: &DateTime<Utc>) -> String {
    let text = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let Some(dot) = text.rfind('.') else {
        return text;
    };
    let frac = text[dot + 1..text.len() - 1].trim_end_matches('0');
    if frac.is_empty() {
        format!("{}Z", &text[..dot])
    } else {
        format!("{}.{frac}Z", &text[..dot])
    }
}

/// `serialize_with` for an optional timestamp (use with `skip_serializing_if`).
pub fn opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&go_time(t)),
        None => s.serialize_none(),
    }
}

/// Largest magnitude below which every integral f64 converts to i64 exactly.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// `serialize_with` for a float64: integral values print without a fraction.
pub fn go_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < EXACT_INT_LIMIT {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

pub fn opt_go_f64<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => go_f64(v, s),
        None => s.serialize_none(),
    }
}

/// True for Go's omitempty zero of a number.
pub fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

pub fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

pub fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// Compact JSON with Go's HTML-safe escaping. `None` when the value cannot be encoded
/// (the reference then answers `500 {}`).
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Option<Vec<u8>> {
    let raw = serde_json::to_vec(value).ok()?;
    Some(go_escape(raw))
}

/// Escapes what Go escapes and serde_json does not. These characters can only occur
/// inside JSON strings, so a byte-level rewrite is safe.
pub fn go_escape(raw: Vec<u8>) -> Vec<u8> {
    let needs = raw
        .windows(3)
        .any(|w| w[0] == 0xE2 && w[1] == 0x80 && (w[2] == 0xA8 || w[2] == 0xA9))
        || raw.iter().any(|b| matches!(b, b'<' | b'>' | b'&'));
    if !needs {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if i + 2 < raw.len() && raw[i + 1] == 0x80 && raw[i + 2] == 0xA8 => {
                out.extend_from_slice(b"\\u2028");
                i += 2;
            }
            0xE2 if i + 2 < raw.len() && raw[i + 1] == 0x80 && raw[i + 2] == 0xA9 => {
                out.extend_from_slice(b"\\u2029");
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Tab-indented JSON (Go's `json.MarshalIndent(v, "", "\t")`), no trailing newline.
pub fn to_go_json_indented<T: Serialize + ?Sized>(value: &T) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).ok()?;
    Some(go_escape(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_drop_trailing_zeros() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 6).unwrap();
        assert_eq!(go_time(&t), "2024-05-01T12:00:06Z");
        let t = t + chrono::Duration::nanoseconds(312_884_650);
        assert_eq!(go_time(&t), "2024-05-01T12:00:06.31288465Z");
    }

    #[test]
    fn floats_and_escapes_match_go() {
        #[derive(Serialize)]
        struct F {
            #[serde(serialize_with = "go_f64")]
            a: f64,
            #[serde(serialize_with = "go_f64")]
            b: f64,
            c: &'static str,
        }
        let out = to_go_json(&F {
            a: 256.0,
            b: 0.25,
            c: "<a&b>\u{2028}",
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":256,"b":0.25,"c":"\u003ca\u0026b\u003e\u2028"}"#
        );
    }
}
