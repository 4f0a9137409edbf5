//! The engine's durable state of a task and its containers (what the actor owns and
//! what is persisted), and the state changes it reports.

use chrono::{DateTime, Utc};
use ecs_types::{ContainerStatus, TaskStatus};
use serde::{Deserialize, Serialize};

use super::errors::NamedError;
use super::model::{ContainerSpec, TaskSpec};
use super::ports::Protocol;

/// Container health as the engine tracks it (§1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Health {
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

/// A host port binding read back from Docker after start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkBinding {
    pub bind_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    pub known: ContainerStatus,
    pub desired: ContainerStatus,
    /// The last status put on the state-change stream.
    pub reported: ContainerStatus,
    /// Chosen and saved before the create call.
    pub docker_name: Option<String>,
    pub docker_id: Option<String>,
    pub exit_code: Option<i64>,
    /// The first error of this container; its reported reason.
    pub applying_error: Option<NamedError>,
    pub bindings: Vec<NetworkBinding>,
    pub health: Health,
    /// When `health` last changed (not persisted across restarts in the reference
    /// either: health starts UNKNOWN again).
    #[serde(default)]
    pub health_since: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The image's repo digest (`sha256:…`) recorded after the pull step.
    #[serde(default)]
    pub image_digest: Option<String>,
    /// Restarts done by the agent under the container's restart policy.
    #[serde(default)]
    pub restart_count: u32,
    #[serde(default)]
    pub last_restart_at: Option<DateTime<Utc>>,
    /// An action in flight (never persisted).
    #[serde(skip)]
    pub applied: Option<ContainerStatus>,
}

impl ContainerState {
    pub fn new() -> Self {
        Self {
            known: ContainerStatus::None,
            desired: ContainerStatus::None,
            reported: ContainerStatus::None,
            docker_name: None,
            docker_id: None,
            exit_code: None,
            applying_error: None,
            bindings: Vec::new(),
            health: Health::Unknown,
            health_since: None,
            created_at: None,
            started_at: None,
            finished_at: None,
            image_digest: None,
            restart_count: 0,
            last_restart_at: None,
            applied: None,
        }
    }

    /// Records a health reading; `health_since` moves only when the status changes.
    pub fn set_health(&mut self, health: Health) {
        if self.health != health || self.health_since.is_none() {
            self.health = health;
            self.health_since = Some(Utc::now());
        }
    }

    /// Only the first error is kept: it is the reported reason.
    pub fn set_error(&mut self, err: NamedError) {
        if self.applying_error.is_none() {
            self.applying_error = Some(err);
        }
    }

    /// Sets the known status; clears the in-flight marker once it is reached.
    pub fn set_known(&mut self, status: ContainerStatus) {
        self.known = status;
        if self.applied.is_some_and(|applied| status >= applied) {
            self.applied = None;
        }
    }
}

impl Default for ContainerState {
    fn default() -> Self {
        Self::new()
    }
}

/// Steady state of every normal container (pause containers are not used).
pub const STEADY: ContainerStatus = ContainerStatus::Running;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub spec: TaskSpec,
    pub known: TaskStatus,
    pub desired: TaskStatus,
    pub reported: TaskStatus,
    pub known_time: DateTime<Utc>,
    /// Same order as `spec.containers`.
    pub containers: Vec<ContainerState>,
    /// The reason the agent itself gives for stopping the task (first wins).
    pub terminal_reason: Option<String>,
    pub pull_started_at: Option<DateTime<Utc>>,
    pub pull_stopped_at: Option<DateTime<Utc>>,
    pub execution_stopped_at: Option<DateTime<Utc>>,
    /// A stopped container seen running again is re-stopped once per task (§9.2 quirk).
    pub backward_stop_issued: bool,
}

impl TaskState {
    pub fn new(spec: TaskSpec, desired: TaskStatus) -> Self {
        let containers = spec
            .containers
            .iter()
            .map(|_| ContainerState::new())
            .collect();
        Self {
            spec,
            known: TaskStatus::None,
            desired,
            reported: TaskStatus::None,
            known_time: Utc::now(),
            containers,
            terminal_reason: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            backward_stop_issued: false,
        }
    }

    pub fn arn(&self) -> &str {
        &self.spec.arn
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.spec.containers.iter().position(|c| c.name == name)
    }

    pub fn pair(&self, idx: usize) -> (&ContainerSpec, &ContainerState) {
        (&self.spec.containers[idx], &self.containers[idx])
    }

    pub fn set_terminal_reason(&mut self, reason: impl Into<String>) {
        if self.terminal_reason.is_none() {
            self.terminal_reason = Some(truncate(reason.into(), 1024));
        }
    }
}

impl TaskState {
    /// Task health (§5.3): over essential health-checked containers, UNHEALTHY if any
    /// is, else UNKNOWN if any is, else HEALTHY; when no essential container has a
    /// health check the non-essential ones decide the same way; none at all: UNKNOWN.
    pub fn health(&self) -> Health {
        let checked = |essential: bool| -> Vec<Health> {
            self.spec
                .containers
                .iter()
                .zip(&self.containers)
                .filter(|(spec, _)| spec.health_check && spec.essential == essential)
                .map(|(_, st)| st.health)
                .collect()
        };
        let mut healths = checked(true);
        if healths.is_empty() {
            healths = checked(false);
        }
        if healths.is_empty() {
            Health::Unknown
        } else if healths.contains(&Health::Unhealthy) {
            Health::Unhealthy
        } else if healths.contains(&Health::Unknown) {
            Health::Unknown
        } else {
            Health::Healthy
        }
    }
}

/// Trims to at most `max` bytes on a character boundary.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// A container's reportable change (§7.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerStateChange {
    pub task_arn: String,
    pub container_name: String,
    pub runtime_id: Option<String>,
    pub status: ContainerStatus,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub network_bindings: Vec<NetworkBinding>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A task's reportable change (§7.3), with the current state of its containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStateChange {
    pub task_arn: String,
    pub status: TaskStatus,
    pub reason: Option<String>,
    pub pull_started_at: Option<DateTime<Utc>>,
    pub pull_stopped_at: Option<DateTime<Utc>>,
    pub execution_stopped_at: Option<DateTime<Utc>>,
    pub containers: Vec<ContainerStateChange>,
}

/// What `Engine::subscribe` yields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StateChange {
    Container(ContainerStateChange),
    Task(TaskStateChange),
}

impl StateChange {
    pub fn task_arn(&self) -> &str {
        match self {
            StateChange::Container(c) => &c.task_arn,
            StateChange::Task(t) => &t.task_arn,
        }
    }
}

/// The container change for `idx` as it stands.
pub fn container_change(task: &TaskState, idx: usize) -> ContainerStateChange {
    let (spec, state) = task.pair(idx);
    ContainerStateChange {
        task_arn: task.spec.arn.clone(),
        container_name: spec.name.clone(),
        runtime_id: state.docker_id.clone(),
        status: state.known,
        exit_code: state.exit_code,
        reason: state
            .applying_error
            .as_ref()
            .map(|e| truncate(e.to_string(), 1024)),
        network_bindings: state.bindings.clone(),
        started_at: state.started_at,
        finished_at: state.finished_at,
    }
}

/// The task change as it stands.
pub fn task_change(task: &TaskState) -> TaskStateChange {
    TaskStateChange {
        task_arn: task.spec.arn.clone(),
        status: task.known,
        reason: if task.known == TaskStatus::Stopped {
            task.terminal_reason.clone()
        } else {
            None
        },
        pull_started_at: task.pull_started_at,
        pull_stopped_at: task.pull_stopped_at,
        execution_stopped_at: task.execution_stopped_at,
        containers: (0..task.containers.len())
            .map(|idx| container_change(task, idx))
            .collect(),
    }
}

/// A read-only copy of a task for `Engine::list_tasks` / `Engine::task`.
pub type TaskSnapshot = TaskState;

#[cfg(test)]
mod tests {
    use super::*;

    fn task(checks: &[(bool, bool, Health)]) -> TaskState {
        let containers = checks
            .iter()
            .enumerate()
            .map(|(i, (essential, check, _))| {
                let json = serde_json::json!({"arn": "a/b", "containers": [{
                    "name": format!("c{i}"), "image": "i", "essential": essential,
                    "healthCheckType": if *check { "docker" } else { "" }}]});
                let t: ecs_types::task::Task = serde_json::from_value(json).unwrap();
                super::super::intake::accept(&t, &Default::default())
                    .unwrap()
                    .spec
                    .containers
                    .remove(0)
            })
            .collect();
        let accepted = super::super::intake::accept(
            &serde_json::from_value(
                serde_json::json!({"arn": "a/b", "containers": [{"name": "x", "image": "i"}]}),
            )
            .unwrap(),
            &Default::default(),
        )
        .unwrap();
        let mut spec = accepted.spec;
        spec.containers = containers;
        let mut state = TaskState::new(spec, TaskStatus::Running);
        for (st, (_, _, h)) in state.containers.iter_mut().zip(checks) {
            st.health = *h;
        }
        state
    }

    #[test]
    fn task_health_aggregation() {
        use Health::*;
        assert_eq!(task(&[(true, false, Unknown)]).health(), Unknown);
        assert_eq!(
            task(&[(true, true, Healthy), (true, true, Healthy)]).health(),
            Healthy
        );
        assert_eq!(
            task(&[(true, true, Healthy), (true, true, Unknown)]).health(),
            Unknown
        );
        assert_eq!(
            task(&[(true, true, Unhealthy), (true, true, Unknown)]).health(),
            Unhealthy
        );
        // Essential containers decide; non-essential only when no essential is checked.
        assert_eq!(
            task(&[(true, true, Healthy), (false, true, Unhealthy)]).health(),
            Healthy
        );
        assert_eq!(
            task(&[(true, false, Unknown), (false, true, Unhealthy)]).health(),
            Unhealthy
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("h\u{e9}llo".to_owned(), 2), "h");
        assert_eq!(truncate("abc".to_owned(), 10), "abc");
    }
}
