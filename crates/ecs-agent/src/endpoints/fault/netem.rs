//! `network-latency` and `network-packet-loss` (spec endpoints §4.12): one tc tree per
//! interface. Root `prio` `1:` sends everything to band 3 (priomap all 2) except what
//! the u32 filters pick: `SourcesToFilter` to `1:3` (prio 1), `Sources` to `1:1`
//! (prio 2). Under `1:1` a 10-band `prio` `10:` and ten 10-band `prio` qdiscs
//! `100:`…`109:` give 100 leaves; flow-hash filters spread flows over them, and the
//! first `FlowsPercent` leaves get a `netem` qdisc (`200:`…), so about that share of
//! the flows to `Sources` is impaired. Status reads the netem under `100:1`.

use serde::Deserialize;
use tokio::time::Instant;

use super::exec::{self, ExecError};
use super::request::{Impairment, NetemSpec, family};

const BANDS: u32 = 10;
const FLOW_KEYS: &str = "src,dst,proto,proto-src,proto-dst";

fn tc(prefix: &[String], rest: &[&str]) -> Vec<String> {
    let mut v = prefix.to_vec();
    v.push("tc".to_owned());
    v.extend(rest.iter().map(|s| (*s).to_owned()));
    v
}

/// `tc -j q show dev <if> parent 100:1`.
pub fn status_command(prefix: &[String], dev: &str) -> Vec<String> {
    tc(prefix, &["-j", "q", "show", "dev", dev, "parent", "100:1"])
}

/// The commands that build the tree on `dev`, in order.
pub fn start_commands(prefix: &[String], dev: &str, spec: &NetemSpec) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    let mut root = vec![
        "qdisc", "add", "dev", dev, "root", "handle", "1:", "prio", "priomap",
    ];
    root.extend(std::iter::repeat_n("2", 16));
    cmds.push(tc(prefix, &root));
    let bands = BANDS.to_string();
    cmds.push(tc(
        prefix,
        &[
            "qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "prio", "bands", &bands,
        ],
    ));
    for i in 0..BANDS {
        let parent = format!("10:{:x}", i + 1);
        let handle = format!("{}:", 100 + i);
        cmds.push(tc(
            prefix,
            &[
                "qdisc", "add", "dev", dev, "parent", &parent, "handle", &handle, "prio", "bands",
                &bands,
            ],
        ));
    }
    let netem: Vec<String> = match spec.impairment {
        Impairment::Delay {
            delay_ms,
            jitter_ms,
        } => {
            vec![
                "delay".into(),
                format!("{delay_ms}ms"),
                format!("{jitter_ms}ms"),
            ]
        }
        Impairment::Loss { percent } => vec!["loss".into(), format!("{percent}%")],
    };
    for n in 0..spec.flows_percent.min(BANDS * BANDS) {
        let parent = format!("{}:{:x}", 100 + n / BANDS, n % BANDS + 1);
        let handle = format!("{}:", 200 + n);
        let mut args = vec![
            "qdisc", "add", "dev", dev, "parent", &parent, "handle", &handle, "netem",
        ];
        args.extend(netem.iter().map(String::as_str));
        cmds.push(tc(prefix, &args));
    }
    let u32_filter = |src: &str, prio: &str, flowid: &str| {
        let proto = if family(src) == Some(true) {
            "ip6"
        } else {
            "ip"
        };
        tc(
            prefix,
            &[
                "filter", "add", "dev", dev, "protocol", "all", "parent", "1:0", "prio", prio,
                "u32", "match", proto, "dst", src, "flowid", flowid,
            ],
        )
    };
    for src in &spec.sources_to_filter {
        cmds.push(u32_filter(src, "1", "1:3"));
    }
    for src in &spec.sources {
        cmds.push(u32_filter(src, "2", "1:1"));
    }
    let divisor = BANDS.to_string();
    let flow_filter = |parent: &str| {
        let base = format!("{parent}1");
        tc(
            prefix,
            &[
                "filter",
                "add",
                "dev",
                dev,
                "parent",
                parent,
                "protocol",
                "all",
                "prio",
                "1",
                "handle",
                "1",
                "flow",
                "hash",
                "keys",
                FLOW_KEYS,
                "divisor",
                &divisor,
                "baseclass",
                &base,
            ],
        )
    };
    cmds.push(flow_filter("10:"));
    for i in 0..BANDS {
        cmds.push(flow_filter(&format!("{}:", 100 + i)));
    }
    cmds
}

/// Tears the tree down: `10:` under `1:1`, then the root.
pub fn stop_commands(prefix: &[String], dev: &str) -> Vec<Vec<String>> {
    vec![
        tc(
            prefix,
            &["qdisc", "del", "dev", dev, "parent", "1:1", "handle", "10:"],
        ),
        tc(
            prefix,
            &["qdisc", "del", "dev", dev, "root", "handle", "1:", "prio"],
        ),
    ]
}

#[derive(Deserialize)]
struct Qdisc {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    options: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Which fault the tree on one interface carries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    pub latency: bool,
    pub packet_loss: bool,
}

/// Reads `tc -j q show` output: a netem with `loss-random` is packet loss, any other
/// netem is latency.
pub fn parse_status(json: &[u8]) -> Result<Running, serde_json::Error> {
    let qdiscs: Vec<Qdisc> = serde_json::from_slice(json)?;
    let mut r = Running::default();
    for q in qdiscs.iter().filter(|q| q.kind == "netem") {
        if q.options
            .as_ref()
            .is_some_and(|o| o.contains_key("loss-random"))
        {
            r.packet_loss = true;
        } else {
            r.latency = true;
        }
    }
    Ok(r)
}

/// The faults running on any of `devs`.
pub async fn check(
    prefix: &[String],
    devs: &[String],
    deadline: Instant,
) -> Result<Running, ExecError> {
    let mut all = Running::default();
    for dev in devs {
        let argv = status_command(prefix, dev);
        let out = exec::run_ok(&argv, deadline).await?;
        let r = parse_status(&out.stdout).map_err(|e| ExecError::Failed {
            command: argv.join(" "),
            status: "unreadable output".to_owned(),
            output: e.to_string(),
        })?;
        all.latency |= r.latency;
        all.packet_loss |= r.packet_loss;
    }
    Ok(all)
}

/// How long a failed start may spend removing what it had built.
const ROLLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// Builds the tree on every interface. Beyond the reference: a start that fails
/// half-way removes the root it created, so no half-built tree is left behind.
pub async fn start(
    prefix: &[String],
    devs: &[String],
    spec: &NetemSpec,
    deadline: Instant,
) -> Result<(), ExecError> {
    let mut built: Vec<&String> = Vec::new();
    for dev in devs {
        let cmds = start_commands(prefix, dev, spec);
        for (i, argv) in cmds.iter().enumerate() {
            if let Err(e) = exec::run_ok(argv, deadline).await {
                tracing::error!(command = %argv.join(" "), error = %e, "Command execution failed");
                if i > 0 {
                    built.push(dev);
                }
                rollback(prefix, &built).await;
                return Err(e);
            }
        }
        built.push(dev);
    }
    Ok(())
}

async fn rollback(prefix: &[String], devs: &[&String]) {
    let deadline = Instant::now() + ROLLBACK_BUDGET;
    for dev in devs {
        let argv = tc(
            prefix,
            &["qdisc", "del", "dev", dev, "root", "handle", "1:", "prio"],
        );
        if let Err(e) = exec::run_ok(&argv, deadline).await {
            tracing::warn!(command = %argv.join(" "), error = %e, "Could not remove a half-built fault");
        }
    }
}

/// Removes the tree from every interface.
pub async fn stop(prefix: &[String], devs: &[String], deadline: Instant) -> Result<(), ExecError> {
    for dev in devs {
        for argv in stop_commands(prefix, dev) {
            exec::run_ok(&argv, deadline).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_commands() {
        let spec = NetemSpec {
            impairment: Impairment::Delay {
                delay_ms: 100,
                jitter_ms: 10,
            },
            sources: vec!["203.0.113.0/24".into(), "2001:db8::1".into()],
            sources_to_filter: vec!["203.0.113.7".into()],
            flows_percent: 12,
        };
        let cmds: Vec<String> = start_commands(&[], "eth0", &spec)
            .iter()
            .map(|c| c.join(" "))
            .collect();
        assert_eq!(
            cmds[0],
            "tc qdisc add dev eth0 root handle 1: prio priomap 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2"
        );
        assert_eq!(
            cmds[1],
            "tc qdisc add dev eth0 parent 1:1 handle 10: prio bands 10"
        );
        assert_eq!(
            cmds[2],
            "tc qdisc add dev eth0 parent 10:1 handle 100: prio bands 10"
        );
        assert_eq!(
            cmds[11],
            "tc qdisc add dev eth0 parent 10:a handle 109: prio bands 10"
        );
        assert_eq!(
            cmds[12],
            "tc qdisc add dev eth0 parent 100:1 handle 200: netem delay 100ms 10ms"
        );
        assert_eq!(
            cmds[21],
            "tc qdisc add dev eth0 parent 100:a handle 209: netem delay 100ms 10ms"
        );
        assert_eq!(
            cmds[22],
            "tc qdisc add dev eth0 parent 101:1 handle 210: netem delay 100ms 10ms"
        );
        assert_eq!(
            cmds[23],
            "tc qdisc add dev eth0 parent 101:2 handle 211: netem delay 100ms 10ms"
        );
        assert_eq!(
            cmds[24],
            "tc filter add dev eth0 protocol all parent 1:0 prio 1 u32 match ip dst 203.0.113.7 flowid 1:3"
        );
        assert_eq!(
            cmds[25],
            "tc filter add dev eth0 protocol all parent 1:0 prio 2 u32 match ip dst 203.0.113.0/24 flowid 1:1"
        );
        assert_eq!(
            cmds[26],
            "tc filter add dev eth0 protocol all parent 1:0 prio 2 u32 match ip6 dst 2001:db8::1 flowid 1:1"
        );
        assert_eq!(
            cmds[27],
            "tc filter add dev eth0 parent 10: protocol all prio 1 handle 1 flow hash keys src,dst,proto,proto-src,proto-dst divisor 10 baseclass 10:1"
        );
        assert_eq!(
            cmds[37],
            "tc filter add dev eth0 parent 109: protocol all prio 1 handle 1 flow hash keys src,dst,proto,proto-src,proto-dst divisor 10 baseclass 109:1"
        );
        assert_eq!(cmds.len(), 38);

        let loss = NetemSpec {
            impairment: Impairment::Loss { percent: 7 },
            sources: vec!["203.0.113.0/24".into()],
            sources_to_filter: vec![],
            flows_percent: 100,
        };
        let cmds: Vec<String> = start_commands(&[], "eth0", &loss)
            .iter()
            .map(|c| c.join(" "))
            .collect();
        assert_eq!(
            cmds[12],
            "tc qdisc add dev eth0 parent 100:1 handle 200: netem loss 7%"
        );
        assert_eq!(
            cmds[111],
            "tc qdisc add dev eth0 parent 109:a handle 299: netem loss 7%"
        );
        assert_eq!(cmds.len(), 12 + 100 + 1 + 11);

        let stop: Vec<String> = stop_commands(&[], "eth0")
            .iter()
            .map(|c| c.join(" "))
            .collect();
        assert_eq!(
            stop,
            [
                "tc qdisc del dev eth0 parent 1:1 handle 10:",
                "tc qdisc del dev eth0 root handle 1: prio"
            ]
        );
        assert_eq!(
            status_command(&[], "eth0").join(" "),
            "tc -j q show dev eth0 parent 100:1"
        );
    }

    #[test]
    fn status_output() {
        assert_eq!(parse_status(b"[]").unwrap(), Running::default());
        let latency = br#"[{"kind":"netem","handle":"200:","parent":"100:1","options":{"limit":1000,"delay":{"delay":0.1,"jitter":0.01,"correlation":0},"ecn":false,"gap":0}}]"#;
        assert_eq!(
            parse_status(latency).unwrap(),
            Running {
                latency: true,
                packet_loss: false
            }
        );
        let loss = br#"[{"kind":"netem","handle":"200:","options":{"limit":1000,"loss-random":{"loss":0.07,"correlation":0},"ecn":false,"gap":0}}]"#;
        assert_eq!(
            parse_status(loss).unwrap(),
            Running {
                latency: false,
                packet_loss: true
            }
        );
        assert_eq!(
            parse_status(br#"[{"kind":"pfifo","handle":"8001:","options":{"limit":1000}}]"#)
                .unwrap(),
            Running::default()
        );
        assert!(parse_status(b"not json").is_err());
    }
}
