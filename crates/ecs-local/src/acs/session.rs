//! One agent's ACS connection: sends its tasks and control messages, reads its replies.
//!
//! Everything runs on one task: incoming frames, store notices ("a task of this instance
//! changed") and timers are handled in turn, so the ledger never sees two updates of the
//! same session at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::Utc;
use ecs_types::acs::{
    HeartbeatMessage, IAMRoleCredentialsAckRequest, IAMRoleCredentialsMessage, PayloadMessage,
    RoleType, TaskIdentifier, TaskManifestMessage, TaskStopVerificationAck,
    TaskStopVerificationMessage,
};
use ecs_types::{AcsMessage, Lenient};
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Interval, MissedTickBehavior, interval_at};

use super::ledger::{PendingPayload, PendingRefresh};
use super::query::ConnectParams;
use super::{Inner, SessionSlot, lock};
use crate::credentials::RoleCredentials;
use crate::payload::{self, Launch, PayloadContext};
use crate::store::model::{self, ContainerInstance};

const STOPPED: &str = "STOPPED";
const RUNNING: &str = "RUNNING";
/// Refreshes the agent does not acknowledge (it does not know the task) are given up.
const MAX_REFRESH_ATTEMPTS: u32 = 5;
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("cannot write to the agent: {0}")]
    Write(axum::Error),
    #[error("the agent did not take a frame within {0:?}")]
    WriteTimeout(Duration),
}

struct Session {
    inner: Arc<Inner>,
    /// Heartbeats sent since the last acknowledgement.
    unacked_heartbeats: u32,
    /// The last heartbeat acknowledgement (or the session start).
    last_heartbeat_ack: Instant,
    socket: WebSocket,
    instance_arn: String,
    cluster_arn: String,
    launch_type: &'static str,
    zone: Option<String>,
}

pub(super) async fn run(
    inner: Arc<Inner>,
    socket: WebSocket,
    params: ConnectParams,
    instance: ContainerInstance,
) {
    let instance_arn = instance.arn.clone();
    let id = inner
        .next_session
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let replaced = Arc::new(Notify::new());
    let previous = lock(&inner.sessions).insert(
        instance_arn.clone(),
        SessionSlot {
            id,
            replaced: replaced.clone(),
        },
    );
    if let Some(previous) = previous {
        tracing::info!(instance = %instance_arn, "a new ACS connection replaces the open one");
        previous.replaced.notify_one();
    }
    set_connected(&inner, &instance_arn, true).await;
    tracing::info!(
        instance = %instance_arn,
        agent_version = params.agent_version.as_deref().unwrap_or(""),
        agent_hash = params.agent_hash.as_deref().unwrap_or(""),
        docker_version = params.docker_version.as_deref().unwrap_or(""),
        send_credentials = params.send_credentials,
        "ACS session opened"
    );
    let mut session = Session {
        inner: inner.clone(),
        unacked_heartbeats: 0,
        last_heartbeat_ack: Instant::now(),
        socket,
        instance_arn: instance_arn.clone(),
        cluster_arn: instance.cluster_arn.clone(),
        launch_type: payload::launch_type_of(&instance),
        zone: instance
            .attribute("ecs.availability-zone")
            .and_then(|a| a.value.clone()),
    };
    match session.serve(&params, &replaced).await {
        Ok(()) => tracing::info!(instance = %instance_arn, "ACS session closed"),
        Err(e) => tracing::info!(instance = %instance_arn, error = %e, "ACS session ended"),
    }
    // Under the sessions lock, so that a newer session's "connected" cannot be
    // overwritten by this one's "disconnected".
    let done = inner.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let mut sessions = lock(&done.sessions);
        if sessions.get(&instance_arn).is_some_and(|s| s.id == id) {
            sessions.remove(&instance_arn);
            record_connected(&done, &instance_arn, false);
        }
    })
    .await;
}

fn record_connected(inner: &Inner, instance_arn: &str, connected: bool) {
    if let Err(e) = inner.store.set_agent_connected(instance_arn, connected) {
        tracing::error!(instance = %instance_arn, error = %e, "cannot record the agent connection state");
    }
}

/// Store writes wait for the disk: off the async threads.
async fn set_connected(inner: &Arc<Inner>, instance_arn: &str, connected: bool) {
    let (inner, arn) = (inner.clone(), instance_arn.to_string());
    let _ = tokio::task::spawn_blocking(move || record_connected(&inner, &arn, connected)).await;
}

fn ticker(period: Duration) -> Interval {
    let period = period.max(Duration::from_millis(1));
    let mut t = interval_at(tokio::time::Instant::now() + period, period);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

fn new_message_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn role_types() -> [RoleType; 2] {
    [RoleType::TaskApplication, RoleType::TaskExecution]
}

impl Session {
    async fn serve(&mut self, params: &ConnectParams, replaced: &Notify) -> Result<(), SessionEnd> {
        let settings = self.inner.settings;
        let mut notices = self.inner.store.subscribe();
        let mut shutdown = self.inner.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            return self
                .close(CLOSE_GOING_AWAY, "ecs-local is shutting down")
                .await;
        }
        // Everything not acknowledged goes out again at once: the agent may have missed it.
        self.sync_all(true).await?;
        if params.send_credentials {
            self.push_known_credentials().await?;
        }
        let mut heartbeat = ticker(settings.heartbeat_interval);
        let mut resend = ticker(settings.resend_after);
        let mut manifest = ticker(settings.manifest_interval);
        let mut credentials = ticker(settings.credentials_check_interval);
        loop {
            // Frames first: an acknowledgement already received must settle its payload
            // before a timer could resend it.
            tokio::select! {
                biased;
                frame = self.socket.recv() => match frame {
                    None => return Ok(()),
                    Some(Err(e)) => {
                        tracing::debug!(instance = %self.instance_arn, error = %e, "ACS read failed");
                        return Ok(());
                    }
                    Some(Ok(message)) => self.on_frame(message).await?,
                },
                notice = notices.recv() => match notice {
                    Ok(n) if n.container_instance_arn == self.instance_arn => {
                        if let Some(task) = self.inner.store.task(&n.task_arn) {
                            self.sync_task(&task, false).await?;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.sync_all(false).await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = heartbeat.tick() => {
                    if !self.instance_active() {
                        // Stops from a forced deregistration go out first. The agent then
                        // reconnects and is refused with InactiveInstanceException, which
                        // parks it for an hour.
                        self.sync_all(false).await?;
                        let closed = self.close(CLOSE_NORMAL, "container instance deregistered").await;
                        lock(&self.inner.ledgers).remove(&self.instance_arn);
                        return closed;
                    }
                    if params.protocol_version.is_some_and(|v| v >= 2)
                        && self.unacked_heartbeats >= settings.max_unacked_heartbeats
                        && self.last_heartbeat_ack.elapsed() >= settings.heartbeat_ack_grace
                    {
                        tracing::warn!(instance = %self.instance_arn, missed = self.unacked_heartbeats, "agent stopped acknowledging heartbeats");
                        return self.close(CLOSE_POLICY, "heartbeats not acknowledged").await;
                    }
                    self.send_heartbeat().await?;
                }
                _ = resend.tick() => {
                    self.sync_all(false).await?;
                    self.resend_refreshes().await?;
                }
                _ = manifest.tick() => self.send_manifest().await?,
                _ = credentials.tick() => self.refresh_credentials().await?,
                _ = replaced.notified() => {
                    return self.close(CLOSE_POLICY, "replaced by a newer connection").await;
                }
                _ = shutdown.changed() => {
                    return self.close(CLOSE_GOING_AWAY, "ecs-local is shutting down").await;
                }
            }
        }
    }

    async fn write(&mut self, message: Message) -> Result<(), SessionEnd> {
        let limit = self.inner.settings.write_timeout;
        match tokio::time::timeout(limit, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SessionEnd::Write(e)),
            Err(_) => Err(SessionEnd::WriteTimeout(limit)),
        }
    }

    async fn send(&mut self, message: AcsMessage) -> Result<(), SessionEnd> {
        match message.to_json() {
            Ok(text) => {
                tracing::debug!(instance = %self.instance_arn, message_type = message.message_type(), "ACS message sent");
                self.write(Message::Text(text.into())).await
            }
            Err(e) => {
                tracing::error!(instance = %self.instance_arn, error = %e, "cannot encode an ACS message");
                Ok(())
            }
        }
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), SessionEnd> {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.write(Message::Close(Some(frame))).await
    }

    fn ledger<T>(&self, f: impl FnOnce(&mut super::ledger::InstanceLedger) -> T) -> T {
        self.inner.ledger(&self.instance_arn, f)
    }

    fn instance_active(&self) -> bool {
        self.inner
            .store
            .container_instance(&self.instance_arn)
            .is_some_and(|i| i.status != model::INACTIVE)
    }

    /// Sends every task of the instance whose desired status the agent has not
    /// acknowledged; `resend_now` resends outstanding payloads without waiting.
    async fn sync_all(&mut self, resend_now: bool) -> Result<(), SessionEnd> {
        let tasks = self.inner.store.tasks_on_instance(&self.instance_arn);
        // Tasks the store has forgotten (long stopped) leave no trace here either.
        let present: std::collections::HashSet<&str> =
            tasks.iter().map(|t| t.arn.as_str()).collect();
        let gone = self.ledger(|l| {
            let gone: Vec<String> = l
                .tasks
                .keys()
                .filter(|arn| !present.contains(arn.as_str()))
                .cloned()
                .collect();
            for arn in &gone {
                l.forget(arn);
            }
            gone
        });
        for arn in gone {
            self.inner.credentials.forget(&arn);
        }
        for task in tasks {
            self.sync_task(&task, resend_now).await?;
        }
        Ok(())
    }

    async fn sync_task(&mut self, task: &model::Task, resend_now: bool) -> Result<(), SessionEnd> {
        if task.container_instance_arn != self.instance_arn {
            return Ok(());
        }
        if task.last_status == STOPPED {
            // The agent reported the end of the task: nothing more to tell it.
            self.ledger(|l| l.forget(&task.arn));
            self.inner.credentials.forget(&task.arn);
            return Ok(());
        }
        let resend_after = self.inner.settings.resend_after;
        let want = task.desired_status.clone();
        let next = self.ledger(|l| {
            let delivery = l.tasks.get(&task.arn);
            if delivery.and_then(|d| d.acked.as_ref()) == Some(&want) {
                return None;
            }
            match delivery.and_then(|d| d.pending.as_ref()) {
                Some(p) if p.desired_status == want => (resend_now
                    || p.sent_at.elapsed() >= resend_after)
                    .then(|| (p.message_id.clone(), p.seq_num)),
                _ => Some((new_message_id(), l.next_seq())),
            }
        });
        let Some((message_id, seq_num)) = next else {
            return Ok(());
        };
        let message = match self.payload(task, &message_id, seq_num) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(task = %task.arn, error = %e, "task cannot be sent to its agent");
                return Ok(());
            }
        };
        self.send(message.into()).await?;
        tracing::info!(task = %task.arn, desired_status = %want, %message_id, "task payload sent");
        self.ledger(|l| {
            l.sent_payload(
                &task.arn,
                PendingPayload {
                    message_id,
                    seq_num,
                    desired_status: want,
                    sent_at: Instant::now(),
                },
            )
        });
        Ok(())
    }

    fn payload(
        &self,
        task: &model::Task,
        message_id: &str,
        seq_num: i64,
    ) -> Result<PayloadMessage, PayloadBuildError> {
        let store = &self.inner.store;
        let td = store
            .task_definition(&task.task_definition_arn)
            .ok_or_else(|| {
                PayloadBuildError::MissingDefinition(task.task_definition_arn.clone())
            })?;
        let launch = Launch::read(task, &td)?;
        let roles = launch.roles();
        let now = Utc::now();
        let credentials = |role_type: RoleType, role_arn: Option<String>| {
            role_arn.map(|role| {
                self.inner
                    .credentials
                    .current(&task.arn, &role_type, &role, now)
                    .to_wire()
            })
        };
        let ctx = PayloadContext {
            region: &store.arns().region,
            account_id: &store.arns().account_id,
            launch_type: self.launch_type,
            zone: self.zone.as_deref(),
            role_credentials: credentials(RoleType::TaskApplication, roles.task_role_arn),
            execution_role_credentials: credentials(
                RoleType::TaskExecution,
                roles.execution_role_arn,
            ),
        };
        let acs_task = payload::build_task(task, &td, &launch, &ctx)?;
        Ok(PayloadMessage {
            cluster_arn: Some(self.cluster_arn.clone()),
            container_instance_arn: Some(self.instance_arn.clone()),
            message_id: Some(message_id.to_string()),
            seq_num: Some(seq_num),
            generated_at: Some(now.timestamp_millis()),
            tasks: Some(vec![Lenient::Valid(acs_task)]),
            timeline: None,
        })
    }

    async fn send_heartbeat(&mut self) -> Result<(), SessionEnd> {
        let message = HeartbeatMessage {
            healthy: Some(true),
            message_id: Some(new_message_id()),
        };
        self.send(message.into()).await?;
        self.unacked_heartbeats += 1;
        self.ledger(|l| l.stats.heartbeats_sent += 1);
        Ok(())
    }

    /// The tasks the backend places on this instance, for the agent's stale check.
    async fn send_manifest(&mut self) -> Result<(), SessionEnd> {
        let tasks: Vec<TaskIdentifier> = self
            .inner
            .store
            .tasks_on_instance(&self.instance_arn)
            .into_iter()
            .filter(|t| t.last_status != STOPPED)
            .map(|t| TaskIdentifier {
                task_arn: Some(t.arn),
                task_cluster_arn: Some(t.cluster_arn),
                desired_status: Some(t.desired_status),
            })
            .collect();
        let message_id = new_message_id();
        let timeline = self.ledger(|l| l.next_seq());
        let message = TaskManifestMessage {
            cluster_arn: Some(self.cluster_arn.clone()),
            container_instance_arn: Some(self.instance_arn.clone()),
            message_id: Some(message_id.clone()),
            generated_at: Some(Utc::now().timestamp_millis()),
            timeline: Some(timeline),
            tasks: Some(tasks),
        };
        self.send(message.into()).await?;
        self.ledger(|l| {
            l.manifests.insert(message_id, Instant::now());
            // Only the latest few matter; the agent acks each within seconds.
            if l.manifests.len() > 16
                && let Some(oldest) = l
                    .manifests
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(id, _)| id.clone())
            {
                l.manifests.remove(&oldest);
            }
            l.stats.manifests_sent += 1;
        });
        Ok(())
    }

    async fn send_credentials(
        &mut self,
        task: &model::Task,
        role_type: RoleType,
        credentials: &RoleCredentials,
        message_id: String,
        attempts: u32,
    ) -> Result<(), SessionEnd> {
        let message = IAMRoleCredentialsMessage {
            message_id: Some(message_id.clone()),
            task_arn: Some(task.arn.clone()),
            task_cluster_arn: Some(task.cluster_arn.clone()),
            role_type: Some(role_type.clone()),
            role_credentials: Some(credentials.to_wire()),
        };
        self.send(message.into()).await?;
        tracing::info!(task = %task.arn, role_type = %role_type.as_str(), credentials_id = %credentials.credentials_id, "role credentials sent");
        self.ledger(|l| {
            l.refreshes.insert(
                message_id,
                PendingRefresh {
                    task_arn: task.arn.clone(),
                    role_type,
                    credentials_id: credentials.credentials_id.clone(),
                    sent_at: Instant::now(),
                    attempts,
                },
            );
            l.stats.credential_refreshes_sent += 1;
        });
        Ok(())
    }

    /// Tasks the agent acknowledged and that are still meant to run.
    fn known_live_tasks(&self) -> Vec<model::Task> {
        let tasks = self.inner.store.tasks_on_instance(&self.instance_arn);
        self.ledger(|l| {
            tasks
                .into_iter()
                .filter(|t| t.last_status != STOPPED && t.desired_status == RUNNING)
                .filter(|t| l.tasks.get(&t.arn).is_some_and(|d| d.acked.is_some()))
                .collect()
        })
    }

    /// A restarted agent lost its credentials (they are never persisted): send the
    /// current ones of every task it knows (§3.8).
    async fn push_known_credentials(&mut self) -> Result<(), SessionEnd> {
        for task in self.known_live_tasks() {
            for role_type in role_types() {
                if let Some(credentials) = self.inner.credentials.get(&task.arn, &role_type) {
                    self.send_credentials(&task, role_type, &credentials, new_message_id(), 1)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// An agent that already knew the task ignores everything in a resent payload but
    /// its desired status, credentials included (§3.7.2): after ecs-local restarted, it
    /// would keep using sets nobody renews. The credentials message switches the task to
    /// the current sets; for a task the agent just received it changes nothing.
    async fn align_credentials(&mut self, task_arn: &str) -> Result<(), SessionEnd> {
        let Some(task) = self.inner.store.task(task_arn) else {
            return Ok(());
        };
        if task.desired_status != RUNNING || task.last_status == STOPPED {
            return Ok(());
        }
        for role_type in role_types() {
            if let Some(credentials) = self.inner.credentials.get(&task.arn, &role_type) {
                self.send_credentials(&task, role_type, &credentials, new_message_id(), 1)
                    .await?;
            }
        }
        Ok(())
    }

    /// Renews credentials close to expiry. Tasks the agent has not acknowledged get the
    /// new set with their next payload resend instead.
    async fn refresh_credentials(&mut self) -> Result<(), SessionEnd> {
        let now = Utc::now();
        let known: Vec<String> = self.known_live_tasks().into_iter().map(|t| t.arn).collect();
        for task in self.inner.store.tasks_on_instance(&self.instance_arn) {
            if task.last_status == STOPPED {
                continue;
            }
            for role_type in role_types() {
                let Some(fresh) = self
                    .inner
                    .credentials
                    .refresh_if_due(&task.arn, &role_type, now)
                else {
                    continue;
                };
                if known.contains(&task.arn) {
                    self.send_credentials(&task, role_type, &fresh, new_message_id(), 1)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn resend_refreshes(&mut self) -> Result<(), SessionEnd> {
        let resend_after = self.inner.settings.resend_after;
        let due: Vec<(String, PendingRefresh)> = self.ledger(|l| {
            l.refreshes.retain(|_, r| {
                r.attempts < MAX_REFRESH_ATTEMPTS || r.sent_at.elapsed() < resend_after
            });
            l.refreshes
                .iter()
                .filter(|(_, r)| r.sent_at.elapsed() >= resend_after)
                .map(|(id, r)| (id.clone(), r.clone()))
                .collect()
        });
        for (message_id, refresh) in due {
            let current = self
                .inner
                .credentials
                .get(&refresh.task_arn, &refresh.role_type);
            let task = self.inner.store.task(&refresh.task_arn);
            match (task, current) {
                (Some(task), Some(current))
                    if current.credentials_id == refresh.credentials_id
                        && task.last_status != STOPPED =>
                {
                    self.send_credentials(
                        &task,
                        refresh.role_type,
                        &current,
                        message_id,
                        refresh.attempts + 1,
                    )
                    .await?;
                }
                _ => {
                    self.ledger(|l| l.refreshes.remove(&message_id));
                }
            }
        }
        Ok(())
    }

    async fn on_frame(&mut self, message: Message) -> Result<(), SessionEnd> {
        match message {
            Message::Text(text) => self.on_text(text.as_str()).await,
            Message::Binary(bytes) => match std::str::from_utf8(&bytes) {
                // The reference processes binary frames like text ones.
                Ok(text) => self.on_text(text).await,
                Err(_) => {
                    self.ignored("binary frame that is not UTF-8");
                    Ok(())
                }
            },
            Message::Close(frame) => {
                tracing::info!(
                    instance = %self.instance_arn,
                    code = frame.as_ref().map(|f| f.code),
                    reason = frame.as_ref().map(|f| f.reason.as_str()).unwrap_or(""),
                    "agent closes the ACS session"
                );
                Ok(())
            }
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        }
    }

    fn ignored(&self, why: &str) {
        tracing::warn!(instance = %self.instance_arn, why, "ACS frame from the agent ignored");
        self.ledger(|l| l.stats.ignored_frames += 1);
    }

    async fn on_text(&mut self, text: &str) -> Result<(), SessionEnd> {
        let message = match AcsMessage::from_json(text) {
            Ok(m) => m,
            Err(e) => {
                self.ignored(&e.to_string());
                return Ok(());
            }
        };
        match message {
            AcsMessage::AckRequest(ack) => {
                let id = ack.message_id.unwrap_or_default();
                let mut acked_task = None;
                let outcome = self.ledger(|l| {
                    if let Some(task) = l.ack_payload(&id) {
                        let what = format!("payload of {task}");
                        acked_task = Some(task);
                        Some(what)
                    } else if l.manifests.remove(&id).is_some() {
                        l.stats.manifest_acks += 1;
                        Some("task manifest".to_string())
                    } else {
                        None
                    }
                });
                match outcome {
                    Some(what) => {
                        tracing::debug!(instance = %self.instance_arn, message_id = %id, "agent acknowledged {what}")
                    }
                    None => {
                        tracing::debug!(instance = %self.instance_arn, message_id = %id, "acknowledgement of an unknown message")
                    }
                }
                if let Some(task_arn) = acked_task {
                    self.align_credentials(&task_arn).await?;
                }
            }
            AcsMessage::HeartbeatAckRequest(_) => {
                self.unacked_heartbeats = 0;
                self.last_heartbeat_ack = Instant::now();
                self.ledger(|l| l.stats.heartbeat_acks += 1);
            }
            AcsMessage::IAMRoleCredentialsAckRequest(ack) => self.on_credentials_ack(ack),
            AcsMessage::TaskStopVerificationMessage(m) => self.on_stop_verification(m).await?,
            AcsMessage::NackRequest(nack) => tracing::info!(
                instance = %self.instance_arn,
                message_id = nack.message_id.as_deref().unwrap_or(""),
                reason = nack.reason.as_deref().unwrap_or(""),
                "agent refused a message"
            ),
            other => self.ignored(&format!(
                "{} is not a message an agent sends",
                other.message_type()
            )),
        }
        Ok(())
    }

    fn on_credentials_ack(&self, ack: IAMRoleCredentialsAckRequest) {
        let credentials_id = ack.credentials_id.unwrap_or_default();
        self.ledger(|l| {
            l.refreshes
                .retain(|_, r| r.credentials_id != credentials_id);
            l.stats.credential_acks += 1;
        });
    }

    /// Confirms the stop candidates the backend does not expect on this instance.
    async fn on_stop_verification(
        &mut self,
        message: TaskStopVerificationMessage,
    ) -> Result<(), SessionEnd> {
        let stop_tasks: Vec<TaskIdentifier> = message
            .stop_candidates
            .unwrap_or_default()
            .into_iter()
            .filter_map(|candidate| {
                let arn = candidate.task_arn.clone()?;
                let expected_here = self.inner.store.task(&arn).is_some_and(|t| {
                    t.container_instance_arn == self.instance_arn && t.desired_status == RUNNING
                });
                (!expected_here).then(|| TaskIdentifier {
                    task_arn: Some(arn),
                    task_cluster_arn: candidate.task_cluster_arn,
                    desired_status: Some(STOPPED.to_string()),
                })
            })
            .collect();
        tracing::info!(instance = %self.instance_arn, confirmed = stop_tasks.len(), "stop verification answered");
        let ack = TaskStopVerificationAck {
            message_id: message.message_id,
            generated_at: Some(Utc::now().timestamp_millis()),
            stop_tasks: Some(stop_tasks),
        };
        self.send(ack.into()).await?;
        self.ledger(|l| l.stats.stop_verifications += 1);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum PayloadBuildError {
    #[error("task definition {0} is missing")]
    MissingDefinition(String),
    #[error(transparent)]
    Payload(#[from] payload::PayloadError),
}
