//! The engine's own configuration: the subset of the agent `Config` it reads.
//!
//! Kept separate from the agent-wide config so the engine can be built and tested on
//! its own; a `From<&Config>` conversion bridges the two.

use std::path::PathBuf;
use std::time::Duration;

/// `ECS_IMAGE_PULL_BEHAVIOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullBehavior {
    /// Always pull; on failure continue with whatever image is local.
    #[default]
    Default,
    /// Always pull; a failure stops the task.
    Always,
    /// Pull only if no earlier pull of this image name succeeded; a failure stops the task.
    Once,
    /// Pull only if the image is not present locally.
    PreferCached,
}

impl PullBehavior {
    /// Parses the configuration value; anything unknown is `default`, as the reference does.
    pub fn parse(value: &str) -> Self {
        match value.trim() {
            "always" => Self::Always,
            "once" => Self::Once,
            "prefer-cached" => Self::PreferCached,
            _ => Self::Default,
        }
    }
}

/// Engine-wide registry credentials from `ECS_ENGINE_AUTH_TYPE` / `ECS_ENGINE_AUTH_DATA`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EngineAuth {
    /// `docker` or `dockercfg`; anything else means no credentials.
    pub auth_type: String,
    /// The raw JSON text, never logged.
    pub auth_data: String,
}

impl std::fmt::Debug for EngineAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineAuth")
            .field("auth_type", &self.auth_type)
            .field("auth_data", &"[redacted]")
            .finish()
    }
}

/// Everything the task engine needs from the agent configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `ECS_CLUSTER` as configured (`default` when it was empty); goes into a label.
    pub cluster: String,
    /// The agent's region, injected as `AWS_REGION`/`AWS_DEFAULT_REGION` when known.
    pub region: Option<String>,
    /// `ECS_DATADIR`: where the agent keeps its state (container metadata files).
    pub data_dir: PathBuf,
    /// `ECS_HOST_DATA_DIR`: the host path behind `data_dir` (bind sources).
    pub host_data_dir: PathBuf,
    pub pull_behavior: PullBehavior,
    pub pull_dependent_containers_upfront: bool,
    pub engine_auth: EngineAuth,
    pub image_pull_timeout: Duration,
    pub image_pull_inactivity_timeout: Duration,
    pub manifest_pull_timeout: Duration,
    pub container_create_timeout: Duration,
    pub container_start_timeout: Duration,
    /// Default Docker stop grace period when a container has no `stopTimeout`.
    pub container_stop_timeout: Duration,
    pub task_cleanup_wait: Duration,
    pub task_cleanup_wait_jitter: Duration,
    /// `ECS_DISABLE_PRIVILEGED`: privileged containers are refused at create.
    pub privileged_disabled: bool,
    /// `ECS_ENABLE_TASK_CPU_MEM_LIMIT`.
    pub task_cpu_mem_limit: bool,
    /// `ECS_CGROUP_PATH` (cgroup v1 mount root).
    pub cgroup_path: PathBuf,
    /// `ECS_CGROUP_CPU_PERIOD`.
    pub cgroup_cpu_period: Duration,
    /// `ECS_TASK_PIDS_LIMIT` (0 = unlimited).
    pub task_pids_limit: u32,
    /// `ECS_ENABLE_CONTAINER_METADATA`.
    pub container_metadata_enabled: bool,
    /// `ECS_DYNAMIC_HOST_PORT_RANGE` (inclusive).
    pub dynamic_host_port_range: (u16, u16),
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cluster: "default".to_owned(),
            region: None,
            data_dir: PathBuf::from("/data"),
            host_data_dir: PathBuf::from("/var/lib/ecs"),
            pull_behavior: PullBehavior::Default,
            pull_dependent_containers_upfront: false,
            engine_auth: EngineAuth::default(),
            image_pull_timeout: Duration::from_secs(2 * 3600),
            image_pull_inactivity_timeout: Duration::from_secs(60),
            manifest_pull_timeout: Duration::from_secs(60),
            container_create_timeout: Duration::from_secs(4 * 60),
            container_start_timeout: Duration::from_secs(3 * 60),
            container_stop_timeout: Duration::from_secs(30),
            task_cleanup_wait: Duration::from_secs(3 * 3600),
            task_cleanup_wait_jitter: Duration::ZERO,
            privileged_disabled: false,
            task_cpu_mem_limit: true,
            cgroup_path: PathBuf::from("/sys/fs/cgroup"),
            cgroup_cpu_period: Duration::from_millis(100),
            task_pids_limit: 0,
            container_metadata_enabled: false,
            dynamic_host_port_range: default_dynamic_port_range(),
        }
    }
}

/// The kernel's ephemeral range, else 49153–65535 (the reference's default).
pub fn default_dynamic_port_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(str::parse::<u16>);
            match (parts.next(), parts.next()) {
                (Some(Ok(start)), Some(Ok(end))) if end >= start => Some((start, end)),
                _ => None,
            }
        })
        .unwrap_or((49153, 65535))
}

impl From<&crate::config::Config> for EngineConfig {
    fn from(c: &crate::config::Config) -> Self {
        use crate::config::{EngineAuthType, ImagePullBehavior, TaskCpuMemLimit};
        let cluster = if c.cluster.trim().is_empty() {
            "default".to_owned()
        } else {
            c.cluster.clone()
        };
        Self {
            cluster,
            region: c.aws_region.clone().filter(|r| !r.is_empty()),
            data_dir: c.data_dir.clone(),
            host_data_dir: c.host_data_dir.clone(),
            pull_behavior: match c.image_pull_behavior {
                ImagePullBehavior::Default => PullBehavior::Default,
                ImagePullBehavior::Always => PullBehavior::Always,
                ImagePullBehavior::Once => PullBehavior::Once,
                ImagePullBehavior::PreferCached => PullBehavior::PreferCached,
            },
            pull_dependent_containers_upfront: c.dependent_containers_pull_upfront,
            engine_auth: EngineAuth {
                auth_type: c
                    .engine_auth_type
                    .map(EngineAuthType::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                auth_data: c
                    .engine_auth_data
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .unwrap_or_default(),
            },
            image_pull_timeout: c.image_pull_timeout,
            image_pull_inactivity_timeout: c.image_pull_inactivity_timeout,
            manifest_pull_timeout: c.manifest_pull_timeout,
            container_create_timeout: c.container_create_timeout,
            container_start_timeout: c.container_start_timeout,
            container_stop_timeout: c.container_stop_timeout,
            task_cleanup_wait: c.task_cleanup_wait,
            task_cleanup_wait_jitter: c.task_cleanup_wait_jitter,
            privileged_disabled: c.privileged_disabled,
            task_cpu_mem_limit: c.task_cpu_mem_limit != TaskCpuMemLimit::Disabled,
            cgroup_path: c.cgroup_path.clone(),
            cgroup_cpu_period: c.cgroup_cpu_period,
            task_pids_limit: c.task_pids_limit.unwrap_or(0),
            container_metadata_enabled: c.container_metadata_enabled,
            dynamic_host_port_range: (
                c.dynamic_host_port_range.start,
                c.dynamic_host_port_range.end,
            ),
        }
    }
}
