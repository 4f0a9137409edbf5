//! `ecs-agent --print-config`: every setting, its effective value and its source, with
//! secrets redacted.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::model::{Config, EngineAuthType, REDACTED};
use super::parse::format_duration;
use super::{LoadedConfig, Source};
use crate::logging::{LogFormat, RolloverType};

/// Settings whose values are secrets (printed as `<redacted>` when set). Proxy variables
/// are printed with only their password hidden.
pub const SECRET_SETTINGS: [&str; 4] = [
    "ECS_ENGINE_AUTH_DATA",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    // Docker log options can carry tokens (splunk-token, …).
    "ECS_LOG_OPTS",
];

/// How this agent resolves the reference's quirks (spec §8 asks that they be documented
/// in the `--print-config` output). No `=` in these lines, so `ecs.config` readers skip them.
pub const DECISIONS: [&str; 8] = [
    "# Decisions where the reference agent behaves oddly (spec section 8):",
    "# - an empty or zero value in the environment or ecs.config lets the JSON file supply the value; an empty ECS_RESERVED_PORTS list means the default list",
    "# - a JSON array variable with a bad element is ignored as a whole (with a warning); text after the array is ignored",
    "# - when ECS_LOGLEVEL_ON_INSTANCE is unset it follows ECS_LOGLEVEL as mapped (crit, none and upper case work)",
    "# - an unknown ECS_LOG_OUTPUT_FORMAT falls back to logfmt with a warning",
    "# - NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE below 1 becomes 5 with a warning, like ECS_NUM_IMAGES_DELETE_PER_CYCLE",
    "# - ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME is accepted and has no effect",
    "# - native agent: a value in matching quotes in ecs.config loses them (as systemd reads the file), and self-update (ECS_UPDATES_ENABLED) stays off unless set",
];

/// One line per setting: `NAME=value (source)`, in a stable order (spec §1.7 order,
/// then the JSON-only settings), followed by the [`DECISIONS`] comment lines and one
/// `# warning: ...` line per ignored or clamped value.
pub fn render_effective(loaded: &LoadedConfig) -> String {
    let mut out = String::new();
    for setting in &loaded.settings {
        out.push_str(&format!(
            "{}={} ({})\n",
            setting.name, setting.value, setting.source
        ));
    }
    for line in DECISIONS {
        out.push_str(line);
        out.push('\n');
    }
    for warning in &loaded.warnings {
        out.push_str(&format!("# warning: {warning}\n"));
    }
    out
}

fn d(value: Duration) -> String {
    format_duration(value)
}

fn b(value: bool) -> String {
    value.to_string()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// An optional value as it displays (secrets and proxy passwords display redacted), or
/// empty when unset.
fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn op(path: Option<&Path>) -> String {
    opt(path.map(Path::display))
}

/// A list as a JSON array (ports, driver names, CIDRs…).
fn list<S: serde::Serialize>(items: &[S]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn map(value: &BTreeMap<String, String>) -> String {
    if value.is_empty() {
        return String::new();
    }
    serde_json::to_string(value).unwrap_or_default()
}

/// Every setting with its effective value, secrets already redacted.
pub fn describe(c: &Config) -> Vec<(&'static str, String)> {
    let log = &c.log;
    let mut rows = vec![
        // A
        ("ECS_CLUSTER", c.cluster.clone()),
        ("AWS_DEFAULT_REGION", opt(c.aws_region.as_deref())),
        ("ECS_BACKEND_HOST", opt(c.backend_host.as_deref())),
        ("DOCKER_HOST", c.docker_host.clone()),
        ("ECS_EXTERNAL", b(c.external)),
        ("ECS_AGENT_CONFIG_FILE_PATH", p(&c.agent_config_file_path)),
        ("ECS_DATADIR", p(&c.data_dir)),
        ("ECS_CHECKPOINT", b(c.checkpoint)),
        ("ECS_HOST_DATA_DIR", p(&c.host_data_dir)),
        ("ECS_UPDATES_ENABLED", b(c.updates_enabled)),
        (
            "ECS_UPDATE_DOWNLOAD_DIR",
            op(c.update_download_dir.as_deref()),
        ),
        (
            "ECS_DETAILED_OS_FAMILY",
            c.detailed_os_family
                .clone()
                .unwrap_or_else(|| "LINUX".to_owned()),
        ),
        ("SSL_CERT_DIR", op(c.ssl_cert_dir.as_deref())),
        // B
        ("ECS_RESERVED_PORTS", list(&c.reserved_ports)),
        ("ECS_RESERVED_PORTS_UDP", list(&c.reserved_ports_udp)),
        ("ECS_RESERVED_MEMORY", c.reserved_memory_mib.to_string()),
        ("ECS_INSTANCE_ATTRIBUTES", map(&c.instance_attributes)),
        (
            "ECS_CONTAINER_INSTANCE_TAGS",
            map(&c.container_instance_tags),
        ),
        (
            "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM",
            c.container_instance_propagate_tags_from.as_str().to_owned(),
        ),
        (
            "ECS_ENABLE_PROMETHEUS_METRICS",
            b(c.prometheus_metrics_enabled),
        ),
        (
            "ECS_DYNAMIC_HOST_PORT_RANGE",
            c.dynamic_host_port_range.to_string(),
        ),
        ("ECS_WARM_POOLS_CHECK", b(c.warm_pools_check)),
        (
            "ECS_ENABLE_SPOT_INSTANCE_DRAINING",
            b(c.spot_instance_draining),
        ),
        // C
        ("ECS_CONTAINER_STOP_TIMEOUT", d(c.container_stop_timeout)),
        ("ECS_CONTAINER_START_TIMEOUT", d(c.container_start_timeout)),
        (
            "ECS_CONTAINER_CREATE_TIMEOUT",
            d(c.container_create_timeout),
        ),
        ("ECS_MANIFEST_PULL_TIMEOUT", d(c.manifest_pull_timeout)),
        (
            "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT",
            d(c.image_pull_inactivity_timeout),
        ),
        ("ECS_IMAGE_PULL_TIMEOUT", d(c.image_pull_timeout)),
        (
            "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION",
            d(c.task_cleanup_wait),
        ),
        (
            "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER",
            d(c.task_cleanup_wait_jitter),
        ),
        (
            "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT",
            b(c.dependent_containers_pull_upfront),
        ),
        (
            "ECS_IMAGE_PULL_BEHAVIOR",
            c.image_pull_behavior.as_str().to_owned(),
        ),
        (
            "ECS_ENGINE_AUTH_TYPE",
            opt(c.engine_auth_type.map(EngineAuthType::as_str)),
        ),
        ("ECS_ENGINE_AUTH_DATA", opt(c.engine_auth_data.as_ref())),
        (
            "ECS_SHARED_VOLUME_MATCH_FULL_CONFIG",
            b(c.shared_volume_match_full_config),
        ),
        ("ECS_PAUSE_LABELS", map(&c.pause_labels)),
        // D
        ("ECS_DISABLE_IMAGE_CLEANUP", b(c.image_cleanup_disabled)),
        ("ECS_IMAGE_CLEANUP_INTERVAL", d(c.image_cleanup_interval)),
        (
            "ECS_IMAGE_MINIMUM_CLEANUP_AGE",
            d(c.image_minimum_cleanup_age),
        ),
        (
            "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE",
            d(c.non_ecs_image_minimum_cleanup_age),
        ),
        (
            "ECS_NUM_IMAGES_DELETE_PER_CYCLE",
            c.num_images_delete_per_cycle.to_string(),
        ),
        (
            "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE",
            c.num_non_ecs_containers_delete_per_cycle.to_string(),
        ),
        (
            "ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP",
            b(c.untracked_image_cleanup),
        ),
        (
            "ECS_EXCLUDE_UNTRACKED_IMAGE",
            c.image_cleanup_exclusion_list.join(","),
        ),
        // E
        (
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            list(
                &c.available_logging_drivers
                    .iter()
                    .map(|d| d.as_str())
                    .collect::<Vec<_>>(),
            ),
        ),
        ("ECS_DISABLE_PRIVILEGED", b(c.privileged_disabled)),
        ("ECS_SELINUX_CAPABLE", b(c.selinux_capable)),
        ("ECS_APPARMOR_CAPABLE", b(c.apparmor_capable)),
        ("ECS_ENABLE_TASK_IAM_ROLE", b(c.task_iam_role_enabled)),
        (
            "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST",
            b(c.task_iam_role_network_host),
        ),
        (
            "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE",
            b(c.awslogs_execution_role_override),
        ),
        (
            "ECS_DISABLE_DOCKER_HEALTH_CHECK",
            b(c.docker_health_check_disabled),
        ),
        (
            "ECS_ENABLE_CONTAINER_METADATA",
            b(c.container_metadata_enabled),
        ),
        ("ECS_ENABLE_GPU_SUPPORT", b(c.gpu_support_enabled)),
        ("ECS_NVIDIA_RUNTIME", c.nvidia_runtime.clone()),
        ("ECS_ENABLE_INF_SUPPORT", b(c.inferentia_support_enabled)),
        ("ECS_EBSTA_SUPPORTED", b(c.ebs_task_attach_supported)),
        (
            "ECS_VOLUME_PLUGIN_CAPABILITIES",
            list(&c.volume_plugin_capabilities),
        ),
        ("ECS_ENABLE_FIRELENS_ASYNC", b(c.firelens_async_enabled)),
        ("ECS_GMSA_SUPPORTED", b(c.gmsa.supported)),
        (
            "CREDENTIALS_FETCHER_HOST_DIR",
            op(c.gmsa.credentials_fetcher_host_dir.as_deref()),
        ),
        (
            "CREDENTIALS_FETCHER_SECRET_NAME_FOR_DOMAINLESS_GMSA",
            opt(c.gmsa.domainless_secret_name.as_deref()),
        ),
        (
            "ECS_DOMAIN_JOINED_LINUX_INSTANCE",
            b(c.gmsa.domain_joined_linux_instance),
        ),
        // F
        (
            "ECS_ENABLE_TASK_CPU_MEM_LIMIT",
            c.task_cpu_mem_limit.as_str().to_owned(),
        ),
        ("ECS_CGROUP_PATH", p(&c.cgroup_path)),
        ("ECS_CGROUP_CPU_PERIOD", d(c.cgroup_cpu_period)),
        (
            "ECS_TASK_PIDS_LIMIT",
            c.task_pids_limit
                .map_or_else(|| "0".to_owned(), |n| n.to_string()),
        ),
        (
            "ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2",
            b(c.propagate_task_memory_limit_cgroupv2),
        ),
        // G
        ("ECS_ENABLE_TASK_ENI", b(c.task_eni_enabled)),
        ("ECS_ENABLE_HIGH_DENSITY_ENI", b(c.eni_trunking_enabled)),
        ("ECS_CNI_PLUGINS_PATH", p(&c.cni_plugins_path)),
        ("ECS_AWSVPC_BLOCK_IMDS", b(c.awsvpc_block_imds)),
        (
            "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES",
            list(
                &c.awsvpc_additional_local_routes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "ECS_INSTANCE_IP_COMPATIBILITY",
            c.instance_ip_compatibility
                .map_or("auto", |i| i.as_str())
                .to_owned(),
        ),
        (
            "ECS_EXCLUDE_IPV6_PORTBINDING",
            c.exclude_ipv6_port_binding
                .map_or_else(|| "true (false on IPv6-only hosts)".to_owned(), b),
        ),
        ("HTTP_PROXY", opt(c.http_proxy.as_ref())),
        ("HTTPS_PROXY", opt(c.https_proxy.as_ref())),
        ("NO_PROXY", opt(c.no_proxy.as_deref())),
        // H
        ("ECS_DISABLE_METRICS", b(c.metrics_disabled)),
        ("ECS_POLL_METRICS", b(c.poll_metrics)),
        (
            "ECS_POLLING_METRICS_WAIT_DURATION",
            d(c.polling_metrics_wait),
        ),
        (
            "ECS_TASK_METADATA_RPS_LIMIT",
            format!(
                "{},{}",
                c.task_metadata_steady_state_rate, c.task_metadata_burst_rate
            ),
        ),
        (
            "ECS_DISABLE_TASK_METADATA_AZ",
            b(c.task_metadata_az_disabled),
        ),
        ("ECS_AUDIT_LOGFILE", op(log.audit_logfile.as_deref())),
        ("ECS_AUDIT_LOGFILE_DISABLED", b(log.audit_logfile.is_none())),
        ("ECS_ENABLE_RUNTIME_STATS", b(c.runtime_stats_enabled)),
        (
            "ECS_AGENT_HEALTHCHECK_HOST",
            c.agent_healthcheck_host.clone(),
        ),
        // I
        ("ECS_LOGFILE", op(log.logfile.as_deref())),
        ("ECS_LOGLEVEL", log.level.as_str().to_owned()),
        (
            "ECS_LOGLEVEL_ON_INSTANCE",
            log.level_on_instance.as_str().to_owned(),
        ),
        (
            "ECS_LOG_ROLLOVER_TYPE",
            match log.rollover {
                RolloverType::Size => "size",
                RolloverType::Hourly => "hourly",
                RolloverType::None => "none",
            }
            .to_owned(),
        ),
        (
            "ECS_LOG_OUTPUT_FORMAT",
            match log.format {
                LogFormat::Logfmt => "logfmt",
                LogFormat::Json => "json",
            }
            .to_owned(),
        ),
        ("ECS_LOG_MAX_FILE_SIZE_MB", log.max_file_size_mb.to_string()),
        ("ECS_LOG_MAX_ROLL_COUNT", log.max_roll_count.to_string()),
        ("ECS_LOG_DRIVER", opt(c.init.log_driver.as_deref())),
        // J
        (
            "ECS_ALTERNATE_CREDENTIAL_PROFILE",
            c.aws.alternate_credential_profile.clone(),
        ),
        ("AWS_ACCESS_KEY_ID", opt(c.aws.access_key_id.as_deref())),
        (
            "AWS_SECRET_ACCESS_KEY",
            opt(c.aws.secret_access_key.as_ref()),
        ),
        ("AWS_SESSION_TOKEN", opt(c.aws.session_token.as_ref())),
        ("AWS_PROFILE", opt(c.aws.profile.as_deref())),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            op(c.aws.shared_credentials_file.as_deref()),
        ),
        ("AWS_CONFIG_FILE", op(c.aws.config_file.as_deref())),
        ("AWS_EC2_METADATA_DISABLED", b(c.aws.ec2_metadata_disabled)),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            opt(c.aws.ec2_metadata_service_endpoint.as_deref()),
        ),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
            opt(c.aws.ec2_metadata_service_endpoint_mode.as_deref()),
        ),
        (
            "AWS_ENDPOINT_URL_ECS",
            opt(c.aws.endpoint_url_ecs.as_deref()),
        ),
        ("AWS_ENDPOINT_URL", opt(c.aws.endpoint_url.as_deref())),
        (
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            b(c.aws.ignore_configured_endpoint_urls),
        ),
        // K
        (
            "ZZZ_SKIP_DOMAIN_JOIN_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            b(c.gmsa.skip_domain_join_check),
        ),
        (
            "ZZZ_SKIP_DOMAIN_LESS_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            b(c.gmsa.skip_domain_less_check),
        ),
        (
            "ZZZ_SKIP_CREDENTIALS_FETCHER_INVOCATION_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            b(c.gmsa.skip_credentials_fetcher_invocation_check),
        ),
        // L
        (
            "ECS_LOG_OPTS",
            opt((!c.init.log_opts.is_empty()).then_some(REDACTED)),
        ),
        (
            "ECS_INIT_DOCKER_LOG_FILE_SIZE",
            c.init.docker_log_file_size.clone(),
        ),
        (
            "ECS_INIT_DOCKER_LOG_FILE_NUM",
            c.init.docker_log_file_num.clone(),
        ),
        ("ECS_AGENT_LABELS", map(&c.init.agent_labels)),
        (
            "ECS_AGENT_APPARMOR_PROFILE",
            c.init.agent_apparmor_profile.clone(),
        ),
        (
            "ECS_AGENT_PID_NAMESPACE_HOST",
            b(c.init.agent_pid_namespace_host),
        ),
        ("ECS_AGENT_RUN_PRIVILEGED", b(c.init.agent_run_privileged)),
        (
            "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER",
            b(c.init.skip_localhost_traffic_filter),
        ),
        (
            "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS",
            b(c.init.allow_offhost_introspection_access),
        ),
        (
            "ECS_AGENT_MANAGE_NETWORK_RULES",
            b(c.init.manage_network_rules),
        ),
        (
            "CREDENTIALS_FETCHER_HOST",
            opt(c.init.credentials_fetcher_host.as_deref()),
        ),
        (
            "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME",
            opt(c.init.offhost_introspection_interface_name.as_deref()),
        ),
        // M
        (
            "ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED",
            b(c.windows.fsx_windows_file_server_supported),
        ),
        (
            "ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND",
            b(c.windows.cpu_unbounded_workaround),
        ),
        (
            "ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND",
            b(c.windows.memory_unbounded_workaround),
        ),
        (
            "ZZZ_SKIP_WINDOWS_SERVER_VERSION_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            b(c.windows.skip_windows_server_version_check),
        ),
        // JSON config file only
        ("NoIID", b(c.no_iid)),
        (
            "PauseContainerTarballPath",
            p(&c.pause_container_tarball_path),
        ),
        (
            "PauseContainerImageName",
            c.pause_container_image_name.clone(),
        ),
        ("PauseContainerTag", c.pause_container_tag.clone()),
        ("CSIDriverSocketPath", p(&c.csi_driver_socket_path)),
        ("RuntimeStatsLogFile", p(&c.runtime_stats_log_file)),
        ("NodeStageTimeout", d(c.node_stage_timeout)),
        ("NodeUnstageTimeout", d(c.node_unstage_timeout)),
        (
            "ENIPauseContainerCleanupDelaySeconds",
            c.eni_pause_container_cleanup_delay.as_secs().to_string(),
        ),
        (
            "InstanceENIDNSServerList",
            list(&c.instance_eni_dns_server_list),
        ),
        (
            "OverrideAWSVPCLocalIPv4Address",
            opt(c.override_awsvpc_local_ipv4_address),
        ),
        ("IMDSIAMRolesEnabled", b(c.imds_iam_roles_enabled)),
    ];
    for (name, value) in &mut rows {
        if SECRET_SETTINGS.contains(name) && !value.is_empty() {
            *value = REDACTED.to_owned();
        }
    }
    rows
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
