//! The Docker module against the real engine (Docker 20.10, API 1.41, image
//! `ecs-test/busybox:latest` and a registry at `$ECS_TEST_REGISTRY`, prepared by scripts/test-env).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ecs_agent::docker::{
    ApiVersion, ContainerEventKind, ContainerFilter, CreateSpec, DockerApi, DockerClient,
    DockerError, EventStreamItem, HealthStatus, Protocol, PullTimeouts, RegistryAuth, VolumeSpec,
};
use futures::StreamExt;
use serde_json::json;

use ecs_test_support::IMAGE;
const T: Duration = Duration::from_secs(60);

async fn client() -> DockerClient {
    DockerClient::connect(None).await.expect("docker engine")
}

// The local registry scripts/test-env runs, holding a copy of the test image.
use ecs_test_support::registry;

fn unique(prefix: &str) -> String {
    format!("ecs-test-{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Removes the container even when an assertion fails half-way.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        ecs_test_support::docker::remove_container(&self.0);
    }
}

#[tokio::test]
async fn connect_negotiates_the_engine_version_and_pings() {
    let docker = client().await;
    let v = docker.version().clone();
    assert!(
        v.api_version <= ApiVersion::new(1, 41),
        "negotiated {}",
        v.api_version
    );
    assert_eq!(v.api_version, v.server_api_version.min(v.api_version));
    assert!(!v.server_version.is_empty());
    docker.ping(Duration::from_secs(5)).await.expect("ping");
    let info = docker.info(Duration::from_secs(10)).await.expect("info");
    assert!(!info.cgroup_driver.is_empty());
    assert!(info.ncpu > 0);
}

#[tokio::test]
async fn explicit_unix_host_is_honoured() {
    let docker = DockerClient::connect(Some("unix:///var/run/docker.sock"))
        .await
        .expect("connect");
    assert_eq!(docker.address(), "unix:///var/run/docker.sock");
    docker.ping(Duration::from_secs(5)).await.expect("ping");
}

#[tokio::test]
async fn unreachable_engine_is_a_quick_typed_error() {
    let started = Instant::now();
    let err = DockerClient::connect(Some("unix:///nonexistent/ecs-test/docker.sock"))
        .await
        .expect_err("no engine there");
    assert!(started.elapsed() < Duration::from_secs(2));
    match &err {
        DockerError::Unreachable { address, .. } => {
            assert_eq!(address, "unix:///nonexistent/ecs-test/docker.sock")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("/nonexistent/ecs-test/docker.sock")
    );

    // A path that exists but where nothing listens.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("docker.sock");
    std::fs::write(&path, b"").expect("file");
    let host = format!("unix://{}", path.display());
    let err = DockerClient::connect(Some(&host))
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(err, DockerError::Unreachable { .. }),
        "got {err:?}"
    );

    let err = DockerClient::connect(Some("ssh://somewhere"))
        .await
        .expect_err("unsupported");
    assert!(
        matches!(err, DockerError::UnsupportedHost(_)),
        "got {err:?}"
    );
}

#[tokio::test]
async fn images_are_listed_inspected_and_pulled() {
    let docker = client().await;
    let images = docker.list_images(T).await.expect("list images");
    assert!(
        images
            .iter()
            .any(|i| i.repo_tags.iter().any(|t| t == IMAGE)),
        "{IMAGE} not in {images:?}"
    );
    let details = docker.inspect_image(IMAGE, T).await.expect("inspect image");
    assert!(details.id.starts_with("sha256:"));
    assert!(details.repo_tags.iter().any(|t| t == IMAGE));

    let err = docker
        .inspect_image("ecs-test/does-not-exist:nope", T)
        .await
        .expect_err("missing image");
    assert!(err.is_not_found(), "got {err:?}");

    // The local registry holds ecs-test/busybox; pulling it must work without a tag given.
    docker
        .pull_image(
            &format!("{}/ecs-test/busybox", registry()),
            None,
            PullTimeouts::default(),
        )
        .await
        .expect("pull from the local registry");
    let pulled = docker
        .inspect_image(&format!("{}/ecs-test/busybox:latest", registry()), T)
        .await
        .expect("pulled image");
    assert_eq!(pulled.id, details.id);
}

#[tokio::test]
async fn pulling_a_missing_image_is_a_clear_error() {
    let docker = client().await;
    let image = format!("{}/ecs-test/{}:latest", registry(), unique("missing"));
    let started = Instant::now();
    let err = docker
        .pull_image(&image, None, PullTimeouts::default())
        .await
        .expect_err("image does not exist");
    assert!(started.elapsed() < Duration::from_secs(30));
    match &err {
        DockerError::NotFound { message }
        | DockerError::Pull { message, .. }
        | DockerError::Api { message, .. } => {
            assert!(
                message.contains("not found") || message.contains("unknown"),
                "{message}"
            )
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn tag_and_remove_image() {
    let docker = client().await;
    let repo = format!("ecs-test/{}", unique("tag"));
    docker.tag_image(IMAGE, &repo, "v1", T).await.expect("tag");
    let tagged = format!("{repo}:v1");
    docker
        .inspect_image(&tagged, T)
        .await
        .expect("tagged image");
    docker
        .remove_image(&tagged, false, T)
        .await
        .expect("remove tag");
    let err = docker.inspect_image(&tagged, T).await.expect_err("gone");
    assert!(err.is_not_found());
    // The original keeps existing: removing a tag only untags.
    docker.inspect_image(IMAGE, T).await.expect("original");
}

#[tokio::test]
async fn container_lifecycle_with_labels_env_ports_and_memory() {
    let docker = client().await;
    let name = unique("life");
    let _cleanup = Cleanup(name.clone());
    let label_value = name.clone();
    let mut spec = CreateSpec::new(&name, IMAGE);
    spec.config = json!({
        "Image": IMAGE,
        "Cmd": ["sleep", "300"],
        "Env": ["GREETING=hello", "ECS_TEST=1"],
        "Labels": {"com.amazonaws.ecs.test": label_value, "team": "x"},
        "ExposedPorts": {"80/tcp": {}},
        "WorkingDir": "/tmp",
    });
    spec.host_config = json!({
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]},
        "Memory": 64 * 1024 * 1024,
        "NetworkMode": "bridge",
        "CapAdd": [],
        "CapDrop": [],
    });
    let created = docker.create_container(&spec, T).await.expect("create");
    assert_eq!(created.id.len(), 64);

    let dup = docker
        .create_container(&spec, T)
        .await
        .expect_err("name in use");
    assert!(matches!(dup, DockerError::Conflict { .. }), "got {dup:?}");

    let before = docker
        .inspect_container(&name, T)
        .await
        .expect("inspect by name");
    assert_eq!(before.id, created.id);
    assert_eq!(before.name, name);
    assert_eq!(before.state.status, "created");
    assert_eq!(before.state.started_at, None);

    docker.start_container(&created.id, T).await.expect("start");
    let running = docker
        .inspect_container(&created.id, T)
        .await
        .expect("inspect");
    assert!(running.state.running);
    assert_eq!(running.state.status, "running");
    assert!(running.state.started_at.is_some());
    assert_eq!(running.state.finished_at, None);
    assert_eq!(running.state.health, None);
    assert_eq!(
        running.labels.get("com.amazonaws.ecs.test"),
        Some(&label_value)
    );
    assert!(running.env.iter().any(|e| e == "GREETING=hello"));
    assert_eq!(running.network_mode, "bridge");
    assert_eq!(running.host_config["Memory"], json!(64 * 1024 * 1024));
    assert_eq!(running.config["WorkingDir"], json!("/tmp"));
    assert_eq!(running.image, IMAGE);
    let binding = running
        .port_bindings
        .iter()
        .find(|b| b.container_port == 80)
        .expect("port 80 bound");
    assert_eq!(binding.protocol, Protocol::Tcp);
    assert!(binding.host_port > 0, "dynamic host port read back");
    let bridge = running
        .networks
        .iter()
        .find(|n| n.name == "bridge")
        .expect("bridge network");
    assert!(!bridge.ip_address.is_empty());

    let stats = docker
        .stats_once(&created.id, T)
        .await
        .expect("one-shot stats");
    assert_eq!(stats.memory_stats.limit, 64 * 1024 * 1024);
    assert!(stats.memory_stats.usage > 0);
    let mut stream = docker.stats_stream(&created.id);
    let sample = tokio::time::timeout(T, stream.next())
        .await
        .expect("a sample in time")
        .expect("stream item")
        .expect("stats");
    assert_eq!(sample.memory_stats.limit, 64 * 1024 * 1024);
    drop(stream);

    let listed = docker
        .list_containers(
            &ContainerFilter {
                all: true,
                labels: vec![format!("com.amazonaws.ecs.test={label_value}")],
                name: None,
            },
            T,
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].names, vec![name.clone()]);
    assert_eq!(listed[0].state, "running");

    // `sleep` as PID 1 ignores SIGTERM, so the stop ends with SIGKILL after the grace period.
    let started = Instant::now();
    docker
        .stop_container(&created.id, Duration::from_secs(1), T)
        .await
        .expect("stop");
    assert!(started.elapsed() < Duration::from_secs(30));
    let stopped = docker
        .inspect_container(&created.id, T)
        .await
        .expect("inspect");
    assert!(!stopped.state.running);
    assert_eq!(stopped.state.status, "exited");
    assert_eq!(stopped.state.exit_code, Some(137));
    assert!(stopped.state.finished_at.is_some());

    docker
        .remove_container(&created.id, true, false, T)
        .await
        .expect("remove");
    let gone = docker
        .inspect_container(&created.id, T)
        .await
        .expect_err("removed");
    assert!(gone.is_not_found(), "got {gone:?}");
    let err = docker
        .remove_container(&created.id, true, false, T)
        .await
        .expect_err("already removed");
    assert!(err.is_not_found());
}

/// Waits for the `die` event of `name`, collecting its events in order; the stream replays
/// from `since`, so events that happened before this is polled are not lost.
async fn events_until_die(
    docker: &DockerClient,
    name: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Vec<ecs_agent::docker::ContainerEvent> {
    let mut events = docker.container_events(Some(since));
    let collect = async {
        let mut seen = Vec::new();
        while let Some(item) = events.next().await {
            if let EventStreamItem::Event(ev) = item
                && ev.attributes.get("name").map(String::as_str) == Some(name)
            {
                let done = matches!(ev.kind, ContainerEventKind::Die { .. });
                seen.push(ev);
                if done {
                    break;
                }
            }
        }
        seen
    };
    tokio::time::timeout(T, collect)
        .await
        .expect("events arrive")
}

#[tokio::test]
async fn kill_sends_the_signal() {
    let docker = client().await;
    let name = unique("kill");
    let _cleanup = Cleanup(name.clone());
    let mut spec = CreateSpec::new(&name, IMAGE);
    spec.config["Cmd"] = json!(["sleep", "300"]);
    let created = docker.create_container(&spec, T).await.expect("create");
    docker.start_container(&created.id, T).await.expect("start");
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    docker
        .kill_container(&created.id, "SIGKILL", T)
        .await
        .expect("kill");
    let seen = events_until_die(&docker, &name, since).await;
    assert!(
        seen.iter().any(|e| e.kind
            == ContainerEventKind::Kill {
                signal: Some("9".to_string())
            }),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(|e| e.kind.clone()),
        Some(ContainerEventKind::Die {
            exit_code: Some(137)
        })
    );
    let d = docker
        .inspect_container(&created.id, T)
        .await
        .expect("inspect");
    assert_eq!(d.state.exit_code, Some(137));
    docker
        .remove_container(&created.id, true, true, T)
        .await
        .expect("remove");
}

#[tokio::test]
async fn events_report_start_and_die_with_exit_code() {
    let docker = client().await;
    let name = unique("events");
    let _cleanup = Cleanup(name.clone());
    let mut spec = CreateSpec::new(&name, IMAGE);
    spec.config["Cmd"] = json!(["sh", "-c", "exit 3"]);
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let created = docker.create_container(&spec, T).await.expect("create");
    docker.start_container(&created.id, T).await.expect("start");
    let id = created.id;

    let seen = events_until_die(&docker, &name, since).await;
    let kinds: Vec<_> = seen.iter().map(|e| e.kind.clone()).collect();
    assert!(seen.iter().all(|e| e.id == id));
    let create = kinds
        .iter()
        .position(|k| *k == ContainerEventKind::Create)
        .expect("create event");
    let start = kinds
        .iter()
        .position(|k| *k == ContainerEventKind::Start)
        .expect("start event");
    let die = kinds
        .iter()
        .position(|k| *k == ContainerEventKind::Die { exit_code: Some(3) })
        .expect("die event with exit code 3");
    assert!(create < start && start < die, "{kinds:?}");
    assert!(seen.windows(2).all(|w| w[0].time <= w[1].time));
    let inspected = docker.inspect_container(&id, T).await.expect("inspect");
    assert_eq!(inspected.state.exit_code, Some(3));
    docker
        .remove_container(&id, true, true, T)
        .await
        .expect("remove");
}

#[tokio::test]
async fn volumes_are_created_inspected_and_removed() {
    let docker = client().await;
    let name = unique("vol");
    let spec = VolumeSpec {
        name: name.clone(),
        driver: "local".to_string(),
        driver_opts: HashMap::new(),
        labels: HashMap::from([("com.amazonaws.ecs.test".to_string(), "1".to_string())]),
    };
    let created = docker.create_volume(&spec, T).await.expect("create volume");
    assert_eq!(created.name, name);
    assert_eq!(created.driver, "local");
    let inspected = docker.inspect_volume(&name, T).await.expect("inspect");
    assert_eq!(
        inspected
            .labels
            .get("com.amazonaws.ecs.test")
            .map(String::as_str),
        Some("1")
    );
    assert!(!inspected.mountpoint.is_empty());
    docker.remove_volume(&name, T).await.expect("remove");
    let err = docker.inspect_volume(&name, T).await.expect_err("gone");
    assert!(err.is_not_found());
}

#[tokio::test]
async fn short_deadline_gives_timeout() {
    let docker = client().await;
    let name = unique("deadline");
    let _cleanup = Cleanup(name.clone());
    let mut spec = CreateSpec::new(&name, IMAGE);
    spec.config["Cmd"] = json!(["sleep", "300"]);
    let created = docker.create_container(&spec, T).await.expect("create");
    docker.start_container(&created.id, T).await.expect("start");
    // Docker waits the full 30 s grace before SIGKILL; a 200 ms deadline must fire first.
    let err = docker
        .stop_container(
            &created.id,
            Duration::from_secs(30),
            Duration::from_millis(200),
        )
        .await
        .expect_err("deadline");
    match err {
        DockerError::Timeout { operation, after } => {
            assert_eq!(operation, "stopping container");
            assert_eq!(after, Duration::from_millis(200));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    docker
        .remove_container(&created.id, true, true, T)
        .await
        .expect("remove");
}

#[tokio::test]
async fn healthcheck_is_reported_by_events_and_inspect() {
    let docker = client().await;
    let name = unique("health");
    let _cleanup = Cleanup(name.clone());
    let mut spec = CreateSpec::new(&name, IMAGE);
    spec.config["Cmd"] = json!(["sleep", "300"]);
    // Key casing as the backend sends it (task-engine.md §5.1), 200 ms apart.
    spec.config["Healthcheck"] = json!({
        "Test": ["CMD-SHELL", "echo ok"],
        "Interval": 200_000_000,
        "Timeout": 5_000_000_000i64,
        "Retries": 3,
    });
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let created = docker.create_container(&spec, T).await.expect("create");
    docker.start_container(&created.id, T).await.expect("start");

    let mut events = docker.container_events(Some(since));
    let healthy = async {
        while let Some(item) = events.next().await {
            if let EventStreamItem::Event(ev) = item
                && ev.id == created.id
                && let ContainerEventKind::HealthStatus(status) = ev.kind
            {
                return status;
            }
        }
        unreachable!("the event stream never ends")
    };
    let status = tokio::time::timeout(T, healthy)
        .await
        .expect("a health event");
    assert_eq!(status, HealthStatus::Healthy);
    let details = docker
        .inspect_container(&created.id, T)
        .await
        .expect("inspect");
    let health = details.state.health.expect("health state");
    assert_eq!(health.status, HealthStatus::Healthy);
    assert_eq!(health.failing_streak, 0);
    assert_eq!(health.last_exit_code, Some(0));
    assert_eq!(health.last_output.as_deref().map(str::trim), Some("ok"));
    docker
        .remove_container(&created.id, true, true, T)
        .await
        .expect("remove");
}

#[test]
fn registry_auth_debug_hides_secrets() {
    let auth = RegistryAuth {
        username: Some("user".to_string()),
        password: Some("hunter2".to_string()),
        auth: Some("dXNlcjpodW50ZXIy".to_string()),
        identity_token: Some("tok-secret".to_string()),
        registry_token: Some("reg-secret".to_string()),
        ..Default::default()
    };
    let printed = format!("{auth:?}");
    assert!(printed.contains("user"));
    for secret in ["hunter2", "dXNlcjpodW50ZXIy", "tok-secret", "reg-secret"] {
        assert!(!printed.contains(secret), "{printed}");
    }
}
