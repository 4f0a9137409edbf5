//! The 169.254.170.2 rules ecs-init installs for the reference: installed by the agent
//! itself when it is allowed to (root, iptables present, `ECS_AGENT_MANAGE_NETWORK_RULES`
//! not false), removed again at clean shutdown.

use std::path::Path;

use crate::config::Config;
use crate::endpoints::netrules::{self, Installed, NetRulesConfig};

/// Installs the rules for a task server on `task_port`; `None` when the agent must not
/// or cannot. A failure is logged, not fatal: tasks run, only their metadata is out of
/// reach from bridge containers.
pub async fn install(
    config: &Config,
    task_port: u16,
    introspection_port: u16,
) -> Option<Installed> {
    if !config.init.manage_network_rules {
        return None;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 || !on_path("iptables") {
        tracing::info!(
            "Not installing the task metadata network rules: not running as root with iptables"
        );
        return None;
    }
    let rules = NetRulesConfig {
        task_port,
        introspection_port,
        ..NetRulesConfig::from_config(config)
    };
    match tokio::task::spawn_blocking(move || netrules::install(&rules)).await {
        Ok(Ok(installed)) => {
            tracing::info!(
                added = installed.rules().len(),
                "Task metadata network rules installed"
            );
            Some(installed)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Unable to install the task metadata network rules");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "Installing the task metadata network rules did not finish");
            None
        }
    }
}

/// Removes what [`install`] added.
pub async fn remove(installed: Installed) {
    if let Err(e) = tokio::task::spawn_blocking(move || netrules::remove(installed)).await {
        tracing::warn!(error = %e, "Removing the task metadata network rules did not finish");
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(program).is_file()
        || Path::new("/sbin").join(program).is_file()
}
