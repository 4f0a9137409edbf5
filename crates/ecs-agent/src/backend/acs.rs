//! The ACS session (backend-protocol.md §3): DiscoverPollEndpoint, a signed websocket,
//! every ACS message handled or answered as the reference does, timers and reconnects.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ecs_types::acs::{
    AckRequest, HeartbeatMessage, IAMRoleCredentialsAckRequest, IAMRoleCredentialsMessage,
    NackRequest, PayloadMessage, RoleType, TaskIdentifier, TaskManifestMessage,
    TaskStopVerificationAck, TaskStopVerificationMessage,
};
use ecs_types::task::Task;
use ecs_types::{AcsMessage, TaskStatus};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::backoff::{Backoff, randomized};
use super::client::EcsClient;
use super::credentials::CredentialsStore;
use super::engine_port::TaskEngine;
use super::submitter::Submitter;
use super::ws::{self, ConnectError, WsStream};
use crate::store::Store;

/// Reason of the periodic close frame.
pub const CONNECTION_EXPIRED: &str = "ConnectionExpired: Reconnect to continue";

/// The session's timers (§3.5); tests shorten them.
#[derive(Debug, Clone)]
pub struct AcsTimers {
    /// Inactivity: `base + uniform[0, spread)`, re-armed by every decoded message.
    pub heartbeat_base: Duration,
    pub heartbeat_spread: Duration,
    /// Re-armed before every read.
    pub read_deadline: Duration,
    pub write_deadline: Duration,
    /// Periodic disconnect: `base + uniform[0, spread)`.
    pub disconnect_base: Duration,
    pub disconnect_spread: Duration,
    pub backoff: Backoff,
    /// Wait after `InactiveInstanceException`.
    pub inactive_wait: Duration,
}

impl Default for AcsTimers {
    fn default() -> Self {
        Self {
            heartbeat_base: Duration::from_secs(60),
            heartbeat_spread: Duration::from_secs(60),
            read_deadline: Duration::from_secs(180),
            write_deadline: Duration::from_secs(180),
            disconnect_base: Duration::from_secs(30 * 60),
            disconnect_spread: Duration::from_secs(5 * 60),
            backoff: Backoff::acs_reconnect(),
            inactive_wait: Duration::from_secs(3600),
        }
    }
}

/// Who this agent is on the wire.
#[derive(Debug, Clone)]
pub struct AcsIdentity {
    /// The cluster as configured (sent as `clusterArn`).
    pub cluster: String,
    pub container_instance_arn: String,
    /// Docker's release; `dockerVersion` is omitted when unknown.
    pub docker_version: Option<String>,
}

/// What the session tells the rest of the agent.
#[derive(Debug, Clone)]
pub struct AcsSignals {
    /// Bumped on every heartbeat (drives the TCS instance-status report).
    pub heartbeats: watch::Receiver<u64>,
    /// True while ACS rejects this instance as inactive (TCS disconnects).
    pub inactive: watch::Receiver<bool>,
    /// Connections that completed the handshake.
    pub connections: watch::Receiver<u64>,
    /// True while a connection is open.
    pub connected: watch::Receiver<bool>,
}

pub struct AcsSession<E: TaskEngine> {
    client: EcsClient,
    identity: AcsIdentity,
    engine: Arc<E>,
    credentials: Arc<dyn CredentialsStore>,
    submitter: Submitter,
    store: Option<Store>,
    updates_enabled: bool,
    timers: AcsTimers,
    heartbeats: watch::Sender<u64>,
    inactive: watch::Sender<bool>,
    connections: watch::Sender<u64>,
    connected: watch::Sender<bool>,
    /// Highest payload `seqNum` / manifest `timeline` seen.
    latest_seq_num: i64,
    /// The manifest whose stop verification is outstanding.
    manifest_message_id: Option<String>,
}

/// How a connection ended.
enum SessionEnd {
    /// Close codes 1000/1001/1006/1011: reconnect at once.
    Clean,
    /// Anything else: reconnect after the backoff.
    Error(String),
    Shutdown,
}

impl<E: TaskEngine> AcsSession<E> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: EcsClient,
        identity: AcsIdentity,
        engine: Arc<E>,
        credentials: Arc<dyn CredentialsStore>,
        submitter: Submitter,
        store: Option<Store>,
        updates_enabled: bool,
        timers: AcsTimers,
    ) -> Self {
        let latest_seq_num = store
            .as_ref()
            .and_then(|s| match s.manifest_seq_num() {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, "Unable to read the task manifest sequence number");
                    None
                }
            })
            .unwrap_or(-1);
        Self {
            client,
            identity,
            engine,
            credentials,
            submitter,
            store,
            updates_enabled,
            timers,
            heartbeats: watch::channel(0).0,
            inactive: watch::channel(false).0,
            connections: watch::channel(0).0,
            connected: watch::channel(false).0,
            latest_seq_num,
            manifest_message_id: None,
        }
    }

    pub fn signals(&self) -> AcsSignals {
        AcsSignals {
            heartbeats: self.heartbeats.subscribe(),
            inactive: self.inactive.subscribe(),
            connections: self.connections.subscribe(),
            connected: self.connected.subscribe(),
        }
    }

    /// Connects, serves and reconnects until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = self.timers.backoff.clone();
        let mut send_credentials = true;
        loop {
            if super::stopping(&shutdown) {
                return;
            }
            let connected = tokio::select! {
                c = self.connect(send_credentials) => c,
                _ = shutdown.changed() => continue,
            };
            let delay = match connected {
                Ok(stream) => {
                    send_credentials = false;
                    self.inactive.send_replace(false);
                    self.connections.send_modify(|n| *n += 1);
                    self.connected.send_replace(true);
                    let connected_at = Instant::now();
                    let stable = randomized(Duration::from_secs(60), Duration::from_secs(60));
                    let end = self.serve(stream, &mut shutdown).await;
                    self.connected.send_replace(false);
                    match end {
                        SessionEnd::Shutdown => return,
                        SessionEnd::Clean => {
                            tracing::info!("ACS connection closed; reconnecting");
                            backoff.reset();
                            Duration::ZERO
                        }
                        SessionEnd::Error(e) => {
                            if connected_at.elapsed() >= stable {
                                backoff.reset();
                            }
                            let delay = backoff.next_delay();
                            tracing::warn!(error = %e, ?delay, "ACS connection ended; reconnecting");
                            delay
                        }
                    }
                }
                Err(e) if e.is_inactive_instance() => {
                    tracing::warn!(error = %e, "Container instance is inactive; waiting before reconnecting");
                    self.inactive.send_replace(true);
                    self.timers.inactive_wait
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, ?delay, "Unable to connect to ACS");
                    delay
                }
            };
            if !delay.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn connect(&self, send_credentials: bool) -> Result<WsStream, ConnectError> {
        let endpoints = self
            .client
            .discover_poll_endpoint(
                &self.identity.cluster,
                &self.identity.container_instance_arn,
            )
            .await
            .map_err(super::error::BackendError::from)?;
        let mut params = vec![
            ("agentHash", crate::version::GIT_HASH.to_owned()),
            ("agentVersion", crate::version::AGENT_VERSION.to_owned()),
            ("clusterArn", self.identity.cluster.clone()),
            (
                "containerInstanceArn",
                self.identity.container_instance_arn.clone(),
            ),
            ("protocolVersion", "2".to_owned()),
            ("sendCredentials", send_credentials.to_string()),
            ("seqNum", "1".to_owned()),
        ];
        if let Some(v) = self
            .identity
            .docker_version
            .as_ref()
            .filter(|v| !v.is_empty())
        {
            params.push(("dockerVersion", format!("DockerVersion: {v}")));
        }
        let url = ws::websocket_url(&endpoints.acs, &params)?;
        let credentials = self.client.credentials().await?;
        tracing::info!(url = %url, "Connecting to ACS");
        let tls = self.client.websocket_tls();
        ws::connect(&url, &credentials, self.client.region(), tls).await
    }

    async fn serve(
        &mut self,
        stream: WsStream,
        shutdown: &mut watch::Receiver<bool>,
    ) -> SessionEnd {
        let (mut sink, mut source) = stream.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let write_deadline = self.timers.write_deadline;
        // Acks go out from here so that handlers never wait on the socket.
        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                match tokio::time::timeout(write_deadline, sink.send(msg)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("write deadline exceeded".to_owned()),
                }
            }
            Ok(())
        });
        let out = Outgoing(out_tx);
        let mut inactivity =
            Instant::now() + randomized(self.timers.heartbeat_base, self.timers.heartbeat_spread);
        let disconnect_at =
            Instant::now() + randomized(self.timers.disconnect_base, self.timers.disconnect_spread);
        let mut disconnect_sent = false;
        let end = loop {
            let read_deadline = Instant::now() + self.timers.read_deadline;
            let frame = tokio::select! {
                frame = source.next() => frame,
                _ = tokio::time::sleep_until(inactivity) => {
                    break SessionEnd::Error("no message from ACS before the heartbeat timeout".into());
                }
                _ = tokio::time::sleep_until(read_deadline) => {
                    break SessionEnd::Error("read deadline exceeded".into());
                }
                _ = tokio::time::sleep_until(disconnect_at), if !disconnect_sent => {
                    disconnect_sent = true;
                    tracing::info!("Closing the ACS connection to refresh it");
                    out.close(CloseCode::Normal, CONNECTION_EXPIRED);
                    continue;
                }
                _ = shutdown.changed() => {
                    if super::stopping(shutdown) {
                        out.close(CloseCode::Normal, "Agent shutting down");
                        break SessionEnd::Shutdown;
                    }
                    continue;
                }
            };
            let text = match frame {
                None => break SessionEnd::Clean,
                Some(Err(e)) => break classify_read_error(e),
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Binary(bytes))) => {
                    tracing::warn!("Unexpected binary frame from ACS; processing it");
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                Some(Ok(Message::Close(frame))) => break classify_close(frame),
                Some(Ok(_)) => continue,
            };
            let message = match AcsMessage::from_json(&text) {
                Ok(AcsMessage::Unknown { message_type, .. }) => {
                    tracing::warn!(message_type, "Unknown ACS message type; dropped");
                    continue;
                }
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "Undecodable ACS message; dropped");
                    continue;
                }
            };
            inactivity = Instant::now()
                + randomized(self.timers.heartbeat_base, self.timers.heartbeat_spread);
            self.handle(message, &out).await;
        };
        drop(out);
        // The reader saw how the connection ended; a write failing on the way out
        // changes nothing about how to reconnect.
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), writer).await {
            tracing::debug!(error = %e, "ACS writer stopped");
        }
        end
    }

    async fn handle(&mut self, message: AcsMessage, out: &Outgoing) {
        tracing::debug!(message_type = message.message_type(), "ACS message");
        match message {
            AcsMessage::HeartbeatMessage(m) => self.on_heartbeat(m, out),
            AcsMessage::PayloadMessage(m) => self.on_payload(m, out).await,
            AcsMessage::IAMRoleCredentialsMessage(m) => self.on_credentials(m, out).await,
            AcsMessage::TaskManifestMessage(m) => self.on_manifest(m, out).await,
            AcsMessage::TaskStopVerificationAck(m) => self.on_stop_verification(m).await,
            AcsMessage::AttachTaskNetworkInterfacesMessage(m) => {
                let valid = nonempty(&m.message_id)
                    && nonempty(&m.cluster_arn)
                    && nonempty(&m.container_instance_arn)
                    && nonempty(&m.task_arn)
                    && m.wait_timeout_ms.unwrap_or(0) > 0
                    && m.elastic_network_interfaces
                        .as_ref()
                        .is_some_and(|e| !e.is_empty());
                // Task ENIs (awsvpc) are not supported here: acknowledged as the reference
                // does for a valid message; the task itself is refused by the engine.
                if valid {
                    out.send(ack(
                        &m.cluster_arn,
                        &m.container_instance_arn,
                        &m.message_id,
                    ));
                } else {
                    tracing::error!("Invalid AttachTaskNetworkInterfacesMessage; not acknowledged");
                }
            }
            AcsMessage::AttachInstanceNetworkInterfacesMessage(m) => {
                let valid = nonempty(&m.message_id)
                    && nonempty(&m.cluster_arn)
                    && nonempty(&m.container_instance_arn)
                    && m.wait_timeout_ms.unwrap_or(0) > 0
                    && m.elastic_network_interfaces
                        .as_ref()
                        .is_some_and(|e| !e.is_empty());
                if valid {
                    out.send(ack(
                        &m.cluster_arn,
                        &m.container_instance_arn,
                        &m.message_id,
                    ));
                } else {
                    tracing::error!(
                        "Invalid AttachInstanceNetworkInterfacesMessage; not acknowledged"
                    );
                }
            }
            AcsMessage::ConfirmAttachmentMessage(m) => {
                let arn_ok = |v: &Option<String>| {
                    v.as_deref()
                        .is_some_and(|a| a.parse::<ecs_types::Arn>().is_ok())
                };
                let valid = nonempty(&m.message_id)
                    && arn_ok(&m.cluster_arn)
                    && arn_ok(&m.container_instance_arn)
                    && m.attachment
                        .as_ref()
                        .is_some_and(|a| arn_ok(&a.attachment_arn));
                if valid {
                    out.send(ack(
                        &m.cluster_arn,
                        &m.container_instance_arn,
                        &m.message_id,
                    ));
                } else {
                    tracing::error!("Invalid ConfirmAttachmentMessage; not acknowledged");
                }
            }
            AcsMessage::StageUpdateMessage(m) => {
                out.send(nack(
                    &m.cluster_arn,
                    &m.container_instance_arn,
                    &m.message_id,
                    self.update_refusal(),
                ));
            }
            AcsMessage::PerformUpdateMessage(m) => {
                let reason = if self.updates_enabled {
                    "Cannot perform update; update not downloaded"
                } else {
                    "Updates are disabled"
                };
                out.send(nack(
                    &m.cluster_arn,
                    &m.container_instance_arn,
                    &m.message_id,
                    reason,
                ));
            }
            AcsMessage::ErrorMessage(m) => {
                tracing::warn!(message = ?m, "ACS error message");
            }
            AcsMessage::CloseMessage(m) => {
                tracing::info!(message = ?m, "ACS close message");
            }
            other => {
                tracing::info!("No handler for message type: {}", other.message_type());
            }
        }
    }

    fn update_refusal(&self) -> &'static str {
        if self.updates_enabled {
            "Unable to download: self-update is not supported by this agent"
        } else {
            "Updates are disabled"
        }
    }

    fn on_heartbeat(&self, m: HeartbeatMessage, out: &Outgoing) {
        out.send(m.ack().into());
        self.heartbeats.send_modify(|n| *n += 1);
    }

    async fn on_payload(&mut self, m: PayloadMessage, out: &Outgoing) {
        if !nonempty(&m.message_id)
            || !nonempty(&m.cluster_arn)
            || !nonempty(&m.container_instance_arn)
        {
            tracing::error!(
                "PayloadMessage without messageId, clusterArn or containerInstanceArn; dropped"
            );
            return;
        }
        let mut all_ok = true;
        let mut valid: Vec<Task> = Vec::new();
        for task in m.tasks() {
            match task.clone().into_result() {
                Ok(task) => match self.store_task_credentials(&task) {
                    Ok(()) => valid.push(task),
                    Err(e) => {
                        all_ok = false;
                        self.report_invalid(task.arn.as_deref(), &e).await;
                    }
                },
                Err(invalid) => {
                    all_ok = false;
                    let arn = invalid.str_member("arn").map(str::to_owned);
                    self.report_invalid(arn.as_deref(), &invalid.error).await;
                }
            }
        }
        // Stops first, then everything else (§3.7.2 step 4).
        let (stops, others): (Vec<Task>, Vec<Task>) = valid
            .into_iter()
            .partition(|t| t.desired_status.as_deref() == Some("STOPPED"));
        let mut accepted = Vec::new();
        for task in stops.into_iter().chain(others) {
            let arn = task.arn.clone().unwrap_or_default();
            match self.engine.accept_task(task.clone()).await {
                Ok(()) => accepted.push(task),
                Err(e) => {
                    all_ok = false;
                    tracing::error!(task = %arn, error = %e, "Task not accepted; payload not acknowledged");
                }
            }
        }
        if let Some(seq) = m.seq_num {
            self.latest_seq_num = self.latest_seq_num.max(seq);
        }
        if !all_ok {
            return;
        }
        out.send(m.ack().into());
        for task in &accepted {
            for creds in [&task.role_credentials, &task.execution_role_credentials]
                .into_iter()
                .flatten()
            {
                out.send(
                    IAMRoleCredentialsAckRequest::for_credentials(
                        m.message_id.clone(),
                        Some(creds),
                    )
                    .into(),
                );
            }
        }
    }

    fn store_task_credentials(&self, task: &Task) -> Result<(), String> {
        let arn = task.arn.as_deref().unwrap_or_default();
        for (creds, role) in [
            (&task.role_credentials, RoleType::TaskApplication),
            (&task.execution_role_credentials, RoleType::TaskExecution),
        ] {
            if let Some(creds) = creds
                && !self.credentials.store(arn, &role, creds)
            {
                return Err("role credentials without a credentialsId".to_owned());
            }
        }
        Ok(())
    }

    async fn report_invalid(&self, arn: Option<&str>, error: &str) {
        tracing::warn!(task = ?arn, error, "Invalid task in PayloadMessage");
        if let Some(arn) = arn.filter(|a| !a.is_empty())
            && let Err(e) = self.submitter.report_unrecognized_task(arn, error).await
        {
            tracing::error!(error = %e, "Unable to queue the state change of an invalid task");
        }
    }

    async fn on_credentials(&self, m: IAMRoleCredentialsMessage, out: &Outgoing) {
        let (Some(task_arn), Some(creds), Some(role)) =
            (&m.task_arn, &m.role_credentials, &m.role_type)
        else {
            tracing::error!(
                "IAMRoleCredentialsMessage missing taskArn, roleCredentials or roleType; dropped"
            );
            return;
        };
        if !nonempty(&m.message_id) || role.is_other() {
            tracing::error!(
                "IAMRoleCredentialsMessage without messageId or with an unknown roleType; dropped"
            );
            return;
        }
        let Some(id) = creds.credentials_id.clone().filter(|id| !id.is_empty()) else {
            tracing::error!("IAMRoleCredentialsMessage without credentialsId; dropped");
            return;
        };
        self.credentials.store(task_arn, role, creds);
        if !self.engine.set_credentials_id(task_arn, role, &id).await {
            tracing::error!(task = %task_arn, "Credentials for a task the engine does not know; not acknowledged");
            return;
        }
        out.send(m.ack().into());
    }

    async fn on_manifest(&mut self, m: TaskManifestMessage, out: &Outgoing) {
        let Some(timeline) = m.timeline else {
            tracing::error!("TaskManifestMessage without timeline; dropped");
            return;
        };
        if timeline <= self.latest_seq_num {
            tracing::info!(
                timeline,
                latest = self.latest_seq_num,
                "Stale task manifest; dropped"
            );
            return;
        }
        self.manifest_message_id = m.message_id.clone();
        self.latest_seq_num = timeline;
        if let Some(store) = &self.store {
            let store = store.clone();
            let saved =
                tokio::task::spawn_blocking(move || store.set_manifest_seq_num(timeline)).await;
            if !matches!(saved, Ok(Ok(()))) {
                tracing::error!("Unable to save the task manifest sequence number");
            }
        }
        let listed: HashSet<&str> = m
            .tasks
            .iter()
            .flatten()
            .filter(|t| t.desired_status.as_deref() == Some("RUNNING"))
            .filter_map(|t| t.task_arn.as_deref())
            .collect();
        let candidates: Vec<TaskIdentifier> = self
            .engine
            .desired_statuses()
            .await
            .into_iter()
            .filter(|(arn, desired)| {
                *desired == TaskStatus::Running && !listed.contains(arn.as_str())
            })
            .map(|(arn, _)| TaskIdentifier {
                task_arn: Some(arn),
                task_cluster_arn: m.cluster_arn.clone(),
                desired_status: Some("STOPPED".to_owned()),
            })
            .collect();
        out.send(m.ack().into());
        if !candidates.is_empty() {
            out.send(
                TaskStopVerificationMessage {
                    message_id: m.message_id.clone(),
                    stop_candidates: Some(candidates),
                }
                .into(),
            );
        }
    }

    async fn on_stop_verification(&mut self, m: TaskStopVerificationAck) {
        if m.message_id.is_none() || m.message_id != self.manifest_message_id {
            tracing::info!("TaskStopVerificationAck for another manifest; ignored");
            return;
        }
        self.manifest_message_id = None;
        for task in m.stop_tasks.iter().flatten() {
            if let Some(arn) = &task.task_arn
                && !self.engine.stop_task(arn).await
            {
                tracing::info!(task = %arn, "Stop verification names a task the engine does not know");
            }
        }
    }
}

fn nonempty(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

fn ack(cluster: &Option<String>, instance: &Option<String>, id: &Option<String>) -> AcsMessage {
    AckRequest {
        cluster: cluster.clone(),
        container_instance: instance.clone(),
        message_id: id.clone(),
    }
    .into()
}

fn nack(
    cluster: &Option<String>,
    instance: &Option<String>,
    id: &Option<String>,
    reason: &str,
) -> AcsMessage {
    NackRequest {
        cluster: cluster.clone(),
        container_instance: instance.clone(),
        message_id: id.clone(),
        reason: Some(reason.to_owned()),
    }
    .into()
}

/// The writer's queue.
struct Outgoing(mpsc::UnboundedSender<Message>);

impl Outgoing {
    fn send(&self, message: AcsMessage) {
        match message.to_json() {
            Ok(text) => {
                let _ = self.0.send(Message::text(text));
            }
            Err(e) => tracing::error!(error = %e, "Unable to encode an ACS message"),
        }
    }

    fn close(&self, code: CloseCode, reason: &str) {
        let _ = self.0.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned().into(),
        })));
    }
}

fn classify_close(frame: Option<CloseFrame>) -> SessionEnd {
    match frame.map(|f| f.code) {
        None
        | Some(CloseCode::Normal)
        | Some(CloseCode::Away)
        | Some(CloseCode::Abnormal)
        | Some(CloseCode::Error) => SessionEnd::Clean,
        Some(code) => SessionEnd::Error(format!("closed by ACS with code {code}")),
    }
}

fn classify_read_error(e: tokio_tungstenite::tungstenite::Error) -> SessionEnd {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match e {
        Error::ConnectionClosed
        | Error::AlreadyClosed
        | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => SessionEnd::Clean,
        other => SessionEnd::Error(other.to_string()),
    }
}
