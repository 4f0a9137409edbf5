//! Shared helpers of the endpoint integration tests: a real engine on the local Docker,
//! the servers on ephemeral loopback ports, and a raw HTTP/1.1 client (raw so that
//! malformed request lines and huge headers can be sent as such).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ecs_agent::docker::{DockerApi, DockerClient};
use ecs_agent::endpoints::{
    self, AcsInfo, AgentInfo, CredentialsManager, EndpointConfig, EndpointState, Handles,
};
use ecs_agent::engine::{Engine, EngineConfig, PullBehavior, StateChange};
use ecs_agent::logging::AuditLog;
use ecs_test_support::http::dechunk;
use ecs_types::TaskStatus;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;

pub const CLUSTER: &str = "endpointtest";
pub const INSTANCE_ARN: &str =
    "arn:aws:ecs:us-east-1:123456789012:container-instance/endpointtest/0123456789abcdef";

pub fn image() -> String {
    ecs_test_support::image()
}

pub async fn docker() -> Arc<dyn DockerApi> {
    Arc::new(DockerClient::connect(None).await.expect("docker engine"))
}

pub fn unique_arn() -> String {
    ecs_test_support::unique_task_arn(CLUSTER)
}

pub fn engine_config() -> EngineConfig {
    EngineConfig {
        cluster: CLUSTER.to_owned(),
        pull_behavior: PullBehavior::PreferCached,
        container_stop_timeout: Duration::from_secs(1),
        task_cleanup_wait: Duration::from_secs(3600),
        // Each test's engine allocates ports on its own: give each a window of its own.
        dynamic_host_port_range: {
            let start = 40000 + (rand::random::<u16>() % 200) * 100;
            (start, start + 99)
        },
        ..EngineConfig::default()
    }
}

/// A running agent core: the engine and the servers on ephemeral ports.
pub struct Agent {
    pub engine: Engine,
    pub changes: UnboundedReceiver<StateChange>,
    pub state: Arc<EndpointState>,
    pub handles: Option<Handles>,
    pub intro: SocketAddr,
    pub task: SocketAddr,
    pub arns: Vec<String>,
    /// Stops the metadata file writer when the agent is dropped.
    pub metadata_stop: Option<tokio::sync::watch::Sender<bool>>,
}

pub struct Options {
    pub rps: (u32, u32),
    pub audit: Option<AuditLog>,
    pub metrics_disabled: bool,
    pub runtime_stats: bool,
    /// Turns on container metadata files under this host directory (data dir `<it>/data`).
    pub metadata_dir: Option<std::path::PathBuf>,
    /// Where task protection calls go.
    pub ecs_endpoint: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rps: (1000, 1000),
            audit: None,
            metrics_disabled: false,
            runtime_stats: false,
            metadata_dir: None,
            ecs_endpoint: None,
        }
    }
}

pub async fn agent(opts: Options) -> Agent {
    let docker = docker().await;
    let mut config = engine_config();
    if let Some(dir) = &opts.metadata_dir {
        config.container_metadata_enabled = true;
        config.host_data_dir = dir.clone();
        config.data_dir = dir.join("data");
    }
    let engine = Engine::new(docker.clone(), None, config);
    let changes = engine.subscribe();
    let metadata_changes = opts.metadata_dir.as_ref().map(|_| engine.subscribe());
    let mut metadata_stop = None;
    engine.start().await.expect("engine start");
    if let (Some(dir), Some(rx)) = (&opts.metadata_dir, metadata_changes) {
        let files = ecs_agent::endpoints::metadata_file::MetadataFiles {
            data_dir: dir.join("data"),
            host: ecs_agent::endpoints::metadata_file::HostInfo {
                cluster: CLUSTER.to_owned(),
                container_instance_arn: INSTANCE_ARN.to_owned(),
                availability_zone: "us-east-1a".to_owned(),
                host_private_ipv4: "10.0.1.23".to_owned(),
                host_public_ipv4: String::new(),
            },
            docker: docker.clone(),
        };
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        files.spawn(Arc::new(engine.clone()), rx, stop_rx);
        metadata_stop = Some(stop);
    }
    let state = EndpointState::new(
        Arc::new(engine.clone()),
        docker,
        Arc::new(CredentialsManager::new()),
        Arc::new(AcsInfo::default()),
        opts.audit,
        AgentInfo {
            cluster: CLUSTER.to_owned(),
            container_instance_arn: INSTANCE_ARN.to_owned(),
            availability_zone: "us-east-1a".to_owned(),
            az_disabled: false,
            metrics_disabled: opts.metrics_disabled,
            region: "us-east-1".to_owned(),
            ecs_endpoint: opts.ecs_endpoint.clone(),
        },
    );
    let config = EndpointConfig {
        introspection_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        task_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        rps_steady: opts.rps.0,
        rps_burst: opts.rps.1,
        runtime_stats: opts.runtime_stats,
        license_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    let handles = endpoints::serve(state.clone(), &config, std::future::pending())
        .await
        .expect("serve");
    let intro = handles.introspection_addr.expect("introspection bound");
    let task = handles.task_addr.expect("task server bound");
    Agent {
        engine,
        changes,
        state,
        handles: Some(handles),
        intro,
        task,
        arns: Vec::new(),
        metadata_stop,
    }
}

impl Agent {
    /// Records the ACS task with the endpoints, runs it and waits for RUNNING.
    pub async fn run(&mut self, task: Value) -> String {
        let task: ecs_types::task::Task = serde_json::from_value(task).expect("task json");
        let arn = task.arn.clone().expect("arn");
        self.arns.push(arn.clone());
        self.state.record_acs_task(&task).expect("credentials");
        self.engine.add_task(task).await.expect("add task");
        // Generous: the shared test machine can be heavily loaded.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            match tokio::time::timeout_at(deadline, self.changes.recv()).await {
                Ok(Some(StateChange::Task(t))) if t.task_arn == arn => {
                    assert_ne!(t.status, TaskStatus::Stopped, "task stopped: {t:?}");
                    if t.status == TaskStatus::Running {
                        return arn;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("state change stream closed"),
                Err(_) => panic!("task {arn} did not reach RUNNING"),
            }
        }
    }

    pub fn endpoint_id(&self, arn: &str, container: &str) -> String {
        let task = self.engine.task(arn).expect("task");
        task.spec
            .container(container)
            .expect("container")
            .v3_endpoint_id
            .clone()
    }

    pub fn docker_id(&self, arn: &str, container: &str) -> String {
        let task = self.engine.task(arn).expect("task");
        let idx = task.index_of(container).expect("container");
        task.containers[idx].docker_id.clone().expect("docker id")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for arn in &self.arns {
            remove_task_containers(arn);
        }
    }
}

pub fn remove_task_containers(arn: &str) {
    ecs_test_support::docker::remove_task_containers(arn);
}

/// A bridge task with one long-running container, a port mapping and a health check.
pub fn web_task(arn: &str, extra: Value) -> Value {
    let mut task = json!({
        "arn": arn, "family": "endpointtest", "version": "3", "desiredStatus": "RUNNING",
        "networkMode": "bridge", "launchType": "EC2", "cpu": 0.25, "memory": 256,
        "containers": [{
            "name": "web", "image": image(), "essential": true,
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            "cpu": 256, "memory": 64,
            "containerArn": format!("{arn}/container/web"),
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
            "healthCheckType": "docker",
            "dockerConfig": {
                "config": "{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"echo ok\"],\"Interval\":1000000000,\"Timeout\":1000000000,\"Retries\":3}}",
                "hostConfig": "{\"NetworkMode\":\"bridge\",\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1m\"}}}",
                "version": "1.17"
            }
        }]
    });
    if let (Value::Object(t), Value::Object(e)) = (&mut task, extra) {
        for (k, v) in e {
            t.insert(k, v);
        }
    }
    task
}

/// A parsed HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Sends raw request bytes; `None` when the server closed without an answer.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Option<Answer> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before the whole request is written.
    let started = std::time::Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.write_all(request)).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    if started.elapsed() > Duration::from_secs(5) {
        eprintln!(
            "slow raw request ({:?}): {:?}",
            started.elapsed(),
            String::from_utf8_lossy(&request[..request.len().min(60)])
        );
    }
    parse(&buf)
}

fn parse(buf: &[u8]) -> Option<Answer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let rest = &buf[end + 4..];
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    get_with(addr, path, "").await
}

pub async fn get_with(addr: SocketAddr, path: &str, extra_headers: &str) -> Answer {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: endpoint-test/1.0\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    raw(addr, req.as_bytes())
        .await
        .unwrap_or_else(|| panic!("no answer for {path}"))
}

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// The top-level keys of a JSON object as they appear in the raw body (in order).
pub fn raw_keys(body: &str) -> Vec<String> {
    let bytes = body.as_bytes();
    let mut keys = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let is_key = bytes.get(i + 1) == Some(&b':');
                if depth == 1 && is_key {
                    keys.push(body[start..i].to_owned());
                }
            }
            _ => {}
        }
        i += 1;
    }
    keys
}

/// The keys of the first object that starts after `marker` in a raw body.
pub fn raw_keys_after(body: &str, marker: &str) -> Vec<String> {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {body}"))
        + marker.len();
    let open = at + body[at..].find('{').expect("object");
    raw_keys(&body[open..])
}

/// Sends raw request bytes from the local address `src` (a loopback address other than
/// 127.0.0.1 gives the request a client IP of its own, e.g. for per-IP rate limits).
pub async fn raw_from(src: std::net::IpAddr, addr: SocketAddr, request: &[u8]) -> Option<Answer> {
    let socket = match src {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .expect("socket");
    socket
        .bind(SocketAddr::new(src, 0))
        .expect("bind source address");
    let mut s = socket.connect(addr).await.expect("connect");
    let _ = tokio::time::timeout(Duration::from_secs(15), s.write_all(request)).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    parse(&buf)
}
