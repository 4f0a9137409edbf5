//! An in-process ecs-local server and backend settings pointing at it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ecs_agent::backend::backoff::Backoff;
use ecs_agent::backend::capabilities::HostFacts;
use ecs_agent::backend::outbox::Outbox;
use ecs_agent::backend::settings::StaticKeys;
use ecs_agent::backend::{BackendSettings, EcsClient, Registrar, Submitter, SubmitterTimers};
use ecs_agent::docker::ApiVersion;
use ecs_agent::store::Store;
use ecs_test_support::ecs::{self, app_container, dynamic_tcp_port};
use ecs_test_support::wait_for;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub const CLUSTER: &str = "local";

/// A running ecs-local; dropping it (or [`LocalServer::stop`]) shuts it down.
pub struct LocalServer {
    pub addr: SocketAddr,
    pub acs: ecs_local::acs::AcsServer,
    pub tcs: ecs_local::tcs::TcsServer,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl LocalServer {
    /// Starts ecs-local on `addr` (port 0 for any) with its data in `data_dir`.
    pub async fn start(addr: SocketAddr, data_dir: &Path) -> Self {
        Self::start_with(addr, data_dir, None).await
    }

    /// `advertised`: the base URL DiscoverPollEndpoint hands out instead of ecs-local's.
    pub async fn start_with(addr: SocketAddr, data_dir: &Path, advertised: Option<String>) -> Self {
        let mut config = ecs_local::server::Config::new(addr, data_dir);
        config.advertised_url = advertised;
        config.acs.manifest_interval = Duration::from_millis(500);
        config.acs.heartbeat_interval = Duration::from_millis(300);
        config.acs.resend_after = Duration::from_secs(2);
        // After a stop, connection tasks of the old server may hold its store a moment longer.
        let every = Duration::from_millis(50);
        let server = wait_for(
            "ecs-local to start",
            Duration::from_secs(10),
            every,
            async || {
                let bound = ecs_local::server::Server::bind(&config).await;
                bound.map_err(|e| Some(e.to_string()))
            },
        )
        .await
        .unwrap();
        let acs = server.acs();
        let tcs = server.tcs();
        let addr = server.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            acs,
            tcs,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits until the socket is closed.
    pub async fn stop(mut self) {
        self.acs.shutdown();
        self.tcs.shutdown();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.abort();
            let _ = handle.await;
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

pub fn settings(server_url: &str) -> BackendSettings {
    let mut s = BackendSettings {
        cluster: CLUSTER.to_owned(),
        region: Some("us-east-1".to_owned()),
        external: true,
        no_iid: true,
        ..BackendSettings::default()
    };
    s.endpoints.backend_host = Some(server_url.to_owned());
    s.credentials.keys = Some(StaticKeys {
        access_key_id: "AKIDLOCALTEST".to_owned(),
        secret_access_key: "local-secret".to_owned(),
        session_token: None,
    });
    s
}

pub fn host() -> HostFacts {
    HostFacts {
        cpus: 2,
        mem_total_mib: Some(4096),
        docker_api: ApiVersion::new(1, 41),
        docker_version: "20.10.24".to_owned(),
        arch: "x86_64".to_owned(),
        cpu_flags: Vec::new(),
    }
}

/// Polls `check` every 20 ms until it holds; panics after `within`.
pub async fn eventually(what: &str, within: Duration, check: impl AsyncFnMut() -> bool) {
    ecs_test_support::wait_until(what, within, Duration::from_millis(20), check)
        .await
        .unwrap();
}

/// Registers a one-container task definition and runs it on the cluster; the task ARN.
pub async fn run_task(client: &EcsClient, family: &str) -> String {
    let app = app_container(&["sleep", "300"])
        .cpu(10)
        .port_mappings(dynamic_tcp_port(80))
        .build();
    ecs::register_and_run(client.sdk(), CLUSTER, family, app).await
}

pub async fn describe_task(client: &EcsClient, arn: &str) -> aws_sdk_ecs::types::Task {
    ecs::describe_task(client.sdk(), CLUSTER, arn).await
}

/// `<root>/server` and `<root>/agent`, created: the data directories of ecs-local and
/// of the agent.
pub fn server_and_agent_dirs(root: &Path) -> (PathBuf, PathBuf) {
    let server_dir = root.join("server");
    let agent_dir = root.join("agent");
    std::fs::create_dir_all(&server_dir).unwrap();
    std::fs::create_dir_all(&agent_dir).unwrap();
    (server_dir, agent_dir)
}

/// A client of `url` whose instance has registered.
pub async fn registered_client(url: &str) -> EcsClient {
    let s = settings(url);
    let client = EcsClient::new(&s).await.unwrap();
    Registrar::new(client.clone(), s, host())
        .register(None)
        .await
        .unwrap();
    client
}

/// Quick drains and retries, so tests do not wait on the production timers.
pub fn submitter_timers() -> SubmitterTimers {
    SubmitterTimers {
        drain_base: Duration::from_millis(200),
        drain_spread: Duration::from_millis(100),
        retry: Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(300),
            2.0,
            0.2,
        ),
    }
}

/// A submitter running on its own task until `stop` is sent.
pub struct RunningSubmitter {
    pub submitter: Submitter,
    /// How many submissions the backend accepted.
    pub accepted: watch::Receiver<u64>,
    pub stop: watch::Sender<bool>,
    pub task: JoinHandle<()>,
}

pub fn spawn_submitter(client: &EcsClient, outbox: Outbox) -> RunningSubmitter {
    let submitter = Submitter::new(client.clone(), CLUSTER, outbox, submitter_timers());
    let accepted = submitter.accepted();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(submitter.clone().run(shutdown));
    RunningSubmitter {
        submitter,
        accepted,
        stop,
        task,
    }
}

impl RunningSubmitter {
    /// Waits (10 s at most) until the backend has accepted `n` submissions.
    pub async fn wait_accepted(&mut self, n: u64) {
        tokio::time::timeout(Duration::from_secs(10), self.accepted.wait_for(|a| *a >= n))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {n} accepted submissions"))
            .unwrap();
    }
}

/// Waits until the store's outbox is empty.
pub async fn wait_outbox_empty(store: &Store, within: Duration) {
    eventually("the outbox to empty", within, async || {
        store.outbox_len().unwrap() == 0
    })
    .await;
}
