//! What the endpoints and the engine keep of a task once it is cleaned up: nothing.
//! A real engine on the real Docker runs a task with a short cleanup wait; the v4 task
//! endpoint answers for it (filling the endpoint index and the encoded-body cache);
//! after the cleanup and a housekeeping sweep no per-task entry is left.

mod endpoints_support;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ecs_agent::endpoints::{
    self, AcsInfo, AgentInfo, CredentialsManager, EndpointConfig, EndpointState,
};
use ecs_agent::engine::{Engine, StateChange};
use ecs_types::TaskStatus;
use endpoints_support::*;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

/// Waits for the task-level change of `arn` to `status`.
async fn task_reaches(changes: &mut UnboundedReceiver<StateChange>, arn: &str, status: TaskStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Some(StateChange::Task(t))) if t.task_arn == arn && t.status == status => return,
            Ok(Some(_)) => {}
            Ok(None) => panic!("state change stream closed"),
            Err(_) => panic!("task {arn} did not reach {status:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleaned_up_task_leaves_no_entries_behind() {
    let docker = docker().await;
    let mut config = engine_config();
    // Long enough to ask for the stopped task's metadata before it goes.
    config.task_cleanup_wait = Duration::from_secs(3);
    let engine = Engine::new(docker.clone(), None, config);
    let mut changes = engine.subscribe();
    engine.start().await.expect("engine start");
    let state = EndpointState::new(
        Arc::new(engine.clone()),
        docker,
        Arc::new(CredentialsManager::new()),
        Arc::new(AcsInfo::default()),
        None,
        AgentInfo {
            cluster: CLUSTER.to_owned(),
            container_instance_arn: INSTANCE_ARN.to_owned(),
            ..AgentInfo::default()
        },
    );
    let servers = EndpointConfig {
        introspection_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        task_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        rps_steady: 1000,
        rps_burst: 1000,
        runtime_stats: false,
        license_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    let handles = endpoints::serve(state.clone(), &servers, std::future::pending())
        .await
        .expect("serve");
    let addr = handles.task_addr.expect("task server bound");

    let arn = unique_arn();
    // No health check: nothing changes the running task between two requests.
    let task: ecs_types::task::Task = serde_json::from_value(json!({
        "arn": arn, "family": "cleanuptest", "version": "1", "desiredStatus": "RUNNING",
        "networkMode": "bridge", "launchType": "EC2",
        "containers": [{
            "name": "app", "image": image(), "essential": true,
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            "containerArn": format!("{arn}/container/app"),
        }]
    }))
    .expect("task json");
    state.record_acs_task(&task).expect("credentials");
    engine.add_task(task).await.expect("add task");
    task_reaches(&mut changes, &arn, TaskStatus::Running).await;
    let mut seen = HashSet::new();
    state.sweep(&mut seen);
    assert!(state.acs.get(&arn).is_some());

    let id = engine.task(&arn).expect("task").spec.containers[0]
        .v3_endpoint_id
        .clone();
    let path = format!("/v4/{id}/task");
    let first = get(addr, &path).await;
    let again = get(addr, &path).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(
        first.body, again.body,
        "a steady task answers the same bytes"
    );
    assert_eq!(first.json()["KnownStatus"], "RUNNING");
    assert_eq!(first.json()["LaunchType"], "EC2");
    assert_eq!(state.endpoint_index.len(), 1);
    assert_eq!(state.task_bodies.len(), 1);

    // A changed task is never answered from the cache.
    assert!(engine.set_desired_status(&arn, TaskStatus::Stopped));
    task_reaches(&mut changes, &arn, TaskStatus::Stopped).await;
    // The change is announced just before the task's snapshot is published.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine
        .task(&arn)
        .is_some_and(|t| t.known != TaskStatus::Stopped)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "snapshot never STOPPED"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = get(addr, &path).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    assert_eq!(stopped.json()["KnownStatus"], "STOPPED");
    assert_eq!(stopped.json()["Containers"][0]["KnownStatus"], "STOPPED");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while engine.task(&arn).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "task never cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    state.sweep(&mut seen);
    assert!(state.acs.is_empty(), "ACS fields of a cleaned-up task kept");
    assert!(state.endpoint_index.is_empty(), "endpoint index entry kept");
    assert!(state.task_bodies.is_empty(), "encoded body kept");
    // Only the Docker event router is left: a finished actor's handle holds its memory.
    assert_eq!(engine.held_handles(), 1, "handles of finished actors kept");
    assert_eq!(get(addr, &path).await.status, 404);

    handles.shutdown().await;
    remove_task_containers(&arn);
}
