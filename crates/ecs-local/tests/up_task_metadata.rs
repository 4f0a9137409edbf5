//! End to end: the fields the agent takes from the ACS payload (launch type, container
//! ARNs) reach a task's v4 metadata on the agent's task server, also after the agent
//! restarts (ACS does not resend a task it saw acknowledged).

mod up_support;

use serde_json::Value;
use up_support::{IMAGE, Local};

async fn get_json(url: &str) -> Value {
    let out = tokio::process::Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "GET {url}: {}", out.status);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_task_metadata_carries_the_acs_payload_fields() {
    let mut local = Local::start("tmds").await;
    local
        .register_task_definition(&format!(
            r#"{{
  "family": "e2e-tmds",
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
    let arn = local.run_task("e2e-tmds").await;
    let task = local.wait_status(&arn, "RUNNING").await;
    let container_arn = task["containers"][0]["containerArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let docker_id = task["containers"][0]["runtimeId"].as_str().unwrap();

    // The container's own metadata URI, asked from the host at the moved task server.
    let env = local.inspect(docker_id).await.env;
    let uri = env
        .iter()
        .find_map(|e| e.strip_prefix("ECS_CONTAINER_METADATA_URI_V4="))
        .unwrap_or_else(|| panic!("no v4 metadata URI in {env:?}"));
    let path = uri.strip_prefix("http://169.254.170.2").unwrap();
    let server = local.up().agent().unwrap().task_server_addr().unwrap();

    let v4_task = get_json(&format!("http://{server}{path}/task")).await;
    assert_eq!(v4_task["TaskARN"], arn.as_str(), "{v4_task:#}");
    assert_eq!(v4_task["LaunchType"], "EXTERNAL", "{v4_task:#}");
    assert_eq!(
        v4_task["Containers"][0]["ContainerARN"],
        container_arn.as_str(),
        "{v4_task:#}"
    );
    let v4_container = get_json(&format!("http://{server}{path}")).await;
    assert_eq!(
        v4_container["ContainerARN"],
        container_arn.as_str(),
        "{v4_container:#}"
    );

    assert_eq!(local.up_mut().restart_agent().await.unwrap(), 0);
    let server = local.up().agent().unwrap().task_server_addr().unwrap();
    let after = get_json(&format!("http://{server}{path}/task")).await;
    assert_eq!(after["LaunchType"], "EXTERNAL", "after restart: {after:#}");
    assert_eq!(
        after["Containers"][0]["ContainerARN"],
        container_arn.as_str(),
        "after restart: {after:#}"
    );

    local
        .aws(&["stop-task", "--cluster", &local.cluster, "--task", &arn])
        .await;
    local.wait_status(&arn, "STOPPED").await;
    assert_eq!(local.stop().await, 0);
}

fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_backend_sessions_and_the_store() {
    let local = Local::start("metrics").await;
    local
        .register_task_definition(&format!(
            r#"{{
  "family": "e2e-metrics",
  "containerDefinitions": [{{
    "name": "app",
    "image": "{IMAGE}",
    "memory": 32,
    "essential": true,
    "command": ["sh", "-c", "exit 0"]
  }}]
}}"#
        ))
        .await;
    let arn = local.run_task("e2e-metrics").await;
    local.wait_status(&arn, "STOPPED").await;
    let intro = local.up().agent().unwrap().introspection_addr().unwrap();
    let url = format!("http://{intro}/metrics");

    // DescribeTasks shows STOPPED as soon as ECS takes the change, a moment before the
    // agent counts it: the page is read until it does.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let out = tokio::process::Command::new("curl")
            .args(["-sf", "--max-time", "5", &url])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "GET {url}");
        let text = String::from_utf8(out.stdout).unwrap();
        // The task's changes went out (a quick exit may fold RUNNING into STOPPED); the
        // count moves just after the outbox entry goes.
        if gauge(&text, "ecs_agent_state_changes_pending") == Some(0)
            && gauge(&text, "ecs_agent_state_changes_submitted_total").is_some_and(|n| n >= 1)
        {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        text.contains("# TYPE ecs_agent_acs_connected gauge"),
        "{text}"
    );
    assert_eq!(gauge(&text, "ecs_agent_acs_connected"), Some(1), "{text}");
    assert!(
        gauge(&text, "ecs_agent_store_size_bytes").is_some_and(|n| n > 0),
        "{text}"
    );
    assert_eq!(local.stop().await, 0);
}
