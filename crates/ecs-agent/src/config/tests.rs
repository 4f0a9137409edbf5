//! Table-driven tests over every variable, precedence across real files, and printing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

fn host() -> HostFacts {
    HostFacts {
        detailed_os_family: "debian_12".to_owned(),
        ssl_cert_dir_exists: false,
        ebs_mount_dir_exists: true,
        ip_local_port_range: Some(PortRange {
            start: 32768,
            end: 60999,
        }),
    }
}

/// A JSON path that does not exist, so the machine's own files never leak into tests.
const NO_JSON: &str = "/nonexistent/ecs-agent-config-test/config.json";

fn input(env: &[(&str, &str)]) -> ConfigInput {
    let mut map: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.entry("ECS_AGENT_CONFIG_FILE_PATH".to_owned())
        .or_insert_with(|| NO_JSON.to_owned());
    ConfigInput {
        env: map,
        ecs_config_files: Vec::new(),
        json_file: None,
    }
}

fn load_env(env: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
    load_with(&input(env), &host(), None)
}

fn value<'a>(loaded: &'a LoadedConfig, name: &str) -> &'a str {
    &loaded
        .setting(name)
        .unwrap_or_else(|| panic!("no setting {name}"))
        .value
}

fn source(loaded: &LoadedConfig, name: &str) -> Source {
    loaded.setting(name).unwrap().source
}

fn warned(loaded: &LoadedConfig, name: &str) -> bool {
    loaded.warnings.iter().any(|w| w.variable == name)
}

#[test]
fn defaults_of_every_setting() {
    let loaded = load_env(&[]).unwrap();
    let want: &[(&str, &str)] = &[
        ("ECS_CLUSTER", ""),
        ("AWS_DEFAULT_REGION", ""),
        ("ECS_BACKEND_HOST", ""),
        ("DOCKER_HOST", "unix:///var/run/docker.sock"),
        ("ECS_EXTERNAL", "false"),
        ("ECS_AGENT_CONFIG_FILE_PATH", NO_JSON),
        ("ECS_DATADIR", "/var/lib/ecs/data"),
        ("ECS_CHECKPOINT", "true"),
        ("ECS_HOST_DATA_DIR", "/var/lib/ecs"),
        ("ECS_UPDATES_ENABLED", "false"),
        ("ECS_UPDATE_DOWNLOAD_DIR", "/var/cache/ecs"),
        ("ECS_DETAILED_OS_FAMILY", "debian_12"),
        ("SSL_CERT_DIR", ""),
        ("ECS_RESERVED_PORTS", "[22,2375,2376,51678,51679]"),
        ("ECS_RESERVED_PORTS_UDP", "[]"),
        ("ECS_RESERVED_MEMORY", "0"),
        ("ECS_INSTANCE_ATTRIBUTES", ""),
        ("ECS_CONTAINER_INSTANCE_TAGS", ""),
        ("ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "none"),
        ("ECS_ENABLE_PROMETHEUS_METRICS", "false"),
        ("ECS_DYNAMIC_HOST_PORT_RANGE", "32768-60999"),
        ("ECS_WARM_POOLS_CHECK", "false"),
        ("ECS_ENABLE_SPOT_INSTANCE_DRAINING", "false"),
        ("ECS_CONTAINER_STOP_TIMEOUT", "30s"),
        ("ECS_CONTAINER_START_TIMEOUT", "3m"),
        ("ECS_CONTAINER_CREATE_TIMEOUT", "4m"),
        ("ECS_MANIFEST_PULL_TIMEOUT", "1m"),
        ("ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "1m"),
        ("ECS_IMAGE_PULL_TIMEOUT", "2h"),
        ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3h"),
        ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER", "0s"),
        ("ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", "false"),
        ("ECS_IMAGE_PULL_BEHAVIOR", "default"),
        ("ECS_ENGINE_AUTH_TYPE", ""),
        ("ECS_ENGINE_AUTH_DATA", ""),
        ("ECS_SHARED_VOLUME_MATCH_FULL_CONFIG", "false"),
        ("ECS_PAUSE_LABELS", ""),
        ("ECS_DISABLE_IMAGE_CLEANUP", "false"),
        ("ECS_IMAGE_CLEANUP_INTERVAL", "30m"),
        ("ECS_IMAGE_MINIMUM_CLEANUP_AGE", "1h"),
        ("NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "1h"),
        ("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "5"),
        ("NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "5"),
        ("ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP", "false"),
        ("ECS_EXCLUDE_UNTRACKED_IMAGE", ""),
        (
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            r#"["json-file","syslog","awslogs","fluentd","none"]"#,
        ),
        ("ECS_DISABLE_PRIVILEGED", "false"),
        ("ECS_SELINUX_CAPABLE", "false"),
        ("ECS_APPARMOR_CAPABLE", "false"),
        ("ECS_ENABLE_TASK_IAM_ROLE", "true"),
        ("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "true"),
        ("ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "true"),
        ("ECS_DISABLE_DOCKER_HEALTH_CHECK", "false"),
        ("ECS_ENABLE_CONTAINER_METADATA", "false"),
        ("ECS_ENABLE_GPU_SUPPORT", "false"),
        ("ECS_NVIDIA_RUNTIME", "nvidia"),
        ("ECS_ENABLE_INF_SUPPORT", "false"),
        ("ECS_EBSTA_SUPPORTED", "true"),
        ("ECS_VOLUME_PLUGIN_CAPABILITIES", r#"["efsAuth"]"#),
        ("ECS_ENABLE_FIRELENS_ASYNC", "true"),
        ("ECS_GMSA_SUPPORTED", "false"),
        (
            "CREDENTIALS_FETCHER_HOST_DIR",
            "/var/credentials-fetcher/socket/credentials_fetcher.sock",
        ),
        ("CREDENTIALS_FETCHER_SECRET_NAME_FOR_DOMAINLESS_GMSA", ""),
        ("ECS_DOMAIN_JOINED_LINUX_INSTANCE", "false"),
        ("ECS_ENABLE_TASK_CPU_MEM_LIMIT", "true (implicit)"),
        ("ECS_CGROUP_PATH", "/sys/fs/cgroup"),
        ("ECS_CGROUP_CPU_PERIOD", "100ms"),
        ("ECS_TASK_PIDS_LIMIT", "0"),
        ("ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2", "false"),
        ("ECS_ENABLE_TASK_ENI", "true"),
        ("ECS_ENABLE_HIGH_DENSITY_ENI", "true"),
        ("ECS_CNI_PLUGINS_PATH", "/amazon-ecs-cni-plugins"),
        ("ECS_AWSVPC_BLOCK_IMDS", "false"),
        ("ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", "[]"),
        ("ECS_INSTANCE_IP_COMPATIBILITY", "auto"),
        (
            "ECS_EXCLUDE_IPV6_PORTBINDING",
            "true (false on IPv6-only hosts)",
        ),
        ("HTTP_PROXY", ""),
        ("HTTPS_PROXY", ""),
        ("NO_PROXY", ""),
        ("ECS_DISABLE_METRICS", "false"),
        ("ECS_POLL_METRICS", "false"),
        ("ECS_POLLING_METRICS_WAIT_DURATION", "10s"),
        ("ECS_TASK_METADATA_RPS_LIMIT", "40,60"),
        ("ECS_DISABLE_TASK_METADATA_AZ", "false"),
        ("ECS_AUDIT_LOGFILE", "/var/log/ecs/audit.log"),
        ("ECS_AUDIT_LOGFILE_DISABLED", "false"),
        ("ECS_ENABLE_RUNTIME_STATS", "false"),
        ("ECS_AGENT_HEALTHCHECK_HOST", "localhost"),
        ("ECS_LOGFILE", "/var/log/ecs/ecs-agent.log"),
        ("ECS_LOGLEVEL", "info"),
        ("ECS_LOGLEVEL_ON_INSTANCE", "info"),
        ("ECS_LOG_ROLLOVER_TYPE", "size"),
        ("ECS_LOG_OUTPUT_FORMAT", "logfmt"),
        ("ECS_LOG_MAX_FILE_SIZE_MB", "5"),
        ("ECS_LOG_MAX_ROLL_COUNT", "24"),
        ("ECS_LOG_DRIVER", ""),
        ("ECS_ALTERNATE_CREDENTIAL_PROFILE", "default"),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_SESSION_TOKEN", ""),
        ("AWS_PROFILE", ""),
        ("AWS_SHARED_CREDENTIALS_FILE", ""),
        ("AWS_CONFIG_FILE", ""),
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", ""),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", ""),
        ("AWS_ENDPOINT_URL_ECS", ""),
        ("AWS_ENDPOINT_URL", ""),
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false"),
        (
            "ZZZ_SKIP_DOMAIN_JOIN_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            "false",
        ),
        (
            "ZZZ_SKIP_DOMAIN_LESS_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            "false",
        ),
        (
            "ZZZ_SKIP_CREDENTIALS_FETCHER_INVOCATION_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            "false",
        ),
        ("ECS_LOG_OPTS", ""),
        ("ECS_INIT_DOCKER_LOG_FILE_SIZE", "16m"),
        ("ECS_INIT_DOCKER_LOG_FILE_NUM", "4"),
        ("ECS_AGENT_LABELS", ""),
        ("ECS_AGENT_APPARMOR_PROFILE", "ecs-agent-default"),
        ("ECS_AGENT_PID_NAMESPACE_HOST", "false"),
        ("ECS_AGENT_RUN_PRIVILEGED", "false"),
        ("ECS_SKIP_LOCALHOST_TRAFFIC_FILTER", "false"),
        ("ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS", "false"),
        ("ECS_AGENT_MANAGE_NETWORK_RULES", "true"),
        ("CREDENTIALS_FETCHER_HOST", ""),
        ("ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME", ""),
        ("ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED", "false"),
        ("ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND", "false"),
        ("ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND", "false"),
        (
            "ZZZ_SKIP_WINDOWS_SERVER_VERSION_CHECK_NOT_SUPPORTED_IN_PRODUCTION",
            "false",
        ),
        ("NoIID", "false"),
        ("PauseContainerTarballPath", "/images/amazon-ecs-pause.tar"),
        ("PauseContainerImageName", "amazon/amazon-ecs-pause"),
        ("PauseContainerTag", "0.1.0"),
        (
            "CSIDriverSocketPath",
            "/var/run/ecs/ebs-csi-driver/csi-driver.sock",
        ),
        (
            "RuntimeStatsLogFile",
            "/var/log/ecs/agent-runtime-stats.log",
        ),
        ("NodeStageTimeout", "2s"),
        ("NodeUnstageTimeout", "30s"),
        ("ENIPauseContainerCleanupDelaySeconds", "0"),
        ("InstanceENIDNSServerList", "[]"),
        ("OverrideAWSVPCLocalIPv4Address", ""),
        ("IMDSIAMRolesEnabled", "false"),
    ];
    let got: Vec<(&str, &str)> = loaded
        .settings
        .iter()
        .map(|s| (s.name, s.value.as_str()))
        .collect();
    assert_eq!(got, want, "print order and defaults");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    assert_eq!(c.cluster_name(), "default");
    assert!(matches!(c.region(), Err(ConfigError::MissingRegion)));
    assert_eq!(c.log.level_on_instance, crate::logging::LogLevel::Info);
    assert!(c.eni_trunking_enabled);
    assert_eq!(c.task_pids_limit, None);
}

/// `(environment, setting checked, expected value, warning expected, expected source)`.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
    bool,
    Option<Source>,
);

const E: Option<Source> = Some(Source::Env);
const D: Option<Source> = Some(Source::Default);
const ANY: Option<Source> = None;

#[rustfmt::skip]
const CASES: &[Case] = &[
    // A. identity, endpoints, files
    (&[("ECS_CLUSTER", " prod ")], "ECS_CLUSTER", "prod", false, E),
    (&[("AWS_DEFAULT_REGION", " us-west-2 ")], "AWS_DEFAULT_REGION", "us-west-2", false, E),
    (&[("ECS_BACKEND_HOST", "ecs.local:8080")], "ECS_BACKEND_HOST", "https://ecs.local:8080", false, E),
    (&[("ECS_BACKEND_HOST", " http://127.0.0.1:51680 ")], "ECS_BACKEND_HOST", "http://127.0.0.1:51680", false, E),
    (&[("DOCKER_HOST", "unix:///run/docker.sock")], "DOCKER_HOST", "unix:///run/docker.sock", false, E),
    (&[("ECS_EXTERNAL", "true"), ("AWS_DEFAULT_REGION", "eu-west-1")], "ECS_EXTERNAL", "true", false, E),
    (&[("ECS_EXTERNAL", "yes")], "ECS_EXTERNAL", "false", true, D),
    (&[("ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/x.json")], "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/x.json", false, E),
    (&[("ECS_DATADIR", "/srv/ecs")], "ECS_DATADIR", "/srv/ecs", false, E),
    (&[("ECS_DATADIR", "/srv/ecs")], "ECS_CHECKPOINT", "true", false, E),
    (&[("ECS_DATADIR", "")], "ECS_CHECKPOINT", "false", false, D),
    (&[("ECS_CHECKPOINT", "false")], "ECS_CHECKPOINT", "false", false, E),
    (&[("ECS_CHECKPOINT", "maybe")], "ECS_CHECKPOINT", "true", true, D),
    (&[("ECS_HOST_DATA_DIR", "/srv/host")], "ECS_HOST_DATA_DIR", "/srv/host", false, E),
    (&[("ECS_UPDATES_ENABLED", "true")], "ECS_UPDATES_ENABLED", "true", false, E),
    (&[("ECS_UPDATES_ENABLED", "2")], "ECS_UPDATES_ENABLED", "false", true, D),
    (&[("ECS_UPDATE_DOWNLOAD_DIR", "/srv/dl")], "ECS_UPDATE_DOWNLOAD_DIR", "/srv/dl", false, E),
    (&[("ECS_UPDATE_DOWNLOAD_DIR", "")], "ECS_UPDATE_DOWNLOAD_DIR", "", false, D),
    (&[("ECS_DETAILED_OS_FAMILY", "amzn_2023")], "ECS_DETAILED_OS_FAMILY", "amzn_2023", false, E),
    (&[("ECS_DETAILED_OS_FAMILY", "")], "ECS_DETAILED_OS_FAMILY", "", false, E),
    (&[("SSL_CERT_DIR", "/etc/ssl/certs")], "SSL_CERT_DIR", "/etc/ssl/certs", false, E),
    // B. registration and resources
    (&[("ECS_RESERVED_PORTS", "[22,80]")], "ECS_RESERVED_PORTS", "[22,80]", false, E),
    (&[("ECS_RESERVED_PORTS", "[1,2] junk")], "ECS_RESERVED_PORTS", "[1,2]", false, E),
    (&[("ECS_RESERVED_PORTS", "[]")], "ECS_RESERVED_PORTS", "[22,2375,2376,51678,51679]", true, D),
    (&[("ECS_RESERVED_PORTS", "[22,70000,80]")], "ECS_RESERVED_PORTS", "[22,2375,2376,51678,51679]", true, D),
    (&[("ECS_RESERVED_PORTS", "22")], "ECS_RESERVED_PORTS", "[22,2375,2376,51678,51679]", true, D),
    (&[("ECS_RESERVED_PORTS", "[22,")], "ECS_RESERVED_PORTS", "[22,2375,2376,51678,51679]", true, D),
    (&[("ECS_RESERVED_PORTS_UDP", "[53]")], "ECS_RESERVED_PORTS_UDP", "[53]", false, E),
    (&[("ECS_RESERVED_PORTS_UDP", "x")], "ECS_RESERVED_PORTS_UDP", "[]", true, D),
    (&[("ECS_RESERVED_MEMORY", "256")], "ECS_RESERVED_MEMORY", "256", false, E),
    (&[("ECS_RESERVED_MEMORY", "65535")], "ECS_RESERVED_MEMORY", "65535", false, E),
    (&[("ECS_RESERVED_MEMORY", "65536")], "ECS_RESERVED_MEMORY", "0", true, D),
    (&[("ECS_RESERVED_MEMORY", "abc")], "ECS_RESERVED_MEMORY", "0", true, D),
    (&[("ECS_RESERVED_MEMORY", "0")], "ECS_RESERVED_MEMORY", "0", false, D),
    (&[("ECS_INSTANCE_ATTRIBUTES", r#"{"a":"b"}"#)], "ECS_INSTANCE_ATTRIBUTES", r#"{"a":"b"}"#, false, E),
    (&[("ECS_CONTAINER_INSTANCE_TAGS", r#"{"team":"x"}"#)], "ECS_CONTAINER_INSTANCE_TAGS", r#"{"team":"x"}"#, false, E),
    (&[("ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "ec2_instance")], "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "ec2_instance", false, E),
    (&[("ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "none")], "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "none", false, D),
    (&[("ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "EC2_INSTANCE")], "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "none", true, D),
    (&[("ECS_ENABLE_PROMETHEUS_METRICS", "true")], "ECS_ENABLE_PROMETHEUS_METRICS", "true", false, E),
    (&[("ECS_ENABLE_PROMETHEUS_METRICS", "true")], "ECS_RESERVED_PORTS", "[22,2375,2376,51678,51679,51680]", false, D),
    (&[("ECS_ENABLE_PROMETHEUS_METRICS", "true"), ("ECS_RESERVED_PORTS", "[80]")], "ECS_RESERVED_PORTS", "[80,51680]", false, E),
    (&[("ECS_DYNAMIC_HOST_PORT_RANGE", "1000-2000")], "ECS_DYNAMIC_HOST_PORT_RANGE", "1000-2000", false, E),
    (&[("ECS_DYNAMIC_HOST_PORT_RANGE", "5000")], "ECS_DYNAMIC_HOST_PORT_RANGE", "5000-5000", false, E),
    (&[("ECS_DYNAMIC_HOST_PORT_RANGE", "2000-1000")], "ECS_DYNAMIC_HOST_PORT_RANGE", "32768-60999", true, D),
    (&[("ECS_DYNAMIC_HOST_PORT_RANGE", "70000-80000")], "ECS_DYNAMIC_HOST_PORT_RANGE", "32768-60999", true, D),
    (&[("ECS_DYNAMIC_HOST_PORT_RANGE", "a-b")], "ECS_DYNAMIC_HOST_PORT_RANGE", "32768-60999", true, D),
    (&[("ECS_WARM_POOLS_CHECK", "true")], "ECS_WARM_POOLS_CHECK", "true", false, E),
    (&[("ECS_ENABLE_SPOT_INSTANCE_DRAINING", "1")], "ECS_ENABLE_SPOT_INSTANCE_DRAINING", "true", false, E),
    // C. Docker, task engine, pulls: each minimum bound, below it, invalid, zero
    (&[("ECS_CONTAINER_STOP_TIMEOUT", "10s")], "ECS_CONTAINER_STOP_TIMEOUT", "10s", false, E),
    (&[("ECS_CONTAINER_STOP_TIMEOUT", "1s")], "ECS_CONTAINER_STOP_TIMEOUT", "1s", false, E),
    (&[("ECS_CONTAINER_STOP_TIMEOUT", "500ms")], "ECS_CONTAINER_STOP_TIMEOUT", "1s", true, E),
    (&[("ECS_CONTAINER_STOP_TIMEOUT", "-5s")], "ECS_CONTAINER_STOP_TIMEOUT", "1s", true, E),
    (&[("ECS_CONTAINER_STOP_TIMEOUT", "0")], "ECS_CONTAINER_STOP_TIMEOUT", "30s", false, D),
    (&[("ECS_CONTAINER_STOP_TIMEOUT", "30")], "ECS_CONTAINER_STOP_TIMEOUT", "30s", true, D),
    (&[("ECS_CONTAINER_STOP_TIMEOUT", "1d")], "ECS_CONTAINER_STOP_TIMEOUT", "30s", true, D),
    (&[("ECS_CONTAINER_START_TIMEOUT", "45s")], "ECS_CONTAINER_START_TIMEOUT", "45s", false, E),
    (&[("ECS_CONTAINER_START_TIMEOUT", "44s")], "ECS_CONTAINER_START_TIMEOUT", "45s", true, E),
    (&[("ECS_CONTAINER_START_TIMEOUT", "x")], "ECS_CONTAINER_START_TIMEOUT", "3m", true, D),
    (&[("ECS_CONTAINER_CREATE_TIMEOUT", "1m")], "ECS_CONTAINER_CREATE_TIMEOUT", "1m", false, E),
    (&[("ECS_CONTAINER_CREATE_TIMEOUT", "1h30m")], "ECS_CONTAINER_CREATE_TIMEOUT", "1h30m", false, E),
    (&[("ECS_CONTAINER_CREATE_TIMEOUT", "59s")], "ECS_CONTAINER_CREATE_TIMEOUT", "1m", true, E),
    (&[("ECS_CONTAINER_CREATE_TIMEOUT", "-1m")], "ECS_CONTAINER_CREATE_TIMEOUT", "1m", true, E),
    (&[("ECS_MANIFEST_PULL_TIMEOUT", "30s")], "ECS_MANIFEST_PULL_TIMEOUT", "30s", false, E),
    (&[("ECS_MANIFEST_PULL_TIMEOUT", "29s")], "ECS_MANIFEST_PULL_TIMEOUT", "30s", true, E),
    (&[("ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "5m")], "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "5m", false, E),
    (&[("ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "30s")], "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "1m", true, E),
    (&[("ECS_IMAGE_PULL_TIMEOUT", "1.5h")], "ECS_IMAGE_PULL_TIMEOUT", "1h30m", false, E),
    (&[("ECS_IMAGE_PULL_TIMEOUT", "1ms")], "ECS_IMAGE_PULL_TIMEOUT", "1ms", false, E),
    (&[("ECS_IMAGE_PULL_TIMEOUT", "-1h")], "ECS_IMAGE_PULL_TIMEOUT", "2h", true, D),
    (&[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "10m")], "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "10m", false, E),
    (&[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s")], "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s", false, E),
    (&[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "999ms")], "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3h", true, D),
    (&[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "-1m")], "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3h", true, D),
    (&[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER", "1h")], "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER", "1h", false, E),
    (&[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER", "-1s")], "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER", "0s", true, D),
    (&[("ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", "true")], "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", "true", false, E),
    (&[("ECS_IMAGE_PULL_BEHAVIOR", "always")], "ECS_IMAGE_PULL_BEHAVIOR", "always", false, E),
    (&[("ECS_IMAGE_PULL_BEHAVIOR", "once")], "ECS_IMAGE_PULL_BEHAVIOR", "once", false, E),
    (&[("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")], "ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached", false, E),
    (&[("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")], "ECS_DISABLE_IMAGE_CLEANUP", "true", false, E),
    (&[("ECS_IMAGE_PULL_BEHAVIOR", "ALWAYS")], "ECS_IMAGE_PULL_BEHAVIOR", "default", true, D),
    (&[("ECS_ENGINE_AUTH_TYPE", " dockercfg ")], "ECS_ENGINE_AUTH_TYPE", "dockercfg", false, E),
    (&[("ECS_ENGINE_AUTH_TYPE", "docker")], "ECS_ENGINE_AUTH_TYPE", "docker", false, E),
    (&[("ECS_ENGINE_AUTH_TYPE", "basic")], "ECS_ENGINE_AUTH_TYPE", "", true, D),
    (&[("ECS_ENGINE_AUTH_DATA", r#"{"r":{"auth":"c2VjcmV0"}}"#)], "ECS_ENGINE_AUTH_DATA", "<redacted>", false, E),
    (&[("ECS_SHARED_VOLUME_MATCH_FULL_CONFIG", "true")], "ECS_SHARED_VOLUME_MATCH_FULL_CONFIG", "true", false, E),
    (&[("ECS_PAUSE_LABELS", r#"{"a":"b"}"#)], "ECS_PAUSE_LABELS", r#"{"a":"b"}"#, false, E),
    (&[("ECS_PAUSE_LABELS", "a=b")], "ECS_PAUSE_LABELS", "", true, D),
    // D. image and container cleanup
    (&[("ECS_DISABLE_IMAGE_CLEANUP", "true")], "ECS_DISABLE_IMAGE_CLEANUP", "true", false, E),
    (&[("ECS_IMAGE_CLEANUP_INTERVAL", "15m")], "ECS_IMAGE_CLEANUP_INTERVAL", "15m", false, E),
    (&[("ECS_IMAGE_CLEANUP_INTERVAL", "10m")], "ECS_IMAGE_CLEANUP_INTERVAL", "10m", false, E),
    (&[("ECS_IMAGE_CLEANUP_INTERVAL", "9m59s")], "ECS_IMAGE_CLEANUP_INTERVAL", "30m", true, D),
    (&[("ECS_IMAGE_MINIMUM_CLEANUP_AGE", "30m")], "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "30m", false, E),
    (&[("ECS_IMAGE_MINIMUM_CLEANUP_AGE", "1ns")], "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "1ns", false, E),
    (&[("NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "2h")], "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "2h", false, E),
    (&[("NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "2")], "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "1h", true, D),
    (&[("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "10")], "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "10", false, E),
    (&[("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "1")], "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "1", false, E),
    (&[("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "0")], "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "5", true, D),
    (&[("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "-1")], "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "5", true, D),
    (&[("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "x")], "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "5", true, D),
    (&[("NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "3")], "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "3", false, E),
    (&[("NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "-2")], "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "5", true, D),
    (&[("NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "many")], "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "5", true, D),
    (&[("ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP", "true")], "ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP", "true", false, E),
    (&[("ECS_EXCLUDE_UNTRACKED_IMAGE", "a:1, b:2")], "ECS_EXCLUDE_UNTRACKED_IMAGE", "a:1, b:2", false, E),
    // E. capabilities and features
    (&[("ECS_AVAILABLE_LOGGING_DRIVERS", r#"["awslogs","splunk"]"#)], "ECS_AVAILABLE_LOGGING_DRIVERS", r#"["awslogs","splunk"]"#, false, E),
    (&[("ECS_AVAILABLE_LOGGING_DRIVERS", "[")], "ECS_AVAILABLE_LOGGING_DRIVERS", r#"["json-file","none"]"#, true, D),
    (&[("ECS_AVAILABLE_LOGGING_DRIVERS", "[1]")], "ECS_AVAILABLE_LOGGING_DRIVERS", r#"["json-file","none"]"#, true, D),
    (&[("ECS_DISABLE_PRIVILEGED", "true")], "ECS_DISABLE_PRIVILEGED", "true", false, E),
    (&[("ECS_SELINUX_CAPABLE", "T")], "ECS_SELINUX_CAPABLE", "true", false, E),
    (&[("ECS_APPARMOR_CAPABLE", "True")], "ECS_APPARMOR_CAPABLE", "true", false, E),
    (&[("ECS_ENABLE_TASK_IAM_ROLE", "false")], "ECS_ENABLE_TASK_IAM_ROLE", "false", false, E),
    (&[("ECS_ENABLE_TASK_IAM_ROLE", "on")], "ECS_ENABLE_TASK_IAM_ROLE", "false", true, D),
    (&[("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false")], "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false", false, E),
    (&[("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "junk")], "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false", true, D),
    (&[("ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "f")], "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "false", false, E),
    (&[("ECS_DISABLE_DOCKER_HEALTH_CHECK", "true")], "ECS_DISABLE_DOCKER_HEALTH_CHECK", "true", false, E),
    (&[("ECS_ENABLE_CONTAINER_METADATA", "true")], "ECS_ENABLE_CONTAINER_METADATA", "true", false, E),
    (&[("ECS_ENABLE_GPU_SUPPORT", "true")], "ECS_ENABLE_GPU_SUPPORT", "true", false, E),
    (&[("ECS_NVIDIA_RUNTIME", " custom ")], "ECS_NVIDIA_RUNTIME", "custom", false, E),
    (&[("ECS_ENABLE_INF_SUPPORT", "true")], "ECS_ENABLE_INF_SUPPORT", "true", false, E),
    (&[("ECS_EBSTA_SUPPORTED", "false")], "ECS_EBSTA_SUPPORTED", "false", false, E),
    (&[("ECS_EBSTA_SUPPORTED", "junk")], "ECS_EBSTA_SUPPORTED", "true", true, D),
    (&[("ECS_VOLUME_PLUGIN_CAPABILITIES", r#"["efsAuth","x"]"#)], "ECS_VOLUME_PLUGIN_CAPABILITIES", r#"["efsAuth","x"]"#, false, E),
    (&[("ECS_VOLUME_PLUGIN_CAPABILITIES", "{")], "ECS_VOLUME_PLUGIN_CAPABILITIES", "[]", true, D),
    (&[("ECS_ENABLE_FIRELENS_ASYNC", "false")], "ECS_ENABLE_FIRELENS_ASYNC", "false", false, E),
    (&[("ECS_ENABLE_FIRELENS_ASYNC", "nah")], "ECS_ENABLE_FIRELENS_ASYNC", "true", true, D),
    (&[("ECS_GMSA_SUPPORTED", "true")], "ECS_GMSA_SUPPORTED", "true", false, E),
    (&[("CREDENTIALS_FETCHER_HOST_DIR", "/run/cf.sock")], "CREDENTIALS_FETCHER_HOST_DIR", "/run/cf.sock", false, E),
    (&[("CREDENTIALS_FETCHER_HOST", "unix:///run/x.sock")], "CREDENTIALS_FETCHER_HOST_DIR", "/run/x.sock", false, D),
    (&[("CREDENTIALS_FETCHER_SECRET_NAME_FOR_DOMAINLESS_GMSA", "arn:aws:secretsmanager:x")], "CREDENTIALS_FETCHER_SECRET_NAME_FOR_DOMAINLESS_GMSA", "arn:aws:secretsmanager:x", false, E),
    (&[("ECS_DOMAIN_JOINED_LINUX_INSTANCE", "true")], "ECS_DOMAIN_JOINED_LINUX_INSTANCE", "true", false, E),
    // F. cgroups and limits
    (&[("ECS_ENABLE_TASK_CPU_MEM_LIMIT", "true")], "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "true", false, E),
    (&[("ECS_ENABLE_TASK_CPU_MEM_LIMIT", "false")], "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "false", false, E),
    (&[("ECS_ENABLE_TASK_CPU_MEM_LIMIT", "x")], "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "true (implicit)", true, D),
    (&[("ECS_CGROUP_PATH", "/cg")], "ECS_CGROUP_PATH", "/cg", false, E),
    (&[("ECS_CGROUP_CPU_PERIOD", "8ms")], "ECS_CGROUP_CPU_PERIOD", "8ms", false, E),
    (&[("ECS_CGROUP_CPU_PERIOD", "100ms")], "ECS_CGROUP_CPU_PERIOD", "100ms", false, E),
    (&[("ECS_CGROUP_CPU_PERIOD", "50ms")], "ECS_CGROUP_CPU_PERIOD", "50ms", false, E),
    (&[("ECS_CGROUP_CPU_PERIOD", "7999us")], "ECS_CGROUP_CPU_PERIOD", "100ms", true, D),
    (&[("ECS_CGROUP_CPU_PERIOD", "101ms")], "ECS_CGROUP_CPU_PERIOD", "100ms", true, D),
    (&[("ECS_CGROUP_CPU_PERIOD", "fast")], "ECS_CGROUP_CPU_PERIOD", "100ms", true, D),
    (&[("ECS_TASK_PIDS_LIMIT", " 100 ")], "ECS_TASK_PIDS_LIMIT", "100", false, E),
    (&[("ECS_TASK_PIDS_LIMIT", "1")], "ECS_TASK_PIDS_LIMIT", "1", false, E),
    (&[("ECS_TASK_PIDS_LIMIT", "4194304")], "ECS_TASK_PIDS_LIMIT", "4194304", false, E),
    (&[("ECS_TASK_PIDS_LIMIT", "4194305")], "ECS_TASK_PIDS_LIMIT", "0", true, D),
    (&[("ECS_TASK_PIDS_LIMIT", "-1")], "ECS_TASK_PIDS_LIMIT", "0", true, D),
    (&[("ECS_TASK_PIDS_LIMIT", "x")], "ECS_TASK_PIDS_LIMIT", "0", true, D),
    (&[("ECS_TASK_PIDS_LIMIT", "0")], "ECS_TASK_PIDS_LIMIT", "0", false, D),
    (&[("ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2", "true")], "ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2", "true", false, E),
    // G. networking
    (&[("ECS_ENABLE_TASK_ENI", "false")], "ECS_ENABLE_TASK_ENI", "false", false, E),
    (&[("ECS_ENABLE_TASK_ENI", "false")], "ECS_ENABLE_HIGH_DENSITY_ENI", "false", false, D),
    (&[("ECS_ENABLE_HIGH_DENSITY_ENI", "false")], "ECS_ENABLE_HIGH_DENSITY_ENI", "false", false, E),
    (&[("ECS_CNI_PLUGINS_PATH", "/usr/lib/cni")], "ECS_CNI_PLUGINS_PATH", "/usr/lib/cni", false, E),
    (&[("ECS_AWSVPC_BLOCK_IMDS", "true")], "ECS_AWSVPC_BLOCK_IMDS", "true", false, E),
    (&[("ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", r#"["10.0.0.0/8","fd00::/8"]"#)], "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", r#"["10.0.0.0/8","fd00::/8"]"#, false, E),
    (&[("ECS_INSTANCE_IP_COMPATIBILITY", " IPv6 ")], "ECS_INSTANCE_IP_COMPATIBILITY", "ipv6", false, E),
    (&[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv4")], "ECS_INSTANCE_IP_COMPATIBILITY", "ipv4", false, E),
    (&[("ECS_INSTANCE_IP_COMPATIBILITY", "dual")], "ECS_INSTANCE_IP_COMPATIBILITY", "auto", true, D),
    (&[("ECS_EXCLUDE_IPV6_PORTBINDING", "false")], "ECS_EXCLUDE_IPV6_PORTBINDING", "false", false, E),
    (&[("HTTP_PROXY", "http://u:pw@proxy:3128")], "HTTP_PROXY", "http://u:<redacted>@proxy:3128", false, E),
    (&[("http_proxy", "http://lower:3128")], "HTTP_PROXY", "http://lower:3128", false, E),
    (&[("HTTP_PROXY", "http://upper:1"), ("http_proxy", "http://lower:2")], "HTTP_PROXY", "http://upper:1", false, E),
    (&[("https_proxy", "http://p:3128")], "HTTPS_PROXY", "http://p:3128", false, E),
    (&[("no_proxy", "localhost,169.254.169.254")], "NO_PROXY", "localhost,169.254.169.254", false, E),
    // H. metrics, local endpoints, audit
    (&[("ECS_DISABLE_METRICS", "true")], "ECS_DISABLE_METRICS", "true", false, E),
    (&[("ECS_POLL_METRICS", "true")], "ECS_POLL_METRICS", "true", false, E),
    (&[("ECS_POLLING_METRICS_WAIT_DURATION", "1s")], "ECS_POLLING_METRICS_WAIT_DURATION", "1s", false, E),
    (&[("ECS_POLL_METRICS", "true"), ("ECS_POLLING_METRICS_WAIT_DURATION", "15s")], "ECS_POLLING_METRICS_WAIT_DURATION", "15s", false, E),
    (&[("ECS_POLL_METRICS", "true"), ("ECS_POLLING_METRICS_WAIT_DURATION", "5s")], "ECS_POLLING_METRICS_WAIT_DURATION", "5s", false, E),
    (&[("ECS_POLL_METRICS", "true"), ("ECS_POLLING_METRICS_WAIT_DURATION", "20s")], "ECS_POLLING_METRICS_WAIT_DURATION", "20s", false, E),
    (&[("ECS_POLL_METRICS", "true"), ("ECS_POLLING_METRICS_WAIT_DURATION", "4s")], "ECS_POLLING_METRICS_WAIT_DURATION", "5s", true, E),
    (&[("ECS_POLL_METRICS", "true"), ("ECS_POLLING_METRICS_WAIT_DURATION", "21s")], "ECS_POLLING_METRICS_WAIT_DURATION", "20s", true, E),
    (&[("ECS_POLL_METRICS", "true"), ("ECS_POLLING_METRICS_WAIT_DURATION", "-1s")], "ECS_POLLING_METRICS_WAIT_DURATION", "5s", true, E),
    (&[("ECS_POLLING_METRICS_WAIT_DURATION", "ten")], "ECS_POLLING_METRICS_WAIT_DURATION", "10s", true, D),
    (&[("ECS_TASK_METADATA_RPS_LIMIT", "100,150")], "ECS_TASK_METADATA_RPS_LIMIT", "100,150", false, E),
    (&[("ECS_TASK_METADATA_RPS_LIMIT", " 1 , 1 ")], "ECS_TASK_METADATA_RPS_LIMIT", "1,1", false, E),
    (&[("ECS_TASK_METADATA_RPS_LIMIT", "0,60")], "ECS_TASK_METADATA_RPS_LIMIT", "40,60", true, D),
    (&[("ECS_TASK_METADATA_RPS_LIMIT", "100,-1")], "ECS_TASK_METADATA_RPS_LIMIT", "40,60", true, D),
    (&[("ECS_TASK_METADATA_RPS_LIMIT", "100")], "ECS_TASK_METADATA_RPS_LIMIT", "40,60", true, D),
    (&[("ECS_TASK_METADATA_RPS_LIMIT", "a,b")], "ECS_TASK_METADATA_RPS_LIMIT", "40,60", true, D),
    (&[("ECS_DISABLE_TASK_METADATA_AZ", "true")], "ECS_DISABLE_TASK_METADATA_AZ", "true", false, E),
    (&[("ECS_AUDIT_LOGFILE", "/tmp/audit.log")], "ECS_AUDIT_LOGFILE", "/tmp/audit.log", false, E),
    (&[("ECS_AUDIT_LOGFILE_DISABLED", "true")], "ECS_AUDIT_LOGFILE_DISABLED", "true", false, E),
    (&[("ECS_AUDIT_LOGFILE_DISABLED", "true")], "ECS_AUDIT_LOGFILE", "", false, D),
    (&[("ECS_ENABLE_RUNTIME_STATS", "true")], "ECS_ENABLE_RUNTIME_STATS", "true", false, E),
    (&[("ECS_AGENT_HEALTHCHECK_HOST", "127.0.0.1")], "ECS_AGENT_HEALTHCHECK_HOST", "127.0.0.1", false, E),
    // I. logging
    (&[("ECS_LOGFILE", "/tmp/agent.log")], "ECS_LOGFILE", "/tmp/agent.log", false, E),
    (&[("ECS_LOGFILE", "")], "ECS_LOGFILE", "", false, E),
    (&[("ECS_LOGLEVEL", "DEBUG")], "ECS_LOGLEVEL", "debug", false, E),
    (&[("ECS_LOGLEVEL", "crit")], "ECS_LOGLEVEL", "critical", false, E),
    (&[("ECS_LOGLEVEL", "crit")], "ECS_LOGLEVEL_ON_INSTANCE", "critical", false, D),
    (&[("ECS_LOGLEVEL", "verbose")], "ECS_LOGLEVEL", "info", true, D),
    (&[("ECS_LOGLEVEL_ON_INSTANCE", "none")], "ECS_LOGLEVEL_ON_INSTANCE", "off", false, E),
    (&[("ECS_LOGLEVEL", "warn"), ("ECS_LOGLEVEL_ON_INSTANCE", "loud")], "ECS_LOGLEVEL_ON_INSTANCE", "warn", true, D),
    (&[("ECS_LOG_DRIVER", "journald")], "ECS_LOGLEVEL_ON_INSTANCE", "off", false, D),
    (&[("ECS_LOG_DRIVER", "journald")], "ECS_LOG_DRIVER", "journald", false, E),
    (&[("ECS_LOG_ROLLOVER_TYPE", "hourly")], "ECS_LOG_ROLLOVER_TYPE", "hourly", false, E),
    (&[("ECS_LOG_ROLLOVER_TYPE", "none")], "ECS_LOG_ROLLOVER_TYPE", "none", false, E),
    (&[("ECS_LOG_ROLLOVER_TYPE", "daily")], "ECS_LOG_ROLLOVER_TYPE", "hourly", true, E),
    (&[("ECS_LOG_OUTPUT_FORMAT", "json")], "ECS_LOG_OUTPUT_FORMAT", "json", false, E),
    (&[("ECS_LOG_OUTPUT_FORMAT", "xml")], "ECS_LOG_OUTPUT_FORMAT", "logfmt", true, D),
    (&[("ECS_LOG_MAX_FILE_SIZE_MB", "1.5")], "ECS_LOG_MAX_FILE_SIZE_MB", "1.5", false, E),
    (&[("ECS_LOG_MAX_FILE_SIZE_MB", "big")], "ECS_LOG_MAX_FILE_SIZE_MB", "5", true, D),
    (&[("ECS_LOG_MAX_FILE_SIZE_MB", "0")], "ECS_LOG_MAX_FILE_SIZE_MB", "5", true, D),
    (&[("ECS_LOG_MAX_ROLL_COUNT", "0")], "ECS_LOG_MAX_ROLL_COUNT", "0", false, E),
    (&[("ECS_LOG_MAX_ROLL_COUNT", "x")], "ECS_LOG_MAX_ROLL_COUNT", "24", true, D),
    // J. credentials and AWS SDK
    (&[("ECS_ALTERNATE_CREDENTIAL_PROFILE", "ops")], "ECS_ALTERNATE_CREDENTIAL_PROFILE", "ops", false, E),
    (&[("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")], "AWS_ACCESS_KEY_ID", "AKIAEXAMPLE", false, E),
    (&[("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")], "AWS_SECRET_ACCESS_KEY", "<redacted>", false, E),
    (&[("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE")], "AWS_SESSION_TOKEN", "<redacted>", false, E),
    (&[("AWS_PROFILE", "p")], "AWS_PROFILE", "p", false, E),
    (&[("AWS_SHARED_CREDENTIALS_FILE", "/c")], "AWS_SHARED_CREDENTIALS_FILE", "/c", false, E),
    (&[("AWS_CONFIG_FILE", "/cfg")], "AWS_CONFIG_FILE", "/cfg", false, E),
    (&[("AWS_EC2_METADATA_DISABLED", "TRUE")], "AWS_EC2_METADATA_DISABLED", "true", false, E),
    (&[("AWS_EC2_METADATA_DISABLED", "1")], "AWS_EC2_METADATA_DISABLED", "false", false, E),
    (&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338")], "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338", false, E),
    (&[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")], "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", false, E),
    (&[("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:51680")], "AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:51680", false, E),
    (&[("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")], "AWS_ENDPOINT_URL", "http://127.0.0.1:4566", false, E),
    (&[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")], "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", false, E),
    // K. test-only switches
    (&[("ZZZ_SKIP_DOMAIN_JOIN_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true")], "ZZZ_SKIP_DOMAIN_JOIN_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true", false, E),
    (&[("ZZZ_SKIP_DOMAIN_LESS_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true")], "ZZZ_SKIP_DOMAIN_LESS_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true", false, E),
    (&[("ZZZ_SKIP_CREDENTIALS_FETCHER_INVOCATION_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true")], "ZZZ_SKIP_CREDENTIALS_FETCHER_INVOCATION_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true", false, E),
    // L. ecs-init only
    (&[("ECS_LOG_OPTS", r#"{"splunk-token":"s3cr3t"}"#)], "ECS_LOG_OPTS", "<redacted>", false, E),
    (&[("ECS_LOG_OPTS", "token=s3cr3t")], "ECS_LOG_OPTS", "", true, D),
    (&[("ECS_INIT_DOCKER_LOG_FILE_SIZE", "32m")], "ECS_INIT_DOCKER_LOG_FILE_SIZE", "32m", false, E),
    (&[("ECS_INIT_DOCKER_LOG_FILE_NUM", "2")], "ECS_INIT_DOCKER_LOG_FILE_NUM", "2", false, E),
    (&[("ECS_AGENT_LABELS", r#"{"a":"b"}"#)], "ECS_AGENT_LABELS", r#"{"a":"b"}"#, false, E),
    (&[("ECS_AGENT_LABELS", "[")], "ECS_AGENT_LABELS", "", true, D),
    (&[("ECS_AGENT_APPARMOR_PROFILE", "custom")], "ECS_AGENT_APPARMOR_PROFILE", "custom", false, E),
    (&[("ECS_AGENT_PID_NAMESPACE_HOST", "true")], "ECS_AGENT_PID_NAMESPACE_HOST", "true", false, E),
    (&[("ECS_AGENT_RUN_PRIVILEGED", "true")], "ECS_AGENT_RUN_PRIVILEGED", "true", false, E),
    (&[("ECS_AGENT_RUN_PRIVILEGED", "True")], "ECS_AGENT_RUN_PRIVILEGED", "false", false, E),
    (&[("ECS_SKIP_LOCALHOST_TRAFFIC_FILTER", "true")], "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER", "true", false, E),
    (&[("ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS", "true")], "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS", "true", false, E),
    (&[("ECS_AGENT_MANAGE_NETWORK_RULES", "false")], "ECS_AGENT_MANAGE_NETWORK_RULES", "false", false, E),
    (&[("ECS_AGENT_MANAGE_NETWORK_RULES", "nope")], "ECS_AGENT_MANAGE_NETWORK_RULES", "true", true, D),
    (&[("CREDENTIALS_FETCHER_HOST", "unix:///run/x.sock")], "CREDENTIALS_FETCHER_HOST", "unix:///run/x.sock", false, E),
    (&[("ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME", "eth0")], "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME", "eth0", false, E),
    // M. Windows only
    (&[("ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED", "true")], "ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED", "true", false, E),
    (&[("ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND", "true")], "ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND", "true", false, E),
    (&[("ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND", "true")], "ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND", "true", false, E),
    (&[("ZZZ_SKIP_WINDOWS_SERVER_VERSION_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true")], "ZZZ_SKIP_WINDOWS_SERVER_VERSION_CHECK_NOT_SUPPORTED_IN_PRODUCTION", "true", false, E),
    (&[], "ECS_CLUSTER", "", false, ANY),
];

#[test]
fn every_variable_valid_bounds_and_invalid_values() {
    let mut failures = Vec::new();
    for (env, name, want, warn, want_source) in CASES {
        let loaded = match load_env(env) {
            Ok(loaded) => loaded,
            Err(err) => {
                failures.push(format!("{env:?}: unexpected error {err}"));
                continue;
            }
        };
        let got = value(&loaded, name);
        if got != *want {
            failures.push(format!("{env:?}: {name}={got:?}, want {want:?}"));
        }
        if warned(&loaded, name) != *warn {
            failures.push(format!(
                "{env:?}: warning for {name} expected={warn}, got {:?}",
                loaded
                    .warnings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ));
        }
        let others: Vec<String> = loaded
            .warnings
            .iter()
            .filter(|w| w.variable != *name)
            .map(ToString::to_string)
            .collect();
        if !others.is_empty() {
            failures.push(format!("{env:?}: unrelated warnings {others:?}"));
        }
        if let Some(want_source) = want_source
            && source(&loaded, name) != *want_source
        {
            failures.push(format!(
                "{env:?}: {name} source {:?}, want {want_source:?}",
                source(&loaded, name)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_printed_setting_has_a_table_case() {
    let loaded = load_env(&[]).unwrap();
    let covered: std::collections::BTreeSet<&str> = CASES
        .iter()
        .flat_map(|(env, name, ..)| env.iter().map(|(k, _)| *k).chain([*name]))
        .collect();
    let missing: Vec<&str> = loaded
        .settings
        .iter()
        .map(|s| s.name)
        .filter(|n| n.contains('_') && n.chars().all(|c| !c.is_ascii_lowercase()))
        .filter(|n| !covered.contains(n))
        .collect();
    assert!(missing.is_empty(), "variables without a case: {missing:?}");
}

#[test]
fn printed_settings_match_the_variables_read() {
    let env = EnvLayer::default();
    let built = build(
        &env,
        Vec::new(),
        Path::new(NO_JSON),
        Source::Default,
        &host(),
    );
    let printed: Vec<&str> = print::describe(&built.config)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for name in &printed {
        assert!(
            built.consulted.contains(name),
            "{name} is printed but never read"
        );
    }
    for name in &built.consulted {
        let is_env_name = name.chars().all(|c| !c.is_ascii_lowercase());
        if is_env_name {
            assert!(printed.contains(name), "{name} is read but not printed");
        }
    }
}

#[rustfmt::skip]
const FATAL: &[(&[(&str, &str)], &str)] = &[
    (&[("ECS_INSTANCE_ATTRIBUTES", r#"{"a":1}"#)], "ECS_INSTANCE_ATTRIBUTES"),
    (&[("ECS_INSTANCE_ATTRIBUTES", "a=b")], "ECS_INSTANCE_ATTRIBUTES"),
    (&[("ECS_CONTAINER_INSTANCE_TAGS", r#"["x"]"#)], "ECS_CONTAINER_INSTANCE_TAGS"),
    (&[("ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", r#"["10.0.0.0"]"#)], "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES"),
    (&[("ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", "10.0.0.0/8")], "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES"),
    (&[("ECS_AVAILABLE_LOGGING_DRIVERS", r#"["json-file","bogus"]"#)], "bogus"),
    (&[("ECS_EXTERNAL", "true")], "AWS_DEFAULT_REGION"),
];

#[test]
fn fatal_values_name_the_variable() {
    for (env, needle) in FATAL {
        match load_env(env) {
            Ok(_) => panic!("{env:?} should be fatal"),
            Err(err) => assert!(err.to_string().contains(needle), "{env:?}: {err}"),
        }
    }
    let err = load_env(&[("ECS_AVAILABLE_LOGGING_DRIVERS", r#"["a","b"]"#)]).unwrap_err();
    assert!(
        err.to_string().starts_with("Invalid logging drivers: a, b"),
        "{err}"
    );
    let err = load_env(&[
        ("ECS_INSTANCE_ATTRIBUTES", "x"),
        ("ECS_CONTAINER_INSTANCE_TAGS", "y"),
    ])
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::Several(ref e) if e.len() == 2),
        "{err}"
    );
}

// ---- files and precedence

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Input with the instance and user ecs.config files and the JSON file of this dir.
    fn input(&self, env: &[(&str, &str)]) -> ConfigInput {
        ConfigInput {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ecs_config_files: vec![self.path("instance.config"), self.path("user.config")],
            json_file: Some(self.path("config.json")),
        }
    }
}

#[test]
fn precedence_env_over_user_file_over_instance_file_over_json_over_default() {
    let files = Files::new();
    let load = |env: &[(&str, &str)]| load_with(&files.input(env), &host(), None).unwrap();

    assert_eq!(value(&load(&[]), "ECS_CLUSTER"), "");
    files.write(
        "config.json",
        r#"{"Cluster":"from-json","ReservedMemory":100}"#,
    );
    let loaded = load(&[]);
    assert_eq!(value(&loaded, "ECS_CLUSTER"), "from-json");
    assert_eq!(source(&loaded, "ECS_CLUSTER"), Source::Json);

    files.write(
        "instance.config",
        "ECS_CLUSTER=from-instance\nECS_RESERVED_MEMORY=0\n",
    );
    let loaded = load(&[]);
    assert_eq!(value(&loaded, "ECS_CLUSTER"), "from-instance");
    assert_eq!(source(&loaded, "ECS_CLUSTER"), Source::File);
    // A zero value cannot hide a JSON value (spec §8 #1).
    assert_eq!(value(&loaded, "ECS_RESERVED_MEMORY"), "100");
    assert_eq!(source(&loaded, "ECS_RESERVED_MEMORY"), Source::Json);

    files.write("user.config", "ECS_CLUSTER=from-user\n");
    assert_eq!(value(&load(&[]), "ECS_CLUSTER"), "from-user");

    let loaded = load(&[("ECS_CLUSTER", "from-env"), ("ECS_RESERVED_MEMORY", "7")]);
    assert_eq!(value(&loaded, "ECS_CLUSTER"), "from-env");
    assert_eq!(source(&loaded, "ECS_CLUSTER"), Source::Env);
    assert_eq!(value(&loaded, "ECS_RESERVED_MEMORY"), "7");
    assert_eq!(loaded.config.cluster, "from-env");
}

#[test]
fn json_file_path_comes_from_the_merged_environment() {
    let files = Files::new();
    let json = files.write("custom.json", r#"{"Cluster":"custom"}"#);
    files.write(
        "user.config",
        &format!("ECS_AGENT_CONFIG_FILE_PATH={}\n", json.display()),
    );
    let mut input = files.input(&[]);
    input.json_file = None;
    let loaded = load_with(&input, &host(), None).unwrap();
    assert_eq!(value(&loaded, "ECS_CLUSTER"), "custom");
    assert_eq!(source(&loaded, "ECS_AGENT_CONFIG_FILE_PATH"), Source::File);
    assert_eq!(loaded.config.agent_config_file_path, json);
}

#[test]
fn json_file_keys_types_and_json_only_settings() {
    let files = Files::new();
    files.write(
        "config.json",
        r#"{
            "cluster": "lower-case-key",
            "ReservedPorts": [22, 80],
            "TaskCleanupWaitDuration": 600000000000,
            "DockerStopTimeout": 5000000000,
            "PollMetrics": 1,
            "Checkpoint": false,
            "ImagePullBehavior": 2,
            "ContainerInstancePropagateTagsFrom": 1,
            "InstanceAttributes": {"k": "v"},
            "EngineAuthData": {"registry": {"auth": "c2VjcmV0"}},
            "AvailableLoggingDrivers": ["awslogs"],
            "TaskMetadataSteadyStateRate": 7,
            "NoIID": true,
            "PauseContainerImageName": "my/pause",
            "PauseContainerTag": "1.0",
            "NodeStageTimeout": 3000000000,
            "ENIPauseContainerCleanupDelaySeconds": 12,
            "InstanceENIDNSServerList": ["10.0.0.2"],
            "OverrideAWSVPCLocalIPv4Address": "169.254.172.42/22",
            "CgroupCPUPeriod": 9000000,
            "UnknownKey": {"anything": [1]}
        }"#,
    );
    let loaded = load_with(&files.input(&[("ECS_DATADIR", "")]), &host(), None).unwrap();
    let want = [
        ("ECS_CLUSTER", "lower-case-key"),
        ("ECS_RESERVED_PORTS", "[22,80]"),
        ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "10m"),
        ("ECS_CONTAINER_STOP_TIMEOUT", "5s"),
        ("ECS_POLL_METRICS", "true"),
        ("ECS_CHECKPOINT", "false"),
        ("ECS_IMAGE_PULL_BEHAVIOR", "once"),
        ("ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM", "ec2_instance"),
        ("ECS_INSTANCE_ATTRIBUTES", r#"{"k":"v"}"#),
        ("ECS_ENGINE_AUTH_DATA", "<redacted>"),
        ("ECS_TASK_METADATA_RPS_LIMIT", "7,60"),
        ("NoIID", "true"),
        ("PauseContainerImageName", "my/pause"),
        ("PauseContainerTag", "1.0"),
        ("NodeStageTimeout", "3s"),
        ("ENIPauseContainerCleanupDelaySeconds", "12"),
        ("InstanceENIDNSServerList", r#"["10.0.0.2"]"#),
        ("OverrideAWSVPCLocalIPv4Address", "169.254.172.42/22"),
        // Never zero in the environment parser, so never from JSON (spec §1.3).
        ("ECS_CGROUP_CPU_PERIOD", "100ms"),
    ];
    for (name, want) in want {
        assert_eq!(value(&loaded, name), want, "{name}");
    }
    assert_eq!(source(&loaded, "ECS_CLUSTER"), Source::Json);
    assert_eq!(source(&loaded, "NoIID"), Source::Json);
    // The built-in logging driver list (ecs-init's) is environment-level and wins.
    assert_eq!(
        value(&loaded, "ECS_AVAILABLE_LOGGING_DRIVERS"),
        r#"["json-file","syslog","awslogs","fluentd","none"]"#
    );
    assert_eq!(
        loaded.config.engine_auth_data.as_ref().unwrap().expose(),
        r#"{"registry":{"auth":"c2VjcmV0"}}"#
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn json_datadir_checkpoint_cannot_override_an_environment_datadir() {
    let files = Files::new();
    files.write("config.json", r#"{"Checkpoint": false}"#);
    let loaded = load_with(&files.input(&[]), &host(), None).unwrap();
    assert_eq!(value(&loaded, "ECS_CHECKPOINT"), "true");
}

#[test]
fn json_file_errors_are_fatal_and_clear() {
    let files = Files::new();
    let cases: &[(&str, &str)] = &[
        (r#"{"Cluster": "x""#, "config.json"),
        (r#"["not", "an", "object"]"#, "expected a JSON object"),
        (r#"{"Cluster": 5}"#, "key Cluster: expected a string"),
        (r#"{"ReservedPorts": [22, 70000]}"#, "key ReservedPorts"),
        (r#"{"ReservedMemory": 70000}"#, "key ReservedMemory"),
        (
            r#"{"TaskCleanupWaitDuration": "3h"}"#,
            "key TaskCleanupWaitDuration",
        ),
        (
            r#"{"TaskCleanupWaitDuration": 1.5}"#,
            "key TaskCleanupWaitDuration",
        ),
        (r#"{"PollMetrics": "yes"}"#, "key PollMetrics"),
        (
            r#"{"InstanceAttributes": {"a": 1}}"#,
            "key InstanceAttributes",
        ),
        (r#"{"DockerStopTimeout": 500000000}"#, "DockerStopTimeout"),
        (
            r#"{"ContainerStartTimeout": 10000000000}"#,
            "ContainerStartTimeout",
        ),
        (
            r#"{"OverrideAWSVPCLocalIPv4Address": "nope"}"#,
            "OverrideAWSVPCLocalIPv4Address",
        ),
        (r#"{"AvailableLoggingDrivers": ["nope"]}"#, "nope"),
        // Type errors count even where the environment wins.
        (r#"{"CgroupCPUPeriod": "100ms"}"#, "key CgroupCPUPeriod"),
    ];
    for (content, needle) in cases {
        files.write("config.json", content);
        let env: &[(&str, &str)] = &[("ECS_AVAILABLE_LOGGING_DRIVERS", "")];
        match load_with(&files.input(env), &host(), None) {
            Ok(_) => panic!("{content} should be fatal"),
            Err(err) => assert!(err.to_string().contains(needle), "{content}: {err}"),
        }
    }
    // Empty or missing files are ignored; a directory cannot be read.
    files.write("config.json", "  \n ");
    assert!(load_with(&files.input(&[]), &host(), None).is_ok());
    std::fs::remove_file(files.path("config.json")).unwrap();
    assert!(load_with(&files.input(&[]), &host(), None).is_ok());
    std::fs::create_dir(files.path("config.json")).unwrap();
    let err = load_with(&files.input(&[]), &host(), None).unwrap_err();
    assert!(matches!(err, ConfigError::JsonFileRead { .. }), "{err}");
}

#[test]
fn json_values_below_the_minimums_that_the_validation_pass_fixes() {
    let files = Files::new();
    files.write(
        "config.json",
        r#"{"TaskCleanupWaitDuration": 500000000, "ImagePullInactivityTimeout": 1000000000,
            "ImageCleanupInterval": 60000000000, "NumImagesToDeletePerCycle": -3,
            "TaskMetadataBurstRate": -1, "ClusterArn": "arn:aws:ecs:us-east-1:1:cluster/x"}"#,
    );
    let loaded = load_with(&files.input(&[]), &host(), None).unwrap();
    for (name, want) in [
        ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3h"),
        ("ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "1m"),
        ("ECS_IMAGE_CLEANUP_INTERVAL", "30m"),
        ("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "5"),
        ("ECS_TASK_METADATA_RPS_LIMIT", "40,60"),
        ("ECS_CLUSTER", "arn:aws:ecs:us-east-1:1:cluster/x"),
    ] {
        assert_eq!(value(&loaded, name), want, "{name}");
        assert!(warned(&loaded, name), "{name} should warn");
    }
}

#[test]
fn ecs_config_files_edge_cases() {
    let files = Files::new();
    files.write(
        "user.config",
        "# comment line\n\nECS_CLUSTER=\"quoted\"\r\nECS_CLUSTER = spaced\nnot a setting\nECS_INSTANCE_ATTRIBUTES={\"a\":\"b=c\"}\n#ECS_LOGLEVEL=debug\nECS_RESERVED_PORTS=[22]\nECS_RESERVED_PORTS=[23]\n",
    );
    let loaded = load_with(&files.input(&[]), &host(), None).unwrap();
    assert_eq!(value(&loaded, "ECS_CLUSTER"), "quoted");
    assert_eq!(value(&loaded, "ECS_INSTANCE_ATTRIBUTES"), r#"{"a":"b=c"}"#);
    assert_eq!(value(&loaded, "ECS_LOGLEVEL"), "info");
    assert_eq!(value(&loaded, "ECS_RESERVED_PORTS"), "[23]");
    let user = files.path("user.config").display().to_string();
    let messages: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with(&format!("{user}:4=")),
        "{messages:?}"
    );
    assert!(messages[0].contains("ECS_CLUSTER "), "{messages:?}");
    assert!(
        messages[1].starts_with(&format!("{user}:5=\"not a setting\"")),
        "{messages:?}"
    );
    // Missing and unreadable files are empty.
    std::fs::create_dir(files.path("instance.config")).unwrap();
    assert!(load_with(&files.input(&[]), &host(), None).is_ok());
}

#[test]
fn builtins_can_be_emptied_and_forced_overrides_apply() {
    let loaded = load_env(&[("ECS_LOGFILE", ""), ("ECS_DATADIR", "")]).unwrap();
    assert_eq!(loaded.config.log.logfile, None);
    assert!(!loaded.config.checkpoint);

    let loaded = load_env(&[
        ("ECS_EXTERNAL", "true"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("ECS_ENABLE_TASK_ENI", "true"),
    ])
    .unwrap();
    assert!(!loaded.config.task_eni_enabled);
    assert!(warned(&loaded, "ECS_ENABLE_TASK_ENI"));
    assert!(loaded.config.external);

    let mut no_ebs = host();
    no_ebs.ebs_mount_dir_exists = false;
    let loaded = load_with(&input(&[]), &no_ebs, None).unwrap();
    assert!(!loaded.config.ebs_task_attach_supported);
    assert!(loaded.warnings.is_empty());
}

#[test]
fn user_data_layer_sits_below_the_json_file() {
    let files = Files::new();
    files.write("config.json", r#"{"Cluster": "json"}"#);
    let ud = r#"{"ECSAgentConfiguration": {"Cluster": "ud", "AWSRegion": "ap-south-1"}}"#;
    let loaded = load_with(&files.input(&[]), &host(), Some(ud)).unwrap();
    assert_eq!(value(&loaded, "ECS_CLUSTER"), "json");
    assert_eq!(value(&loaded, "AWS_DEFAULT_REGION"), "ap-south-1");
    assert_eq!(source(&loaded, "AWS_DEFAULT_REGION"), Source::UserData);

    let bad = r#"{"ECSAgentConfiguration": {"AWSRegion": "ap-south-1", "ReservedMemory": "x"}}"#;
    let loaded = load_with(&files.input(&[]), &host(), Some(bad)).unwrap();
    assert_eq!(value(&loaded, "AWS_DEFAULT_REGION"), "");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.variable.contains("user data"))
    );

    let script = "#!/bin/bash\necho ECS_CLUSTER=x >> /etc/ecs/ecs.config";
    assert!(load_with(&files.input(&[]), &host(), Some(script)).is_ok());
}

#[test]
fn region_and_data_dir_checks() {
    let loaded = load_env(&[]).unwrap();
    let config = loaded.config.with_imds_region(" us-east-2 ");
    assert_eq!(config.region().unwrap(), "us-east-2");
    let config = config.with_imds_region("eu-west-1");
    assert_eq!(config.region().unwrap(), "us-east-2");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().display().to_string();
    let loaded = load_env(&[("ECS_DATADIR", &path)]).unwrap();
    assert!(loaded.config.check_data_dir().is_ok());
    let missing = dir.path().join("missing").display().to_string();
    let loaded = load_env(&[("ECS_DATADIR", &missing)]).unwrap();
    let err = loaded.config.check_data_dir().unwrap_err();
    assert!(err.to_string().contains("ECS_DATADIR"), "{err}");
}

// ---- printing and secrets

const SECRETS: &[(&str, &str)] = &[
    (
        "ECS_ENGINE_AUTH_DATA",
        r#"{"https://index.docker.io/v1/":{"auth":"hunter2-AUTH"}}"#,
    ),
    ("AWS_SECRET_ACCESS_KEY", "hunter2-KEY"),
    ("AWS_SESSION_TOKEN", "hunter2-TOKEN"),
    ("ECS_LOG_OPTS", r#"{"splunk-token":"hunter2-SPLUNK"}"#),
    ("HTTPS_PROXY", "http://user:hunter2-PROXY@proxy:3128"),
];

#[test]
fn render_effective_redacts_every_secret_and_names_sources() {
    let files = Files::new();
    files.write("user.config", "ECS_CLUSTER=file-cluster\n");
    files.write("config.json", r#"{"NoIID": true}"#);
    let loaded = load_with(&files.input(SECRETS), &host(), None).unwrap();
    let text = render_effective(&loaded);
    assert!(!text.contains("hunter2"), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, rest) = line.split_once('=').unwrap();
        assert!(loaded.setting(name).is_some(), "{line}");
        assert!(
            ["(default)", "(file)", "(env)", "(json)", "(user-data)"]
                .iter()
                .any(|s| rest.ends_with(s)),
            "{line}"
        );
    }
    assert_eq!(
        text.lines().count(),
        loaded.settings.len() + DECISIONS.len()
    );
    for line in DECISIONS {
        assert!(line.starts_with("# ") && !line.contains('='), "{line}");
        assert!(parse_ecs_config(line).0.is_empty());
    }
    assert!(text.contains("ECS_ENGINE_AUTH_DATA=<redacted> (env)\n"));
    assert!(text.contains("AWS_SECRET_ACCESS_KEY=<redacted> (env)\n"));
    assert!(text.contains("AWS_SESSION_TOKEN=<redacted> (env)\n"));
    assert!(text.contains("ECS_LOG_OPTS=<redacted> (env)\n"));
    assert!(text.contains("HTTPS_PROXY=http://user:<redacted>@proxy:3128 (env)\n"));
    assert!(text.contains("ECS_CLUSTER=file-cluster (file)\n"));
    assert!(text.contains("NoIID=true (json)\n"));
    assert!(text.contains("ECS_CONTAINER_STOP_TIMEOUT=30s (default)\n"));

    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("hunter2"), "{debug}");
    let debug = format!("{loaded:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    let debug = format!("{:?}", files.input(SECRETS));
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn warnings_for_secrets_do_not_echo_them() {
    let loaded = load_env(&[("ECS_LOG_OPTS", "hunter2-NOT-JSON")]).unwrap();
    let text: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 1);
    assert!(!text[0].contains("hunter2"), "{text:?}");
    let printed = render_effective(&loaded);
    assert!(
        printed.ends_with(&format!("# warning: {}\n", text[0])),
        "{printed}"
    );
    assert!(!printed.contains("hunter2"), "{printed}");
}

#[test]
fn warning_messages_name_variable_value_and_replacement() {
    let loaded = load_env(&[("ECS_IMAGE_CLEANUP_INTERVAL", "5m")]).unwrap();
    assert_eq!(
        loaded.warnings[0].to_string(),
        "ECS_IMAGE_CLEANUP_INTERVAL=\"5m\": below the minimum of 10m; using 30m instead"
    );
    let loaded = load_env(&[("ECS_CONTAINER_CREATE_TIMEOUT", "10s")]).unwrap();
    assert_eq!(
        loaded.warnings[0].to_string(),
        "ECS_CONTAINER_CREATE_TIMEOUT=\"10s\": below the minimum of 1m; using 1m instead"
    );
    let loaded = load_env(&[("ECS_CHECKPOINT", "yes")]).unwrap();
    let text = loaded.warnings[0].to_string();
    assert!(
        text.starts_with("ECS_CHECKPOINT=\"yes\": expected a boolean"),
        "{text}"
    );
    assert!(text.ends_with("; using true instead"), "{text}");
}

#[test]
fn config_input_from_process_reads_the_standard_files() {
    let input = ConfigInput::from_process();
    assert_eq!(
        input.ecs_config_files,
        vec![
            PathBuf::from(INSTANCE_ECS_CONFIG),
            PathBuf::from(USER_ECS_CONFIG)
        ]
    );
    assert_eq!(input.json_file, None);
    assert_eq!(
        input.env.get("PATH").map(String::as_str),
        std::env::var("PATH").ok().as_deref()
    );
}
