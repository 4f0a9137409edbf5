//! Running the fault commands: all commands of one request share one deadline (the
//! reference's 5 s context), a command still running at the deadline is killed, and
//! requests on the same network namespace are serialised (status takes the read side).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::RwLock;
use tokio::time::Instant;

/// The reference's budget for all commands of one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("request timed out")]
    TimedOut,
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {output}")]
    Failed {
        command: String,
        status: String,
        output: String,
    },
}

/// A finished command.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub status: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    /// Both streams, for logs.
    pub fn text(&self) -> String {
        let mut t = String::from_utf8_lossy(&self.stdout).into_owned();
        t.push_str(&String::from_utf8_lossy(&self.stderr));
        t.trim().to_owned()
    }
}

/// Runs `argv` to completion unless `deadline` passes first (then it is killed).
/// A non-zero exit is an `Ok` with `success == false`: some callers read it as an
/// answer (`iptables -C`).
pub async fn run(argv: &[String], deadline: Instant) -> Result<Output, ExecError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(ExecError::Spawn {
            program: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ExecError::Spawn {
            program: program.clone(),
            source,
        })?;
    match tokio::time::timeout_at(deadline, child.wait_with_output()).await {
        Err(_) => Err(ExecError::TimedOut),
        Ok(Err(source)) => Err(ExecError::Spawn {
            program: program.clone(),
            source,
        }),
        Ok(Ok(out)) => Ok(Output {
            success: out.status.success(),
            status: out.status.to_string(),
            stdout: out.stdout,
            stderr: out.stderr,
        }),
    }
}

/// Runs `argv` and requires exit 0.
pub async fn run_ok(argv: &[String], deadline: Instant) -> Result<Output, ExecError> {
    let out = run(argv, deadline).await?;
    if out.success {
        tracing::info!(command = %argv.join(" "), "Successfully executed the command");
        Ok(out)
    } else {
        Err(ExecError::Failed {
            command: argv.join(" "),
            status: out.status.clone(),
            output: out.text(),
        })
    }
}

/// One lock per network namespace for the whole process: the namespace is a process-
/// wide resource, so two servers in one process must not interleave on it either.
static LOCKS: LazyLock<Mutex<HashMap<String, Arc<RwLock<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The lock of the namespace `key` (never freed: one per namespace ever targeted).
pub fn namespace_lock(key: &str) -> Arc<RwLock<()>> {
    LOCKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key.to_owned())
        .or_default()
        .clone()
}

/// `argv` as owned strings.
pub fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exit_status_and_deadline() {
        let soon = Instant::now() + Duration::from_secs(5);
        let ok = run(&argv(&["sh", "-c", "echo hi; exit 3"]), soon)
            .await
            .unwrap();
        assert!(!ok.success);
        assert_eq!(ok.stdout, b"hi\n");
        assert!(matches!(
            run_ok(&argv(&["false"]), soon).await,
            Err(ExecError::Failed { .. })
        ));
        let past = Instant::now() + Duration::from_millis(100);
        let started = std::time::Instant::now();
        assert!(matches!(
            run(&argv(&["sleep", "30"]), past).await,
            Err(ExecError::TimedOut)
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            run(&argv(&["/nonexistent/tool"]), soon).await,
            Err(ExecError::Spawn { .. })
        ));
    }

    #[test]
    fn one_lock_per_namespace() {
        let a = namespace_lock("/proc/1/ns/net");
        let b = namespace_lock("/proc/1/ns/net");
        let c = namespace_lock("/var/run/netns/x");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
