//! Builds the metadata objects of a task snapshot (spec endpoints §1.4, §4.2–§4.4).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use ecs_types::{ContainerStatus, TaskStatus};

use super::EndpointState;
use super::json::to_go_json;
use super::model::*;
use super::source::{AcsTaskInfo, Inspected, log_config};
use crate::engine::TaskSnapshot;
use crate::engine::model::{ContainerSpec, NetworkMode};
use crate::engine::state::{ContainerState, Health as EngineHealth};

/// Which metadata version a container object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    V2,
    V3,
    V4,
}

pub fn task_status(s: TaskStatus) -> &'static str {
    match s {
        // The reference has no name for its internal PULLED task state (quirk 5).
        TaskStatus::Pulled => "NONE",
        other => other.as_str(),
    }
}

fn network_mode_name(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Bridge => "bridge",
        NetworkMode::Host => "host",
        NetworkMode::None => "none",
        NetworkMode::Awsvpc => "awsvpc",
    }
}

/// The engine's containers the agent has begun to create (a name was chosen).
pub fn begun(task: &TaskSnapshot) -> impl Iterator<Item = usize> + '_ {
    (0..task.containers.len()).filter(|&i| task.containers[i].docker_name.is_some())
}

fn ports(state: &ContainerState, host_ip: bool) -> Vec<Port> {
    state
        .bindings
        .iter()
        .map(|b| Port {
            container_port: b.container_port,
            protocol: b.protocol.as_str().to_owned(),
            host_port: b.host_port,
            host_ip: if host_ip {
                b.bind_ip.clone()
            } else {
                String::new()
            },
        })
        .collect()
}

/// Docker networks of a non-awsvpc container (§4.3); IPv6 only in v4.
pub fn docker_networks(task: &TaskSnapshot, inspected: &Inspected, v4: bool) -> Vec<Network> {
    let details = &inspected.details;
    if details.networks.is_empty() {
        let mode = if details.network_mode.is_empty() {
            network_mode_name(task.spec.network_mode).to_owned()
        } else {
            details.network_mode.clone()
        };
        return vec![Network {
            network_mode: mode,
            ipv4_addresses: vec![String::new()],
            ipv6_addresses: Vec::new(),
        }];
    }
    let mut nets: Vec<Network> = details
        .networks
        .iter()
        .map(|n| Network {
            network_mode: n.name.clone(),
            ipv4_addresses: vec![n.ip_address.clone()],
            ipv6_addresses: if v4 && !n.ipv6_address.is_empty() {
                vec![n.ipv6_address.clone()]
            } else {
                Vec::new()
            },
        })
        .collect();
    nets.sort_by(|a, b| a.network_mode.cmp(&b.network_mode));
    nets
}

fn volumes(inspected: Option<&Inspected>) -> Vec<Volume> {
    inspected
        .map(|i| {
            i.details
                .mounts
                .iter()
                .map(|m| Volume {
                    docker_name: m.name.clone().unwrap_or_default(),
                    source: m.source.clone(),
                    destination: m.destination.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn health(
    spec: &ContainerSpec,
    state: &ContainerState,
    inspected: Option<&Inspected>,
) -> Option<Health> {
    if !spec.health_check {
        return None;
    }
    let docker_health = inspected.and_then(|i| i.details.state.health.as_ref());
    Some(Health {
        status: match state.health {
            EngineHealth::Unknown => None,
            EngineHealth::Healthy => Some("HEALTHY"),
            EngineHealth::Unhealthy => Some("UNHEALTHY"),
        },
        status_since: inspected.and_then(|i| i.health_since),
        exit_code: docker_health.and_then(|h| h.last_exit_code).unwrap_or(0),
        output: docker_health
            .and_then(|h| h.last_output.clone())
            .unwrap_or_default(),
    })
}

fn base(
    spec: &ContainerSpec,
    state: &ContainerState,
    inspected: Option<&Inspected>,
    v4: bool,
) -> ContainerBase {
    ContainerBase {
        docker_id: state.docker_id.clone().unwrap_or_default(),
        name: spec.name.clone(),
        docker_name: state.docker_name.clone().unwrap_or_default(),
        image: spec.image.clone(),
        image_id: inspected
            .map(|i| i.details.image_id.clone())
            .unwrap_or_default(),
        ports: ports(state, v4),
        labels: inspected
            .map(|i| {
                i.details
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
        desired_status: state.desired.as_str(),
        known_status: state.known.as_str(),
        exit_code: state.exit_code,
        limits: ContainerLimits {
            cpu: (spec.cpu.max(2)) as f64,
            memory: spec.memory,
        },
        created_at: state
            .created_at
            .or_else(|| inspected.and_then(|i| i.details.created)),
        started_at: state.started_at,
        finished_at: state.finished_at,
        kind: "NORMAL",
    }
}

/// The v4 container object from its inputs; `Err` carries the Docker ID when Docker has
/// no record of the container (networks unavailable).
fn container_v4_from(
    task: &TaskSnapshot,
    idx: usize,
    inspected: Option<Inspected>,
    acs: Option<&AcsTaskInfo>,
) -> Result<ContainerV4, String> {
    let (spec, state) = task.pair(idx);
    let networks = match (&inspected, state.docker_id.as_deref()) {
        (Some(i), _) if task.spec.network_mode != NetworkMode::Awsvpc => {
            docker_networks(task, i, true)
        }
        (None, Some(id)) => return Err(id.to_owned()),
        _ => Vec::new(),
    };
    let (log_driver, log_options) = log_config(spec.docker_host_config.as_deref());
    let acs_container = acs.and_then(|a| a.containers.get(&spec.name).cloned());
    Ok(ContainerV4 {
        base: base(spec, state, inspected.as_ref(), true),
        health: health(spec, state, inspected.as_ref()),
        volumes: volumes(inspected.as_ref()),
        log_driver: log_driver.unwrap_or_default(),
        log_options,
        container_arn: acs_container
            .as_ref()
            .and_then(|c| c.container_arn.clone())
            .unwrap_or_default(),
        networks,
        restart_count: match acs_container {
            Some(c) if c.restart_policy_enabled => {
                Some(inspected.as_ref().map_or(0, |i| i.details.restart_count))
            }
            _ => None,
        },
    })
}

impl EndpointState {
    /// The inspect result of container `idx`, if it has a Docker ID Docker still knows.
    pub async fn inspected(&self, task: &TaskSnapshot, idx: usize) -> Option<Inspected> {
        let st = &task.containers[idx];
        let id = st.docker_id.as_deref()?;
        self.details.get(id, st.known, st.health).await
    }

    /// The v2/v3 container object; `Err` carries the Docker ID when v3 needs Docker
    /// networks that are not available.
    pub async fn container_v3(
        &self,
        task: &TaskSnapshot,
        idx: usize,
        flavor: Flavor,
    ) -> Result<ContainerV3, String> {
        let (spec, state) = task.pair(idx);
        let inspected = self.inspected(task, idx).await;
        let networks = if flavor == Flavor::V3 && task.spec.network_mode != NetworkMode::Awsvpc {
            match &inspected {
                Some(i) => docker_networks(task, i, false),
                None => return Err(state.docker_id.clone().unwrap_or_default()),
            }
        } else {
            Vec::new()
        };
        Ok(ContainerV3 {
            base: base(spec, state, inspected.as_ref(), false),
            networks,
            health: health(spec, state, inspected.as_ref()),
            volumes: volumes(inspected.as_ref()),
        })
    }

    /// The v4 container object; `Err` carries the Docker ID when Docker has no record
    /// of the container (networks unavailable).
    pub async fn container_v4(
        &self,
        task: &TaskSnapshot,
        idx: usize,
    ) -> Result<ContainerV4, String> {
        let inspected = self.inspected(task, idx).await;
        let acs = self.acs.get(&task.spec.arn);
        container_v4_from(task, idx, inspected, acs.as_deref())
    }

    fn task_head(&self, task: &TaskSnapshot) -> TaskHead {
        TaskHead {
            cluster: self.instance.cluster.clone(),
            task_arn: task.spec.arn.clone(),
            family: task.spec.family.clone(),
            revision: task.spec.version.clone(),
            desired_status: task_status(task.desired),
            known_status: task_status(task.known),
        }
    }

    fn task_middle(&self, task: &TaskSnapshot) -> TaskMiddle {
        let cpu = (task.spec.cpu != 0.0).then_some(task.spec.cpu);
        let memory = (task.spec.memory != 0).then_some(task.spec.memory);
        TaskMiddle {
            limits: (cpu.is_some() || memory.is_some()).then_some(TaskLimits { cpu, memory }),
            pull_started_at: task.pull_started_at,
            pull_stopped_at: task.pull_stopped_at,
            execution_stopped_at: task.execution_stopped_at,
            availability_zone: if self.instance.az_disabled {
                String::new()
            } else {
                self.instance.availability_zone.clone()
            },
            task_tags: BTreeMap::new(),
            container_instance_tags: BTreeMap::new(),
        }
    }

    /// The v2/v3 task object; `Err(docker id)` when a v3 container's networks fail.
    pub async fn task_v3(&self, task: &TaskSnapshot, flavor: Flavor) -> Result<TaskV3, String> {
        let mut containers = Vec::new();
        for idx in begun(task) {
            // A create in flight has no Docker ID yet: skip it rather than fail (quirk 9).
            if flavor == Flavor::V3 && task.containers[idx].docker_id.is_none() {
                continue;
            }
            containers.push(self.container_v3(task, idx, flavor).await?);
        }
        Ok(TaskV3 {
            head: self.task_head(task),
            containers,
            middle: self.task_middle(task),
        })
    }

    /// The v4 task object: containers whose networks fail only lose `Networks`.
    pub async fn task_v4(&self, task: &TaskSnapshot) -> TaskV4 {
        let inputs = self.task_v4_inputs(task).await;
        self.assemble_task_v4(task, &inputs).0
    }

    /// The encoded v4 task object (`/v4/<id>/task`); `None` when it cannot be encoded.
    /// A body built from the same inputs as the last one of this task is reused.
    pub async fn task_v4_body(&self, task: &Arc<TaskSnapshot>) -> Option<Bytes> {
        let inputs = self.task_v4_inputs(task).await;
        if let Some(body) = self.task_bodies.get(task, &inputs) {
            return Some(body);
        }
        let (built, complete) = self.assemble_task_v4(task, &inputs);
        let body = Bytes::from(to_go_json(&built)?);
        // An incomplete object (a container Docker does not know) is rebuilt each time,
        // with its warning, as before.
        if complete {
            self.task_bodies.put(task, inputs, body.clone());
        }
        Some(body)
    }

    /// What a v4 task object is built from besides the snapshot.
    async fn task_v4_inputs(&self, task: &TaskSnapshot) -> V4Inputs {
        let mut inspected = Vec::new();
        for idx in begun(task) {
            inspected.push((idx, self.inspected(task, idx).await));
        }
        V4Inputs {
            inspected,
            acs: self.acs.get(&task.spec.arn),
        }
    }

    /// The v4 task object, and whether every begun container was found in Docker.
    fn assemble_task_v4(&self, task: &TaskSnapshot, inputs: &V4Inputs) -> (TaskV4, bool) {
        let acs = inputs.acs.as_deref();
        let mut complete = true;
        let mut containers = Vec::new();
        for (idx, inspected) in &inputs.inspected {
            let idx = *idx;
            match container_v4_from(task, idx, inspected.clone(), acs) {
                Ok(c) => containers.push(c),
                Err(id) => {
                    complete = false;
                    tracing::warn!(container = %id, "v4 task metadata: no Docker networks for container");
                    let (spec, state) = task.pair(idx);
                    let (log_driver, log_options) = log_config(spec.docker_host_config.as_deref());
                    containers.push(ContainerV4 {
                        base: base(spec, state, None, true),
                        health: health(spec, state, None),
                        volumes: Vec::new(),
                        log_driver: log_driver.unwrap_or_default(),
                        log_options,
                        container_arn: String::new(),
                        networks: Vec::new(),
                        restart_count: None,
                    });
                }
            }
        }
        // Pulled but not yet created containers come last, without networks.
        for (idx, st) in task.containers.iter().enumerate() {
            if st.docker_name.is_none()
                && matches!(
                    st.known,
                    ContainerStatus::ManifestPulled | ContainerStatus::Pulled
                )
            {
                let spec = &task.spec.containers[idx];
                containers.push(ContainerV4 {
                    base: base(spec, st, None, true),
                    health: health(spec, st, None),
                    volumes: Vec::new(),
                    log_driver: String::new(),
                    log_options: BTreeMap::new(),
                    container_arn: String::new(),
                    networks: Vec::new(),
                    restart_count: None,
                });
            }
        }
        let task_v4 = TaskV4 {
            head: self.task_head(task),
            middle: self.task_middle(task),
            launch_type: acs
                .as_ref()
                .and_then(|a| a.launch_type.clone())
                .unwrap_or_default(),
            errors: Vec::new(),
            containers,
            vpc_id: String::new(),
            service_name: acs
                .as_ref()
                .and_then(|a| a.service_name.clone())
                .unwrap_or_default(),
            fault_injection_enabled: acs.as_ref().is_some_and(|a| a.fault_injection_enabled),
            availability_zone_id: String::new(),
        };
        (task_v4, complete)
    }

    /// The v2/v3 task object of the tags paths (§4.5): a failed lookup only leaves its
    /// field out (and is logged). The tags are fetched while the object is built.
    pub async fn task_v3_with_tags(
        &self,
        task: &TaskSnapshot,
        flavor: Flavor,
    ) -> Result<TaskV3, String> {
        let (built, tags) = futures::join!(
            self.task_v3(task, flavor),
            self.task_tags(&task.spec.arn, None)
        );
        let mut out = built?;
        out.middle.task_tags = tags.task_tags;
        out.middle.container_instance_tags = tags.container_instance_tags;
        Ok(out)
    }

    /// The v4 task object of `taskWithTags` (§4.5): failed lookups go into `Errors`;
    /// `container` (the asking one) is named in the ECS calls' User-Agent.
    pub async fn task_v4_with_tags(&self, task: &TaskSnapshot, container: &str) -> TaskV4 {
        let (mut out, tags) = futures::join!(
            self.task_v4(task),
            self.task_tags(&task.spec.arn, Some(container))
        );
        out.middle.task_tags = tags.task_tags;
        out.middle.container_instance_tags = tags.container_instance_tags;
        out.errors = tags.errors;
        out
    }

    /// The introspection task object (§1.4).
    pub async fn task_v1(&self, task: &TaskSnapshot) -> V1Task {
        let known = task.known.backend_status();
        let desired = task.desired.backend_status();
        let blank_desired = (task.known == TaskStatus::Stopped
            && task.desired != TaskStatus::Stopped)
            || (task.known == TaskStatus::Running && desired.as_str() == "PENDING");
        let mut containers = Vec::new();
        for idx in begun(task) {
            let (spec, state) = task.pair(idx);
            let inspected = self.inspected(task, idx).await;
            let mut ports = ports(state, false);
            if ports.is_empty() {
                ports = spec
                    .port_mappings
                    .iter()
                    .map(|m| Port {
                        container_port: m.container_port,
                        protocol: m.protocol.as_str().to_owned(),
                        host_port: m.host_port,
                        host_ip: String::new(),
                    })
                    .collect();
            }
            let restart = self
                .acs
                .get(&task.spec.arn)
                .and_then(|a| a.containers.get(&spec.name).cloned())
                .filter(|c| c.restart_policy_enabled)
                .map(|_| inspected.as_ref().map_or(0, |i| i.details.restart_count));
            containers.push(V1Container {
                docker_id: state.docker_id.clone().unwrap_or_default(),
                docker_name: state.docker_name.clone().unwrap_or_default(),
                name: spec.name.clone(),
                image: spec.image.clone(),
                image_id: inspected
                    .as_ref()
                    .map(|i| i.details.image_id.clone())
                    .unwrap_or_default(),
                created_at: state.created_at,
                started_at: state.started_at,
                ports,
                networks: Vec::new(),
                volumes: volumes(inspected.as_ref()),
                restart_count: restart,
            });
        }
        V1Task {
            arn: task.spec.arn.clone(),
            desired_status: if blank_desired {
                String::new()
            } else {
                desired.as_str().to_owned()
            },
            known_status: known.as_str().to_owned(),
            family: task.spec.family.clone(),
            version: task.spec.version.clone(),
            containers: Some(containers),
        }
    }
}

/// What a v4 task object is built from besides the task snapshot: each begun
/// container's inspect result and the task's ACS fields.
pub struct V4Inputs {
    inspected: Vec<(usize, Option<Inspected>)>,
    acs: Option<Arc<AcsTaskInfo>>,
}

impl V4Inputs {
    /// The same values: the caches hand out shared records, replaced (never changed in
    /// place) when they change, so identity stands for equality.
    fn same(&self, other: &V4Inputs) -> bool {
        let same_acs = match (&self.acs, &other.acs) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_acs
            && self.inspected.len() == other.inspected.len()
            && self
                .inspected
                .iter()
                .zip(&other.inspected)
                .all(|((i, a), (j, b))| {
                    i == j
                        && match (a, b) {
                            (Some(a), Some(b)) => {
                                Arc::ptr_eq(&a.details, &b.details)
                                    && a.health_since == b.health_since
                            }
                            (None, None) => true,
                            _ => false,
                        }
                })
    }
}

struct CachedBody {
    /// The engine publishes a new snapshot for every change of the task; holding it
    /// keeps the identity comparison sound.
    task: Arc<TaskSnapshot>,
    inputs: V4Inputs,
    body: Bytes,
}

/// The last encoded v4 task body of each task with the inputs it was built from, so
/// that a steady task's `/task` is answered without building and encoding it again.
/// The sweep drops the entries of tasks that are gone.
#[derive(Default)]
pub struct TaskBodies {
    entries: Mutex<HashMap<String, CachedBody>>,
}

impl TaskBodies {
    fn get(&self, task: &Arc<TaskSnapshot>, inputs: &V4Inputs) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let cached = entries.get(&task.spec.arn)?;
        (Arc::ptr_eq(&cached.task, task) && cached.inputs.same(inputs)).then(|| cached.body.clone())
    }

    fn put(&self, task: &Arc<TaskSnapshot>, inputs: V4Inputs, body: Bytes) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                task.spec.arn.clone(),
                CachedBody {
                    task: task.clone(),
                    inputs,
                    body,
                },
            );
    }

    /// Keeps only the entries of the tasks in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|arn, _| live.contains(arn));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
