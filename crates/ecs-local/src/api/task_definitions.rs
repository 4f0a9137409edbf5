//! RegisterTaskDefinition, DeregisterTaskDefinition, DescribeTaskDefinition,
//! ListTaskDefinitions, ListTaskDefinitionFamilies.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::error::ApiError;
use super::wire::{self, parse};
use crate::store::State;
use crate::store::arn;
use crate::store::model::{ACTIVE, INACTIVE, Tag, TaskDefinition};

fn valid_family(family: &str) -> bool {
    (1..=255).contains(&family.len())
        && family
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a container definition and fills the defaults the service reports.
fn normalise_container(
    def: &Value,
    network_mode: &str,
    task_memory: bool,
) -> Result<Value, ApiError> {
    let Some(map) = def.as_object() else {
        return Err(ApiError::serialization(
            "Each container definition must be an object.",
        ));
    };
    let mut map = map.clone();
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::client(
            "Container.name should not be null or empty and may contain only letters, numbers, hyphens and underscores.",
        ));
    }
    if map
        .get("image")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::client(
            "Container.image should not be null or empty.",
        ));
    }
    if !task_memory && !map.contains_key("memory") && !map.contains_key("memoryReservation") {
        return Err(ApiError::client(format!(
            "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
        )));
    }
    if let (Some(hard), Some(soft)) = (
        map.get("memory").and_then(Value::as_i64),
        map.get("memoryReservation").and_then(Value::as_i64),
    ) && soft > hard
    {
        return Err(ApiError::client(format!(
            "Invalid setting for container '{name}'. The memory reservation must be less than or equal to the memory limit."
        )));
    }
    map.entry("cpu").or_insert(json!(0));
    map.entry("essential").or_insert(json!(true));
    for list in ["portMappings", "environment", "mountPoints", "volumesFrom"] {
        map.entry(list).or_insert(json!([]));
    }
    if let Some(Value::Array(mappings)) = map.get_mut("portMappings") {
        for mapping in mappings.iter_mut() {
            let Some(m) = mapping.as_object_mut() else {
                return Err(ApiError::serialization(
                    "Each port mapping must be an object.",
                ));
            };
            m.entry("protocol").or_insert(json!("tcp"));
            if matches!(network_mode, "host" | "awsvpc")
                && let Some(port) = m.get("containerPort").cloned()
            {
                m.entry("hostPort").or_insert(port);
            }
        }
    }
    Ok(Value::Object(map))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterMeta {
    family: String,
    container_definitions: Vec<Value>,
    tags: Option<Vec<Tag>>,
    network_mode: Option<String>,
    memory: Option<String>,
}

pub fn register(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let meta: RegisterMeta = parse(input.clone())?;
    let mut body: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
    body.remove("tags");
    if !valid_family(&meta.family) {
        return Err(ApiError::client(
            "Family must be 1-255 letters, numbers, hyphens and underscores.",
        ));
    }
    if meta.container_definitions.is_empty() {
        return Err(ApiError::client("Container list cannot be empty."));
    }
    if meta.container_definitions.len() > 10 {
        return Err(ApiError::client(
            "A task definition can have at most 10 containers.",
        ));
    }
    let network_mode = meta.network_mode.as_deref().unwrap_or("bridge");
    if !matches!(network_mode, "bridge" | "host" | "awsvpc" | "none") {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid networkMode '{network_mode}'."
        )));
    }
    let containers = meta
        .container_definitions
        .iter()
        .map(|d| normalise_container(d, network_mode, meta.memory.is_some()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::client(
            "Container names must be unique within a task definition.",
        ));
    }
    body.insert("containerDefinitions".into(), Value::Array(containers));
    let tags = wire::parse_tags(meta.tags)?;
    ctx.store.write(|txn| {
        let revision = txn
            .state()
            .latest_revision(&meta.family)
            .map(|td| td.revision + 1)
            .unwrap_or(1);
        let td = TaskDefinition {
            arn: ctx.store.arns().task_definition(&meta.family, revision),
            family: meta.family.clone(),
            revision,
            status: ACTIVE.to_string(),
            registered_at: wire::now(),
            deregistered_at: None,
            body,
        };
        txn.put_task_definition(td.clone());
        if !tags.is_empty() {
            txn.set_tags(&td.arn, tags.clone());
        }
        Ok(json!({"taskDefinition": wire::task_definition(&td), "tags": wire::tags_json(&tags)}))
    })
}

/// Resolves `family`, `family:revision` or an ARN. A bare family means its latest
/// ACTIVE revision.
pub fn resolve<'s>(state: &'s State, reference: &str) -> Result<&'s TaskDefinition, ApiError> {
    let name = match arn::resource(reference) {
        Some(resource) => resource.strip_prefix("task-definition/").ok_or_else(|| {
            ApiError::client(format!("Invalid task definition ARN '{reference}'."))
        })?,
        None => reference,
    };
    let found = match name.rsplit_once(':') {
        Some((family, revision)) => {
            let revision: u32 = revision.parse().map_err(|_| {
                ApiError::client(format!(
                    "Invalid revision in task definition '{reference}'."
                ))
            })?;
            state.task_definitions.get(&(family.to_string(), revision))
        }
        None => state.latest_active_revision(name),
    };
    found.ok_or_else(|| ApiError::client("Unable to describe task definition."))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OneRequest {
    task_definition: String,
    include: Option<Vec<String>>,
}

pub fn deregister(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: OneRequest = parse(input)?;
    let name = arn::resource(&req.task_definition)
        .and_then(|r| r.strip_prefix("task-definition/"))
        .unwrap_or(&req.task_definition);
    if !name.contains(':') {
        return Err(ApiError::client(
            "A revision must be specified: use family:revision or the full ARN.",
        ));
    }
    ctx.store.write(|txn| {
        let mut td = resolve(txn.state(), &req.task_definition)?.clone();
        if td.status == ACTIVE {
            td.status = INACTIVE.to_string();
            td.deregistered_at = Some(wire::now());
            txn.put_task_definition(td.clone());
        }
        Ok(json!({"taskDefinition": wire::task_definition(&td)}))
    })
}

pub fn describe(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: OneRequest = parse(input)?;
    ctx.store.read(|state| {
        let td = resolve(state, &req.task_definition)?;
        let mut out = json!({"taskDefinition": wire::task_definition(td)});
        if wire::includes(&req.include, "TAGS") {
            out["tags"] = wire::tags_json(state.tags_of(&td.arn));
        }
        Ok(out)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRequest {
    family_prefix: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let status = req.status.unwrap_or_else(|| ACTIVE.to_string());
    if !matches!(
        status.as_str(),
        "ACTIVE" | "INACTIVE" | "DELETE_IN_PROGRESS"
    ) {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid status '{status}'."
        )));
    }
    let descending = match req.sort.as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid sort '{other}'."
            )));
        }
    };
    let mut arns: Vec<String> = ctx.store.read(|state| {
        state
            .task_definitions
            .values()
            .filter(|td| td.status == status)
            .filter(|td| match &req.family_prefix {
                // The real service matches the whole family despite the member's name.
                Some(family) => td.family == *family,
                None => true,
            })
            .map(|td| td.arn.clone())
            .collect()
    });
    if descending {
        arns.reverse();
    }
    let (page, next) = wire::page(arns, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(json!({"taskDefinitionArns": page, "nextToken": next}))
}

pub fn list_families(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let status = req.status.unwrap_or_else(|| "ALL".to_string());
    if !matches!(status.as_str(), "ACTIVE" | "INACTIVE" | "ALL") {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid status '{status}'."
        )));
    }
    let families: Vec<String> = ctx.store.read(|state| {
        let mut active: BTreeMap<&str, bool> = BTreeMap::new();
        for td in state.task_definitions.values() {
            *active.entry(td.family.as_str()).or_default() |= td.status == ACTIVE;
        }
        active
            .into_iter()
            .filter(|(family, _)| {
                req.family_prefix
                    .as_deref()
                    .is_none_or(|prefix| family.starts_with(prefix))
            })
            .filter(|(_, is_active)| match status.as_str() {
                "ACTIVE" => *is_active,
                "INACTIVE" => !*is_active,
                _ => true,
            })
            .map(|(family, _)| family.to_string())
            .collect()
    });
    let (page, next) = wire::page(families, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(json!({"families": page, "nextToken": next}))
}
