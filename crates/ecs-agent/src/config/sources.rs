//! The raw sources: `ecs.config` files (spec §1.2), the process environment, the JSON
//! config file (§1.4) and EC2 user data, merged into layers that the resolver reads.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::Source;
use super::error::{ConfigError, ConfigWarning};
use super::host::HostFacts;

/// One line of an `ecs.config` file that defines a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsConfigEntry {
    pub key: String,
    pub value: String,
    /// 1-based line number, for messages.
    pub line: usize,
}

/// Parses `ecs.config` as ecs-init does: split on `\n`, trim each line, split at the
/// first `=`; no comments, escapes or expansion. Lines without `=` are
/// reported (other than blank lines and `#` comments, which ecs-init skips for the same
/// reason). One deliberate difference (spec §1.2 allows it): a value wholly enclosed in a
/// matching pair of `"` or `'` loses them, as systemd's `EnvironmentFile=` does, so that
/// `ECS_CLUSTER="prod"` means the same under both readers of the file.
pub fn parse_ecs_config(content: &str) -> (Vec<EcsConfigEntry>, Vec<(usize, String, String)>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    // ecs-init trims the whole content first; trimming each line gives the same entries
    // and keeps line numbers right for messages.
    for (index, raw) in content.split('\n').enumerate() {
        let line = raw.trim();
        let number = index + 1;
        let Some((key, value)) = line.split_once('=') else {
            if !line.is_empty() && !line.starts_with('#') {
                problems.push((
                    number,
                    line.to_owned(),
                    "line has no '=' and is ignored".to_owned(),
                ));
            }
            continue;
        };
        if key.starts_with('#') {
            // ecs-init defines a variable literally named `#ECS_X`; nothing reads it.
            continue;
        }
        if key.trim() != key || key.is_empty() {
            problems.push((
                number,
                line.to_owned(),
                format!(
                    "the name before '=' is {key:?}; names are taken verbatim (no spaces around '='), so this line sets nothing the agent reads"
                ),
            ));
            continue;
        }
        entries.push(EcsConfigEntry {
            key: key.to_owned(),
            value: strip_matching_quotes(value).to_owned(),
            line: number,
        });
    }
    (entries, problems)
}

fn strip_matching_quotes(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// A raw string value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    pub value: String,
    pub source: Source,
}

/// The environment-like layer: agent built-ins (what ecs-init injects, translated to host
/// paths) < `ecs.config` files in order < the process environment, then ecs-init's
/// forced overrides (spec §1.2 shape (b)).
#[derive(Debug, Default, Clone)]
pub struct EnvLayer {
    pub vars: BTreeMap<String, RawValue>,
}

impl EnvLayer {
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.vars.get(name)
    }

    pub fn build(
        process_env: &BTreeMap<String, String>,
        ecs_config_files: &[PathBuf],
        host: &HostFacts,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Self {
        let mut vars = BTreeMap::new();
        for path in ecs_config_files {
            // Missing or unreadable ⇒ empty, as in ecs-init.
            let Ok(content) = std::fs::read_to_string(path) else {
                continue;
            };
            let (entries, problems) = parse_ecs_config(&content);
            for (line, text, problem) in problems {
                warnings.push(ConfigWarning {
                    variable: format!("{}:{line}", path.display()),
                    value: text,
                    problem,
                    used: None,
                });
            }
            for entry in entries {
                vars.insert(
                    entry.key,
                    RawValue {
                        value: entry.value,
                        source: Source::File,
                    },
                );
            }
        }
        for (key, value) in process_env {
            vars.insert(
                key.clone(),
                RawValue {
                    value: value.clone(),
                    source: Source::Env,
                },
            );
        }
        for (key, value) in builtins(&vars, host) {
            vars.entry(key.to_owned()).or_insert(RawValue {
                value,
                source: Source::Default,
            });
        }
        let mut layer = Self { vars };
        layer.force_overrides(host, warnings);
        layer
    }

    /// ecs-init step 4 (spec §1.2).
    fn force_overrides(&mut self, host: &HostFacts, warnings: &mut Vec<ConfigWarning>) {
        if self.get("ECS_EXTERNAL").is_some_and(|v| v.value == "true") {
            self.force(
                "ECS_ENABLE_TASK_ENI",
                "task ENIs are not supported on external instances (ECS_EXTERNAL=true)",
                warnings,
            );
        }
        if !host.ebs_mount_dir_exists {
            self.force(
                "ECS_EBSTA_SUPPORTED",
                "/mnt/ecs/ebs is not a directory, so EBS task attach is unavailable",
                warnings,
            );
        }
    }

    fn force(&mut self, name: &str, why: &str, warnings: &mut Vec<ConfigWarning>) {
        let previous = self.vars.insert(
            name.to_owned(),
            RawValue {
                value: "false".to_owned(),
                source: Source::Default,
            },
        );
        if let Some(previous) = previous
            && previous.source != Source::Default
            && super::parse::parse_go_bool(previous.value.trim()) == Some(true)
        {
            warnings.push(ConfigWarning {
                variable: name.to_owned(),
                value: previous.value,
                problem: why.to_owned(),
                used: Some("false".to_owned()),
            });
        }
    }
}

/// Values ecs-init injects on a standard host (spec §1.2 step 1), with container paths
/// translated to host paths for a native agent. `ECS_UPDATES_ENABLED=true` is left out:
/// a native agent has no ecs-init to install a downloaded update (spec §6.2), and
/// `ECS_DOMAIN_JOINED_LINUX_INSTANCE` (computed from `realm list`) is left to the
/// operator.
fn builtins(vars: &BTreeMap<String, RawValue>, host: &HostFacts) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("ECS_LOGFILE", "/var/log/ecs/ecs-agent.log".to_owned()),
        ("ECS_DATADIR", "/var/lib/ecs/data".to_owned()),
        (
            "ECS_AGENT_CONFIG_FILE_PATH",
            "/etc/ecs/ecs.config.json".to_owned(),
        ),
        ("ECS_UPDATE_DOWNLOAD_DIR", "/var/cache/ecs".to_owned()),
        (
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            r#"["json-file","syslog","awslogs","fluentd","none"]"#.to_owned(),
        ),
        ("ECS_ENABLE_TASK_IAM_ROLE", "true".to_owned()),
        ("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "true".to_owned()),
        ("ECS_ENABLE_TASK_ENI", "true".to_owned()),
        (
            "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE",
            "true".to_owned(),
        ),
        ("ECS_EBSTA_SUPPORTED", "true".to_owned()),
        (
            "ECS_VOLUME_PLUGIN_CAPABILITIES",
            r#"["efsAuth"]"#.to_owned(),
        ),
        ("ECS_AGENT_LABELS", String::new()),
        ("ECS_DETAILED_OS_FAMILY", host.detailed_os_family.clone()),
    ];
    if host.ssl_cert_dir_exists {
        out.push(("SSL_CERT_DIR", "/etc/pki/tls/certs".to_owned()));
    }
    let fetcher_host = vars
        .get("CREDENTIALS_FETCHER_HOST")
        .map(|v| v.value.as_str())
        .filter(|v| !v.is_empty())
        .unwrap_or("unix:///var/credentials-fetcher/socket/credentials_fetcher.sock");
    let fetcher_dir = fetcher_host.strip_prefix("unix://").unwrap_or(fetcher_host);
    out.push(("CREDENTIALS_FETCHER_HOST_DIR", fetcher_dir.to_owned()));
    out
}

/// A JSON config layer (file or user data): keys folded to lower case because the
/// reference matches them case-insensitively; the last occurrence in document order wins.
#[derive(Debug, Clone)]
pub struct JsonLayer {
    pub source: Source,
    keys: BTreeMap<String, (String, Value)>,
}

impl JsonLayer {
    fn from_object(source: Source, object: OrderedObject) -> Self {
        let mut keys = BTreeMap::new();
        for (key, value) in object.0 {
            keys.insert(key.to_ascii_lowercase(), (key, value));
        }
        Self { source, keys }
    }

    /// The value of a key (matched case-insensitively); JSON `null` counts as absent, as
    /// it leaves a Go field untouched.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.keys
            .get(&key.to_ascii_lowercase())
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// Reads the JSON config file (spec §1.4): missing or unopenable ⇒ `None`; empty ⇒
    /// `None`; read error, invalid JSON or a non-object ⇒ fatal.
    pub fn read_file(path: &Path) -> Result<Option<Self>, ConfigError> {
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(None);
        };
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|source| ConfigError::JsonFileRead {
                path: path.to_owned(),
                source,
            })?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let object = parse_top_object(&text).map_err(|message| ConfigError::JsonFile {
            path: path.to_owned(),
            message,
        })?;
        Ok(object.map(|o| Self::from_object(Source::Json, o)))
    }

    /// The `ECSAgentConfiguration` object of EC2 user data; anything else ⇒ `None` (the
    /// reference ignores non-JSON user data, which is usually a shell script).
    pub fn from_user_data(text: &str) -> Option<Self> {
        let outer = parse_top_object(text).ok()??;
        let inner = outer
            .0
            .into_iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case("ECSAgentConfiguration"))?
            .1;
        let Value::Object(_) = inner else {
            return None;
        };
        let object: OrderedObject = serde_json::from_value(inner).ok()?;
        Some(Self::from_object(Source::UserData, object))
    }
}

/// Parses a document that must be a JSON object (or `null`, which Go accepts as a no-op).
fn parse_top_object(text: &str) -> Result<Option<OrderedObject>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match value {
        Value::Null => Ok(None),
        Value::Object(_) => serde_json::from_str::<OrderedObject>(text)
            .map(Some)
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "expected a JSON object, found {}",
            super::parse::json_type_name(&other)
        )),
    }
}

/// A JSON object with its keys in document order, duplicates kept, so that
/// case-insensitive folding can let the last one win as Go does.
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;
        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    entries.push((key, value));
                }
                Ok(OrderedObject(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(content: &str) -> Vec<(String, String)> {
        parse_ecs_config(content)
            .0
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    #[test]
    fn ecs_config_syntax() {
        let content = "\n\n  # a comment\nECS_CLUSTER=prod\r\n\nECS_RESERVED_PORTS=[22, 80]\n#ECS_X=1\nECS_A=x=y\nECS_B=\n  ECS_C=  spaced value \nECS_CLUSTER=second\n";
        assert_eq!(
            keys(content),
            vec![
                ("ECS_CLUSTER".into(), "prod".into()),
                ("ECS_RESERVED_PORTS".into(), "[22, 80]".into()),
                ("ECS_A".into(), "x=y".into()),
                ("ECS_B".into(), "".into()),
                ("ECS_C".into(), "  spaced value".into()),
                ("ECS_CLUSTER".into(), "second".into()),
            ]
        );
        assert!(parse_ecs_config(content).1.is_empty());
    }

    #[test]
    fn ecs_config_keeps_values_verbatim_except_matching_quotes() {
        let content =
            "A=\"prod\"\nB='prod'\nC=\"unbalanced\nD=$HOME\nE=a\\nb\nF={\"k\":\"v\"}\nG=\"\"";
        assert_eq!(
            keys(content),
            vec![
                ("A".into(), "prod".into()),
                ("B".into(), "prod".into()),
                ("C".into(), "\"unbalanced".into()),
                ("D".into(), "$HOME".into()),
                ("E".into(), "a\\nb".into()),
                ("F".into(), "{\"k\":\"v\"}".into()),
                ("G".into(), "".into()),
            ]
        );
    }

    #[test]
    fn ecs_config_malformed_lines_are_reported() {
        let (entries, problems) =
            parse_ecs_config("ECS_CLUSTER prod\nECS_CLUSTER = prod\n=value\nOK=1");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].key, "OK");
        assert_eq!(entries[0].line, 4);
        let lines: Vec<usize> = problems.iter().map(|p| p.0).collect();
        assert_eq!(lines, vec![1, 2, 3]);
        assert!(problems[0].2.contains("no '='"));
        assert!(problems[1].2.contains("\"ECS_CLUSTER \""));
    }

    #[test]
    fn json_layer_keys_are_case_insensitive_last_wins() {
        let layer = JsonLayer::from_object(
            Source::Json,
            serde_json::from_str(r#"{"Cluster":"a","cluster":"b","CLUSTERx":"c","DataDir":null}"#)
                .unwrap(),
        );
        assert_eq!(layer.get("CLUSTER"), Some(&Value::String("b".into())));
        assert_eq!(layer.get("DataDir"), None);
    }

    #[test]
    fn user_data_layer() {
        let layer =
            JsonLayer::from_user_data(r#"{"ecsagentconfiguration":{"Cluster":"ud"}}"#).unwrap();
        assert_eq!(layer.get("cluster"), Some(&Value::String("ud".into())));
        assert!(JsonLayer::from_user_data("#!/bin/bash\necho hi").is_none());
        assert!(JsonLayer::from_user_data(r#"{"ECSAgentConfiguration":5}"#).is_none());
        assert!(JsonLayer::from_user_data(r#"{"Other":{}}"#).is_none());
    }
}
