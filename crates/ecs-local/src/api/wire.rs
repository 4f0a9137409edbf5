//! Input parsing, paging, and the conversion of stored records to the output shapes of
//! botocore's ECS model (timestamps as epoch seconds; unset members omitted).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::scheduler;
use crate::store::State;
use crate::store::arn;
use crate::store::model::{
    ACTIVE, Cluster, Container, ContainerInstance, DRAINING, Resource, Tag, Task, TaskDefinition,
};

/// Parses an operation's input; shape errors are the client's.
pub fn parse<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| {
        ApiError::serialization(format!("Request does not match the operation's shape: {e}"))
    })
}

/// Epoch seconds with millisecond precision, as the service reports times.
pub fn now() -> f64 {
    let millis = chrono::Utc::now().timestamp_millis();
    millis as f64 / 1000.0
}

/// Drops `null` members so unset optional members are omitted rather than sent as null.
pub fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

pub fn failure(arn: &str, reason: &str) -> Value {
    json!({"arn": arn, "reason": reason})
}

/// One page of `items`; `nextToken` is the offset of the next page.
pub fn page<T: Clone>(
    items: Vec<T>,
    next_token: Option<&str>,
    max_results: Option<i64>,
    limit: i64,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match next_token {
        None | Some("") => 0,
        Some(token) => token
            .strip_prefix("o:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::invalid_parameter("Invalid nextToken."))?,
    };
    let size = match max_results {
        None => limit,
        Some(n) if (1..=limit).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid_parameter(format!(
                "maxResults must be between 1 and {limit}."
            )));
        }
    } as usize;
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("o:{end}"));
    let slice = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    Ok((slice, next))
}

pub fn tags_json(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"key": t.key, "value": t.value}))
            .collect(),
    )
}

/// Validates and normalises tags given in a request.
pub fn parse_tags(tags: Option<Vec<Tag>>) -> Result<Vec<Tag>, ApiError> {
    let tags = tags.unwrap_or_default();
    if tags.len() > 50 {
        return Err(ApiError::invalid_parameter(
            "A resource can have at most 50 tags.",
        ));
    }
    for tag in &tags {
        if tag.key.is_empty() || tag.key.len() > 128 || tag.value.len() > 256 {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid tag key or value '{}'.",
                tag.key
            )));
        }
    }
    Ok(tags)
}

/// A cluster reference (name or ARN, default `default`) resolved to an ACTIVE cluster.
pub fn active_cluster<'s>(
    state: &'s State,
    reference: Option<&str>,
) -> Result<&'s Cluster, ApiError> {
    let name = arn::cluster_name(
        reference
            .filter(|r| !r.is_empty())
            .unwrap_or(super::DEFAULT_CLUSTER),
    );
    state
        .clusters
        .get(name)
        .filter(|c| c.status == ACTIVE)
        .ok_or_else(ApiError::cluster_not_found)
}

/// The cluster a request means: the one it names, else the one in a full task or
/// container-instance ARN it references (`kind/cluster/id`), else the default.
pub fn implied_cluster<'a>(
    cluster: Option<&'a str>,
    reference: Option<&'a str>,
) -> Option<&'a str> {
    cluster.filter(|c| !c.is_empty()).or_else(|| {
        let resource = arn::resource(reference?)?;
        let mut parts = resource.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(_kind), Some(cluster), Some(_id), None) => Some(cluster),
            _ => None,
        }
    })
}

pub fn cluster(state: &State, cluster: &Cluster, include: &[String]) -> Value {
    let instances = state
        .instances
        .values()
        .filter(|i| i.cluster_arn == cluster.arn && (i.status == ACTIVE || i.status == DRAINING))
        .count();
    let tasks = state
        .tasks
        .values()
        .filter(|t| t.cluster_arn == cluster.arn);
    let (mut running, mut pending) = (0, 0);
    for task in tasks {
        match task.last_status.as_str() {
            "RUNNING" => running += 1,
            "PROVISIONING" | "PENDING" | "ACTIVATING" => pending += 1,
            _ => {}
        }
    }
    let has = |name: &str| include.iter().any(|i| i == name);
    json!({
        "clusterArn": cluster.arn,
        "clusterName": cluster.name,
        "status": cluster.status,
        "registeredContainerInstancesCount": instances,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "activeServicesCount": 0,
        "statistics": has("STATISTICS").then(|| json!([])),
        "tags": has("TAGS").then(|| tags_json(state.tags_of(&cluster.arn))),
        "settings": cluster.settings,
        "configuration": if has("CONFIGURATIONS") { cluster.configuration.clone() } else { None },
        "capacityProviders": cluster.capacity_providers,
        "defaultCapacityProviderStrategy": cluster.default_capacity_provider_strategy,
        "attachments": has("ATTACHMENTS").then(|| json!([])),
    })
}

pub fn task_definition(td: &TaskDefinition) -> Value {
    let mut out: Map<String, Value> = td.body.clone();
    out.insert("taskDefinitionArn".into(), json!(td.arn));
    out.insert("family".into(), json!(td.family));
    out.insert("revision".into(), json!(td.revision));
    out.insert("status".into(), json!(td.status));
    out.insert("registeredAt".into(), json!(td.registered_at));
    if let Some(at) = td.deregistered_at {
        out.insert("deregisteredAt".into(), json!(at));
    }
    out.entry("volumes").or_insert_with(|| json!([]));
    out.entry("placementConstraints")
        .or_insert_with(|| json!([]));
    out.entry("requiresAttributes").or_insert_with(|| json!([]));
    out.insert("compatibilities".into(), json!(["EXTERNAL", "EC2"]));
    Value::Object(out)
}

fn container(task: &Task, c: &Container) -> Value {
    json!({
        "containerArn": c.arn,
        "taskArn": task.arn,
        "name": c.name,
        "image": c.image,
        "imageDigest": c.image_digest,
        "runtimeId": c.runtime_id,
        "lastStatus": c.last_status,
        "exitCode": c.exit_code,
        "reason": c.reason,
        "networkBindings": c.network_bindings,
        "networkInterfaces": [],
        "healthStatus": c.health_status.as_deref().unwrap_or("UNKNOWN"),
        "cpu": c.cpu,
        "memory": c.memory,
        "memoryReservation": c.memory_reservation,
    })
}

/// The task's overrides as the service reports them: one entry per container.
fn overrides(task: &Task) -> Value {
    let mut out = task.overrides.as_object().cloned().unwrap_or_default();
    let given: Vec<Value> = out
        .get("containerOverrides")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let per_container: Vec<Value> = task
        .containers
        .iter()
        .map(|c| {
            given
                .iter()
                .find(|o| o.get("name").and_then(Value::as_str) == Some(c.name.as_str()))
                .cloned()
                .unwrap_or_else(|| json!({"name": c.name}))
        })
        .collect();
    out.insert("containerOverrides".into(), Value::Array(per_container));
    out.entry("inferenceAcceleratorOverrides")
        .or_insert_with(|| json!([]));
    Value::Object(out)
}

pub fn task(state: &State, task: &Task, with_tags: bool) -> Value {
    let zone = state
        .instances
        .get(&task.container_instance_arn)
        .and_then(|i| i.attribute("ecs.availability-zone"))
        .and_then(|a| a.value.clone());
    let connected = task.connectivity_at.is_some();
    json!({
        "taskArn": task.arn,
        "clusterArn": task.cluster_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "containerInstanceArn": task.container_instance_arn,
        "overrides": overrides(task),
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "cpu": task.cpu,
        "memory": task.memory,
        "containers": task.containers.iter().map(|c| container(task, c)).collect::<Vec<_>>(),
        "startedBy": task.started_by,
        "group": task.group,
        "version": task.version,
        "createdAt": task.created_at,
        "startedAt": task.started_at,
        "connectivity": connected.then_some("CONNECTED"),
        "connectivityAt": task.connectivity_at,
        "stoppingAt": task.stopping_at,
        "stoppedAt": task.stopped_at,
        "stoppedReason": task.stopped_reason,
        "stopCode": task.stop_code,
        "pullStartedAt": task.pull_started_at,
        "pullStoppedAt": task.pull_stopped_at,
        "executionStoppedAt": task.execution_stopped_at,
        "launchType": "EC2",
        "availabilityZone": zone,
        "attachments": task.attachments,
        "attributes": [],
        "healthStatus": task.health_status.as_deref().unwrap_or("UNKNOWN"),
        "enableExecuteCommand": task.enable_execute_command,
        "tags": with_tags.then(|| tags_json(state.tags_of(&task.arn))),
    })
}

fn remaining_resources(state: &State, instance: &ContainerInstance) -> Vec<Resource> {
    let left = scheduler::remaining(state, instance);
    let ports = |set: &std::collections::BTreeSet<u16>| set.iter().map(u16::to_string).collect();
    let mut out = Vec::new();
    for registered in &instance.registered_resources {
        let resource = match registered.name.as_str() {
            "CPU" => Resource::integer("CPU", left.cpu),
            "MEMORY" => Resource::integer("MEMORY", left.memory),
            "PORTS" => Resource::string_set("PORTS", ports(&left.used_tcp)),
            "PORTS_UDP" => Resource::string_set("PORTS_UDP", ports(&left.used_udp)),
            _ => registered.clone(),
        };
        out.push(resource);
    }
    out
}

fn resources_json(resources: &[Resource]) -> Value {
    Value::Array(
        resources
            .iter()
            .map(|r| {
                let mut v = json!({
                    "name": r.name,
                    "type": r.kind,
                    "doubleValue": r.double_value.unwrap_or(0.0),
                    "longValue": r.long_value.unwrap_or(0),
                    "integerValue": r.integer_value.unwrap_or(0),
                });
                if let Some(set) = &r.string_set_value {
                    v["stringSetValue"] = json!(set);
                }
                v
            })
            .collect(),
    )
}

pub fn container_instance(state: &State, instance: &ContainerInstance, with_tags: bool) -> Value {
    let (mut running, mut pending) = (0, 0);
    for task in state.tasks_on(&instance.arn) {
        match task.last_status.as_str() {
            "RUNNING" => running += 1,
            "PROVISIONING" | "PENDING" | "ACTIVATING" => pending += 1,
            _ => {}
        }
    }
    json!({
        "containerInstanceArn": instance.arn,
        "ec2InstanceId": instance.ec2_instance_id,
        "version": instance.version,
        "versionInfo": instance.version_info.clone().unwrap_or_else(|| json!({})),
        "remainingResources": resources_json(&remaining_resources(state, instance)),
        "registeredResources": resources_json(&instance.registered_resources),
        "status": instance.status,
        "agentConnected": instance.agent_connected,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "attributes": instance.attributes,
        "registeredAt": instance.registered_at,
        "attachments": [],
        "tags": with_tags.then(|| tags_json(state.tags_of(&instance.arn))),
    })
}

/// Whether `include` (a list of field names) names `field`.
pub fn includes(include: &Option<Vec<String>>, field: &str) -> bool {
    include
        .as_ref()
        .is_some_and(|list| list.iter().any(|i| i == field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_arn_implies_its_cluster() {
        let task = "arn:aws:ecs:us-east-1:1:task/prod/abc";
        assert_eq!(implied_cluster(None, Some(task)), Some("prod"));
        assert_eq!(implied_cluster(Some("dev"), Some(task)), Some("dev"));
        assert_eq!(implied_cluster(Some(""), Some(task)), Some("prod"));
        assert_eq!(implied_cluster(None, Some("abc")), None);
        assert_eq!(
            implied_cluster(None, Some("arn:aws:ecs:us-east-1:1:task/abc")),
            None
        );
        assert_eq!(implied_cluster(None, None), None);
    }

    #[test]
    fn pages_and_tokens() {
        let items: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        let (first, next) = page(items.clone(), None, Some(2), 100).unwrap();
        assert_eq!(first, vec!["0", "1"]);
        let (second, next) = page(items.clone(), next.as_deref(), Some(2), 100).unwrap();
        assert_eq!(second, vec!["2", "3"]);
        let (last, next) = page(items.clone(), next.as_deref(), Some(2), 100).unwrap();
        assert_eq!((last, next), (vec!["4".to_string()], None));
        assert!(page(items.clone(), Some("garbage"), None, 100).is_err());
        assert!(page(items, None, Some(101), 100).is_err());
    }
}
