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
    InitOnlyConfig, IpCompatibility, LoggingDriver, PortRange, PropagateTagsFrom, ProxyUrl, Secret,
    TaskCpuMemLimit, WindowsOnlyConfig, redact_url_password,
};
pub use print::{DECISIONS, REDACTED, SECRET_SETTINGS, render_effective};
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
    let a = assemble::identity(&mut r, json_path, json_path_source);
    let mut reg = assemble::registration(&mut r, host);
    let eng = assemble::engine(&mut r);
    let clean = assemble::cleanup(&mut r, eng.image_pull_behavior);
    let feat = assemble_features::features(&mut r);
    let cg = assemble_features::cgroups(&mut r);
    let net = assemble_features::networking(&mut r);
    let mut met = assemble_features::metrics(&mut r);
    let init = assemble_features::init_only(&mut r);
    let log = assemble_features::logging(&mut r, init.log_driver.as_deref());
    let aws = assemble_features::aws_sdk(&mut r);
    let windows = assemble_features::windows_only(&mut r);
    let json_only = assemble_features::json_only(&mut r);

    validate::clamp_polling_wait(&mut r, &mut met);
    validate::reserve_prometheus_port(reg.prometheus_metrics_enabled, &mut reg.reserved_ports);

    let config = Config {
        cluster: a.cluster,
        aws_region: a.aws_region,
        backend_host: a.backend_host,
        docker_host: a.docker_host,
        external: a.external,
        agent_config_file_path: a.agent_config_file_path,
        data_dir: a.data_dir,
        checkpoint: a.checkpoint,
        host_data_dir: a.host_data_dir,
        updates_enabled: a.updates_enabled,
        update_download_dir: a.update_download_dir,
        detailed_os_family: a.detailed_os_family,
        ssl_cert_dir: a.ssl_cert_dir,
        reserved_ports: reg.reserved_ports,
        reserved_ports_udp: reg.reserved_ports_udp,
        reserved_memory_mib: reg.reserved_memory_mib,
        instance_attributes: reg.instance_attributes,
        container_instance_tags: reg.container_instance_tags,
        container_instance_propagate_tags_from: reg.propagate_tags_from,
        prometheus_metrics_enabled: reg.prometheus_metrics_enabled,
        dynamic_host_port_range: reg.dynamic_host_port_range,
        warm_pools_check: reg.warm_pools_check,
        spot_instance_draining: reg.spot_instance_draining,
        container_stop_timeout: eng.container_stop_timeout,
        container_start_timeout: eng.container_start_timeout,
        container_create_timeout: eng.container_create_timeout,
        manifest_pull_timeout: eng.manifest_pull_timeout,
        image_pull_inactivity_timeout: eng.image_pull_inactivity_timeout,
        image_pull_timeout: eng.image_pull_timeout,
        task_cleanup_wait: eng.task_cleanup_wait,
        task_cleanup_wait_jitter: eng.task_cleanup_wait_jitter,
        dependent_containers_pull_upfront: eng.dependent_containers_pull_upfront,
        image_pull_behavior: eng.image_pull_behavior,
        engine_auth_type: eng.engine_auth_type,
        engine_auth_data: eng.engine_auth_data,
        shared_volume_match_full_config: eng.shared_volume_match_full_config,
        pause_labels: eng.pause_labels,
        image_cleanup_disabled: clean.image_cleanup_disabled,
        image_cleanup_interval: clean.image_cleanup_interval,
        image_minimum_cleanup_age: clean.image_minimum_cleanup_age,
        non_ecs_image_minimum_cleanup_age: clean.non_ecs_image_minimum_cleanup_age,
        num_images_delete_per_cycle: clean.num_images_delete_per_cycle,
        num_non_ecs_containers_delete_per_cycle: clean.num_non_ecs_containers_delete_per_cycle,
        untracked_image_cleanup: clean.untracked_image_cleanup,
        image_cleanup_exclusion_list: clean.image_cleanup_exclusion_list,
        available_logging_drivers: feat.available_logging_drivers,
        privileged_disabled: feat.privileged_disabled,
        selinux_capable: feat.selinux_capable,
        apparmor_capable: feat.apparmor_capable,
        task_iam_role_enabled: feat.task_iam_role_enabled,
        task_iam_role_network_host: feat.task_iam_role_network_host,
        awslogs_execution_role_override: feat.awslogs_execution_role_override,
        docker_health_check_disabled: feat.docker_health_check_disabled,
        container_metadata_enabled: feat.container_metadata_enabled,
        gpu_support_enabled: feat.gpu_support_enabled,
        nvidia_runtime: feat.nvidia_runtime,
        inferentia_support_enabled: feat.inferentia_support_enabled,
        ebs_task_attach_supported: feat.ebs_task_attach_supported,
        volume_plugin_capabilities: feat.volume_plugin_capabilities,
        firelens_async_enabled: feat.firelens_async_enabled,
        gmsa: feat.gmsa,
        task_cpu_mem_limit: cg.task_cpu_mem_limit,
        cgroup_path: cg.cgroup_path,
        cgroup_cpu_period: cg.cgroup_cpu_period,
        task_pids_limit: cg.task_pids_limit,
        propagate_task_memory_limit_cgroupv2: cg.propagate_task_memory_limit_cgroupv2,
        task_eni_enabled: net.task_eni_enabled,
        eni_trunking_enabled: net.eni_trunking_enabled,
        cni_plugins_path: net.cni_plugins_path,
        awsvpc_block_imds: net.awsvpc_block_imds,
        awsvpc_additional_local_routes: net.awsvpc_additional_local_routes,
        instance_ip_compatibility: net.instance_ip_compatibility,
        exclude_ipv6_port_binding: net.exclude_ipv6_port_binding,
        http_proxy: net.http_proxy,
        https_proxy: net.https_proxy,
        no_proxy: net.no_proxy,
        metrics_disabled: met.metrics_disabled,
        poll_metrics: met.poll_metrics,
        polling_metrics_wait: met.polling_metrics_wait,
        task_metadata_steady_state_rate: met.task_metadata_steady_state_rate,
        task_metadata_burst_rate: met.task_metadata_burst_rate,
        task_metadata_az_disabled: met.task_metadata_az_disabled,
        runtime_stats_enabled: met.runtime_stats_enabled,
        agent_healthcheck_host: met.agent_healthcheck_host,
        log,
        aws,
        init,
        windows,
        no_iid: json_only.no_iid,
        pause_container_tarball_path: json_only.pause_container_tarball_path,
        pause_container_image_name: json_only.pause_container_image_name,
        pause_container_tag: json_only.pause_container_tag,
        csi_driver_socket_path: json_only.csi_driver_socket_path,
        runtime_stats_log_file: json_only.runtime_stats_log_file,
        node_stage_timeout: json_only.node_stage_timeout,
        node_unstage_timeout: json_only.node_unstage_timeout,
        eni_pause_container_cleanup_delay: json_only.eni_pause_container_cleanup_delay,
        instance_eni_dns_server_list: json_only.instance_eni_dns_server_list,
        override_awsvpc_local_ipv4_address: json_only.override_awsvpc_local_ipv4_address,
        imds_iam_roles_enabled: json_only.imds_iam_roles_enabled,
    };
    Built {
        config,
        sources: r.sources,
        warnings: r.warnings,
        errors: r.errors,
        consulted: r.consulted,
    }
}
