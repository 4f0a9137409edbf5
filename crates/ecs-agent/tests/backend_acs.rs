//! The ACS session against a real, in-process ecs-local: payloads are persisted before
//! they are acknowledged, heartbeats are answered, stops arrive, and the session comes
//! back after ecs-local restarts.

mod backend_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend_support::{CLUSTER, LocalServer, eventually, host, run_task, settings};
use ecs_agent::backend::acs::{AcsIdentity, AcsSession, AcsTimers};
use ecs_agent::backend::backoff::Backoff;
use ecs_agent::backend::outbox::Outbox;
use ecs_agent::backend::{
    CredentialsManager, EcsClient, NotAccepted, Registrar, Submitter, SubmitterTimers, TaskEngine,
};
use ecs_agent::store::Store;
use ecs_local::acs::InstanceStats;
use ecs_types::TaskStatus;
use ecs_types::acs::RoleType;
use ecs_types::task::Task;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};

/// The engine side of the session: persists each task to the store before returning,
/// as the engine's contract requires, and reports what it got.
struct PersistingEngine {
    store: Store,
    tasks: Mutex<HashMap<String, Task>>,
    seen: mpsc::UnboundedSender<Task>,
}

impl TaskEngine for PersistingEngine {
    fn accept_task(&self, task: Task) -> BoxFuture<'_, Result<(), NotAccepted>> {
        Box::pin(async move {
            let arn = task.arn.clone().unwrap_or_default();
            self.store
                .put_task(&arn, &task)
                .map_err(|e| NotAccepted(e.to_string()))?;
            self.tasks.lock().unwrap().insert(arn, task.clone());
            let _ = self.seen.send(task);
            Ok(())
        })
    }

    fn desired_statuses(&self) -> BoxFuture<'_, Vec<(String, TaskStatus)>> {
        Box::pin(async move {
            self.tasks
                .lock()
                .unwrap()
                .iter()
                .map(|(arn, t)| {
                    let desired = t.desired_status().ok().flatten().unwrap_or_default();
                    (arn.clone(), desired)
                })
                .collect()
        })
    }

    fn stop_task<'a>(&'a self, task_arn: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            match self.tasks.lock().unwrap().get_mut(task_arn) {
                Some(t) => {
                    t.desired_status = Some("STOPPED".into());
                    true
                }
                None => false,
            }
        })
    }

    fn set_credentials_id<'a>(
        &'a self,
        task_arn: &'a str,
        _role: &'a RoleType,
        _credentials_id: &'a str,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.tasks.lock().unwrap().contains_key(task_arn) })
    }
}

fn fast_timers() -> AcsTimers {
    AcsTimers {
        backoff: Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(400),
            2.0,
            0.2,
        ),
        ..AcsTimers::default()
    }
}

struct Agent {
    credentials: CredentialsManager,
    inactive: watch::Receiver<bool>,
    engine: Arc<PersistingEngine>,
    accepted: watch::Receiver<u64>,
    client: EcsClient,
    arn: String,
    store: Store,
    tasks: mpsc::UnboundedReceiver<Task>,
    connections: watch::Receiver<u64>,
    heartbeats: watch::Receiver<u64>,
    shutdown: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start_agent(server_url: &str) -> Agent {
    start_agent_with(server_url, Vec::new(), fast_timers()).await
}

/// An agent whose engine already holds `preloaded` tasks (as after a restart).
async fn start_agent_with(server_url: &str, preloaded: Vec<Task>, timers: AcsTimers) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(server_url);
    let client = EcsClient::new(&s).await.unwrap();
    let registered = Registrar::new(client.clone(), s.clone(), host())
        .register(None)
        .await
        .unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let (seen, tasks) = mpsc::unbounded_channel();
    let engine = Arc::new(PersistingEngine {
        store: store.clone(),
        tasks: Mutex::new(
            preloaded
                .into_iter()
                .map(|t| (t.arn.clone().unwrap_or_default(), t))
                .collect(),
        ),
        seen,
    });
    let submitter = Submitter::new(
        client.clone(),
        CLUSTER,
        Outbox::memory(),
        SubmitterTimers::default(),
    );
    let submitter_run = submitter.clone();
    let credentials = CredentialsManager::new();
    let accepted = submitter.accepted();
    let engine_handle = engine.clone();
    let session = AcsSession::new(
        client.clone(),
        AcsIdentity {
            cluster: CLUSTER.to_owned(),
            container_instance_arn: registered.container_instance_arn.clone(),
            docker_version: Some("20.10.24".into()),
        },
        engine,
        Arc::new(credentials.clone()),
        submitter,
        Some(store.clone()),
        false,
        timers,
    );
    let signals = session.signals();
    let (shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(session.run(shutdown_rx));
    tokio::spawn(submitter_run.run(shutdown.subscribe()));
    Agent {
        credentials,
        inactive: signals.inactive,
        engine: engine_handle,
        accepted,
        client,
        arn: registered.container_instance_arn,
        store,
        tasks,
        connections: signals.connections,
        heartbeats: signals.heartbeats,
        shutdown,
        _dir: dir,
    }
}

/// Waits (10 s at most) until ecs-local's ACS has a session with the agent.
async fn wait_connected(server: &LocalServer, agent: &Agent) {
    eventually("the ACS connection", Duration::from_secs(10), async || {
        server.acs.is_connected(&agent.arn)
    })
    .await;
}

/// Waits (10 s at most) until ecs-local's ACS counts for the agent's instance satisfy
/// `done`.
async fn wait_stats(
    server: &LocalServer,
    agent: &Agent,
    what: &str,
    done: impl Fn(&InstanceStats) -> bool,
) {
    eventually(what, Duration::from_secs(10), async || {
        server.acs.stats(&agent.arn).is_some_and(|s| done(&s))
    })
    .await;
}

#[tokio::test]
async fn payload_is_persisted_then_acked_and_stop_arrives() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), server_dir.path()).await;
    let mut agent = start_agent(&server.url()).await;
    wait_connected(&server, &agent).await;

    let task_arn = run_task(&agent.client, "acs-payload").await;
    let got = tokio::time::timeout(Duration::from_secs(10), agent.tasks.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.arn.as_deref(), Some(task_arn.as_str()));
    assert_eq!(got.desired_status.as_deref(), Some("RUNNING"));

    wait_stats(&server, &agent, "the payload ack", |s| s.payload_acks >= 1).await;
    let stored: Option<Task> = agent.store.get_task(&task_arn).unwrap();
    assert_eq!(stored.unwrap().arn.as_deref(), Some(task_arn.as_str()));

    wait_stats(&server, &agent, "a heartbeat ack", |s| {
        s.heartbeat_acks >= 1
    })
    .await;
    assert!(*agent.heartbeats.borrow() >= 1);

    agent
        .client
        .sdk()
        .stop_task()
        .cluster(CLUSTER)
        .task(&task_arn)
        .reason("test over")
        .send()
        .await
        .unwrap();
    let stop = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let t = agent.tasks.recv().await.unwrap();
            if t.desired_status.as_deref() == Some("STOPPED") {
                return t;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(stop.arn.as_deref(), Some(task_arn.as_str()));
    agent.shutdown.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn reconnects_after_ecs_local_restarts() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), server_dir.path()).await;
    let addr = server.addr;
    let mut agent = start_agent(&server.url()).await;
    eventually("the first connection", Duration::from_secs(10), || {
        let n = *agent.connections.borrow();
        async move { n >= 1 }
    })
    .await;
    server.stop().await;

    // Down for a while: the agent keeps trying with backoff, then gets back in.
    let server = LocalServer::start(addr, server_dir.path()).await;
    tokio::time::timeout(Duration::from_secs(20), async {
        while *agent.connections.borrow_and_update() < 2 {
            agent.connections.changed().await.unwrap();
        }
    })
    .await
    .expect("no reconnection");
    let what = "a heartbeat ack on the new connection";
    wait_stats(&server, &agent, what, |s| s.heartbeat_acks >= 1).await;
    agent.shutdown.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn manifest_is_acked_and_stray_tasks_are_stopped_after_verification() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), server_dir.path()).await;
    let stray_arn =
        "arn:aws:ecs:us-east-1:111122223333:task/local/00000000000000000000000000000bad";
    let stray: Task = serde_json::from_value(serde_json::json!({
        "arn": stray_arn, "desiredStatus": "RUNNING", "family": "stray", "version": "1",
        "containers": []
    }))
    .unwrap();
    let agent = start_agent_with(&server.url(), vec![stray], fast_timers()).await;
    let what = "a manifest ack and a stop verification";
    wait_stats(&server, &agent, what, |s| {
        s.manifest_acks >= 1 && s.stop_verifications >= 1
    })
    .await;
    let engine = agent.engine.clone();
    eventually(
        "the stray task to be stopped",
        Duration::from_secs(10),
        || {
            let stopped = engine
                .tasks
                .lock()
                .unwrap()
                .get(stray_arn)
                .is_some_and(|t| t.desired_status.as_deref() == Some("STOPPED"));
            async move { stopped }
        },
    )
    .await;
    assert!(agent.store.manifest_seq_num().unwrap().is_some());
    agent.shutdown.send_replace(true);
    server.stop().await;
}

/// A websocket server that plays a hostile ACS: what it sends, and what the agent answers.
async fn hostile_acs(frames: Vec<String>) -> (String, mpsc::UnboundedReceiver<String>) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut connection = 0;
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            connection += 1;
            let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                continue;
            };
            let _ = tx.send(format!("{connection}:open"));
            let (mut sink, mut source) = ws.split();
            if connection == 1 {
                for frame in &frames {
                    sink.send(Message::text(frame.clone())).await.unwrap();
                }
            }
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = source.next().await {
                    match msg {
                        Message::Text(t) => {
                            let _ = tx.send(format!("{connection}:{t}"));
                        }
                        Message::Close(Some(frame)) => {
                            let _ = tx.send(format!(
                                "{connection}:close {} {}",
                                u16::from(frame.code),
                                frame.reason
                            ));
                        }
                        _ => {}
                    }
                }
                let _ = tx.send(format!("{connection}:closed"));
            });
        }
    });
    (url, rx)
}

/// ecs-local (with its data directory) whose DiscoverPollEndpoint sends the agent to a
/// [`hostile_acs`] playing `frames`, and what that ACS saw.
async fn behind_hostile_acs(
    frames: Vec<String>,
) -> (
    LocalServer,
    tempfile::TempDir,
    mpsc::UnboundedReceiver<String>,
) {
    let (hostile_url, replies) = hostile_acs(frames).await;
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start_with(
        "127.0.0.1:0".parse().unwrap(),
        server_dir.path(),
        Some(hostile_url),
    )
    .await;
    (server, server_dir, replies)
}

#[tokio::test]
async fn malformed_and_hostile_messages_never_end_the_session() {
    let ids = serde_json::json!({
        "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/local",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:111122223333:container-instance/local/x"
    });
    let bad_task_arn =
        "arn:aws:ecs:us-east-1:111122223333:task/local/0000000000000000000000000000dead";
    let mut invalid_payload = serde_json::json!({"messageId": "p-bad", "seqNum": 1,
        "tasks": [{"arn": bad_task_arn, "desiredStatus": "RUNNING", "containers": "not a list"}]});
    let mut no_id_payload = serde_json::json!({"seqNum": 2, "tasks": []});
    for p in [&mut invalid_payload, &mut no_id_payload] {
        p.as_object_mut()
            .unwrap()
            .extend(ids.as_object().unwrap().clone());
    }
    let frames = vec![
        "this is not json".to_owned(),
        "{\"type\":\"NoSuchMessage\",\"message\":{}}".to_owned(),
        format!("{{\"type\":\"ErrorMessage\",\"message\":{{\"message\":\"{}\"}}}}", "x".repeat(2 * 1024 * 1024)),
        "{\"type\":\"PayloadMessage\",\"message\":[1,2,3]}".to_owned(),
        serde_json::json!({"type": "PayloadMessage", "message": invalid_payload}).to_string(),
        serde_json::json!({"type": "PayloadMessage", "message": no_id_payload}).to_string(),
        serde_json::json!({"type": "StageUpdateMessage", "message": {"messageId": "u1",
            "clusterArn": "c", "containerInstanceArn": "i"}}).to_string(),
        serde_json::json!({"type": "HeartbeatMessage", "message": {"messageId": "hb-1", "healthy": true}}).to_string(),
    ];
    let (server, _server_dir, mut replies) = behind_hostile_acs(frames).await;
    let mut agent = start_agent(&server.url()).await;
    // The heartbeat after the hostile frames is answered.
    let seen = next_matching(&mut replies, "hb-1").await;
    assert!(
        seen.iter().all(|r| r.starts_with("1:")),
        "one connection throughout: {seen:?}"
    );
    assert!(seen.iter().any(|r| r.contains("HeartbeatAckRequest")));
    assert!(
        seen.iter()
            .any(|r| r.contains("NackRequest") && r.contains("Updates are disabled"))
    );
    assert!(
        !seen
            .iter()
            .any(|r| r.contains("AckRequest") && r.contains("p-bad"))
    );
    // The undecodable task is reported STOPPED to the ECS API.
    tokio::time::timeout(
        Duration::from_secs(10),
        agent.accepted.wait_for(|n| *n >= 1),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        agent.tasks.try_recv().is_err(),
        "nothing reached the engine"
    );
    agent.shutdown.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn task_role_credentials_are_kept_and_acknowledged() {
    use aws_sdk_ecs::types::ContainerDefinition;
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), server_dir.path()).await;
    let mut agent = start_agent(&server.url()).await;
    agent
        .client
        .sdk()
        .register_task_definition()
        .family("with-role")
        .task_role_arn("arn:aws:iam::111122223333:role/app")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("ecs-test/busybox:latest")
                .memory(16)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = agent
        .client
        .sdk()
        .run_task()
        .cluster(CLUSTER)
        .task_definition("with-role")
        .send()
        .await
        .unwrap();
    let task_arn = run.tasks()[0].task_arn().unwrap().to_owned();
    let task = tokio::time::timeout(Duration::from_secs(10), agent.tasks.recv())
        .await
        .unwrap()
        .unwrap();
    let id = task
        .role_credentials
        .as_ref()
        .and_then(|c| c.credentials_id.clone())
        .expect("the payload carries task role credentials");
    let kept = agent.credentials.get(&id).expect("credentials kept by ID");
    assert_eq!(kept.task_arn, task_arn);
    assert_eq!(kept.role_type, RoleType::TaskApplication);
    wait_stats(&server, &agent, "the credentials ack", |s| {
        s.credential_acks >= 1
    })
    .await;
    agent.shutdown.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn a_deregistered_instance_is_parked_as_inactive() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), server_dir.path()).await;
    let mut agent = start_agent(&server.url()).await;
    wait_connected(&server, &agent).await;
    agent
        .client
        .sdk()
        .deregister_container_instance()
        .cluster(CLUSTER)
        .container_instance(&agent.arn)
        .force(true)
        .send()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), agent.inactive.wait_for(|i| *i))
        .await
        .expect("InactiveInstanceException seen")
        .unwrap();
    agent.shutdown.send_replace(true);
    server.stop().await;
}

async fn next_matching(replies: &mut mpsc::UnboundedReceiver<String>, what: &str) -> Vec<String> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(reply) = replies.recv().await {
            let done = reply.contains(what);
            seen.push(reply);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what:?} in {seen:?}"));
    seen
}

#[tokio::test]
async fn a_silent_acs_is_dropped_after_the_heartbeat_timeout() {
    let (server, _server_dir, mut replies) = behind_hostile_acs(Vec::new()).await;
    let timers = AcsTimers {
        heartbeat_base: Duration::from_millis(300),
        heartbeat_spread: Duration::ZERO,
        ..fast_timers()
    };
    let agent = start_agent_with(&server.url(), Vec::new(), timers).await;
    let seen = next_matching(&mut replies, "2:open").await;
    assert!(seen.contains(&"1:closed".to_owned()), "{seen:?}");
    agent.shutdown.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn connections_are_refreshed_with_a_connection_expired_close() {
    let (server, _server_dir, mut replies) = behind_hostile_acs(Vec::new()).await;
    let timers = AcsTimers {
        disconnect_base: Duration::from_millis(300),
        disconnect_spread: Duration::ZERO,
        ..fast_timers()
    };
    let agent = start_agent_with(&server.url(), Vec::new(), timers).await;
    let seen = next_matching(
        &mut replies,
        "1:close 1000 ConnectionExpired: Reconnect to continue",
    )
    .await;
    assert_eq!(seen[0], "1:open");
    // The server closes in turn; the agent reconnects at once.
    next_matching(&mut replies, "2:open").await;
    agent.shutdown.send_replace(true);
    server.stop().await;
}
