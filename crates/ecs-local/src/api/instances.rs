//! Container instances: RegisterContainerInstance, DeregisterContainerInstance,
//! ListContainerInstances, DescribeContainerInstances, UpdateContainerInstancesState,
//! and their attributes (PutAttributes, ListAttributes, DeleteAttributes).

use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::error::ApiError;
use super::tasks::cluster_name_of;
use super::wire::{self, parse};
use crate::scheduler::{self, expression::Expression};
use crate::store::Txn;
use crate::store::arn;
use crate::store::model::{ACTIVE, Attribute, Cluster, ContainerInstance, INACTIVE, Resource, Tag};

const TARGET_TYPE: &str = "container-instance";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest {
    cluster: Option<String>,
    instance_identity_document: Option<String>,
    total_resources: Option<Vec<Resource>>,
    version_info: Option<Value>,
    container_instance_arn: Option<String>,
    attributes: Option<Vec<Attribute>>,
    tags: Option<Vec<Tag>>,
    client_token: Option<String>,
}

/// The named cluster, created (or re-activated) if needed: a missing cluster would make
/// an agent exit instead of retrying.
fn ensure_cluster(ctx: &Ctx<'_>, txn: &mut Txn<'_>, name: &str) -> Cluster {
    if let Some(c) = txn
        .state()
        .clusters
        .get(name)
        .filter(|c| c.status == ACTIVE)
    {
        return c.clone();
    }
    let cluster = Cluster {
        arn: ctx.store.arns().cluster(name),
        name: name.to_string(),
        status: ACTIVE.to_string(),
        settings: vec![json!({"name": "containerInsights", "value": "disabled"})],
        configuration: None,
        capacity_providers: Vec::new(),
        default_capacity_provider_strategy: Vec::new(),
    };
    txn.put_cluster(cluster.clone());
    cluster
}

fn instance_id_from_document(document: Option<&str>) -> Option<String> {
    let doc: Value = serde_json::from_str(document?).ok()?;
    doc.get("instanceId")?.as_str().map(str::to_string)
}

pub fn register(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: RegisterRequest = parse(input)?;
    let name = cluster_name_of(req.cluster.as_deref()).to_string();
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::invalid_parameter("Invalid cluster name."));
    }
    let tags = wire::parse_tags(req.tags.clone())?;
    ctx.store.write(|txn| {
        let cluster = ensure_cluster(ctx, txn, &name);
        let state = txn.state();
        let arn = match (&req.container_instance_arn, &req.client_token) {
            (Some(given), _) if !given.is_empty() => {
                ctx.store
                    .arns()
                    .qualify("container-instance", &cluster.name, given)
            }
            // A retried registration (same token) gets the instance the first one made.
            (_, Some(token)) => state
                .instances
                .values()
                .find(|i| i.cluster_arn == cluster.arn && i.client_token.as_ref() == Some(token))
                .map(|i| i.arn.clone())
                .unwrap_or_else(|| {
                    ctx.store
                        .arns()
                        .container_instance(&cluster.name, &arn::new_id())
                }),
            _ => ctx
                .store
                .arns()
                .container_instance(&cluster.name, &arn::new_id()),
        };
        let previous = state.instances.get(&arn);
        let instance = ContainerInstance {
            arn: arn.clone(),
            cluster_arn: cluster.arn.clone(),
            status: ACTIVE.to_string(),
            ec2_instance_id: instance_id_from_document(req.instance_identity_document.as_deref())
                .or_else(|| previous.and_then(|p| p.ec2_instance_id.clone())),
            registered_resources: req.total_resources.clone().unwrap_or_default(),
            attributes: req.attributes.clone().unwrap_or_default(),
            version_info: req.version_info.clone(),
            registered_at: previous.map(|p| p.registered_at).unwrap_or_else(wire::now),
            agent_connected: previous.is_some_and(|p| p.agent_connected),
            // A registering agent is alive, whatever its last connection did.
            agent_disconnected_at: None,
            client_token: req.client_token.clone(),
            version: previous.map(|p| p.version + 1).unwrap_or(1),
        };
        txn.put_instance(instance.clone());
        if !tags.is_empty() {
            txn.set_tags(&arn, tags.clone());
        }
        Ok(json!({"containerInstance": wire::container_instance(txn.state(), &instance, true)}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeregisterRequest {
    cluster: Option<String>,
    container_instance: String,
    force: Option<bool>,
}

pub fn deregister(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DeregisterRequest = parse(input)?;
    ctx.store.write(|txn| {
        let named = wire::implied_cluster(req.cluster.as_deref(), Some(&req.container_instance));
        let cluster = wire::active_cluster(txn.state(), named)?.clone();
        let arn =
            ctx.store
                .arns()
                .qualify("container-instance", &cluster.name, &req.container_instance);
        let mut instance = txn
            .state()
            .instances
            .get(&arn)
            .filter(|i| i.cluster_arn == cluster.arn && i.status != INACTIVE)
            .cloned()
            .ok_or_else(|| {
                ApiError::invalid_parameter("The referenced container instance was not found.")
            })?;
        let live: Vec<_> = txn
            .state()
            .tasks_on(&arn)
            .filter(|t| t.desired_status != "STOPPED" && t.last_status != "STOPPED")
            .cloned()
            .collect();
        if !live.is_empty() && !req.force.unwrap_or(false) {
            return Err(ApiError::invalid_parameter(
                "Found running tasks on the instance; deregister with force to orphan them.",
            ));
        }
        for mut task in live {
            task.desired_status = "STOPPED".to_string();
            task.stopping_at = Some(wire::now());
            task.stopped_reason = Some("Container instance deregistration forced by user".into());
            task.stop_code = Some("UserInitiated".to_string());
            task.version += 1;
            txn.notify(&arn, &task.arn);
            txn.put_task(task);
        }
        instance.status = INACTIVE.to_string();
        instance.agent_connected = false;
        instance.version += 1;
        txn.put_instance(instance.clone());
        Ok(json!({"containerInstance": wire::container_instance(txn.state(), &instance, false)}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRequest {
    cluster: Option<String>,
    filter: Option<String>,
    status: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let filter = match req.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(text) => {
            vec![Expression::parse(text).map_err(|e| ApiError::invalid_parameter(e.to_string()))?]
        }
        None => Vec::new(),
    };
    if let Some(status) = req.status.as_deref()
        && !matches!(
            status,
            "ACTIVE" | "DRAINING" | "REGISTERING" | "DEREGISTERING" | "REGISTRATION_FAILED"
        )
    {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid status '{status}'."
        )));
    }
    let arns = ctx.store.read(|state| {
        let cluster = wire::active_cluster(state, req.cluster.as_deref())?;
        Ok::<_, ApiError>(
            state
                .instances
                .values()
                .filter(|i| i.cluster_arn == cluster.arn && i.status != INACTIVE)
                .filter(|i| req.status.as_deref().is_none_or(|s| i.status == s))
                .filter(|i| scheduler::admits(state, i, &filter))
                .map(|i| i.arn.clone())
                .collect::<Vec<_>>(),
        )
    })?;
    let (page, next) = wire::page(arns, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(json!({"containerInstanceArns": page, "nextToken": next}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeRequest {
    cluster: Option<String>,
    container_instances: Vec<String>,
    include: Option<Vec<String>>,
}

pub fn describe(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DescribeRequest = parse(input)?;
    if req.container_instances.is_empty() || req.container_instances.len() > 100 {
        return Err(ApiError::invalid_parameter(
            "containerInstances must name between 1 and 100 container instances.",
        ));
    }
    let with_tags = wire::includes(&req.include, "TAGS");
    ctx.store.read(|state| {
        let named = wire::implied_cluster(
            req.cluster.as_deref(),
            req.container_instances.first().map(String::as_str),
        );
        let cluster = wire::active_cluster(state, named)?;
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for reference in &req.container_instances {
            let arn = ctx
                .store
                .arns()
                .qualify("container-instance", &cluster.name, reference);
            match state
                .instances
                .get(&arn)
                .filter(|i| i.cluster_arn == cluster.arn)
            {
                Some(i) => found.push(wire::container_instance(state, i, with_tags)),
                None => failures.push(wire::failure(&arn, "MISSING")),
            }
        }
        Ok(json!({"containerInstances": found, "failures": failures}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateStateRequest {
    cluster: Option<String>,
    container_instances: Vec<String>,
    status: String,
}

pub fn update_state(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: UpdateStateRequest = parse(input)?;
    if !matches!(req.status.as_str(), "ACTIVE" | "DRAINING") {
        return Err(ApiError::invalid_parameter(format!(
            "Container instances can only be set to ACTIVE or DRAINING, not {}.",
            req.status
        )));
    }
    if req.container_instances.is_empty() || req.container_instances.len() > 10 {
        return Err(ApiError::invalid_parameter(
            "containerInstances must name between 1 and 10 container instances.",
        ));
    }
    ctx.store.write(|txn| {
        let named = wire::implied_cluster(
            req.cluster.as_deref(),
            req.container_instances.first().map(String::as_str),
        );
        let cluster = wire::active_cluster(txn.state(), named)?.clone();
        let mut updated = Vec::new();
        let mut failures = Vec::new();
        for reference in &req.container_instances {
            let arn = ctx
                .store
                .arns()
                .qualify("container-instance", &cluster.name, reference);
            let Some(mut instance) = txn
                .state()
                .instances
                .get(&arn)
                .filter(|i| i.cluster_arn == cluster.arn && i.status != INACTIVE)
                .cloned()
            else {
                failures.push(wire::failure(&arn, "MISSING"));
                continue;
            };
            if instance.status != req.status {
                instance.status = req.status.clone();
                instance.version += 1;
                txn.put_instance(instance.clone());
            }
            updated.push(instance);
        }
        let state = txn.state();
        let out: Vec<Value> = updated
            .iter()
            .map(|i| wire::container_instance(state, i, false))
            .collect();
        Ok(json!({"containerInstances": out, "failures": failures}))
    })
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct TargetedAttribute {
    name: String,
    value: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributesRequest {
    cluster: Option<String>,
    attributes: Vec<TargetedAttribute>,
}

fn check_attribute(attribute: &TargetedAttribute) -> Result<(), ApiError> {
    let name_ok = (1..=128).contains(&attribute.name.len())
        && attribute
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./@:".contains(&b));
    let value_ok = attribute.value.as_deref().is_none_or(|v| {
        (1..=128).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./@:\\ ".contains(&b))
    });
    if !name_ok || !value_ok {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid attribute name or value '{}'.",
            attribute.name
        )));
    }
    if attribute
        .target_type
        .as_deref()
        .is_some_and(|t| t != TARGET_TYPE)
    {
        return Err(ApiError::invalid_parameter(
            "targetType must be container-instance.",
        ));
    }
    if attribute.target_id.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::invalid_parameter(
            "targetId is required for container-instance attributes.",
        ));
    }
    Ok(())
}

/// Applies PutAttributes (`put`) or DeleteAttributes to each attribute's target.
fn change_attributes(ctx: &Ctx<'_>, input: Value, put: bool) -> Result<Value, ApiError> {
    let req: AttributesRequest = parse(input)?;
    if req.attributes.is_empty() || req.attributes.len() > 10 {
        return Err(ApiError::invalid_parameter(
            "Between 1 and 10 attributes can be changed at once.",
        ));
    }
    for attribute in &req.attributes {
        check_attribute(attribute)?;
    }
    ctx.store.write(|txn| {
        let cluster = wire::active_cluster(txn.state(), req.cluster.as_deref())?.clone();
        let mut out = Vec::new();
        for attribute in &req.attributes {
            let target = attribute.target_id.as_deref().unwrap_or_default();
            let arn = ctx
                .store
                .arns()
                .qualify("container-instance", &cluster.name, target);
            let mut instance = txn
                .state()
                .instances
                .get(&arn)
                .filter(|i| i.cluster_arn == cluster.arn && i.status != INACTIVE)
                .cloned()
                .ok_or_else(|| ApiError::target_not_found(format!("Could not find {target}.")))?;
            instance.attributes.retain(|a| a.name != attribute.name);
            if put {
                instance.attributes.push(Attribute {
                    name: attribute.name.clone(),
                    value: attribute.value.clone(),
                });
            }
            instance.version += 1;
            txn.put_instance(instance);
            out.push(json!({
                "name": attribute.name,
                "value": attribute.value,
                "targetType": TARGET_TYPE,
                "targetId": arn,
            }));
        }
        Ok(json!({"attributes": out}))
    })
}

pub fn put_attributes(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    change_attributes(ctx, input, true)
}

pub fn delete_attributes(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    change_attributes(ctx, input, false)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListAttributesRequest {
    cluster: Option<String>,
    target_type: String,
    attribute_name: Option<String>,
    attribute_value: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list_attributes(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListAttributesRequest = parse(input)?;
    if req.target_type != TARGET_TYPE {
        return Err(ApiError::invalid_parameter(
            "targetType must be container-instance.",
        ));
    }
    if req.attribute_value.is_some() && req.attribute_name.is_none() {
        return Err(ApiError::invalid_parameter(
            "attributeValue can only be given with attributeName.",
        ));
    }
    let found = ctx.store.read(|state| {
        let cluster = wire::active_cluster(state, req.cluster.as_deref())?;
        let mut found = Vec::new();
        for instance in state
            .instances
            .values()
            .filter(|i| i.cluster_arn == cluster.arn && i.status != INACTIVE)
        {
            for attribute in &instance.attributes {
                if req
                    .attribute_name
                    .as_deref()
                    .is_some_and(|n| n != attribute.name)
                    || req
                        .attribute_value
                        .as_deref()
                        .is_some_and(|v| Some(v) != attribute.value.as_deref())
                {
                    continue;
                }
                found.push(json!({
                    "name": attribute.name,
                    "value": attribute.value,
                    "targetType": TARGET_TYPE,
                    "targetId": instance.arn,
                }));
            }
        }
        Ok::<_, ApiError>(found)
    })?;
    let (page, next) = wire::page(found, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(json!({"attributes": page, "nextToken": next}))
}
