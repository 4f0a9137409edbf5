//! `-k` on real TLS: the built `ecs-agent` binary against an in-process ecs-local behind
//! a TLS-terminating proxy whose certificate is self-signed (made by `openssl` at test
//! time). Without `-k` registration fails on the certificate with the exit code of
//! other transport failures; with `-k` the agent registers over `https`, holds its ACS
//! session and TCS connection over `wss` and reports a task's state changes.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecs_agent::backend::settings::StaticKeys;
use ecs_agent::backend::{BackendSettings, EcsClient};
use ecs_test_support::agent::external_agent;
use ecs_test_support::docker::ClusterCleanup;
use ecs_test_support::ecs::{self, app_container, until_sigterm_then_exit};
use ecs_test_support::process::Running;
use ecs_test_support::tls::{self_signed_certificate, server_config};
use ecs_test_support::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BIN: &str = env!("CARGO_BIN_EXE_ecs-agent");
const WARNING: &str = "SSL certificate verification disabled";

/// What the TLS front saw: the first request line of every connection it decrypted,
/// and the handshakes that failed.
#[derive(Default)]
struct Seen {
    requests: Vec<String>,
    handshake_errors: Vec<String>,
}

/// Terminates TLS on `listener` and relays each connection to `upstream`.
struct TlsFront {
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    fn start(listener: TcpListener, cert: &Path, key: &Path, upstream: SocketAddr) -> Self {
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(cert, key));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorded = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(relay(acceptor.clone(), tcp, upstream, recorded.clone()));
            }
        });
        Self { seen, task }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().requests.clone()
    }

    fn handshake_errors(&self) -> Vec<String> {
        self.seen.lock().unwrap().handshake_errors.clone()
    }
}

async fn relay(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    upstream: SocketAddr,
    seen: Arc<Mutex<Seen>>,
) {
    let mut tls = match acceptor.accept(tcp).await {
        Ok(tls) => tls,
        Err(e) => {
            seen.lock().unwrap().handshake_errors.push(e.to_string());
            return;
        }
    };
    let mut first = vec![0; 8192];
    let n = match tls.read(&mut first).await {
        Ok(n) if n > 0 => n,
        _ => return,
    };
    let line = String::from_utf8_lossy(&first[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    seen.lock().unwrap().requests.push(line);
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    if up.write_all(&first[..n]).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
}

/// ecs-local on a free port, advertising the TLS front as its ACS/TCS base, until dropped.
struct LocalServer {
    addr: SocketAddr,
    acs: ecs_local::acs::AcsServer,
    _stop: oneshot::Sender<()>,
}

async fn start_ecs_local(dir: &Path, advertised: String) -> LocalServer {
    let mut config = ecs_local::server::Config::new("127.0.0.1:0".parse().unwrap(), dir);
    config.advertised_url = Some(advertised);
    let server = ecs_local::server::Server::bind(&config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let acs = server.acs();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    LocalServer {
        addr,
        acs,
        _stop: stop,
    }
}

/// Everything a test needs; dropped in field order (containers before the directory).
struct Setup {
    front: TlsFront,
    /// `https://127.0.0.1:<port>`: the TLS front.
    backend: String,
    server: LocalServer,
    _cleanup: ClusterCleanup,
    cluster: String,
    dir: tempfile::TempDir,
}

async fn setup(prefix: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let (cert, key) = self_signed_certificate(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = format!("https://{}", listener.local_addr().unwrap());
    let server = start_ecs_local(&dir.path().join("server"), backend.clone()).await;
    let front = TlsFront::start(listener, &cert, &key, server.addr);
    let cluster = format!("{prefix}-{}", std::process::id());
    Setup {
        front,
        backend,
        server,
        _cleanup: ClusterCleanup(cluster.clone()),
        cluster,
        dir,
    }
}

impl Setup {
    /// The binary as an external host whose backend is the TLS front.
    fn agent(&self) -> Command {
        external_agent(BIN, "tls", self.dir.path(), &self.backend, &self.cluster)
    }

    /// A plain-HTTP client of ecs-local itself, for driving tasks.
    async fn client(&self) -> EcsClient {
        let mut settings = BackendSettings {
            region: Some("us-east-1".to_owned()),
            external: true,
            no_iid: true,
            ..BackendSettings::default()
        };
        settings.endpoints.backend_host = Some(format!("http://{}", self.server.addr));
        settings.credentials.keys = Some(StaticKeys {
            access_key_id: "AKIDTLS".to_owned(),
            secret_access_key: "tls-secret".to_owned(),
            session_token: None,
        });
        EcsClient::new(&settings).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_k_registration_fails_on_the_self_signed_certificate() {
    let setup = setup("tls-verify").await;
    let mut agent = Running::spawn(&mut setup.agent());
    let line = agent.wait_for("Unable to start the agent", Duration::from_secs(60));
    let status = agent.child.wait().unwrap();
    // A transport failure of registration: retriable, exit 1, as for a refused dial.
    assert_eq!(status.code(), Some(1), "{}", agent.seen);
    assert!(line.contains("RegisterContainerInstance"), "{line}");
    // webpki's reason for an untrusted self-signed leaf varies with its path search.
    assert!(line.contains("invalid peer certificate"), "{line}");
    assert!(!agent.seen.contains(WARNING), "{}", agent.seen);
    // The agent refused the handshake: nothing reached ecs-local.
    assert!(
        setup.front.requests().is_empty(),
        "{:?}",
        setup.front.requests()
    );
    assert!(!setup.front.handshake_errors().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_k_the_agent_registers_over_https_polls_acs_over_wss_and_reports_a_task() {
    let setup = setup("tls-insecure").await;
    let client = setup.client().await;
    let mut agent = Running::spawn(setup.agent().arg("-k"));
    agent.wait_for(
        "Instance registration completed successfully",
        Duration::from_secs(60),
    );
    assert_eq!(agent.seen.matches(WARNING).count(), 1, "{}", agent.seen);

    let instances = client
        .sdk()
        .list_container_instances()
        .cluster(&setup.cluster)
        .send()
        .await
        .unwrap();
    let instance = instances.container_instance_arns()[0].clone();
    let acs = setup.server.acs.clone();
    wait_until(
        "the agent's ACS session",
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || acs.is_connected(&instance),
    )
    .await
    .unwrap();
    let line = agent.wait_for("Connecting to ACS", Duration::from_secs(5));
    let wss = format!("{}/acs/ws?", setup.backend.replace("https://", "wss://"));
    assert!(line.contains(&wss), "{line}");

    let requests = setup.front.requests();
    assert!(
        requests.iter().any(|r| r.starts_with("POST / HTTP/1.1")),
        "the ECS API went through TLS: {requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with("GET /acs/ws?")),
        "ACS went through TLS: {requests:?}"
    );
    let front = &setup.front;
    wait_until(
        "the agent's TCS connection through the TLS front",
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            front
                .requests()
                .iter()
                .any(|r| r.starts_with("GET /tcs/ws?"))
        },
    )
    .await
    .unwrap();
    assert!(setup.front.handshake_errors().is_empty());

    // The RUNNING and STOPPED changes reach ecs-local only through SubmitTaskStateChange
    // over the TLS front.
    let app = app_container(&["sh", "-c", &until_sigterm_then_exit(3)]).build();
    let arn = ecs::register_and_run(client.sdk(), &setup.cluster, "tls-insecure", app).await;
    let within = Duration::from_secs(60);
    ecs::wait_task(client.sdk(), &setup.cluster, &arn, "RUNNING", within, |t| {
        t.last_status() == Some("RUNNING")
    })
    .await
    .unwrap();
    client
        .sdk()
        .stop_task()
        .cluster(&setup.cluster)
        .task(&arn)
        .send()
        .await
        .unwrap();
    let what = "STOPPED with an exit code";
    let task = ecs::wait_task(
        client.sdk(),
        &setup.cluster,
        &arn,
        what,
        within,
        ecs::stopped_with_exit_code,
    )
    .await
    .unwrap();
    assert_eq!(task.containers()[0].exit_code(), Some(3));

    let (code, stdout) = agent.terminate();
    assert_eq!(code, Some(0), "{stdout}");
}
