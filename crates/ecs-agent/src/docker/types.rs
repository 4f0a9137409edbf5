//! The agent's own view of Docker objects. These types are what the rest of the agent sees;
//! bollard's models stay inside `docker/`.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What `/version` says about the engine, and the API version we settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The API version every request of this client uses (`major.minor`).
    pub api_version: ApiVersion,
    /// The highest API version the engine supports.
    pub server_api_version: ApiVersion,
    /// The engine's release, e.g. `20.10.24+dfsg1`.
    pub server_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
}

/// A Docker API version such as `1.41`; ordered numerically, not as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u16,
    pub minor: u16,
}

impl ApiVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        ApiVersion { major, minor }
    }

    /// Parses `1.41` (as found in `/version` and in the engine's "too new" message).
    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The parts of `/info` the engine uses (cgroup layout for task cgroups, SELinux for `:Z`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    pub name: String,
    pub server_version: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub security_options: Vec<String>,
    pub ncpu: i64,
    pub mem_total: i64,
    pub os_type: String,
}

impl EngineInfo {
    pub fn selinux_enabled(&self) -> bool {
        self.security_options
            .iter()
            .any(|opt| opt == "selinux" || opt.starts_with("name=selinux"))
    }
}

/// Registry credentials for a pull. `Debug` never prints a secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    /// A base64 `user:password` pair, as in dockercfg files.
    pub auth: Option<String>,
    pub email: Option<String>,
    pub server_address: Option<String>,
    pub identity_token: Option<String>,
    pub registry_token: Option<String>,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redact(v: &Option<String>) -> &'static str {
            if v.is_some() { "<redacted>" } else { "<none>" }
        }
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("auth", &redact(&self.auth))
            .field("email", &self.email)
            .field("server_address", &self.server_address)
            .field("identity_token", &redact(&self.identity_token))
            .field("registry_token", &redact(&self.registry_token))
            .finish()
    }
}

/// Deadlines of one pull attempt (task-engine.md §2.7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullTimeouts {
    /// The whole pull (`ECS_IMAGE_PULL_TIMEOUT`).
    pub total: Duration,
    /// Until the first progress message (5 min in the reference).
    pub first_progress: Duration,
    /// The longest gap between progress messages (`ECS_IMAGE_PULL_INACTIVITY_TIMEOUT`).
    pub inactivity: Duration,
}

impl Default for PullTimeouts {
    fn default() -> Self {
        PullTimeouts {
            total: Duration::from_secs(2 * 3600),
            first_progress: Duration::from_secs(5 * 60),
            inactivity: Duration::from_secs(60),
        }
    }
}

/// One entry of `/images/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub size: i64,
    /// Seconds since the epoch.
    pub created: i64,
}

/// `docker image inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDetails {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub size: i64,
    /// The image's own `Config.Env` (`K=V`), used for the region variables rule.
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// A container create request: `config` is the Engine API's container `Config` object and
/// `host_config` its `HostConfig`, both as JSON so that the engine can merge the task's raw
/// `dockerConfig` on top with Go semantics before handing them over. Every field of the Engine
/// API (env, labels, cmd, healthcheck, port bindings, binds, mounts, ulimits, devices, tmpfs,
/// sysctls, ...) is therefore expressible.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSpec {
    /// The Docker container name (`ecs-<family>-<version>-<name>-<hex>`).
    pub name: String,
    pub config: serde_json::Value,
    pub host_config: serde_json::Value,
}

impl CreateSpec {
    /// A spec with only the image set; callers fill the rest of the JSON objects.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        CreateSpec {
            name: name.into(),
            config: serde_json::json!({ "Image": image.into() }),
            host_config: serde_json::json!({}),
        }
    }
}

/// The answer to a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedContainer {
    pub id: String,
    pub warnings: Vec<String>,
}

/// Health as Docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No healthcheck configured.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "" | "none" => Some(HealthStatus::None),
            "starting" => Some(HealthStatus::Starting),
            "healthy" => Some(HealthStatus::Healthy),
            "unhealthy" => Some(HealthStatus::Unhealthy),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: i64,
    /// Output of the most recent probe, for the task metadata `health.output`.
    pub last_output: Option<String>,
    pub last_exit_code: Option<i64>,
}

/// `State` of `docker inspect`. Docker's zero time (`0001-01-01T00:00:00Z`) becomes `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: Option<i64>,
    /// Docker's `State.Error`; empty means none.
    pub error: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub health: Option<HealthState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One host binding read back from `NetworkSettings.Ports`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortBinding {
    pub container_port: u16,
    pub protocol: Protocol,
    pub host_ip: String,
    pub host_port: u16,
}

/// One network the container is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    pub name: String,
    pub network_id: String,
    pub ip_address: String,
    pub ip_prefix_len: i64,
    pub gateway: String,
    pub ipv6_address: String,
    pub mac_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    /// `bind`, `volume`, `tmpfs`, ...
    pub kind: String,
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
    pub read_write: bool,
}

/// `docker inspect <container>`, in the shape the engine needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDetails {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    /// The image reference the container was created from (`Config.Image`).
    pub image: String,
    /// The image ID (`sha256:...`).
    pub image_id: String,
    pub created: Option<DateTime<Utc>>,
    pub state: ContainerState,
    pub labels: HashMap<String, String>,
    pub env: Vec<String>,
    pub network_mode: String,
    pub port_bindings: Vec<PortBinding>,
    pub networks: Vec<NetworkAttachment>,
    pub mounts: Vec<MountInfo>,
    pub restart_count: i64,
    /// The container's `Config` as Docker reports it (Engine API JSON), for any field the
    /// typed view above does not carry.
    pub config: serde_json::Value,
    /// `HostConfig` as Docker reports it (`Memory`, `CpuShares`, `Binds`, `Ulimits`, ...).
    pub host_config: serde_json::Value,
}

/// Filter of a container listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Include stopped containers.
    pub all: bool,
    /// `key` or `key=value`; all must match.
    pub labels: Vec<String>,
    /// Name substring as Docker's `name` filter understands it.
    pub name: Option<String>,
}

/// One entry of `/containers/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSummary {
    pub id: String,
    /// Without Docker's leading `/`.
    pub names: Vec<String>,
    pub image: String,
    pub labels: HashMap<String, String>,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// Human text such as `Up 3 minutes`.
    pub status: String,
    pub created: i64,
}

/// A Docker volume to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    /// Empty means Docker's default (`local`).
    pub driver: String,
    pub driver_opts: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
    pub scope: String,
}
