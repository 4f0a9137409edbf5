//! The HTTP server: the ECS API on `POST /`, on one listening socket.
//!
//! The websocket servers (ACS, TCS) mount under the base paths DiscoverPollEndpoint
//! advertises: agents dial `<base>/acs/ws` and `<base>/tcs/ws`. Add their routes with
//! [`Server::merge`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::net::TcpListener;

use crate::acs::{AcsServer, AcsSettings};
use crate::api::error::ApiError;
use crate::api::sigv4::{CredentialsFileError, Verifier};
use crate::api::{self, Api};
use crate::store::{Arns, Store, StoreError};
use crate::tcs::TcsServer;

/// ACS base URL path: the agent appends `/ws`.
pub const ACS_BASE_PATH: &str = "/acs";
/// TCS base URL path: the agent appends `/ws`.
pub const TCS_BASE_PATH: &str = "/tcs";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:51680";
pub const DEFAULT_REGION: &str = "us-east-1";
/// The fake account every ARN carries.
pub const DEFAULT_ACCOUNT_ID: &str = "111122223333";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `ACCESS_KEY_ID SECRET` lines; given, signatures are verified strictly.
    pub credentials: Option<PathBuf>,
    pub region: String,
    pub account_id: String,
    /// Base URL DiscoverPollEndpoint advertises; by default the `Host` the agent used.
    pub advertised_url: Option<String>,
    /// Timers of the ACS and TCS websocket servers.
    pub acs: AcsSettings,
}

impl Config {
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen,
            data_dir: data_dir.into(),
            credentials: None,
            region: DEFAULT_REGION.to_string(),
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            advertised_url: None,
            acs: AcsSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialsFileError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

pub struct Server {
    listener: TcpListener,
    router: Router,
    store: Arc<Store>,
    acs: AcsServer,
    tcs: TcsServer,
}

async fn not_found() -> Response {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "ecs-local serves the ECS API at POST /.",
    )
    .into_response()
}

impl Server {
    /// Opens the store and binds the socket; nothing is served until [`Server::run`].
    pub async fn bind(config: &Config) -> Result<Self, ServerError> {
        let verifier = match &config.credentials {
            Some(path) => Verifier::from_file(path)?,
            None => Verifier::lenient(),
        };
        let store = Arc::new(Store::open(
            &config.data_dir,
            Arns::new(&config.region, &config.account_id),
        )?);
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let verifier = Arc::new(verifier);
        let acs = AcsServer::new(store.clone(), verifier.clone(), config.acs);
        let tcs = TcsServer::new(
            store.clone(),
            verifier.clone(),
            config.acs.heartbeat_interval,
        );
        let api = Api {
            store: store.clone(),
            verifier,
            advertised_url: config.advertised_url.clone(),
        };
        let router = Router::new()
            .route("/", post(api::handle))
            .with_state(api)
            .merge(acs.routes())
            .merge(tcs.routes())
            .fallback(not_found);
        Ok(Self {
            listener,
            router,
            store,
            acs,
            tcs,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(ServerError::Serve)
    }

    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The ACS websocket server mounted on this server.
    pub fn acs(&self) -> AcsServer {
        self.acs.clone()
    }

    /// The TCS websocket server mounted on this server, with the telemetry received.
    pub fn tcs(&self) -> TcsServer {
        self.tcs.clone()
    }

    /// Adds routes (the ACS and TCS websocket servers) next to the API.
    pub fn merge(mut self, routes: Router) -> Self {
        self.router = self.router.merge(routes);
        self
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let addr = self.local_addr()?;
        tracing::info!(%addr, "ecs-local serving the ECS API");
        // Upgraded websockets outlive the HTTP connections graceful shutdown waits for:
        // close them explicitly.
        let (acs, tcs) = (self.acs.clone(), self.tcs.clone());
        let shutdown = async move {
            shutdown.await;
            acs.shutdown();
            tcs.shutdown();
        };
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve)
    }
}
