//! One actor (tokio task) per ECS task: the only code that changes that task's
//! statuses. Docker actions run as separate jobs and report back through the inbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ecs_types::{ContainerStatus, TaskStatus};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::Shared;
use super::cgroup;
use super::config::PullBehavior;
use super::errors::{ErrorName, NamedError};
use super::jobs::{self, ContainerChange, CreateJob};
use super::lifecycle::{self, Next};
use super::mapping;
use super::naming;
use super::state::{Health, StateChange, TaskState, container_change, task_change};
use crate::docker::{ContainerDetails, ContainerEventKind, HealthStatus};
use crate::store::Batch;

const STEADY_RECHECK: Duration = Duration::from_secs(5 * 60);
const BLOCKED_POLL: Duration = Duration::from_secs(5);
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// What an actor's inbox carries.
#[derive(Debug)]
pub enum ActorMsg {
    /// An ACS desired status.
    Desired(TaskStatus),
    /// The result of a job, or a synthetic change.
    Change {
        idx: usize,
        change: Box<ContainerChange>,
    },
    /// A Docker event for one of this task's containers.
    Event {
        id: String,
        kind: ContainerEventKind,
    },
    /// Re-inspect every container (the event stream was interrupted).
    Reinspect,
}

pub struct TaskActor {
    shared: Arc<Shared>,
    state: TaskState,
    rx: mpsc::UnboundedReceiver<ActorMsg>,
    tx: mpsc::UnboundedSender<ActorMsg>,
    snapshot: watch::Sender<Arc<TaskState>>,
    shutdown: watch::Receiver<bool>,
    /// Reported changes not yet in the durable outbox; the next `persist` writes them in
    /// the same transaction as the state that marks them reported.
    unsaved: Vec<StateChange>,
}

impl TaskActor {
    pub fn new(
        shared: Arc<Shared>,
        state: TaskState,
        rx: mpsc::UnboundedReceiver<ActorMsg>,
        tx: mpsc::UnboundedSender<ActorMsg>,
        snapshot: watch::Sender<Arc<TaskState>>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            shared,
            state,
            rx,
            tx,
            snapshot,
            shutdown,
            unsaved: Vec::new(),
        }
    }

    /// Runs the task to STOPPED, then cleans it up. `restored` tasks are reconciled
    /// against Docker first (§9.4).
    pub async fn run(mut self, restored: bool) {
        if restored {
            self.reconcile().await;
        } else if self.state.known != TaskStatus::Stopped {
            self.init_resources().await;
        }
        self.emit_pending();
        self.persist().await;
        self.publish();

        while self.state.known != TaskStatus::Stopped {
            let blocked = self.progress().await;
            self.publish();
            if self.state.known == TaskStatus::Stopped {
                break;
            }
            let wait = if lifecycle::is_steady(&self.state) {
                STEADY_RECHECK + Duration::from_millis(rand::random_range(0..30_000))
            } else if blocked {
                BLOCKED_POLL
            } else {
                IDLE_WAIT
            };
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.handle(msg).await,
                    None => return,
                },
                _ = tokio::time::sleep(wait) => self.reinspect_all(),
                _ = self.shutdown.changed() => return,
            }
            self.publish();
        }
        self.cleanup().await;
    }

    fn publish(&self) {
        self.snapshot.send_replace(Arc::new(self.state.clone()));
    }

    async fn persist(&mut self) {
        let Some(store) = self.shared.store.clone() else {
            return;
        };
        let state = self.state.clone();
        let arn = state.spec.arn.clone();
        let changes = std::mem::take(&mut self.unsaved);
        let queued = !changes.is_empty();
        let saving = changes.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut batch = Batch::new();
            batch.put_task(&state.spec.arn, &state)?;
            for change in &saving {
                batch.append_outbox(change)?;
            }
            store.commit(&batch).map(drop)
        })
        .await;
        let failed = match result {
            Ok(Ok(())) => false,
            Ok(Err(e)) => {
                warn!(task = %arn, error = %e, "cannot save task state");
                true
            }
            Err(e) => {
                warn!(task = %arn, error = %e, "task state save did not run");
                true
            }
        };
        if failed {
            // Still reported, as without a durable outbox, rather than dropped.
            for change in changes {
                self.shared.hand_to_submitter(change);
            }
        } else if queued {
            self.shared.report_queued();
        }
    }

    /// Sends a reported change on the streams; with a durable outbox the submitter gets
    /// it from the store after the next `persist`.
    fn report(&mut self, change: StateChange) {
        if self.shared.outbox_store().is_some() {
            self.shared.emit_to_subscribers(&change);
            self.unsaved.push(change);
        } else {
            self.shared.emit(change);
        }
    }

    /// Emits every container/task status that is known but not yet reported.
    fn emit_pending(&mut self) {
        for idx in 0..self.state.containers.len() {
            self.emit_container(idx);
        }
        self.emit_task();
    }

    fn emit_container(&mut self, idx: usize) {
        // CREATED is never reported to ECS; it is put on the stream only for the
        // container metadata file writer, which needs it before the container starts.
        if self.shared.config.container_metadata_enabled
            && self.state.containers[idx].known == ContainerStatus::Created
        {
            self.shared
                .emit(StateChange::Container(container_change(&self.state, idx)));
        }
        if lifecycle::container_reportable(&self.state, idx) {
            let change = container_change(&self.state, idx);
            self.state.containers[idx].reported = self.state.containers[idx].known;
            self.report(StateChange::Container(change));
        }
    }

    fn emit_task(&mut self) {
        if lifecycle::task_reportable(&self.state) {
            let change = task_change(&self.state);
            self.state.reported = self.state.known;
            self.report(StateChange::Task(change));
        }
    }

    /// Stops the task without starting anything, with the agent's own reason.
    fn fail_task(&mut self, reason: String) {
        warn!(task = %self.state.spec.arn, %reason, "stopping task");
        self.state.set_terminal_reason(reason);
        lifecycle::raise_task_desired(&mut self.state, TaskStatus::Stopped);
    }

    /// Task resources before any container moves: cgroup and Docker volumes (§2.4).
    async fn init_resources(&mut self) {
        if self.state.desired >= TaskStatus::Stopped {
            return;
        }
        if let Some(root) = self.shared.cgroup_root(&self.state) {
            let limits = cgroup::limits(
                &self.state.spec,
                self.shared.config.cgroup_cpu_period.as_micros() as u64,
                self.shared.config.task_pids_limit,
            );
            if let Err(e) = cgroup::create(&root, self.state.spec.id(), &limits) {
                warn!(task = %self.state.spec.arn, error = %e, "task cgroup creation failed");
                self.fail_task(
                    "CgroupError: Agent could not create task's platform resources".into(),
                );
                return;
            }
        }
        if let Err(reason) = jobs::ensure_volumes(&self.shared, &self.state.spec).await {
            self.fail_task(reason);
        }
    }

    /// §9.4 step 4: adopt what Docker has, raise known statuses, record exits.
    async fn reconcile(&mut self) {
        for idx in 0..self.state.containers.len() {
            let st = &self.state.containers[idx];
            let Some(name) = st.docker_name.clone() else {
                continue;
            };
            let change = match st.docker_id.clone() {
                None => match self
                    .shared
                    .docker
                    .inspect_container(&name, jobs::INSPECT_TIMEOUT)
                    .await
                {
                    Ok(details) => jobs::change_from_details(details),
                    Err(_) => continue,
                },
                Some(id) => match self
                    .shared
                    .docker
                    .inspect_container(&id, jobs::INSPECT_TIMEOUT)
                    .await
                {
                    Ok(details) => jobs::change_from_details(details),
                    Err(e) if e.is_not_found() => {
                        if st.known == ContainerStatus::Stopped {
                            continue;
                        }
                        ContainerChange {
                            status: ContainerStatus::Stopped,
                            error: Some(NamedError::vanished()),
                            ..ContainerChange::default()
                        }
                    }
                    Err(e) => {
                        warn!(container = %id, error = %e, "cannot inspect container on restart");
                        continue;
                    }
                },
            };
            self.apply_change(idx, change).await;
        }
        for (spec, st) in self
            .state
            .spec
            .containers
            .iter()
            .zip(&self.state.containers)
        {
            if st.known >= ContainerStatus::Pulled {
                self.shared
                    .record_image(
                        &spec.image,
                        &image_key(&self.state.spec.arn, &spec.name),
                        false,
                    )
                    .await;
            }
        }
        if self.state.known != TaskStatus::Stopped {
            self.init_resources().await;
        }
    }

    async fn handle(&mut self, msg: ActorMsg) {
        match msg {
            ActorMsg::Desired(status) => {
                if lifecycle::raise_task_desired(&mut self.state, status) {
                    info!(task = %self.state.spec.arn, desired = %status, "desired status changed");
                    self.persist().await;
                }
            }
            ActorMsg::Change { idx, change } => self.apply_change(idx, *change).await,
            ActorMsg::Event { id, kind } => {
                let Some(idx) = self
                    .state
                    .containers
                    .iter()
                    .position(|c| c.docker_id.as_deref() == Some(id.as_str()))
                else {
                    return;
                };
                let die_exit = match kind {
                    ContainerEventKind::Die { exit_code } => exit_code,
                    ContainerEventKind::Start
                    | ContainerEventKind::Stop
                    | ContainerEventKind::HealthStatus(_) => None,
                    ContainerEventKind::Oom => {
                        info!(container = %id, "container out of memory");
                        return;
                    }
                    _ => return,
                };
                self.spawn_inspect(idx, id, die_exit);
            }
            ActorMsg::Reinspect => self.reinspect_all(),
        }
    }

    fn spawn_inspect(&self, idx: usize, id: String, die_exit: Option<i64>) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let change = jobs::inspect(shared, id, die_exit).await;
            let _ = tx.send(ActorMsg::Change {
                idx,
                change: Box::new(change),
            });
        });
    }

    fn reinspect_all(&self) {
        for (idx, st) in self.state.containers.iter().enumerate() {
            if let Some(id) = st.docker_id.clone().or_else(|| {
                (st.known >= ContainerStatus::Created)
                    .then(|| st.docker_name.clone())
                    .flatten()
            }) {
                self.spawn_inspect(idx, id, None);
            }
        }
    }

    /// One progress pass (§2.2); returns whether something waits on a dependency.
    async fn progress(&mut self) -> bool {
        let upfront = self.shared.config.pull_dependent_containers_upfront;
        loop {
            let now = Utc::now();
            let mut blocked = false;
            let mut moved = false;
            for idx in 0..self.state.containers.len() {
                match lifecycle::next_transition(&self.state, idx, now, upfront) {
                    Next::Nothing | Next::InFlight => {}
                    Next::Blocked => blocked = true,
                    Next::Immediate(status) => {
                        self.apply_change(idx, ContainerChange::status(status))
                            .await;
                        moved = true;
                    }
                    Next::Terminal(message) => {
                        self.state.containers[idx].desired = ContainerStatus::Stopped;
                        let change = ContainerChange {
                            status: ContainerStatus::Stopped,
                            error: Some(NamedError::new(
                                ErrorName::CannotStartContainerError,
                                message,
                            )),
                            exit_code: Some(143),
                            ..ContainerChange::default()
                        };
                        self.apply_change(idx, change).await;
                        moved = true;
                    }
                    Next::Action(target) => self.start_action(idx, target).await,
                }
            }
            if moved {
                continue;
            }
            let in_flight = self.state.containers.iter().any(|c| c.applied.is_some());
            if in_flight || blocked || self.state.known == TaskStatus::Stopped {
                return blocked;
            }
            if lifecycle::is_steady(&self.state) {
                return false;
            }
            // Stuck (§3.7): nothing can move, nothing waits.
            if self.state.desired >= TaskStatus::Stopped {
                self.state.set_terminal_reason(
                    "TaskStateError: Agent could not progress task's state to stopped",
                );
                self.state.known = TaskStatus::Stopped;
                self.state.known_time = Utc::now();
                self.emit_task();
                self.persist().await;
                return false;
            }
            let essential_not_steady = self
                .state
                .spec
                .containers
                .iter()
                .zip(&self.state.containers)
                .any(|(spec, st)| spec.essential && st.known != ContainerStatus::Running);
            if essential_not_steady {
                lifecycle::raise_task_desired(&mut self.state, TaskStatus::Stopped);
                continue;
            }
            return false;
        }
    }

    async fn start_action(&mut self, idx: usize, target: ContainerStatus) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        let spec = self.state.spec.containers[idx].clone();
        let job: futures::future::BoxFuture<'static, ContainerChange> = match target {
            ContainerStatus::Pulled => Box::pin(jobs::pull(
                shared,
                spec.image.clone(),
                spec.registry_auth.clone(),
                image_key(&self.state.spec.arn, &spec.name),
            )),
            ContainerStatus::Created => {
                let docker_name = match self.state.containers[idx].docker_name.clone() {
                    Some(name) => name,
                    None => {
                        // Name before create: saved first, so a crash during the create
                        // is recovered by name rather than creating a twin.
                        let name = naming::container_name(
                            &self.state.spec.family,
                            &self.state.spec.version,
                            &spec.name,
                        );
                        self.state.containers[idx].docker_name = Some(name.clone());
                        self.persist().await;
                        name
                    }
                };
                let docker_names: HashMap<String, String> = self
                    .state
                    .spec
                    .containers
                    .iter()
                    .zip(&self.state.containers)
                    .filter_map(|(c, st)| Some((c.name.clone(), st.docker_name.clone()?)))
                    .collect();
                let cgroup_parent = self
                    .shared
                    .cgroup_root(&self.state)
                    .map(|_| mapping::cgroup_parent(&self.state.spec));
                Box::pin(jobs::create(
                    shared,
                    CreateJob {
                        task: self.state.spec.clone(),
                        idx,
                        docker_name,
                        docker_names,
                        cgroup_parent,
                    },
                ))
            }
            ContainerStatus::Running => match self.docker_ref(idx) {
                Some(id) => Box::pin(jobs::start(shared, id)),
                None => Box::pin(std::future::ready(ContainerChange {
                    status: ContainerStatus::Running,
                    error: Some(NamedError::new(
                        ErrorName::CannotStartContainerError,
                        "Container not created yet",
                    )),
                    from_action: true,
                    ..ContainerChange::default()
                })),
            },
            ContainerStatus::Stopped => match self.docker_ref(idx) {
                Some(id) => Box::pin(jobs::stop(shared, id, self.stop_grace(idx))),
                None => Box::pin(std::future::ready(ContainerChange {
                    status: ContainerStatus::Stopped,
                    from_action: true,
                    ..ContainerChange::default()
                })),
            },
            other => {
                warn!(status = %other, "no action for this transition");
                return;
            }
        };
        self.state.containers[idx].applied = Some(target);
        debug!(task = %self.state.spec.arn, container = %spec.name, target = %target, "transition");
        tokio::spawn(async move {
            let change = job.await;
            let _ = tx.send(ActorMsg::Change {
                idx,
                change: Box::new(change),
            });
        });
    }

    fn docker_ref(&self, idx: usize) -> Option<String> {
        let st = &self.state.containers[idx];
        st.docker_id.clone().or_else(|| st.docker_name.clone())
    }

    fn stop_grace(&self, idx: usize) -> Duration {
        match self.state.spec.containers[idx].stop_timeout {
            0 => self.shared.config.container_stop_timeout,
            secs => Duration::from_secs(secs),
        }
    }

    fn spawn_stop(&self, idx: usize) {
        let Some(id) = self.docker_ref(idx) else {
            return;
        };
        let shared = self.shared.clone();
        let grace = self.stop_grace(idx);
        tokio::spawn(async move {
            let _ = jobs::stop(shared, id, grace).await;
        });
    }

    /// §9.2: apply one container change.
    async fn apply_change(&mut self, idx: usize, change: ContainerChange) {
        let before = self.state.clone();
        let arn = self.state.spec.arn.clone();
        let health_checked = self.state.spec.containers[idx].health_check;
        if change.from_action {
            self.state.containers[idx].applied = None;
        }
        if let Some(digest) = &change.image_digest
            && self.state.containers[idx].image_digest.is_none()
        {
            self.state.containers[idx].image_digest = Some(digest.clone());
        }
        if let Some((started, finished)) = change.pull_times {
            self.state.pull_started_at.get_or_insert(started);
            self.state.pull_stopped_at = Some(finished);
        }
        if let Some(details) = &change.details
            && self.state.containers[idx].docker_id.is_none()
        {
            self.state.containers[idx].docker_id = Some(details.id.clone());
            self.shared.register_id(&details.id, &arn);
        }

        if self.should_restart(idx, &change) {
            let st = &mut self.state.containers[idx];
            st.restart_count += 1;
            st.last_restart_at = Some(Utc::now());
            info!(task = %arn, container = %self.state.spec.containers[idx].name, "restarting container under its restart policy");
            if let Some(id) = st.docker_id.clone() {
                let shared = self.shared.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let change = jobs::restart(shared, id, change).await;
                    let _ = tx.send(ActorMsg::Change {
                        idx,
                        change: Box::new(change),
                    });
                });
            }
            self.persist().await;
            return;
        }

        let exited_already = change.status == ContainerStatus::Running
            && change
                .details
                .as_ref()
                .is_some_and(|d| !(d.state.running || d.state.paused || d.state.restarting));
        let known = self.state.containers[idx].known;
        if change.status <= known {
            if known == ContainerStatus::Stopped
                && change.status.is_running()
                && !self.state.backward_stop_issued
            {
                self.state.backward_stop_issued = true;
                self.spawn_stop(idx);
            }
            if let Some(details) = &change.details
                && change.status == known
            {
                let st = &mut self.state.containers[idx];
                if st.bindings.is_empty() {
                    st.bindings = bindings_of(details);
                }
                if health_checked {
                    st.set_health(health_of(details));
                }
            }
            // Periodic re-inspections are mostly redundant: only real changes cost a
            // durable write.
            if self.state != before {
                self.persist().await;
            }
            if exited_already {
                self.recheck_exit(idx);
            }
            return;
        }

        let st = &mut self.state.containers[idx];
        st.set_known(change.status);
        if let Some(details) = &change.details {
            copy_metadata(st, details, health_checked);
        }
        if change.status == ContainerStatus::Stopped
            && st.exit_code.is_none()
            && let Some(code) = change.exit_code
        {
            st.exit_code = Some(code);
        }

        if let Some(err) = change.error {
            match change.status {
                ContainerStatus::ManifestPulled | ContainerStatus::Pulled => {
                    warn!(task = %arn, error = %err, "image pull failed");
                    st.set_error(err);
                    if matches!(
                        self.shared.config.pull_behavior,
                        PullBehavior::Always | PullBehavior::Once
                    ) {
                        lifecycle::raise_task_desired(&mut self.state, TaskStatus::Stopped);
                        self.persist().await;
                        return;
                    }
                }
                ContainerStatus::None | ContainerStatus::Created => {
                    warn!(task = %arn, error = %err, "container create failed");
                    st.known = known;
                    st.desired = ContainerStatus::Stopped;
                    st.set_error(err);
                }
                ContainerStatus::Running | ContainerStatus::ResourcesProvisioned => {
                    warn!(task = %arn, error = %err, "container start failed");
                    st.known = known;
                    st.desired = ContainerStatus::Stopped;
                    let may_run = err.start_may_have_run();
                    st.set_error(err);
                    if may_run {
                        self.spawn_stop(idx);
                    }
                }
                ContainerStatus::Stopped | ContainerStatus::Zombie => {
                    st.desired = ContainerStatus::Stopped;
                    st.set_error(err);
                }
            }
        }

        let st = &self.state.containers[idx];
        if st.known == ContainerStatus::Stopped
            && self.state.spec.containers[idx].essential
            && self.state.execution_stopped_at.is_none()
        {
            self.state.execution_stopped_at = Some(Utc::now());
        }
        lifecycle::update_desired(&mut self.state);
        self.emit_container(idx);
        if lifecycle::update_known(&mut self.state, Utc::now()) {
            self.emit_task();
        }
        self.persist().await;
        if exited_already {
            self.recheck_exit(idx);
        }
    }

    /// A RUNNING result whose own inspect shows the container gone already (it exited
    /// during the start): the exit is fetched now rather than left to its `die` event
    /// alone, which may have been handled before this result or lost with the stream.
    fn recheck_exit(&self, idx: usize) {
        let st = &self.state.containers[idx];
        if st.known != ContainerStatus::Running {
            return;
        }
        if let Some(id) = st.docker_id.clone() {
            self.spawn_inspect(idx, id, None);
        }
    }

    /// §4.2: an exit the agent restarts itself instead of reporting it.
    fn should_restart(&self, idx: usize, change: &ContainerChange) -> bool {
        let (spec, st) = self.state.pair(idx);
        let Some(policy) = &spec.restart_policy else {
            return false;
        };
        if change.status != ContainerStatus::Stopped
            || change.from_action
            || change.no_restart
            || st.known != ContainerStatus::Running
            || st.desired == ContainerStatus::Stopped
            || self.state.desired >= TaskStatus::Stopped
            || st.docker_id.is_none()
        {
            return false;
        }
        let exit = change
            .details
            .as_ref()
            .and_then(|d| d.state.exit_code)
            .or(change.exit_code);
        let Some(code) = exit else {
            return false;
        };
        if policy.ignored_exit_codes.contains(&code) {
            return false;
        }
        let Some(since) = st.last_restart_at.or(st.started_at) else {
            return false;
        };
        Utc::now() - since >= chrono::Duration::seconds(policy.attempt_period as i64)
    }

    /// §8.1: after the wait, remove containers, task volumes, cgroup and state.
    async fn cleanup(mut self) {
        let config = &self.shared.config;
        let jitter = if config.task_cleanup_wait_jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_millis(rand::random_range(
                0..config.task_cleanup_wait_jitter.as_millis() as u64,
            ))
        };
        let wait = chrono::Duration::from_std(config.task_cleanup_wait + jitter)
            .unwrap_or(chrono::Duration::MAX);
        let due = self.state.known_time + wait;
        loop {
            let left = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            if left.is_zero() {
                break;
            }
            tokio::select! {
                msg = self.rx.recv() => {
                    if msg.is_none() { break; }
                }
                _ = tokio::time::sleep(left) => break,
                _ = self.shutdown.changed() => return,
            }
        }
        info!(task = %self.state.spec.arn, "cleaning up task");
        let docker = self.shared.docker.clone();
        for st in &self.state.containers {
            let Some(id) = st.docker_id.clone().or_else(|| st.docker_name.clone()) else {
                continue;
            };
            match docker
                .remove_container(&id, true, false, jobs::REMOVE_TIMEOUT)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => warn!(container = %id, error = %e, "cannot remove container"),
            }
        }
        for volume in &self.state.spec.volumes {
            if let super::model::VolumeKind::Docker {
                docker_name,
                task_scoped: true,
                ..
            } = &volume.kind
                && let Err(e) = docker
                    .remove_volume(docker_name, jobs::VOLUME_TIMEOUT)
                    .await
                && !e.is_not_found()
            {
                warn!(volume = %docker_name, error = %e, "cannot remove task volume");
            }
        }
        if let Some(root) = self.shared.cgroup_root(&self.state)
            && let Err(e) = cgroup::remove(&root, self.state.spec.id())
        {
            warn!(task = %self.state.spec.arn, error = %e, "cannot remove task cgroup");
        }
        for spec in &self.state.spec.containers {
            self.shared
                .release_image(&image_key(&self.state.spec.arn, &spec.name));
        }
        if let Some(store) = self.shared.store.clone() {
            let arn = self.state.spec.arn.clone();
            let _ = tokio::task::spawn_blocking(move || store.delete_task(&arn)).await;
        }
        let ids: Vec<String> = self
            .state
            .containers
            .iter()
            .filter_map(|c| c.docker_id.clone())
            .collect();
        self.shared.forget(&self.state.spec.arn, &ids);
    }
}

/// The image-state reference of a container: stable from the pull on, before the
/// container has a Docker name or ID.
fn image_key(task_arn: &str, container: &str) -> String {
    format!("{task_arn}/{container}")
}

fn bindings_of(details: &ContainerDetails) -> Vec<super::state::NetworkBinding> {
    details
        .port_bindings
        .iter()
        .filter_map(|b| {
            let protocol = match b.protocol {
                crate::docker::Protocol::Tcp => super::ports::Protocol::Tcp,
                crate::docker::Protocol::Udp => super::ports::Protocol::Udp,
                crate::docker::Protocol::Sctp => return None,
            };
            Some(super::state::NetworkBinding {
                bind_ip: b.host_ip.clone(),
                container_port: b.container_port,
                host_port: b.host_port,
                protocol,
            })
        })
        .collect()
}

fn health_of(details: &ContainerDetails) -> Health {
    match details.state.health.as_ref().map(|h| h.status) {
        Some(HealthStatus::Healthy) => Health::Healthy,
        Some(HealthStatus::Unhealthy) => Health::Unhealthy,
        _ => Health::Unknown,
    }
}

fn copy_metadata(
    st: &mut super::state::ContainerState,
    details: &ContainerDetails,
    health_checked: bool,
) {
    if st.created_at.is_none() {
        st.created_at = details.created;
    }
    if st.started_at.is_none() {
        st.started_at = details.state.started_at;
    }
    if details.state.finished_at.is_some() && !details.state.running {
        st.finished_at = details.state.finished_at;
    }
    if st.known == ContainerStatus::Stopped
        && let Some(code) = details.state.exit_code
    {
        st.exit_code = Some(code);
    }
    if st.bindings.is_empty() {
        st.bindings = bindings_of(details);
    }
    if health_checked {
        st.set_health(health_of(details));
    }
}
