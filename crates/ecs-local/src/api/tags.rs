//! TagResource, UntagResource, ListTagsForResource on clusters, task definitions, tasks
//! and container instances.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::error::ApiError;
use super::wire::{self, parse};
use crate::store::State;
use crate::store::arn;
use crate::store::model::{ACTIVE, INACTIVE, Tag};

fn check_exists(state: &State, resource_arn: &str) -> Result<(), ApiError> {
    let Some(resource) = arn::resource(resource_arn) else {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid resource ARN '{resource_arn}'."
        )));
    };
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    let exists = match kind {
        "cluster" => state
            .clusters
            .get(rest)
            .is_some_and(|c| c.arn == resource_arn && c.status == ACTIVE),
        "task-definition" => state
            .task_definitions
            .values()
            .any(|td| td.arn == resource_arn),
        "task" => state.tasks.contains_key(resource_arn),
        "container-instance" => state
            .instances
            .get(resource_arn)
            .is_some_and(|i| i.status != INACTIVE),
        _ => {
            return Err(ApiError::invalid_parameter(format!(
                "Resources of type '{kind}' cannot be tagged in ecs-local."
            )));
        }
    };
    if exists {
        Ok(())
    } else {
        Err(ApiError::resource_not_found(
            "The specified resource could not be found.",
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagRequest {
    resource_arn: String,
    tags: Vec<Tag>,
}

pub fn tag(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: TagRequest = parse(input)?;
    let new = wire::parse_tags(Some(req.tags))?;
    ctx.store.write(|txn| {
        check_exists(txn.state(), &req.resource_arn)?;
        let mut tags = txn.state().tags_of(&req.resource_arn).to_vec();
        for tag in new {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => tags.push(tag),
            }
        }
        if tags.len() > 50 {
            return Err(ApiError::invalid_parameter(
                "A resource can have at most 50 tags.",
            ));
        }
        txn.set_tags(&req.resource_arn, tags);
        Ok(json!({}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UntagRequest {
    resource_arn: String,
    tag_keys: Vec<String>,
}

pub fn untag(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: UntagRequest = parse(input)?;
    ctx.store.write(|txn| {
        check_exists(txn.state(), &req.resource_arn)?;
        let mut tags = txn.state().tags_of(&req.resource_arn).to_vec();
        tags.retain(|t| !req.tag_keys.contains(&t.key));
        txn.set_tags(&req.resource_arn, tags);
        Ok(json!({}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRequest {
    resource_arn: String,
}

pub fn list(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    ctx.store.read(|state| {
        check_exists(state, &req.resource_arn)?;
        Ok(json!({"tags": wire::tags_json(state.tags_of(&req.resource_arn))}))
    })
}
