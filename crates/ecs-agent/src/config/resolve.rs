//! Reads one variable at a time through the layers (spec §1.3): the environment layer
//! first; a JSON layer (file, then user data) only fills a value the earlier layers left
//! "zero"; the caller applies the default. Records each value's source and the warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use super::Source;
use super::error::ConfigError;
use super::parse::{self, json_type_name};
use super::sources::{EnvLayer, JsonLayer};

/// A warning whose "used instead" value is filled in once the effective value is known.
#[derive(Debug, Clone)]
pub struct PendingWarning {
    /// The setting name in `render_effective` (variable, or JSON key for JSON-only ones).
    pub setting: &'static str,
    pub value: String,
    pub problem: String,
}

pub const BOOL_HINT: &str =
    "expected a boolean (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)";
pub const DURATION_HINT: &str = "expected a Go duration such as 30s, 10m or 1h30m";

pub struct Resolver<'a> {
    env: &'a EnvLayer,
    json: Vec<&'a JsonLayer>,
    json_path: PathBuf,
    pub sources: BTreeMap<&'static str, Source>,
    pub warnings: Vec<PendingWarning>,
    /// Fatal errors, with the layer that caused them (user-data errors drop that layer).
    pub errors: Vec<(ConfigError, Source)>,
    /// Every setting consulted, so tests can check the printed list is complete.
    pub consulted: BTreeSet<&'static str>,
}

impl<'a> Resolver<'a> {
    pub fn new(env: &'a EnvLayer, json: Vec<&'a JsonLayer>, json_path: PathBuf) -> Self {
        Self {
            env,
            json,
            json_path,
            sources: BTreeMap::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            consulted: BTreeSet::new(),
        }
    }

    pub fn warn(
        &mut self,
        setting: &'static str,
        value: impl Into<String>,
        problem: impl Into<String>,
    ) {
        self.warnings.push(PendingWarning {
            setting,
            value: value.into(),
            problem: problem.into(),
        });
    }

    pub fn fatal(&mut self, error: ConfigError) {
        self.errors.push((error, Source::Env));
    }

    pub fn set_source(&mut self, setting: &'static str, source: Source) {
        self.sources.insert(setting, source);
    }

    /// The raw environment value, even when empty.
    pub fn env_raw(&mut self, name: &'static str) -> Option<(String, Source)> {
        self.consulted.insert(name);
        self.env
            .get(name)
            .map(|raw| (raw.value.clone(), raw.source))
    }

    /// The raw environment value when non-empty.
    pub fn env_nonempty(&mut self, name: &'static str) -> Option<(String, Source)> {
        self.env_raw(name).filter(|(v, _)| !v.is_empty())
    }

    /// Converts a key of every JSON layer (so type errors anywhere are reported, as Go
    /// decodes the whole document) and returns the first non-zero result.
    fn json_first<T>(
        &mut self,
        key: &'static str,
        what: &str,
        convert: impl Fn(&Value) -> Result<Option<T>, String>,
    ) -> Option<(T, Source)> {
        self.consulted.insert(key);
        let mut first = None;
        for layer in self.json.clone() {
            let Some(value) = layer.get(key) else {
                continue;
            };
            match convert(value) {
                Ok(Some(v)) => {
                    if first.is_none() {
                        first = Some((v, layer.source));
                    }
                }
                Ok(None) => {}
                Err(found) => {
                    let message = format!("key {key}: expected {what}, found {found}");
                    let error = match layer.source {
                        Source::Json => ConfigError::JsonFile {
                            path: self.json_path.clone(),
                            message,
                        },
                        _ => ConfigError::InvalidValue {
                            variable: "ECSAgentConfiguration (EC2 user data)",
                            message,
                        },
                    };
                    self.errors.push((error, layer.source));
                }
            }
        }
        first
    }

    pub fn json_string(&mut self, key: &'static str) -> Option<(String, Source)> {
        self.json_first(key, "a string", |v| match v {
            Value::String(s) => Ok((!s.is_empty()).then(|| s.clone())),
            other => Err(json_type_name(other).to_owned()),
        })
    }

    /// Tri-state JSON booleans: `true`/`false`/`null`, and `1`/`0`.
    pub fn json_tri(&mut self, key: &'static str) -> Option<(bool, Source)> {
        self.json_first(key, "true, false, 1, 0 or null", |v| match v {
            Value::Bool(b) => Ok(Some(*b)),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(Some(true)),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(Some(false)),
            other => Err(other.to_string()),
        })
    }

    /// Plain JSON booleans: only `true` is non-zero.
    pub fn json_plain_bool(&mut self, key: &'static str) -> Option<(bool, Source)> {
        self.json_first(key, "a boolean", |v| match v {
            Value::Bool(b) => Ok(b.then_some(true)),
            other => Err(json_type_name(other).to_owned()),
        })
    }

    /// Integer JSON value within `min..=max`; zero is "unset".
    pub fn json_int(&mut self, key: &'static str, min: i64, max: i64) -> Option<(i64, Source)> {
        let what = format!("an integer in {min}..={max}");
        self.json_first(key, &what, |v| match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok((n != 0).then_some(n)),
            _ => Err(v.to_string()),
        })
    }

    /// Durations are integer nanoseconds in the JSON file.
    pub fn json_nanos(&mut self, key: &'static str) -> Option<(i64, Source)> {
        self.json_int(key, i64::MIN, i64::MAX)
    }

    pub fn json_ports(&mut self, key: &'static str) -> Option<(Vec<u16>, Source)> {
        self.json_array(key, "an array of port numbers", |i| {
            i.as_u64().and_then(|n| u16::try_from(n).ok())
        })
    }

    pub fn json_strings(&mut self, key: &'static str) -> Option<(Vec<String>, Source)> {
        self.json_array(key, "an array of strings", |i| {
            i.as_str().map(str::to_owned)
        })
    }

    /// A JSON array whose every element `item` converts; `[]` is "zero".
    fn json_array<T>(
        &mut self,
        key: &'static str,
        what: &str,
        item: impl Fn(&Value) -> Option<T>,
    ) -> Option<(Vec<T>, Source)> {
        self.json_first(key, what, |v| {
            let Value::Array(items) = v else {
                return Err(json_type_name(v).to_owned());
            };
            let list = items
                .iter()
                .map(|i| item(i).ok_or_else(|| i.to_string()))
                .collect::<Result<Vec<T>, String>>()?;
            Ok((!list.is_empty()).then_some(list))
        })
    }

    pub fn json_map(&mut self, key: &'static str) -> Option<(BTreeMap<String, String>, Source)> {
        self.json_first(key, "an object of strings", |v| {
            let map = parse::json_string_map(v)?;
            Ok((!map.is_empty()).then_some(map))
        })
    }

    /// Any JSON value, kept as its JSON text.
    pub fn json_raw(&mut self, key: &'static str) -> Option<(String, Source)> {
        self.json_first(key, "JSON", |v| Ok(Some(v.to_string())))
    }

    // ---- combined env + JSON readers

    /// A string: the environment value when non-empty (trimmed first when `trim`), else
    /// the JSON key.
    pub fn string(
        &mut self,
        name: &'static str,
        json_key: Option<&'static str>,
        trim: bool,
    ) -> Option<String> {
        let from_json = json_key.and_then(|k| self.json_string(k));
        let from_env = self.env_raw(name).and_then(|(v, s)| {
            let v = if trim { v.trim().to_owned() } else { v };
            (!v.is_empty()).then_some((v, s))
        });
        let from_json = from_json.map(|(v, s)| (if trim { v.trim().to_owned() } else { v }, s));
        self.pick(name, from_env, from_json.filter(|(v, _)| !v.is_empty()))
    }

    /// A tri-state boolean (BDF/BDT): `None` when unset.
    pub fn tri(&mut self, name: &'static str, json_key: Option<&'static str>) -> Option<bool> {
        let from_json = json_key.and_then(|k| self.json_tri(k));
        let from_env = self.env_tri(name);
        self.pick(name, from_env, from_json)
    }

    /// A tri-state boolean with `default` when unset.
    pub fn tri_or(&mut self, name: &'static str, json_key: &'static str, default: bool) -> bool {
        self.tri(name, Some(json_key)).unwrap_or(default)
    }

    /// The environment part of a tri-state boolean: empty ⇒ unset; invalid ⇒ warn, unset.
    pub fn env_tri(&mut self, name: &'static str) -> Option<(bool, Source)> {
        let (raw, source) = self.env_raw(name)?;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return None;
        }
        match parse::parse_go_bool(trimmed) {
            Some(b) => Some((b, source)),
            None => {
                self.warn(name, raw.clone(), BOOL_HINT);
                None
            }
        }
    }

    /// A plain boolean with fallback `default`; `false` is "zero", so a JSON `true` can
    /// still turn it on (quirk §8 #1).
    pub fn plain_bool(
        &mut self,
        name: &'static str,
        json_key: Option<&'static str>,
        default: bool,
    ) -> bool {
        let from_json = json_key.and_then(|k| self.json_plain_bool(k));
        let mut value = default;
        if let Some((raw, source)) = self.env_raw(name) {
            match parse::parse_go_bool(raw.trim()) {
                Some(b) => {
                    value = b;
                    self.set_source(name, source);
                }
                None if raw.trim().is_empty() => {}
                None => self.warn(name, raw.clone(), BOOL_HINT),
            }
        }
        if !value && let Some((true, source)) = from_json {
            self.set_source(name, source);
            return true;
        }
        value
    }

    /// A duration in signed nanoseconds; `None` when unset, zero or invalid.
    pub fn duration(
        &mut self,
        name: &'static str,
        json_key: Option<&'static str>,
    ) -> Option<(i64, Source)> {
        let from_json = json_key.and_then(|k| self.json_nanos(k));
        let from_env =
            self.env_nonempty(name)
                .and_then(|(v, s)| match parse::parse_go_duration(&v) {
                    Some(0) => None,
                    Some(n) => Some((n, s)),
                    None => {
                        self.warn(name, v.clone(), DURATION_HINT);
                        None
                    }
                });
        let picked = from_env.or(from_json);
        if let Some((_, source)) = picked {
            self.set_source(name, source);
        }
        picked
    }

    /// The environment candidate, else the JSON one; records the source of the winner.
    pub fn pick<T>(
        &mut self,
        name: &'static str,
        env: Option<(T, Source)>,
        json: Option<(T, Source)>,
    ) -> Option<T> {
        let (value, source) = env.or(json)?;
        self.set_source(name, source);
        Some(value)
    }
}
