//! End to end with the built `ecs-agent` binary against a real, in-process ecs-local
//! and the real Docker engine: start-up in the reference's order with its log lines,
//! a task run through the ECS API, SIGTERM leaving the container running, a restart
//! that re-registers with the saved ARN and adopts the container, and the start-up
//! failures' exit codes.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_ecs::types::ContainerDefinition;
use ecs_agent::backend::settings::StaticKeys;
use ecs_agent::backend::{BackendSettings, EcsClient};
use ecs_test_support::agent::external_agent;
use ecs_test_support::docker::{self, ClusterCleanup};
use ecs_test_support::ecs::{self, app_container, dynamic_tcp_port, until_sigterm_then_exit};
use ecs_test_support::process::Running;
use ecs_test_support::wait_until;
use tokio::sync::oneshot;

const BIN: &str = env!("CARGO_BIN_EXE_ecs-agent");

/// ecs-local on an ephemeral port until dropped.
struct LocalServer {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start_ecs_local(dir: &Path) -> LocalServer {
    let config = ecs_local::server::Config::new("127.0.0.1:0".parse().unwrap(), dir);
    let server = ecs_local::server::Server::bind(&config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    LocalServer { addr, _stop: stop }
}

/// The binary configured as an external host registering with ecs-local.
fn agent(dir: &Path, server: SocketAddr, cluster: &str) -> Command {
    external_agent(BIN, "e2e", dir, &format!("http://{server}"), cluster)
}

async fn client(server: SocketAddr) -> EcsClient {
    let mut settings = BackendSettings {
        region: Some("us-east-1".to_owned()),
        external: true,
        no_iid: true,
        ..BackendSettings::default()
    };
    settings.endpoints.backend_host = Some(format!("http://{server}"));
    settings.credentials.keys = Some(StaticKeys {
        access_key_id: "AKIDE2E".to_owned(),
        secret_access_key: "e2e-secret".to_owned(),
        session_token: None,
    });
    EcsClient::new(&settings).await.unwrap()
}

/// Polls DescribeTasks until `done`; panics after a minute.
async fn wait_task(
    client: &EcsClient,
    cluster: &str,
    arn: &str,
    what: &str,
    done: impl Fn(&aws_sdk_ecs::types::Task) -> bool,
) -> aws_sdk_ecs::types::Task {
    ecs::wait_task(
        client.sdk(),
        cluster,
        arn,
        what,
        Duration::from_secs(60),
        done,
    )
    .await
    .unwrap()
}

/// The agent's task container: runs until SIGTERM, then exits 7.
fn app() -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
    app_container(&["sh", "-c", &until_sigterm_then_exit(7)])
}

async fn run(client: &EcsClient, cluster: &str, family: &str, app: ContainerDefinition) -> String {
    ecs::register_and_run(client.sdk(), cluster, family, app).await
}

/// The cluster's container instance ARNs.
async fn instance_arns(client: &EcsClient, cluster: &str) -> Vec<String> {
    let out = client
        .sdk()
        .list_container_instances()
        .cluster(cluster)
        .send()
        .await
        .unwrap();
    out.container_instance_arns().to_vec()
}

/// StopTask, then waits for STOPPED with the exit code; the task.
async fn stop(client: &EcsClient, cluster: &str, arn: &str) -> aws_sdk_ecs::types::Task {
    client
        .sdk()
        .stop_task()
        .cluster(cluster)
        .task(arn)
        .send()
        .await
        .unwrap();
    let what = "STOPPED with an exit code";
    wait_task(client, cluster, arn, what, ecs::stopped_with_exit_code).await
}

/// What a test of a running agent works with; dropped in field order (the cluster's
/// containers are removed before the data directory).
struct Setup {
    client: EcsClient,
    server: LocalServer,
    _cleanup: ClusterCleanup,
    cluster: String,
    dir: tempfile::TempDir,
}

/// A data directory for the agent, ecs-local and a client of it, for cluster
/// `<prefix>-<pid>`.
async fn setup(prefix: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let cluster = format!("{prefix}-{}", std::process::id());
    let cleanup = ClusterCleanup(cluster.clone());
    let server = start_ecs_local(&dir.path().join("server")).await;
    let client = client(server.addr).await;
    Setup {
        client,
        server,
        _cleanup: cleanup,
        cluster,
        dir,
    }
}

impl Setup {
    /// Starts the binary and waits until it polls ACS.
    fn start_agent(&self) -> Running {
        let mut agent =
            Running::spawn(&mut agent(self.dir.path(), self.server.addr, &self.cluster));
        agent.wait_for("Beginning Polling for updates", Duration::from_secs(30));
        agent
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_tasks_survives_sigterm_and_restarts_on_its_saved_identity() {
    let setup = setup("e2e-bin").await;
    let Setup {
        client,
        server,
        cluster,
        dir,
        ..
    } = &setup;

    let first = setup.start_agent();
    for text in [
        "Starting Amazon ECS Agent",
        "Loading configuration",
        "Registering Instance with ECS",
        "Instance registration completed successfully",
    ] {
        assert!(first.seen.contains(text), "no {text:?} in:\n{}", first.seen);
    }
    let instances = instance_arns(client, cluster).await;
    let instance = instances[0].clone();

    let app = app().port_mappings(dynamic_tcp_port(80)).build();
    let arn = run(client, cluster, "e2e-bin", app).await;
    let task = wait_task(client, cluster, &arn, "RUNNING", |t| {
        t.last_status() == Some("RUNNING")
    })
    .await;
    let docker_id = task.containers()[0].runtime_id().unwrap().to_owned();
    assert!(docker::is_running(&docker_id));

    let (code, stdout) = first.terminate();
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("Agent received termination signal: terminated"),
        "{stdout}"
    );
    assert!(
        docker::is_running(&docker_id),
        "SIGTERM leaves task containers running"
    );

    let second = setup.start_agent();
    for text in [
        "Restored from checkpoint file",
        "Cluster was successfully restored",
    ] {
        assert!(
            second.seen.contains(text),
            "no {text:?} in:\n{}",
            second.seen
        );
    }
    let instances = instance_arns(client, cluster).await;
    assert_eq!(instances, [instance]);
    let task = stop(client, cluster, &arn).await;
    assert_eq!(task.containers()[0].exit_code(), Some(7));
    assert_eq!(task.containers()[0].runtime_id(), Some(docker_id.as_str()));
    let (code, stdout) = second.terminate();
    assert_eq!(code, Some(0), "{stdout}");

    // The saved state belongs to this cluster: another one is refused for good (exit 5).
    let mut other = agent(dir.path(), server.addr, "another-cluster");
    let out = other.stdout(Stdio::piped()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}");
    assert!(stdout.contains("Data mismatch; saved cluster"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_failures_exit_with_the_reference_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_ecs_local(&dir.path().join("server")).await;

    // Checkpointing on and no data directory: exit 1.
    let out = agent(dir.path(), server.addr, "e2e-fail").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // No Docker engine: exit 1.
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mut cmd = agent(dir.path(), server.addr, "e2e-fail");
    cmd.env(
        "DOCKER_HOST",
        format!("unix://{}", dir.path().join("no-docker.sock").display()),
    );
    let out = cmd.output().unwrap();
    let mut stdout = String::new();
    out.stdout.as_slice().read_to_string(&mut stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Docker"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_launch_leaves_no_twin_and_loses_no_state_change() {
    let setup = setup("e2e-kill").await;
    let Setup {
        client, cluster, ..
    } = &setup;

    let mut first = setup.start_agent();
    let arn = run(client, cluster, "e2e-kill", app().build()).await;
    // Kill -9 as soon as Docker has the container, wherever its launch (create, start,
    // the RUNNING report) is at that instant.
    let label = docker::task_label(&arn);
    wait_until(
        &format!("a container for {arn}"),
        Duration::from_secs(30),
        Duration::from_millis(5),
        async || !docker::labelled_containers(&label).is_empty(),
    )
    .await
    .unwrap();
    first.kill();

    let second = setup.start_agent();
    let task = wait_task(client, cluster, &arn, "RUNNING", |t| {
        t.last_status() == Some("RUNNING")
    })
    .await;
    let docker_id = task.containers()[0].runtime_id().unwrap().to_owned();
    assert_eq!(
        docker::labelled_containers_full(&label),
        vec![docker_id.clone()],
        "no twin"
    );
    assert!(docker::is_running(&docker_id));

    let task = stop(client, cluster, &arn).await;
    assert_eq!(task.containers()[0].exit_code(), Some(7));
    let (code, stdout) = second.terminate();
    assert_eq!(code, Some(0), "{stdout}");
}
