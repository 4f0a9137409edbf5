//! `dockerConfig`: task definition settings without a first-class ACS member, as the
//! Docker Engine API JSON the agent merges onto its own create request
//! (task-engine.md §5.1, §6.7, §6.12, §6.13).

use ecs_types::docker_config::{
    ContainerConfigFragment, DeviceMapping, HealthCheck, HostConfigFragment, LogConfiguration,
    Ulimit,
};
use ecs_types::task::{
    Device, DeviceCgroupPermission, DockerConfig, KernelCapabilities, LinuxParameters,
};

use super::definition::{ContainerDefinition, DeviceDefinition};

const MIB: i64 = 1024 * 1024;
/// `Init` needs Docker API 1.25; everything else the backend sends works with 1.17.
const INIT_API_VERSION: &str = "1.25";

fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

fn cgroup_permissions(device: &DeviceDefinition) -> String {
    match device.permissions.as_deref() {
        None | Some([]) => "rwm".to_string(),
        Some(list) => {
            let mut out = String::new();
            for (word, letter) in [("read", 'r'), ("write", 'w'), ("mknod", 'm')] {
                if list.iter().any(|p| p == word) {
                    out.push(letter);
                }
            }
            out
        }
    }
}

fn config_fragment(cd: &ContainerDefinition, awsvpc: bool) -> ContainerConfigFragment {
    ContainerConfigFragment {
        hostname: if awsvpc { None } else { cd.hostname.clone() },
        user: cd.user.clone(),
        working_dir: cd.working_directory.clone(),
        labels: cd.docker_labels.clone().filter(|l| !l.is_empty()),
        tty: cd.pseudo_terminal,
        open_stdin: cd.interactive,
        network_disabled: cd.disable_networking,
        healthcheck: cd.health_check.as_ref().map(|h| {
            HealthCheck::from_task_definition(
                h.command.clone(),
                h.interval,
                h.timeout,
                h.retries,
                h.start_period,
            )
        }),
    }
}

fn host_config_fragment(
    cd: &ContainerDefinition,
    network_mode: &str,
    memory: Option<i64>,
    memory_reservation: Option<i64>,
) -> HostConfigFragment {
    let awsvpc = network_mode == "awsvpc";
    let linux = cd.linux_parameters.as_ref();
    let capabilities = linux.and_then(|l| l.capabilities.as_ref());
    let max_swap = linux.and_then(|l| l.max_swap);
    HostConfigFragment {
        // The agent's Docker merge expects both lists, empty or not.
        cap_add: Some(capabilities.and_then(|c| c.add.clone()).unwrap_or_default()),
        cap_drop: Some(
            capabilities
                .and_then(|c| c.drop.clone())
                .unwrap_or_default(),
        ),
        network_mode: Some(network_mode.to_string()),
        memory_reservation: memory_reservation.map(|m| m.saturating_mul(MIB)),
        privileged: cd.privileged,
        readonly_rootfs: cd.readonly_root_filesystem,
        dns: if awsvpc { None } else { cd.dns_servers.clone() },
        dns_search: if awsvpc {
            None
        } else {
            cd.dns_search_domains.clone()
        },
        extra_hosts: if awsvpc {
            None
        } else {
            cd.extra_hosts.as_ref().map(|hosts| {
                hosts
                    .iter()
                    .map(|h| {
                        format!(
                            "{}:{}",
                            h.hostname.as_deref().unwrap_or(""),
                            h.ip_address.as_deref().unwrap_or("")
                        )
                    })
                    .collect()
            })
        },
        security_opt: cd.docker_security_options.clone(),
        ulimits: cd.ulimits.as_ref().map(|list| {
            list.iter()
                .map(|u| Ulimit {
                    name: u.name.clone().unwrap_or_default(),
                    soft: u.soft_limit.unwrap_or(0),
                    hard: u.hard_limit.unwrap_or(0),
                })
                .collect()
        }),
        sysctls: cd.system_controls.as_ref().map(|list| {
            list.iter()
                .filter_map(|s| Some((s.namespace.clone()?, s.value.clone().unwrap_or_default())))
                .collect()
        }),
        log_config: cd.log_configuration.as_ref().map(|l| LogConfiguration {
            log_driver: l.log_driver.clone(),
            config: Some(l.options.clone().unwrap_or_default()),
        }),
        devices: linux.and_then(|l| l.devices.as_ref()).and_then(|devices| {
            non_empty(
                devices
                    .iter()
                    .map(|d| DeviceMapping {
                        path_on_host: d.host_path.clone().unwrap_or_default(),
                        path_in_container: d
                            .container_path
                            .clone()
                            .or_else(|| d.host_path.clone())
                            .unwrap_or_default(),
                        cgroup_permissions: cgroup_permissions(d),
                    })
                    .collect(),
            )
        }),
        init: linux.and_then(|l| l.init_process_enabled),
        shm_size: linux
            .and_then(|l| l.shared_memory_size)
            .map(|m| m.saturating_mul(MIB)),
        tmpfs: linux.and_then(|l| l.tmpfs.as_ref()).map(|mounts| {
            mounts
                .iter()
                .filter_map(|t| {
                    let mut options: Vec<String> = t.mount_options.clone().unwrap_or_default();
                    if let Some(size) = t.size {
                        options.push(format!("size={size}m"));
                    }
                    Some((t.container_path.clone()?, options.join(",")))
                })
                .collect()
        }),
        // Swap is memory + maxSwap; maxSwap 0 therefore means no swap at all.
        memory_swap: max_swap
            .zip(memory)
            .map(|(swap, mem)| mem.saturating_add(swap).saturating_mul(MIB)),
        memory_swappiness: linux.and_then(|l| l.swappiness).or(max_swap.map(|_| 60)),
    }
}

/// The three `dockerConfig` strings of one container.
pub fn docker_config(
    cd: &ContainerDefinition,
    network_mode: &str,
    memory: Option<i64>,
    memory_reservation: Option<i64>,
) -> Result<DockerConfig, serde_json::Error> {
    let config = config_fragment(cd, network_mode == "awsvpc");
    let host_config = host_config_fragment(cd, network_mode, memory, memory_reservation);
    let version = if host_config.init == Some(true) {
        INIT_API_VERSION
    } else {
        DockerConfig::DEFAULT_VERSION
    };
    DockerConfig::from_fragments(&config, &host_config, version)
}

/// The ACS `linuxParameters` member (ignored by the engine, which reads hostConfig, but
/// part of what the service sends).
pub fn acs_linux_parameters(cd: &ContainerDefinition) -> Option<LinuxParameters> {
    let linux = cd.linux_parameters.as_ref()?;
    Some(LinuxParameters {
        capabilities: linux.capabilities.as_ref().map(|c| KernelCapabilities {
            add: c.add.clone(),
            drop: c.drop.clone(),
        }),
        devices: linux.devices.as_ref().map(|devices| {
            devices
                .iter()
                .map(|d| Device {
                    host_path: d.host_path.clone(),
                    container_path: d.container_path.clone(),
                    permissions: d.permissions.as_ref().map(|p| {
                        p.iter()
                            .map(|s| match s.as_str() {
                                "read" => DeviceCgroupPermission::Read,
                                "write" => DeviceCgroupPermission::Write,
                                "mknod" => DeviceCgroupPermission::Mknod,
                                other => DeviceCgroupPermission::Other(other.to_string()),
                            })
                            .collect()
                    }),
                })
                .collect()
        }),
        init_process_enabled: linux.init_process_enabled,
        shared_memory_size: linux.shared_memory_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(value: serde_json::Value) -> ContainerDefinition {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn task_definition_settings_become_docker_json() {
        let cd = definition(json!({
            "name": "web", "image": "nginx", "memory": 256, "memoryReservation": 128,
            "user": "1000", "workingDirectory": "/srv", "dockerLabels": {"team": "x"},
            "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10},
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}},
            "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.2"}],
            "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
            "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"]}, "initProcessEnabled": true,
                "sharedMemorySize": 64, "maxSwap": 512,
                "tmpfs": [{"containerPath": "/run", "size": 32, "mountOptions": ["noexec"]}],
                "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "write"]}]}
        }));
        let dc = docker_config(&cd, "bridge", Some(256), Some(128)).unwrap();
        assert_eq!(dc.version.as_deref(), Some("1.25"));
        let config: serde_json::Value =
            serde_json::from_str(dc.config.as_deref().unwrap()).unwrap();
        assert_eq!(
            config,
            json!({"User": "1000", "WorkingDir": "/srv", "Labels": {"team": "x"},
                "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 10_000_000_000i64,
                    "Timeout": 5_000_000_000i64, "Retries": 3}})
        );
        let host: serde_json::Value =
            serde_json::from_str(dc.host_config.as_deref().unwrap()).unwrap();
        assert_eq!(
            host,
            json!({"CapAdd": ["NET_ADMIN"], "CapDrop": [], "NetworkMode": "bridge",
                "MemoryReservation": 134217728, "ExtraHosts": ["db:10.0.0.2"],
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 4096}],
                "Sysctls": {"net.core.somaxconn": "1024"},
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
                "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"}],
                "Init": true, "ShmSize": 67108864, "Tmpfs": {"/run": "noexec,size=32m"},
                "MemorySwap": 805306368, "MemorySwappiness": 60})
        );
    }

    #[test]
    fn minimal_container_gets_the_default_fragments() {
        let dc = docker_config(&definition(json!({"name": "a"})), "bridge", None, None).unwrap();
        assert_eq!(dc.version.as_deref(), Some("1.17"));
        assert_eq!(dc.config.as_deref(), Some("{}"));
        assert_eq!(
            dc.host_config.as_deref(),
            Some(r#"{"CapAdd":[],"CapDrop":[],"NetworkMode":"bridge"}"#)
        );
    }
}
