//! Value syntax primitives of the reference (spec §1.5): Go's `strconv.ParseBool`,
//! Go's `time.ParseDuration`, stream-decoded JSON arrays, comma lists, CIDRs.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

/// Go's `strconv.ParseBool`: exactly these spellings, nothing else (`yes`, `on`, `tRuE` fail).
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

const NANOS_PER: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's `time.ParseDuration`, returning signed nanoseconds (Go's `time.Duration` is an
/// `int64`), so that negative values can reach the minimum rules as they do in the
/// reference. `None` for anything Go rejects, including overflow.
pub fn parse_go_duration(text: &str) -> Option<i64> {
    let mut rest = text;
    let mut negative = false;
    if let Some(first) = rest.chars().next()
        && (first == '-' || first == '+')
    {
        negative = first == '-';
        rest = &rest[1..];
    }
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    // Go accumulates in uint64 and allows up to 1<<63 before applying the sign.
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut whole: u64 = 0;
        for digit in rest[..int_len].bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .filter(|v| *v <= LIMIT)?;
        }
        rest = &rest[int_len..];
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut frac_len = 0;
        if let Some(after_dot) = rest.strip_prefix('.') {
            rest = after_dot;
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for digit in rest[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                match fraction
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                {
                    Some(v) if v <= LIMIT => {
                        fraction = v;
                        scale *= 10.0;
                    }
                    // Go drops the digits it can no longer hold.
                    _ => overflow = true,
                }
            }
            rest = &rest[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit_text = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit = NANOS_PER
            .iter()
            .find(|(name, _)| *name == unit_text)
            .map(|(_, n)| *n)?;
        if whole > LIMIT / unit {
            return None;
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // Go computes this in float64 as well.
            value = value.checked_add((fraction as f64 * (unit as f64 / scale)) as u64)?;
            if value > LIMIT {
                return None;
            }
        }
        total = total.checked_add(value).filter(|v| *v <= LIMIT)?;
    }
    if negative {
        return Some((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).ok()
}

/// Nanoseconds as a `Duration`; negatives (already ruled out by the callers' minimums) become zero.
pub fn nanos_to_duration(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// Formats a duration in a compact form that Go's `time.ParseDuration` reads back
/// (`3h`, `1h30m`, `100ms`, `1s500ms`).
pub fn format_duration(duration: Duration) -> String {
    format_nanos(i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX))
}

/// As [`format_duration`] for signed nanoseconds (used for values given below zero).
pub fn format_nanos(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let mut left = nanos.unsigned_abs();
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        let count = left / size;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            left %= size;
        }
    }
    out
}

/// Why a stream-decoded JSON array was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayError {
    /// Not a JSON array at all, or truncated JSON.
    NotAnArray(String),
    /// An array, but an element has the wrong type or range. The reference keeps a
    /// partial list with zeros here; spec §8 #2 recommends treating the value as unset.
    BadElement(String),
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnArray(why) => write!(f, "not a JSON array ({why})"),
            Self::BadElement(why) => write!(f, "bad array element ({why})"),
        }
    }
}

/// Decodes only the first JSON value of `text`, ignoring whatever follows it, as Go's
/// `json.Decoder` does for the stream-decoded variables (`[1,2] junk` ⇒ `[1,2]`).
fn first_json_array(text: &str) -> Result<Vec<Value>, ArrayError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    match stream.next() {
        Some(Ok(Value::Array(items))) => Ok(items),
        Some(Ok(other)) => Err(ArrayError::NotAnArray(format!(
            "found {}",
            json_type_name(&other)
        ))),
        Some(Err(err)) => Err(ArrayError::NotAnArray(err.to_string())),
        None => Err(ArrayError::NotAnArray("empty input".to_owned())),
    }
}

/// A stream-decoded JSON array of ports (0–65535).
pub fn parse_port_array(text: &str) -> Result<Vec<u16>, ArrayError> {
    first_json_array(text)?
        .iter()
        .map(|item| {
            item.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| ArrayError::BadElement(format!("{item} is not a port number")))
        })
        .collect()
}

/// A stream-decoded JSON array of strings.
pub fn parse_string_array(text: &str) -> Result<Vec<String>, ArrayError> {
    first_json_array(text)?
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s),
            other => Err(ArrayError::BadElement(format!("{other} is not a string"))),
        })
        .collect()
}

/// A whole-string JSON object of string values (`ECS_INSTANCE_ATTRIBUTES` and friends);
/// duplicate keys: the last wins.
pub fn parse_string_map(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    json_string_map(&value)
}

/// A JSON value that must be an object of string values.
pub fn json_string_map(
    value: &Value,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let Value::Object(object) = value else {
        return Err(format!(
            "expected a JSON object, found {}",
            json_type_name(value)
        ));
    };
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            other => Err(format!(
                "value of {key:?} is {}, not a string",
                json_type_name(other)
            )),
        })
        .collect()
}

/// Comma list as the reference splits it: on `,`, elements not trimmed.
pub fn parse_comma_list(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

/// The JSON type name used in error messages.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An IP network in CIDR notation (`169.254.172.42/22`); the address is kept as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = text.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        // Go's ParseCIDR accepts only plain decimal digits here.
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return None;
        }
        let prefix_len: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix_len <= max).then_some(Self { addr, prefix_len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bool_accepts_exactly_strconv_spellings() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_go_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "on", "tRuE", "", " true", "2", "no"] {
            assert_eq!(parse_go_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        let s = 1_000_000_000i64;
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("+0", Some(0)),
            ("-0", Some(0)),
            ("10m", Some(600 * s)),
            ("1h30m", Some(5400 * s)),
            ("1.5h", Some(5400 * s)),
            ("2h45m", Some(9900 * s)),
            ("300ms", Some(300_000_000)),
            ("1us", Some(1_000)),
            ("1\u{b5}s", Some(1_000)),
            ("1\u{3bc}s", Some(1_000)),
            ("5ns", Some(5)),
            (".5s", Some(s / 2)),
            ("1.s", Some(s)),
            ("-1s", Some(-s)),
            ("+2s", Some(2 * s)),
            ("1h1m1s1ms1us1ns", Some(3661 * s + 1_001_001)),
            ("2562047h47m16.854775807s", Some(i64::MAX)),
            ("-2562047h47m16.854775808s", Some(i64::MIN)),
            ("2562047h47m16.854775808s", None),
            ("", None),
            ("10", None),
            ("1d", None),
            ("1 h", None),
            (" 1h", None),
            ("1h ", None),
            ("h", None),
            (".s", None),
            ("-", None),
            ("1.5", None),
            ("99999999999999999999h", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text), *want, "{text:?}");
        }
    }

    #[test]
    fn duration_format_reads_back() {
        for d in [
            0u64,
            1,
            1_000,
            300_000_000,
            1_500_000_000,
            600_000_000_000,
            10_800_000_000_000,
            5_400_000_000_000,
        ] {
            let text = format_duration(Duration::from_nanos(d));
            assert_eq!(parse_go_duration(&text), Some(d as i64), "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_nanos(-1_000_000_000), "-1s");
    }

    #[test]
    fn stream_arrays() {
        assert_eq!(parse_port_array("[1,2] junk"), Ok(vec![1, 2]));
        assert_eq!(parse_port_array("[]"), Ok(vec![]));
        assert!(matches!(
            parse_port_array("[22,70000,80]"),
            Err(ArrayError::BadElement(_))
        ));
        assert!(matches!(
            parse_port_array("[22,\"80\"]"),
            Err(ArrayError::BadElement(_))
        ));
        assert!(matches!(
            parse_port_array("[22,-1]"),
            Err(ArrayError::BadElement(_))
        ));
        assert!(matches!(
            parse_port_array("[22,"),
            Err(ArrayError::NotAnArray(_))
        ));
        assert!(matches!(
            parse_port_array("22"),
            Err(ArrayError::NotAnArray(_))
        ));
        assert!(matches!(
            parse_port_array(""),
            Err(ArrayError::NotAnArray(_))
        ));
        assert_eq!(
            parse_string_array(r#"["a","b"]xyz"#),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(matches!(
            parse_string_array("[1]"),
            Err(ArrayError::BadElement(_))
        ));
    }

    #[test]
    fn string_maps() {
        let map = parse_string_map(r#"{"a":"1","a":"2","b":"x"}"#).unwrap();
        assert_eq!(map["a"], "2");
        assert_eq!(map["b"], "x");
        assert!(parse_string_map(r#"{"a":1}"#).is_err());
        assert!(parse_string_map(r#"["a"]"#).is_err());
        assert!(parse_string_map(r#"{"a":"1"} junk"#).is_err());
        assert!(parse_string_map("").is_err());
    }

    #[test]
    fn comma_lists_keep_spaces_and_empty_elements() {
        assert_eq!(
            parse_comma_list("a:1, b:2,,c"),
            vec!["a:1", " b:2", "", "c"]
        );
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            Cidr::parse("169.254.172.42/22").unwrap().to_string(),
            "169.254.172.42/22"
        );
        assert_eq!(Cidr::parse("fd00::/8").unwrap().prefix_len, 8);
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "x/8",
            "::/129",
            "10.0.0.0/",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
