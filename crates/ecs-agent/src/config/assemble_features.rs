//! Assembly of spec §1.7 groups E–M and the JSON-only settings of §1.4.

use std::path::PathBuf;
use std::time::Duration;

use super::Source;
use super::assemble::{SECOND, array_problem, env_parsed, env_path, env_string, lenient_map};
use super::error::ConfigError;
use super::model::{
    AwsSdkConfig, Cidr, Config, GmsaConfig, InitOnlyConfig, IpCompatibility, LoggingDriver,
    ProxyUrl, Secret, TaskCpuMemLimit, WindowsOnlyConfig,
};
use super::parse::{self, nanos_to_duration};
use super::resolve::{DURATION_HINT, Resolver};
use crate::logging::{LogFormat, LogLevel, LogSettings, RolloverType};

/// Capabilities and features (spec §1.7 E).
pub fn features(r: &mut Resolver<'_>, c: &mut Config) {
    c.available_logging_drivers = logging_drivers(r);
    c.privileged_disabled = r.tri_or("ECS_DISABLE_PRIVILEGED", "PrivilegedDisabled", false);
    c.selinux_capable = r.tri_or("ECS_SELINUX_CAPABLE", "SELinuxCapable", false);
    c.apparmor_capable = r.tri_or("ECS_APPARMOR_CAPABLE", "AppArmorCapable", false);
    c.task_iam_role_enabled = r.tri_or("ECS_ENABLE_TASK_IAM_ROLE", "TaskIAMRoleEnabled", false);
    c.task_iam_role_network_host = r.plain_bool(
        "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST",
        Some("TaskIAMRoleEnabledForNetworkHost"),
        false,
    );
    c.awslogs_execution_role_override = r.tri_or(
        "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE",
        "OverrideAWSLogsExecutionRole",
        false,
    );
    c.docker_health_check_disabled = r.tri_or(
        "ECS_DISABLE_DOCKER_HEALTH_CHECK",
        "DisableDockerHealthCheck",
        false,
    );
    c.container_metadata_enabled = r.tri_or(
        "ECS_ENABLE_CONTAINER_METADATA",
        "ContainerMetadataEnabled",
        false,
    );
    c.gpu_support_enabled =
        r.plain_bool("ECS_ENABLE_GPU_SUPPORT", Some("GPUSupportEnabled"), false);
    c.nvidia_runtime = r
        .string("ECS_NVIDIA_RUNTIME", Some("NvidiaRuntime"), true)
        .unwrap_or_else(|| "nvidia".to_owned());
    c.inferentia_support_enabled = r.plain_bool(
        "ECS_ENABLE_INF_SUPPORT",
        Some("InferentiaSupportEnabled"),
        false,
    );
    c.ebs_task_attach_supported =
        r.plain_bool("ECS_EBSTA_SUPPORTED", Some("EBSTASupportEnabled"), true);
    c.volume_plugin_capabilities = string_list(
        r,
        "ECS_VOLUME_PLUGIN_CAPABILITIES",
        "VolumePluginCapabilities",
    )
    .unwrap_or_default();
    c.firelens_async_enabled = r.tri_or("ECS_ENABLE_FIRELENS_ASYNC", "FirelensAsyncEnabled", true);
    c.gmsa = gmsa(r);
}

/// Malformed ⇒ warn, default; unknown names are fatal (validation step 4).
fn logging_drivers(r: &mut Resolver<'_>) -> Vec<LoggingDriver> {
    let names = string_list(
        r,
        "ECS_AVAILABLE_LOGGING_DRIVERS",
        "AvailableLoggingDrivers",
    )
    .unwrap_or_else(|| vec!["json-file".to_owned(), "none".to_owned()]);
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| LoggingDriver::parse(n).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        r.fatal(ConfigError::UnknownLoggingDrivers { drivers: unknown });
    }
    names
        .iter()
        .filter_map(|n| LoggingDriver::parse(n))
        .collect()
}

/// A stream-decoded JSON array of strings; `[]` is "zero".
fn string_list(r: &mut Resolver<'_>, name: &'static str, key: &'static str) -> Option<Vec<String>> {
    let from_json = r.json_strings(key);
    let from_env =
        r.env_nonempty(name)
            .and_then(|(v, source)| match parse::parse_string_array(&v) {
                Ok(items) if items.is_empty() => None,
                Ok(items) => Some((items, source)),
                Err(err) => {
                    r.warn(name, v.clone(), array_problem(&err, "strings"));
                    None
                }
            });
    r.pick(name, from_env, from_json)
}

fn gmsa(r: &mut Resolver<'_>) -> GmsaConfig {
    // The reference's parsers for these never return "zero": the JSON keys never apply.
    r.json_tri("GMSACapable");
    r.json_tri("GMSADomainlessCapable");
    GmsaConfig {
        supported: r.plain_bool("ECS_GMSA_SUPPORTED", None, false),
        credentials_fetcher_host_dir: env_path(r, "CREDENTIALS_FETCHER_HOST_DIR"),
        domainless_secret_name: env_string(
            r,
            "CREDENTIALS_FETCHER_SECRET_NAME_FOR_DOMAINLESS_GMSA",
        ),
        domain_joined_linux_instance: r.plain_bool("ECS_DOMAIN_JOINED_LINUX_INSTANCE", None, false),
        skip_domain_join_check: r.plain_bool(
            "ZZZ_SKIP_DOMAIN_JOIN_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            None,
            false,
        ),
        skip_domain_less_check: r.plain_bool(
            "ZZZ_SKIP_DOMAIN_LESS_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            None,
            false,
        ),
        skip_credentials_fetcher_invocation_check: r.plain_bool(
            "ZZZ_SKIP_CREDENTIALS_FETCHER_INVOCATION_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            None,
            false,
        ),
    }
}

const MAX_PIDS_LIMIT: i64 = 4_194_304;

/// cgroups and limits (spec §1.7 F).
pub fn cgroups(r: &mut Resolver<'_>, c: &mut Config) {
    c.task_cpu_mem_limit = match r.tri("ECS_ENABLE_TASK_CPU_MEM_LIMIT", Some("TaskCPUMemLimit")) {
        None => TaskCpuMemLimit::Implicit,
        Some(true) => TaskCpuMemLimit::Explicit,
        Some(false) => TaskCpuMemLimit::Disabled,
    };

    const DEFAULT_PERIOD: i64 = 100_000_000;
    // Never "zero" in the reference, so the JSON key never applies.
    r.json_nanos("CgroupCPUPeriod");
    let cgroup_cpu_period =
        env_parsed(
            r,
            "ECS_CGROUP_CPU_PERIOD",
            |v| match parse::parse_go_duration(v) {
                Some(n) if (8_000_000..=DEFAULT_PERIOD).contains(&n) => Ok(n),
                Some(_) => Err("outside the allowed range 8ms..=100ms".to_owned()),
                None => Err(DURATION_HINT.to_owned()),
            },
        )
        .unwrap_or(DEFAULT_PERIOD);

    let pids_json = r.json_int("TaskPidsLimit", i64::MIN, i64::MAX);
    let pids_env = r
        .env_nonempty("ECS_TASK_PIDS_LIMIT")
        .and_then(|(v, source)| match v.trim().parse::<i64>() {
            Ok(0) => None,
            Ok(n) => Some((n, source, v)),
            Err(_) => {
                r.warn(
                    "ECS_TASK_PIDS_LIMIT",
                    v.clone(),
                    "expected an integer in 1..=4194304",
                );
                None
            }
        });
    let pids =
        pids_env.or_else(|| pids_json.map(|(n, s)| (n, s, format!("{n} (JSON TaskPidsLimit)"))));
    c.task_pids_limit = pids.and_then(|(n, source, text)| {
        if (1..=MAX_PIDS_LIMIT).contains(&n) {
            r.set_source("ECS_TASK_PIDS_LIMIT", source);
            u32::try_from(n).ok()
        } else {
            r.warn(
                "ECS_TASK_PIDS_LIMIT",
                text,
                "outside the allowed range 1..=4194304",
            );
            None
        }
    });

    c.cgroup_path = PathBuf::from(
        r.string("ECS_CGROUP_PATH", Some("CgroupPath"), false)
            .unwrap_or_else(|| "/sys/fs/cgroup".to_owned()),
    );
    c.cgroup_cpu_period = nanos_to_duration(cgroup_cpu_period);
    c.propagate_task_memory_limit_cgroupv2 = r.tri_or(
        "ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2",
        "PropagateTaskMemoryLimitCgroupV2",
        false,
    );
}

/// Networking (spec §1.7 G).
pub fn networking(r: &mut Resolver<'_>, c: &mut Config) {
    c.task_eni_enabled = r.tri_or("ECS_ENABLE_TASK_ENI", "TaskENIEnabled", false);
    // Read only when task ENI is enabled (validation step 11).
    let high_density = r.tri_or("ECS_ENABLE_HIGH_DENSITY_ENI", "ENITrunkingEnabled", true);
    c.eni_trunking_enabled = c.task_eni_enabled && high_density;

    let routes_json = r.json_strings("AWSVPCAdditionalLocalRoutes");
    let routes_env = r
        .env_nonempty("ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES")
        .and_then(
            |(v, source)| match serde_json::from_str::<Vec<String>>(&v) {
                Ok(items) if items.is_empty() => None,
                Ok(items) => Some((items, source)),
                Err(err) => {
                    r.fatal(ConfigError::InvalidValue {
                        variable: "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES",
                        message: format!("expected a JSON array of CIDR strings: {err}"),
                    });
                    None
                }
            },
        );
    let routes = r
        .pick(
            "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES",
            routes_env,
            routes_json,
        )
        .unwrap_or_default();
    c.awsvpc_additional_local_routes = routes
        .into_iter()
        .filter_map(|route| {
            let cidr = Cidr::parse(&route);
            if cidr.is_none() {
                r.fatal(ConfigError::InvalidValue {
                    variable: "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES",
                    message: format!("{route:?} is not a CIDR block such as 10.0.0.0/16"),
                });
            }
            cidr
        })
        .collect();

    c.instance_ip_compatibility = env_parsed(r, "ECS_INSTANCE_IP_COMPATIBILITY", |v| {
        match v.trim().to_ascii_lowercase().as_str() {
            "ipv4" => Ok(IpCompatibility::Ipv4),
            "ipv6" => Ok(IpCompatibility::Ipv6),
            _ => Err("expected ipv4 or ipv6; detecting from the default routes".to_owned()),
        }
    });

    c.cni_plugins_path = PathBuf::from(
        r.string("ECS_CNI_PLUGINS_PATH", Some("CNIPluginsPath"), false)
            .unwrap_or_else(|| "/amazon-ecs-cni-plugins".to_owned()),
    );
    c.awsvpc_block_imds = r.tri_or("ECS_AWSVPC_BLOCK_IMDS", "AWSVPCBlockInstanceMetdata", false);
    c.exclude_ipv6_port_binding = r.tri(
        "ECS_EXCLUDE_IPV6_PORTBINDING",
        Some("ShouldExcludeIPv6PortBinding"),
    );
    c.http_proxy = upper_then_lower(r, "HTTP_PROXY", "http_proxy").map(ProxyUrl::new);
    c.https_proxy = upper_then_lower(r, "HTTPS_PROXY", "https_proxy").map(ProxyUrl::new);
    c.no_proxy = upper_then_lower(r, "NO_PROXY", "no_proxy");
}

/// Proxy variables: the upper-case name is checked first. The setting is listed under
/// the upper-case name.
fn upper_then_lower(
    r: &mut Resolver<'_>,
    upper: &'static str,
    lower: &'static str,
) -> Option<String> {
    let found = r.env_nonempty(upper).or_else(|| r.env_nonempty(lower));
    let (value, source) = found?;
    r.set_source(upper, source);
    Some(value)
}

/// The polling wait as given, before validation step 10 clamps it (see
/// [`super::validate::clamp_polling_wait`]).
pub struct PollingWait {
    pub nanos: i64,
    pub source: Option<Source>,
}

pub const DEFAULT_RPS: (u32, u32) = (40, 60);

/// Metrics and local endpoints (spec §1.7 H).
pub fn metrics(r: &mut Resolver<'_>, c: &mut Config) -> PollingWait {
    c.metrics_disabled = r.tri_or("ECS_DISABLE_METRICS", "DisableMetrics", false);
    c.poll_metrics = r.tri_or("ECS_POLL_METRICS", "PollMetrics", false);
    let polling = r.duration(
        "ECS_POLLING_METRICS_WAIT_DURATION",
        Some("PollingMetricsWaitDuration"),
    );
    let polling_wait_nanos = polling.map_or(10 * SECOND, |(n, _)| n);
    c.polling_metrics_wait = nanos_to_duration(polling_wait_nanos);

    (
        c.task_metadata_steady_state_rate,
        c.task_metadata_burst_rate,
    ) = rps_limit(r);
    c.task_metadata_az_disabled = r.plain_bool(
        "ECS_DISABLE_TASK_METADATA_AZ",
        Some("TaskMetadataAZDisabled"),
        false,
    );
    c.runtime_stats_enabled = r.tri_or("ECS_ENABLE_RUNTIME_STATS", "EnableRuntimeStats", false);
    c.agent_healthcheck_host =
        env_string(r, "ECS_AGENT_HEALTHCHECK_HOST").unwrap_or_else(|| "localhost".to_owned());
    PollingWait {
        nanos: polling_wait_nanos,
        source: polling.map(|(_, s)| s),
    }
}

/// `ECS_TASK_METADATA_RPS_LIMIT` = `steady,burst`; wrong shape ⇒ warn, default; any value
/// ≤ 0 ⇒ warn, both default (validation step 9).
fn rps_limit(r: &mut Resolver<'_>) -> (u32, u32) {
    const NAME: &str = "ECS_TASK_METADATA_RPS_LIMIT";
    let steady_json = r.json_int("TaskMetadataSteadyStateRate", i64::MIN, i64::MAX);
    let burst_json = r.json_int("TaskMetadataBurstRate", i64::MIN, i64::MAX);
    if let Some((v, source)) = r.env_nonempty(NAME) {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        let parsed = match parts.as_slice() {
            [steady, burst] => steady.parse::<i64>().ok().zip(burst.parse::<i64>().ok()),
            _ => None,
        };
        match parsed {
            Some((steady, burst)) => {
                if let (Ok(s @ 1..), Ok(b @ 1..)) = (u32::try_from(steady), u32::try_from(burst)) {
                    r.set_source(NAME, source);
                    return (s, b);
                }
                r.warn(NAME, v, "both rates must be greater than 0");
                return DEFAULT_RPS;
            }
            None => r.warn(NAME, v, "expected steady,burst as two integers, e.g. 40,60"),
        }
    }
    let steady = steady_json.map_or(i64::from(DEFAULT_RPS.0), |(n, _)| n);
    let burst = burst_json.map_or(i64::from(DEFAULT_RPS.1), |(n, _)| n);
    match (u32::try_from(steady), u32::try_from(burst)) {
        (Ok(s @ 1..), Ok(b @ 1..)) => {
            if let Some((_, source)) = steady_json.or(burst_json) {
                r.set_source(NAME, source);
            }
            (s, b)
        }
        _ => {
            r.warn(
                NAME,
                format!(
                    "{steady},{burst} (JSON TaskMetadataSteadyStateRate,TaskMetadataBurstRate)"
                ),
                "both rates must be greater than 0",
            );
            DEFAULT_RPS
        }
    }
}

/// Logging (spec §1.7 I, §5.1, §5.3, §5.6; quirks §8 #3 and #4).
pub fn logging(r: &mut Resolver<'_>, log_driver: Option<&str>) -> LogSettings {
    let logfile = r.env_raw("ECS_LOGFILE").and_then(|(v, source)| {
        r.set_source("ECS_LOGFILE", source);
        (!v.is_empty()).then(|| PathBuf::from(v))
    });
    let level = level_var(r, "ECS_LOGLEVEL").unwrap_or(LogLevel::Info);
    let level_on_instance = level_var(r, "ECS_LOGLEVEL_ON_INSTANCE").unwrap_or_else(|| {
        if log_driver.is_some() {
            LogLevel::Off
        } else {
            level
        }
    });
    let rollover = match r.env_nonempty("ECS_LOG_ROLLOVER_TYPE") {
        None => RolloverType::Size,
        Some((v, source)) => {
            r.set_source("ECS_LOG_ROLLOVER_TYPE", source);
            match v.as_str() {
                "size" => RolloverType::Size,
                "hourly" => RolloverType::Hourly,
                "none" => RolloverType::None,
                _ => {
                    r.warn(
                        "ECS_LOG_ROLLOVER_TYPE",
                        v.clone(),
                        "expected size or hourly; like the reference, any other value rotates hourly",
                    );
                    RolloverType::Hourly
                }
            }
        }
    };
    let format = env_parsed(r, "ECS_LOG_OUTPUT_FORMAT", |v| match v {
        "logfmt" => Ok(LogFormat::Logfmt),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected logfmt or json".to_owned()),
    })
    .unwrap_or(LogFormat::Logfmt);
    let max_file_size_mb = env_parsed(r, "ECS_LOG_MAX_FILE_SIZE_MB", |v| {
        v.parse::<f64>()
            .ok()
            .filter(|mb| mb.is_finite() && *mb > 0.0)
            .ok_or_else(|| "expected a positive number of megabytes".to_owned())
    })
    .unwrap_or(5.0);
    let max_roll_count = env_parsed(r, "ECS_LOG_MAX_ROLL_COUNT", |v| {
        v.parse::<i64>()
            .map_err(|_| "expected an integer".to_owned())
    })
    .unwrap_or(24);
    // A native agent writes its audit log where ecs-init mounts /log.
    let audit_file = r
        .string("ECS_AUDIT_LOGFILE", Some("CredentialsAuditLogFile"), false)
        .unwrap_or_else(|| "/var/log/ecs/audit.log".to_owned());
    let audit_disabled = r.plain_bool(
        "ECS_AUDIT_LOGFILE_DISABLED",
        Some("CredentialsAuditLogDisabled"),
        false,
    );
    LogSettings {
        logfile,
        level,
        level_on_instance,
        rollover,
        max_file_size_mb,
        max_roll_count,
        format,
        audit_logfile: (!audit_disabled).then(|| PathBuf::from(audit_file)),
    }
}

fn level_var(r: &mut Resolver<'_>, name: &'static str) -> Option<LogLevel> {
    env_parsed(r, name, |v| {
        LogLevel::parse(v)
            .ok_or_else(|| "expected debug, info, warn, error, crit or none".to_owned())
    })
}

/// Credentials and AWS SDK switches (spec §1.7 J; backend-protocol §1.3).
pub fn aws_sdk(r: &mut Resolver<'_>) -> AwsSdkConfig {
    let true_ci = |r: &mut Resolver<'_>, name: &'static str| {
        let found = r.env_nonempty(name);
        let on = found
            .as_ref()
            .is_some_and(|(v, _)| v.trim().eq_ignore_ascii_case("true"));
        if let Some((_, source)) = found {
            r.set_source(name, source);
        }
        on
    };
    AwsSdkConfig {
        alternate_credential_profile: env_string(r, "ECS_ALTERNATE_CREDENTIAL_PROFILE")
            .unwrap_or_else(|| "default".to_owned()),
        access_key_id: env_string(r, "AWS_ACCESS_KEY_ID"),
        secret_access_key: env_string(r, "AWS_SECRET_ACCESS_KEY").map(Secret::new),
        session_token: env_string(r, "AWS_SESSION_TOKEN").map(Secret::new),
        profile: env_string(r, "AWS_PROFILE"),
        shared_credentials_file: env_path(r, "AWS_SHARED_CREDENTIALS_FILE"),
        config_file: env_path(r, "AWS_CONFIG_FILE"),
        ec2_metadata_disabled: true_ci(r, "AWS_EC2_METADATA_DISABLED"),
        ec2_metadata_service_endpoint: env_string(r, "AWS_EC2_METADATA_SERVICE_ENDPOINT"),
        ec2_metadata_service_endpoint_mode: env_string(r, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"),
        endpoint_url_ecs: env_string(r, "AWS_ENDPOINT_URL_ECS"),
        endpoint_url: env_string(r, "AWS_ENDPOINT_URL"),
        ignore_configured_endpoint_urls: true_ci(r, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"),
    }
}

/// ecs-init-only variables (spec §1.7 L).
pub fn init_only(r: &mut Resolver<'_>) -> InitOnlyConfig {
    InitOnlyConfig {
        log_driver: env_string(r, "ECS_LOG_DRIVER"),
        log_opts: lenient_map(r, "ECS_LOG_OPTS")
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        docker_log_file_size: env_string(r, "ECS_INIT_DOCKER_LOG_FILE_SIZE")
            .unwrap_or_else(|| "16m".to_owned()),
        docker_log_file_num: env_string(r, "ECS_INIT_DOCKER_LOG_FILE_NUM")
            .unwrap_or_else(|| "4".to_owned()),
        agent_labels: lenient_map(r, "ECS_AGENT_LABELS"),
        agent_apparmor_profile: env_string(r, "ECS_AGENT_APPARMOR_PROFILE")
            .unwrap_or_else(|| "ecs-agent-default".to_owned()),
        agent_pid_namespace_host: r.plain_bool("ECS_AGENT_PID_NAMESPACE_HOST", None, false),
        agent_run_privileged: env_string(r, "ECS_AGENT_RUN_PRIVILEGED")
            .is_some_and(|v| v == "true"),
        skip_localhost_traffic_filter: r.plain_bool(
            "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER",
            None,
            false,
        ),
        allow_offhost_introspection_access: r.plain_bool(
            "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS",
            None,
            false,
        ),
        // Our own variable (see `InitOnlyConfig::manage_network_rules`).
        manage_network_rules: r.plain_bool("ECS_AGENT_MANAGE_NETWORK_RULES", None, true),
        credentials_fetcher_host: env_string(r, "CREDENTIALS_FETCHER_HOST"),
        offhost_introspection_interface_name: env_string(
            r,
            "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME",
        ),
    }
}

/// Windows-only variables (spec §1.7 M): read so they are listed, no effect on Linux.
pub fn windows_only(r: &mut Resolver<'_>) -> WindowsOnlyConfig {
    r.json_tri("FSxWindowsFileServerCapable");
    WindowsOnlyConfig {
        fsx_windows_file_server_supported: r.plain_bool(
            "ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED",
            None,
            false,
        ),
        cpu_unbounded_workaround: r.plain_bool(
            "ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND",
            None,
            false,
        ),
        memory_unbounded_workaround: r.plain_bool(
            "ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND",
            None,
            false,
        ),
        skip_windows_server_version_check: r.plain_bool(
            "ZZZ_SKIP_WINDOWS_SERVER_VERSION_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            None,
            false,
        ),
    }
}

/// Settings only the JSON config file (or user data) can set (spec §1.4).
pub fn json_only(r: &mut Resolver<'_>, c: &mut Config) {
    // A JSON-only setting is listed under its key, with the layer that gave it.
    let text = |r: &mut Resolver<'_>, key: &'static str, default: &str| {
        let found = r.json_string(key);
        r.pick(key, None, found)
            .unwrap_or_else(|| default.to_owned())
    };
    let flag = |r: &mut Resolver<'_>, key: &'static str| {
        let found = r.json_plain_bool(key);
        r.pick(key, None, found).unwrap_or(false)
    };
    c.override_awsvpc_local_ipv4_address = r
        .json_string("OverrideAWSVPCLocalIPv4Address")
        .and_then(|(v, source)| match Cidr::parse(&v) {
            Some(cidr) if cidr.addr.is_ipv4() => {
                r.set_source("OverrideAWSVPCLocalIPv4Address", source);
                Some(cidr)
            }
            _ => {
                r.fatal(ConfigError::InvalidValue {
                    variable: "OverrideAWSVPCLocalIPv4Address",
                    message: format!("{v:?} is not an IPv4 CIDR such as 169.254.172.42/22"),
                });
                None
            }
        });
    c.eni_pause_container_cleanup_delay =
        match r.json_int("ENIPauseContainerCleanupDelaySeconds", i64::MIN, i64::MAX) {
            Some((n, source)) if n > 0 => {
                r.set_source("ENIPauseContainerCleanupDelaySeconds", source);
                Duration::from_secs(n.unsigned_abs())
            }
            _ => Duration::ZERO,
        };
    let dns = r.json_strings("InstanceENIDNSServerList");
    c.instance_eni_dns_server_list = r
        .pick("InstanceENIDNSServerList", None, dns)
        .unwrap_or_default();
    c.no_iid = flag(r, "NoIID");
    c.pause_container_tarball_path = PathBuf::from(text(
        r,
        "PauseContainerTarballPath",
        "/images/amazon-ecs-pause.tar",
    ));
    c.pause_container_image_name = text(r, "PauseContainerImageName", "amazon/amazon-ecs-pause");
    c.pause_container_tag = text(r, "PauseContainerTag", "0.1.0");
    c.csi_driver_socket_path = PathBuf::from(text(
        r,
        "CSIDriverSocketPath",
        "/var/run/ecs/ebs-csi-driver/csi-driver.sock",
    ));
    c.runtime_stats_log_file = PathBuf::from(text(
        r,
        "RuntimeStatsLogFile",
        "/var/log/ecs/agent-runtime-stats.log",
    ));
    c.node_stage_timeout = json_duration(r, "NodeStageTimeout", 2 * SECOND);
    c.node_unstage_timeout = json_duration(r, "NodeUnstageTimeout", 30 * SECOND);
    c.imds_iam_roles_enabled = flag(r, "IMDSIAMRolesEnabled");
}

fn json_duration(r: &mut Resolver<'_>, key: &'static str, default: i64) -> Duration {
    match r.json_nanos(key) {
        Some((n, source)) if n > 0 => {
            r.set_source(key, source);
            nanos_to_duration(n)
        }
        Some((n, _)) => {
            r.warn(key, format!("{n} (ns)"), "must be positive");
            nanos_to_duration(default)
        }
        None => nanos_to_duration(default),
    }
}
