//! Restart on the same store: running containers adopted, exits that happened while
//! the engine was down reported once, a create interrupted before its ID was saved
//! recovered by name without a twin, vanished containers reported.

mod engine_support;

use std::time::Duration;

use ecs_agent::engine::intake;
use ecs_agent::engine::{StateChange, TaskState};
use ecs_agent::store::Store;
use ecs_types::{ContainerStatus, TaskStatus};
use engine_support::*;

/// Bounded wait for a Docker container to have exited (observed, not slept on).
async fn wait_exited(id: &str) {
    let what = format!("{id} to exit");
    let every = Duration::from_millis(200);
    ecs_test_support::wait_until(&what, LONG, every, async || {
        inspect(id)["State"]["Running"] == false
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn restart_adopts_running_containers_and_reports_exits_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);

    let (engine, mut rx) = engine_with(config(), Some(store.clone())).await;
    let mut seen = Vec::new();
    let main = container("main", true, "exec sleep 3600");
    let short = container(
        "short",
        false,
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 7",
    );
    add_task(&engine, &arn, vec![main, short]).await;
    let running = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let id_of = |n: &str| container_in(&running, n).runtime_id.clone().unwrap();
    let (main_id, short_id) = (id_of("main"), id_of("short"));
    engine.shutdown().await;
    drop(engine);

    // While the engine is down, `short` exits with 7.
    let status = std::process::Command::new("docker")
        .args(["exec", &short_id, "touch", "/tmp/go"])
        .status()
        .unwrap();
    assert!(status.success());
    wait_exited(&short_id).await;
    assert!(stopped(&seen, &arn, "short").is_none());

    let (engine, mut rx) = engine_with(config(), Some(store.clone())).await;
    let mut seen = Vec::new();
    let change = wait_for(&mut rx, &mut seen, LONG, "short stopped", |c| {
        matches!(c, StateChange::Container(cc) if cc.task_arn == arn && cc.container_name == "short" && cc.status == ContainerStatus::Stopped)
    })
    .await;
    let StateChange::Container(cc) = change else {
        unreachable!()
    };
    assert_eq!(cc.exit_code, Some(7));
    assert_eq!(cc.runtime_id.as_deref(), Some(short_id.as_str()));

    // The running container was adopted, not recreated; the task still runs.
    let snap = engine.task(&arn).unwrap();
    assert_eq!(snap.known, TaskStatus::Running);
    assert_eq!(
        snap.containers[0].docker_id.as_deref(),
        Some(main_id.as_str())
    );
    assert_eq!(snap.containers[0].known, ContainerStatus::Running);
    assert_eq!(task_container_ids(&arn).len(), 2);

    engine.set_desired_status(&arn, TaskStatus::Stopped);
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    assert_eq!(
        container_changes(&seen, &arn, "short")
            .filter(|c| c.status == ContainerStatus::Stopped)
            .count(),
        1,
        "the exit is reported exactly once"
    );
    // RUNNING was reported before the restart: never again.
    assert_eq!(
        seen.iter()
            .filter(|c| matches!(c, StateChange::Task(t) if t.task_arn == arn && t.status == TaskStatus::Running))
            .count(),
        0
    );
    engine.shutdown().await;
    drop(engine);

    // A third engine finds nothing new to report.
    let (engine, mut rx) = engine_with(config(), Some(store)).await;
    let mut seen = Vec::new();
    tokio::task::yield_now().await;
    while let Ok(change) = rx.try_recv() {
        seen.push(change);
    }
    assert!(
        !seen.iter().any(|c| c.task_arn() == arn),
        "nothing is reported twice: {seen:?}"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn create_interrupted_before_the_id_was_saved_is_adopted_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);

    // The state a crash between the create call and the ID save leaves behind: the
    // name is saved, Docker has the container, the store has no ID.
    let value = task_json(
        &arn,
        vec![
            container("app", true, "exec sleep 3600"),
            container("gone", false, "exec sleep 3600"),
        ],
    );
    let accepted = intake::accept(&task(value), &config()).unwrap();
    let mut state = TaskState::new(accepted.spec, TaskStatus::Running);
    ecs_agent::engine::lifecycle::update_desired(&mut state);
    let name = ecs_agent::engine::naming::container_name("enginetest", "1", "app");
    state.containers[0].known = ContainerStatus::Pulled;
    state.containers[0].docker_name = Some(name.clone());
    let out = std::process::Command::new("docker")
        .args([
            "create",
            "--name",
            &name,
            "--label",
            &format!("com.amazonaws.ecs.task-arn={arn}"),
            &image(),
            "sleep",
            "3600",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // The second container had been created and recorded, then removed behind the
    // agent's back.
    state.containers[1].known = ContainerStatus::Running;
    state.containers[1].reported = ContainerStatus::Running;
    state.containers[1].docker_name = Some("ecs-enginetest-1-gone-00000000000000000000".into());
    state.containers[1].docker_id =
        Some("0000000000000000000000000000000000000000000000000000000000000000".into());
    store.put_task(&arn, &state).unwrap();

    let (engine, mut rx) = engine_with(config(), Some(store)).await;
    let mut seen = Vec::new();
    let change = wait_for(&mut rx, &mut seen, LONG, "gone stopped", |c| {
        matches!(c, StateChange::Container(cc) if cc.container_name == "gone" && cc.status == ContainerStatus::Stopped)
    })
    .await;
    let StateChange::Container(gone) = change else {
        unreachable!()
    };
    assert_eq!(
        gone.reason.as_deref(),
        Some("ContainerVanishedError: No container matching saved ID found")
    );
    let running = wait_for(&mut rx, &mut seen, LONG, "app running", |c| {
        matches!(c, StateChange::Container(cc) if cc.container_name == "app" && cc.status == ContainerStatus::Running)
    })
    .await;
    let StateChange::Container(app) = running else {
        unreachable!()
    };
    assert_eq!(app.runtime_id.as_deref(), Some(created_id.as_str()));
    assert_eq!(task_container_ids(&arn), vec![created_id[..12].to_owned()]);
    engine.set_desired_status(&arn, TaskStatus::Stopped);
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    engine.shutdown().await;
}
