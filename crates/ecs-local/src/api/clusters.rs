//! CreateCluster, DeleteCluster, DescribeClusters, ListClusters.

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::wire::{self, parse};
use super::{Ctx, DEFAULT_CLUSTER};
use crate::store::arn;
use crate::store::model::{ACTIVE, Cluster, DRAINING, INACTIVE, Tag};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    cluster_name: Option<String>,
    tags: Option<Vec<Tag>>,
    settings: Option<Vec<Value>>,
    configuration: Option<Value>,
    capacity_providers: Option<Vec<String>>,
    default_capacity_provider_strategy: Option<Vec<Value>>,
}

fn valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn create(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CreateRequest = parse(input)?;
    let name = req
        .cluster_name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_CLUSTER.to_string());
    if !valid_name(&name) {
        return Err(ApiError::invalid_parameter(
            "Cluster name must be 1-255 letters, numbers, hyphens and underscores.",
        ));
    }
    let tags = wire::parse_tags(req.tags)?;
    let settings = req
        .settings
        .unwrap_or_else(|| vec![json!({"name": "containerInsights", "value": "disabled"})]);
    ctx.store.write(|txn| {
        let arn = ctx.store.arns().cluster(&name);
        let existing = txn.state().clusters.get(&name).cloned();
        let cluster = match existing {
            // CreateCluster is idempotent on an active cluster, as in the real service.
            Some(c) if c.status == ACTIVE => c,
            _ => {
                let cluster = Cluster {
                    arn: arn.clone(),
                    name: name.clone(),
                    status: ACTIVE.to_string(),
                    settings,
                    configuration: req.configuration,
                    capacity_providers: req.capacity_providers.unwrap_or_default(),
                    default_capacity_provider_strategy: req
                        .default_capacity_provider_strategy
                        .unwrap_or_default(),
                };
                txn.put_cluster(cluster.clone());
                cluster
            }
        };
        if !tags.is_empty() {
            txn.set_tags(&arn, tags);
        }
        Ok(json!({"cluster": wire::cluster(txn.state(), &cluster, &["TAGS".to_string()])}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteRequest {
    cluster: String,
}

pub fn delete(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DeleteRequest = parse(input)?;
    ctx.store.write(|txn| {
        let mut cluster = wire::active_cluster(txn.state(), Some(&req.cluster))?.clone();
        let state = txn.state();
        if state
            .instances
            .values()
            .any(|i| i.cluster_arn == cluster.arn && (i.status == ACTIVE || i.status == DRAINING))
        {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "ClusterContainsContainerInstancesException",
                "The Cluster cannot be deleted while Container Instances are active or draining.",
            ));
        }
        // Tasks left on deregistered instances have no agent to report them stopped.
        let on_live_instance = |arn: &str| {
            state
                .instances
                .get(arn)
                .is_some_and(|i| i.status != INACTIVE)
        };
        if state.tasks.values().any(|t| {
            t.cluster_arn == cluster.arn
                && t.last_status != "STOPPED"
                && on_live_instance(&t.container_instance_arn)
        }) {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            ));
        }
        cluster.status = INACTIVE.to_string();
        txn.put_cluster(cluster.clone());
        Ok(json!({"cluster": wire::cluster(txn.state(), &cluster, &[])}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeRequest {
    clusters: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

pub fn describe(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DescribeRequest = parse(input)?;
    let names = req
        .clusters
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| vec![DEFAULT_CLUSTER.to_string()]);
    if names.len() > 100 {
        return Err(ApiError::invalid_parameter(
            "At most 100 clusters can be described at once.",
        ));
    }
    let include = req.include.unwrap_or_default();
    ctx.store.read(|state| {
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for reference in &names {
            let name = arn::cluster_name(reference);
            match state.clusters.get(name) {
                Some(c) => clusters.push(wire::cluster(state, c, &include)),
                None => failures.push(wire::failure(&ctx.store.arns().cluster(name), "MISSING")),
            }
        }
        Ok(json!({"clusters": clusters, "failures": failures}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRequest {
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list(ctx: &Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let arns: Vec<String> = ctx.store.read(|state| {
        state
            .clusters
            .values()
            .filter(|c| c.status == ACTIVE)
            .map(|c| c.arn.clone())
            .collect()
    });
    let (page, next) = wire::page(arns, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(json!({"clusterArns": page, "nextToken": next}))
}
