//! Shared helpers of the engine integration tests (real Docker engine).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ecs_agent::docker::{DockerApi, DockerClient};
use ecs_agent::engine::{Engine, EngineConfig, PullBehavior, StateChange, TaskStateChange};
use ecs_agent::store::Store;
use ecs_test_support::docker as docker_cli;
use ecs_types::{ContainerStatus, TaskStatus};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

pub fn image() -> String {
    ecs_test_support::image()
}

pub fn registry() -> String {
    ecs_test_support::registry()
}

pub async fn docker() -> Arc<dyn DockerApi> {
    Arc::new(DockerClient::connect(None).await.expect("docker engine"))
}

pub fn unique_arn() -> String {
    ecs_test_support::unique_task_arn("enginetest")
}

/// A config for tests: local images, short stop timeout, quick cleanup.
pub fn config() -> EngineConfig {
    EngineConfig {
        cluster: "enginetest".to_owned(),
        pull_behavior: PullBehavior::PreferCached,
        container_stop_timeout: Duration::from_secs(2),
        task_cleanup_wait: Duration::from_secs(3600),
        ..EngineConfig::default()
    }
}

/// A bridge task with the given containers (JSON in ACS shape).
pub fn task_json(arn: &str, containers: Vec<Value>) -> Value {
    json!({
        "arn": arn, "family": "enginetest", "version": "1", "desiredStatus": "RUNNING",
        "networkMode": "bridge", "containers": containers
    })
}

pub fn container(name: &str, essential: bool, command: &str) -> Value {
    json!({
        "name": name, "image": image(), "essential": essential,
        "command": ["sh", "-c", command], "cpu": 10, "memory": 32,
        "dockerConfig": {"config": "{}", "hostConfig": "{\"CapAdd\":[],\"CapDrop\":[],\"NetworkMode\":\"bridge\"}", "version": "1.17"}
    })
}

pub fn task(value: Value) -> ecs_types::task::Task {
    serde_json::from_value(value).expect("task json")
}

/// Removes every container of a test task when dropped (even on panic).
pub struct Cleanup(pub Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for arn in &self.0 {
            remove_task_containers(arn);
        }
    }
}

/// Removes the task's containers and its (then empty) task cgroup.
pub fn remove_task_containers(arn: &str) {
    docker_cli::remove_task_containers(arn);
    docker_cli::remove_task_cgroup(arn);
}

/// Containers Docker has for a task.
pub fn task_container_ids(arn: &str) -> Vec<String> {
    docker_cli::labelled_containers(&docker_cli::task_label(arn))
}

/// `docker inspect` as JSON.
pub fn inspect(id: &str) -> Value {
    docker_cli::inspect(id)
}

/// Waits (bounded) for the first change matching `pred`, looking at the changes
/// already seen first; every change received is kept in `seen`.
pub async fn wait_for(
    rx: &mut UnboundedReceiver<StateChange>,
    seen: &mut Vec<StateChange>,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&StateChange) -> bool,
) -> StateChange {
    if let Some(found) = seen.iter().find(|c| pred(c)) {
        return found.clone();
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(change)) => {
                seen.push(change.clone());
                if pred(&change) {
                    return change;
                }
            }
            Ok(None) => panic!("state change stream closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; seen: {seen:#?}"),
        }
    }
}

/// Waits for the task change of `arn` with `status`.
pub async fn wait_task(
    rx: &mut UnboundedReceiver<StateChange>,
    seen: &mut Vec<StateChange>,
    arn: &str,
    status: TaskStatus,
    timeout: Duration,
) -> TaskStateChange {
    let change = wait_for(
        rx,
        seen,
        timeout,
        &format!("task {status}"),
        |c| matches!(c, StateChange::Task(t) if t.task_arn == arn && t.status == status),
    )
    .await;
    match change {
        StateChange::Task(t) => t,
        StateChange::Container(_) => unreachable!(),
    }
}

pub fn container_changes<'a>(
    seen: &'a [StateChange],
    arn: &'a str,
    name: &'a str,
) -> impl Iterator<Item = &'a ecs_agent::engine::ContainerStateChange> + 'a {
    seen.iter().filter_map(move |c| match c {
        StateChange::Container(cc) if cc.task_arn == arn && cc.container_name == name => Some(cc),
        _ => None,
    })
}

pub fn stopped(
    seen: &[StateChange],
    arn: &str,
    name: &str,
) -> Option<ecs_agent::engine::ContainerStateChange> {
    container_changes(seen, arn, name)
        .find(|c| c.status == ContainerStatus::Stopped)
        .cloned()
}

/// Hands the engine a task (see [`task_json`]) of `containers`.
pub async fn add_task(engine: &Engine, arn: &str, containers: Vec<Value>) {
    engine
        .add_task(task(task_json(arn, containers)))
        .await
        .expect("add task");
}

/// The state of container `name` in a task change; panics if it has none.
pub fn container_in<'a>(
    change: &'a TaskStateChange,
    name: &str,
) -> &'a ecs_agent::engine::ContainerStateChange {
    change
        .containers
        .iter()
        .find(|c| c.container_name == name)
        .unwrap_or_else(|| panic!("no container {name} in {change:?}"))
}

pub async fn engine_with(
    config: EngineConfig,
    store: Option<Store>,
) -> (Engine, UnboundedReceiver<StateChange>) {
    let engine = Engine::new(docker().await, store, config);
    let rx = engine.subscribe();
    engine.start().await.expect("engine start");
    (engine, rx)
}

/// Upper bound of every wait: generous, the machine may be busy.
pub const LONG: Duration = Duration::from_secs(120);
