//! An in-process ecs-local server and backend settings pointing at it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ecs_agent::backend::BackendSettings;
use ecs_agent::backend::capabilities::HostFacts;
use ecs_agent::backend::settings::StaticKeys;
use ecs_agent::docker::ApiVersion;
use tokio::sync::oneshot;
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let server = loop {
            match ecs_local::server::Server::bind(&config).await {
                Ok(server) => break server,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("ecs-local did not start: {e}"),
            }
        };
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
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers a one-container task definition and runs it on the cluster; the task ARN.
pub async fn run_task(client: &ecs_agent::backend::EcsClient, family: &str) -> String {
    use aws_sdk_ecs::types::{ContainerDefinition, PortMapping, TransportProtocol};
    client
        .sdk()
        .register_task_definition()
        .family(family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("ecs-test/busybox:latest")
                .memory(32)
                .cpu(10)
                .essential(true)
                .command("sleep")
                .command("300")
                .port_mappings(
                    PortMapping::builder()
                        .container_port(80)
                        .host_port(0)
                        .protocol(TransportProtocol::Tcp)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = client
        .sdk()
        .run_task()
        .cluster(CLUSTER)
        .task_definition(family)
        .send()
        .await
        .unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.tasks()[0].task_arn().unwrap().to_owned()
}

pub async fn describe_task(
    client: &ecs_agent::backend::EcsClient,
    arn: &str,
) -> aws_sdk_ecs::types::Task {
    let out = client
        .sdk()
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(arn)
        .send()
        .await
        .unwrap();
    out.tasks()[0].clone()
}
