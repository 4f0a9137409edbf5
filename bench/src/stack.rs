//! ecs-local (`serve`) and ecs-agent as child processes, each with its own state in a
//! temporary directory, the agent registered as an external instance of a bench cluster.
//! Separate processes so that each one's memory and CPU time can be read from /proc and
//! the agent can be killed and restarted on its own.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::control::{ACCESS_KEY, Control, REGION, SECRET_KEY};

/// Where the released binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub ecs_local: PathBuf,
    pub ecs_agent: PathBuf,
}

impl Binaries {
    pub fn in_dir(dir: &Path) -> anyhow::Result<Binaries> {
        let b = Binaries {
            ecs_local: dir.join("ecs-local"),
            ecs_agent: dir.join("ecs-agent"),
        };
        for path in [&b.ecs_local, &b.ecs_agent] {
            if !path.is_file() {
                bail!(
                    "{} is missing: build it with `cargo build --release -p ecs-local -p ecs-agent`",
                    path.display()
                );
            }
        }
        Ok(b)
    }
}

pub struct Stack {
    dir: tempfile::TempDir,
    binaries: Binaries,
    pub addr: SocketAddr,
    pub control: Control,
    local: Option<Child>,
    agent: Option<Child>,
    /// Settings of this stack's agent beyond the common ones (kept across restarts).
    agent_env: Vec<(String, String)>,
}

impl Stack {
    /// Starts ecs-local, creates the cluster, starts the agent and waits until it is
    /// registered and connected to ACS.
    pub async fn start(binaries: &Binaries, cluster: &str) -> anyhow::Result<Stack> {
        Stack::start_with(binaries, cluster, &[]).await
    }

    /// [`Stack::start`] with extra agent settings (`ECS_*` variables).
    pub async fn start_with(
        binaries: &Binaries,
        cluster: &str,
        agent_env: &[(&str, &str)],
    ) -> anyhow::Result<Stack> {
        let dir = tempfile::Builder::new().prefix("ecs-bench-").tempdir()?;
        let addr = free_port()?;
        let log = std::fs::File::create(dir.path().join("ecs-local.log"))?;
        let local = Command::new(&binaries.ecs_local)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(dir.path().join("local"))
            .env("ECS_LOCAL_LOG", "info")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("starting ecs-local")?;
        let url = format!("http://{addr}");
        let control = Control::new(&url, cluster);
        let mut stack = Stack {
            dir,
            binaries: binaries.clone(),
            addr,
            control,
            local: Some(local),
            agent: None,
            agent_env: agent_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        stack.wait_for_api().await?;
        stack.control.create_cluster().await?;
        stack.start_agent().await?;
        stack.wait_connected(true, Duration::from_secs(60)).await?;
        Ok(stack)
    }

    async fn wait_for_api(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.control.ecs.list_clusters().send().await.is_ok() {
                return Ok(());
            }
            if let Some(local) = self.local.as_mut()
                && let Some(status) = local.try_wait()?
            {
                bail!(
                    "ecs-local exited with {status}: {}",
                    self.log_tail("ecs-local.log")
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "ecs-local did not answer: {}",
                    self.log_tail("ecs-local.log")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Spawns the agent on the stack's state directory (a restart reuses it).
    pub async fn start_agent(&mut self) -> anyhow::Result<()> {
        let data = self.dir.path().join("agent");
        std::fs::create_dir_all(&data)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("ecs-agent.log"))?;
        let mut cmd = Command::new(&self.binaries.ecs_agent);
        cmd.env_clear();
        for name in ["PATH", "HOME", "DOCKER_HOST"] {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        let data = data.display().to_string();
        cmd.envs([
            ("ECS_BACKEND_HOST", format!("http://{}", self.addr)),
            ("ECS_CLUSTER", self.control.cluster.clone()),
            ("ECS_EXTERNAL", "true".into()),
            ("ECS_DATADIR", data.clone()),
            ("ECS_HOST_DATA_DIR", data),
            ("ECS_CHECKPOINT", "true".into()),
            ("ECS_LOGLEVEL", "info".into()),
            ("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached".into()),
            // The bench never reaches 169.254.170.2, and an agent killed with -9 would
            // leave the host's rules behind for whatever runs next.
            ("ECS_AGENT_MANAGE_NETWORK_RULES", "false".into()),
            ("ECS_AUDIT_LOGFILE_DISABLED", "true".into()),
            // "Rate limit off" for the metadata throughput figure.
            ("ECS_TASK_METADATA_RPS_LIMIT", "1000000,1000000".into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]);
        cmd.envs(self.agent_env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("starting ecs-agent")?;
        self.agent = Some(child);
        Ok(())
    }

    /// Waits until ecs-local reports the instance's ACS connection as `connected`.
    pub async fn wait_connected(
        &mut self,
        connected: bool,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((_, now)) = self.control.instance().await?
                && now == connected
            {
                return Ok(());
            }
            if let Some(agent) = self.agent.as_mut()
                && let Some(status) = agent.try_wait()?
            {
                bail!(
                    "ecs-agent exited with {status}: {}",
                    self.log_tail("ecs-agent.log")
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "agent connected={connected} not seen within {timeout:?}: {}",
                    self.log_tail("ecs-agent.log")
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL to the agent; returns once it is reaped.
    pub async fn kill_agent(&mut self) -> anyhow::Result<()> {
        if let Some(mut agent) = self.agent.take() {
            agent.start_kill()?;
            agent.wait().await?;
        }
        Ok(())
    }

    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().and_then(Child::id)
    }

    pub fn local_pid(&self) -> Option<u32> {
        self.local.as_ref().and_then(Child::id)
    }

    /// When ecs-local sent each task's first RUNNING payload over ACS (seconds since the
    /// epoch), from its log lines `<RFC 3339 µs time>  INFO ... task payload sent task=<arn>
    /// desired_status=RUNNING`.
    pub fn payload_sent_times(&self) -> HashMap<String, f64> {
        let text =
            std::fs::read_to_string(self.dir.path().join("ecs-local.log")).unwrap_or_default();
        parse_payload_sent(&text)
    }

    /// The last lines of one of the children's logs, for error messages.
    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(15);
        format!("\n--- {name} (last lines)\n{}", lines[from..].join("\n"))
    }

    /// Stops both children (SIGTERM, then SIGKILL after a grace period).
    pub async fn stop(mut self) {
        if let Some(agent) = self.agent.take() {
            terminate(agent).await;
        }
        if let Some(local) = self.local.take() {
            terminate(local).await;
        }
    }
}

async fn terminate(mut child: Child) {
    if let Some(pid) = child.id() {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

fn parse_payload_sent(log: &str) -> HashMap<String, f64> {
    let mut sent = HashMap::new();
    for line in log.lines() {
        if !line.contains("task payload sent") || !line.contains("desired_status=RUNNING") {
            continue;
        }
        let Some(time) = line
            .split_whitespace()
            .next()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            continue;
        };
        let Some(arn) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("task="))
        else {
            continue;
        };
        let at = time.timestamp_micros() as f64 / 1e6;
        sent.entry(arn.to_owned()).or_insert(at);
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_sent_lines_are_read() {
        let log = "2026-11-25T13:57:49.034506Z  INFO ecs_local::acs::session: task payload sent task=arn:t/1 desired_status=RUNNING message_id=x
2026-11-25T13:57:50.000000Z  INFO ecs_local::acs::session: task payload sent task=arn:t/1 desired_status=RUNNING message_id=y
2026-11-25T13:57:51.000000Z  INFO ecs_local::acs::session: task payload sent task=arn:t/1 desired_status=STOPPED message_id=z
2026-11-25T13:57:49.5Z  INFO ecs_local::tcs: TCS session opened";
        let sent = parse_payload_sent(log);
        assert_eq!(sent.len(), 1);
        assert!(
            (sent["arn:t/1"] - 1_795_615_069.034_506).abs() < 1e-3,
            "{sent:?}"
        );
    }
}
