//! The `ecs-agent` binary as the end-to-end tests run it.

use std::path::Path;
use std::process::{Command, Stdio};

/// `bin` (the test's `CARGO_BIN_EXE_ecs-agent`) configured as an external host of
/// `cluster` whose ECS backend is `backend_url`, with static keys named after `test`,
/// its state under `dir/data`, stdout piped (for [`crate::process::Running`]) and the
/// host's 169.254.170.2 rules left alone (they are tested where concurrent installs are
/// serialised).
pub fn external_agent(
    bin: &str,
    test: &str,
    dir: &Path,
    backend_url: &str,
    cluster: &str,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ECS_BACKEND_HOST", backend_url)
        .env("ECS_CLUSTER", cluster)
        .env("ECS_EXTERNAL", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", format!("AKID{}", test.to_uppercase()))
        .env("AWS_SECRET_ACCESS_KEY", format!("{test}-secret"))
        .env("ECS_DATADIR", dir.join("data"))
        .env("ECS_HOST_DATA_DIR", dir.join("data"))
        .env("ECS_CHECKPOINT", "true")
        .env("ECS_AGENT_CONFIG_FILE_PATH", dir.join("absent-config.json"))
        .env("ECS_AUDIT_LOGFILE_DISABLED", "true")
        .env("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")
        .env("ECS_CONTAINER_STOP_TIMEOUT", "2s")
        .env("ECS_LOGLEVEL", "info")
        .env("ECS_AGENT_MANAGE_NETWORK_RULES", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}
