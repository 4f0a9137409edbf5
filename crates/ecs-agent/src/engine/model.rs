//! The engine's validated view of a task: what intake produced from the ACS payload.
//!
//! Everything here is plain data, persisted with the task, so the Docker mapping and
//! the lifecycle logic never look at the raw wire shape again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ports::Protocol;

/// Task `networkMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NetworkMode {
    #[default]
    Bridge,
    Host,
    None,
    Awsvpc,
}

/// The `dependsOn` conditions, plus the internal `CREATE` of `volumesFrom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    Create,
    Start,
    Complete,
    Success,
    Healthy,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Create => "CREATE",
            Condition::Start => "START",
            Condition::Complete => "COMPLETE",
            Condition::Success => "SUCCESS",
            Condition::Healthy => "HEALTHY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub container: String,
    pub condition: Condition,
}

/// One ACS port mapping. `container_range` set means `containerPortRange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMappingSpec {
    pub container_port: u16,
    /// 0 = dynamic (chosen by the agent).
    pub host_port: u16,
    pub container_range: Option<(u16, u16)>,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPointSpec {
    pub source_volume: String,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeFromSpec {
    pub source_container: String,
    pub read_only: bool,
}

/// A task volume with the Docker-side name decided at intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeKind {
    /// `host` with a source path: a bind mount.
    HostPath(String),
    /// A Docker volume (empty host volume, or `docker` type).
    Docker {
        /// The Docker volume name binds use.
        docker_name: String,
        /// Task scope: created before the pull, removed at cleanup.
        task_scoped: bool,
        autoprovision: bool,
        driver: String,
        driver_opts: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub name: String,
    pub kind: VolumeKind,
}

/// Registry authentication chosen for a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RegistryAuthKind {
    /// Engine-wide `ECS_ENGINE_AUTH_*` (or anonymous).
    #[default]
    Engine,
    /// ECR or Secrets Manager: needs AWS calls this engine does not make.
    Unsupported(String),
}

/// `restartPolicy` when enabled: the agent restarts the container itself (§4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicySpec {
    pub ignored_exit_codes: Vec<i64>,
    /// Seconds that must pass since the last (re)start before another restart.
    pub attempt_period: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// After `overrides.command`.
    pub command: Option<Vec<String>>,
    pub entry_point: Option<Vec<String>>,
    pub cpu: i64,
    /// MiB hard limit; 0 = none.
    pub memory: i64,
    /// After every intake injection.
    pub environment: BTreeMap<String, String>,
    pub essential: bool,
    pub links: Vec<String>,
    pub port_mappings: Vec<PortMappingSpec>,
    pub mount_points: Vec<MountPointSpec>,
    pub volumes_from: Vec<VolumeFromSpec>,
    pub docker_config: Option<String>,
    pub docker_host_config: Option<String>,
    pub docker_version: Option<String>,
    /// `healthCheckType: docker`.
    pub health_check: bool,
    /// Explicit `dependsOn` plus the implicit link/volumesFrom entries.
    pub depends_on: Vec<Dependency>,
    /// Seconds; 0 = unbounded.
    pub start_timeout: u64,
    /// Seconds; 0 = `ECS_CONTAINER_STOP_TIMEOUT`.
    pub stop_timeout: u64,
    /// The id in the three metadata URIs.
    pub v3_endpoint_id: String,
    pub registry_auth: RegistryAuthKind,
    #[serde(default)]
    pub restart_policy: Option<RestartPolicySpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub arn: String,
    pub family: String,
    pub version: String,
    pub network_mode: NetworkMode,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    /// vCPUs.
    pub cpu: f64,
    /// MiB.
    pub memory: i64,
    pub volumes: Vec<VolumeSpec>,
    pub containers: Vec<ContainerSpec>,
    pub credentials_id: Option<String>,
    pub execution_credentials_id: Option<String>,
    /// `ECS_ENABLE_TASK_CPU_MEM_LIMIT` as it was at intake (persisted per task).
    pub memory_cpu_limits: bool,
}

impl TaskSpec {
    pub fn id(&self) -> &str {
        super::naming::task_id(&self.arn)
    }

    pub fn container(&self, name: &str) -> Option<&ContainerSpec> {
        self.containers.iter().find(|c| c.name == name)
    }

    pub fn volume(&self, name: &str) -> Option<&VolumeSpec> {
        self.volumes.iter().find(|v| v.name == name)
    }
}
