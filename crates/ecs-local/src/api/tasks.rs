//! RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::task_definitions;
use super::wire::{self, parse};
use super::{Ctx, DEFAULT_CLUSTER};
use crate::scheduler;
use crate::store::arn;
use crate::store::model::{ACTIVE, Cluster, Container, Reservation, Tag, Task, TaskDefinition};
use crate::store::{State, Txn};

/// How long a STOPPED task stays visible, as in the real service; forgetting them keeps
/// the store from growing with churn.
const STOPPED_TASK_RETENTION_SECS: f64 = 3600.0;

/// Forgets tasks that stopped more than the retention period ago.
fn prune_stopped(txn: &mut Txn<'_>, now: f64) {
    let expired: Vec<String> = txn
        .state()
        .tasks
        .values()
        .filter(|t| {
            t.last_status == "STOPPED"
                && t.stopped_at
                    .is_some_and(|at| now - at > STOPPED_TASK_RETENTION_SECS)
        })
        .map(|t| t.arn.clone())
        .collect();
    for arn in expired {
        txn.remove_task(&arn);
    }
}

/// Members shared by RunTask and StartTask.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Launch {
    cluster: Option<String>,
    task_definition: String,
    overrides: Option<Value>,
    started_by: Option<String>,
    group: Option<String>,
    tags: Option<Vec<Tag>>,
    propagate_tags: Option<String>,
    enable_execute_command: Option<bool>,
    launch_type: Option<String>,
    count: Option<i64>,
    container_instances: Option<Vec<String>>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    client_token: Option<String>,
}

impl Launch {
    fn group(&self, td: &TaskDefinition) -> String {
        self.group
            .clone()
            .unwrap_or_else(|| format!("family:{}", td.family))
    }
}

/// Checks a launch and resolves its cluster and task definition.
fn prepare(state: &State, launch: &Launch) -> Result<(Cluster, TaskDefinition), ApiError> {
    if let Some(launch_type) = launch.launch_type.as_deref()
        && !matches!(launch_type, "EC2" | "EXTERNAL")
    {
        return Err(ApiError::invalid_parameter(format!(
            "Launch type {launch_type} is not supported by ecs-local; use EC2 or EXTERNAL."
        )));
    }
    if let Some(started_by) = &launch.started_by
        && started_by.len() > 128
    {
        return Err(ApiError::invalid_parameter(
            "startedBy can be at most 128 characters.",
        ));
    }
    let cluster = wire::active_cluster(state, launch.cluster.as_deref())?.clone();
    let td = task_definitions::resolve(state, &launch.task_definition)
        .map_err(|_| ApiError::client("TaskDefinition not found."))?;
    if td.status != ACTIVE {
        return Err(ApiError::client("TaskDefinition is inactive"));
    }
    if let Some(overrides) = &launch.overrides {
        let names: Vec<&str> = td
            .container_definitions()
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect();
        for over in overrides
            .get("containerOverrides")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = over.get("name").and_then(Value::as_str).unwrap_or("");
            if !names.contains(&name) {
                return Err(ApiError::invalid_parameter(format!(
                    "Override for container named {name} is not a container in the TaskDefinition."
                )));
            }
        }
    }
    Ok((cluster, td.clone()))
}

fn new_task(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    td: &TaskDefinition,
    launch: &Launch,
    instance_arn: &str,
    reservation: Reservation,
) -> Task {
    let arns = ctx.store.arns();
    let id = arn::new_id();
    let overrides = launch.overrides.clone().unwrap_or_else(|| json!({}));
    let containers = td
        .container_definitions()
        .iter()
        .map(|def| {
            let text = |member: &str| match def.get(member) {
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            Container {
                arn: arns.container(&cluster.name, &id, &arn::new_id()),
                name: text("name").unwrap_or_default(),
                image: text("image").unwrap_or_default(),
                last_status: "PENDING".to_string(),
                runtime_id: None,
                image_digest: None,
                exit_code: None,
                reason: None,
                network_bindings: Vec::new(),
                cpu: text("cpu").unwrap_or_else(|| "0".to_string()),
                memory: text("memory"),
                memory_reservation: text("memoryReservation"),
                essential: def
                    .get("essential")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                health_status: None,
            }
        })
        .collect();
    Task {
        arn: arns.task(&cluster.name, &id),
        cluster_arn: cluster.arn.clone(),
        task_definition_arn: td.arn.clone(),
        container_instance_arn: instance_arn.to_string(),
        last_status: "PENDING".to_string(),
        desired_status: "RUNNING".to_string(),
        created_at: wire::now(),
        started_by: launch.started_by.clone(),
        group: Some(launch.group(td)),
        overrides,
        containers,
        cpu: reservation.cpu.to_string(),
        memory: reservation.memory.to_string(),
        reservation,
        started_at: None,
        connectivity_at: None,
        stopping_at: None,
        stopped_at: None,
        stopped_reason: None,
        stop_code: None,
        pull_started_at: None,
        pull_stopped_at: None,
        execution_stopped_at: None,
        enable_execute_command: launch.enable_execute_command.unwrap_or(false),
        attachments: Vec::new(),
        version: 1,
        client_token: launch.client_token.clone(),
        health_status: None,
    }
}

fn task_tags(txn: &Txn<'_>, td: &TaskDefinition, launch: &Launch) -> Result<Vec<Tag>, ApiError> {
    let mut tags = wire::parse_tags(launch.tags.clone())?;
    if launch.propagate_tags.as_deref() == Some("TASK_DEFINITION") {
        for tag in txn.state().tags_of(&td.arn) {
            if !tags.iter().any(|t| t.key == tag.key) {
                tags.push(tag.clone());
            }
        }
    }
    Ok(tags)
}

fn record(txn: &mut Txn<'_>, task: Task, tags: &[Tag]) -> Value {
    if !tags.is_empty() {
        txn.set_tags(&task.arn, tags.to_vec());
    }
    txn.notify(&task.container_instance_arn, &task.arn);
    let out = wire::task(txn.state(), &task, true);
    txn.put_task(task);
    out
}

pub fn run(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let launch: Launch = parse(input)?;
    let count = launch.count.unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(ApiError::invalid_parameter(
            "count must be between 1 and 10.",
        ));
    }
    ctx.store.write(|txn| {
        prune_stopped(txn, wire::now());
        let (cluster, td) = prepare(txn.state(), &launch)?;
        if let Some(token) = launch.client_token.as_deref().filter(|t| !t.is_empty()) {
            let earlier: Vec<Value> = txn
                .state()
                .tasks
                .values()
                .filter(|t| {
                    t.cluster_arn == cluster.arn && t.client_token.as_deref() == Some(token)
                })
                .map(|t| wire::task(txn.state(), t, true))
                .collect();
            if !earlier.is_empty() {
                return Ok(json!({"tasks": earlier, "failures": []}));
            }
        }
        let has_instances = txn
            .state()
            .instances
            .values()
            .any(|i| i.cluster_arn == cluster.arn && i.status == ACTIVE);
        if !has_instances {
            return Err(ApiError::invalid_parameter(
                "No Container Instances were found in your cluster.",
            ));
        }
        let demand = scheduler::demand(&td, launch.overrides.as_ref().unwrap_or(&Value::Null));
        let rules = scheduler::Rules::parse(
            &launch.group(&td),
            launch.placement_constraints.as_deref().unwrap_or(&[]),
            launch.placement_strategy.as_deref().unwrap_or(&[]),
            &td,
        )
        .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
        let tags = task_tags(txn, &td, &launch)?;
        let mut tasks = Vec::new();
        let mut failures: Vec<Value> = Vec::new();
        for _ in 0..count {
            match scheduler::place(txn.state(), &cluster.arn, &demand, &rules) {
                Ok(instance_arn) => {
                    let task = new_task(ctx, &cluster, &td, &launch, &instance_arn, demand.clone());
                    tasks.push(record(txn, task, &tags));
                }
                Err(refusals) => {
                    for refusal in refusals {
                        let failure =
                            wire::failure(&refusal.instance_arn, refusal.shortfall.reason());
                        if !failures.contains(&failure) {
                            failures.push(failure);
                        }
                    }
                }
            }
        }
        Ok(json!({"tasks": tasks, "failures": failures}))
    })
}

pub fn start(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let launch: Launch = parse(input)?;
    let targets = launch.container_instances.clone().unwrap_or_default();
    if targets.is_empty() || targets.len() > 10 {
        return Err(ApiError::invalid_parameter(
            "containerInstances must name between 1 and 10 container instances.",
        ));
    }
    ctx.store.write(|txn| {
        prune_stopped(txn, wire::now());
        let (cluster, td) = prepare(txn.state(), &launch)?;
        let demand = scheduler::demand(&td, launch.overrides.as_ref().unwrap_or(&Value::Null));
        let tags = task_tags(txn, &td, &launch)?;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for target in &targets {
            let arn = ctx
                .store
                .arns()
                .qualify("container-instance", &cluster.name, target);
            let Some(instance) = txn
                .state()
                .instances
                .get(&arn)
                .filter(|i| i.cluster_arn == cluster.arn && i.status != "INACTIVE")
                .cloned()
            else {
                failures.push(wire::failure(&arn, "MISSING"));
                continue;
            };
            if scheduler::agent_gone(&instance) {
                failures.push(wire::failure(&arn, scheduler::Shortfall::Agent.reason()));
                continue;
            }
            let left = scheduler::remaining(txn.state(), &instance);
            if let Err(shortfall) = left.check(&demand) {
                failures.push(wire::failure(&arn, shortfall.reason()));
                continue;
            }
            let task = new_task(ctx, &cluster, &td, &launch, &arn, demand.clone());
            tasks.push(record(txn, task, &tags));
        }
        Ok(json!({"tasks": tasks, "failures": failures}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopRequest {
    cluster: Option<String>,
    task: String,
    reason: Option<String>,
}

pub fn stop(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: StopRequest = parse(input)?;
    ctx.store.write(|txn| {
        let named = wire::implied_cluster(req.cluster.as_deref(), Some(&req.task));
        let cluster = wire::active_cluster(txn.state(), named)?.clone();
        let arn = ctx.store.arns().qualify("task", &cluster.name, &req.task);
        let mut task = txn
            .state()
            .tasks
            .get(&arn)
            .filter(|t| t.cluster_arn == cluster.arn)
            .cloned()
            .ok_or_else(|| ApiError::invalid_parameter("The referenced task was not found."))?;
        if task.desired_status != "STOPPED" {
            task.desired_status = "STOPPED".to_string();
            task.stopping_at = Some(wire::now());
            task.stopped_reason = Some(
                req.reason
                    .clone()
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "Task stopped by user".to_string()),
            );
            task.stop_code = Some("UserInitiated".to_string());
            task.version += 1;
            txn.notify(&task.container_instance_arn, &task.arn);
            txn.put_task(task.clone());
        }
        Ok(json!({"task": wire::task(txn.state(), &task, false)}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeRequest {
    cluster: Option<String>,
    tasks: Vec<String>,
    include: Option<Vec<String>>,
}

pub fn describe(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DescribeRequest = parse(input)?;
    if req.tasks.is_empty() || req.tasks.len() > 100 {
        return Err(ApiError::invalid_parameter(
            "Tasks cannot be empty and at most 100 can be described.",
        ));
    }
    let with_tags = wire::includes(&req.include, "TAGS");
    ctx.store.read(|state| {
        let named = wire::implied_cluster(
            req.cluster.as_deref(),
            req.tasks.first().map(String::as_str),
        );
        let cluster = wire::active_cluster(state, named)?;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for reference in &req.tasks {
            let arn = ctx.store.arns().qualify("task", &cluster.name, reference);
            match state
                .tasks
                .get(&arn)
                .filter(|t| t.cluster_arn == cluster.arn)
            {
                Some(task) => tasks.push(wire::task(state, task, with_tags)),
                None => failures.push(wire::failure(&arn, "MISSING")),
            }
        }
        Ok(json!({"tasks": tasks, "failures": failures}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRequest {
    cluster: Option<String>,
    container_instance: Option<String>,
    family: Option<String>,
    started_by: Option<String>,
    service_name: Option<String>,
    desired_status: Option<String>,
    launch_type: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let desired = req
        .desired_status
        .clone()
        .unwrap_or_else(|| "RUNNING".to_string());
    if !matches!(desired.as_str(), "RUNNING" | "PENDING" | "STOPPED") {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid desiredStatus '{desired}'."
        )));
    }
    if req.service_name.is_some() {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "ServiceNotFoundException",
            "Service not found.",
        ));
    }
    let arns = ctx.store.read(|state| {
        let cluster = wire::active_cluster(state, req.cluster.as_deref())?;
        let instance = req.container_instance.as_deref().map(|i| {
            ctx.store
                .arns()
                .qualify("container-instance", &cluster.name, i)
        });
        let matches = |t: &&Task| {
            t.cluster_arn == cluster.arn
                && match desired.as_str() {
                    // Desired PENDING means not yet running but meant to run.
                    "PENDING" => t.desired_status == "RUNNING" && t.last_status == "PENDING",
                    other => t.desired_status == other,
                }
                && instance
                    .as_deref()
                    .is_none_or(|i| t.container_instance_arn == i)
                && req.family.as_deref().is_none_or(|f| t.family() == f)
                && req
                    .started_by
                    .as_deref()
                    .is_none_or(|s| t.started_by.as_deref() == Some(s))
                && req.launch_type.as_deref().is_none_or(|l| l == "EC2")
        };
        Ok::<_, ApiError>(
            state
                .tasks
                .values()
                .filter(matches)
                .map(|t| t.arn.clone())
                .collect::<Vec<_>>(),
        )
    })?;
    let (page, next) = wire::page(arns, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(json!({"taskArns": page, "nextToken": next}))
}

/// The cluster named by an agent's request, which may not exist yet.
pub(super) fn cluster_name_of(reference: Option<&str>) -> &str {
    arn::cluster_name(
        reference
            .filter(|r| !r.is_empty())
            .unwrap_or(DEFAULT_CLUSTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::samples;
    use crate::store::{Arns, Store, StoreError};

    #[test]
    fn stopped_tasks_are_forgotten_after_the_retention_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arns::new("us-east-1", "1")).unwrap();
        let now = 10_000.0;
        store
            .write(|txn| {
                let mut old = samples::task("old", "i");
                old.last_status = "STOPPED".into();
                old.stopped_at = Some(now - STOPPED_TASK_RETENTION_SECS - 1.0);
                let mut recent = samples::task("recent", "i");
                recent.last_status = "STOPPED".into();
                recent.stopped_at = Some(now - 10.0);
                txn.put_task(old);
                txn.put_task(recent);
                txn.put_task(samples::task("live", "i"));
                Ok::<_, StoreError>(())
            })
            .unwrap();
        store
            .write(|txn| {
                prune_stopped(txn, now);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let left: Vec<String> = store.read(|s| s.tasks.keys().cloned().collect());
        assert_eq!(left, vec!["live".to_string(), "recent".to_string()]);
    }
}
