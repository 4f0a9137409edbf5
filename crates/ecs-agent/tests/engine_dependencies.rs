//! dependsOn on the real Docker engine: START, COMPLETE, SUCCESS, HEALTHY, and a
//! SUCCESS dependency that fails.

mod engine_support;

use ecs_types::{ContainerStatus, TaskStatus};
use engine_support::*;
use serde_json::json;

fn depends(c: &mut serde_json::Value, deps: &[(&str, &str)]) {
    c["dependsOn"] = deps
        .iter()
        .map(|(name, cond)| json!({"containerName": name, "condition": cond}))
        .collect();
}

#[tokio::test]
async fn start_complete_and_success_order_the_containers() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();

    let base = container("base", false, "exec sleep 3600");
    let init = container("init", false, "sleep 1; exit 0");
    let job = container("job", false, "sleep 1; exit 5");
    let mut app = container("app", true, "exec sleep 3600");
    depends(
        &mut app,
        &[("base", "START"), ("init", "SUCCESS"), ("job", "COMPLETE")],
    );
    add_task(&engine, &arn, vec![base, init, job, app]).await;
    let running = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let by_name = |n: &str| container_in(&running, n).clone();
    let app = by_name("app");
    let init = by_name("init");
    let job = by_name("job");
    let base = by_name("base");
    assert_eq!(init.exit_code, Some(0));
    assert_eq!(job.exit_code, Some(5));
    let app_started = app.started_at.unwrap();
    assert!(app_started >= init.finished_at.unwrap());
    assert!(app_started >= job.finished_at.unwrap());
    assert!(app_started >= base.started_at.unwrap());

    engine.set_desired_status(&arn, TaskStatus::Stopped);
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    // Stop order is reversed: the dependent stops before what it depends on.
    let finished = |n: &str| container_in(&done, n).finished_at.unwrap();
    assert!(finished("app") <= finished("base"));
    engine.shutdown().await;
}

#[tokio::test]
async fn healthy_dependency_waits_for_the_health_check() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();

    let mut db = container("db", true, "sleep 2; touch /tmp/ready; exec sleep 3600");
    db["healthCheckType"] = json!("docker");
    db["dockerConfig"]["config"] = json!(
        "{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"test -f /tmp/ready\"],\"Interval\":500000000,\"Timeout\":1000000000,\"Retries\":3}}"
    );
    let mut app = container("app", true, "exec sleep 3600");
    depends(&mut app, &[("db", "HEALTHY")]);
    add_task(&engine, &arn, vec![db, app]).await;
    let running = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let db = container_in(&running, "db");
    let app = container_in(&running, "app");
    let gap = app.started_at.unwrap() - db.started_at.unwrap();
    assert!(
        gap >= chrono::Duration::seconds(2),
        "app started {gap} after db"
    );
    let snap = engine.task(&arn).unwrap();
    assert_eq!(
        snap.containers[0].health,
        ecs_agent::engine::state::Health::Healthy
    );
    engine.set_desired_status(&arn, TaskStatus::Stopped);
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn failed_success_dependency_stops_the_dependent_with_143() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();

    let init = container("init", false, "exit 1");
    let mut app = container("app", true, "exec sleep 3600");
    depends(&mut app, &[("init", "SUCCESS")]);
    add_task(&engine, &arn, vec![init, app]).await;
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    let app = container_in(&done, "app");
    assert_eq!(app.status, ContainerStatus::Stopped);
    assert_eq!(app.exit_code, Some(143));
    assert!(app.runtime_id.is_none(), "the dependent was never created");
    let reason = app.reason.clone().unwrap();
    assert!(
        reason.starts_with(
            "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency [init("
        ),
        "{reason}"
    );
    assert!(
        reason.ends_with("as dependency did not exit successfully."),
        "{reason}"
    );
    assert!(reason.contains("- Exit: 1]"), "{reason}");
    let init = container_in(&done, "init");
    assert_eq!(init.exit_code, Some(1));
    engine.shutdown().await;
}
