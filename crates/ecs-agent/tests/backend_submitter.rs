//! State changes through the outbox to a real, in-process ecs-local: submitted in order,
//! visible in DescribeTasks, and never lost across an agent restart.

mod backend_support;

use std::time::Duration;

use backend_support::{
    LocalServer, RunningSubmitter, describe_task, registered_client, run_task,
    server_and_agent_dirs, spawn_submitter, wait_outbox_empty,
};
use ecs_agent::backend::EcsClient;
use ecs_agent::backend::outbox::Outbox;
use ecs_agent::engine::ports::Protocol;
use ecs_agent::engine::state::{
    ContainerStateChange, NetworkBinding, StateChange, TaskStateChange,
};
use ecs_agent::store::Store;
use ecs_types::{ContainerStatus, TaskStatus};

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

/// ecs-local with a registered instance and a task of `family` running on it, and a
/// submitter with an in-memory outbox reporting to it.
struct Fixture {
    running: RunningSubmitter,
    client: EcsClient,
    task_arn: String,
    server: LocalServer,
    _dir: tempfile::TempDir,
}

async fn fixture(family: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    let client = registered_client(&server.url()).await;
    let task_arn = run_task(&client, family).await;
    let running = spawn_submitter(&client, Outbox::memory());
    Fixture {
        running,
        client,
        task_arn,
        server,
        _dir: dir,
    }
}

#[tokio::test]
async fn changes_are_submitted_in_order_and_visible_in_describe_tasks() {
    // Bound in the order the test's own locals were: the directory is dropped last.
    let Fixture {
        _dir,
        server,
        client,
        task_arn,
        mut running,
    } = fixture("submitter-order").await;
    let submitter = &running.submitter;

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
    running.wait_accepted(2).await;

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
    assert_eq!(*running.accepted.borrow(), 2);
    running.stop.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn lone_container_changes_are_drained_with_the_task_status() {
    // Bound in the order the test's own locals were: the directory is dropped last.
    let Fixture {
        _dir,
        server,
        client,
        task_arn,
        mut running,
    } = fixture("submitter-drain").await;
    running
        .submitter
        .report(StateChange::Container(container(
            &task_arn,
            ContainerStatus::Running,
            None,
        )))
        .await
        .unwrap();
    running.wait_accepted(1).await;
    let described = describe_task(&client, &task_arn).await;
    assert_eq!(
        described.containers()[0].runtime_id(),
        Some("0123456789abcdef")
    );
    assert_ne!(described.last_status(), Some("STOPPED"));
    running.stop.send_replace(true);
    server.stop().await;
}

#[tokio::test]
async fn outbox_survives_an_agent_restart_and_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server_dir, agent_dir) = server_and_agent_dirs(dir.path());
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), &server_dir).await;
    let addr = server.addr;
    let client = registered_client(&server.url()).await;
    let task_arn = run_task(&client, "submitter-restart").await;
    // The backend is unreachable while the agent queues its changes, then the agent dies.
    server.stop().await;
    {
        let store = Store::open_in(&agent_dir).unwrap();
        let running = spawn_submitter(&client, Outbox::durable(store.clone()));
        running
            .submitter
            .report(task(
                &task_arn,
                TaskStatus::Running,
                vec![container(&task_arn, ContainerStatus::Running, None)],
            ))
            .await
            .unwrap();
        assert_eq!(store.outbox_len().unwrap(), 1);
        running.stop.send_replace(true);
        running.task.await.unwrap();
    }

    // The backend is back; a new agent process drains what the old one left.
    let server = LocalServer::start(addr, &server_dir).await;
    // The old submitter's blocking jobs may still hold the file for a moment; the agent
    // itself waits the same way on restart.
    let store = Store::open_in_waiting(&agent_dir, Duration::from_secs(10)).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 1);
    let mut running = spawn_submitter(&client, Outbox::durable(store.clone()));
    running.wait_accepted(1).await;
    wait_outbox_empty(&store, Duration::from_secs(5)).await;
    let described = describe_task(&client, &task_arn).await;
    assert_eq!(described.last_status(), Some("RUNNING"));
    assert_eq!(
        described.containers()[0].runtime_id(),
        Some("0123456789abcdef")
    );
    // Nothing left to resend: a wake-up finds an empty outbox.
    running.submitter.wake();
    tokio::task::yield_now().await;
    assert_eq!(*running.accepted.borrow(), 1);
    running.stop.send_replace(true);
    server.stop().await;
}
