//! The `ecs-local up` command itself, as the README runs it: the banner with the
//! endpoint and the keys to export, `--example` running a sample web task that answers
//! on its host port, and SIGTERM stopping ecs-local and the agent while the task's
//! container keeps running.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ecs-local");

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
    cluster: String,
}

impl Running {
    /// Waits for a stdout line containing `marker`; the line.
    fn wait_for(&mut self, marker: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(marker) {
                        return line;
                    }
                }
                Err(e) => panic!("no {marker:?} ({e}); stdout so far:\n{}", self.seen),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let label = format!("label=com.amazonaws.ecs.cluster={}", self.cluster);
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
        {
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
}

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
    let mut child = Command::new(BIN)
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--cluster",
            &cluster,
            "--example",
        ])
        .args(["--example-image", "ecs-test/busybox:latest"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("ECS_LOCAL_LOG", "warn")
        // The 169.254.170.2 rules are endpoints_bridge's and up_network_rules' to test.
        .env("ECS_AGENT_MANAGE_NETWORK_RULES", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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
    let mut up = Running {
        child,
        lines,
        seen: String::new(),
        cluster: cluster.clone(),
    };

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

    let listed = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=com.amazonaws.ecs.cluster={cluster}"))
        .output()
        .unwrap();
    let running: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(running.len(), 1, "{running:?}");

    let killed = Command::new("kill")
        .args(["-TERM", &up.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = up.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        curl(&url).is_empty(),
        "ecs-local stopped serving after SIGTERM"
    );
    let inspect = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", &running[0]])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        "true",
        "the task's container keeps running"
    );
}
