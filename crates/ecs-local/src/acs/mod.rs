//! The ACS websocket server (backend-protocol.md §3): agents dial
//! `<DiscoverPollEndpoint endpoint>/ws` with a SigV4-signed upgrade and receive their
//! tasks (`PayloadMessage`), heartbeats, task manifests and role credentials.
//!
//! One session per container instance; a newer connection of the same instance replaces
//! the older one. What was sent and acknowledged lives in a per-instance
//! [`ledger::InstanceLedger`] that outlives sessions, so a reconnect resends exactly what
//! was not acknowledged.

mod ledger;
pub mod query;
mod session;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ecs_types::acs::HandshakeError;
use tokio::sync::{Notify, watch};

use crate::api::sigv4::Verifier;
use crate::credentials::{CredentialsBook, CredentialsPolicy};
use crate::server::ACS_BASE_PATH;
use crate::store::{Store, arn, model};

use ledger::InstanceLedger;
pub use ledger::InstanceStats;
use query::ConnectParams;

/// Timers of the ACS side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcsSettings {
    /// The agent drops a connection silent for 60-120 s; the spec asks for <= 30-45 s.
    pub heartbeat_interval: Duration,
    /// An unacknowledged payload is sent again after this long.
    pub resend_after: Duration,
    pub manifest_interval: Duration,
    /// How often credentials are checked for renewal.
    pub credentials_check_interval: Duration,
    pub credentials: CredentialsPolicy,
    /// A frame the agent does not take within this long ends the session.
    pub write_timeout: Duration,
    /// With protocol version 2 the agent agrees to be disconnected when it stops
    /// acknowledging heartbeats: this many in a row end the session.
    pub max_unacked_heartbeats: u32,
    /// ... and none was acknowledged for at least this long, so that short heartbeat
    /// intervals do not turn a busy agent into a dead one.
    pub heartbeat_ack_grace: Duration,
}

impl Default for AcsSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(30),
            resend_after: Duration::from_secs(30),
            manifest_interval: Duration::from_secs(60),
            credentials_check_interval: Duration::from_secs(60),
            credentials: CredentialsPolicy::default(),
            write_timeout: Duration::from_secs(180),
            max_unacked_heartbeats: 5,
            heartbeat_ack_grace: Duration::from_secs(120),
        }
    }
}

struct SessionSlot {
    id: u64,
    replaced: Arc<Notify>,
}

pub(crate) struct Inner {
    store: Arc<Store>,
    verifier: Arc<Verifier>,
    settings: AcsSettings,
    credentials: CredentialsBook,
    ledgers: Mutex<HashMap<String, InstanceLedger>>,
    sessions: Mutex<HashMap<String, SessionSlot>>,
    next_session: AtomicU64,
    shutdown: watch::Sender<bool>,
}

/// The ACS server: routes for the HTTP server and a handle for shutdown and inspection.
#[derive(Clone)]
pub struct AcsServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AcsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcsServer")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves the map consistent before it can panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A refused upgrade: the status and the ACS error the agent decodes from the body (§3.3).
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    error: HandshakeError,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::info!(error = %self.error, "websocket connection refused");
        (self.status, self.error.to_body()).into_response()
    }
}

pub(crate) fn refuse(status: StatusCode, error: HandshakeError) -> Refusal {
    Refusal { status, error }
}

impl AcsServer {
    pub fn new(store: Arc<Store>, verifier: Arc<Verifier>, settings: AcsSettings) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                store,
                verifier,
                settings,
                credentials: CredentialsBook::new(settings.credentials),
                ledgers: Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
                next_session: AtomicU64::new(1),
                shutdown,
            }),
        }
    }

    /// `GET <ACS base>/ws`, and `GET /ws` for agents given the bare server URL.
    pub fn routes(&self) -> Router {
        Router::new()
            .route(&format!("{ACS_BASE_PATH}/ws"), get(upgrade))
            .route("/ws", get(upgrade))
            .with_state(self.clone())
    }

    /// Closes every session (close code 1001) and refuses nothing further: the HTTP
    /// server stops accepting connections on its own.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Counters of an instance's sessions so far, for tests and diagnostics.
    pub fn stats(&self, container_instance_arn: &str) -> Option<InstanceStats> {
        lock(&self.inner.ledgers)
            .get(container_instance_arn)
            .map(|l| l.stats.clone())
    }

    /// Whether an agent session is open for the instance.
    pub fn is_connected(&self, container_instance_arn: &str) -> bool {
        lock(&self.inner.sessions).contains_key(container_instance_arn)
    }
}

impl Inner {
    fn ledger<T>(&self, instance: &str, f: impl FnOnce(&mut InstanceLedger) -> T) -> T {
        f(lock(&self.ledgers).entry(instance.to_string()).or_default())
    }
}

/// Checks who is connecting before the upgrade completes.
fn admit(
    inner: &Inner,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(ConnectParams, model::ContainerInstance), Refusal> {
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
    let params = ConnectParams::parse(uri.query().unwrap_or(""))
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e))?;
    let cluster_name = arn::cluster_name(&params.cluster);
    let instance_arn = inner.store.arns().qualify(
        "container-instance",
        cluster_name,
        &params.container_instance,
    );
    let instance = inner
        .store
        .container_instance(&instance_arn)
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                HandshakeError::new(
                    "InvalidInstanceException",
                    format!("Container instance {instance_arn} is not registered."),
                ),
            )
        })?;
    if instance.status == model::INACTIVE {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            HandshakeError::new(
                HandshakeError::INACTIVE_INSTANCE,
                format!("Container instance {instance_arn} is deregistered."),
            ),
        ));
    }
    if arn::cluster_name(&instance.cluster_arn) != cluster_name {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            HandshakeError::new(
                "InvalidClusterException",
                format!(
                    "Container instance {instance_arn} belongs to {}, not {}.",
                    instance.cluster_arn, params.cluster
                ),
            ),
        ));
    }
    Ok((params, instance))
}

async fn upgrade(
    State(acs): State<AcsServer>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let (params, instance) = match admit(&acs.inner, &uri, &headers) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let inner = acs.inner.clone();
    ws.on_upgrade(move |socket| session::run(inner, socket, params, instance))
}
