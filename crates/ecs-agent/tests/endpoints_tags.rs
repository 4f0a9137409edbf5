//! `taskWithTags` against a real ECS API (ecs-local) with the agent's ECS client: tags
//! of a task and of the container instance, and what a failed lookup looks like (v4
//! `Errors`, v3 silently without the field), on real tasks of the local Docker.

mod backend_support;
mod endpoints_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ContainerDefinition, Resource, Tag};
use ecs_agent::backend::EcsClient;
use endpoints_support::*;
use serde_json::{Value, json};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn resource(name: &str, value: i32) -> Resource {
    Resource::builder()
        .name(name)
        .r#type("INTEGER")
        .integer_value(value)
        .build()
}

/// Registers the endpoint tests' container instance (its ARN as the endpoints know it)
/// with a tag, and runs a tagged task on it; the task ARN.
async fn tagged_task_on_tagged_instance(ecs: &EcsClient) -> String {
    let registered = ecs
        .sdk()
        .register_container_instance()
        .cluster(CLUSTER)
        .container_instance_arn(INSTANCE_ARN)
        .total_resources(resource("CPU", 2048))
        .total_resources(resource("MEMORY", 4096))
        .tags(tag("team", "core"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        registered
            .container_instance()
            .and_then(|i| i.container_instance_arn()),
        Some(INSTANCE_ARN)
    );
    ecs.sdk()
        .register_task_definition()
        .family("tagged")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(image())
                .memory(32)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = ecs
        .sdk()
        .run_task()
        .cluster(CLUSTER)
        .task_definition("tagged")
        .tags(tag("app", "web"))
        .tags(tag("env", "dev"))
        .send()
        .await
        .unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.tasks()[0].task_arn().unwrap().to_owned()
}

async fn with_tags(agent: &Agent, version: &str, id: &str) -> (Value, String) {
    let started = Instant::now();
    let a = get(agent.task, &format!("/{version}/{id}/taskWithTags")).await;
    // Failures here are not retried: the answer must not wait for a budget.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.status, 200, "{}", a.text());
    (a.json(), a.text())
}

#[tokio::test]
async fn task_with_tags_reads_ecs_and_reports_failed_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        backend_support::LocalServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), dir.path())
            .await;
    let ecs = EcsClient::new(&backend_support::settings(&server.url()))
        .await
        .unwrap();
    let known = tagged_task_on_tagged_instance(&ecs).await;

    let mut agent = agent(Options::default()).await;
    agent.state.set_tag_client(Arc::new(ecs.clone()));
    // The task as ACS would hand it over, straight to the engine; ECS knows its ARN.
    agent.run(web_task(&known, json!({}))).await;
    let id = agent.endpoint_id(&known, "web");

    let (t, body) = with_tags(&agent, "v4", &id).await;
    assert_eq!(t["TaskTags"], json!({"app": "web", "env": "dev"}), "{body}");
    assert_eq!(
        t["ContainerInstanceTags"],
        json!({"team": "core"}),
        "{body}"
    );
    assert!(t.get("Errors").is_none(), "{body}");

    // A deregistered instance: ECS no longer knows it.
    ecs.sdk()
        .deregister_container_instance()
        .cluster(CLUSTER)
        .container_instance(INSTANCE_ARN)
        .force(true)
        .send()
        .await
        .unwrap();
    let (t, body) = with_tags(&agent, "v4", &id).await;
    assert_eq!(t["TaskTags"], json!({"app": "web", "env": "dev"}), "{body}");
    assert!(t.get("ContainerInstanceTags").is_none(), "{body}");
    let errors = t["Errors"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(errors.len(), 1, "{body}");
    let e = &errors[0];
    assert_eq!(e["ErrorField"], "ContainerInstanceTags", "{body}");
    assert_eq!(e["ErrorCode"], "ResourceNotFoundException", "{body}");
    assert_eq!(e["StatusCode"], 400, "{body}");
    assert_eq!(e["ResourceARN"], INSTANCE_ARN, "{body}");
    let request_id = e["RequestId"].as_str().unwrap_or_default();
    assert!(!request_id.is_empty(), "{body}");
    let message = e["ErrorMessage"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "GetResourceTags failed for {INSTANCE_ARN} after 1 attempts: operation error ECS: ListTagsForResource, https response error StatusCode: 400, RequestID: {request_id}, ResourceNotFoundException: "
        )),
        "{message}"
    );
    // The element's keys in the reference's order (the parsed value sorts them).
    let at = |k: &str| body.find(&format!("\"{k}\":")).unwrap();
    let order = [
        "ErrorField",
        "ErrorCode",
        "ErrorMessage",
        "StatusCode",
        "RequestId",
        "ResourceARN",
    ];
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{body}");
    // Errors sits between LaunchType and Containers (§4.4).
    let order = raw_keys(&body);
    let pos = |k: &str| order.iter().position(|x| x == k).unwrap();
    assert!(pos("TaskTags") < pos("LaunchType") && pos("LaunchType") < pos("Errors"));
    assert!(pos("Errors") < pos("Containers"), "{order:?}");

    // v3 leaves failed fields out and reports nothing.
    let (t, body) = with_tags(&agent, "v3", &id).await;
    assert_eq!(t["TaskTags"], json!({"app": "web", "env": "dev"}), "{body}");
    assert!(
        t.get("ContainerInstanceTags").is_none() && t.get("Errors").is_none(),
        "{body}"
    );

    // A task ECS has never heard of: both lookups fail, instance first.
    let unknown = unique_arn();
    agent.run(web_task(&unknown, json!({}))).await;
    let id = agent.endpoint_id(&unknown, "web");
    let (t, body) = with_tags(&agent, "v4", &id).await;
    assert!(t.get("TaskTags").is_none(), "{body}");
    let fields: Vec<(&str, &str)> = t["Errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| {
            (
                e["ErrorField"].as_str().unwrap(),
                e["ResourceARN"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("ContainerInstanceTags", INSTANCE_ARN),
            ("TaskTags", unknown.as_str())
        ],
        "{body}"
    );
    let (t, body) = with_tags(&agent, "v3", &id).await;
    assert!(
        t.get("TaskTags").is_none() && t.get("ContainerInstanceTags").is_none(),
        "{body}"
    );
    assert_eq!(t["TaskARN"], unknown.as_str(), "{body}");

    // The plain path never asks.
    let a = get(agent.task, &format!("/v4/{id}/task")).await;
    assert_eq!(a.status, 200);
    assert!(a.json().get("Errors").is_none(), "{}", a.text());
}

#[tokio::test]
async fn without_an_ecs_client_the_lookups_fail_with_a_clear_message() {
    let mut agent = agent(Options::default()).await;
    let arn = unique_arn();
    agent.run(web_task(&arn, json!({}))).await;
    let id = agent.endpoint_id(&arn, "web");
    let (t, body) = with_tags(&agent, "v4", &id).await;
    let errors = t["Errors"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(
        errors[1]["ErrorMessage"],
        format!(
            "GetResourceTags failed for {arn} after 0 attempts: no ECS client: the agent has not registered with ECS (yet)"
        ),
        "{body}"
    );
    assert!(errors[1].get("ErrorCode").is_none(), "{body}");
    let (t, body) = with_tags(&agent, "v3", &id).await;
    assert!(
        t.get("TaskTags").is_none() && t.get("Errors").is_none(),
        "{body}"
    );
}
