//! The `ecs-local up` command itself, as the README runs it: the banner with the
//! endpoint and the keys to export, `--example` running a sample web task that answers
//! on its host port, and SIGTERM stopping ecs-local and the agent while the task's
//! container keeps running.

use std::process::{Command, Stdio};
use std::time::Duration;

use ecs_test_support::docker::{self, ClusterCleanup};
use ecs_test_support::process::Running;

const BIN: &str = env!("CARGO_BIN_EXE_ecs-local");

/// GET `url` with curl; the body.
fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn up_with_example_runs_a_web_task_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = format!("up-bin-{}", std::process::id());
    // Declared first, so dropped last: after the child is killed.
    let _cleanup = ClusterCleanup(cluster.clone());
    let mut up = Running::spawn(
        Command::new(BIN)
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--cluster",
                &cluster,
                "--example",
            ])
            .args(["--example-image", ecs_test_support::IMAGE])
            .arg("--data-dir")
            .arg(dir.path())
            .env("ECS_LOCAL_LOG", "warn")
            // The 169.254.170.2 rules are endpoints_bridge's and up_network_rules' to test.
            .env("ECS_AGENT_MANAGE_NETWORK_RULES", "false")
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
    );

    let first = up.wait_for("ecs-local is up", Duration::from_secs(60));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches(',')
        .to_owned();
    let export = up.wait_for("export AWS_ACCESS_KEY_ID=", Duration::from_secs(5));
    assert!(export.contains("AWS_DEFAULT_REGION=us-east-1"), "{export}");
    let hint = up.wait_for("aws ecs run-task", Duration::from_secs(5));
    assert!(hint.contains(&format!("--endpoint-url {url}")), "{hint}");

    up.wait_for("is RUNNING", Duration::from_secs(120));
    let try_line = up.wait_for("try: curl ", Duration::from_secs(5));
    let page = try_line.trim().trim_start_matches("try: curl ").to_owned();
    assert_eq!(curl(&page).trim(), "hello from ecs-local");

    let running = docker::running_labelled_containers(&docker::cluster_label(&cluster));
    assert_eq!(running.len(), 1, "{running:?}");

    let (code, stdout) = up.terminate();
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        curl(&url).is_empty(),
        "ecs-local stopped serving after SIGTERM"
    );
    assert!(
        docker::is_running(&running[0]),
        "the task's container keeps running"
    );
}
