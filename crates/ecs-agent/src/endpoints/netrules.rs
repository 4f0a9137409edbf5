//! Reachability of the task server from containers (issue 6 item 4; spec endpoints
//! §1.7, §2.1): the rules ecs-init installs for the reference, installed by the agent
//! itself when it may. `169.254.170.2:80` is DNATed (bridge/awsvpc containers) and
//! REDIRECTed (host processes) to the task server; localhost is shielded from
//! off-host and container traffic; the introspection port is closed to other hosts.
//!
//! Every rule is checked (`-C`) before it is added, so installing twice is harmless,
//! and removal deletes exactly what `install` reported as added.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The metadata address containers use.
pub const METADATA_IP: &str = "169.254.170.2";

#[derive(Debug, thiserror::Error)]
pub enum NetRulesError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("cannot set {path}: {source}")]
    Sysctl {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRulesConfig {
    /// Where the task server listens on 127.0.0.1 (51679).
    pub task_port: u16,
    /// The introspection port (51678).
    pub introspection_port: u16,
    /// `ECS_SKIP_LOCALHOST_TRAFFIC_FILTER`.
    pub skip_localhost_traffic_filter: bool,
    /// `ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS`.
    pub allow_offhost_introspection_access: bool,
    /// The Docker bridge whose containers may reach introspection (`docker0`).
    pub docker_bridge: Option<String>,
}

/// One iptables rule: table, chain, whether it is inserted (vs appended), and spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub insert: bool,
    pub spec: Vec<String>,
}

fn rule(table: &'static str, chain: &'static str, insert: bool, spec: &str) -> Rule {
    Rule {
        table,
        chain,
        insert,
        spec: spec.split_whitespace().map(str::to_owned).collect(),
    }
}

impl NetRulesConfig {
    /// The agent's settings: the two standard ports, ecs-init's two switches, and
    /// `docker0` when the host has it.
    pub fn from_config(config: &crate::config::Config) -> Self {
        NetRulesConfig {
            task_port: super::TASK_PORT,
            introspection_port: super::INTROSPECTION_PORT,
            skip_localhost_traffic_filter: config.init.skip_localhost_traffic_filter,
            allow_offhost_introspection_access: config.init.allow_offhost_introspection_access,
            docker_bridge: Path::new("/sys/class/net/docker0")
                .exists()
                .then(|| "docker0".to_owned()),
        }
    }

    /// The rules in installation order.
    pub fn rules(&self) -> Vec<Rule> {
        let port = self.task_port;
        let mut rules = vec![
            rule(
                "nat",
                "PREROUTING",
                false,
                &format!(
                    "-p tcp -d {METADATA_IP} --dport 80 -j DNAT --to-destination 127.0.0.1:{port}"
                ),
            ),
            rule(
                "nat",
                "OUTPUT",
                false,
                &format!("-p tcp -d {METADATA_IP} --dport 80 -j REDIRECT --to-ports {port}"),
            ),
        ];
        if !self.skip_localhost_traffic_filter {
            rules.push(rule(
                "filter",
                "INPUT",
                true,
                "--dst 127.0.0.0/8 ! --src 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
            ));
        }
        if !self.allow_offhost_introspection_access {
            let ip = self.introspection_port;
            rules.push(rule(
                "filter",
                "INPUT",
                true,
                &format!("-p tcp --dport {ip} ! -i lo -j DROP"),
            ));
            if let Some(bridge) = &self.docker_bridge {
                // Inserted after the DROP, so it lands above it.
                rules.push(rule(
                    "filter",
                    "INPUT",
                    true,
                    &format!("-p tcp --dport {ip} -i {bridge} -j ACCEPT"),
                ));
            }
        }
        rules
    }
}

/// Runs iptables; a check (`-C`) answers whether the rule exists, anything else fails
/// with iptables' message.
fn iptables(args: &[String]) -> Result<bool, NetRulesError> {
    let out = Command::new("iptables")
        .arg("-w")
        .arg("5")
        .args(args)
        .output()
        .map_err(|source| NetRulesError::Spawn {
            program: "iptables".into(),
            source,
        })?;
    let is_check = args.iter().any(|a| a == "-C");
    match (out.status.success(), is_check) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(NetRulesError::Failed {
            command: format!("iptables {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
}

fn with(table: &str, op: &str, chain: &str, spec: &[String]) -> Vec<String> {
    let mut v = vec![
        "-t".to_owned(),
        table.to_owned(),
        op.to_owned(),
        chain.to_owned(),
    ];
    v.extend(spec.iter().cloned());
    v
}

const ROUTE_LOCALNET: &str = "/proc/sys/net/ipv4/conf/all/route_localnet";
const ROUTE_LOCALNET_DEFAULT: &str = "/proc/sys/net/ipv4/conf/default/route_localnet";

fn write_sysctl(path: &Path, value: &str) -> Result<(), NetRulesError> {
    std::fs::write(path, value).map_err(|source| NetRulesError::Sysctl {
        path: path.to_owned(),
        source,
    })
}

/// The rules this agent added; remove them at clean shutdown.
#[derive(Debug, Default)]
pub struct Installed {
    added: Vec<Rule>,
    route_localnet_set: bool,
}

/// Sets `route_localnet` and adds every missing rule. On error, what was added so far
/// is removed again.
pub fn install(config: &NetRulesConfig) -> Result<Installed, NetRulesError> {
    let mut installed = Installed::default();
    write_sysctl(Path::new(ROUTE_LOCALNET), "1")?;
    installed.route_localnet_set = true;
    for r in config.rules() {
        let present = iptables(&with(r.table, "-C", r.chain, &r.spec));
        match present {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                remove(installed);
                return Err(e);
            }
        }
        let op = if r.insert { "-I" } else { "-A" };
        if let Err(e) = iptables(&with(r.table, op, r.chain, &r.spec)) {
            remove(installed);
            return Err(e);
        }
        installed.added.push(r);
    }
    Ok(installed)
}

/// Deletes the rules `install` added and restores `route_localnet` to the default.
pub fn remove(installed: Installed) {
    for r in installed.added.iter().rev() {
        if let Err(e) = iptables(&with(r.table, "-D", r.chain, &r.spec)) {
            tracing::warn!(error = %e, "cannot remove iptables rule");
        }
    }
    if installed.route_localnet_set {
        let default = std::fs::read_to_string(ROUTE_LOCALNET_DEFAULT)
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|_| "0".to_owned());
        if let Err(e) = write_sysctl(Path::new(ROUTE_LOCALNET), &default) {
            tracing::warn!(error = %e, "cannot restore route_localnet");
        }
    }
}

impl Installed {
    pub fn rules(&self) -> &[Rule] {
        &self.added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_ecs_init() {
        let cfg = NetRulesConfig {
            task_port: 51679,
            introspection_port: 51678,
            skip_localhost_traffic_filter: false,
            allow_offhost_introspection_access: false,
            docker_bridge: Some("docker0".into()),
        };
        let rules: Vec<String> = cfg
            .rules()
            .iter()
            .map(|r| format!("{} {} {}", r.table, r.chain, r.spec.join(" ")))
            .collect();
        assert_eq!(
            rules,
            [
                "nat PREROUTING -p tcp -d 169.254.170.2 --dport 80 -j DNAT --to-destination 127.0.0.1:51679",
                "nat OUTPUT -p tcp -d 169.254.170.2 --dport 80 -j REDIRECT --to-ports 51679",
                "filter INPUT --dst 127.0.0.0/8 ! --src 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
                "filter INPUT -p tcp --dport 51678 ! -i lo -j DROP",
                "filter INPUT -p tcp --dport 51678 -i docker0 -j ACCEPT",
            ]
        );
        let open = NetRulesConfig {
            skip_localhost_traffic_filter: true,
            allow_offhost_introspection_access: true,
            ..cfg
        };
        assert_eq!(open.rules().len(), 2);
    }
}
