//! State changes through the outbox to a real, in-process ecs-local: submitted in order,
//! visible in DescribeTasks, and never lost across an agent restart.

mod backend_support;

use std::time::Duration;

use backend_support::{CLUSTER, LocalServer, describe_task, eventually, host, run_task, settings};
use ecs_agent::backend::backoff::Backoff;
use ecs_agent::backend::outbox::Outbox;
use ecs_agent::backend::{EcsClient, Registrar, Submitter, SubmitterTimers};
use ecs_agent::engine::ports::Protocol;
use ecs_agent::engine::state::{
    ContainerStateChange, NetworkBinding, StateChange, TaskStateChange,
};
use ecs_agent::store::Store;
use ecs_types::{ContainerStatus, TaskStatus};
use tokio::sync::watch;

fn timers() -> SubmitterTimers {
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

fn container(
    task_arn: &str,
    status: ContainerStatus,
    exit_code: Option<i64>,
) -> ContainerStateChange {
    ContainerStateChange {
        task_arn: task_arn.to_owned(),
        container_name: "app".to_owned(),
        runtime_id: Some("0123456789abcdef".to_owned()),
        status,
        exit_code,
        reason: None,
        network_bindings: vec![NetworkBinding {
            bind_ip: "0.0.0.0".to_owned(),
            container_port: 80,
            host_port: 32768,
            protocol: Protocol::Tcp,
        }],
        started_at: Some(chrono::Utc::now()),
        finished_at: None,
    }
}

fn task(task_arn: &str, status: TaskStatus, containers: Vec<ContainerStateChange>) -> StateChange {
    let now = chrono::Utc::now();
    StateChange::Task(TaskStateChange {
        task_arn: task_arn.to_owned(),
        status,
        reason: None,
        pull_started_at: Some(now),
        pull_stopped_at: Some(now),
        execution_stopped_at: (status == TaskStatus::Stopped).then_some(now),
        containers,
    })
}

async fn registered_client(url: &str) -> EcsClient {
    let s = settings(url);
    let client = EcsClient::new(&s).await.unwrap();
    Registrar::new(client.clone(), s, host())
        .register(None)
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn changes_are_submitted_in_order_and_visible_in_describe_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    let client = registered_client(&server.url()).await;
    let task_arn = run_task(&client, "submitter-order").await;

    let submitter = Submitter::new(client.clone(), CLUSTER, Outbox::memory(), timers());
    let mut accepted = submitter.accepted();
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(submitter.clone().run(shutdown));

    // Queued together: RUNNING must reach the backend before STOPPED.
    submitter
        .report(StateChange::Container(container(
            &task_arn,
            ContainerStatus::Running,
            None,
        )))
        .await
        .unwrap();
    submitter
        .report(task(&task_arn, TaskStatus::Running, vec![]))
        .await
        .unwrap();
    submitter
        .report(task(
            &task_arn,
            TaskStatus::Stopped,
            vec![container(&task_arn, ContainerStatus::Stopped, Some(3))],
        ))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), accepted.wait_for(|n| *n >= 2))
        .await
        .unwrap()
        .unwrap();

    let described = describe_task(&client, &task_arn).await;
    assert_eq!(described.last_status(), Some("STOPPED"));
    assert!(
        described.started_at().is_some(),
        "RUNNING was recorded first"
    );
    assert!(described.pull_started_at().is_some());
    assert!(described.execution_stopped_at().is_some());
    let c = &described.containers()[0];
    assert_eq!(c.runtime_id(), Some("0123456789abcdef"));
    assert_eq!(c.exit_code(), Some(3));
    assert_eq!(c.network_bindings()[0].host_port(), Some(32768));
    assert_eq!(*accepted.borrow(), 2);
    stop.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn lone_container_changes_are_drained_with_the_task_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    let client = registered_client(&server.url()).await;
    let task_arn = run_task(&client, "submitter-drain").await;
    let submitter = Submitter::new(client.clone(), CLUSTER, Outbox::memory(), timers());
    let mut accepted = submitter.accepted();
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(submitter.clone().run(shutdown));
    submitter
        .report(StateChange::Container(container(
            &task_arn,
            ContainerStatus::Running,
            None,
        )))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), accepted.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    let described = describe_task(&client, &task_arn).await;
    assert_eq!(
        described.containers()[0].runtime_id(),
        Some("0123456789abcdef")
    );
    assert_ne!(described.last_status(), Some("STOPPED"));
    stop.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn outbox_survives_an_agent_restart_and_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&server_dir).unwrap();
    std::fs::create_dir_all(&agent_dir).unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), &server_dir).await;
    let addr = server.addr;
    let client = registered_client(&server.url()).await;
    let task_arn = run_task(&client, "submitter-restart").await;
    // The backend is unreachable while the agent queues its changes, then the agent dies.
    server.stop().await;
    {
        let store = Store::open_in(&agent_dir).unwrap();
        let submitter = Submitter::new(
            client.clone(),
            CLUSTER,
            Outbox::durable(store.clone()),
            timers(),
        );
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(submitter.clone().run(shutdown));
        submitter
            .report(task(
                &task_arn,
                TaskStatus::Running,
                vec![container(&task_arn, ContainerStatus::Running, None)],
            ))
            .await
            .unwrap();
        assert_eq!(store.outbox_len().unwrap(), 1);
        stop.send_replace(true);
        running.await.unwrap();
    }

    // The backend is back; a new agent process drains what the old one left.
    let server = LocalServer::start(addr, &server_dir).await;
    // The old submitter's blocking jobs may still hold the file for a moment; the agent
    // itself waits the same way on restart.
    let store = Store::open_in_waiting(&agent_dir, Duration::from_secs(10)).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 1);
    let submitter = Submitter::new(
        client.clone(),
        CLUSTER,
        Outbox::durable(store.clone()),
        timers(),
    );
    let mut accepted = submitter.accepted();
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(submitter.clone().run(shutdown));
    tokio::time::timeout(Duration::from_secs(10), accepted.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    let s = store.clone();
    eventually("the outbox to empty", Duration::from_secs(5), || {
        let empty = s.outbox_len().unwrap() == 0;
        async move { empty }
    })
    .await;
    let described = describe_task(&client, &task_arn).await;
    assert_eq!(described.last_status(), Some("RUNNING"));
    assert_eq!(
        described.containers()[0].runtime_id(),
        Some("0123456789abcdef")
    );
    // Nothing left to resend: a wake-up finds an empty outbox.
    submitter.wake();
    tokio::task::yield_now().await;
    assert_eq!(*accepted.borrow(), 1);
    stop.send_replace(true);
    server.stop().await;
}
