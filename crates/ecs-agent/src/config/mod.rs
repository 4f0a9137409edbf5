//! Agent configuration: the `ecs.config` files, the process environment, the JSON config
//! file and the built-in defaults, merged into one validated [`Config`]
//! (spec `config-and-lifecycle.md` §1, §5, §8).
//!
//! Precedence, highest first: the real process environment; `/etc/ecs/ecs.config`;
//! `/var/lib/ecs/ecs.config`; the values ecs-init would inject on a standard host
//! (translated to host paths); then, for values still "zero" (spec §1.3), the JSON config
//! file and EC2 user data; then the agent's defaults.
//!
//! Decisions for a native agent where the reference relies on ecs-init (spec §1.2 (b)):
//! `ECS_UPDATES_ENABLED` is not switched on (there is no ecs-init to install an update),
//! `ECS_DOMAIN_JOINED_LINUX_INSTANCE` is not computed from `realm list`, the GPU wait for
//! `/dev/nvidia*` is not done, and container paths in defaults (`/data`, `/log/...`) are
//! their host paths (`/var/lib/ecs/data`, `/var/log/ecs/...`). For spec §8's quirks the
//! recommended column is taken: malformed array elements drop the whole value (#2), the
//! implicit on-instance log level is mapped (#3), a bad log format falls back to logfmt
//! (#4), and a non-ECS container count below 1 becomes 5 (#6).

mod assemble;
mod assemble_features;
mod error;
mod host;
mod model;
pub mod parse;
mod print;
mod resolve;
mod sources;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use error::{ConfigError, ConfigWarning};
pub use host::HostFacts;
pub use model::{
    AwsSdkConfig, Cidr, Config, DEFAULT_CLUSTER, EngineAuthType, GmsaConfig, ImagePullBehavior,
    InitOnlyConfig, IpCompatibility, LoggingDriver, PortRange, PropagateTagsFrom, ProxyUrl,
    REDACTED, Secret, TaskCpuMemLimit, WindowsOnlyConfig, redact_url_password,
};
pub use print::{DECISIONS, SECRET_SETTINGS, render_effective};
pub use sources::{EcsConfigEntry, parse_ecs_config};
pub use validate::PROMETHEUS_PORT;

use resolve::Resolver;
use sources::{EnvLayer, JsonLayer};

/// Where a setting's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Built in (including the values ecs-init would inject on a standard host).
    Default,
    /// An `ecs.config` file.
    File,
    /// The process environment.
    Env,
    /// The JSON config file (`ECS_AGENT_CONFIG_FILE_PATH`).
    Json,
    /// The `ECSAgentConfiguration` object of EC2 user data.
    UserData,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::File => "file",
            Self::Env => "env",
            Self::Json => "json",
            Self::UserData => "user-data",
        }
    }
}

/// Where the configuration is read from.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConfigInput {
    /// The process environment (highest precedence).
    pub env: BTreeMap<String, String>,
    /// `ecs.config` files, lowest precedence first; missing or unreadable files are empty.
    pub ecs_config_files: Vec<PathBuf>,
    /// The JSON config file; `None` = `ECS_AGENT_CONFIG_FILE_PATH` from the merged
    /// environment, else the default.
    pub json_file: Option<PathBuf>,
}

/// The environment holds secrets, so `Debug` hides them like `--print-config` does.
impl std::fmt::Debug for ConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: BTreeMap<&str, String> = self
            .env
            .iter()
            .map(|(k, v)| {
                let shown = if SECRET_SETTINGS.contains(&k.as_str()) {
                    REDACTED.to_owned()
                } else if k.eq_ignore_ascii_case("HTTP_PROXY")
                    || k.eq_ignore_ascii_case("HTTPS_PROXY")
                {
                    redact_url_password(v)
                } else {
                    v.clone()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("ConfigInput")
            .field("env", &env)
            .field("ecs_config_files", &self.ecs_config_files)
            .field("json_file", &self.json_file)
            .finish()
    }
}

/// The instance/AMI `ecs.config` (read first).
pub const INSTANCE_ECS_CONFIG: &str = "/var/lib/ecs/ecs.config";
/// The user `ecs.config` (overrides the instance file).
pub const USER_ECS_CONFIG: &str = "/etc/ecs/ecs.config";
/// The agent's own default for `ECS_AGENT_CONFIG_FILE_PATH` when it is set but empty.
pub const AGENT_DEFAULT_JSON_CONFIG: &str = "/etc/ecs_container_agent/config.json";

impl ConfigInput {
    /// The real process environment and the two standard `ecs.config` files.
    pub fn from_process() -> Self {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self {
            env,
            ecs_config_files: vec![
                PathBuf::from(INSTANCE_ECS_CONFIG),
                PathBuf::from(USER_ECS_CONFIG),
            ],
            json_file: None,
        }
    }
}

/// One line of `--print-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The variable, or the JSON key for JSON-only settings.
    pub name: &'static str,
    /// The effective value, secrets redacted.
    pub value: String,
    pub source: Source,
}

/// A loaded configuration with what is needed to report on it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// Ignored, clamped or invalid values; log them once logging is set up.
    pub warnings: Vec<ConfigWarning>,
    /// Every setting in print order.
    pub settings: Vec<Setting>,
}

impl LoadedConfig {
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.name == name)
    }
}

/// Loads the configuration, probing the host for the defaults that depend on it.
pub fn load(input: &ConfigInput) -> Result<LoadedConfig, ConfigError> {
    load_with(input, &HostFacts::probe(), None)
}

/// As [`load`], with the EC2 user data (spec §1.3 step 5) as a layer below the JSON file.
/// User data that is not `{"ECSAgentConfiguration": {...}}` is ignored.
pub fn load_with_user_data(
    input: &ConfigInput,
    user_data: &str,
) -> Result<LoadedConfig, ConfigError> {
    load_with(input, &HostFacts::probe(), Some(user_data))
}

/// As [`load`] with given host facts (for tests and for callers that probed already).
pub fn load_with(
    input: &ConfigInput,
    host: &HostFacts,
    user_data: Option<&str>,
) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();
    let env = EnvLayer::build(&input.env, &input.ecs_config_files, host, &mut warnings);
    let (json_path, json_path_source) = match &input.json_file {
        Some(path) => (path.clone(), Source::Default),
        None => match env
            .get("ECS_AGENT_CONFIG_FILE_PATH")
            .filter(|v| !v.value.is_empty())
        {
            Some(raw) => (PathBuf::from(&raw.value), raw.source),
            None => (PathBuf::from(AGENT_DEFAULT_JSON_CONFIG), Source::Default),
        },
    };
    let json = JsonLayer::read_file(&json_path)?;
    let user_data = user_data.and_then(JsonLayer::from_user_data);

    let mut layers: Vec<&JsonLayer> = json.iter().chain(user_data.iter()).collect();
    let mut built = build(&env, layers.clone(), &json_path, json_path_source, host);
    if built
        .errors
        .iter()
        .any(|(_, source)| *source == Source::UserData)
    {
        // Like the reference, user data with any type error is ignored as a whole.
        let reasons: Vec<String> = built
            .errors
            .iter()
            .filter(|(_, s)| *s == Source::UserData)
            .map(|(e, _)| e.to_string())
            .collect();
        layers.retain(|l| l.source != Source::UserData);
        built = build(&env, layers, &json_path, json_path_source, host);
        warnings.push(ConfigWarning {
            variable: "ECSAgentConfiguration (EC2 user data)".to_owned(),
            value: "<user data>".to_owned(),
            problem: format!("ignored: {}", reasons.join("; ")),
            used: None,
        });
    }
    if let Some(error) = ConfigError::combine(built.errors.into_iter().map(|(e, _)| e).collect()) {
        return Err(error);
    }

    let rows = print::describe(&built.config);
    let settings: Vec<Setting> = rows
        .iter()
        .map(|(name, value)| Setting {
            name,
            value: value.clone(),
            source: built.sources.get(name).copied().unwrap_or(Source::Default),
        })
        .collect();
    for pending in built.warnings {
        let used = rows
            .iter()
            .find(|(name, _)| *name == pending.setting)
            .map(|(_, value)| value.clone());
        let value = if SECRET_SETTINGS.contains(&pending.setting) {
            REDACTED.to_owned()
        } else {
            pending.value
        };
        warnings.push(ConfigWarning {
            variable: pending.setting.to_owned(),
            value,
            problem: pending.problem,
            used,
        });
    }
    Ok(LoadedConfig {
        config: built.config,
        warnings,
        settings,
    })
}

struct Built {
    config: Config,
    sources: BTreeMap<&'static str, Source>,
    warnings: Vec<resolve::PendingWarning>,
    errors: Vec<(ConfigError, Source)>,
    #[cfg_attr(not(test), allow(dead_code))]
    consulted: std::collections::BTreeSet<&'static str>,
}

fn build(
    env: &EnvLayer,
    layers: Vec<&JsonLayer>,
    json_path: &std::path::Path,
    json_path_source: Source,
    host: &HostFacts,
) -> Built {
    let mut r = Resolver::new(env, layers, json_path.to_owned());
    // The groups fill the blank config one after another, and their order is the order
    // of the warnings; `cleanup` reads the pull behaviour `engine` set, and `logging` the
    // log driver `init_only` read.
    let mut config = Config::default();
    let c = &mut config;
    assemble::identity(&mut r, c, json_path, json_path_source);
    assemble::registration(&mut r, c, host);
    assemble::engine(&mut r, c);
    assemble::cleanup(&mut r, c);
    assemble_features::features(&mut r, c);
    assemble_features::cgroups(&mut r, c);
    assemble_features::networking(&mut r, c);
    let polling_wait = assemble_features::metrics(&mut r, c);
    c.init = assemble_features::init_only(&mut r);
    c.log = assemble_features::logging(&mut r, c.init.log_driver.as_deref());
    c.aws = assemble_features::aws_sdk(&mut r);
    c.windows = assemble_features::windows_only(&mut r);
    assemble_features::json_only(&mut r, c);

    validate::clamp_polling_wait(&mut r, c, &polling_wait);
    validate::reserve_prometheus_port(c);

    Built {
        config,
        sources: r.sources,
        warnings: r.warnings,
        errors: r.errors,
        consulted: r.consulted,
    }
}
