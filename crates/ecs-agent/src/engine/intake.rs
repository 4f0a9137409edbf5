//! Intake: turns an ACS `Task` into the engine's validated `TaskSpec` (§2.1 step 1),
//! applying the implicit dependencies and the environment the agent injects.
//! Any error here stops the task with the error text as its reason.

use std::collections::{BTreeMap, HashSet};

use ecs_types::task::{
    AuthenticationType, ContainerCondition, Scope, TransportProtocol, Volume, VolumeType,
};
use ecs_types::{TaskStatus, task};

use super::config::EngineConfig;
use super::mapping::inject_intake_environment;
use super::model::{
    Condition, ContainerSpec, Dependency, MountPointSpec, NetworkMode, PortMappingSpec,
    RegistryAuthKind, RestartPolicySpec, TaskSpec, VolumeFromSpec, VolumeKind, VolumeSpec,
};
use super::naming;
use super::ports::Protocol;

/// Why a task cannot be accepted; the text becomes the task's stopped reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// The task has no ARN: nothing can be reported for it.
    #[error("task has no ARN")]
    MissingArn,
    /// The task is rejected; it is reported STOPPED with this reason.
    #[error("{0}")]
    Invalid(String),
    /// `dependsOn` cannot be ordered (cycle, unknown container, impossible condition).
    #[error("Task dependencies cannot be resolved, taskArn: {0}")]
    Dependencies(String),
}

/// The result of intake: the spec and the desired status from the payload.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub spec: TaskSpec,
    pub desired: TaskStatus,
    /// A `dependsOn` condition outside the model: validation must fail.
    pub unknown_condition: bool,
}

/// Converts and validates an ACS task.
pub fn accept(task: &task::Task, config: &EngineConfig) -> Result<Accepted, IntakeError> {
    let arn = task
        .arn
        .clone()
        .filter(|a| !a.is_empty())
        .ok_or(IntakeError::MissingArn)?;
    let invalid = |msg: String| IntakeError::Invalid(msg);

    let desired = task
        .desired_status()
        .map_err(|e| invalid(e.to_string()))?
        .unwrap_or(TaskStatus::None);
    let family = task.family.clone().unwrap_or_default();
    let version = task.version.clone().unwrap_or_default();

    let network_mode = match task.network_mode.as_deref().unwrap_or("") {
        "" | "bridge" => NetworkMode::Bridge,
        "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        "awsvpc" => {
            return Err(invalid(
                "awsvpc network mode is not supported by this agent (no CNI plugins)".into(),
            ));
        }
        // The reference logs and leaves the mode empty; the backend's raw
        // `NetworkMode` then decides.
        _ => NetworkMode::Bridge,
    };
    for (what, mode) in [("pidMode", &task.pid_mode), ("ipcMode", &task.ipc_mode)] {
        if mode.as_deref() == Some("task") {
            return Err(invalid(format!(
                "{what} 'task' is not supported by this agent (needs the namespace pause container)"
            )));
        }
    }

    let volumes = accept_volumes(task.volumes(), &family, &version)?;

    let raw_containers = task.containers();
    if raw_containers.is_empty() {
        return Err(invalid("task has no containers".into()));
    }
    let mut names = HashSet::new();
    for c in raw_containers {
        if c.name().is_empty() {
            return Err(invalid("container has no name".into()));
        }
        if !names.insert(c.name()) {
            return Err(invalid(format!("duplicate container name {}", c.name())));
        }
    }

    let mut unknown_condition = false;
    let mut containers = Vec::with_capacity(raw_containers.len());
    for c in raw_containers {
        let (spec, unknown) = accept_container(c, &names)?;
        unknown_condition |= unknown;
        containers.push(spec);
    }

    let task_memory = task.memory.unwrap_or(0);
    if config.task_cpu_mem_limit && task_memory > 0 {
        for c in &containers {
            if c.memory > task_memory {
                return Err(invalid(format!(
                    "task memory spec builder: container memory limit({}) greater than task memory limit({})",
                    c.memory, task_memory
                )));
            }
        }
    }

    let credentials_id = credentials_id(&task.role_credentials)?;
    let execution_credentials_id = credentials_id_of(&task.execution_role_credentials)?;

    let mut spec = TaskSpec {
        arn,
        family,
        version,
        network_mode,
        pid_mode: task.pid_mode.clone(),
        ipc_mode: task.ipc_mode.clone(),
        cpu: task.cpu.unwrap_or(0.0),
        memory: task_memory,
        volumes,
        containers,
        credentials_id,
        execution_credentials_id,
        memory_cpu_limits: config.task_cpu_mem_limit,
    };
    inject_intake_environment(&mut spec);
    Ok(Accepted {
        spec,
        desired,
        unknown_condition,
    })
}

fn credentials_id(creds: &Option<task::IAMRoleCredentials>) -> Result<Option<String>, IntakeError> {
    credentials_id_of(creds)
}

fn credentials_id_of(
    creds: &Option<task::IAMRoleCredentials>,
) -> Result<Option<String>, IntakeError> {
    match creds {
        None => Ok(None),
        Some(c) => match c.credentials_id.as_deref() {
            Some(id) if !id.is_empty() => Ok(Some(id.to_owned())),
            _ => Err(IntakeError::Invalid(
                "role credentials without a credentialsId".into(),
            )),
        },
    }
}

fn accept_volumes(
    raw: &[Volume],
    family: &str,
    version: &str,
) -> Result<Vec<VolumeSpec>, IntakeError> {
    let mut out = Vec::with_capacity(raw.len());
    for v in raw {
        let name = v.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(IntakeError::Invalid("volume has no name".into()));
        }
        let task_volume = |driver: String, opts, labels| VolumeKind::Docker {
            docker_name: naming::task_volume_name(family, version, &name),
            task_scoped: true,
            autoprovision: false,
            driver,
            driver_opts: opts,
            labels,
        };
        let kind = match v.volume_type.clone().unwrap_or(VolumeType::Host) {
            VolumeType::Host => {
                let host = v.host.as_ref().ok_or_else(|| {
                    IntakeError::Invalid(format!("host volume {name} has no host member"))
                })?;
                match host.source_path.as_deref() {
                    Some(path) if !path.is_empty() => VolumeKind::HostPath(path.to_owned()),
                    _ => task_volume("local".into(), BTreeMap::new(), BTreeMap::new()),
                }
            }
            VolumeType::Docker => {
                let cfg = v.docker_volume_configuration.as_ref().ok_or_else(|| {
                    IntakeError::Invalid(format!(
                        "docker volume {name} has no dockerVolumeConfiguration"
                    ))
                })?;
                let driver = cfg.driver.clone().unwrap_or_default();
                let opts = cfg.driver_opts.clone().unwrap_or_default();
                let labels = cfg.labels.clone().unwrap_or_default();
                let autoprovision = cfg.autoprovision.unwrap_or(false);
                match cfg.scope.clone().unwrap_or(Scope::Task) {
                    Scope::Shared => VolumeKind::Docker {
                        docker_name: name.clone(),
                        task_scoped: false,
                        autoprovision,
                        driver,
                        driver_opts: opts,
                        labels,
                    },
                    Scope::Task if autoprovision => {
                        return Err(IntakeError::Invalid(format!(
                            "invalid volume {name}: autoprovision is only valid for shared scope"
                        )));
                    }
                    Scope::Task => task_volume(driver, opts, labels),
                    Scope::Other(s) => {
                        return Err(IntakeError::Invalid(format!(
                            "invalid scope {s:?} of volume {name}"
                        )));
                    }
                }
            }
            other => {
                return Err(IntakeError::Invalid(format!(
                    "volume {name} of type {} is not supported by this agent",
                    other.as_str()
                )));
            }
        };
        out.push(VolumeSpec { name, kind });
    }
    Ok(out)
}

fn accept_container(
    c: &task::Container,
    names: &HashSet<&str>,
) -> Result<(ContainerSpec, bool), IntakeError> {
    let name = c.name().to_owned();
    let invalid = |msg: String| IntakeError::Invalid(msg);
    let image = c.image.clone().unwrap_or_default();
    if image.trim().is_empty() {
        return Err(invalid(format!("container {name} has no image")));
    }
    let command = c.effective_command().map_err(|e| invalid(e.to_string()))?;

    let mut port_mappings = Vec::new();
    for pm in c.port_mappings() {
        let protocol = match pm.protocol.clone().unwrap_or(TransportProtocol::Tcp) {
            TransportProtocol::Tcp => Protocol::Tcp,
            TransportProtocol::Udp => Protocol::Udp,
            TransportProtocol::Other(p) => {
                return Err(invalid(format!(
                    "container {name}: unrecognized transport protocol {p:?}"
                )));
            }
        };
        let port = |v: Option<i64>, what: &str| -> Result<u16, IntakeError> {
            u16::try_from(v.unwrap_or(0))
                .map_err(|_| invalid(format!("container {name}: {what} out of range")))
        };
        let container_range = match pm.container_port_range.as_deref() {
            Some(range) if !range.is_empty() => Some(parse_range(range).ok_or_else(|| {
                invalid(format!(
                    "container {name}: invalid containerPortRange {range:?}"
                ))
            })?),
            _ => None,
        };
        port_mappings.push(PortMappingSpec {
            container_port: port(pm.container_port, "containerPort")?,
            host_port: port(pm.host_port, "hostPort")?,
            container_range,
            protocol,
        });
    }

    let mut depends_on = Vec::new();
    let mut unknown_condition = false;
    for d in c.depends_on() {
        let condition = match d.condition.clone() {
            Some(ContainerCondition::Start) => Condition::Start,
            Some(ContainerCondition::Complete) => Condition::Complete,
            Some(ContainerCondition::Success) => Condition::Success,
            Some(ContainerCondition::Healthy) => Condition::Healthy,
            Some(ContainerCondition::Other(_)) | None => {
                unknown_condition = true;
                continue;
            }
        };
        depends_on.push(Dependency {
            container: d.container_name.clone().unwrap_or_default(),
            condition,
        });
    }

    let mut volumes_from = Vec::new();
    for vf in c.volumes_from() {
        let source = vf.source_container.clone().unwrap_or_default();
        if !names.contains(source.as_str()) {
            return Err(invalid(format!(
                "could not find volume source container with name {source}"
            )));
        }
        depends_on.push(Dependency {
            container: source.clone(),
            condition: Condition::Create,
        });
        volumes_from.push(VolumeFromSpec {
            source_container: source,
            read_only: vf.read_only.unwrap_or(false),
        });
    }

    let links = c.links.clone().unwrap_or_default();
    for link in &links {
        let parts: Vec<&str> = link.split(':').collect();
        if parts.len() > 2 {
            return Err(invalid("invalid link format".into()));
        }
        if !names.contains(parts[0]) {
            return Err(invalid(format!("could not find container for link {link}")));
        }
        depends_on.push(Dependency {
            container: parts[0].to_owned(),
            condition: Condition::Start,
        });
    }

    let mount_points = c
        .mount_points()
        .iter()
        .map(|m| MountPointSpec {
            source_volume: m.source_volume.clone().unwrap_or_default(),
            container_path: m.container_path.clone().unwrap_or_default(),
            read_only: m.read_only.unwrap_or(false),
        })
        .collect();

    let registry_auth = match c
        .registry_authentication
        .as_ref()
        .and_then(|r| r.auth_type.clone())
    {
        Some(AuthenticationType::Ecr) => RegistryAuthKind::Unsupported("ecr".into()),
        Some(AuthenticationType::Asm) => RegistryAuthKind::Unsupported("asm".into()),
        _ => RegistryAuthKind::Engine,
    };

    let (docker_config, docker_host_config, docker_version) = match &c.docker_config {
        Some(dc) => (
            dc.config.clone(),
            dc.host_config.clone(),
            dc.version.clone(),
        ),
        None => (None, None, None),
    };

    let non_negative = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
    let spec = ContainerSpec {
        name,
        image,
        command,
        entry_point: c.entry_point.clone(),
        cpu: c.cpu.unwrap_or(0),
        memory: c.memory.unwrap_or(0),
        environment: c.environment.clone().unwrap_or_default(),
        essential: c.is_essential(),
        links,
        port_mappings,
        mount_points,
        volumes_from,
        docker_config,
        docker_host_config,
        docker_version,
        health_check: c
            .health_check_type
            .as_ref()
            .is_some_and(|t| t.as_str() == "docker"),
        depends_on,
        start_timeout: non_negative(c.start_timeout),
        stop_timeout: non_negative(c.stop_timeout),
        v3_endpoint_id: uuid::Uuid::new_v4().to_string(),
        registry_auth,
        restart_policy: c
            .restart_policy
            .as_ref()
            .filter(|p| p.enabled.unwrap_or(false))
            .map(|p| RestartPolicySpec {
                ignored_exit_codes: p.ignored_exit_codes.clone().unwrap_or_default(),
                attempt_period: non_negative(p.restart_attempt_period.or(Some(300))),
            }),
    };
    Ok((spec, unknown_condition))
}

fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (a, b) = text.split_once('-')?;
    let start: u16 = a.trim().parse().ok()?;
    let end: u16 = b.trim().parse().ok()?;
    (start > 0 && end >= start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> task::Task {
        serde_json::from_value(value).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({
            "arn": "arn:aws:ecs:us-east-1:1:task/c/abc", "family": "fam", "version": "2",
            "desiredStatus": "RUNNING",
            "containers": [
                {"name": "db", "image": "busybox", "essential": true},
                {"name": "web", "image": "busybox", "essential": true,
                 "links": ["db:database"], "volumesFrom": [{"sourceContainer": "db", "readOnly": true}],
                 "portMappings": [{"containerPort": 80, "hostPort": 0}],
                 "overrides": "{\"command\":[\"echo\",\"over\"]}",
                 "command": ["echo", "orig"], "stopTimeout": 5, "healthCheckType": "docker"}
            ]
        })
    }

    #[test]
    fn accepts_a_bridge_task_with_implicit_dependencies() {
        let acc = accept(&parse(base()), &EngineConfig::default()).unwrap();
        assert_eq!(acc.desired, TaskStatus::Running);
        let web = &acc.spec.containers[1];
        assert_eq!(web.command, Some(vec!["echo".into(), "over".into()]));
        assert_eq!(
            web.depends_on,
            vec![
                Dependency {
                    container: "db".into(),
                    condition: Condition::Create
                },
                Dependency {
                    container: "db".into(),
                    condition: Condition::Start
                },
            ]
        );
        assert_eq!(web.port_mappings[0].protocol, Protocol::Tcp);
        assert_eq!(web.stop_timeout, 5);
        assert!(web.health_check);
        assert!(web.environment["ECS_CONTAINER_METADATA_URI_V4"].ends_with(&web.v3_endpoint_id));
        assert_ne!(acc.spec.containers[0].v3_endpoint_id, web.v3_endpoint_id);
    }

    #[test]
    fn rejects_malformed_input_with_a_reason() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                json!({"arn": "a/b", "containers": [{"name": "x"}]}),
                "container x has no image",
            ),
            (
                json!({"arn": "a/b", "containers": [{"name": "x", "image": "i", "links": ["nope"]}]}),
                "could not find container for link nope",
            ),
            (
                json!({"arn": "a/b", "containers": [{"name": "x", "image": "i", "links": ["a:b:c"]}]}),
                "invalid link format",
            ),
            (
                json!({"arn": "a/b", "containers": [{"name": "x", "image": "i", "volumesFrom": [{"sourceContainer": "q"}]}]}),
                "could not find volume source container with name q",
            ),
            (
                json!({"arn": "a/b", "containers": [{"name": "x", "image": "i", "overrides": "{\"environment\":[]}"}]}),
                "invalid container overrides",
            ),
            (
                json!({"arn": "a/b", "containers": [{"name": "x", "image": "i", "portMappings": [{"containerPort": 1, "protocol": "sctp"}]}]}),
                "unrecognized transport protocol",
            ),
            (
                json!({"arn": "a/b", "networkMode": "awsvpc", "containers": [{"name": "x", "image": "i"}]}),
                "awsvpc",
            ),
            (
                json!({"arn": "a/b", "memory": 64, "containers": [{"name": "x", "image": "i", "memory": 128}]}),
                "container memory limit(128) greater than task memory limit(64)",
            ),
            (
                json!({"arn": "a/b", "volumes": [{"name": "v", "type": "efs", "efsVolumeConfiguration": {}}], "containers": [{"name": "x", "image": "i"}]}),
                "not supported",
            ),
            (
                json!({"arn": "a/b", "desiredStatus": "BOGUS", "containers": [{"name": "x", "image": "i"}]}),
                "BOGUS",
            ),
        ];
        for (input, expected) in cases {
            let err = accept(&parse(input.clone()), &EngineConfig::default()).unwrap_err();
            assert!(err.to_string().contains(expected), "{input}: {err}");
        }
        let err = accept(&parse(json!({"containers": []})), &EngineConfig::default()).unwrap_err();
        assert_eq!(err, IntakeError::MissingArn);
    }

    #[test]
    fn volumes_get_docker_names() {
        let mut t = base();
        t["volumes"] = json!([
            {"name": "empty", "host": {}},
            {"name": "path", "type": "host", "host": {"sourcePath": "/srv"}},
            {"name": "shared", "type": "docker", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true, "driver": "local"}},
            {"name": "scoped", "type": "docker", "dockerVolumeConfiguration": {"scope": "task", "driver": "local", "labels": {"a": "b"}}}
        ]);
        let acc = accept(&parse(t), &EngineConfig::default()).unwrap();
        let v = &acc.spec.volumes;
        match &v[0].kind {
            VolumeKind::Docker {
                docker_name,
                task_scoped,
                ..
            } => {
                assert!(docker_name.starts_with("ecs-fam-2-empty-"));
                assert!(task_scoped);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(v[1].kind, VolumeKind::HostPath("/srv".into()));
        assert!(
            matches!(&v[2].kind, VolumeKind::Docker { docker_name, task_scoped: false, .. } if docker_name == "shared")
        );
        assert!(
            matches!(&v[3].kind, VolumeKind::Docker { docker_name, labels, .. } if docker_name.starts_with("ecs-fam-2-scoped-") && labels["a"] == "b")
        );
    }

    #[test]
    fn task_role_injects_credentials_uri() {
        let mut t = base();
        t["roleCredentials"] =
            json!({"credentialsId": "cid", "accessKeyId": "k", "secretAccessKey": "s"});
        let acc = accept(&parse(t), &EngineConfig::default()).unwrap();
        for c in &acc.spec.containers {
            assert_eq!(
                c.environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
                "/v2/credentials/cid"
            );
        }
    }

    #[test]
    fn unknown_condition_is_flagged() {
        let mut t = base();
        t["containers"][1]["dependsOn"] = json!([{"containerName": "db", "condition": "WHENEVER"}]);
        assert!(
            accept(&parse(t), &EngineConfig::default())
                .unwrap()
                .unknown_condition
        );
    }
}
