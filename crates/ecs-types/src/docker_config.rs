//! Typed forms of the JSON carried in [`DockerConfig`] `config` / `hostConfig`
//! strings: the Docker Engine API fields a control plane puts there for task
//! definition settings that have no first-class ACS member (task-engine.md §6.13:
//! health check, log configuration, ulimits, labels, capabilities, ...).
//!
//! Member names are Docker's (PascalCase). These types serve the side that
//! *builds* the strings (ecs-local) and tests; the agent merges the raw strings
//! onto its own Docker config with Go semantics (case-insensitive keys, unknown
//! keys ignored), which these types do not attempt.

use crate::task::{DockerConfig, StringMap};
use serde::{Deserialize, Serialize};

/// Docker `Config.Healthcheck`; durations in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    /// `["CMD-SHELL", "..."]` or `["CMD", ...]`, passed through from the task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
}

impl HealthCheck {
    const NANOS_PER_SECOND: i64 = 1_000_000_000;

    /// From task definition values in seconds, with ECS's defaults (interval 30 s,
    /// timeout 5 s, retries 3; start period omitted when unset or 0).
    pub fn from_task_definition(
        command: Vec<String>,
        interval_s: Option<i64>,
        timeout_s: Option<i64>,
        retries: Option<i64>,
        start_period_s: Option<i64>,
    ) -> Self {
        let ns = |s: i64| s.saturating_mul(Self::NANOS_PER_SECOND);
        HealthCheck {
            test: Some(command),
            interval: Some(ns(interval_s.unwrap_or(30))),
            timeout: Some(ns(timeout_s.unwrap_or(5))),
            retries: Some(retries.unwrap_or(3)),
            start_period: start_period_s.filter(|s| *s > 0).map(ns),
        }
    }
}

/// The `config` fragment (Docker `ContainerConfig` members).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfigFragment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
}

/// Docker `HostConfig.LogConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfiguration {
    /// The log driver, e.g. `json-file`, `awslogs`.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<StringMap>,
}

/// Docker `HostConfig.Ulimits` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Docker `HostConfig.Devices` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// A subset of `rwm`.
    pub cgroup_permissions: String,
}

/// The `hostConfig` fragment (Docker `HostConfig` members, including the
/// embedded `Resources`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfigFragment {
    /// The backend always sends these two, `[]` when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_add: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_rootfs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_search: Option<Vec<String>>,
    /// `"host:ip"` entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_config: Option<LogConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceMapping>>,
    /// Needs Docker API >= 1.25 (`dockerConfig.version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    /// Container path -> mount options (including `size=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<StringMap>,
    /// Bytes: memory + maxSwap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
}

impl DockerConfig {
    /// The Docker API version the backend sends when nothing needs a newer one.
    pub const DEFAULT_VERSION: &'static str = "1.17";

    /// Encodes typed fragments into the three strings of the wire shape.
    pub fn from_fragments(
        config: &ContainerConfigFragment,
        host_config: &HostConfigFragment,
        version: &str,
    ) -> Result<Self, serde_json::Error> {
        Ok(DockerConfig {
            version: Some(version.to_owned()),
            config: Some(serde_json::to_string(config)?),
            host_config: Some(serde_json::to_string(host_config)?),
        })
    }

    /// Decodes `config` (absent or empty: an empty fragment). Exact key casing
    /// only; unknown keys are ignored.
    pub fn config_fragment(&self) -> Result<ContainerConfigFragment, serde_json::Error> {
        decode(self.config.as_deref())
    }

    /// Decodes `hostConfig` (absent or empty: an empty fragment).
    pub fn host_config_fragment(&self) -> Result<HostConfigFragment, serde_json::Error> {
        decode(self.host_config.as_deref())
    }
}

fn decode<T: serde::de::DeserializeOwned + Default>(
    text: Option<&str>,
) -> Result<T, serde_json::Error> {
    match text.map(str::trim) {
        None | Some("") => Ok(T::default()),
        Some(s) => serde_json::from_str(s),
    }
}
