//! The validated configuration handed to the rest of the agent.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use super::parse::Cidr;
use crate::logging::LogSettings;

/// What a secret, or the password of a proxy URL, is printed as.
pub const REDACTED: &str = "<redacted>";

/// A secret value: never printed by `Debug` or `Display`. Call [`Secret::expose`] where the
/// value is really needed (signing, registry auth).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A proxy URL; may carry `user:password@`, so the password is hidden when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(String);

impl ProxyUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `<redacted>`.
    pub fn redacted(&self) -> String {
        redact_url_password(&self.0)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Hides the password of `scheme://user:password@host...` (also without a scheme).
pub fn redact_url_password(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    let Some(at) = url[after_scheme..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &url[after_scheme..after_scheme + at];
    match userinfo.split_once(':') {
        Some((user, _)) => format!(
            "{}{user}:{REDACTED}{}",
            &url[..after_scheme],
            &url[after_scheme + at..]
        ),
        None => url.to_owned(),
    }
}

/// `ECS_IMAGE_PULL_BEHAVIOR` (JSON `ImagePullBehavior` 0–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImagePullBehavior {
    #[default]
    Default,
    Always,
    Once,
    PreferCached,
}

impl ImagePullBehavior {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Always => "always",
            Self::Once => "once",
            Self::PreferCached => "prefer-cached",
        }
    }
}

/// `ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PropagateTagsFrom {
    #[default]
    None,
    Ec2Instance,
}

impl PropagateTagsFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Ec2Instance => "ec2_instance",
        }
    }
}

/// `ECS_ENGINE_AUTH_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineAuthType {
    /// `docker`: `ECS_ENGINE_AUTH_DATA` maps registry → `{username,password,email}` or `{auth}`.
    Docker,
    /// `dockercfg`: `ECS_ENGINE_AUTH_DATA` is a `.dockercfg` document.
    DockerCfg,
}

impl EngineAuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::DockerCfg => "dockercfg",
        }
    }
}

/// A Docker logging driver name accepted by `ECS_AVAILABLE_LOGGING_DRIVERS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoggingDriver {
    JsonFile,
    Syslog,
    Journald,
    Gelf,
    Fluentd,
    Awslogs,
    Splunk,
    Logentries,
    Sumologic,
    None,
    Awsfirelens,
}

impl LoggingDriver {
    pub const ALL: [LoggingDriver; 11] = [
        Self::JsonFile,
        Self::Syslog,
        Self::Journald,
        Self::Gelf,
        Self::Fluentd,
        Self::Awslogs,
        Self::Splunk,
        Self::Logentries,
        Self::Sumologic,
        Self::None,
        Self::Awsfirelens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonFile => "json-file",
            Self::Syslog => "syslog",
            Self::Journald => "journald",
            Self::Gelf => "gelf",
            Self::Fluentd => "fluentd",
            Self::Awslogs => "awslogs",
            Self::Splunk => "splunk",
            Self::Logentries => "logentries",
            Self::Sumologic => "sumologic",
            Self::None => "none",
            Self::Awsfirelens => "awsfirelens",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// `ECS_ENABLE_TASK_CPU_MEM_LIMIT`: the reference treats an implicit default differently
/// from an explicit `true` when the cgroup set-up fails (spec §1.7 F).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskCpuMemLimit {
    /// Not given: on, but silently dropped when the `/ecs` cgroup cannot be used.
    #[default]
    Implicit,
    /// Explicitly `true`: a cgroup failure is fatal.
    Explicit,
    /// Explicitly `false`.
    Disabled,
}

impl TaskCpuMemLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Implicit => "true (implicit)",
            Self::Explicit => "true",
            Self::Disabled => "false",
        }
    }
}

/// `ECS_INSTANCE_IP_COMPATIBILITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpCompatibility {
    Ipv4,
    Ipv6,
}

impl IpCompatibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
        }
    }
}

/// An inclusive host port range (`ECS_DYNAMIC_HOST_PORT_RANGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// gMSA settings (spec §1.7 E, gMSA rule).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GmsaConfig {
    /// `ECS_GMSA_SUPPORTED`.
    pub supported: bool,
    /// `CREDENTIALS_FETCHER_HOST_DIR`.
    pub credentials_fetcher_host_dir: Option<PathBuf>,
    /// `CREDENTIALS_FETCHER_SECRET_NAME_FOR_DOMAINLESS_GMSA`.
    pub domainless_secret_name: Option<String>,
    /// `ECS_DOMAIN_JOINED_LINUX_INSTANCE`.
    pub domain_joined_linux_instance: bool,
    /// `ZZZ_SKIP_DOMAIN_JOIN_CHECK_NOT_SUPPORTED_IN_PRODUCTION` (test-only).
    pub skip_domain_join_check: bool,
    /// `ZZZ_SKIP_DOMAIN_LESS_CHECK_NOT_SUPPORTED_IN_PRODUCTION` (test-only).
    pub skip_domain_less_check: bool,
    /// `ZZZ_SKIP_CREDENTIALS_FETCHER_INVOCATION_CHECK_NOT_SUPPORTED_IN_PRODUCTION` (test-only).
    pub skip_credentials_fetcher_invocation_check: bool,
}

impl GmsaConfig {
    /// The `gmsa` capability rule (spec §1.7 E). `fetcher_dir_exists`: whether
    /// `CREDENTIALS_FETCHER_HOST_DIR` exists on the host (checked by the caller).
    pub fn gmsa_capable(&self, fetcher_dir_exists: bool) -> bool {
        self.supported
            && (self.skip_domain_join_check
                || (self.credentials_fetcher_host_dir.is_some()
                    && fetcher_dir_exists
                    && (self.domainless_secret_name.is_some()
                        || self.domain_joined_linux_instance)))
    }

    /// The `gmsa-domainless` capability rule (spec §1.7 E).
    pub fn gmsa_domainless_capable(&self, fetcher_dir_exists: bool) -> bool {
        self.supported
            && (self.skip_domain_less_check
                || (self.credentials_fetcher_host_dir.is_some() && fetcher_dir_exists))
    }
}

/// Instance credentials and AWS SDK switches (spec §1.7 J, backend-protocol §1.3).
/// The SDK would read these from the process environment; they are here because a
/// native agent also takes them from `ecs.config`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AwsSdkConfig {
    /// `ECS_ALTERNATE_CREDENTIAL_PROFILE` (rotating credentials file profile).
    pub alternate_credential_profile: String,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<Secret>,
    /// `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `AWS_SHARED_CREDENTIALS_FILE`.
    pub shared_credentials_file: Option<PathBuf>,
    /// `AWS_CONFIG_FILE`.
    pub config_file: Option<PathBuf>,
    /// `AWS_EC2_METADATA_DISABLED` (`true`, case-insensitive).
    pub ec2_metadata_disabled: bool,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub ec2_metadata_service_endpoint: Option<String>,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` (`IPv4` / `IPv6`).
    pub ec2_metadata_service_endpoint_mode: Option<String>,
    /// `AWS_ENDPOINT_URL_ECS`: beats `ECS_BACKEND_HOST`.
    pub endpoint_url_ecs: Option<String>,
    /// `AWS_ENDPOINT_URL`: applies only when `ECS_BACKEND_HOST` is empty.
    pub endpoint_url: Option<String>,
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`: discards both, and `ECS_BACKEND_HOST`.
    pub ignore_configured_endpoint_urls: bool,
}

/// Variables the reference's ecs-init consumes (spec §1.7 L). A native agent reads them
/// so that `--print-config` shows them; those about the agent container have no effect.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InitOnlyConfig {
    /// `ECS_LOG_DRIVER`: also makes the on-instance log level default to `off`.
    pub log_driver: Option<String>,
    /// `ECS_LOG_OPTS` (JSON object; values may hold tokens such as `splunk-token`).
    pub log_opts: BTreeMap<String, Secret>,
    /// `ECS_INIT_DOCKER_LOG_FILE_SIZE`.
    pub docker_log_file_size: String,
    /// `ECS_INIT_DOCKER_LOG_FILE_NUM`.
    pub docker_log_file_num: String,
    /// `ECS_AGENT_LABELS` (JSON object; `{}` ignored).
    pub agent_labels: BTreeMap<String, String>,
    /// `ECS_AGENT_APPARMOR_PROFILE`.
    pub agent_apparmor_profile: String,
    /// `ECS_AGENT_PID_NAMESPACE_HOST`.
    pub agent_pid_namespace_host: bool,
    /// `ECS_AGENT_RUN_PRIVILEGED` (exactly `true`).
    pub agent_run_privileged: bool,
    /// `ECS_SKIP_LOCALHOST_TRAFFIC_FILTER`.
    pub skip_localhost_traffic_filter: bool,
    /// `ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS`.
    pub allow_offhost_introspection_access: bool,
    /// `ECS_AGENT_MANAGE_NETWORK_RULES`: ours, not the reference's. ecs-init installs the
    /// 169.254.170.2 iptables rules for the reference agent; without ecs-init the agent
    /// installs them itself when it runs as root and iptables exists (default true),
    /// and removes them at clean shutdown. `false` leaves the host's rules alone.
    pub manage_network_rules: bool,
    /// `CREDENTIALS_FETCHER_HOST`.
    pub credentials_fetcher_host: Option<String>,
    /// `ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME`: documented, unused (spec §8 #10).
    pub offhost_introspection_interface_name: Option<String>,
}

/// Windows-only variables (spec §1.7 M): parsed, no effect on Linux.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowsOnlyConfig {
    /// `ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED` (FSx capability is always off on Linux).
    pub fsx_windows_file_server_supported: bool,
    /// `ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND`.
    pub cpu_unbounded_workaround: bool,
    /// `ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND`.
    pub memory_unbounded_workaround: bool,
    /// `ZZZ_SKIP_WINDOWS_SERVER_VERSION_CHECK_NOT_SUPPORTED_IN_PRODUCTION`.
    pub skip_windows_server_version_check: bool,
}

/// The whole agent configuration, validated. Field docs name the variable (or the
/// JSON-only key) each field comes from; spec §1.7 has the meaning.
///
/// `Config::default()` is only the blank (empty, false, zero) value that assembly fills
/// in one group at a time; the agent's defaults are applied by [`super::load`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    // --- A. identity, endpoints, files
    /// `ECS_CLUSTER`, trimmed; empty means the `default` cluster (see [`Config::cluster_name`]).
    pub cluster: String,
    /// `AWS_DEFAULT_REGION` / `AWSRegion`; `None` until IMDS supplies it (see [`Config::region`]).
    pub aws_region: Option<String>,
    /// `ECS_BACKEND_HOST`, trimmed, with `https://` prepended when it has no scheme.
    pub backend_host: Option<String>,
    /// `DOCKER_HOST`.
    pub docker_host: String,
    /// `ECS_EXTERNAL`.
    pub external: bool,
    /// `ECS_AGENT_CONFIG_FILE_PATH`: the JSON file that was consulted.
    pub agent_config_file_path: PathBuf,
    /// `ECS_DATADIR`.
    pub data_dir: PathBuf,
    /// `ECS_CHECKPOINT`.
    pub checkpoint: bool,
    /// `ECS_HOST_DATA_DIR`.
    pub host_data_dir: PathBuf,
    /// `ECS_UPDATES_ENABLED`.
    pub updates_enabled: bool,
    /// `ECS_UPDATE_DOWNLOAD_DIR`.
    pub update_download_dir: Option<PathBuf>,
    /// `ECS_DETAILED_OS_FAMILY`: `None` = unset (`LINUX` is used); `Some("")` = set but
    /// empty (the attribute is omitted).
    pub detailed_os_family: Option<String>,
    /// `SSL_CERT_DIR`.
    pub ssl_cert_dir: Option<PathBuf>,

    // --- B. registration and resources
    /// `ECS_RESERVED_PORTS` (plus 51680 when Prometheus metrics are on).
    pub reserved_ports: Vec<u16>,
    /// `ECS_RESERVED_PORTS_UDP`.
    pub reserved_ports_udp: Vec<u16>,
    /// `ECS_RESERVED_MEMORY`, MiB.
    pub reserved_memory_mib: u16,
    /// `ECS_INSTANCE_ATTRIBUTES`.
    pub instance_attributes: BTreeMap<String, String>,
    /// `ECS_CONTAINER_INSTANCE_TAGS`.
    pub container_instance_tags: BTreeMap<String, String>,
    /// `ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM`.
    pub container_instance_propagate_tags_from: PropagateTagsFrom,
    /// `ECS_ENABLE_PROMETHEUS_METRICS`.
    pub prometheus_metrics_enabled: bool,
    /// `ECS_DYNAMIC_HOST_PORT_RANGE`.
    pub dynamic_host_port_range: PortRange,
    /// `ECS_WARM_POOLS_CHECK`.
    pub warm_pools_check: bool,
    /// `ECS_ENABLE_SPOT_INSTANCE_DRAINING`.
    pub spot_instance_draining: bool,

    // --- C. Docker, task engine, pulls
    /// `ECS_CONTAINER_STOP_TIMEOUT`.
    pub container_stop_timeout: Duration,
    /// `ECS_CONTAINER_START_TIMEOUT`.
    pub container_start_timeout: Duration,
    /// `ECS_CONTAINER_CREATE_TIMEOUT`.
    pub container_create_timeout: Duration,
    /// `ECS_MANIFEST_PULL_TIMEOUT`.
    pub manifest_pull_timeout: Duration,
    /// `ECS_IMAGE_PULL_INACTIVITY_TIMEOUT`.
    pub image_pull_inactivity_timeout: Duration,
    /// `ECS_IMAGE_PULL_TIMEOUT`.
    pub image_pull_timeout: Duration,
    /// `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`.
    pub task_cleanup_wait: Duration,
    /// `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER`.
    pub task_cleanup_wait_jitter: Duration,
    /// `ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT`.
    pub dependent_containers_pull_upfront: bool,
    /// `ECS_IMAGE_PULL_BEHAVIOR`.
    pub image_pull_behavior: ImagePullBehavior,
    /// `ECS_ENGINE_AUTH_TYPE`.
    pub engine_auth_type: Option<EngineAuthType>,
    /// `ECS_ENGINE_AUTH_DATA`, raw JSON text.
    pub engine_auth_data: Option<Secret>,
    /// `ECS_SHARED_VOLUME_MATCH_FULL_CONFIG`.
    pub shared_volume_match_full_config: bool,
    /// `ECS_PAUSE_LABELS`.
    pub pause_labels: BTreeMap<String, String>,

    // --- D. image and container cleanup
    /// `ECS_DISABLE_IMAGE_CLEANUP` (also true with `prefer-cached` pulls).
    pub image_cleanup_disabled: bool,
    /// `ECS_IMAGE_CLEANUP_INTERVAL`.
    pub image_cleanup_interval: Duration,
    /// `ECS_IMAGE_MINIMUM_CLEANUP_AGE`.
    pub image_minimum_cleanup_age: Duration,
    /// `NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE`.
    pub non_ecs_image_minimum_cleanup_age: Duration,
    /// `ECS_NUM_IMAGES_DELETE_PER_CYCLE`.
    pub num_images_delete_per_cycle: u32,
    /// `NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE`.
    pub num_non_ecs_containers_delete_per_cycle: u32,
    /// `ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP`.
    pub untracked_image_cleanup: bool,
    /// `ECS_EXCLUDE_UNTRACKED_IMAGE`.
    pub image_cleanup_exclusion_list: Vec<String>,

    // --- E. capabilities and features
    /// `ECS_AVAILABLE_LOGGING_DRIVERS`.
    pub available_logging_drivers: Vec<LoggingDriver>,
    /// `ECS_DISABLE_PRIVILEGED`.
    pub privileged_disabled: bool,
    /// `ECS_SELINUX_CAPABLE`.
    pub selinux_capable: bool,
    /// `ECS_APPARMOR_CAPABLE`.
    pub apparmor_capable: bool,
    /// `ECS_ENABLE_TASK_IAM_ROLE`.
    pub task_iam_role_enabled: bool,
    /// `ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST`.
    pub task_iam_role_network_host: bool,
    /// `ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE`.
    pub awslogs_execution_role_override: bool,
    /// `ECS_DISABLE_DOCKER_HEALTH_CHECK`.
    pub docker_health_check_disabled: bool,
    /// `ECS_ENABLE_CONTAINER_METADATA`.
    pub container_metadata_enabled: bool,
    /// `ECS_ENABLE_GPU_SUPPORT`.
    pub gpu_support_enabled: bool,
    /// `ECS_NVIDIA_RUNTIME`.
    pub nvidia_runtime: String,
    /// `ECS_ENABLE_INF_SUPPORT`.
    pub inferentia_support_enabled: bool,
    /// `ECS_EBSTA_SUPPORTED` (forced off when `/mnt/ecs/ebs` is not a directory).
    pub ebs_task_attach_supported: bool,
    /// `ECS_VOLUME_PLUGIN_CAPABILITIES`.
    pub volume_plugin_capabilities: Vec<String>,
    /// `ECS_ENABLE_FIRELENS_ASYNC`.
    pub firelens_async_enabled: bool,
    pub gmsa: GmsaConfig,

    // --- F. cgroups and limits
    /// `ECS_ENABLE_TASK_CPU_MEM_LIMIT`.
    pub task_cpu_mem_limit: TaskCpuMemLimit,
    /// `ECS_CGROUP_PATH`.
    pub cgroup_path: PathBuf,
    /// `ECS_CGROUP_CPU_PERIOD`.
    pub cgroup_cpu_period: Duration,
    /// `ECS_TASK_PIDS_LIMIT`; `None` = unlimited.
    pub task_pids_limit: Option<u32>,
    /// `ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2`.
    pub propagate_task_memory_limit_cgroupv2: bool,

    // --- G. networking
    /// `ECS_ENABLE_TASK_ENI` (forced off on external hosts).
    pub task_eni_enabled: bool,
    /// `ECS_ENABLE_HIGH_DENSITY_ENI`: ENI trunking, only when task ENI is on.
    pub eni_trunking_enabled: bool,
    /// `ECS_CNI_PLUGINS_PATH`.
    pub cni_plugins_path: PathBuf,
    /// `ECS_AWSVPC_BLOCK_IMDS`.
    pub awsvpc_block_imds: bool,
    /// `ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES`.
    pub awsvpc_additional_local_routes: Vec<Cidr>,
    /// `ECS_INSTANCE_IP_COMPATIBILITY`; `None` = detect from the default routes at start.
    pub instance_ip_compatibility: Option<IpCompatibility>,
    /// `ECS_EXCLUDE_IPV6_PORTBINDING`; `None` = true, or false on IPv6-only hosts.
    pub exclude_ipv6_port_binding: Option<bool>,
    /// `HTTP_PROXY` / `http_proxy`.
    pub http_proxy: Option<ProxyUrl>,
    /// `HTTPS_PROXY` / `https_proxy`.
    pub https_proxy: Option<ProxyUrl>,
    /// `NO_PROXY` / `no_proxy`.
    pub no_proxy: Option<String>,

    // --- H. metrics, local endpoints
    /// `ECS_DISABLE_METRICS`.
    pub metrics_disabled: bool,
    /// `ECS_POLL_METRICS`.
    pub poll_metrics: bool,
    /// `ECS_POLLING_METRICS_WAIT_DURATION` (clamped to 5s..20s when polling).
    pub polling_metrics_wait: Duration,
    /// `ECS_TASK_METADATA_RPS_LIMIT`, steady part.
    pub task_metadata_steady_state_rate: u32,
    /// `ECS_TASK_METADATA_RPS_LIMIT`, burst part.
    pub task_metadata_burst_rate: u32,
    /// `ECS_DISABLE_TASK_METADATA_AZ`.
    pub task_metadata_az_disabled: bool,
    /// `ECS_ENABLE_RUNTIME_STATS`.
    pub runtime_stats_enabled: bool,
    /// `ECS_AGENT_HEALTHCHECK_HOST`.
    pub agent_healthcheck_host: String,

    // --- I. logging (with `ECS_AUDIT_LOGFILE`, `ECS_AUDIT_LOGFILE_DISABLED`)
    pub log: LogSettings,

    // --- J, L, M
    pub aws: AwsSdkConfig,
    pub init: InitOnlyConfig,
    pub windows: WindowsOnlyConfig,

    // --- JSON-config-only settings (spec §1.4)
    /// `NoIID`: send no instance identity document.
    pub no_iid: bool,
    /// `PauseContainerTarballPath`.
    pub pause_container_tarball_path: PathBuf,
    /// `PauseContainerImageName`.
    pub pause_container_image_name: String,
    /// `PauseContainerTag`.
    pub pause_container_tag: String,
    /// `CSIDriverSocketPath`.
    pub csi_driver_socket_path: PathBuf,
    /// `RuntimeStatsLogFile`.
    pub runtime_stats_log_file: PathBuf,
    /// `NodeStageTimeout` (EBS).
    pub node_stage_timeout: Duration,
    /// `NodeUnstageTimeout` (EBS).
    pub node_unstage_timeout: Duration,
    /// `ENIPauseContainerCleanupDelaySeconds`.
    pub eni_pause_container_cleanup_delay: Duration,
    /// `InstanceENIDNSServerList`.
    pub instance_eni_dns_server_list: Vec<String>,
    /// `OverrideAWSVPCLocalIPv4Address`.
    pub override_awsvpc_local_ipv4_address: Option<Cidr>,
    /// `IMDSIAMRolesEnabled`.
    pub imds_iam_roles_enabled: bool,
}

/// The cluster registered into when `ECS_CLUSTER` is empty.
pub const DEFAULT_CLUSTER: &str = "default";

impl Config {
    /// `ECS_CLUSTER`, or `default` when empty.
    pub fn cluster_name(&self) -> &str {
        if self.cluster.is_empty() {
            DEFAULT_CLUSTER
        } else {
            &self.cluster
        }
    }

    /// The region, or the fatal error of validation step 1 (spec §1.6) when neither the
    /// configuration nor IMDS supplied one.
    pub fn region(&self) -> Result<&str, super::ConfigError> {
        self.aws_region
            .as_deref()
            .filter(|r| !r.is_empty())
            .ok_or(super::ConfigError::MissingRegion)
    }

    /// The region learnt from IMDS (spec §1.3 step 6), used only when none is configured.
    pub fn with_imds_region(mut self, region: &str) -> Self {
        let region = region.trim();
        if self.aws_region.is_none() && !region.is_empty() {
            self.aws_region = Some(region.to_owned());
        }
        self
    }

    /// The `ECS_DATADIR` rule checked at start: with checkpointing on it must be an
    /// existing directory (the reference exits 1 otherwise).
    pub fn check_data_dir(&self) -> Result<(), super::ConfigError> {
        if self.checkpoint && !self.data_dir.is_dir() {
            return Err(super::ConfigError::DataDirMissing {
                path: self.data_dir.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "<redacted> <redacted>");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn gmsa_rules() {
        let off = GmsaConfig {
            supported: false,
            credentials_fetcher_host_dir: Some(PathBuf::from("/run/cf.sock")),
            domainless_secret_name: Some("arn".to_owned()),
            domain_joined_linux_instance: true,
            skip_domain_join_check: true,
            skip_domain_less_check: true,
            skip_credentials_fetcher_invocation_check: false,
        };
        assert!(!off.gmsa_capable(true) && !off.gmsa_domainless_capable(true));
        let base = GmsaConfig {
            supported: true,
            skip_domain_join_check: false,
            skip_domain_less_check: false,
            domainless_secret_name: None,
            domain_joined_linux_instance: false,
            ..off
        };
        assert!(
            !base.gmsa_capable(true),
            "needs a secret name or a domain join"
        );
        assert!(base.gmsa_domainless_capable(true));
        assert!(
            !base.gmsa_domainless_capable(false),
            "fetcher dir must exist"
        );
        let joined = GmsaConfig {
            domain_joined_linux_instance: true,
            ..base.clone()
        };
        assert!(joined.gmsa_capable(true) && !joined.gmsa_capable(false));
        let domainless = GmsaConfig {
            domainless_secret_name: Some("arn".to_owned()),
            ..base.clone()
        };
        assert!(domainless.gmsa_capable(true));
        let skipped = GmsaConfig {
            credentials_fetcher_host_dir: None,
            skip_domain_join_check: true,
            skip_domain_less_check: true,
            ..base
        };
        assert!(skipped.gmsa_capable(false) && skipped.gmsa_domainless_capable(false));
    }

    #[test]
    fn proxy_passwords_are_hidden() {
        let cases = [
            (
                "http://user:pw@proxy:3128",
                "http://user:<redacted>@proxy:3128",
            ),
            ("user:pw@proxy:3128/x@y", "user:<redacted>@proxy:3128/x@y"),
            ("http://proxy:3128", "http://proxy:3128"),
            ("http://user@proxy", "http://user@proxy"),
        ];
        for (given, want) in cases {
            assert_eq!(redact_url_password(given), want);
            assert_eq!(format!("{:?}", ProxyUrl::new(given)), format!("{want:?}"));
        }
    }
}
