//! The part of the agent configuration the backend reads, so that the backend can be
//! built and tested without a full `Config` (as the engine does with `EngineConfig`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, TaskCpuMemLimit};

/// Instance credentials given in the configuration (`ecs.config` or the environment).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Where the backend's instance credentials come from, besides the SDK defaults.
#[derive(Debug, Clone, Default)]
pub struct CredentialSettings {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` [/ `AWS_SESSION_TOKEN`].
    pub keys: Option<StaticKeys>,
    /// `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `AWS_SHARED_CREDENTIALS_FILE`.
    pub shared_credentials_file: Option<PathBuf>,
    /// `ECS_ALTERNATE_CREDENTIAL_PROFILE`: profile of the rotating credentials file.
    pub alternate_profile: String,
    /// The rotating credentials file (`/rotatingcreds/credentials`).
    pub rotating_file: PathBuf,
    /// `AWS_EC2_METADATA_DISABLED`.
    pub imds_disabled: bool,
}

/// Where ECS API calls go (backend-protocol.md §1.3).
#[derive(Debug, Clone, Default)]
pub struct EndpointSettings {
    /// `ECS_BACKEND_HOST`, with a scheme.
    pub backend_host: Option<String>,
    /// `AWS_ENDPOINT_URL_ECS`: beats `ECS_BACKEND_HOST`.
    pub endpoint_url_ecs: Option<String>,
    /// `AWS_ENDPOINT_URL`: only when `ECS_BACKEND_HOST` is empty.
    pub endpoint_url: Option<String>,
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`: discards all three.
    pub ignore_configured: bool,
}

impl EndpointSettings {
    /// The endpoint override, or `None` for the SDK's regional endpoint.
    pub fn resolve(&self) -> Option<String> {
        if self.ignore_configured {
            return None;
        }
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        nonempty(&self.endpoint_url_ecs)
            .or_else(|| nonempty(&self.backend_host).map(|h| with_scheme(h.trim())))
            .or_else(|| nonempty(&self.endpoint_url))
    }
}

/// `https://` is prepended when the host has no scheme, as the reference does.
pub fn with_scheme(host: &str) -> String {
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    }
}

/// Inputs of the capability list (config-and-lifecycle.md §3.3).
#[derive(Debug, Clone)]
pub struct CapabilitySettings {
    pub privileged_disabled: bool,
    pub selinux_capable: bool,
    pub apparmor_capable: bool,
    /// `ECS_AVAILABLE_LOGGING_DRIVERS`, as names.
    pub logging_drivers: Vec<String>,
    pub task_iam_role: bool,
    pub task_iam_role_network_host: bool,
    pub task_cpu_mem_limit: bool,
    pub docker_health_check_disabled: bool,
    pub awslogs_execution_role_override: bool,
    pub volume_plugin_capabilities: Vec<String>,
    pub ebs_task_attach_supported: bool,
}

impl Default for CapabilitySettings {
    fn default() -> Self {
        Self {
            privileged_disabled: false,
            selinux_capable: false,
            apparmor_capable: false,
            logging_drivers: vec!["json-file".into(), "none".into()],
            task_iam_role: false,
            task_iam_role_network_host: false,
            task_cpu_mem_limit: true,
            docker_health_check_disabled: false,
            awslogs_execution_role_override: false,
            volume_plugin_capabilities: Vec::new(),
            ebs_task_attach_supported: false,
        }
    }
}

/// Everything the backend reads from the configuration.
#[derive(Debug, Clone)]
pub struct BackendSettings {
    /// `ECS_CLUSTER` as configured; empty means `default`.
    pub cluster: String,
    pub region: Option<String>,
    pub endpoints: EndpointSettings,
    pub credentials: CredentialSettings,
    /// `ECS_EXTERNAL`.
    pub external: bool,
    /// `NoIID`: send no identity document (always on external hosts).
    pub no_iid: bool,
    /// `-k`.
    pub accept_insecure_cert: bool,
    /// `-blackhole-ec2-metadata`.
    pub blackhole_ec2_metadata: bool,
    pub reserved_ports: Vec<u16>,
    pub reserved_ports_udp: Vec<u16>,
    pub reserved_memory_mib: u64,
    /// `ECS_INSTANCE_ATTRIBUTES`.
    pub instance_attributes: BTreeMap<String, String>,
    /// `ECS_CONTAINER_INSTANCE_TAGS`.
    pub instance_tags: BTreeMap<String, String>,
    /// `ECS_DETAILED_OS_FAMILY`: `None` unset (`LINUX`), `Some("")` omitted.
    pub detailed_os_family: Option<String>,
    pub capabilities: CapabilitySettings,
    /// `ECS_UPDATES_ENABLED`.
    pub updates_enabled: bool,
    /// `ECS_DISABLE_METRICS`.
    pub metrics_disabled: bool,
    /// `ECS_POLL_METRICS`.
    pub poll_metrics: bool,
    /// `ECS_POLLING_METRICS_WAIT_DURATION`.
    pub polling_metrics_wait: Duration,
}

impl Default for BackendSettings {
    fn default() -> Self {
        Self {
            cluster: String::new(),
            region: None,
            endpoints: EndpointSettings::default(),
            credentials: CredentialSettings {
                rotating_file: PathBuf::from("/rotatingcreds/credentials"),
                alternate_profile: "default".into(),
                ..CredentialSettings::default()
            },
            external: false,
            no_iid: false,
            accept_insecure_cert: false,
            blackhole_ec2_metadata: false,
            reserved_ports: vec![22, 2375, 2376, 51678, 51679],
            reserved_ports_udp: Vec::new(),
            reserved_memory_mib: 0,
            instance_attributes: BTreeMap::new(),
            instance_tags: BTreeMap::new(),
            detailed_os_family: None,
            capabilities: CapabilitySettings::default(),
            updates_enabled: false,
            metrics_disabled: false,
            poll_metrics: false,
            polling_metrics_wait: Duration::from_secs(10),
        }
    }
}

impl BackendSettings {
    /// The cluster registered into: `default` when none is configured.
    pub fn cluster_name(&self) -> &str {
        if self.cluster.is_empty() {
            crate::config::DEFAULT_CLUSTER
        } else {
            &self.cluster
        }
    }

    pub fn from_config(config: &Config, accept_insecure_cert: bool) -> Self {
        let aws = &config.aws;
        let keys = match (&aws.access_key_id, &aws.secret_access_key) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.expose().is_empty() => {
                Some(StaticKeys {
                    access_key_id: id.clone(),
                    secret_access_key: secret.expose().to_owned(),
                    session_token: aws
                        .session_token
                        .as_ref()
                        .map(|t| t.expose().to_owned())
                        .filter(|t| !t.is_empty()),
                })
            }
            _ => None,
        };
        Self {
            cluster: config.cluster.clone(),
            region: config.aws_region.clone().filter(|r| !r.is_empty()),
            endpoints: EndpointSettings {
                backend_host: config.backend_host.clone(),
                endpoint_url_ecs: aws.endpoint_url_ecs.clone(),
                endpoint_url: aws.endpoint_url.clone(),
                ignore_configured: aws.ignore_configured_endpoint_urls,
            },
            credentials: CredentialSettings {
                keys,
                profile: aws.profile.clone(),
                shared_credentials_file: aws.shared_credentials_file.clone(),
                alternate_profile: if aws.alternate_credential_profile.is_empty() {
                    "default".into()
                } else {
                    aws.alternate_credential_profile.clone()
                },
                rotating_file: PathBuf::from("/rotatingcreds/credentials"),
                imds_disabled: aws.ec2_metadata_disabled,
            },
            external: config.external,
            no_iid: config.no_iid || config.external,
            accept_insecure_cert,
            blackhole_ec2_metadata: false,
            reserved_ports: config.reserved_ports.clone(),
            reserved_ports_udp: config.reserved_ports_udp.clone(),
            reserved_memory_mib: u64::from(config.reserved_memory_mib),
            instance_attributes: config.instance_attributes.clone(),
            instance_tags: config.container_instance_tags.clone(),
            detailed_os_family: config.detailed_os_family.clone(),
            capabilities: CapabilitySettings {
                privileged_disabled: config.privileged_disabled,
                selinux_capable: config.selinux_capable,
                apparmor_capable: config.apparmor_capable,
                logging_drivers: config
                    .available_logging_drivers
                    .iter()
                    .map(|d| d.as_str().to_owned())
                    .collect(),
                task_iam_role: config.task_iam_role_enabled,
                task_iam_role_network_host: config.task_iam_role_network_host,
                task_cpu_mem_limit: config.task_cpu_mem_limit != TaskCpuMemLimit::Disabled,
                docker_health_check_disabled: config.docker_health_check_disabled,
                awslogs_execution_role_override: config.awslogs_execution_role_override,
                volume_plugin_capabilities: config.volume_plugin_capabilities.clone(),
                ebs_task_attach_supported: config.ebs_task_attach_supported,
            },
            updates_enabled: config.updates_enabled,
            metrics_disabled: config.metrics_disabled,
            poll_metrics: config.poll_metrics,
            polling_metrics_wait: config.polling_metrics_wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_precedence() {
        let mut e = EndpointSettings {
            backend_host: Some("10.0.0.5:8080".into()),
            ..Default::default()
        };
        assert_eq!(e.resolve().as_deref(), Some("https://10.0.0.5:8080"));
        e.endpoint_url = Some("http://global".into());
        assert_eq!(e.resolve().as_deref(), Some("https://10.0.0.5:8080"));
        e.endpoint_url_ecs = Some("http://ecs-specific".into());
        assert_eq!(e.resolve().as_deref(), Some("http://ecs-specific"));
        e.ignore_configured = true;
        assert_eq!(e.resolve(), None);
        let only_global = EndpointSettings {
            endpoint_url: Some("http://global".into()),
            ..Default::default()
        };
        assert_eq!(only_global.resolve().as_deref(), Some("http://global"));
    }
}
