//! Shared by the acs_* and tcs_* tests: the real server on an ephemeral port in the test's
//! runtime, a SigV4-signing HTTP client for the ECS API, and a fake agent that speaks ACS
//! over a real websocket with a SigV4-signed upgrade.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use ecs_local::acs::{AcsServer, AcsSettings};
use ecs_local::credentials::CredentialsPolicy;
use ecs_local::server::{Config, Server};
use ecs_local::store::Store;
use ecs_local::tcs::TcsServer;
use ecs_types::AcsMessage;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const ACCESS_KEY: &str = "AKIDACSTEST";
pub const SECRET_KEY: &str = "acs-test-secret";
pub const REGION: &str = "us-east-1";
/// A guard against a hung test, never a way to wait for something.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Timers short enough for tests.
pub fn fast_settings() -> AcsSettings {
    AcsSettings {
        heartbeat_interval: Duration::from_millis(150),
        resend_after: Duration::from_millis(400),
        manifest_interval: Duration::from_secs(3600),
        credentials_check_interval: Duration::from_secs(3600),
        credentials: CredentialsPolicy::default(),
        write_timeout: Duration::from_secs(10),
        // Generous: a test busy elsewhere must not lose its session.
        max_unacked_heartbeats: 60,
        heartbeat_ack_grace: Duration::from_secs(10),
    }
}

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub store: Arc<Store>,
    pub acs: AcsServer,
    pub tcs: TcsServer,
    pub secret: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(settings: AcsSettings) -> Self {
        Self::start_with(settings, None).await
    }

    /// `strict`: verify signatures against this (access key, secret) only.
    pub async fn start_with(settings: AcsSettings, strict: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
        config.acs = settings;
        if let Some((key, secret)) = strict {
            let path: PathBuf = dir.path().join("credentials");
            std::fs::write(&path, format!("{key} {secret}\n")).unwrap();
            config.credentials = Some(path);
        }
        let server = Server::bind(&config).await.expect("server binds");
        let addr = server.local_addr().unwrap();
        let (store, acs, tcs) = (server.store(), server.acs(), server.tcs());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        Self {
            addr,
            store,
            acs,
            tcs,
            secret: strict
                .map(|(_, s)| s.to_string())
                .unwrap_or(SECRET_KEY.into()),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Stops the server as `ecs-local` does on SIGTERM and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Calls an ECS API operation with a SigV4-signed request; returns (status, body).
    pub async fn call(&self, operation: &str, body: Value) -> (u16, Value) {
        let body = body.to_string();
        let url = format!("http://{}/", self.host());
        let headers = vec![
            ("host".to_string(), self.host()),
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            (
                "x-amz-target".to_string(),
                format!("AmazonEC2ContainerServiceV20141113.{operation}"),
            ),
        ];
        let signed = sign_headers("POST", &url, &headers, body.as_bytes(), &self.secret);
        let mut request = format!(
            "POST / HTTP/1.1\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers.iter().chain(signed.iter()) {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw)
    }

    /// Calls an operation that must succeed.
    pub async fn ok(&self, operation: &str, body: Value) -> Value {
        let (status, out) = self.call(operation, body).await;
        assert_eq!(status, 200, "{operation} failed: {out}");
        out
    }

    /// Registers a container instance as the reference agent does; returns its ARN.
    pub async fn register_instance(&self, cluster: &str) -> String {
        self.ok("CreateCluster", json!({"clusterName": cluster}))
            .await;
        let out = self
            .ok(
                "RegisterContainerInstance",
                json!({
                    "cluster": cluster,
                    "instanceIdentityDocument": "",
                    "instanceIdentityDocumentSignature": "",
                    "totalResources": [
                        {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
                        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
                        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
                    ],
                    "attributes": [{"name": "ecs.capability.full-sync"},
                                   {"name": "ecs.os-type", "value": "linux"}],
                    "clientToken": uuid::Uuid::new_v4().to_string()
                }),
            )
            .await;
        out["containerInstance"]["containerInstanceArn"]
            .as_str()
            .expect("instance ARN")
            .to_string()
    }

    pub async fn register_task_definition(&self, body: Value) -> String {
        let out = self.ok("RegisterTaskDefinition", body).await;
        out["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs one task; returns its ARN.
    pub async fn run_task(&self, cluster: &str, task_definition: &str, overrides: Value) -> String {
        let out = self
            .ok(
                "RunTask",
                json!({"cluster": cluster, "taskDefinition": task_definition, "overrides": overrides}),
            )
            .await;
        assert_eq!(out["failures"], json!([]), "{out}");
        out["tasks"][0]["taskArn"].as_str().unwrap().to_string()
    }

    pub async fn describe_task(&self, cluster: &str, task_arn: &str) -> Value {
        let out = self
            .ok(
                "DescribeTasks",
                json!({"cluster": cluster, "tasks": [task_arn]}),
            )
            .await;
        out["tasks"][0].clone()
    }

    pub async fn agent_connected(&self, cluster: &str, instance_arn: &str) -> bool {
        let out = self
            .ok(
                "DescribeContainerInstances",
                json!({"cluster": cluster, "containerInstances": [instance_arn]}),
            )
            .await;
        out["containerInstances"][0]["agentConnected"]
            .as_bool()
            .expect("agentConnected")
    }

    /// Waits until DescribeContainerInstances shows `connected` (the session ends
    /// asynchronously after the socket closes).
    pub async fn wait_agent_connected(&self, cluster: &str, instance_arn: &str, connected: bool) {
        let what = format!("agentConnected to become {connected}");
        let every = Duration::from_millis(20);
        ecs_test_support::wait_until(&what, DEADLINE, every, async || {
            self.agent_connected(cluster, instance_arn).await == connected
        })
        .await
        .unwrap();
    }

    /// The ACS URL the reference agent builds from DiscoverPollEndpoint (§3.2).
    pub async fn acs_url(
        &self,
        cluster: &str,
        instance_arn: &str,
        send_credentials: bool,
    ) -> String {
        let out = self
            .ok(
                "DiscoverPollEndpoint",
                json!({"cluster": cluster, "containerInstance": instance_arn, "zoneId": ""}),
            )
            .await;
        let endpoint = out["endpoint"].as_str().expect("endpoint");
        assert!(endpoint.starts_with("http://"), "{endpoint}");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("agentHash", "a8b3e7d3")
            .append_pair("agentVersion", "1.105.1")
            .append_pair("clusterArn", cluster)
            .append_pair("containerInstanceArn", instance_arn)
            .append_pair("dockerVersion", "DockerVersion: 20.10.24")
            .append_pair("protocolVersion", "2")
            .append_pair(
                "sendCredentials",
                if send_credentials { "true" } else { "false" },
            )
            .append_pair("seqNum", "1")
            .finish();
        format!(
            "{}/ws?{query}",
            endpoint
                .trim_end_matches('/')
                .replacen("http://", "ws://", 1)
        )
    }

    /// The TCS URL the reference agent builds (§5.1).
    pub async fn tcs_url(&self, cluster: &str, instance_arn: &str) -> String {
        let out = self
            .ok(
                "DiscoverPollEndpoint",
                json!({"cluster": cluster, "containerInstance": instance_arn, "zoneId": ""}),
            )
            .await;
        let endpoint = out["telemetryEndpoint"]
            .as_str()
            .expect("telemetryEndpoint");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("agentHash", "a8b3e7d3")
            .append_pair("agentVersion", "1.105.1")
            .append_pair("cluster", cluster)
            .append_pair("containerInstance", instance_arn)
            .append_pair("dockerVersion", "20.10.24")
            .finish();
        format!(
            "{}/ws?{query}",
            endpoint
                .trim_end_matches('/')
                .replacen("http://", "ws://", 1)
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn parse_response(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn dechunk(body: &str) -> String {
    String::from_utf8_lossy(&ecs_test_support::http::dechunk(body.as_bytes())).into_owned()
}

/// SigV4 (service `ecs`) over the given headers; returns the headers to add
/// (`authorization`, `x-amz-date`).
pub fn sign_headers(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    secret: &str,
) -> Vec<(String, String)> {
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable request");
    let identity = Credentials::new(ACCESS_KEY, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("ecs")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    instructions
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a websocket with the agent's signed upgrade. `Err` carries a refused
/// handshake's HTTP status and body.
pub async fn dial(url: &str, secret: &str) -> Result<Socket, (u16, String)> {
    let mut request = url.into_client_request().expect("client request");
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .expect("host header")
        .to_string();
    // The agent signs the http(s) form of the URL; only host and query matter.
    let signing_url = url.replacen("ws://", "http://", 1);
    let signed = sign_headers(
        "GET",
        &signing_url,
        &[("host".to_string(), host)],
        b"",
        secret,
    );
    for (name, value) in signed {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(&value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or(&[])).into_owned(),
        )),
        Err(e) => panic!("websocket connection failed: {e}"),
    }
}

/// A fake agent on a real ACS connection.
pub struct Agent {
    pub socket: Socket,
}

/// One frame from the server as the agent sees it.
#[derive(Debug)]
pub enum Received {
    Message(Box<AcsMessage>),
    Closed(Option<u16>),
}

impl Agent {
    pub async fn connect(
        server: &TestServer,
        cluster: &str,
        instance: &str,
        send_credentials: bool,
    ) -> Self {
        let url = server.acs_url(cluster, instance, send_credentials).await;
        let socket = dial(&url, &server.secret)
            .await
            .expect("ACS upgrade accepted");
        Self { socket }
    }

    pub async fn send(&mut self, message: impl Into<AcsMessage>) {
        let text = message.into().to_json().unwrap();
        self.socket.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// The next frame from the server.
    pub async fn receive(&mut self) -> Received {
        loop {
            let frame = tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("a frame from ACS before the deadline");
            match frame {
                None => return Received::Closed(None),
                Some(Err(e)) => panic!("ACS read failed: {e}"),
                Some(Ok(Message::Text(text))) => {
                    return Received::Message(Box::new(
                        AcsMessage::from_json(text.as_str()).expect("ACS sends valid messages"),
                    ));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Received::Closed(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next message, acknowledging heartbeats on the way as the agent does.
    pub async fn next_message(&mut self) -> AcsMessage {
        loop {
            match self.receive().await {
                Received::Message(m) => match *m {
                    AcsMessage::HeartbeatMessage(hb) => self.send(hb.ack()).await,
                    other => return other,
                },
                Received::Closed(code) => panic!("ACS closed the session ({code:?})"),
            }
        }
    }

    /// The next `PayloadMessage`, skipping (and acking) heartbeats and manifests.
    pub async fn next_payload(&mut self) -> ecs_types::acs::PayloadMessage {
        loop {
            match self.next_message().await {
                AcsMessage::PayloadMessage(p) => return p,
                AcsMessage::TaskManifestMessage(m) => self.send(m.ack()).await,
                _ => {}
            }
        }
    }

    /// Counts `n` heartbeats (acking them) and fails if a payload arrives meanwhile.
    /// Copies the server sent before it had read this agent's acks are drained first.
    pub async fn expect_no_payload_for_heartbeats(&mut self, n: usize) {
        self.sync().await;
        let mut seen = 0;
        while seen < n {
            match self.receive().await {
                Received::Message(m) => match *m {
                    AcsMessage::HeartbeatMessage(hb) => {
                        self.send(hb.ack()).await;
                        seen += 1;
                    }
                    AcsMessage::PayloadMessage(p) => {
                        panic!("unexpected payload {:?}", p.message_id)
                    }
                    _ => {}
                },
                Received::Closed(code) => panic!("ACS closed the session ({code:?})"),
            }
        }
    }

    /// Returns once the server has handled every frame sent before: frames are handled
    /// in order, and a stop verification is always answered.
    pub async fn sync(&mut self) {
        let probe = uuid::Uuid::new_v4().to_string();
        self.send(ecs_types::acs::TaskStopVerificationMessage {
            message_id: Some(probe.clone()),
            stop_candidates: Some(Vec::new()),
        })
        .await;
        loop {
            match self.next_message().await {
                AcsMessage::TaskStopVerificationAck(a)
                    if a.message_id.as_deref() == Some(&probe) =>
                {
                    return;
                }
                AcsMessage::TaskManifestMessage(m) => self.send(m.ack()).await,
                _ => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        // Read until the server's close reply, as a well-behaved client does.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(DEADLINE, self.socket.next()).await {}
    }
}
