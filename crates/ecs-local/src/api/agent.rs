//! The calls agents make: DiscoverPollEndpoint and the Submit*StateChange family.
//!
//! State changes are accepted for unknown tasks and repeated statuses alike (the agent
//! retries a refused submission forever, blocking that task's queue), and statuses only
//! move forward.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::error::ApiError;
use super::tasks::cluster_name_of;
use super::wire::{self, parse};
use crate::server::{ACS_BASE_PATH, TCS_BASE_PATH};
use crate::store::model::{Container, Task};

const ACK: &str = "ACK";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverRequest {
    #[serde(rename = "containerInstance")]
    _container_instance: Option<String>,
    #[serde(rename = "cluster")]
    _cluster: Option<String>,
    #[serde(rename = "zoneId")]
    _zone_id: Option<String>,
}

pub fn discover_poll_endpoint(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let _: DiscoverRequest = parse(input)?;
    Ok(json!({
        "endpoint": format!("{}{ACS_BASE_PATH}", ctx.base_url),
        "telemetryEndpoint": format!("{}{TCS_BASE_PATH}", ctx.base_url),
        "serviceConnectEndpoint": ctx.base_url,
    }))
}

/// Order of task and container statuses; a submission never moves a status back.
fn rank(status: &str) -> Option<u8> {
    Some(match status {
        "PROVISIONING" => 0,
        "PENDING" | "MANIFEST_PULLED" => 1,
        "ACTIVATING" => 2,
        "RUNNING" => 3,
        "DEACTIVATING" => 4,
        "STOPPING" => 5,
        "DEPROVISIONING" => 6,
        "STOPPED" => 7,
        _ => return None,
    })
}

fn advances(current: &str, new: &str) -> bool {
    match (rank(current), rank(new)) {
        (Some(c), Some(n)) => n > c,
        (None, Some(_)) => true,
        _ => false,
    }
}

fn check_status(status: Option<&str>) -> Result<(), ApiError> {
    match status {
        Some(s) if rank(s).is_none() => Err(ApiError::invalid_parameter(format!(
            "Invalid status '{s}'."
        ))),
        _ => Ok(()),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ContainerChange {
    container_name: Option<String>,
    image_digest: Option<String>,
    runtime_id: Option<String>,
    exit_code: Option<i64>,
    network_bindings: Option<Vec<Value>>,
    reason: Option<String>,
    status: Option<String>,
}

fn apply_container_change(container: &mut Container, change: &ContainerChange) -> bool {
    let before = container.clone();
    if let Some(id) = change.runtime_id.as_ref().filter(|s| !s.is_empty()) {
        container.runtime_id = Some(id.clone());
    }
    if let Some(digest) = change.image_digest.as_ref().filter(|s| !s.is_empty()) {
        container.image_digest = Some(digest.clone());
    }
    if let Some(code) = change.exit_code {
        container.exit_code = Some(code);
    }
    if let Some(reason) = change.reason.as_ref().filter(|s| !s.is_empty()) {
        container.reason = Some(reason.clone());
    }
    if let Some(bindings) = &change.network_bindings {
        container.network_bindings = bindings.clone();
    }
    if let Some(status) = change.status.as_deref()
        && advances(&container.last_status, status)
    {
        container.last_status = status.to_string();
    }
    *container != before
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskStateChange {
    cluster: Option<String>,
    task: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    containers: Option<Vec<ContainerChange>>,
    pull_started_at: Option<f64>,
    pull_stopped_at: Option<f64>,
    execution_stopped_at: Option<f64>,
}

fn apply_task_status(task: &mut Task, status: &str, reason: Option<&str>, now: f64) {
    if !advances(&task.last_status, status) {
        return;
    }
    task.last_status = status.to_string();
    match status {
        "RUNNING" => {
            task.started_at.get_or_insert(now);
            task.connectivity_at.get_or_insert(now);
        }
        "STOPPED" => {
            task.desired_status = "STOPPED".to_string();
            task.stopping_at.get_or_insert(now);
            task.stopped_at = Some(now);
            task.execution_stopped_at.get_or_insert(now);
            let reason = reason.filter(|r| !r.is_empty());
            if task.stop_code.is_none() {
                let code = if task.started_at.is_none() && reason.is_some() {
                    "TaskFailedToStart"
                } else {
                    "EssentialContainerExited"
                };
                task.stop_code = Some(code.to_string());
            }
            if task.stopped_reason.is_none() {
                task.stopped_reason = Some(
                    reason
                        .unwrap_or("Essential container in task exited")
                        .to_string(),
                );
            }
            for container in &mut task.containers {
                container.last_status = "STOPPED".to_string();
            }
        }
        _ => {}
    }
}

pub fn submit_task_state_change(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: TaskStateChange = parse(input)?;
    check_status(req.status.as_deref())?;
    for change in req.containers.iter().flatten() {
        check_status(change.status.as_deref())?;
    }
    let Some(reference) = req.task.as_deref().filter(|t| !t.is_empty()) else {
        // The attachment form for task ENIs may come without a task; nothing to record.
        return Ok(json!({"acknowledgment": ACK}));
    };
    let cluster = cluster_name_of(req.cluster.as_deref()).to_string();
    let arn = ctx.store.arns().qualify("task", &cluster, reference);
    ctx.store.write(|txn| {
        let Some(mut task) = txn.state().tasks.get(&arn).cloned() else {
            tracing::info!(task = %arn, "state change for an unknown task accepted");
            return Ok(json!({"acknowledgment": ACK}));
        };
        let before = task.clone();
        let now = wire::now();
        if let Some(at) = req.pull_started_at {
            task.pull_started_at = Some(at);
        }
        if let Some(at) = req.pull_stopped_at {
            task.pull_stopped_at = Some(at);
        }
        if let Some(at) = req.execution_stopped_at {
            task.execution_stopped_at = Some(at);
        }
        for change in req.containers.iter().flatten() {
            let name = change.container_name.as_deref().unwrap_or("");
            if let Some(container) = task.containers.iter_mut().find(|c| c.name == name) {
                apply_container_change(container, change);
            }
        }
        if let Some(status) = req.status.as_deref() {
            apply_task_status(&mut task, status, req.reason.as_deref(), now);
        }
        if task != before {
            task.version += 1;
            txn.put_task(task);
        }
        Ok::<_, ApiError>(json!({"acknowledgment": ACK}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStateChange {
    cluster: Option<String>,
    task: Option<String>,
    container_name: Option<String>,
    runtime_id: Option<String>,
    status: Option<String>,
    exit_code: Option<i64>,
    reason: Option<String>,
    network_bindings: Option<Vec<Value>>,
}

pub fn submit_container_state_change(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ContainerStateChange = parse(input)?;
    check_status(req.status.as_deref())?;
    let Some(reference) = req.task.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(json!({"acknowledgment": ACK}));
    };
    let cluster = cluster_name_of(req.cluster.as_deref()).to_string();
    let arn = ctx.store.arns().qualify("task", &cluster, reference);
    let change = ContainerChange {
        container_name: req.container_name,
        image_digest: None,
        runtime_id: req.runtime_id,
        exit_code: req.exit_code,
        network_bindings: req.network_bindings,
        reason: req.reason,
        status: req.status,
    };
    ctx.store.write(|txn| {
        if let Some(mut task) = txn.state().tasks.get(&arn).cloned() {
            let name = change.container_name.as_deref().unwrap_or("");
            let changed = task
                .containers
                .iter_mut()
                .find(|c| c.name == name)
                .is_some_and(|c| apply_container_change(c, &change));
            if changed {
                task.version += 1;
                txn.put_task(task);
            }
        }
        Ok::<_, ApiError>(json!({"acknowledgment": ACK}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentChange {
    attachment_arn: String,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentsRequest {
    #[serde(rename = "cluster")]
    _cluster: Option<String>,
    attachments: Vec<AttachmentChange>,
}

pub fn submit_attachment_state_changes(_ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: AttachmentsRequest = parse(input)?;
    for change in &req.attachments {
        // Instance ENIs and EBS volumes are not modelled here; the agent only needs
        // its report accepted.
        tracing::debug!(attachment = %change.attachment_arn, status = %change.status, "attachment state change");
    }
    Ok(json!({"acknowledgment": ACK}))
}
