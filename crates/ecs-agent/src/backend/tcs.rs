//! The TCS session (backend-protocol.md §5): container metrics from Docker stats, task
//! health and instance status, published over a websocket whose every outgoing frame
//! carries a signed header block.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use ecs_types::tcs::{
    CWStatsSet, ContainerHealth, ContainerMetric, EpochSeconds, HealthMetadata,
    InstanceHealthcheckStatus, InstanceStatus, InstanceStatusMetadata, MetricsMetadata,
    PublishHealthRequest, PublishInstanceStatusRequest, PublishMetricsRequest, TaskHealth,
    TaskMetric,
};
use ecs_types::{ContainerStatus, HealthStatus, TcsMessage};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use url::Url;

use super::acs::CONNECTION_EXPIRED;
use super::backoff::{Backoff, randomized};
use super::client::EcsClient;
use super::engine_port::TaskEngine;
use super::ws;
use crate::docker::{ContainerStats, DockerApi};
use crate::engine::state::{Health, TaskSnapshot};

/// Task metrics per request.
const TASKS_PER_REQUEST: usize = 10;
/// Largest request body.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Publications waiting for a connection.
const QUEUE_SIZE: usize = 15;

/// Timers of the session; tests shorten them.
#[derive(Debug, Clone)]
pub struct TcsTimers {
    pub publish_interval: Duration,
    pub heartbeat_base: Duration,
    pub heartbeat_spread: Duration,
    pub read_deadline: Duration,
    pub disconnect_base: Duration,
    pub disconnect_spread: Duration,
    pub backoff: Backoff,
}

impl Default for TcsTimers {
    fn default() -> Self {
        Self {
            publish_interval: Duration::from_secs(20),
            heartbeat_base: Duration::from_secs(60),
            heartbeat_spread: Duration::from_secs(60),
            read_deadline: Duration::from_secs(180),
            disconnect_base: Duration::from_secs(30 * 60),
            disconnect_spread: Duration::from_secs(5 * 60),
            backoff: Backoff::tcs_reconnect(),
        }
    }
}

/// How metrics are collected.
#[derive(Debug, Clone, Copy)]
pub struct MetricsMode {
    /// `ECS_DISABLE_METRICS`.
    pub disabled: bool,
    /// `ECS_POLL_METRICS`: one sample per `poll_interval` instead of Docker's stream.
    pub poll: bool,
    /// `ECS_POLLING_METRICS_WAIT_DURATION`.
    pub poll_interval: Duration,
}

/// Who this agent is on the wire.
#[derive(Debug, Clone)]
pub struct TcsIdentity {
    pub cluster: String,
    pub container_instance_arn: String,
    pub docker_version: Option<String>,
}

/// CPU (percent of one vCPU) and memory (MiB) samples of one container since the
/// last publication.
#[derive(Debug, Clone, Default)]
struct Accumulated {
    cpu: Vec<f64>,
    memory: Vec<f64>,
    last: Option<ContainerStats>,
}

type Samples = Arc<Mutex<HashMap<String, Accumulated>>>;

pub struct TcsSession<E: TaskEngine> {
    client: EcsClient,
    identity: TcsIdentity,
    engine: Arc<E>,
    docker: Arc<dyn DockerApi>,
    mode: MetricsMode,
    timers: TcsTimers,
    heartbeats: watch::Receiver<u64>,
    inactive: watch::Receiver<bool>,
    published: watch::Sender<u64>,
}

impl<E: TaskEngine> TcsSession<E> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: EcsClient,
        identity: TcsIdentity,
        engine: Arc<E>,
        docker: Arc<dyn DockerApi>,
        mode: MetricsMode,
        timers: TcsTimers,
        heartbeats: watch::Receiver<u64>,
        inactive: watch::Receiver<bool>,
    ) -> Self {
        Self {
            client,
            identity,
            engine,
            docker,
            mode,
            timers,
            heartbeats,
            inactive,
            published: watch::channel(0).0,
        }
    }

    /// Counts frames written to TCS.
    pub fn published(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let samples: Samples = Arc::new(Mutex::new(HashMap::new()));
        let (queue_tx, queue_rx) = mpsc::channel::<TcsMessage>(QUEUE_SIZE);
        let this = Arc::new(self);
        if !this.mode.disabled {
            tokio::spawn(this.clone().sample(samples.clone(), shutdown.clone()));
        }
        tokio::spawn(this.clone().produce(samples, queue_tx, shutdown.clone()));
        this.connect_loop(queue_rx, shutdown).await;
    }

    /// Collects Docker stats of every running container: one sample per poll interval
    /// (`ECS_POLL_METRICS`), or Docker's own stream (about one sample a second) per
    /// container, started when it runs and dropped when it stops.
    async fn sample(self: Arc<Self>, samples: Samples, mut shutdown: watch::Receiver<bool>) {
        let interval = if self.mode.poll {
            self.mode.poll_interval
        } else {
            Duration::from_secs(1)
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut streams: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => if super::stopping(&shutdown) { break },
            }
            let ids: Vec<String> = self
                .engine
                .list_tasks()
                .await
                .iter()
                .flat_map(|t| t.containers.iter())
                .filter(|c| c.known == ContainerStatus::Running)
                .filter_map(|c| c.docker_id.clone())
                .collect();
            if self.mode.poll {
                for id in &ids {
                    let Ok(stats) = self.docker.stats_once(id, Duration::from_secs(10)).await
                    else {
                        continue;
                    };
                    let mut map = samples.lock().unwrap_or_else(|p| p.into_inner());
                    let acc = map.entry(id.clone()).or_default();
                    if let Some(cpu) = acc.last.as_ref().and_then(|prev| cpu_between(prev, &stats))
                    {
                        acc.cpu.push(cpu);
                    }
                    acc.memory.push(memory_mib(&stats));
                    acc.last = Some(stats);
                }
            } else {
                streams.retain(|id, handle| {
                    let keep = ids.contains(id) && !handle.is_finished();
                    if !keep {
                        handle.abort();
                    }
                    keep
                });
                for id in &ids {
                    if !streams.contains_key(id) {
                        let stream = self.docker.stats_stream(id);
                        let handle = tokio::spawn(read_stream(id.clone(), stream, samples.clone()));
                        streams.insert(id.clone(), handle);
                    }
                }
            }
            let mut map = samples.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|id, _| ids.contains(id));
        }
        for (_, handle) in streams {
            handle.abort();
        }
    }

    /// Every publish interval: metrics, health and (after a heartbeat) instance status.
    async fn produce(
        self: Arc<Self>,
        samples: Samples,
        queue: mpsc::Sender<TcsMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(self.timers.publish_interval);
        let mut heartbeats = self.heartbeats.clone();
        let mut last_status: Option<(InstanceHealthcheckStatus, EpochSeconds)> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => if super::stopping(&shutdown) { return },
            }
            let tasks = self.engine.list_tasks().await;
            let mut batch: Vec<TcsMessage> = Vec::new();
            if !self.mode.disabled {
                let drained = {
                    let mut map = samples.lock().unwrap_or_else(|p| p.into_inner());
                    map.iter_mut()
                        .map(|(id, acc)| {
                            let taken = (
                                std::mem::take(&mut acc.cpu),
                                std::mem::take(&mut acc.memory),
                            );
                            (id.clone(), taken)
                        })
                        .collect::<HashMap<_, _>>()
                };
                batch.extend(
                    metrics_requests(&self.identity, &tasks, &drained)
                        .into_iter()
                        .map(TcsMessage::from),
                );
            }
            batch.extend(
                health_requests(&self.identity, &tasks)
                    .into_iter()
                    .map(TcsMessage::from),
            );
            if heartbeats.has_changed().unwrap_or(false) {
                heartbeats.mark_unchanged();
                let status = match self.docker.ping(Duration::from_secs(10)).await {
                    Ok(()) => InstanceHealthcheckStatus::Ok,
                    Err(_) => InstanceHealthcheckStatus::Impaired,
                };
                let now = EpochSeconds::from_datetime(Utc::now());
                let since = match &last_status {
                    Some((s, at)) if *s == status => *at,
                    _ => now,
                };
                last_status = Some((status.clone(), since));
                batch.push(
                    PublishInstanceStatusRequest {
                        metadata: Some(InstanceStatusMetadata {
                            cluster: Some(self.identity.cluster.clone()),
                            container_instance: Some(self.identity.container_instance_arn.clone()),
                            request_id: Some(uuid::Uuid::new_v4().to_string()),
                        }),
                        statuses: Some(vec![InstanceStatus {
                            status_type: Some("ContainerRuntime".to_owned()),
                            status: Some(status),
                            status_reason: None,
                            last_updated: Some(now),
                            last_status_change: Some(since),
                        }]),
                        timestamp: Some(now),
                    }
                    .into(),
                );
            }
            for message in batch {
                // A full queue (TCS down) drops new publications after a second.
                if queue
                    .send_timeout(message, Duration::from_secs(1))
                    .await
                    .is_err()
                {
                    tracing::debug!("TCS queue full; publication discarded");
                }
            }
        }
    }

    async fn connect_loop(
        &self,
        mut queue: mpsc::Receiver<TcsMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = self.timers.backoff.clone();
        let mut inactive = self.inactive.clone();
        loop {
            if super::stopping(&shutdown) {
                return;
            }
            if *inactive.borrow() {
                tokio::select! {
                    changed = inactive.changed() => if changed.is_err() {
                        // The ACS session is gone: so is the agent.
                        return;
                    },
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let connected = tokio::select! {
                c = self.connect() => c,
                _ = shutdown.changed() => continue,
            };
            let clean = match connected {
                Ok((url, stream)) => {
                    let clean = self
                        .serve(&url, stream, &mut queue, &mut shutdown, &mut inactive)
                        .await;
                    if clean {
                        backoff.reset();
                    }
                    clean
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Unable to connect to TCS");
                    false
                }
            };
            if !clean {
                let delay = backoff.next_delay();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn connect(&self) -> Result<(Url, ws::WsStream), String> {
        let endpoints = self
            .client
            .discover_poll_endpoint(
                &self.identity.cluster,
                &self.identity.container_instance_arn,
            )
            .await
            .map_err(|e| e.to_string())?;
        let telemetry = endpoints
            .telemetry
            .filter(|t| !t.is_empty())
            .ok_or("no telemetry endpoint returned")?;
        let mut params = vec![
            ("agentHash", crate::version::GIT_HASH.to_owned()),
            ("agentVersion", crate::version::AGENT_VERSION.to_owned()),
            ("cluster", self.identity.cluster.clone()),
            (
                "containerInstance",
                self.identity.container_instance_arn.clone(),
            ),
        ];
        if let Some(v) = self
            .identity
            .docker_version
            .as_ref()
            .filter(|v| !v.is_empty())
        {
            params.push(("dockerVersion", v.clone()));
        }
        let url = ws::websocket_url(&telemetry, &params).map_err(|e| e.to_string())?;
        let credentials = self.client.credentials().await.map_err(|e| e.to_string())?;
        let tls = self.client.websocket_tls();
        let stream = ws::connect(&url, &credentials, self.client.region(), tls)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(url = %url, "Connected to TCS");
        Ok((url, stream))
    }

    /// Serves one connection; true when it ended cleanly (reconnect at once).
    async fn serve(
        &self,
        url: &Url,
        stream: ws::WsStream,
        queue: &mut mpsc::Receiver<TcsMessage>,
        shutdown: &mut watch::Receiver<bool>,
        inactive: &mut watch::Receiver<bool>,
    ) -> bool {
        let (mut sink, mut source) = stream.split();
        let mut heartbeat_at =
            Instant::now() + randomized(self.timers.heartbeat_base, self.timers.heartbeat_spread);
        let mut read_deadline = Instant::now() + self.timers.read_deadline;
        let disconnect_at =
            Instant::now() + randomized(self.timers.disconnect_base, self.timers.disconnect_spread);
        let mut closing = false;
        let mut watching_inactive = true;
        let expire = || {
            Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: CONNECTION_EXPIRED.into(),
            }))
        };
        loop {
            tokio::select! {
                frame = source.next() => match frame {
                    None => return true,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "TCS connection ended");
                        return matches!(e, tokio_tungstenite::tungstenite::Error::ConnectionClosed
                            | tokio_tungstenite::tungstenite::Error::Protocol(
                                tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake));
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return matches!(frame.map(|f| f.code), None | Some(CloseCode::Normal | CloseCode::Away | CloseCode::Abnormal | CloseCode::Error));
                    }
                    Some(Ok(Message::Text(text))) => {
                        read_deadline = Instant::now() + self.timers.read_deadline;
                        match TcsMessage::from_frame(&text) {
                            Ok(
                                TcsMessage::HeartbeatMessage(_)
                                | TcsMessage::AckPublishMetric(_)
                                | TcsMessage::AckPublishHealth(_)
                                | TcsMessage::AckPublishInstanceStatus(_),
                            ) => {
                                heartbeat_at = Instant::now()
                                    + randomized(self.timers.heartbeat_base, self.timers.heartbeat_spread);
                            }
                            Ok(other) => tracing::debug!(message_type = other.message_type(), "TCS message"),
                            Err(e) => tracing::warn!(error = %e, "Undecodable TCS message"),
                        }
                    }
                    Some(Ok(_)) => {}
                },
                message = queue.recv(), if !closing => {
                    let Some(message) = message else { return false };
                    let frame = match message.to_json() {
                        Ok(json) => match self.client.credentials().await {
                            Ok(creds) => ws::signed_frame(url, &json, &creds, self.client.region()),
                            Err(e) => Err(e),
                        },
                        Err(e) => {
                            tracing::error!(error = %e, "Unable to encode a TCS message");
                            continue;
                        }
                    };
                    let frame = match frame {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::error!(error = %e, "Unable to sign a TCS frame");
                            continue;
                        }
                    };
                    if let Err(e) = sink.send(Message::text(frame)).await {
                        tracing::warn!(error = %e, "Unable to write to TCS");
                        return false;
                    }
                    self.published.send_modify(|n| *n += 1);
                }
                _ = tokio::time::sleep_until(heartbeat_at), if !closing => {
                    closing = true;
                    let _ = sink.send(expire()).await;
                }
                _ = tokio::time::sleep_until(disconnect_at), if !closing => {
                    closing = true;
                    let _ = sink.send(expire()).await;
                }
                _ = tokio::time::sleep_until(read_deadline) => return false,
                changed = inactive.changed(), if watching_inactive => match changed {
                    Err(_) => watching_inactive = false,
                    Ok(()) if *inactive.borrow() => {
                        let _ = sink.send(expire()).await;
                        return true;
                    }
                    Ok(()) => {}
                },
                _ = shutdown.changed() => if super::stopping(shutdown) {
                    let _ = sink.send(Message::Close(None)).await;
                    return true;
                },
            }
        }
    }
}

/// Accumulates one container's streamed samples until the stream ends.
async fn read_stream(
    id: String,
    mut stream: futures::stream::BoxStream<
        'static,
        Result<ContainerStats, crate::docker::DockerError>,
    >,
    samples: Samples,
) {
    while let Some(Ok(stats)) = stream.next().await {
        let mut map = samples.lock().unwrap_or_else(|p| p.into_inner());
        let acc = map.entry(id.clone()).or_default();
        if let Some(cpu) = stats.cpu_percent() {
            acc.cpu.push(cpu);
        }
        acc.memory.push(memory_mib(&stats));
    }
}

/// CPU between two one-shot samples, in percent of one vCPU.
fn cpu_between(prev: &ContainerStats, cur: &ContainerStats) -> Option<f64> {
    let mut joined = cur.clone();
    joined.precpu_stats = prev.cpu_stats.clone();
    joined.cpu_percent()
}

/// Working set in MiB: usage without the page cache that can be reclaimed.
fn memory_mib(s: &ContainerStats) -> f64 {
    let m = &s.memory_stats;
    let cache = ["total_inactive_file", "inactive_file", "cache"]
        .iter()
        .find_map(|k| m.stats.get(*k))
        .copied()
        .unwrap_or(0);
    m.usage.saturating_sub(cache) as f64 / (1024.0 * 1024.0)
}

fn stats_set(values: &[f64]) -> Option<CWStatsSet> {
    if values.is_empty() {
        return None;
    }
    Some(CWStatsSet {
        min: values.iter().copied().reduce(f64::min),
        max: values.iter().copied().reduce(f64::max),
        sample_count: Some(values.len() as u64),
        sum: Some(values.iter().sum()),
    })
}

type Drained = HashMap<String, (Vec<f64>, Vec<f64>)>;

/// One batch of PublishMetricsRequests (§5.3.1).
fn metrics_requests(
    identity: &TcsIdentity,
    tasks: &[TaskSnapshot],
    drained: &Drained,
) -> Vec<PublishMetricsRequest> {
    let now = EpochSeconds::from_datetime(Utc::now());
    let message_id = uuid::Uuid::new_v4().to_string();
    let metadata = |idle: bool, fin: bool| MetricsMetadata {
        cluster: Some(identity.cluster.clone()),
        container_instance: Some(identity.container_instance_arn.clone()),
        message_id: Some(message_id.clone()),
        idle: Some(idle),
        fin: Some(fin),
    };
    let task_metrics: Vec<TaskMetric> = tasks
        .iter()
        .filter_map(|t| {
            let containers: Vec<ContainerMetric> = t
                .spec
                .containers
                .iter()
                .zip(&t.containers)
                .filter_map(|(spec, state)| {
                    let (cpu, mem) = drained.get(state.docker_id.as_ref()?)?;
                    if cpu.is_empty() && mem.is_empty() {
                        return None;
                    }
                    Some(ContainerMetric {
                        container_name: Some(spec.name.clone()),
                        cpu_stats_set: stats_set(cpu),
                        memory_stats_set: stats_set(mem),
                        ..Default::default()
                    })
                })
                .collect();
            (!containers.is_empty()).then(|| TaskMetric {
                task_arn: Some(t.spec.arn.clone()),
                task_definition_family: Some(t.spec.family.clone()),
                task_definition_version: Some(t.spec.version.clone()),
                container_metrics: Some(containers),
                ..Default::default()
            })
        })
        .collect();
    let has_stats_tasks = tasks.iter().any(|t| {
        t.containers
            .iter()
            .any(|c| c.known == ContainerStatus::Running)
    });
    if !has_stats_tasks {
        return vec![PublishMetricsRequest {
            metadata: Some(metadata(true, true)),
            instance_metrics: None,
            task_metrics: None,
            timestamp: Some(now),
        }];
    }
    let mut chunks: Vec<Vec<TaskMetric>> = Vec::new();
    for metric in task_metrics {
        let fits = chunks.last().is_some_and(|c| {
            c.len() < TASKS_PER_REQUEST
                && serde_json::to_vec(c).map_or(0, |v| v.len())
                    + serde_json::to_vec(&metric).map_or(0, |v| v.len())
                    < MAX_REQUEST_BYTES
        });
        if fits {
            if let Some(c) = chunks.last_mut() {
                c.push(metric);
            }
        } else {
            chunks.push(vec![metric]);
        }
    }
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| PublishMetricsRequest {
            metadata: Some(metadata(false, i + 1 == n)),
            instance_metrics: None,
            task_metrics: Some(chunk),
            timestamp: Some(now),
        })
        .collect()
}

/// PublishHealthRequests for tasks with Docker health checks (§5.3.2).
fn health_requests(identity: &TcsIdentity, tasks: &[TaskSnapshot]) -> Vec<PublishHealthRequest> {
    let now = EpochSeconds::from_datetime(Utc::now());
    let healths: Vec<TaskHealth> = tasks
        .iter()
        .filter_map(|t| {
            let containers: Vec<ContainerHealth> = t
                .spec
                .containers
                .iter()
                .zip(&t.containers)
                .filter(|(spec, _)| spec.health_check)
                .map(|(spec, state)| ContainerHealth {
                    container_name: Some(spec.name.clone()),
                    health_status: Some(match state.health {
                        Health::Healthy => HealthStatus::Healthy,
                        Health::Unhealthy => HealthStatus::Unhealthy,
                        Health::Unknown => HealthStatus::Unknown,
                    }),
                    status_since: Some(
                        state
                            .started_at
                            .map(EpochSeconds::from_datetime)
                            .unwrap_or(now),
                    ),
                    status_message: None,
                })
                .collect();
            (!containers.is_empty()).then(|| TaskHealth {
                task_arn: Some(t.spec.arn.clone()),
                cluster_arn: None,
                task_definition_family: Some(t.spec.family.clone()),
                task_definition_version: Some(t.spec.version.clone()),
                containers: Some(containers),
            })
        })
        .collect();
    let message_id = uuid::Uuid::new_v4().to_string();
    let n = healths.len().div_ceil(TASKS_PER_REQUEST);
    healths
        .chunks(TASKS_PER_REQUEST)
        .enumerate()
        .map(|(i, chunk)| PublishHealthRequest {
            metadata: Some(HealthMetadata {
                cluster: Some(identity.cluster.clone()),
                container_instance: Some(identity.container_instance_arn.clone()),
                message_id: Some(message_id.clone()),
                fin: Some(i + 1 == n),
            }),
            tasks: Some(chunk.to_vec()),
            timestamp: Some(now),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_instance_sends_one_final_idle_request() {
        let identity = TcsIdentity {
            cluster: "local".into(),
            container_instance_arn: "arn".into(),
            docker_version: None,
        };
        let reqs = metrics_requests(&identity, &[], &HashMap::new());
        assert_eq!(reqs.len(), 1);
        let meta = reqs[0].metadata.clone().unwrap();
        assert_eq!((meta.idle, meta.fin), (Some(true), Some(true)));
        assert!(reqs[0].task_metrics.is_none());
        assert!(health_requests(&identity, &[]).is_empty());
    }

    #[test]
    fn stats_sets_summarise_samples() {
        let s = stats_set(&[1.0, 3.0, 2.0]).unwrap();
        assert_eq!(
            (s.min, s.max, s.sample_count, s.sum),
            (Some(1.0), Some(3.0), Some(3), Some(6.0))
        );
        assert!(stats_set(&[]).is_none());
    }
}
