//! The baseline: the same containers created and started straight through the Docker API,
//! with the settings the agent used (copied from one of its containers). Also Docker's
//! own create/start event times for the agent's containers, and clean-up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::Context;
use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use futures::StreamExt;
use futures::future::join_all;
use serde_json::Value;

/// Label on every container the baseline creates, so clean-up finds them.
pub const BASELINE_LABEL: &str = "ecs-bench.baseline";
/// The agent's cluster label.
pub const CLUSTER_LABEL: &str = "com.amazonaws.ecs.cluster";
pub const TASK_LABEL: &str = "com.amazonaws.ecs.task-arn";

pub fn connect() -> anyhow::Result<Docker> {
    Docker::connect_with_local_defaults().context("connecting to Docker")
}

/// The create body of one of the agent's containers: its Config and HostConfig as
/// Docker reports them, with the agent's labels replaced by ours (so the agent never
/// mistakes a baseline container for one of its own) and the hostname left to Docker.
pub async fn template(docker: &Docker, container: &str) -> anyhow::Result<ContainerCreateBody> {
    let inspected = docker
        .inspect_container(container, None)
        .await
        .context("inspecting the agent's container")?;
    let mut body = serde_json::to_value(inspected.config.unwrap_or_default())?;
    let host = serde_json::to_value(inspected.host_config.unwrap_or_default())?;
    if let Value::Object(map) = &mut body {
        map.remove("Hostname");
        map.insert(
            "Labels".into(),
            serde_json::json!({ BASELINE_LABEL: "true" }),
        );
        map.insert("HostConfig".into(), host);
    }
    serde_json::from_value(body).context("building the baseline create body")
}

/// One baseline container: when its start call returned (ms after the common start),
/// and how long each call took.
#[derive(Debug, Clone, Copy)]
pub struct Launched {
    pub started_ms: f64,
    pub create_call_ms: f64,
    pub start_call_ms: f64,
}

/// Creates and starts `n` containers from `body` at once, as the agent would for `n`
/// tasks placed together.
pub async fn launch(
    docker: &Docker,
    body: &ContainerCreateBody,
    n: usize,
    tag: &str,
) -> anyhow::Result<Vec<Launched>> {
    let t0 = Instant::now();
    let runs = (0..n).map(|i| {
        let name = format!("ecs-bench-{tag}-{i}");
        let body = body.clone();
        async move {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            let c0 = Instant::now();
            let created = docker.create_container(Some(options), body).await?;
            let created_at = Instant::now();
            docker.start_container(&created.id, None).await?;
            let started_at = Instant::now();
            Ok::<_, bollard::errors::Error>(Launched {
                started_ms: ms(started_at - t0),
                create_call_ms: ms(created_at - c0),
                start_call_ms: ms(started_at - created_at),
            })
        }
    });
    join_all(runs)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("baseline create/start")
}

/// Creates, starts and waits for the exit of `n` short containers at once; the time
/// until the last one exited, in seconds.
pub async fn churn(docker: &Docker, body: &ContainerCreateBody, n: usize) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let runs = (0..n).map(|i| {
        let name = format!("ecs-bench-churn-{i}");
        let body = body.clone();
        async move {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            let created = docker.create_container(Some(options), body).await?;
            docker.start_container(&created.id, None).await?;
            let mut wait = docker.wait_container(&created.id, None::<WaitContainerOptions>);
            while let Some(next) = wait.next().await {
                next?;
            }
            Ok::<_, bollard::errors::Error>(())
        }
    });
    for r in join_all(runs).await {
        r.context("baseline churn")?;
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// Removes (forcibly) every container carrying `label=value`.
pub async fn remove_labelled(docker: &Docker, label: &str, value: &str) -> anyhow::Result<usize> {
    let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await?;
    let removals = list.iter().filter_map(|c| c.id.as_deref()).map(|id| {
        docker.remove_container(
            id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
    });
    let n = list.len();
    for r in join_all(removals).await {
        r.context("removing a container")?;
    }
    Ok(n)
}

/// Counts running containers carrying `label=value`.
pub async fn count_running(docker: &Docker, label: &str, value: &str) -> anyhow::Result<usize> {
    let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .filters(&filters)
                .build(),
        ))
        .await?;
    Ok(list.len())
}

/// Docker's `create` and `start` event times (seconds since the epoch) per task ARN, for
/// the containers of one cluster, recorded from the moment of the call on.
#[derive(Clone, Default)]
pub struct EventLog {
    inner: Arc<Mutex<HashMap<String, EventTimes>>>,
}

/// A container's (create, start) event times.
type EventTimes = (Option<f64>, Option<f64>);

impl EventLog {
    pub fn record(docker: &Docker, cluster: &str) -> EventLog {
        let log = EventLog::default();
        let filters = HashMap::from([
            ("type", vec!["container".to_owned()]),
            ("label", vec![format!("{CLUSTER_LABEL}={cluster}")]),
        ]);
        let mut events = docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
        let inner = log.inner.clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                let (Some(action), Some(nanos)) = (event.action.as_deref(), event.time_nano) else {
                    continue;
                };
                let Some(task) = event
                    .actor
                    .and_then(|a| a.attributes)
                    .and_then(|mut a| a.remove(TASK_LABEL))
                else {
                    continue;
                };
                let at = nanos as f64 / 1e9;
                let mut map = inner.lock().unwrap_or_else(PoisonError::into_inner);
                let entry = map.entry(task).or_default();
                match action {
                    "create" => entry.0 = Some(at),
                    "start" => entry.1 = Some(at),
                    _ => {}
                }
            }
        });
        log
    }

    /// (create, start) event times of a task's container.
    pub fn get(&self, task: &str) -> EventTimes {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(task)
            .copied()
            .unwrap_or_default()
    }
}

pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
