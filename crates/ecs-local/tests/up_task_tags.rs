//! End to end: `taskWithTags` on the agent's task server asks ECS (here ecs-local) for
//! the tags of the task and of the container instance, with the agent's own client.

mod up_support;

use serde_json::{Value, json};
use up_support::{IMAGE, Local};

/// GET from the host; status and body.
async fn get(url: &str) -> (u16, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", url])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "GET {url}: {}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

async fn get_json(url: &str) -> (Value, String) {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    (serde_json::from_str(&body).unwrap(), body)
}

/// Position of a top-level key in the raw body (the JSON value loses the order).
fn at(body: &str, key: &str) -> usize {
    body.find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_with_tags_shows_the_task_and_instance_tags() {
    let local = Local::start_with_env(
        "tags",
        &[
            ("ECS_AGENT_MANAGE_NETWORK_RULES", "false"),
            ("ECS_CONTAINER_INSTANCE_TAGS", r#"{"team":"core"}"#),
        ],
    )
    .await;
    // The agent registered its tags with the instance.
    let listed = local
        .aws(&[
            "list-tags-for-resource",
            "--resource-arn",
            &local.instance_arn(),
        ])
        .await;
    assert_eq!(listed["tags"], json!([{"key": "team", "value": "core"}]));

    local
        .register_task_definition(&format!(
            r#"{{
  "family": "e2e-tags",
  "containerDefinitions": [{{
    "name": "app",
    "image": "{IMAGE}",
    "memory": 32,
    "essential": true,
    "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
  }}]
}}"#
        ))
        .await;
    let out = local
        .aws(&[
            "run-task",
            "--cluster",
            &local.cluster,
            "--task-definition",
            "e2e-tags",
            "--tags",
            "key=app,value=web",
            "key=env,value=dev",
        ])
        .await;
    assert_eq!(out["failures"], json!([]), "{out}");
    let arn = out["tasks"][0]["taskArn"].as_str().unwrap().to_owned();
    let task = local.wait_status(&arn, "RUNNING").await;
    let docker_id = task["containers"][0]["runtimeId"].as_str().unwrap();

    let env = local.inspect(docker_id).await.env;
    let uri = |name: &str| {
        let prefix = format!("{name}=http://169.254.170.2");
        env.iter()
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {name} in {env:?}"))
    };
    let (v3, v4) = (
        uri("ECS_CONTAINER_METADATA_URI"),
        uri("ECS_CONTAINER_METADATA_URI_V4"),
    );
    let server = local.up().agent().unwrap().task_server_addr().unwrap();
    let task_tags = json!({"app": "web", "env": "dev"});
    let instance_tags = json!({"team": "core"});

    let (t, body) = get_json(&format!("http://{server}{v4}/taskWithTags")).await;
    assert_eq!(t["TaskARN"], arn.as_str(), "{body}");
    assert_eq!(t["TaskTags"], task_tags, "{body}");
    assert_eq!(t["ContainerInstanceTags"], instance_tags, "{body}");
    assert!(t.get("Errors").is_none(), "{body}");
    // §4.4 order: ... AvailabilityZone, TaskTags, ContainerInstanceTags, LaunchType, ...
    assert!(at(&body, "KnownStatus") < at(&body, "TaskTags"), "{body}");
    assert!(
        at(&body, "TaskTags") < at(&body, "ContainerInstanceTags"),
        "{body}"
    );
    assert!(
        at(&body, "ContainerInstanceTags") < at(&body, "LaunchType"),
        "{body}"
    );
    assert!(at(&body, "LaunchType") < at(&body, "Containers"), "{body}");

    let (t, body) = get_json(&format!("http://{server}{v3}/taskWithTags")).await;
    assert_eq!(t["TaskARN"], arn.as_str(), "{body}");
    assert_eq!(t["TaskTags"], task_tags, "{body}");
    assert_eq!(t["ContainerInstanceTags"], instance_tags, "{body}");
    assert!(
        t.get("Errors").is_none() && t.get("LaunchType").is_none(),
        "{body}"
    );
    assert!(at(&body, "Containers") < at(&body, "TaskTags"), "{body}");

    // The plain paths never carry tags.
    for path in [&v4, &v3] {
        let (t, body) = get_json(&format!("http://{server}{path}/task")).await;
        assert_eq!(t["TaskARN"], arn.as_str(), "{body}");
        assert!(
            t.get("TaskTags").is_none() && t.get("ContainerInstanceTags").is_none(),
            "{body}"
        );
    }

    // Tags changed in ECS show on the next request: nothing is cached.
    local
        .aws(&[
            "tag-resource",
            "--resource-arn",
            &arn,
            "--tags",
            "key=env,value=prod",
        ])
        .await;
    let (t, body) = get_json(&format!("http://{server}{v4}/taskWithTags")).await;
    assert_eq!(
        t["TaskTags"],
        json!({"app": "web", "env": "prod"}),
        "{body}"
    );

    local
        .aws(&["stop-task", "--cluster", &local.cluster, "--task", &arn])
        .await;
    local.wait_status(&arn, "STOPPED").await;
    assert_eq!(local.stop().await, 0);
}
