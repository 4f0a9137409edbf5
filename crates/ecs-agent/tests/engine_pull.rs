//! Image pull behaviours against the local registry.

mod engine_support;

use ecs_agent::engine::{EngineConfig, PullBehavior};
use ecs_types::TaskStatus;
use engine_support::*;
use serde_json::json;

fn registry_image() -> String {
    format!("{}/ecs-test/busybox:latest", registry())
}

/// The test config with pull behaviour `always`.
fn always() -> EngineConfig {
    EngineConfig {
        pull_behavior: PullBehavior::Always,
        ..config()
    }
}

#[tokio::test]
async fn always_pulls_from_the_registry() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(always(), None).await;
    let mut seen = Vec::new();
    let mut c = container("c", true, "exec sleep 3600");
    c["image"] = json!(registry_image());
    add_task(&engine, &arn, vec![c]).await;
    let running = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let (start, stop) = (
        running.pull_started_at.unwrap(),
        running.pull_stopped_at.unwrap(),
    );
    assert!(stop >= start);
    let digest = engine.task(&arn).unwrap().containers[0]
        .image_digest
        .clone();
    assert!(
        digest.as_deref().is_some_and(|d| d.starts_with("sha256:")),
        "{digest:?}"
    );
    engine.set_desired_status(&arn, TaskStatus::Stopped);
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn always_with_a_missing_image_stops_the_task() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(always(), None).await;
    let mut seen = Vec::new();
    let side = container("side", false, "exec sleep 3600");
    let mut c = container("c", false, "true");
    c["image"] = json!(format!("{}/ecs-test/missing:latest", registry()));
    add_task(&engine, &arn, vec![side, c]).await;
    // Even a non-essential container's pull failure stops the task under `always`.
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    let c = container_in(&done, "c");
    assert!(
        c.reason
            .as_deref()
            .unwrap()
            .starts_with("CannotPullContainerError: ")
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn prefer_cached_uses_the_local_image_without_pulling() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();
    // `ecs-test/busybox` exists only locally: a pull from Docker Hub would fail.
    add_task(&engine, &arn, vec![container("c", true, "exit 0")]).await;
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    assert!(done.pull_started_at.is_none(), "no pull happened");
    assert_eq!(done.containers[0].exit_code, Some(0));
    assert_eq!(done.containers[0].reason, None);
    engine.shutdown().await;
}

#[tokio::test]
async fn once_pulls_a_name_once_and_records_image_state() {
    use ecs_agent::images::{ImageCleanupConfig, ImageManager};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let store = ecs_agent::store::Store::open_in(dir.path()).unwrap();
    let first = unique_arn();
    let second = unique_arn();
    let _guard = Cleanup(vec![first.clone(), second.clone()]);
    let cfg = EngineConfig {
        pull_behavior: PullBehavior::Once,
        task_cleanup_wait: std::time::Duration::from_secs(1),
        ..config()
    };
    let images = Arc::new(ImageManager::new(
        docker().await,
        Some(store.clone()),
        ImageCleanupConfig::default(),
    ));
    let engine = ecs_agent::engine::Engine::new(docker().await, Some(store), cfg)
        .with_images(images.clone());
    let mut rx = engine.subscribe();
    engine.start().await.unwrap();
    let mut seen = Vec::new();

    let mut c = container("c", true, "exit 0");
    c["image"] = json!(registry_image());
    add_task(&engine, &first, vec![c.clone()]).await;
    let done = wait_task(&mut rx, &mut seen, &first, TaskStatus::Stopped, LONG).await;
    assert!(done.pull_started_at.is_some(), "the first use pulls");
    let state = images
        .images()
        .into_iter()
        .find(|s| s.has_name(&registry_image()))
        .expect("image state recorded");
    assert!(state.pull_succeeded);

    add_task(&engine, &second, vec![c]).await;
    let done = wait_task(&mut rx, &mut seen, &second, TaskStatus::Stopped, LONG).await;
    assert!(done.pull_started_at.is_none(), "`once` does not pull again");
    assert_eq!(done.containers[0].exit_code, Some(0));

    // Cleanup drops the container references from the image state.
    let every = std::time::Duration::from_millis(100);
    ecs_test_support::wait_until("the tasks' cleanup", LONG, every, async || {
        engine.task(&first).is_none() && engine.task(&second).is_none()
    })
    .await
    .unwrap();
    let state = images
        .images()
        .into_iter()
        .find(|s| s.has_name(&registry_image()))
        .unwrap();
    assert!(state.containers.is_empty(), "{:?}", state.containers);
    engine.shutdown().await;
}

/// A second local registry with htpasswd auth, serving a copy of the test registry's
/// storage; stopped when dropped.
struct AuthRegistry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_auth_registry(user: &str, password: &str) -> AuthRegistry {
    let dir = tempfile::tempdir().unwrap();
    let state =
        std::env::var("ECS_TEST_STATE_DIR").unwrap_or_else(|_| "/var/tmp/ecs-test-env".into());
    let storage = dir.path().join("storage");
    let copied = std::process::Command::new("cp")
        .args([
            "-a",
            &format!("{state}/registry"),
            storage.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(
        copied.success(),
        "test registry storage not found under {state}"
    );
    let hash = std::process::Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            &format!("import crypt; print(crypt.crypt('{password}', crypt.mksalt(crypt.METHOD_BLOWFISH)))"),
        ])
        .output()
        .unwrap();
    let hash = String::from_utf8(hash.stdout).unwrap();
    std::fs::write(
        dir.path().join("htpasswd"),
        format!("{user}:{}\n", hash.trim()),
    )
    .unwrap();
    let port = ecs_test_support::net::free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nauth:\n  htpasswd:\n    realm: test\n    path: {}\nhttp:\n  addr: {addr}\n",
        storage.display(),
        dir.path().join("htpasswd").display()
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let child = std::process::Command::new("docker-registry")
        .args(["serve", dir.path().join("config.yml").to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry");
    let registry = AuthRegistry {
        child,
        addr,
        _dir: dir,
    };
    let deadline = std::time::Instant::now() + LONG;
    while std::net::TcpStream::connect(&registry.addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "registry never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    registry
}

#[tokio::test]
async fn always_pulls_with_engine_auth_from_an_htpasswd_registry() {
    let registry = start_auth_registry("ecsuser", "s3cret");
    let image = format!("{}/ecs-test/busybox:latest", registry.addr);
    let with_auth = unique_arn();
    let without_auth = unique_arn();
    let _guard = Cleanup(vec![with_auth.clone(), without_auth.clone()]);

    // Without credentials the pull is refused.
    let cfg = always();
    let (engine, mut rx) = engine_with(cfg.clone(), None).await;
    let mut seen = Vec::new();
    let mut c = container("c", true, "exit 0");
    c["image"] = json!(image);
    add_task(&engine, &without_auth, vec![c.clone()]).await;
    let done = wait_task(&mut rx, &mut seen, &without_auth, TaskStatus::Stopped, LONG).await;
    assert!(
        done.containers[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("CannotPullContainerError: "),
        "{:?}",
        done.containers[0].reason
    );
    engine.shutdown().await;

    // With ECS_ENGINE_AUTH_TYPE=docker credentials for that registry it works.
    let cfg = EngineConfig {
        engine_auth: ecs_agent::engine::EngineAuth {
            auth_type: "docker".into(),
            auth_data: format!(
                "{{\"http://{}\":{{\"username\":\"ecsuser\",\"password\":\"s3cret\"}}}}",
                registry.addr
            ),
        },
        ..cfg
    };
    let (engine, mut rx) = engine_with(cfg, None).await;
    let mut seen = Vec::new();
    add_task(&engine, &with_auth, vec![c]).await;
    let done = wait_task(&mut rx, &mut seen, &with_auth, TaskStatus::Stopped, LONG).await;
    assert!(done.pull_started_at.is_some());
    assert_eq!(done.containers[0].reason, None);
    assert_eq!(done.containers[0].exit_code, Some(0));
    engine.shutdown().await;
    remove_task_containers(&with_auth);
    remove_task_containers(&without_auth);
    ecs_test_support::docker::remove_image(&image);
}
