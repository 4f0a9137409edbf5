//! The `Task` and `Container` shapes carried by ACS `PayloadMessage`
//! (`models/acs-api-2.json`, backend-protocol.md §4).
//!
//! Every member is optional, as in the model: the reference decodes absent members
//! as zero values and the backend adds members over time, so unknown members are
//! ignored. Integers are `i64` because the reference's generated Go types use
//! `*int64` for both the model's `Integer` and `Long`.

use crate::sensitive::SensitiveString;
use crate::wire_enum::wire_enum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `StringMap`, `EnvironmentVariables`: ordered so that serialisation is stable.
pub type StringMap = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<Container>>,
    /// `RUNNING` or `STOPPED` in practice; a string in the model (see
    /// [`Task::desired_status`] for the typed value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Ignored by the reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// Task role credentials (role type `TaskApplication`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_credentials: Option<IAMRoleCredentials>,
    /// Execution role credentials (role type `TaskExecution`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_credentials: Option<IAMRoleCredentials>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_network_interfaces: Option<Vec<ElasticNetworkInterface>>,
    /// Task CPU in vCPUs (e.g. `0.5`).
    #[serde(
        serialize_with = "crate::go_float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    /// Task memory in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associations: Option<Vec<Association>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_configuration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// `bridge` (also when absent or empty), `host`, `awsvpc`, `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_execution_configuration: Option<TrustedExecutionConfiguration>,
}

impl Task {
    /// The containers, or an empty slice when the member is absent.
    pub fn containers(&self) -> &[Container] {
        self.containers.as_deref().unwrap_or(&[])
    }

    /// The volumes, or an empty slice when the member is absent.
    pub fn volumes(&self) -> &[Volume] {
        self.volumes.as_deref().unwrap_or(&[])
    }

    /// The desired status as the reference accepts it for a task from ACS
    /// (backend-protocol.md §3.7.2): absent is `None`; unknown strings are errors.
    pub fn desired_status(
        &self,
    ) -> Result<Option<crate::status::TaskStatus>, crate::status::StatusParseError> {
        self.desired_status.as_deref().map(str::parse).transpose()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// CPU units (Docker `CpuShares`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_specs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    /// Absent means `false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// Hard memory limit in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A string in the model, but the reference also accepts an object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<ContainerOverridesWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_agents: Option<Vec<ManagedAgent>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_points: Option<Vec<MountPoint>>,
    /// Ignored by the engine: its effect arrives in `dockerConfig.hostConfig`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    /// Ignored by the engine: its effect arrives in `dockerConfig.hostConfig`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_interface_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_from: Option<Vec<VolumeFrom>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_config: Option<DockerConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_type: Option<HealthCheckType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_authentication: Option<RegistryAuthenticationData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_auth_strategy: Option<AuthStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<ContainerDependency>>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<i64>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_arn: Option<String>,
}

impl Container {
    /// `essential` with the reference's default (absent = false).
    pub fn is_essential(&self) -> bool {
        self.essential.unwrap_or(false)
    }

    /// The container name, or `""` when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    pub fn depends_on(&self) -> &[ContainerDependency] {
        self.depends_on.as_deref().unwrap_or(&[])
    }

    pub fn port_mappings(&self) -> &[PortMapping] {
        self.port_mappings.as_deref().unwrap_or(&[])
    }

    pub fn mount_points(&self) -> &[MountPoint] {
        self.mount_points.as_deref().unwrap_or(&[])
    }

    pub fn volumes_from(&self) -> &[VolumeFrom] {
        self.volumes_from.as_deref().unwrap_or(&[])
    }

    pub fn secrets(&self) -> &[Secret] {
        self.secrets.as_deref().unwrap_or(&[])
    }

    /// The effective command: `overrides.command` when present and non-null,
    /// otherwise `command` (task-engine.md §0).
    pub fn effective_command(&self) -> Result<Option<Vec<String>>, OverridesError> {
        if let Some(o) = &self.overrides
            && let Some(cmd) = o.parse()?.command
        {
            return Ok(Some(cmd));
        }
        Ok(self.command.clone())
    }
}

/// The container `overrides` member as received: a JSON string (the model's type)
/// or an object (also accepted by the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContainerOverridesWire {
    Text(String),
    Object(serde_json::Map<String, serde_json::Value>),
}

/// The decoded container overrides: `command` is the only key the reference accepts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// Why a container's `overrides` is unusable (which makes the task invalid).
#[derive(Debug, thiserror::Error)]
#[error("invalid container overrides: {0}")]
pub struct OverridesError(#[from] serde_json::Error);

impl ContainerOverridesWire {
    /// Decodes the overrides; any key other than `command` is an error, as in
    /// the reference (an intentional exception to ignoring unknown members).
    pub fn parse(&self) -> Result<ContainerOverrides, OverridesError> {
        Ok(match self {
            ContainerOverridesWire::Text(s) if s.trim().is_empty() => ContainerOverrides::default(),
            ContainerOverridesWire::Text(s) => serde_json::from_str(s)?,
            ContainerOverridesWire::Object(m) => {
                ContainerOverrides::deserialize(serde_json::Value::Object(m.clone()))?
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_exit_codes: Option<Vec<i64>>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_attempt_period: Option<i64>,
}

wire_enum! {
    /// `ContainerCondition` of a `dependsOn` entry.
    pub enum ContainerCondition {
        Start => "START",
        Complete => "COMPLETE",
        Success => "SUCCESS",
        Healthy => "HEALTHY",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<ContainerCondition>,
}

/// Docker create fragments. All three members are strings: `config` and
/// `hostConfig` hold JSON in Docker Engine API casing (backend-protocol.md §4.4.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    /// Minimum Docker API version for this container, e.g. `"1.17"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_config: Option<String>,
}

wire_enum! {
    pub enum Scope {
        Task => "task",
        Shared => "shared",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EBSVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem_type: Option<String>,
}

wire_enum! {
    /// `EFSAuthorizationConfigIAM` and `EFSTransitEncryption`.
    pub enum EFSToggle {
        Enabled => "ENABLED",
        Disabled => "DISABLED",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EFSAuthorizationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam: Option<EFSToggle>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EFSVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_system_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<EFSToggle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EFSAuthorizationConfig>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FSxWindowsFileServerAuthorizationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FSxWindowsFileServerVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_system_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<FSxWindowsFileServerAuthorizationConfig>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogDriverVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostVolumeProperties {
    /// Empty or absent: a task-scoped Docker volume created by the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

wire_enum! {
    /// `VolumeType`. The reference additionally accepts `amazonebs`, `s3files`
    /// and `attachment` (set by the agent itself for attachment-backed volumes).
    pub enum VolumeType {
        Host => "host",
        Docker => "docker",
        Efs => "efs",
        FSxWindowsFileServer => "fsxWindowsFileServer",
        Ebs => "ebs",
        LogDriverOutput => "logDriverOutput",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absent means `host`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<VolumeType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EFSVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsx_windows_file_server_volume_configuration:
        Option<FSxWindowsFileServerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebs_volume_configuration: Option<EBSVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver_volume_configuration: Option<LogDriverVolumeConfiguration>,
}

wire_enum! {
    pub enum TransportProtocol {
        Tcp => "tcp",
        Udp => "udp",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
    /// 0 or absent: dynamic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    /// e.g. `"8000-8010"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
    /// Absent or null means `tcp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

wire_enum! {
    pub enum EnvironmentFileType {
        S3 => "s3",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentFile {
    /// S3 object ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub file_type: Option<EnvironmentFileType>,
}

wire_enum! {
    pub enum FirelensConfigurationType {
        Fluentd => "fluentd",
        Fluentbit => "fluentbit",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirelensConfiguration {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub firelens_type: Option<FirelensConfigurationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<StringMap>,
}

wire_enum! {
    pub enum HealthCheckType {
        Docker => "docker",
    }
}

wire_enum! {
    pub enum AuthStrategy {
        ExecutionRole => "ExecutionRole",
    }
}

wire_enum! {
    pub enum ManagedAgentName {
        ExecuteCommandAgent => "ExecuteCommandAgent",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedAgent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<ManagedAgentName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<StringMap>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KernelCapabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<Vec<String>>,
}

wire_enum! {
    pub enum DeviceCgroupPermission {
        Read => "read",
        Write => "write",
        Mknod => "mknod",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Required by the model; optional here so that a task missing it is still
    /// decoded and rejected by validation with a clear reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<DeviceCgroupPermission>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_memory_size: Option<i64>,
}

wire_enum! {
    pub enum SecretProvider {
        Ssm => "ssm",
        Asm => "asm",
    }
}

wire_enum! {
    pub enum SecretTarget {
        Container => "CONTAINER",
        LogDriver => "LOG_DRIVER",
    }
}

wire_enum! {
    pub enum SecretType {
        EnvironmentVariable => "ENVIRONMENT_VARIABLE",
        MountPoint => "MOUNT_POINT",
        Bootstrap => "BOOTSTRAP",
    }
}

/// A reference to a secret (never its value): `valueFrom` names the SSM
/// parameter or Secrets Manager secret that the agent fetches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Environment variable or log-driver option name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<SecretType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<SecretProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<SecretTarget>,
}

wire_enum! {
    pub enum AuthenticationType {
        Ecr => "ecr",
        Asm => "asm",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ECRAuthData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_override: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_execution_role: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ASMAuthData {
    /// ARN of the Secrets Manager secret holding the registry credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryAuthenticationData {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AuthenticationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecr_auth_data: Option<ECRAuthData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asm_auth_data: Option<ASMAuthData>,
}

/// Role credentials. `Debug` redacts `secretAccessKey` and `sessionToken`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IAMRoleCredentials {
    /// Must be non-empty for the task to be valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SensitiveString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SensitiveString>,
    /// Opaque; echoed verbatim (RFC 3339 in practice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// Ignored by the reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_scope: Option<String>,
}

wire_enum! {
    pub enum AssociationType {
        ElasticInference => "elastic-inference",
        Gpu => "gpu",
    }
}

wire_enum! {
    pub enum Encoding {
        Identity => "identity",
        Base64 => "base64",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedString {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Association {
    /// For GPUs, the GPU ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub association_type: Option<AssociationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<EncodedString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentProperty {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_arn: Option<String>,
    /// e.g. `amazonebs`, `serviceconnectdetail`, `s3files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_properties: Option<Vec<AttachmentProperty>>,
}

wire_enum! {
    pub enum ProxyConfigurationType {
        AppMesh => "APPMESH",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfiguration {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub proxy_type: Option<ProxyConfigurationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<StringMap>,
}

wire_enum! {
    pub enum IsolationMode {
        Shared => "SHARED",
        Exclusive => "EXCLUSIVE",
        IsolatedPartition => "ISOLATED_PARTITION",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedExecutionConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_mode: Option<IsolationMode>,
}

wire_enum! {
    pub enum NetworkInterfaceAssociationProtocol {
        Default => "default",
        Tunnel => "tunnel",
        Veth => "veth",
        Vlan => "vlan",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceTunnelProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceVethProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_interface: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceVlanProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_interface_mac_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPv4AddressAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IPv6AddressAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElasticNetworkInterface {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_association_protocol: Option<NetworkInterfaceAssociationProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_tunnel_properties: Option<NetworkInterfaceTunnelProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_veth_properties: Option<NetworkInterfaceVethProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_vlan_properties: Option<NetworkInterfaceVlanProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_addresses: Option<Vec<IPv4AddressAssignment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_addresses: Option<Vec<IPv6AddressAssignment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_name_servers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_dns_name: Option<String>,
    /// `a.b.c.d/n`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_gateway_ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_gateway_ipv6_address: Option<String>,
}
