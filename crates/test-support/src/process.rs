//! A child process (an agent or ecs-local binary) whose stdout is collected line by line
//! on a thread, so a test can wait for a log line with a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running child; killed (and reaped) when dropped.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far, each ending in `\n`.
    pub seen: String,
}

impl Running {
    /// Spawns `cmd` with stdout piped (stdin null unless `cmd` says otherwise).
    pub fn spawn(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
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

    /// Waits for a stdout line containing `marker`; the line. Panics after `within`
    /// (or when stdout closes) with the output so far.
    pub fn wait_for(&mut self, marker: &str, within: Duration) -> String {
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

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: i32) {
        send_signal(&self.child, signal);
    }

    /// Sends SIGTERM and waits for the exit; (exit code, all of stdout).
    pub fn terminate(self) -> (Option<i32>, String) {
        self.signal_and_wait(libc::SIGTERM)
    }

    /// Sends `signal` and waits for the exit; (exit code, all of stdout).
    pub fn signal_and_wait(mut self, signal: i32) -> (Option<i32>, String) {
        self.signal(signal);
        let status = self.child.wait().expect("wait for the child");
        // The rest of the output, up to the reader's end of file.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        (status.code(), std::mem::take(&mut self.seen))
    }

    /// SIGKILL, and waits for the exit.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the child");
        self.child.wait().expect("wait for the child");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to a child this test spawned and still owns; panics if it fails.
pub fn send_signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    // SAFETY: kill(2) on a child we spawned and have not reaped, so the pid is ours.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}
