//! The state-change submitter (backend-protocol.md §2.5): engine state changes go through
//! the outbox to SubmitTaskStateChange, in order per task, retried until accepted;
//! container changes ride on the task's next submission.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::primitives::DateTime as SdkDateTime;
use aws_sdk_ecs::types::{ContainerStateChange as SdkContainer, NetworkBinding, TransportProtocol};
use chrono::{DateTime, Utc};
use ecs_types::status::BackendStatus;
use ecs_types::{ContainerStatus, TaskStatus};
use tokio::sync::{Mutex, Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::backoff::{Backoff, randomized};
use super::client::EcsClient;
use super::error::ApiError;
use super::outbox::Outbox;
use crate::engine::ports::Protocol;
use crate::engine::state::{ContainerStateChange, StateChange, TaskStateChange};
use crate::store::StoreError;

/// At most this many tasks submit at once.
const MAX_CONCURRENT_TASKS: usize = 10;

/// The reason the reference gives a task it could not decode (sic).
pub const UNRECOGNIZED_TASK_PREFIX: &str = "UnrecogniedTaskError: Error loading task - ";

/// Timers of the submitter; tests shorten them.
#[derive(Debug, Clone)]
pub struct SubmitterTimers {
    /// Queued container changes without a task change are sent after 10 s + up to 20 s.
    pub drain_base: Duration,
    pub drain_spread: Duration,
    pub retry: Backoff,
}

impl Default for SubmitterTimers {
    fn default() -> Self {
        Self {
            drain_base: Duration::from_secs(10),
            drain_spread: Duration::from_secs(20),
            retry: Backoff::state_change(),
        }
    }
}

/// One SubmitTaskStateChange as it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub task_arn: String,
    pub status: BackendStatus,
    pub reason: String,
    pub pull_started_at: Option<DateTime<Utc>>,
    pub pull_stopped_at: Option<DateTime<Utc>>,
    pub execution_stopped_at: Option<DateTime<Utc>>,
    pub containers: Vec<ContainerStateChange>,
}

/// A handle to report state changes and to wake the submitter; cheap to clone.
#[derive(Clone)]
pub struct Submitter {
    inner: Arc<Inner>,
}

struct Inner {
    client: EcsClient,
    cluster: String,
    outbox: Outbox,
    /// Bumped on every new outbox entry; wakes the dispatcher and waiting workers.
    changes: watch::Sender<u64>,
    timers: SubmitterTimers,
    /// The last task status accepted per task, carried by drain submissions.
    last_status: Mutex<HashMap<String, BackendStatus>>,
    accepted: watch::Sender<u64>,
}

impl Submitter {
    /// `cluster` is the configured cluster (not the payload's `clusterArn`).
    pub fn new(client: EcsClient, cluster: &str, outbox: Outbox, timers: SubmitterTimers) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                cluster: cluster.to_owned(),
                outbox,
                changes: watch::channel(0).0,
                timers,
                last_status: Mutex::new(HashMap::new()),
                accepted: watch::channel(0).0,
            }),
        }
    }

    /// Writes the change to the outbox (durably, when the outbox is), then wakes the
    /// submitter. Use [`Submitter::wake`] instead when the engine wrote the outbox itself.
    pub async fn report(&self, change: StateChange) -> Result<u64, StoreError> {
        let inner = self.inner.clone();
        let seq = tokio::task::spawn_blocking(move || inner.outbox.append(&change))
            .await
            .map_err(|e| StoreError::corrupt("outbox", "-", e.to_string()))??;
        self.wake();
        Ok(seq)
    }

    /// Reports a task the ACS payload carried but that could not be loaded.
    pub async fn report_unrecognized_task(
        &self,
        task_arn: &str,
        error: &str,
    ) -> Result<u64, StoreError> {
        let reason =
            crate::engine::state::truncate(format!("{UNRECOGNIZED_TASK_PREFIX}{error}"), 1024);
        self.report(StateChange::Task(TaskStateChange {
            task_arn: task_arn.to_owned(),
            status: TaskStatus::Stopped,
            reason: Some(reason),
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            containers: Vec::new(),
        }))
        .await
    }

    pub fn wake(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Counts accepted submissions (for tests and introspection).
    pub fn accepted(&self) -> watch::Receiver<u64> {
        self.inner.accepted.subscribe()
    }

    /// Drains the outbox (including what a previous run left) until `shutdown` is true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
        let mut active: HashSet<String> = HashSet::new();
        let limit = Arc::new(Semaphore::new(MAX_CONCURRENT_TASKS));
        let mut changes = self.inner.changes.subscribe();
        loop {
            if super::stopping(&shutdown) {
                return;
            }
            match self.pending().await {
                Ok(pending) => {
                    for (_, change) in pending {
                        let arn = change.task_arn().to_owned();
                        if active.insert(arn.clone()) {
                            let this = self.clone();
                            let done = done_tx.clone();
                            let limit = limit.clone();
                            let shutdown = shutdown.clone();
                            tokio::spawn(async move {
                                if let Ok(_permit) = limit.acquire_owned().await {
                                    this.drain_task(&arn, shutdown).await;
                                }
                                let _ = done.send(arn);
                            });
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "Unable to read the state-change outbox"),
            }
            tokio::select! {
                _ = changes.changed() => {}
                Some(arn) = done_rx.recv() => { active.remove(&arn); }
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn pending(&self) -> Result<Vec<(u64, StateChange)>, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.outbox.pending())
            .await
            .map_err(|e| StoreError::corrupt("outbox", "-", e.to_string()))?
    }

    async fn remove(&self, seqs: Vec<u64>) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.outbox.remove(&seqs))
            .await
            .map_err(|e| StoreError::corrupt("outbox", "-", e.to_string()))?
    }

    /// Sends this task's queued changes, oldest first, until none is left.
    async fn drain_task(&self, arn: &str, mut shutdown: watch::Receiver<bool>) {
        let mut drain_deadline: Option<Instant> = None;
        let mut changes = self.inner.changes.subscribe();
        loop {
            if super::stopping(&shutdown) {
                return;
            }
            let entries: Vec<(u64, StateChange)> = match self.pending().await {
                Ok(all) => all
                    .into_iter()
                    .filter(|(_, c)| c.task_arn() == arn)
                    .collect(),
                Err(e) => {
                    tracing::error!(error = %e, "Unable to read the state-change outbox");
                    return;
                }
            };
            if entries.is_empty() {
                return;
            }
            let last = self.inner.last_status.lock().await.get(arn).copied();
            let (seqs, submission) = match next_submission(arn, &entries, last) {
                Next::Send(seqs, submission) => (seqs, submission),
                Next::Discard(seqs) => {
                    if let Err(e) = self.remove(seqs).await {
                        tracing::error!(error = %e, "Unable to update the state-change outbox");
                        return;
                    }
                    continue;
                }
                Next::ContainersOnly(seqs, submission) => {
                    // Wait for the task's own change to carry these, as the reference's
                    // drain ticker does; past the deadline they go on their own.
                    let t = &self.inner.timers;
                    let deadline = *drain_deadline.get_or_insert_with(|| {
                        Instant::now() + randomized(t.drain_base, t.drain_spread)
                    });
                    if Instant::now() < deadline {
                        tokio::select! {
                            _ = tokio::time::sleep_until(deadline) => {}
                            _ = changes.changed() => {}
                            _ = shutdown.changed() => {}
                        }
                        continue;
                    }
                    (seqs, submission)
                }
            };
            drain_deadline = None;
            if !self.submit_until_accepted(&submission, &mut shutdown).await {
                return;
            }
            {
                // Forgotten once STOPPED went out, so the map does not grow with churn.
                let mut last = self.inner.last_status.lock().await;
                if submission.status == BackendStatus::Stopped {
                    last.remove(arn);
                } else {
                    last.insert(arn.to_owned(), submission.status);
                }
            }
            if let Err(e) = self.remove(seqs).await {
                tracing::error!(error = %e, "Unable to update the state-change outbox");
                return;
            }
            self.inner.accepted.send_modify(|n| *n += 1);
        }
    }

    /// Retries forever with backoff; only InvalidParameterException drops the change.
    /// False when shutting down before acceptance.
    async fn submit_until_accepted(
        &self,
        submission: &Submission,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut backoff = self.inner.timers.retry.clone();
        loop {
            match submit(&self.inner.client, &self.inner.cluster, submission).await {
                Ok(()) => {
                    tracing::info!(
                        task = %submission.task_arn,
                        status = %submission.status,
                        "Sent task state change"
                    );
                    return true;
                }
                Err(e) if e.has_code("InvalidParameterException") => {
                    tracing::error!(error = %e, task = %submission.task_arn, "Dropping a state change the backend rejected");
                    return true;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, task = %submission.task_arn, ?delay, "Unable to submit task state change; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {
                            if super::stopping(shutdown) {
                                return false;
                            }
                        }
                    }
                }
            }
        }
    }
}

enum Next {
    /// A task change (with the container changes queued before it).
    Send(Vec<u64>, Submission),
    /// Container changes with no task change behind them yet.
    ContainersOnly(Vec<u64>, Submission),
    /// Entries with nothing the backend is told (e.g. internal task statuses only).
    Discard(Vec<u64>),
}

fn reportable_task(status: TaskStatus) -> bool {
    matches!(
        status,
        TaskStatus::Running | TaskStatus::Stopped | TaskStatus::Zombie
    )
}

fn reportable_container(status: ContainerStatus) -> bool {
    status.backend_status() != BackendStatus::Pending
}

/// Takes the leading entries up to and including the first reportable task change.
fn next_submission(arn: &str, entries: &[(u64, StateChange)], last: Option<BackendStatus>) -> Next {
    let mut seqs = Vec::new();
    let mut containers: Vec<ContainerStateChange> = Vec::new();
    let mut merge = |c: &ContainerStateChange| {
        if !reportable_container(c.status) {
            return;
        }
        match containers
            .iter_mut()
            .find(|x| x.container_name == c.container_name)
        {
            Some(x) => *x = c.clone(),
            None => containers.push(c.clone()),
        }
    };
    for (seq, change) in entries {
        seqs.push(*seq);
        match change {
            StateChange::Container(c) => merge(c),
            StateChange::Task(t) => {
                for c in &t.containers {
                    merge(c);
                }
                if reportable_task(t.status) {
                    return Next::Send(
                        seqs,
                        Submission {
                            task_arn: arn.to_owned(),
                            status: t.status.backend_status(),
                            reason: t.reason.clone().unwrap_or_default(),
                            pull_started_at: t.pull_started_at,
                            pull_stopped_at: t.pull_stopped_at,
                            execution_stopped_at: t.execution_stopped_at,
                            containers,
                        },
                    );
                }
            }
        }
    }
    if containers.is_empty() || last == Some(BackendStatus::Stopped) {
        return Next::Discard(seqs);
    }
    Next::ContainersOnly(
        seqs,
        Submission {
            task_arn: arn.to_owned(),
            status: last.unwrap_or(BackendStatus::Pending),
            reason: String::new(),
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            containers,
        },
    )
}

fn sdk_time(t: Option<DateTime<Utc>>) -> Option<SdkDateTime> {
    t.map(|t| SdkDateTime::from_millis(t.timestamp_millis()))
}

/// One SubmitTaskStateChange call.
pub async fn submit(client: &EcsClient, cluster: &str, s: &Submission) -> Result<(), ApiError> {
    let containers: Vec<SdkContainer> = s
        .containers
        .iter()
        .map(|c| {
            let bindings: Vec<NetworkBinding> = c
                .network_bindings
                .iter()
                // ECS_EXCLUDE_IPV6_PORTBINDING (default true): `::` bindings are not reported.
                .filter(|b| b.bind_ip != "::")
                .map(|b| {
                    NetworkBinding::builder()
                        .bind_ip(&b.bind_ip)
                        .container_port(i32::from(b.container_port))
                        .host_port(i32::from(b.host_port))
                        .protocol(match b.protocol {
                            Protocol::Tcp => TransportProtocol::Tcp,
                            Protocol::Udp => TransportProtocol::Udp,
                        })
                        .build()
                })
                .collect();
            SdkContainer::builder()
                .container_name(&c.container_name)
                .set_runtime_id(c.runtime_id.clone())
                .status(c.status.backend_status().as_str())
                .set_exit_code(
                    c.exit_code
                        .map(|e| e.clamp(i32::MIN as i64, i32::MAX as i64) as i32),
                )
                .set_reason(c.reason.clone().filter(|r| !r.is_empty()))
                .set_network_bindings((!bindings.is_empty()).then_some(bindings))
                .build()
        })
        .collect();
    client
        .sdk()
        .submit_task_state_change()
        .cluster(cluster)
        .task(&s.task_arn)
        .status(s.status.as_str())
        .reason(&s.reason)
        .set_pull_started_at(sdk_time(s.pull_started_at))
        .set_pull_stopped_at(sdk_time(s.pull_stopped_at))
        .set_execution_stopped_at(sdk_time(s.execution_stopped_at))
        .set_containers((!containers.is_empty()).then_some(containers))
        .send()
        .await
        .map(drop)
        .map_err(|e| ApiError::from_sdk("SubmitTaskStateChange", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, status: ContainerStatus) -> ContainerStateChange {
        ContainerStateChange {
            task_arn: "t".into(),
            container_name: name.into(),
            runtime_id: Some("id".into()),
            status,
            exit_code: None,
            reason: None,
            network_bindings: vec![],
            started_at: None,
            finished_at: None,
        }
    }

    fn task(status: TaskStatus, containers: Vec<ContainerStateChange>) -> StateChange {
        StateChange::Task(TaskStateChange {
            task_arn: "t".into(),
            status,
            reason: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            containers,
        })
    }

    #[test]
    fn container_changes_ride_on_the_next_task_change() {
        let entries = vec![
            (
                1,
                StateChange::Container(container("a", ContainerStatus::Running)),
            ),
            (2, task(TaskStatus::Created, vec![])),
            (
                3,
                task(
                    TaskStatus::Running,
                    vec![container("b", ContainerStatus::Running)],
                ),
            ),
            (4, task(TaskStatus::Stopped, vec![])),
        ];
        let Next::Send(seqs, s) = next_submission("t", &entries, None) else {
            panic!("expected a submission");
        };
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(s.status, BackendStatus::Running);
        let names: Vec<_> = s
            .containers
            .iter()
            .map(|c| c.container_name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s.reason, "");
    }

    #[test]
    fn lone_container_changes_wait_then_carry_the_last_status() {
        let entries = vec![(
            7,
            StateChange::Container(container("a", ContainerStatus::Stopped)),
        )];
        let Next::ContainersOnly(seqs, s) =
            next_submission("t", &entries, Some(BackendStatus::Running))
        else {
            panic!("expected a drain");
        };
        assert_eq!(seqs, [7]);
        assert_eq!(s.status, BackendStatus::Running);
        assert!(matches!(
            next_submission(
                "t",
                &[(
                    1,
                    StateChange::Container(container("a", ContainerStatus::Created))
                )],
                None
            ),
            Next::Discard(_)
        ));
    }
}
