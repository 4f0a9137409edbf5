//! What the endpoints read: task snapshots (a read-only view over the engine), the ACS
//! fields the engine does not keep, and Docker inspect results cached per container.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ecs_types::ContainerStatus;
use ecs_types::task::Task;

use serde::{Deserialize, Serialize};

use crate::docker::{ContainerDetails, DockerApi};
use crate::engine::state::Health;
use crate::engine::{Engine, TaskSnapshot};
use crate::store::{Store, StoreError};

/// Read-only access to the tasks the agent runs.
pub trait TaskSource: Send + Sync + 'static {
    fn list_tasks(&self) -> Vec<Arc<TaskSnapshot>>;
    fn task(&self, arn: &str) -> Option<Arc<TaskSnapshot>>;
}

impl TaskSource for Engine {
    fn list_tasks(&self) -> Vec<Arc<TaskSnapshot>> {
        Engine::list_tasks(self)
    }

    fn task(&self, arn: &str) -> Option<Arc<TaskSnapshot>> {
        Engine::task(self, arn)
    }
}

/// The task and container index of the container whose v3 endpoint ID is `id`; only
/// containers with a Docker ID count (spec §4.1).
pub fn by_endpoint_id(source: &dyn TaskSource, id: &str) -> Option<(Arc<TaskSnapshot>, usize)> {
    if id.is_empty() {
        return None;
    }
    source.list_tasks().into_iter().find_map(|task| {
        let idx = endpoint_position(&task, id)?;
        Some((task, idx))
    })
}

/// The index of the container of `task` whose v3 endpoint ID is `id`, if it has a
/// Docker ID.
fn endpoint_position(task: &TaskSnapshot, id: &str) -> Option<usize> {
    task.spec
        .containers
        .iter()
        .zip(&task.containers)
        .position(|(spec, st)| spec.v3_endpoint_id == id && st.docker_id.is_some())
}

/// v3 endpoint ID → ARN of its task, learnt from earlier lookups, so that a metadata
/// request fetches one task instead of scanning every task's containers. An entry is
/// only a hint, checked against the task's current snapshot on each use; a miss falls
/// back to the scan. The sweep drops the entries of tasks that are gone.
#[derive(Debug, Default)]
pub struct EndpointIndex {
    tasks: RwLock<HashMap<String, Arc<str>>>,
}

impl EndpointIndex {
    /// What [`by_endpoint_id`] answers, through the index.
    pub fn find(&self, source: &dyn TaskSource, id: &str) -> Option<(Arc<TaskSnapshot>, usize)> {
        let hint = self
            .tasks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        if let Some(arn) = hint
            && let Some(task) = source.task(&arn)
            && let Some(idx) = endpoint_position(&task, id)
        {
            return Some((task, idx));
        }
        let (task, idx) = by_endpoint_id(source, id)?;
        self.tasks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), Arc::from(task.spec.arn.as_str()));
        Some((task, idx))
    }

    /// Keeps only the entries of the tasks in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        self.tasks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, arn| live.contains(&**arn));
    }

    pub fn len(&self) -> usize {
        self.tasks.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The task and container index of the container with full Docker ID `docker_id`.
pub fn by_docker_id(
    source: &dyn TaskSource,
    docker_id: &str,
) -> Option<(Arc<TaskSnapshot>, usize)> {
    for task in source.list_tasks() {
        if let Some(idx) = task
            .containers
            .iter()
            .position(|c| c.docker_id.as_deref() == Some(docker_id))
        {
            return Some((task, idx));
        }
    }
    None
}

/// ACS container fields the engine does not keep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcsContainerInfo {
    pub container_arn: Option<String>,
    pub restart_policy_enabled: bool,
}

/// ACS task fields the engine does not keep. Checkpointed as JSON: a field added later
/// reads as its default from an older record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcsTaskInfo {
    pub launch_type: Option<String>,
    pub service_name: Option<String>,
    pub fault_injection_enabled: bool,
    pub containers: HashMap<String, AcsContainerInfo>,
    /// For the association paths (§4.10).
    pub associations: Vec<super::associations::TaskAssociation>,
}

impl AcsTaskInfo {
    pub fn from_task(task: &Task) -> Self {
        AcsTaskInfo {
            launch_type: task.launch_type.clone().filter(|s| !s.is_empty()),
            service_name: task.service_name.clone().filter(|s| !s.is_empty()),
            fault_injection_enabled: task.enable_fault_injection.unwrap_or(false),
            containers: task
                .containers()
                .iter()
                .map(|c| {
                    (
                        c.name().to_owned(),
                        AcsContainerInfo {
                            container_arn: c.container_arn.clone().filter(|s| !s.is_empty()),
                            restart_policy_enabled: c
                                .restart_policy
                                .as_ref()
                                .and_then(|p| p.enabled)
                                .unwrap_or(false),
                        },
                    )
                })
                .collect(),
            associations: super::associations::from_task(task),
        }
    }
}

/// Task ARN → ACS fields; filled by whoever hands ACS tasks to the engine. With a store
/// the fields are checkpointed beside the task (and deleted with it), so the metadata
/// endpoints still show them after an agent restart: ACS does not resend a task the
/// agent already acknowledged.
#[derive(Debug, Default)]
pub struct AcsInfo {
    tasks: RwLock<HashMap<String, Arc<AcsTaskInfo>>>,
    store: Option<Store>,
}

impl AcsInfo {
    /// Loads what earlier runs recorded in `store` and checkpoints every new record there.
    pub fn persistent(store: Store) -> Result<Self, StoreError> {
        let tasks = store
            .list_task_extras::<AcsTaskInfo>()?
            .into_iter()
            .map(|(arn, info)| (arn, Arc::new(info)))
            .collect();
        Ok(AcsInfo {
            tasks: RwLock::new(tasks),
            store: Some(store),
        })
    }

    /// Keeps the task's fields in memory at once, then writes them durably (blocking for
    /// the store's fsync: async callers run this on a blocking thread).
    pub fn record(&self, task: &Task) {
        let Some(arn) = task.arn.as_deref().filter(|a| !a.is_empty()) else {
            return;
        };
        let info = Arc::new(AcsTaskInfo::from_task(task));
        self.tasks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(arn.to_owned(), info.clone());
        if let Some(store) = &self.store
            && let Err(e) = store.put_task_extras(arn, &*info)
        {
            // The task still runs; only its launch type and container ARNs would be
            // missing from the metadata after a restart.
            tracing::warn!(task = arn, error = %e, "Unable to save the task's ACS fields");
        }
    }

    pub fn get(&self, arn: &str) -> Option<Arc<AcsTaskInfo>> {
        self.tasks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(arn)
            .cloned()
    }

    /// Keeps only the tasks in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        self.tasks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|arn, _| live.contains(arn));
    }

    /// Forgets a task the engine no longer has (its checkpoint went with the task).
    pub fn remove(&self, arn: &str) {
        self.tasks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(arn);
    }

    pub fn len(&self) -> usize {
        self.tasks.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A container's inspect result with the health transition time the endpoints show.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub details: Arc<ContainerDetails>,
    pub health_since: Option<DateTime<Utc>>,
}

struct Cached {
    known: ContainerStatus,
    health: Health,
    value: Inspected,
}

/// Docker inspect results, refreshed when the engine's view of the container changes
/// (status or health), so a steady task is served without Docker calls.
pub struct DetailsCache {
    docker: Arc<dyn DockerApi>,
    entries: Mutex<HashMap<String, Cached>>,
}

impl DetailsCache {
    pub fn new(docker: Arc<dyn DockerApi>) -> Self {
        DetailsCache {
            docker,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(
        &self,
        docker_id: &str,
        known: ContainerStatus,
        health: Health,
    ) -> Option<Inspected> {
        let previous_since = {
            let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(docker_id) {
                Some(c) if c.known == known && c.health == health => return Some(c.value.clone()),
                Some(c) if c.health == health => c.value.health_since,
                _ => None,
            }
        };
        let details = self
            .docker
            .inspect_container(docker_id, Duration::from_secs(4))
            .await
            .ok()?;
        let health_since = if health == Health::Unknown {
            None
        } else {
            previous_since.or_else(|| Some(Utc::now()))
        };
        let value = Inspected {
            details: Arc::new(details),
            health_since,
        };
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                docker_id.to_owned(),
                Cached {
                    known,
                    health,
                    value: value.clone(),
                },
            );
        Some(value)
    }

    /// Drops the entries of containers no longer known.
    pub fn retain(&self, live: &HashSet<String>) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| live.contains(id));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `logConfiguration` as the task definition gave it (from the raw host config).
pub fn log_config(docker_host_config: Option<&str>) -> (Option<String>, BTreeMap<String, String>) {
    let Some(raw) = docker_host_config else {
        return (None, BTreeMap::new());
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(raw) else {
        return (None, BTreeMap::new());
    };
    let log = &value["LogConfig"];
    let driver = log["Type"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let options = log["Config"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    (driver, options)
}
