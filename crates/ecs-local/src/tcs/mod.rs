//! The TCS websocket server (backend-protocol.md §5): agents dial
//! `<telemetryEndpoint>/ws` and publish metrics, container health and instance status.
//! Every publication is acknowledged with its `Ack*` type and the latest values are kept
//! in memory ([`TcsServer::task_telemetry`], [`TcsServer::instance_telemetry`]).

pub mod health;
mod telemetry;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ecs_types::TcsMessage;
use ecs_types::acs::HandshakeError;
use ecs_types::tcs::{
    AckPublishHealth, AckPublishInstanceStatus, AckPublishMetric, HeartbeatMessage,
};
use tokio::sync::watch;
use tokio::time::{MissedTickBehavior, interval_at};

use crate::acs::{Refusal, refuse};
use crate::api::sigv4::Verifier;
use crate::server::TCS_BASE_PATH;
use crate::store::{Store, arn};

use telemetry::Telemetry;
pub use telemetry::{InstanceTelemetry, TaskTelemetry};

const ACK_TEXT: &str = "ok";
const CLOSE_GOING_AWAY: u16 = 1001;

struct Inner {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    heartbeat_interval: Duration,
    telemetry: Mutex<Telemetry>,
    shutdown: watch::Sender<bool>,
}

/// The TCS server: routes for the HTTP server, the telemetry received, and shutdown.
#[derive(Clone)]
pub struct TcsServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TcsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcsServer").finish_non_exhaustive()
    }
}

impl Inner {
    fn telemetry(&self) -> MutexGuard<'_, Telemetry> {
        // Every edit completes before anything can panic; a poisoned map is whole.
        self.telemetry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TcsServer {
    /// `heartbeat_interval`: TCS heartbeats keep the agent's 60-120 s timer from firing.
    pub fn new(store: Arc<Store>, verifier: Arc<Verifier>, heartbeat_interval: Duration) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                store,
                verifier,
                heartbeat_interval,
                telemetry: Mutex::new(Telemetry::default()),
                shutdown,
            }),
        }
    }

    pub fn routes(&self) -> Router {
        Router::new()
            .route(&format!("{TCS_BASE_PATH}/ws"), get(upgrade))
            .with_state(self.clone())
    }

    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// The latest metrics and health an agent published for a task.
    pub fn task_telemetry(&self, task_arn: &str) -> Option<TaskTelemetry> {
        self.inner.telemetry().tasks.get(task_arn).cloned()
    }

    /// The latest instance metrics and statuses an agent published.
    pub fn instance_telemetry(&self, container_instance_arn: &str) -> Option<InstanceTelemetry> {
        self.inner
            .telemetry()
            .instances
            .get(container_instance_arn)
            .cloned()
    }
}

/// The instance a connection speaks for, from the signed upgrade's query.
fn admit(inner: &Inner, uri: &Uri, headers: &HeaderMap) -> Result<String, Refusal> {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    inner
        .verifier
        .verify("GET", path_and_query, headers, b"", SystemTime::now())
        .map_err(|e| {
            refuse(
                StatusCode::FORBIDDEN,
                HandshakeError::new("AccessDeniedException", e.message),
            )
        })?;
    let mut cluster = None;
    let mut instance = None;
    for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "cluster" => cluster = Some(value.into_owned()),
            "containerInstance" => instance = Some(value.into_owned()),
            _ => {}
        }
    }
    let bad = |what: &str| {
        refuse(
            StatusCode::BAD_REQUEST,
            HandshakeError::new(
                "BadRequestException",
                format!("Missing query parameter {what}."),
            ),
        )
    };
    let cluster = cluster
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("cluster"))?;
    let instance = instance
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad("containerInstance"))?;
    let instance_arn =
        inner
            .store
            .arns()
            .qualify("container-instance", arn::cluster_name(&cluster), &instance);
    let registered = inner
        .store
        .container_instance(&instance_arn)
        .is_some_and(|i| i.status != crate::store::model::INACTIVE);
    if !registered {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            HandshakeError::new(
                "InvalidParameterException",
                format!("Container instance {instance_arn} is not registered."),
            ),
        ));
    }
    Ok(instance_arn)
}

async fn upgrade(
    State(tcs): State<TcsServer>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let instance_arn = match admit(&tcs.inner, &uri, &headers) {
        Ok(arn) => arn,
        Err(refusal) => return refusal.into_response(),
    };
    let inner = tcs.inner.clone();
    ws.on_upgrade(move |socket| session(inner, socket, instance_arn))
}

async fn session(inner: Arc<Inner>, mut socket: WebSocket, instance_arn: String) {
    tracing::info!(instance = %instance_arn, "TCS session opened");
    let mut shutdown = inner.shutdown.subscribe();
    let period = inner.heartbeat_interval.max(Duration::from_millis(1));
    let mut heartbeat = interval_at(tokio::time::Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    if *shutdown.borrow_and_update() {
        return;
    }
    loop {
        let reply = tokio::select! {
            frame = socket.recv() => match frame {
                None | Some(Err(_)) => break,
                Some(Ok(Message::Text(text))) => on_frame(&inner, &instance_arn, text.as_str()).await,
                Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                    Ok(text) => on_frame(&inner, &instance_arn, text).await,
                    Err(_) => {
                        tracing::warn!(instance = %instance_arn, "TCS binary frame that is not UTF-8 ignored");
                        None
                    }
                },
                Some(Ok(_)) => None,
            },
            _ = heartbeat.tick() => {
                let store = inner.store.clone();
                inner.telemetry().retain_tasks(|arn| {
                    store.task(arn).is_some_and(|t| t.last_status != "STOPPED")
                });
                Some(TcsMessage::from(HeartbeatMessage { healthy: Some(true) }))
            }
            _ = shutdown.changed() => {
                let frame = CloseFrame { code: CLOSE_GOING_AWAY, reason: "ecs-local is shutting down".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        let Some(reply) = reply else { continue };
        match reply.to_json() {
            Ok(text) => {
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a TCS message"),
        }
    }
    tracing::info!(instance = %instance_arn, "TCS session closed");
}

/// Records one publication; returns the acknowledgement to send.
async fn on_frame(inner: &Inner, instance_arn: &str, frame: &str) -> Option<TcsMessage> {
    let message = match TcsMessage::from_frame(frame) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(instance = %instance_arn, error = %e, "malformed TCS frame ignored");
            return None;
        }
    };
    let ack = Some(ACK_TEXT.to_string());
    match message {
        TcsMessage::PublishMetricsRequest(request) => {
            inner.telemetry().record_metrics(instance_arn, request);
            Some(AckPublishMetric { message: ack }.into())
        }
        TcsMessage::PublishHealthRequest(request) => {
            // Store writes wait for the disk: off the async threads. The ack follows
            // the write.
            let (store, reports) = (inner.store.clone(), request.tasks.clone());
            let _ = tokio::task::spawn_blocking(move || {
                for task in reports.iter().flatten() {
                    if let Err(e) = health::apply(&store, task) {
                        tracing::error!(error = %e, "cannot record task health");
                    }
                }
            })
            .await;
            inner.telemetry().record_health(instance_arn, request);
            Some(AckPublishHealth { message: ack }.into())
        }
        TcsMessage::PublishInstanceStatusRequest(request) => {
            inner
                .telemetry()
                .record_instance_status(instance_arn, request);
            Some(AckPublishInstanceStatus { message: ack }.into())
        }
        TcsMessage::StartTelemetrySessionRequest(_) => {
            // The URL already started the session; the reference never sends this.
            tracing::debug!(instance = %instance_arn, "StartTelemetrySessionRequest received");
            None
        }
        other => {
            tracing::warn!(instance = %instance_arn, message_type = other.message_type(), "TCS message an agent does not send ignored");
            None
        }
    }
}
