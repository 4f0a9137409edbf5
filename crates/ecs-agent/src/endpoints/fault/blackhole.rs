//! `network-blackhole-port` (spec endpoints §4.12): an iptables chain
//! `<trafficType>-<protocol>-<port>` that accepts the filtered sources and drops the
//! rest of the port's traffic, hooked into INPUT (ingress) or OUTPUT (egress), for
//! IPv4 and IPv6. Status looks at the IPv4 chain only, as the reference does.

use tokio::time::Instant;

use super::exec::{self, ExecError};
use super::request::{BlackholeSpec, family};

/// TMDS as tasks reach it: an egress blackhole on port 80 never cuts it off.
pub const TMDS_IP: &str = "169.254.170.2";
pub const TMDS_PORT: u16 = 80;

/// `iptables -w <this>`: the reference waits up to its request timeout for the xtables lock.
const XTABLES_WAIT: &str = "5";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    fn everything(self) -> &'static str {
        match self {
            Family::V4 => "0.0.0.0/0",
            Family::V6 => "::/0",
        }
    }
}

/// The request as the reference runs it: egress on port 80 gets TMDS added to the
/// sources to filter (if not already there).
pub fn effective(mut spec: BlackholeSpec) -> BlackholeSpec {
    if spec.egress && spec.port == TMDS_PORT && !spec.sources_to_filter.iter().any(|s| s == TMDS_IP)
    {
        spec.sources_to_filter.push(TMDS_IP.to_owned());
    }
    spec
}

fn builtin(spec: &BlackholeSpec) -> &'static str {
    if spec.egress { "OUTPUT" } else { "INPUT" }
}

fn cmd(prefix: &[String], fam: Family, rest: &[&str]) -> Vec<String> {
    let mut v = prefix.to_vec();
    v.extend([fam.tool(), "-w", XTABLES_WAIT].map(str::to_owned));
    v.extend(rest.iter().map(|s| (*s).to_owned()));
    v
}

/// `iptables -w 5 -C <chain> -p <proto> --dport <port> -j DROP`.
pub fn status_command(prefix: &[String], spec: &BlackholeSpec) -> Vec<String> {
    let port = spec.port.to_string();
    cmd(
        prefix,
        Family::V4,
        &[
            "-C",
            &spec.chain(),
            "-p",
            &spec.protocol,
            "--dport",
            &port,
            "-j",
            "DROP",
        ],
    )
}

/// A command and whether it is an ip6tables one (whose failure may be ignored).
pub type Step = (Vec<String>, bool);

pub fn start_commands(prefix: &[String], spec: &BlackholeSpec) -> Vec<Step> {
    let chain = spec.chain();
    let port = spec.port.to_string();
    let mut steps = Vec::new();
    for fam in [Family::V4, Family::V6] {
        let v6 = fam == Family::V6;
        // `-A <chain> -p <proto> -d <dest> --dport <port> -j <target>`
        let rule = |dest: &str, target: &str| {
            let args = [
                "-A",
                &chain,
                "-p",
                &spec.protocol,
                "-d",
                dest,
                "--dport",
                &port,
                "-j",
                target,
            ];
            (cmd(prefix, fam, &args), v6)
        };
        steps.push((cmd(prefix, fam, &["-N", &chain]), v6));
        for src in &spec.sources_to_filter {
            if family(src) == Some(v6) {
                steps.push(rule(src, "ACCEPT"));
            }
        }
        steps.push(rule(fam.everything(), "DROP"));
        steps.push((cmd(prefix, fam, &["-I", builtin(spec), "-j", &chain]), v6));
    }
    steps
}

pub fn stop_commands(prefix: &[String], spec: &BlackholeSpec) -> Vec<Step> {
    let chain = spec.chain();
    let mut steps = Vec::new();
    for fam in [Family::V4, Family::V6] {
        let v6 = fam == Family::V6;
        steps.push((cmd(prefix, fam, &["-F", &chain]), v6));
        steps.push((cmd(prefix, fam, &["-D", builtin(spec), "-j", &chain]), v6));
        steps.push((cmd(prefix, fam, &["-X", &chain]), v6));
    }
    steps
}

/// Where the commands run.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `nsenter --net=<path>` for a task namespace; empty for the host's.
    pub prefix: Vec<String>,
    /// ip6tables failures count only for IPv6-only tasks.
    pub ipv6_only: bool,
}

/// Whether the fault runs: exit 0 of the check, any other exit means not running.
pub async fn is_running(
    t: &Target,
    spec: &BlackholeSpec,
    deadline: Instant,
) -> Result<bool, ExecError> {
    let argv = status_command(&t.prefix, spec);
    let out = exec::run(&argv, deadline).await?;
    tracing::info!(command = %argv.join(" "), running = out.success, output = %out.text(), "Checked black hole port fault");
    Ok(out.success)
}

async fn run_steps(t: &Target, steps: &[Step], deadline: Instant) -> Result<(), ExecError> {
    for (argv, v6) in steps {
        match exec::run_ok(argv, deadline).await {
            Ok(_) => {}
            Err(ExecError::Failed {
                command, output, ..
            }) if *v6 && !t.ipv6_only => {
                tracing::warn!(%command, %output, "Ignoring an IPv6 table update failure for a task that is not IPv6-only");
            }
            Err(e) => {
                tracing::error!(command = %argv.join(" "), error = %e, "Unable to execute the command");
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Installs the chain unless it already runs.
pub async fn start(t: &Target, spec: &BlackholeSpec, deadline: Instant) -> Result<(), ExecError> {
    if is_running(t, spec, deadline).await? {
        return Ok(());
    }
    run_steps(t, &start_commands(&t.prefix, spec), deadline).await
}

/// Removes the chain if it runs.
pub async fn stop(t: &Target, spec: &BlackholeSpec, deadline: Instant) -> Result<(), ExecError> {
    if !is_running(t, spec, deadline).await? {
        return Ok(());
    }
    run_steps(t, &stop_commands(&t.prefix, spec), deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(egress: bool, port: u16, filter: &[&str]) -> BlackholeSpec {
        BlackholeSpec {
            port,
            protocol: "tcp".into(),
            egress,
            sources_to_filter: filter.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn lines(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|(a, v6)| format!("{}{}", a.join(" "), if *v6 { " [v6]" } else { "" }))
            .collect()
    }

    #[test]
    fn egress_on_port_80_keeps_tmds_reachable() {
        assert_eq!(
            effective(spec(true, 80, &[])).sources_to_filter,
            vec![TMDS_IP.to_owned()]
        );
        assert_eq!(
            effective(spec(true, 80, &[TMDS_IP, "10.0.0.1"])).sources_to_filter,
            vec![TMDS_IP.to_owned(), "10.0.0.1".to_owned()]
        );
        assert!(effective(spec(false, 80, &[])).sources_to_filter.is_empty());
        assert!(
            effective(spec(true, 8080, &[]))
                .sources_to_filter
                .is_empty()
        );
    }

    #[test]
    fn command_lists() {
        let s = effective(spec(true, 80, &["2001:db8::/32"]));
        assert_eq!(
            status_command(&[], &s).join(" "),
            "iptables -w 5 -C egress-tcp-80 -p tcp --dport 80 -j DROP"
        );
        assert_eq!(
            lines(&start_commands(&[], &s)),
            [
                "iptables -w 5 -N egress-tcp-80",
                "iptables -w 5 -A egress-tcp-80 -p tcp -d 169.254.170.2 --dport 80 -j ACCEPT",
                "iptables -w 5 -A egress-tcp-80 -p tcp -d 0.0.0.0/0 --dport 80 -j DROP",
                "iptables -w 5 -I OUTPUT -j egress-tcp-80",
                "ip6tables -w 5 -N egress-tcp-80 [v6]",
                "ip6tables -w 5 -A egress-tcp-80 -p tcp -d 2001:db8::/32 --dport 80 -j ACCEPT [v6]",
                "ip6tables -w 5 -A egress-tcp-80 -p tcp -d ::/0 --dport 80 -j DROP [v6]",
                "ip6tables -w 5 -I OUTPUT -j egress-tcp-80 [v6]",
            ]
        );
        let i = spec(false, 31234, &[]);
        assert_eq!(
            lines(&stop_commands(&[], &i)),
            [
                "iptables -w 5 -F ingress-tcp-31234",
                "iptables -w 5 -D INPUT -j ingress-tcp-31234",
                "iptables -w 5 -X ingress-tcp-31234",
                "ip6tables -w 5 -F ingress-tcp-31234 [v6]",
                "ip6tables -w 5 -D INPUT -j ingress-tcp-31234 [v6]",
                "ip6tables -w 5 -X ingress-tcp-31234 [v6]",
            ]
        );
        let ns = exec::argv(&["nsenter", "--net=/var/run/netns/t"]);
        assert_eq!(
            status_command(&ns, &i).join(" "),
            "nsenter --net=/var/run/netns/t iptables -w 5 -C ingress-tcp-31234 -p tcp --dport 31234 -j DROP"
        );
    }
}
