//! bollard models -> our types.

use std::collections::HashMap;

use bollard::models::{
    ContainerInspectResponse, ContainerSummary as BContainerSummary, Health, ImageInspect,
    ImageSummary as BImageSummary, PortMap, SystemInfo, Volume,
};
use chrono::{DateTime, Datelike, Utc};

use super::error::DockerError;
use super::types::{
    ContainerDetails, ContainerState, ContainerSummary, EngineInfo, HealthState, HealthStatus,
    ImageDetails, ImageSummary, MountInfo, NetworkAttachment, PortBinding, Protocol, VolumeInfo,
};

/// Docker writes `0001-01-01T00:00:00Z` for "never"; that and anything unparsable is `None`.
pub(crate) fn docker_time(text: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (t.year() > 1).then_some(t)
}

pub(crate) fn container_details(
    c: ContainerInspectResponse,
) -> Result<ContainerDetails, DockerError> {
    let id =
        c.id.ok_or_else(|| DockerError::Decode("container inspect without Id".to_string()))?;
    let config = c.config.unwrap_or_default();
    let host_config = c.host_config.unwrap_or_default();
    let raw = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| DockerError::Decode(format!("container {id}: {e}")))
    };
    let config_json = raw(serde_json::to_value(&config))?;
    let host_config_json = raw(serde_json::to_value(&host_config))?;
    let settings = c.network_settings.unwrap_or_default();
    let state = c.state.unwrap_or_default();
    let state = ContainerState {
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        running: state.running.unwrap_or(false),
        paused: state.paused.unwrap_or(false),
        restarting: state.restarting.unwrap_or(false),
        oom_killed: state.oom_killed.unwrap_or(false),
        dead: state.dead.unwrap_or(false),
        pid: state.pid.unwrap_or(0),
        exit_code: state.exit_code,
        error: state.error.unwrap_or_default(),
        started_at: state.started_at.as_deref().and_then(docker_time),
        finished_at: state.finished_at.as_deref().and_then(docker_time),
        health: state.health.and_then(health),
    };
    let networks = settings
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, n)| NetworkAttachment {
            name,
            network_id: n.network_id.unwrap_or_default(),
            ip_address: n.ip_address.unwrap_or_default(),
            ip_prefix_len: n.ip_prefix_len.unwrap_or(0),
            gateway: n.gateway.unwrap_or_default(),
            ipv6_address: n.global_ipv6_address.unwrap_or_default(),
            mac_address: n.mac_address.unwrap_or_default(),
        })
        .collect();
    let mounts = c
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| MountInfo {
            kind: m.typ.unwrap_or_default(),
            name: m.name.filter(|n| !n.is_empty()),
            source: m.source.unwrap_or_default(),
            destination: m.destination.unwrap_or_default(),
            read_write: m.rw.unwrap_or(false),
        })
        .collect();
    Ok(ContainerDetails {
        id,
        name: c
            .name
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: config.image.unwrap_or_default(),
        image_id: c.image.unwrap_or_default(),
        created: c.created.as_deref().and_then(docker_time),
        state,
        labels: config.labels.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        network_mode: host_config.network_mode.unwrap_or_default(),
        port_bindings: port_bindings(settings.ports.unwrap_or_default())?,
        networks,
        mounts,
        restart_count: c.restart_count.unwrap_or(0),
        config: config_json,
        host_config: host_config_json,
    })
}

fn health(h: Health) -> Option<HealthState> {
    let status = h.status.and_then(|s| HealthStatus::parse(s.as_ref()))?;
    let last = h.log.and_then(|log| log.into_iter().last());
    Some(HealthState {
        status,
        failing_streak: h.failing_streak.unwrap_or(0),
        last_exit_code: last.as_ref().and_then(|l| l.exit_code),
        last_output: last.and_then(|l| l.output),
    })
}

/// `NetworkSettings.Ports`: one binding per host entry; unbound exposed ports have none.
/// An unparsable key or port fails the whole read, as in the reference.
pub(crate) fn port_bindings(ports: PortMap) -> Result<Vec<PortBinding>, DockerError> {
    let mut out = Vec::new();
    for (key, hosts) in ports {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let container_port: u16 = port
            .parse()
            .map_err(|_| DockerError::Decode(format!("unparsable container port '{key}'")))?;
        let protocol = Protocol::parse(proto)
            .ok_or_else(|| DockerError::Decode(format!("unrecognized protocol in '{key}'")))?;
        for host in hosts.unwrap_or_default() {
            let host_port = host.host_port.unwrap_or_default();
            if host_port.is_empty() {
                continue;
            }
            let host_port: u16 = host_port.parse().map_err(|_| {
                DockerError::Decode(format!("unparsable host port '{host_port}' for '{key}'"))
            })?;
            out.push(PortBinding {
                container_port,
                protocol,
                host_ip: host.host_ip.unwrap_or_default(),
                host_port,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.container_port, a.protocol.as_str(), &a.host_ip).cmp(&(
            b.container_port,
            b.protocol.as_str(),
            &b.host_ip,
        ))
    });
    Ok(out)
}

pub(crate) fn image_summary(i: BImageSummary) -> ImageSummary {
    ImageSummary {
        id: i.id,
        repo_tags: i.repo_tags,
        repo_digests: i.repo_digests,
        size: i.size,
        created: i.created,
    }
}

pub(crate) fn image_details(i: ImageInspect) -> ImageDetails {
    let config = i.config.unwrap_or_default();
    ImageDetails {
        id: i.id.unwrap_or_default(),
        repo_tags: i.repo_tags.unwrap_or_default(),
        repo_digests: i.repo_digests.unwrap_or_default(),
        size: i.size.unwrap_or(0),
        env: config.env.unwrap_or_default(),
        labels: config.labels.unwrap_or_default(),
    }
}

pub(crate) fn container_summary(c: BContainerSummary) -> ContainerSummary {
    ContainerSummary {
        id: c.id.unwrap_or_default(),
        names: c
            .names
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .collect(),
        image: c.image.unwrap_or_default(),
        labels: c.labels.unwrap_or_default(),
        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        status: c.status.unwrap_or_default(),
        created: c.created.unwrap_or(0),
    }
}

pub(crate) fn volume_info(v: Volume) -> VolumeInfo {
    VolumeInfo {
        name: v.name,
        driver: v.driver,
        mountpoint: v.mountpoint,
        labels: v.labels,
        options: v.options,
        scope: v.scope.map(|s| s.to_string()).unwrap_or_default(),
    }
}

pub(crate) fn engine_info(i: SystemInfo) -> EngineInfo {
    EngineInfo {
        name: i.name.unwrap_or_default(),
        server_version: i.server_version.unwrap_or_default(),
        cgroup_driver: i.cgroup_driver.map(|d| d.to_string()).unwrap_or_default(),
        cgroup_version: i.cgroup_version.map(|v| v.to_string()).unwrap_or_default(),
        security_options: i.security_options.unwrap_or_default(),
        ncpu: i.ncpu.unwrap_or(0),
        mem_total: i.mem_total.unwrap_or(0),
        os_type: i.os_type.unwrap_or_default(),
    }
}

/// Label filters as Docker's `filters` query wants them.
pub(crate) fn filters(
    labels: &[String],
    name: Option<&str>,
) -> Option<HashMap<String, Vec<String>>> {
    let mut map = HashMap::new();
    if !labels.is_empty() {
        map.insert("label".to_string(), labels.to_vec());
    }
    if let Some(name) = name {
        map.insert("name".to_string(), vec![name.to_string()]);
    }
    (!map.is_empty()).then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_time_is_none() {
        assert_eq!(docker_time("0001-01-01T00:00:00Z"), None);
        assert!(docker_time("2024-05-01T10:00:00.123456789Z").is_some());
    }

    #[test]
    fn bad_port_key_fails_the_read() {
        let ports: PortMap = HashMap::from([("eighty/tcp".to_string(), None)]);
        assert!(port_bindings(ports).is_err());
        let ports: PortMap = HashMap::from([("80/xtp".to_string(), None)]);
        assert!(port_bindings(ports).is_err());
    }
}
