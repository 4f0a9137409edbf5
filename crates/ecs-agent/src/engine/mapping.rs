//! ACS container → Docker create request, field for field (task-engine.md §6).
//!
//! Pure apart from probing free host ports: the agent's own values are built with
//! Docker's canonical keys, the raw `dockerConfig` strings are decoded on top with Go
//! semantics (`merge`), and then the few values the agent insists on are re-applied.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::config::EngineConfig;
use super::errors::{ErrorName, NamedError};
use super::merge::{self, CONFIG, HOST_CONFIG, MergeRawError};
use super::model::{ContainerSpec, NetworkMode, TaskSpec, VolumeKind};
use super::ports::PortAllocator;

pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
pub const LABEL_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
pub const LABEL_VERSION: &str = "com.amazonaws.ecs.task-definition-version";
pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";

const MIB: i64 = 1024 * 1024;
const MIN_MEMORY: i64 = 4 * MIB;
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;

/// The metadata endpoint host every URI points at.
pub const METADATA_HOST: &str = "http://169.254.170.2";

/// What `POST /containers/create` receives.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub name: String,
    pub config: Value,
    pub host_config: Value,
}

/// Inputs that come from the engine's state rather than the task definition.
#[derive(Debug, Clone, Default)]
pub struct CreateContext<'a> {
    /// Docker names already chosen for the task's containers (links, volumesFrom).
    pub docker_names: HashMap<&'a str, &'a str>,
    /// The image's own `Config.Env` (region rule, §6.6 step 4).
    pub image_env: &'a [String],
    /// Task cgroup parent when task limits are on.
    pub cgroup_parent: Option<String>,
    /// Container metadata file bind `(host dir, container dir)` when enabled.
    pub metadata_bind: Option<(String, String)>,
}

/// The environment variables injected at intake (§2.1 step 1.6 and 1.9).
pub fn inject_intake_environment(task: &mut TaskSpec) {
    let credentials = task.credentials_id.clone();
    for container in &mut task.containers {
        if let Some(id) = &credentials {
            container.environment.insert(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".to_owned(),
                format!("/v2/credentials/{id}"),
            );
        }
        let id = container.v3_endpoint_id.clone();
        container.environment.insert(
            "ECS_CONTAINER_METADATA_URI".to_owned(),
            format!("{METADATA_HOST}/v3/{id}"),
        );
        container.environment.insert(
            "ECS_CONTAINER_METADATA_URI_V4".to_owned(),
            format!("{METADATA_HOST}/v4/{id}"),
        );
        container.environment.insert(
            "ECS_AGENT_URI".to_owned(),
            format!("{METADATA_HOST}/api/{id}"),
        );
    }
}

/// Builds the create request for `container` of `task`.
pub fn create_request(
    task: &TaskSpec,
    container: &ContainerSpec,
    docker_name: &str,
    ctx: &CreateContext<'_>,
    config: &EngineConfig,
    ports: &PortAllocator,
) -> Result<CreateRequest, NamedError> {
    let mut container_config = base_config(container, ctx, config);
    let mut host_config = base_host_config(task, container, ctx, ports)?;

    merge::merge_raw(
        &mut container_config,
        container.docker_config.as_deref().unwrap_or(""),
        &CONFIG,
    )
    .map_err(|e| {
        NamedError::new(
            ErrorName::DockerClientConfigError,
            format!("Unable decode given docker config: {}", raw_error(&e)),
        )
    })?;
    merge::merge_raw(
        &mut host_config,
        container.docker_host_config.as_deref().unwrap_or(""),
        &HOST_CONFIG,
    )
    .map_err(|e| {
        NamedError::new(
            ErrorName::HostConfigError,
            format!("Unable to decode given host config: {}", raw_error(&e)),
        )
    })?;

    apply_overrides(
        task,
        container,
        ctx,
        config,
        &mut container_config,
        &mut host_config,
    );

    if container.health_check
        && container_config
            .get("Healthcheck")
            .is_none_or(Value::is_null)
    {
        return Err(NamedError::new(
            ErrorName::DockerClientConfigError,
            "docker health check is nil while container health check type is DOCKER",
        ));
    }
    if config.privileged_disabled && host_config.get("Privileged") == Some(&Value::Bool(true)) {
        return Err(NamedError::new(
            ErrorName::HostConfigError,
            "privileged containers are disabled on this container instance (ECS_DISABLE_PRIVILEGED)",
        ));
    }

    Ok(CreateRequest {
        name: docker_name.to_owned(),
        config: container_config,
        host_config,
    })
}

fn raw_error(err: &MergeRawError) -> String {
    err.to_string()
}

fn base_config(container: &ContainerSpec, ctx: &CreateContext<'_>, config: &EngineConfig) -> Value {
    let mut env: Vec<Value> = container
        .environment
        .iter()
        .map(|(k, v)| Value::String(format!("{k}={v}")))
        .collect();
    if let Some(region) = &config.region {
        let in_env = container.environment.contains_key("AWS_REGION")
            || container.environment.contains_key("AWS_DEFAULT_REGION");
        let in_image = ctx.image_env.iter().any(|kv| {
            let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            key == "AWS_REGION" || key == "AWS_DEFAULT_REGION"
        });
        if !in_env && !in_image {
            env.push(Value::String(format!("AWS_REGION={region}")));
            env.push(Value::String(format!("AWS_DEFAULT_REGION={region}")));
        }
    }

    let mut exposed = Map::new();
    for mapping in &container.port_mappings {
        let proto = mapping.protocol.as_str();
        match mapping.container_range {
            Some((start, end)) => {
                for port in start..=end {
                    exposed.insert(format!("{port}/{proto}"), json!({}));
                }
            }
            None => {
                exposed.insert(format!("{}/{proto}", mapping.container_port), json!({}));
            }
        }
    }

    let mut out = Map::new();
    out.insert("Image".into(), Value::String(container.image.clone()));
    out.insert("Cmd".into(), opt_list(&container.command));
    out.insert("Entrypoint".into(), opt_list(&container.entry_point));
    out.insert("Env".into(), Value::Array(env));
    if !exposed.is_empty() {
        out.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    out.retain(|_, v| !v.is_null());
    Value::Object(out)
}

fn opt_list(list: &Option<Vec<String>>) -> Value {
    match list {
        Some(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
        None => Value::Null,
    }
}

/// CPU units → shares, clamped as the reference does.
pub fn cpu_shares(cpu: i64) -> i64 {
    cpu.clamp(MIN_CPU_SHARES, MAX_CPU_SHARES)
}

/// MiB → bytes; non-zero values below 4 MiB are raised to 4 MiB.
pub fn memory_bytes(memory_mib: i64) -> i64 {
    let bytes = memory_mib.max(0).saturating_mul(MIB);
    if bytes > 0 && bytes < MIN_MEMORY {
        MIN_MEMORY
    } else {
        bytes
    }
}

fn base_host_config(
    task: &TaskSpec,
    container: &ContainerSpec,
    ctx: &CreateContext<'_>,
    ports: &PortAllocator,
) -> Result<Value, NamedError> {
    let host_error = |message: String| NamedError::new(ErrorName::HostConfigError, message);

    let mut links = Vec::new();
    for link in &container.links {
        let (target, alias) = link
            .split_once(':')
            .unwrap_or((link.as_str(), link.as_str()));
        let docker_name = ctx
            .docker_names
            .get(target)
            .ok_or_else(|| host_error(format!("Link target not available: {target}")))?;
        links.push(Value::String(format!("{docker_name}:{alias}")));
    }

    let mut volumes_from = Vec::new();
    for source in &container.volumes_from {
        let docker_name = ctx
            .docker_names
            .get(source.source_container.as_str())
            .ok_or_else(|| {
                host_error(format!(
                    "Volume target not available: {}",
                    source.source_container
                ))
            })?;
        let ro = if source.read_only { ":ro" } else { "" };
        volumes_from.push(Value::String(format!("{docker_name}{ro}")));
    }

    let mut binds = Vec::new();
    for mount in &container.mount_points {
        let volume = task.volume(&mount.source_volume).ok_or_else(|| {
            host_error(format!(
                "Invalid volume referenced: {}",
                mount.source_volume
            ))
        })?;
        let source = match &volume.kind {
            VolumeKind::HostPath(path) => path.as_str(),
            VolumeKind::Docker { docker_name, .. } => docker_name.as_str(),
        };
        if source.is_empty() || mount.container_path.is_empty() {
            return Err(host_error(format!(
                "Unable to resolve volume mounts; invalid path: {}:{}",
                source, mount.container_path
            )));
        }
        let ro = if mount.read_only { ":ro" } else { "" };
        binds.push(Value::String(format!(
            "{source}:{}{ro}",
            mount.container_path
        )));
    }
    if let Some((host_dir, container_dir)) = &ctx.metadata_bind {
        binds.push(Value::String(format!("{host_dir}:{container_dir}")));
    }

    let mut port_bindings: Map<String, Value> = Map::new();
    for mapping in &container.port_mappings {
        let proto = mapping.protocol;
        let pairs: Vec<(u16, u16)> = match mapping.container_range {
            Some((start, end)) => {
                let count = end - start + 1;
                let host_start = ports
                    .allocate_range(count, proto)
                    .map_err(|e| host_error(e.to_string()))?;
                (0..count).map(|i| (start + i, host_start + i)).collect()
            }
            None if mapping.container_port == 0 => continue,
            None => {
                let host = if mapping.host_port == 0 {
                    ports
                        .allocate(proto)
                        .map_err(|e| host_error(e.to_string()))?
                } else {
                    mapping.host_port
                };
                vec![(mapping.container_port, host)]
            }
        };
        for (container_port, host_port) in pairs {
            let key = format!("{container_port}/{}", proto.as_str());
            let entry = port_bindings
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(json!({"HostIp": "", "HostPort": host_port.to_string()}));
            }
        }
    }

    let mut out = Map::new();
    out.insert("Links".into(), Value::Array(links));
    out.insert("Binds".into(), Value::Array(binds));
    out.insert("PortBindings".into(), Value::Object(port_bindings));
    out.insert("VolumesFrom".into(), Value::Array(volumes_from));
    out.insert("Memory".into(), Value::from(memory_bytes(container.memory)));
    out.insert("CpuShares".into(), Value::from(cpu_shares(container.cpu)));
    Ok(Value::Object(out))
}

fn apply_overrides(
    task: &TaskSpec,
    container: &ContainerSpec,
    ctx: &CreateContext<'_>,
    config: &EngineConfig,
    container_config: &mut Value,
    host_config: &mut Value,
) {
    if let Value::Object(host) = host_config {
        if let Some(parent) = &ctx.cgroup_parent {
            host.insert("CgroupParent".into(), Value::String(parent.clone()));
        }
        // Docker's default ring buffer for non-blocking logging is 1 MB; the reference
        // sets 10m when the task definition did not choose.
        if let Some(Value::Object(log_opts)) =
            host.get_mut("LogConfig").and_then(|l| l.get_mut("Config"))
            && log_opts.get("mode").and_then(Value::as_str) == Some("non-blocking")
            && !log_opts.contains_key("max-buffer-size")
        {
            log_opts.insert("max-buffer-size".into(), Value::String("10m".into()));
        }
        if task.pid_mode.as_deref() == Some("host") {
            host.insert("PidMode".into(), Value::String("host".into()));
        }
        if let Some(mode @ ("host" | "none")) = task.ipc_mode.as_deref() {
            host.insert("IpcMode".into(), Value::String(mode.into()));
        }
        if task.network_mode == NetworkMode::Awsvpc {
            // Docker rejects these together with a `container:` network mode.
            for key in ["PortBindings", "Links", "Dns", "DnsSearch", "ExtraHosts"] {
                host.remove(key);
            }
        }
    }
    if let Value::Object(cfg) = container_config {
        let labels = cfg
            .entry("Labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Value::Object(labels) = labels {
            for (key, value) in agent_labels(task, container, config) {
                labels.insert(key.to_owned(), Value::String(value));
            }
        }
        if let Some((_, container_dir)) = &ctx.metadata_bind {
            let env = cfg.entry("Env").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(env) = env {
                env.push(Value::String(format!(
                    "ECS_CONTAINER_METADATA_FILE={container_dir}/ecs-container-metadata.json"
                )));
            }
        }
    }
}

/// The five labels every task container carries.
pub fn agent_labels(
    task: &TaskSpec,
    container: &ContainerSpec,
    config: &EngineConfig,
) -> [(&'static str, String); 5] {
    let cluster = if config.cluster.is_empty() {
        "default".to_owned()
    } else {
        config.cluster.clone()
    };
    [
        (LABEL_TASK_ARN, task.arn.clone()),
        (LABEL_CONTAINER_NAME, container.name.clone()),
        (LABEL_FAMILY, task.family.clone()),
        (LABEL_VERSION, task.version.clone()),
        (LABEL_CLUSTER, cluster),
    ]
}

/// `/ecs/<taskId>`: the cgroup v1 parent of a task's containers.
pub fn cgroup_parent(task: &TaskSpec) -> String {
    format!("/ecs/{}", task.id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{
        Dependency, MountPointSpec, PortMappingSpec, RegistryAuthKind, VolumeFromSpec, VolumeSpec,
    };
    use crate::engine::ports::Protocol;
    use std::collections::BTreeMap;

    fn container(name: &str) -> ContainerSpec {
        ContainerSpec {
            name: name.to_owned(),
            image: "nginx:1.25".to_owned(),
            command: None,
            entry_point: None,
            cpu: 0,
            memory: 0,
            environment: BTreeMap::new(),
            essential: true,
            links: vec![],
            port_mappings: vec![],
            mount_points: vec![],
            volumes_from: vec![],
            docker_config: None,
            docker_host_config: None,
            docker_version: None,
            health_check: false,
            depends_on: vec![],
            start_timeout: 0,
            stop_timeout: 0,
            v3_endpoint_id: "uuid-1".to_owned(),
            registry_auth: RegistryAuthKind::Engine,
            restart_policy: None,
        }
    }

    fn task(containers: Vec<ContainerSpec>) -> TaskSpec {
        TaskSpec {
            arn: "arn:aws:ecs:us-east-1:123456789012:task/c1/0f1e".to_owned(),
            family: "web".to_owned(),
            version: "3".to_owned(),
            network_mode: NetworkMode::Bridge,
            pid_mode: None,
            ipc_mode: None,
            cpu: 0.0,
            memory: 0,
            volumes: vec![],
            containers,
            credentials_id: None,
            execution_credentials_id: None,
            memory_cpu_limits: true,
        }
    }

    fn cfg() -> EngineConfig {
        EngineConfig {
            cluster: "c1".to_owned(),
            ..EngineConfig::default()
        }
    }

    fn ports() -> PortAllocator {
        PortAllocator::new((43000, 43999))
    }

    fn build(
        task: &TaskSpec,
        idx: usize,
        ctx: &CreateContext<'_>,
        config: &EngineConfig,
    ) -> Result<CreateRequest, NamedError> {
        create_request(
            task,
            &task.containers[idx],
            "ecs-web-3-web-00",
            ctx,
            config,
            &ports(),
        )
    }

    #[test]
    fn spec_example_section_6_16() {
        let mut c = container("web");
        c.memory = 128;
        c.essential = true;
        c.port_mappings = vec![PortMappingSpec {
            container_port: 80,
            host_port: 0,
            container_range: None,
            protocol: Protocol::Tcp,
        }];
        c.environment.insert("A".into(), "1".into());
        c.docker_config = Some(r#"{"Labels":{"team":"x"}}"#.into());
        c.docker_host_config = Some(
            r#"{"NetworkMode":"bridge","MemoryReservation":67108864,"CapAdd":[],"CapDrop":[]}"#
                .into(),
        );
        let mut t = task(vec![c]);
        inject_intake_environment(&mut t);
        let config = EngineConfig {
            region: Some("us-east-1".into()),
            ..cfg()
        };
        let ctx = CreateContext {
            cgroup_parent: Some(cgroup_parent(&t)),
            ..CreateContext::default()
        };
        let req = build(&t, 0, &ctx, &config).unwrap();
        assert_eq!(req.config["Image"], "nginx:1.25");
        assert_eq!(req.config["ExposedPorts"], json!({"80/tcp": {}}));
        let env: Vec<&str> = req.config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for expected in [
            "A=1",
            "ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/uuid-1",
            "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/uuid-1",
            "ECS_AGENT_URI=http://169.254.170.2/api/uuid-1",
            "AWS_REGION=us-east-1",
            "AWS_DEFAULT_REGION=us-east-1",
        ] {
            assert!(env.contains(&expected), "{expected} missing from {env:?}");
        }
        assert!(
            !env.iter()
                .any(|e| e.starts_with("AWS_CONTAINER_CREDENTIALS"))
        );
        assert_eq!(
            req.config["Labels"],
            json!({"team": "x",
                "com.amazonaws.ecs.task-arn": "arn:aws:ecs:us-east-1:123456789012:task/c1/0f1e",
                "com.amazonaws.ecs.container-name": "web",
                "com.amazonaws.ecs.task-definition-family": "web",
                "com.amazonaws.ecs.task-definition-version": "3",
                "com.amazonaws.ecs.cluster": "c1"})
        );
        let hc = &req.host_config;
        assert_eq!(hc["Binds"], json!([]));
        assert_eq!(hc["Links"], json!([]));
        assert_eq!(hc["VolumesFrom"], json!([]));
        let host_port: u16 = hc["PortBindings"]["80/tcp"][0]["HostPort"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((43000..=43999).contains(&host_port));
        assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostIp"], "");
        assert_eq!(hc["Memory"], 134217728);
        assert_eq!(hc["MemoryReservation"], 67108864);
        assert_eq!(hc["CpuShares"], 2);
        assert_eq!(hc["NetworkMode"], "bridge");
        assert_eq!(hc["CapAdd"], json!([]));
        assert_eq!(hc["CgroupParent"], "/ecs/0f1e");
    }

    #[test]
    fn credentials_uri_injected_for_task_role() {
        let mut t = task(vec![container("a"), container("b")]);
        t.credentials_id = Some("cred-1".into());
        t.containers[0].environment.insert(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".into(),
            "user".into(),
        );
        inject_intake_environment(&mut t);
        for c in &t.containers {
            assert_eq!(
                c.environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
                "/v2/credentials/cred-1"
            );
        }
    }

    #[test]
    fn region_not_added_when_set_by_user_or_image() {
        let config = EngineConfig {
            region: Some("eu-west-1".into()),
            ..cfg()
        };
        let mut c = container("web");
        c.environment.insert("AWS_REGION".into(), "x".into());
        let t = task(vec![c]);
        let req = build(&t, 0, &CreateContext::default(), &config).unwrap();
        assert!(!req.config["Env"].to_string().contains("AWS_DEFAULT_REGION"));

        let t = task(vec![container("web")]);
        let image_env = vec!["AWS_DEFAULT_REGION=us-west-2".to_owned()];
        let ctx = CreateContext {
            image_env: &image_env,
            ..CreateContext::default()
        };
        let req = build(&t, 0, &ctx, &config).unwrap();
        assert!(!req.config["Env"].to_string().contains("eu-west-1"));
    }

    #[test]
    fn cpu_shares_clamped() {
        assert_eq!(cpu_shares(0), 2);
        assert_eq!(cpu_shares(1), 2);
        assert_eq!(cpu_shares(512), 512);
        assert_eq!(cpu_shares(1_000_000), 262_144);
    }

    #[test]
    fn memory_minimum() {
        assert_eq!(memory_bytes(0), 0);
        assert_eq!(memory_bytes(1), 4 * MIB);
        assert_eq!(memory_bytes(4), 4 * MIB);
        assert_eq!(memory_bytes(512), 512 * MIB);
    }

    #[test]
    fn cmd_entrypoint_absent_or_given() {
        let mut c = container("web");
        c.command = Some(vec!["sh".into(), "-c".into(), "echo hi".into()]);
        let t = task(vec![c]);
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        assert_eq!(req.config["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert!(req.config.get("Entrypoint").is_none());
    }

    #[test]
    fn links_volumes_from_and_binds() {
        let mut web = container("web");
        web.links = vec!["db:database".into(), "cache".into()];
        web.volumes_from = vec![VolumeFromSpec {
            source_container: "data".into(),
            read_only: true,
        }];
        web.mount_points = vec![
            MountPointSpec {
                source_volume: "hostvol".into(),
                container_path: "/h".into(),
                read_only: true,
            },
            MountPointSpec {
                source_volume: "scratch".into(),
                container_path: "/s".into(),
                read_only: false,
            },
        ];
        web.depends_on = vec![Dependency {
            container: "db".into(),
            condition: crate::engine::model::Condition::Start,
        }];
        let mut t = task(vec![web]);
        t.volumes = vec![
            VolumeSpec {
                name: "hostvol".into(),
                kind: VolumeKind::HostPath("/srv/x".into()),
            },
            VolumeSpec {
                name: "scratch".into(),
                kind: VolumeKind::Docker {
                    docker_name: "ecs-web-3-scratch-aa".into(),
                    task_scoped: true,
                    autoprovision: false,
                    driver: "local".into(),
                    driver_opts: BTreeMap::new(),
                    labels: BTreeMap::new(),
                },
            },
        ];
        let ctx = CreateContext {
            docker_names: HashMap::from([
                ("db", "ecs-web-3-db-11"),
                ("cache", "ecs-web-3-cache-22"),
                ("data", "ecs-web-3-data-33"),
            ]),
            ..CreateContext::default()
        };
        let req = build(&t, 0, &ctx, &cfg()).unwrap();
        assert_eq!(
            req.host_config["Links"],
            json!(["ecs-web-3-db-11:database", "ecs-web-3-cache-22:cache"])
        );
        assert_eq!(
            req.host_config["VolumesFrom"],
            json!(["ecs-web-3-data-33:ro"])
        );
        assert_eq!(
            req.host_config["Binds"],
            json!(["/srv/x:/h:ro", "ecs-web-3-scratch-aa:/s"])
        );
    }

    #[test]
    fn unknown_link_and_volume_are_host_config_errors() {
        let mut c = container("web");
        c.links = vec!["ghost".into()];
        let t = task(vec![c]);
        let err = build(&t, 0, &CreateContext::default(), &cfg()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "HostConfigError: Link target not available: ghost"
        );

        let mut c = container("web");
        c.mount_points = vec![MountPointSpec {
            source_volume: "nope".into(),
            container_path: "/x".into(),
            read_only: false,
        }];
        let t = task(vec![c]);
        let err = build(&t, 0, &CreateContext::default(), &cfg()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "HostConfigError: Invalid volume referenced: nope"
        );
    }

    #[test]
    fn static_ports_ranges_and_udp() {
        let mut c = container("web");
        c.port_mappings = vec![
            PortMappingSpec {
                container_port: 53,
                host_port: 5353,
                container_range: None,
                protocol: Protocol::Udp,
            },
            PortMappingSpec {
                container_port: 53,
                host_port: 5354,
                container_range: None,
                protocol: Protocol::Udp,
            },
            PortMappingSpec {
                container_port: 0,
                host_port: 0,
                container_range: Some((8000, 8002)),
                protocol: Protocol::Tcp,
            },
        ];
        let t = task(vec![c]);
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        let pb = &req.host_config["PortBindings"];
        assert_eq!(
            pb["53/udp"],
            json!([{"HostIp": "", "HostPort": "5353"}, {"HostIp": "", "HostPort": "5354"}])
        );
        let h0: u16 = pb["8000/tcp"][0]["HostPort"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let h2: u16 = pb["8002/tcp"][0]["HostPort"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(h2, h0 + 2);
        assert_eq!(
            req.config["ExposedPorts"],
            json!({"53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}})
        );
    }

    #[test]
    fn raw_host_config_fields_pass_through() {
        let mut c = container("web");
        c.docker_host_config = Some(
            r#"{"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":4096}],"CapAdd":["NET_ADMIN"],"CapDrop":["MKNOD"],
               "Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/n","CgroupPermissions":"rw"}],
               "Init":true,"ShmSize":67108864,"Tmpfs":{"/run":"rw,size=65536k"},"MemorySwap":268435456,
               "MemorySwappiness":60,"ReadonlyRootfs":true,"Dns":["1.1.1.1"],"DnsSearch":["example.com"],
               "ExtraHosts":["h:10.0.0.1"],"SecurityOpt":["no-new-privileges"],"Sysctls":{"net.core.somaxconn":"1024"},
               "LogConfig":{"Type":"json-file","Config":{"max-size":"10m"}},"PidMode":"host","IpcMode":"host",
               "Privileged":false,"CpuShares":1024}"#
                .into(),
        );
        c.docker_config = Some(
            r#"{"User":"nobody","WorkingDir":"/tmp","Hostname":"h1","Labels":{"com.amazonaws.ecs.cluster":"spoof"}}"#
                .into(),
        );
        let t = task(vec![c]);
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        let hc = &req.host_config;
        assert_eq!(
            hc["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 4096}])
        );
        assert_eq!(hc["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(hc["CapDrop"], json!(["MKNOD"]));
        assert_eq!(hc["Devices"][0]["PathInContainer"], "/dev/n");
        assert_eq!(hc["Init"], true);
        assert_eq!(hc["ShmSize"], 67108864);
        assert_eq!(hc["Tmpfs"]["/run"], "rw,size=65536k");
        assert_eq!(hc["MemorySwap"], 268435456);
        assert_eq!(hc["MemorySwappiness"], 60);
        assert_eq!(hc["ReadonlyRootfs"], true);
        assert_eq!(hc["Dns"], json!(["1.1.1.1"]));
        assert_eq!(hc["DnsSearch"], json!(["example.com"]));
        assert_eq!(hc["ExtraHosts"], json!(["h:10.0.0.1"]));
        assert_eq!(hc["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(hc["Sysctls"]["net.core.somaxconn"], "1024");
        assert_eq!(hc["LogConfig"]["Type"], "json-file");
        assert_eq!(hc["PidMode"], "host");
        assert_eq!(hc["CpuShares"], 1024);
        assert_eq!(req.config["User"], "nobody");
        assert_eq!(req.config["WorkingDir"], "/tmp");
        assert_eq!(req.config["Hostname"], "h1");
        // Agent labels win over raw ones.
        assert_eq!(req.config["Labels"]["com.amazonaws.ecs.cluster"], "c1");
    }

    #[test]
    fn non_blocking_log_mode_gets_a_buffer_size() {
        let mut c = container("web");
        c.docker_host_config =
            Some(r#"{"LogConfig":{"Type":"json-file","Config":{"mode":"non-blocking"}}}"#.into());
        let t = task(vec![c.clone()]);
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        assert_eq!(
            req.host_config["LogConfig"]["Config"],
            json!({"mode": "non-blocking", "max-buffer-size": "10m"})
        );
        c.docker_host_config = Some(
            r#"{"LogConfig":{"Type":"json-file","Config":{"mode":"non-blocking","max-buffer-size":"4m"}}}"#.into(),
        );
        let t = task(vec![c]);
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        assert_eq!(
            req.host_config["LogConfig"]["Config"]["max-buffer-size"],
            "4m"
        );
    }

    #[test]
    fn task_pid_ipc_mode_override_raw() {
        let mut c = container("web");
        c.docker_host_config = Some(r#"{"PidMode":"","IpcMode":"private"}"#.into());
        let mut t = task(vec![c]);
        t.pid_mode = Some("host".into());
        t.ipc_mode = Some("none".into());
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        assert_eq!(req.host_config["PidMode"], "host");
        assert_eq!(req.host_config["IpcMode"], "none");
    }

    #[test]
    fn privileged_refused_when_disabled() {
        let mut c = container("web");
        c.docker_host_config = Some(r#"{"Privileged":true}"#.into());
        let t = task(vec![c]);
        assert!(build(&t, 0, &CreateContext::default(), &cfg()).is_ok());
        let config = EngineConfig {
            privileged_disabled: true,
            ..cfg()
        };
        let err = build(&t, 0, &CreateContext::default(), &config).unwrap_err();
        assert_eq!(err.name, ErrorName::HostConfigError);
    }

    #[test]
    fn health_check_type_requires_a_docker_health_check() {
        let mut c = container("web");
        c.health_check = true;
        let t = task(vec![c.clone()]);
        let err = build(&t, 0, &CreateContext::default(), &cfg()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DockerClientConfigError: docker health check is nil while container health check type is DOCKER"
        );
        c.docker_config =
            Some(r#"{"HealthCheck":{"Test":["CMD","true"],"Interval":1000000000}}"#.into());
        let t = task(vec![c]);
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        assert_eq!(req.config["Healthcheck"]["Test"], json!(["CMD", "true"]));
    }

    #[test]
    fn bad_raw_json_names_the_right_error() {
        let mut c = container("web");
        c.docker_config = Some(r#"{"Env":"A=1"}"#.into());
        let t = task(vec![c]);
        let err = build(&t, 0, &CreateContext::default(), &cfg()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("DockerClientConfigError: Unable decode given docker config: ")
        );
        let mut c = container("web");
        c.docker_host_config = Some("{oops".into());
        let t = task(vec![c]);
        let err = build(&t, 0, &CreateContext::default(), &cfg()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("HostConfigError: Unable to decode given host config: ")
        );
    }

    #[test]
    fn raw_env_and_binds_replace_agent_lists() {
        let mut c = container("web");
        c.environment.insert("A".into(), "1".into());
        c.docker_config = Some(r#"{"Env":["ONLY=raw"]}"#.into());
        let t = task(vec![c]);
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        assert_eq!(req.config["Env"], json!(["ONLY=raw"]));
    }

    #[test]
    fn metadata_bind_and_file_env_added_after_merge() {
        let mut c = container("web");
        c.docker_config = Some(r#"{"Env":["ONLY=raw"]}"#.into());
        let t = task(vec![c]);
        let ctx = CreateContext {
            metadata_bind: Some((
                "/var/lib/ecs/data/metadata/0f1e/web".into(),
                "/opt/ecs/metadata/u1".into(),
            )),
            ..CreateContext::default()
        };
        let req = build(&t, 0, &ctx, &cfg()).unwrap();
        assert_eq!(
            req.config["Env"],
            json!([
                "ONLY=raw",
                "ECS_CONTAINER_METADATA_FILE=/opt/ecs/metadata/u1/ecs-container-metadata.json"
            ])
        );
        assert_eq!(
            req.host_config["Binds"],
            json!(["/var/lib/ecs/data/metadata/0f1e/web:/opt/ecs/metadata/u1"])
        );
    }

    #[test]
    fn awsvpc_drops_fields_docker_rejects() {
        let mut c = container("web");
        c.docker_host_config = Some(r#"{"Dns":["1.1.1.1"]}"#.into());
        c.port_mappings = vec![PortMappingSpec {
            container_port: 80,
            host_port: 80,
            container_range: None,
            protocol: Protocol::Tcp,
        }];
        let mut t = task(vec![c]);
        t.network_mode = NetworkMode::Awsvpc;
        let req = build(&t, 0, &CreateContext::default(), &cfg()).unwrap();
        assert!(req.host_config.get("PortBindings").is_none());
        assert!(req.host_config.get("Dns").is_none());
    }
}
