//! End to end: `ecs-local up` (ecs-local and the real agent, in-process) on the real
//! Docker engine, driven only through the real AWS CLI, as a user would.

mod up_support;

use std::time::Duration;

use ecs_test_support::ecs::until_sigterm_then_exit;
use ecs_test_support::http::curl_json;
use ecs_test_support::wait_for;
use serde_json::{Value, json};
use up_support::{IMAGE, Local};

/// A task definition's JSON; every container runs the test image with 32 MiB.
fn task_definition(family: &str, mut containers: Vec<Value>) -> String {
    for c in &mut containers {
        c["image"] = json!(IMAGE);
        c["memory"] = json!(32);
    }
    json!({"family": family, "containerDefinitions": containers}).to_string()
}

/// Registers `family` with `containers` (see [`task_definition`]) and runs it; the task
/// ARN.
async fn run_new_task(local: &Local, family: &str, containers: Vec<Value>) -> String {
    local
        .register_task_definition(&task_definition(family, containers))
        .await;
    local.run_task(family).await
}

fn web_task_definition(family: &str) -> String {
    task_definition(
        family,
        vec![json!({
            "name": "web", "cpu": 64, "essential": true,
            "command": ["sh", "-c", until_sigterm_then_exit(7)],
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]
        })],
    )
}

fn container<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name} in {task:#}"))
}

fn runtime_id(task: &Value, name: &str) -> String {
    container(task, name)["runtimeId"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no runtimeId: {task:#}"))
        .to_owned()
}

/// Registers the web task definition as `family`, runs it and waits for RUNNING; the
/// task ARN and the web container's Docker ID.
async fn run_web_task(local: &Local, family: &str) -> (String, String) {
    local
        .register_task_definition(&web_task_definition(family))
        .await;
    let arn = local.run_task(family).await;
    let task = local.wait_status(&arn, "RUNNING").await;
    (arn, runtime_id(&task, "web"))
}

/// `stop-task` through the CLI (with `extra` arguments), then waits for STOPPED with the
/// web container's exit code; the task.
async fn stop_web_task(local: &Local, arn: &str, extra: &[&str]) -> Value {
    let mut args = vec!["stop-task", "--cluster", &local.cluster, "--task", arn];
    args.extend_from_slice(extra);
    local.aws(&args).await;
    wait_web_stopped(local, arn, "STOPPED with an exit code").await
}

/// Waits (a minute at most) for STOPPED with the web container's exit code; the task.
async fn wait_web_stopped(local: &Local, arn: &str, what: &str) -> Value {
    local
        .wait_task(arn, what, Duration::from_secs(60), |t| {
            t["lastStatus"] == "STOPPED" && !container(t, "web")["exitCode"].is_null()
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_describe_and_stop_through_the_cli() {
    let local = Local::start("web").await;
    let registered = local
        .register_task_definition(&web_task_definition("e2e-web"))
        .await;
    assert_eq!(registered["taskDefinition"]["revision"], 1);
    let arn = local.run_task("e2e-web").await;

    let task = local.wait_status(&arn, "RUNNING").await;
    assert_eq!(task["containerInstanceArn"], local.instance_arn().as_str());
    let web = container(&task, "web");
    assert_eq!(web["lastStatus"], "RUNNING");
    let binding = &web["networkBindings"][0];
    assert_eq!(binding["containerPort"], 8080);
    assert_eq!(binding["protocol"], "tcp");
    let host_port = binding["hostPort"].as_u64().unwrap();
    assert!(host_port > 0, "{binding}");
    let inspected = local.inspect(&runtime_id(&task, "web")).await;
    assert!(inspected.state.running);
    assert!(
        inspected
            .port_bindings
            .iter()
            .any(|b| u64::from(b.host_port) == host_port && b.container_port == 8080),
        "{:?}",
        inspected.port_bindings
    );

    // The agent's introspection endpoint knows its identity and the task.
    let intro = local.up().agent().unwrap().introspection_addr().unwrap();
    let metadata = curl_json(&format!("http://{intro}/v1/metadata")).await;
    assert_eq!(metadata["Cluster"], local.cluster.as_str());
    assert_eq!(
        metadata["ContainerInstanceArn"],
        local.instance_arn().as_str()
    );
    let tasks = curl_json(&format!("http://{intro}/v1/tasks?taskarn={arn}")).await;
    assert_eq!(tasks["KnownStatus"], "RUNNING", "{tasks:#}");

    let task = stop_web_task(&local, &arn, &["--reason", "stopped by the e2e test"]).await;
    assert_eq!(container(&task, "web")["exitCode"], 7);
    assert_eq!(task["stoppedReason"], "stopped by the e2e test");
    assert_eq!(task["stopCode"], "UserInitiated");
    let inspected = local.inspect(&runtime_id(&task, "web")).await;
    assert!(!inspected.state.running);
    assert_eq!(inspected.state.exit_code, Some(7));
    assert_eq!(local.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_essential_container_exiting_stops_its_task() {
    let local = Local::start("essential").await;
    let arn = run_new_task(
        &local,
        "e2e-essential",
        vec![
            json!({"name": "main", "essential": true,
                "command": ["sh", "-c", "sleep 2; exit 3"]}),
            json!({"name": "side", "essential": false,
                "command": ["sh", "-c", until_sigterm_then_exit(0)]}),
        ],
    )
    .await;
    let task = local
        .wait_task(
            &arn,
            "STOPPED with exit codes",
            Duration::from_secs(90),
            |t| {
                t["lastStatus"] == "STOPPED"
                    && !container(t, "main")["exitCode"].is_null()
                    && !container(t, "side")["exitCode"].is_null()
            },
        )
        .await;
    assert_eq!(container(&task, "main")["exitCode"], 3);
    assert_eq!(container(&task, "side")["exitCode"], 0);
    assert_eq!(task["stoppedReason"], "Essential container in task exited");
    assert_eq!(task["stopCode"], "EssentialContainerExited");
    let side = local.inspect(&runtime_id(&task, "side")).await;
    assert!(!side.state.running, "the agent stops the other containers");
    assert_eq!(local.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_starts_a_container_after_its_dependency_succeeded() {
    let local = Local::start("deps").await;
    let arn = run_new_task(
        &local,
        "e2e-deps",
        vec![
            json!({"name": "init", "essential": false,
                "command": ["sh", "-c", "sleep 1; exit 0"]}),
            json!({"name": "app", "essential": true,
                "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
                "command": ["sh", "-c", until_sigterm_then_exit(0)]}),
        ],
    )
    .await;
    let task = local
        .wait_task(
            &arn,
            "app RUNNING after init",
            Duration::from_secs(90),
            |t| {
                t["lastStatus"] == "RUNNING"
                    && container(t, "app")["lastStatus"] == "RUNNING"
                    && container(t, "init")["exitCode"] == 0
            },
        )
        .await;
    let init = local.inspect(&runtime_id(&task, "init")).await;
    let app = local.inspect(&runtime_id(&task, "app")).await;
    let init_finished = init.state.finished_at.unwrap();
    let app_started = app.state.started_at.unwrap();
    assert!(
        app_started >= init_finished,
        "app started {app_started} before init finished {init_finished}"
    );
    assert!(app.state.running);
    local
        .aws(&["stop-task", "--cluster", &local.cluster, "--task", &arn])
        .await;
    local.wait_status(&arn, "STOPPED").await;
    assert_eq!(local.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_keeps_its_instance_and_adopts_its_containers() {
    let mut local = Local::start("restart").await;
    let (arn, docker_id) = run_web_task(&local, "e2e-restart").await;
    let started_at = local.inspect(&docker_id).await.state.started_at;
    let instance = local.instance_arn();

    assert_eq!(local.up_mut().restart_agent().await.unwrap(), 0);

    assert_eq!(
        local.instance_arn(),
        instance,
        "re-registered with the saved ARN"
    );
    let listed = local
        .aws(&["list-container-instances", "--cluster", &local.cluster])
        .await;
    assert_eq!(
        listed["containerInstanceArns"],
        serde_json::json!([instance]),
        "no second instance"
    );
    let task = local.describe_task(&arn).await;
    assert_eq!(task["lastStatus"], "RUNNING");
    assert_eq!(runtime_id(&task, "web"), docker_id);
    assert_eq!(local.task_containers(&arn).await, vec![docker_id.clone()]);
    let inspected = local.inspect(&docker_id).await;
    assert!(inspected.state.running);
    assert_eq!(inspected.state.started_at, started_at, "not restarted");

    // The new agent took the container over: a stop through the API reaches it.
    let task = stop_web_task(&local, &arn, &[]).await;
    assert_eq!(container(&task, "web")["exitCode"], 7);
    assert_eq!(local.task_containers(&arn).await, vec![docker_id]);
    assert_eq!(local.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_while_the_agent_is_down_is_reported_after_restart() {
    let mut local = Local::start("down").await;
    let (arn, docker_id) = run_web_task(&local, "e2e-down").await;

    // The container dies while no agent watches; the next agent finds out on start.
    assert_eq!(local.up_mut().stop_agent().await, 0);
    let out = tokio::process::Command::new("docker")
        .args(["kill", &docker_id])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    local.up_mut().start_agent().await.unwrap();

    let task = wait_web_stopped(&local, &arn, "STOPPED after reconcile").await;
    assert_eq!(container(&task, "web")["exitCode"], 137);
    assert_eq!(task["stoppedReason"], "Essential container in task exited");
    assert_eq!(local.task_containers(&arn).await, vec![docker_id]);
    assert_eq!(local.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reconnects_after_an_ecs_local_restart_without_disturbing_tasks() {
    let mut local = Local::start("server-restart").await;
    let (arn, docker_id) = run_web_task(&local, "e2e-server-restart").await;
    let started_at = local.inspect(&docker_id).await.state.started_at;

    local.up_mut().restart_server().await.unwrap();

    let instance = local.instance_arn();
    let every = Duration::from_millis(200);
    wait_for(
        "the agent to reconnect",
        Duration::from_secs(60),
        every,
        async || {
            let described = local
                .aws(&[
                    "describe-container-instances",
                    "--cluster",
                    &local.cluster,
                    "--container-instances",
                    &instance,
                ])
                .await;
            if described["containerInstances"][0]["agentConnected"] == true {
                Ok(())
            } else {
                Err(Some(format!("{described:#}")))
            }
        },
    )
    .await
    .unwrap();
    let task = local.describe_task(&arn).await;
    assert_eq!(task["lastStatus"], "RUNNING");
    let inspected = local.inspect(&docker_id).await;
    assert!(inspected.state.running);
    assert_eq!(inspected.state.started_at, started_at, "not restarted");

    // The new ACS session carries the stop to the agent.
    let task = stop_web_task(&local, &arn, &[]).await;
    assert_eq!(container(&task, "web")["exitCode"], 7);
    assert_eq!(local.task_containers(&arn).await, vec![docker_id]);
    assert_eq!(local.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_docker_engine_up_fails_with_the_agents_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ecs_local::up::UpConfig::new("127.0.0.1:0".parse().unwrap(), dir.path());
    config.agent_env.insert(
        "DOCKER_HOST".to_owned(),
        format!("unix://{}", dir.path().join("no-docker.sock").display()),
    );
    let Err(err) = ecs_local::up::Up::start(config).await else {
        panic!("up started without Docker");
    };
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("Docker"), "{err}");
}
