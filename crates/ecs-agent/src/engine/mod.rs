//! The task engine: runs ECS tasks on the Docker engine as the reference agent does.
//!
//! `Engine` is the handle: `add_task` takes ACS tasks, `set_desired_status` forwards
//! stops, `list_tasks`/`task` return snapshots and `subscribe` yields state changes.
//! Each task is owned by one actor (`actor`), Docker calls run as jobs (`jobs`), the
//! state machine is pure (`lifecycle`), and the Docker mapping is pure (`mapping`).
//!
//! Usage: `Engine::new`, then `subscribe`, then `start` (which reloads saved tasks,
//! reconciles them with Docker and starts routing Docker events), then `add_task`.

pub mod actor;
pub mod cgroup;
pub mod config;
pub mod errors;
pub mod intake;
pub mod jobs;
pub mod lifecycle;
pub mod mapping;
pub mod merge;
pub mod model;
pub mod naming;
pub mod ports;
pub mod pull;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecs_types::TaskStatus;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use config::{EngineAuth, EngineConfig, PullBehavior};
pub use errors::{ErrorName, NamedError};
pub use state::{
    ContainerStateChange, NetworkBinding, StateChange, TaskSnapshot, TaskState, TaskStateChange,
};

use crate::docker::{DockerApi, EventStreamItem};
use crate::images::ImageManager;
use crate::store::{Store, StoreError};
use actor::{ActorMsg, TaskActor};

/// Errors of the engine API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Intake(#[from] intake::IntakeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("engine is not started")]
    NotStarted,
    #[error("{0}")]
    Docker(#[from] crate::docker::DockerError),
}

/// State shared by the engine handle, the actors and their jobs.
pub struct Shared {
    pub docker: Arc<dyn DockerApi>,
    pub store: Option<Store>,
    pub config: EngineConfig,
    pub ports: ports::PortAllocator,
    tasks: Mutex<HashMap<String, TaskHandle>>,
    ids: Mutex<HashMap<String, String>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<StateChange>>>,
    /// The submitter's feeds (`subscribe_reports`).
    reporters: Mutex<Vec<mpsc::UnboundedSender<Report>>>,
    /// When set, reported changes go into the store's outbox in the same transaction as
    /// the task state that marks them reported, so a crash can never keep one without
    /// the other (DESIGN: persist before acknowledging).
    durable_outbox: std::sync::atomic::AtomicBool,
    /// Image names pulled successfully, when no image manager keeps that durably.
    pulled: Mutex<HashSet<String>>,
    /// Image state, references and the pull/delete lock (`images` module).
    pub images: std::sync::OnceLock<Arc<ImageManager>>,
    /// The cgroup v1 root when task cgroups can be managed here.
    cgroup_root: Mutex<Option<PathBuf>>,
    shutdown: watch::Sender<bool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

struct TaskHandle {
    tx: mpsc::UnboundedSender<ActorMsg>,
    snapshot: watch::Receiver<Arc<TaskState>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the submitter's feed carries.
#[derive(Debug, Clone)]
pub enum Report {
    /// A change the submitter must queue itself.
    Change(StateChange),
    /// The engine wrote changes to the durable outbox: only wake the submitter.
    Queued,
}

impl Shared {
    /// Puts a change on every stream, and on the submitter's feed unless the actor writes
    /// it to the durable outbox itself (`emit_to_subscribers` + `report_queued`).
    pub(crate) fn emit(&self, change: StateChange) {
        self.emit_to_subscribers(&change);
        self.hand_to_submitter(change);
    }

    /// Puts a change on the submitter's feed only.
    pub(crate) fn hand_to_submitter(&self, change: StateChange) {
        lock(&self.reporters).retain(|s| s.send(Report::Change(change.clone())).is_ok());
    }

    pub(crate) fn emit_to_subscribers(&self, change: &StateChange) {
        lock(&self.subscribers).retain(|s| s.send(change.clone()).is_ok());
    }

    pub(crate) fn report_queued(&self) {
        lock(&self.reporters).retain(|s| s.send(Report::Queued).is_ok());
    }

    /// The store, when changes are written to its outbox by the engine.
    pub(crate) fn outbox_store(&self) -> Option<&Store> {
        self.store.as_ref().filter(|_| {
            self.durable_outbox
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    pub(crate) fn register_id(&self, id: &str, arn: &str) {
        lock(&self.ids).insert(id.to_owned(), arn.to_owned());
    }

    pub(crate) fn forget(&self, arn: &str, ids: &[String]) {
        let mut map = lock(&self.ids);
        for id in ids {
            map.remove(id);
        }
        drop(map);
        lock(&self.tasks).remove(arn);
        // Called by the actor itself as it ends: drop its own handle (detaching it) and
        // those of actors already finished, which would otherwise hold their tasks'
        // memory until the next task starts.
        let me = tokio::task::try_id();
        lock(&self.handles).retain(|h| !h.is_finished() && Some(h.id()) != me);
    }

    pub(crate) fn pulled_once(&self, image: &str) -> bool {
        match self.images.get() {
            Some(images) => images.pulled_successfully(image),
            None => lock(&self.pulled).contains(image),
        }
    }

    /// Records that `container_key` uses `image` (and whether a pull of it succeeded).
    pub(crate) async fn record_image(&self, image: &str, container_key: &str, pulled: bool) {
        if pulled {
            lock(&self.pulled).insert(image.to_owned());
        }
        if let Some(images) = self.images.get()
            && let Err(e) = images.record_container(image, container_key, pulled).await
        {
            warn!(%image, error = %e, "cannot record image state");
        }
    }

    pub(crate) fn release_image(&self, container_key: &str) {
        if let Some(images) = self.images.get()
            && let Err(e) = images.remove_container(container_key)
        {
            warn!(container = %container_key, error = %e, "cannot update image state");
        }
    }

    /// The cgroup root to use for this task, if task limits apply to it.
    pub(crate) fn cgroup_root(&self, task: &TaskState) -> Option<PathBuf> {
        if !task.spec.memory_cpu_limits {
            return None;
        }
        lock(&self.cgroup_root).clone()
    }
}

/// The task engine handle. Clones share the engine.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    pub fn new(docker: Arc<dyn DockerApi>, store: Option<Store>, config: EngineConfig) -> Self {
        let ports = ports::PortAllocator::new(config.dynamic_host_port_range);
        let (shutdown, _) = watch::channel(false);
        Self {
            shared: Arc::new(Shared {
                docker,
                store,
                config,
                ports,
                tasks: Mutex::new(HashMap::new()),
                ids: Mutex::new(HashMap::new()),
                subscribers: Mutex::new(Vec::new()),
                reporters: Mutex::new(Vec::new()),
                durable_outbox: std::sync::atomic::AtomicBool::new(false),
                pulled: Mutex::new(HashSet::new()),
                images: std::sync::OnceLock::new(),
                cgroup_root: Mutex::new(None),
                shutdown,
                handles: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Uses `images` for image state, the `once` pull record and the pull/delete
    /// lock. Call before `start`.
    pub fn with_images(self, images: Arc<ImageManager>) -> Self {
        if self.shared.images.set(images).is_err() {
            warn!("image manager already set; keeping the first");
        }
        self
    }

    /// Writes reported state changes to the store's outbox together with the task state
    /// (no effect without a store). The submitter must then use the same store as its
    /// durable outbox and read `subscribe_reports`. Call before `start`.
    pub fn with_durable_outbox(self) -> Self {
        self.shared.durable_outbox.store(
            self.shared.store.is_some(),
            std::sync::atomic::Ordering::Relaxed,
        );
        self
    }

    /// How many spawned tasks (actors and the event router) the engine keeps handles of.
    pub fn held_handles(&self) -> usize {
        lock(&self.shared.handles).len()
    }

    /// Docker IDs of every container the engine knows (image cleanup spares them).
    pub fn container_ids(&self) -> HashSet<String> {
        lock(&self.shared.ids).keys().cloned().collect()
    }

    /// A stream of every state change from now on.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<StateChange> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// The submitter's feed from now on: every change it must queue, or, with
    /// `with_durable_outbox`, a wake-up for changes already in the outbox.
    pub fn subscribe_reports(&self) -> mpsc::UnboundedReceiver<Report> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.reporters).push(tx);
        rx
    }

    /// Opens the Docker event stream, reloads saved tasks, reconciles them with Docker
    /// (reporting what changed while the agent was down) and starts their actors.
    pub async fn start(&self) -> Result<(), EngineError> {
        let shared = &self.shared;
        let events = shared.docker.container_events(None);
        let router = tokio::spawn(route_events(shared.clone(), events));
        lock(&shared.handles).push(router);

        if shared.config.task_cpu_mem_limit {
            match shared.docker.info(Duration::from_secs(10)).await {
                Ok(info)
                    if info.cgroup_driver == "cgroupfs"
                        && cgroup::is_v1(&shared.config.cgroup_path) =>
                {
                    *lock(&shared.cgroup_root) = Some(shared.config.cgroup_path.clone());
                }
                Ok(info) => warn!(
                    driver = %info.cgroup_driver,
                    "task cpu/memory limits need cgroup v1 with the cgroupfs driver; not enforced"
                ),
                Err(e) => warn!(error = %e, "cannot read Docker info; task limits not enforced"),
            }
        }

        let Some(store) = shared.store.clone() else {
            return Ok(());
        };
        let tasks = tokio::task::spawn_blocking(move || store.list_tasks::<TaskState>())
            .await
            .map_err(|e| {
                EngineError::Store(StoreError::Open {
                    path: PathBuf::new(),
                    reason: e.to_string(),
                })
            })??;
        info!(tasks = tasks.len(), "restoring saved tasks");
        for (_, task) in tasks {
            for st in &task.containers {
                if let Some(id) = &st.docker_id {
                    shared.register_id(id, &task.spec.arn);
                }
            }
            self.spawn_actor(task, true);
        }
        Ok(())
    }

    fn spawn_actor(&self, state: TaskState, restored: bool) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (snap_tx, snap_rx) = watch::channel(Arc::new(state.clone()));
        lock(&self.shared.tasks).insert(
            state.spec.arn.clone(),
            TaskHandle {
                tx: tx.clone(),
                snapshot: snap_rx,
            },
        );
        let actor = TaskActor::new(
            self.shared.clone(),
            state,
            rx,
            tx,
            snap_tx,
            self.shared.shutdown.subscribe(),
        );
        let handle = tokio::spawn(actor.run(restored));
        let mut handles = lock(&self.shared.handles);
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
    }

    /// Takes a task from ACS (§2.1). A known ARN only forwards its desired status.
    /// An invalid task is reported STOPPED with the reason and not kept; only a task
    /// without an ARN is an error here.
    pub async fn add_task(&self, task: ecs_types::task::Task) -> Result<(), EngineError> {
        if let Some(arn) = task.arn.as_deref()
            && let Some(handle) = lock(&self.shared.tasks).get(arn)
        {
            if let Ok(Some(desired)) = task.desired_status() {
                let _ = handle.tx.send(ActorMsg::Desired(desired));
            }
            return Ok(());
        }
        let accepted = match intake::accept(&task, &self.shared.config) {
            Ok(accepted) => accepted,
            Err(intake::IntakeError::MissingArn) => {
                return Err(intake::IntakeError::MissingArn.into());
            }
            Err(err) => {
                let arn = task.arn.clone().unwrap_or_default();
                warn!(task = %arn, error = %err, "task rejected at intake");
                let change = StateChange::Task(TaskStateChange {
                    task_arn: arn,
                    status: TaskStatus::Stopped,
                    reason: Some(state::truncate(err.to_string(), 1024)),
                    pull_started_at: None,
                    pull_stopped_at: None,
                    execution_stopped_at: None,
                    containers: Vec::new(),
                });
                self.emit_unsaved(change).await;
                return Ok(());
            }
        };
        let mut state = TaskState::new(accepted.spec, accepted.desired);
        lifecycle::update_desired(&mut state);
        if accepted.unknown_condition || !lifecycle::dependencies_resolvable(&state) {
            let reason = intake::IntakeError::Dependencies(state.spec.arn.clone()).to_string();
            warn!(task = %state.spec.arn, "task dependencies cannot be resolved");
            state.set_terminal_reason(reason);
            state.desired = TaskStatus::Stopped;
            for c in &mut state.containers {
                c.desired = ecs_types::ContainerStatus::Stopped;
                c.known = ecs_types::ContainerStatus::Stopped;
            }
            state.known = TaskStatus::Stopped;
            // Containers never ran: nothing of theirs is reported, only the task.
            for c in &mut state.containers {
                c.reported = ecs_types::ContainerStatus::Stopped;
            }
        }
        if let Some(store) = self.shared.store.clone() {
            let saved = state.clone();
            tokio::task::spawn_blocking(move || store.put_task(&saved.spec.arn, &saved))
                .await
                .map_err(|e| {
                    EngineError::Store(StoreError::Open {
                        path: PathBuf::new(),
                        reason: e.to_string(),
                    })
                })??;
        }
        self.spawn_actor(state, false);
        Ok(())
    }

    /// Reports a change no task state records: into the durable outbox when there is one,
    /// else onto the submitter's feed.
    async fn emit_unsaved(&self, change: StateChange) {
        let Some(store) = self.shared.outbox_store().cloned() else {
            self.shared.emit(change);
            return;
        };
        self.shared.emit_to_subscribers(&change);
        let saved = change.clone();
        match tokio::task::spawn_blocking(move || store.append_outbox(&saved)).await {
            Ok(Ok(_)) => self.shared.report_queued(),
            Ok(Err(e)) => {
                warn!(error = %e, "cannot queue a state change; handing it to the submitter");
                self.shared.hand_to_submitter(change);
            }
            Err(e) => {
                warn!(error = %e, "state change queueing did not run");
                self.shared.hand_to_submitter(change);
            }
        }
    }

    /// Forwards an ACS desired status; false when the task is unknown.
    pub fn set_desired_status(&self, task_arn: &str, status: TaskStatus) -> bool {
        match lock(&self.shared.tasks).get(task_arn) {
            Some(handle) => handle.tx.send(ActorMsg::Desired(status)).is_ok(),
            None => false,
        }
    }

    /// Snapshots of every task the engine holds.
    pub fn list_tasks(&self) -> Vec<Arc<TaskSnapshot>> {
        lock(&self.shared.tasks)
            .values()
            .map(|h| h.snapshot.borrow().clone())
            .collect()
    }

    pub fn task(&self, task_arn: &str) -> Option<Arc<TaskSnapshot>> {
        lock(&self.shared.tasks)
            .get(task_arn)
            .map(|h| h.snapshot.borrow().clone())
    }

    /// Stops every actor and the event router (containers keep running) and waits
    /// for them; a new engine on the same store takes over.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let handles: Vec<JoinHandle<()>> = lock(&self.shared.handles).drain(..).collect();
        for handle in handles {
            handle.abort();
            let _ = handle.await;
        }
        lock(&self.shared.tasks).clear();
        lock(&self.shared.ids).clear();
    }
}

async fn route_events(
    shared: Arc<Shared>,
    mut events: futures::stream::BoxStream<'static, EventStreamItem>,
) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let item = tokio::select! {
            item = events.next() => item,
            _ = shutdown.changed() => return,
        };
        match item {
            None => return,
            Some(EventStreamItem::Event(event)) => {
                let arn = lock(&shared.ids).get(&event.id).cloned();
                let Some(arn) = arn else { continue };
                if let Some(handle) = lock(&shared.tasks).get(&arn) {
                    let _ = handle.tx.send(ActorMsg::Event {
                        id: event.id,
                        kind: event.kind,
                    });
                }
            }
            Some(EventStreamItem::Interrupted { error }) => {
                warn!(%error, "Docker event stream interrupted; re-inspecting containers");
                for handle in lock(&shared.tasks).values() {
                    let _ = handle.tx.send(ActorMsg::Reinspect);
                }
            }
        }
    }
}
