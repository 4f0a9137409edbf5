//! End to end with the built `ecs-agent` binary against a real, in-process ecs-local
//! and the real Docker engine: start-up in the reference's order with its log lines,
//! a task run through the ECS API, SIGTERM leaving the container running, a restart
//! that re-registers with the saved ARN and adopts the container, and the start-up
//! failures' exit codes.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, PortMapping, TransportProtocol};
use ecs_agent::backend::settings::StaticKeys;
use ecs_agent::backend::{BackendSettings, EcsClient};
use tokio::sync::oneshot;

const BIN: &str = env!("CARGO_BIN_EXE_ecs-agent");
const IMAGE: &str = "ecs-test/busybox:latest";

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
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ECS_BACKEND_HOST", format!("http://{server}"))
        .env("ECS_CLUSTER", cluster)
        .env("ECS_EXTERNAL", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDE2E")
        .env("AWS_SECRET_ACCESS_KEY", "e2e-secret")
        .env("ECS_DATADIR", dir.join("data"))
        .env("ECS_HOST_DATA_DIR", dir.join("data"))
        .env("ECS_CHECKPOINT", "true")
        .env("ECS_AGENT_CONFIG_FILE_PATH", dir.join("absent-config.json"))
        .env("ECS_AUDIT_LOGFILE_DISABLED", "true")
        .env("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")
        .env("ECS_CONTAINER_STOP_TIMEOUT", "2s")
        .env("ECS_LOGLEVEL", "info")
        // The 169.254.170.2 rules are tested where concurrent installs are serialised.
        .env("ECS_AGENT_MANAGE_NETWORK_RULES", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

/// A running agent process whose stdout is collected line by line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Running {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Waits for a stdout line containing `marker`; panics after `within`.
    fn wait_for(&mut self, marker: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(marker);
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if found {
                        return;
                    }
                }
                Err(e) => panic!("no {marker:?} ({e}); output so far:\n{}", self.seen),
            }
        }
    }

    /// Sends SIGTERM and waits for the exit; (exit code, all of stdout).
    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on the child we spawned and still own.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        (status.code(), std::mem::take(&mut self.seen))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

async fn describe(client: &EcsClient, cluster: &str, arn: &str) -> aws_sdk_ecs::types::Task {
    let out = client
        .sdk()
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .unwrap();
    out.tasks()[0].clone()
}

/// Polls DescribeTasks until `done`; panics after `within`.
async fn wait_task(
    client: &EcsClient,
    cluster: &str,
    arn: &str,
    within: Duration,
    done: impl Fn(&aws_sdk_ecs::types::Task) -> bool,
) -> aws_sdk_ecs::types::Task {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let task = describe(client, cluster, arn).await;
        if done(&task) {
            return task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; last seen {task:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Removes the cluster's containers, which the agent leaves running by design.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let label = format!("label=com.amazonaws.ecs.cluster={}", self.0);
        let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
        else {
            return;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .output();
        }
    }
}

fn docker_running(id: &str) -> bool {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "true"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_tasks_survives_sigterm_and_restarts_on_its_saved_identity() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let cluster = format!("e2e-bin-{}", std::process::id());
    let _cleanup = Cleanup(cluster.clone());
    let server = start_ecs_local(&dir.path().join("server")).await;
    let client = client(server.addr).await;

    let mut first = Running::spawn(agent(dir.path(), server.addr, &cluster));
    first.wait_for("Beginning Polling for updates", Duration::from_secs(30));
    for text in [
        "Starting Amazon ECS Agent",
        "Loading configuration",
        "Registering Instance with ECS",
        "Instance registration completed successfully",
    ] {
        assert!(first.seen.contains(text), "no {text:?} in:\n{}", first.seen);
    }
    let instances = client
        .sdk()
        .list_container_instances()
        .cluster(&cluster)
        .send()
        .await
        .unwrap();
    let instance = instances.container_instance_arns()[0].clone();

    client
        .sdk()
        .register_task_definition()
        .family("e2e-bin")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(IMAGE)
                .memory(32)
                .essential(true)
                .command("sh")
                .command("-c")
                .command("trap 'exit 7' TERM; while true; do sleep 1; done")
                .port_mappings(
                    PortMapping::builder()
                        .container_port(80)
                        .host_port(0)
                        .protocol(TransportProtocol::Tcp)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = client
        .sdk()
        .run_task()
        .cluster(&cluster)
        .task_definition("e2e-bin")
        .send()
        .await
        .unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_owned();
    let task = wait_task(&client, &cluster, &arn, Duration::from_secs(60), |t| {
        t.last_status() == Some("RUNNING")
    })
    .await;
    let docker_id = task.containers()[0].runtime_id().unwrap().to_owned();
    assert!(docker_running(&docker_id));

    let (code, stdout) = first.terminate();
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("Agent received termination signal: terminated"),
        "{stdout}"
    );
    assert!(
        docker_running(&docker_id),
        "SIGTERM leaves task containers running"
    );

    let mut second = Running::spawn(agent(dir.path(), server.addr, &cluster));
    second.wait_for("Beginning Polling for updates", Duration::from_secs(30));
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
    let instances = client
        .sdk()
        .list_container_instances()
        .cluster(&cluster)
        .send()
        .await
        .unwrap();
    assert_eq!(instances.container_instance_arns(), [instance]);
    client
        .sdk()
        .stop_task()
        .cluster(&cluster)
        .task(&arn)
        .send()
        .await
        .unwrap();
    let task = wait_task(&client, &cluster, &arn, Duration::from_secs(60), |t| {
        t.last_status() == Some("STOPPED") && t.containers()[0].exit_code().is_some()
    })
    .await;
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

/// Containers of `task_arn` in Docker, running or not.
fn task_containers(task_arn: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter"])
        .arg(format!("label=com.amazonaws.ecs.task-arn={task_arn}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_launch_leaves_no_twin_and_loses_no_state_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let cluster = format!("e2e-kill-{}", std::process::id());
    let _cleanup = Cleanup(cluster.clone());
    let server = start_ecs_local(&dir.path().join("server")).await;
    let client = client(server.addr).await;

    let mut first = Running::spawn(agent(dir.path(), server.addr, &cluster));
    first.wait_for("Beginning Polling for updates", Duration::from_secs(30));
    client
        .sdk()
        .register_task_definition()
        .family("e2e-kill")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(IMAGE)
                .memory(32)
                .essential(true)
                .command("sh")
                .command("-c")
                .command("trap 'exit 7' TERM; while true; do sleep 1; done")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = client
        .sdk()
        .run_task()
        .cluster(&cluster)
        .task_definition("e2e-kill")
        .send()
        .await
        .unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_owned();
    // Kill -9 as soon as Docker has the container, wherever its launch (create, start,
    // the RUNNING report) is at that instant.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while task_containers(&arn).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no container for {arn}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let mut second = Running::spawn(agent(dir.path(), server.addr, &cluster));
    second.wait_for("Beginning Polling for updates", Duration::from_secs(30));
    let task = wait_task(&client, &cluster, &arn, Duration::from_secs(60), |t| {
        t.last_status() == Some("RUNNING")
    })
    .await;
    let docker_id = task.containers()[0].runtime_id().unwrap().to_owned();
    assert_eq!(task_containers(&arn), vec![docker_id.clone()], "no twin");
    assert!(docker_running(&docker_id));

    client
        .sdk()
        .stop_task()
        .cluster(&cluster)
        .task(&arn)
        .send()
        .await
        .unwrap();
    let task = wait_task(&client, &cluster, &arn, Duration::from_secs(60), |t| {
        t.last_status() == Some("STOPPED") && t.containers()[0].exit_code().is_some()
    })
    .await;
    assert_eq!(task.containers()[0].exit_code(), Some(7));
    let (code, stdout) = second.terminate();
    assert_eq!(code, Some(0), "{stdout}");
}
