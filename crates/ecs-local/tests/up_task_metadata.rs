//! End to end: the fields the agent takes from the ACS payload (launch type, container
//! ARNs) reach a task's v4 metadata on the agent's task server, also after the agent
//! restarts (ACS does not resend a task it saw acknowledged).

mod up_support;

use std::time::Duration;

use ecs_test_support::ecs::until_sigterm_then_exit;
use ecs_test_support::http::{curl, curl_json as get_json};
use up_support::{IMAGE, Local};

/// Registers `family` with one essential container `app` running `sh -c <script>`.
async fn register_app(local: &Local, family: &str, script: &str) {
    local
        .register_task_definition(&format!(
            r#"{{
  "family": "{family}",
  "containerDefinitions": [{{
    "name": "app",
    "image": "{IMAGE}",
    "memory": 32,
    "essential": true,
    "command": ["sh", "-c", "{script}"]
  }}]
}}"#
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_task_metadata_carries_the_acs_payload_fields() {
    let mut local = Local::start("tmds").await;
    register_app(&local, "e2e-tmds", &until_sigterm_then_exit(0)).await;
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
    register_app(&local, "e2e-metrics", "exit 0").await;
    let arn = local.run_task("e2e-metrics").await;
    local.wait_status(&arn, "STOPPED").await;
    let intro = local.up().agent().unwrap().introspection_addr().unwrap();
    let url = format!("http://{intro}/metrics");

    // DescribeTasks shows STOPPED as soon as ECS takes the change, a moment before the
    // agent counts it: the page is read until it does.
    let every = Duration::from_millis(100);
    let what = "the task's state changes submitted";
    let text = ecs_test_support::wait_for(what, Duration::from_secs(10), every, async || {
        let text = String::from_utf8(curl(&url).await).unwrap();
        // The task's changes went out (a quick exit may fold RUNNING into STOPPED); the
        // count moves just after the outbox entry goes.
        if gauge(&text, "ecs_agent_state_changes_pending") == Some(0)
            && gauge(&text, "ecs_agent_state_changes_submitted_total").is_some_and(|n| n >= 1)
        {
            Ok(text)
        } else {
            Err(Some(text))
        }
    })
    .await
    .unwrap();
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
