//! The engine queues reported state changes in the store's outbox in the same transaction
//! as the task state that marks them reported (real Docker, real redb store, real
//! in-process ecs-local): a crash right after the save loses nothing, and a restarted
//! agent submits what the old one queued exactly once.

mod backend_support;
mod engine_support;

use std::time::Duration;

use backend_support::{
    CLUSTER, LocalServer, describe_task, registered_client, run_task, server_and_agent_dirs,
    spawn_submitter, wait_outbox_empty,
};
use ecs_agent::backend::outbox::Outbox;
use ecs_agent::engine::{Engine, EngineConfig, Report, StateChange, TaskState};
use ecs_agent::store::Store;
use ecs_types::{ContainerStatus, TaskStatus};
use engine_support::{Cleanup, add_task, container, docker};

fn queued_running(pending: &[(u64, StateChange)]) -> (bool, bool) {
    let container = pending.iter().any(|(_, c)| {
        matches!(c, StateChange::Container(c)
            if c.container_name == "app" && c.status == ContainerStatus::Running)
    });
    let task = pending
        .iter()
        .any(|(_, c)| matches!(c, StateChange::Task(t) if t.status == TaskStatus::Running));
    (container, task)
}

#[tokio::test]
async fn running_change_is_in_the_outbox_with_the_saved_state_and_sent_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server_dir, agent_dir) = server_and_agent_dirs(dir.path());
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), &server_dir).await;
    let client = registered_client(&server.url()).await;
    let task_arn = run_task(&client, "engine-outbox").await;
    let _guard = Cleanup(vec![task_arn.clone()]);

    // No submitter runs: whatever reaches the outbox was written by the engine itself.
    {
        let store = Store::open_in(&agent_dir).unwrap();
        let config = EngineConfig {
            cluster: CLUSTER.to_owned(),
            data_dir: agent_dir.clone(),
            host_data_dir: agent_dir.clone(),
            ..engine_support::config()
        };
        let engine = Engine::new(docker().await, Some(store.clone()), config).with_durable_outbox();
        let mut reports = engine.subscribe_reports();
        engine.start().await.unwrap();
        add_task(
            &engine,
            &task_arn,
            vec![container("app", true, "exec sleep 300")],
        )
        .await;

        // Each wake-up follows a committed save; wait for the one carrying RUNNING.
        let saved = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match reports.recv().await.unwrap() {
                    Report::Change(change) => {
                        panic!("handed to the submitter instead of queued: {change:?}")
                    }
                    Report::Queued => {
                        let pending = store.outbox_pending::<StateChange>().unwrap();
                        if queued_running(&pending) == (true, true) {
                            break pending;
                        }
                    }
                }
            }
        })
        .await
        .unwrap();
        // The saved state says RUNNING was reported, and the outbox holds that report.
        let state = store.get_task::<TaskState>(&task_arn).unwrap().unwrap();
        assert_eq!(state.containers[0].reported, ContainerStatus::Running);
        assert_eq!(state.reported, TaskStatus::Running);
        assert!(!saved.is_empty());

        // The agent dies here, before anything was submitted.
        engine.shutdown().await;
        drop(engine);
        drop(store);
    }

    // A new agent process on the same store submits what the old one queued. It waits, as
    // the agent does, while jobs of the old engine still finish and hold the file.
    let store = Store::open_in_waiting(&agent_dir, Duration::from_secs(10)).unwrap();
    assert_eq!(
        queued_running(&store.outbox_pending::<StateChange>().unwrap()),
        (true, true)
    );
    let mut running = spawn_submitter(&client, Outbox::durable(store.clone()));
    running.wait_accepted(1).await;
    wait_outbox_empty(&store, Duration::from_secs(5)).await;
    let described = describe_task(&client, &task_arn).await;
    assert_eq!(described.last_status(), Some("RUNNING"));
    assert_eq!(described.containers()[0].last_status(), Some("RUNNING"));
    // Sent once: a wake-up finds nothing left to resend.
    let sent = *running.accepted.borrow();
    running.submitter.wake();
    tokio::task::yield_now().await;
    assert_eq!(*running.accepted.borrow(), sent);
    assert_eq!(sent, 1);
    running.stop.send_replace(true);
    server.stop().await;
}
