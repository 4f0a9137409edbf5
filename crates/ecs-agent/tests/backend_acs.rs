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
        tasks: Mutex::new(HashMap::new()),
        seen,
    });
    let submitter = Submitter::new(
        client.clone(),
        CLUSTER,
        Outbox::memory(),
        SubmitterTimers::default(),
    );
    let session = AcsSession::new(
        client.clone(),
        AcsIdentity {
            cluster: CLUSTER.to_owned(),
            container_instance_arn: registered.container_instance_arn.clone(),
            docker_version: Some("20.10.24".into()),
        },
        engine,
        Arc::new(CredentialsManager::new()),
        submitter,
        Some(store.clone()),
        false,
        fast_timers(),
    );
    let signals = session.signals();
    let (shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(session.run(shutdown_rx));
    Agent {
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

#[tokio::test]
async fn payload_is_persisted_then_acked_and_stop_arrives() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), server_dir.path()).await;
    let mut agent = start_agent(&server.url()).await;
    let acs = server.acs.clone();
    let arn = agent.arn.clone();
    eventually("the ACS connection", Duration::from_secs(10), || {
        let connected = acs.is_connected(&arn);
        async move { connected }
    })
    .await;

    let task_arn = run_task(&agent.client, "acs-payload").await;
    let got = tokio::time::timeout(Duration::from_secs(10), agent.tasks.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.arn.as_deref(), Some(task_arn.as_str()));
    assert_eq!(got.desired_status.as_deref(), Some("RUNNING"));

    eventually("the payload ack", Duration::from_secs(10), || {
        let acked = acs.stats(&arn).is_some_and(|s| s.payload_acks >= 1);
        async move { acked }
    })
    .await;
    let stored: Option<Task> = agent.store.get_task(&task_arn).unwrap();
    assert_eq!(stored.unwrap().arn.as_deref(), Some(task_arn.as_str()));

    eventually("a heartbeat ack", Duration::from_secs(10), || {
        let acked = acs.stats(&arn).is_some_and(|s| s.heartbeat_acks >= 1);
        async move { acked }
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
    let acs = server.acs.clone();
    let arn = agent.arn.clone();
    eventually(
        "a heartbeat ack on the new connection",
        Duration::from_secs(10),
        || {
            let acked = acs.stats(&arn).is_some_and(|s| s.heartbeat_acks >= 1);
            async move { acked }
        },
    )
    .await;
    agent.shutdown.send_replace(true);
    server.stop().await;
}
