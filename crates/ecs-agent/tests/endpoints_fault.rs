//! Fault injection through the agent API (spec endpoints §4.12) on the real task server
//! with real busybox tasks: blackhole port faults change the host's iptables (and a
//! TCP connect shows the drop), latency and packet loss faults run tc on the host's
//! default-route interface when the kernel has the qdiscs, and every refusal comes
//! back with the reference's status and text.

mod endpoints_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use ecs_agent::endpoints::fault::target::default_routes;
use endpoints_support::*;
use serde_json::{Value, json};

/// Held while a test changes the host's iptables or qdiscs: the 169.254.170.2 rule
/// tests (here and in ecs-local) take it too.
const RULES_LOCK: &str = "/tmp/ecs-agent-netrules-test.lock";

fn lock_rules() -> std::fs::File {
    let lock = std::fs::File::create(RULES_LOCK).unwrap();
    lock.lock().unwrap();
    lock
}

/// Each request comes from a loopback address of its own, so the fault routes'
/// 1-per-5-s limiter (per client IP and path) never answers a test's next step.
static NEXT_SOURCE: AtomicU8 = AtomicU8::new(2);

fn fresh_source() -> IpAddr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed);
    assert!((2..255).contains(&n), "out of loopback source addresses");
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

async fn send_from(src: IpAddr, addr: SocketAddr, method: &str, path: &str, body: &str) -> Answer {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_from(src, addr, req.as_bytes())
        .await
        .unwrap_or_else(|| panic!("no answer for {method} {path}"))
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> Answer {
    send_from(fresh_source(), addr, "POST", path, body).await
}

fn fault_path(id: &str, fault: &str, op: &str) -> String {
    format!("/api/{id}/fault/v1/{fault}/{op}")
}

#[track_caller]
fn assert_answer(a: &Answer, status: u16, body: &str) {
    assert_eq!((a.status, a.text().as_str()), (status, body), "{a:?}");
    assert_eq!(a.header("content-type"), Some("application/json"));
}

fn ok_status(s: &str) -> String {
    format!(r#"{{"Status":"{s}"}}"#)
}

fn err_body(e: &str) -> String {
    serde_json::to_string(&json!({ "Error": e })).unwrap()
}

/// A long-running busybox task in `mode` (host or bridge).
fn task(arn: &str, mode: &str, fault_injection: bool) -> Value {
    json!({
        "arn": arn, "family": "faulttest", "version": "1", "desiredStatus": "RUNNING",
        "networkMode": mode, "launchType": "EC2", "enableFaultInjection": fault_injection,
        "containers": [{
            "name": "app", "image": image(), "essential": true,
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            "cpu": 10, "memory": 32,
            "containerArn": format!("{arn}/container/app"),
            "dockerConfig": {
                "hostConfig": format!("{{\"NetworkMode\":\"{mode}\"}}"),
                "version": "1.17"
            }
        }]
    })
}

fn run(tool: &str, args: &[&str]) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn rules(tool: &str, chain: &str) -> Option<Vec<String>> {
    let out = run(tool, &["-w", "5", "-S", chain]);
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    })
}

/// Removes the test's chains from both families even when the test fails.
struct Chains(Vec<(String, &'static str)>);

impl Chains {
    fn clean(&self) {
        for (chain, builtin) in &self.0 {
            for tool in ["iptables", "ip6tables"] {
                let _ = run(tool, &["-w", "5", "-D", builtin, "-j", chain]);
                let _ = run(tool, &["-w", "5", "-F", chain]);
                let _ = run(tool, &["-w", "5", "-X", chain]);
            }
        }
    }
}

impl Drop for Chains {
    fn drop(&mut self) {
        self.clean();
    }
}

async fn connects(port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(1500),
            tokio::net::TcpStream::connect(("127.0.0.1", port))
        )
        .await,
        Ok(Ok(_))
    )
}

/// Two listeners on unusual ports: the one to blackhole and a control.
async fn two_listeners() -> (tokio::net::TcpListener, tokio::net::TcpListener) {
    loop {
        let port = 30000 + rand::random::<u16>() % 9000;
        let Ok(a) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await else {
            continue;
        };
        let Ok(b) = tokio::net::TcpListener::bind(("127.0.0.1", port + 1)).await else {
            continue;
        };
        return (a, b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_port_fault_drops_and_restores_traffic_on_a_host_task() {
    let _lock = lock_rules();
    let (target, control) = two_listeners().await;
    let port = target.local_addr().unwrap().port();
    let control_port = control.local_addr().unwrap().port();
    let ingress = format!("ingress-tcp-{port}");
    let chains = Chains(vec![
        (ingress.clone(), "INPUT"),
        ("egress-tcp-80".to_owned(), "OUTPUT"),
    ]);
    chains.clean();

    let mut agent = agent(Options::default()).await;
    let arn = unique_arn();
    agent.run(task(&arn, "host", true)).await;
    let id = agent.endpoint_id(&arn, "app");
    let path = |op| fault_path(&id, "network-blackhole-port", op);
    let body = format!(r#"{{"Port":{port},"Protocol":"tcp","TrafficType":"ingress"}}"#);

    assert_answer(
        &post(agent.task, &path("status"), &body).await,
        200,
        &ok_status("not-running"),
    );
    assert!(
        connects(port).await,
        "port {port} reachable before the fault"
    );

    assert_answer(
        &post(agent.task, &path("start"), &body).await,
        200,
        &ok_status("running"),
    );
    let check = run(
        "iptables",
        &[
            "-w",
            "5",
            "-C",
            &ingress,
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-j",
            "DROP",
        ],
    );
    assert!(check.status.success(), "{check:?}");
    assert_eq!(
        rules("iptables", &ingress).unwrap(),
        [
            format!("-N {ingress}"),
            format!("-A {ingress} -p tcp -m tcp --dport {port} -j DROP")
        ]
    );
    assert!(
        rules("iptables", "INPUT").unwrap()[1..].first() == Some(&format!("-A INPUT -j {ingress}")),
        "chain inserted first in INPUT: {:?}",
        rules("iptables", "INPUT")
    );
    assert_eq!(
        rules("ip6tables", &ingress).unwrap(),
        [
            format!("-N {ingress}"),
            format!("-A {ingress} -p tcp -m tcp --dport {port} -j DROP")
        ]
    );
    assert!(
        !connects(port).await,
        "port {port} still reachable under the fault"
    );
    assert!(
        connects(control_port).await,
        "control port {control_port} cut off"
    );

    assert_answer(
        &post(agent.task, &path("status"), &body).await,
        200,
        &ok_status("running"),
    );
    // Starting again is a no-op: no second set of rules.
    assert_answer(
        &post(agent.task, &path("start"), &body).await,
        200,
        &ok_status("running"),
    );
    assert_eq!(rules("iptables", &ingress).unwrap().len(), 2);

    assert_answer(
        &post(agent.task, &path("stop"), &body).await,
        200,
        &ok_status("stopped"),
    );
    assert!(
        connects(port).await,
        "port {port} unreachable after the fault stopped"
    );
    assert_eq!(rules("iptables", &ingress), None, "IPv4 chain left behind");
    assert_eq!(rules("ip6tables", &ingress), None, "IPv6 chain left behind");
    assert!(
        !rules("iptables", "INPUT")
            .unwrap()
            .iter()
            .any(|r| r.contains(&ingress)),
        "INPUT still jumps to {ingress}"
    );
    assert_answer(
        &post(agent.task, &path("status"), &body).await,
        200,
        &ok_status("not-running"),
    );
    assert_answer(
        &post(agent.task, &path("stop"), &body).await,
        200,
        &ok_status("stopped"),
    );

    // Egress on port 80 keeps TMDS (169.254.170.2) reachable.
    let egress = r#"{"Port":80,"Protocol":"tcp","TrafficType":"egress","SourcesToFilter":["203.0.113.9","2001:db8::9"]}"#;
    assert_answer(
        &post(agent.task, &path("start"), egress).await,
        200,
        &ok_status("running"),
    );
    let v4 = rules("iptables", "egress-tcp-80");
    let v6 = rules("ip6tables", "egress-tcp-80");
    let output = rules("iptables", "OUTPUT").unwrap();
    assert_answer(
        &post(agent.task, &path("stop"), egress).await,
        200,
        &ok_status("stopped"),
    );
    assert_eq!(
        v4.unwrap(),
        [
            "-N egress-tcp-80",
            "-A egress-tcp-80 -d 203.0.113.9/32 -p tcp -m tcp --dport 80 -j ACCEPT",
            "-A egress-tcp-80 -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -j ACCEPT",
            "-A egress-tcp-80 -p tcp -m tcp --dport 80 -j DROP",
        ]
    );
    assert_eq!(
        v6.unwrap(),
        [
            "-N egress-tcp-80",
            "-A egress-tcp-80 -d 2001:db8::9/128 -p tcp -m tcp --dport 80 -j ACCEPT",
            "-A egress-tcp-80 -p tcp -m tcp --dport 80 -j DROP",
        ]
    );
    assert_eq!(
        output.get(1).map(String::as_str),
        Some("-A OUTPUT -j egress-tcp-80")
    );
    assert_eq!(rules("iptables", "egress-tcp-80"), None);
    assert_eq!(rules("ip6tables", "egress-tcp-80"), None);
    drop(chains);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_requests_are_refused_in_the_reference_order() {
    let mut agent = agent(Options::default()).await;
    let enabled = unique_arn();
    let disabled = unique_arn();
    let bridge = unique_arn();
    agent.run(task(&enabled, "host", true)).await;
    agent.run(task(&disabled, "host", false)).await;
    agent.run(task(&bridge, "bridge", true)).await;
    let id = agent.endpoint_id(&enabled, "app");
    let bh = |op| fault_path(&id, "network-blackhole-port", op);
    let lat = fault_path(&id, "network-latency", "start");
    let loss = fault_path(&id, "network-packet-loss", "start");

    // Body checks come first, on every operation that reads a body.
    let blackhole_cases: &[(&str, &str)] = &[
        ("", "required request body is missing"),
        ("  \n", "required request body is missing"),
        ("{", "unexpected EOF"),
        (
            "{x}",
            "invalid character 'x' looking for beginning of object key string",
        ),
        (
            r#"{"Port":"80"}"#,
            "json: cannot unmarshal string into Go struct field NetworkBlackholePortRequest.Port of type uint16",
        ),
        (
            r#"{"Port":65536}"#,
            "json: cannot unmarshal number 65536 into Go struct field NetworkBlackholePortRequest.Port of type uint16",
        ),
        ("{}", "required parameter Port is missing"),
        (r#"{"Port":1234}"#, "required parameter Protocol is missing"),
        (
            r#"{"Port":1234,"Protocol":"tcp"}"#,
            "required parameter TrafficType is missing",
        ),
        (
            r#"{"Port":1234,"Protocol":"sctp","TrafficType":"ingress"}"#,
            "invalid value sctp for parameter Protocol",
        ),
        (
            r#"{"Port":1234,"Protocol":"tcp","TrafficType":"inbound"}"#,
            "invalid value inbound for parameter TrafficType",
        ),
        (
            r#"{"Port":1234,"Protocol":"tcp","TrafficType":"ingress","SourcesToFilter":["10.0.0.300"]}"#,
            "invalid value 10.0.0.300 for parameter SourcesToFilter",
        ),
    ];
    for op in ["start", "stop", "status"] {
        for (body, text) in blackhole_cases {
            assert_answer(&post(agent.task, &bh(op), body).await, 400, &err_body(text));
        }
    }
    let sources = r#""Sources":["203.0.113.0/24"]"#;
    let latency_cases: Vec<(String, &str)> = vec![
        (String::new(), "required request body is missing"),
        (
            "{}".into(),
            "required parameter DelayMilliseconds is missing",
        ),
        (
            r#"{"DelayMilliseconds":10}"#.into(),
            "required parameter JitterMilliseconds is missing",
        ),
        (
            r#"{"DelayMilliseconds":0,"JitterMilliseconds":0}"#.into(),
            "required either DelayMilliseconds or JitterMilliseconds to be non-zero",
        ),
        (
            r#"{"DelayMilliseconds":10,"JitterMilliseconds":0}"#.into(),
            "required parameter Sources is missing",
        ),
        (
            r#"{"DelayMilliseconds":10,"JitterMilliseconds":0,"Sources":["example.com"]}"#.into(),
            "invalid value example.com for parameter Sources",
        ),
        (
            format!(
                r#"{{"DelayMilliseconds":10,"JitterMilliseconds":0,{sources},"SourcesToFilter":["1.2.3.4/40"]}}"#
            ),
            "invalid value 1.2.3.4/40 for parameter SourcesToFilter",
        ),
        (
            format!(
                r#"{{"DelayMilliseconds":10,"JitterMilliseconds":0,{sources},"FlowsPercent":0}}"#
            ),
            "invalid value 0 for parameter flowsPercent",
        ),
        (
            r#"{"DelayMilliseconds":-5}"#.into(),
            "json: cannot unmarshal number -5 into Go struct field NetworkLatencyRequest.DelayMilliseconds of type uint64",
        ),
    ];
    for (body, text) in &latency_cases {
        assert_answer(&post(agent.task, &lat, body).await, 400, &err_body(text));
    }
    let loss_cases: Vec<(String, &str)> = vec![
        (String::new(), "required request body is missing"),
        ("{}".into(), "required parameter LossPercent is missing"),
        (
            r#"{"LossPercent":0}"#.into(),
            "invalid value 0 for parameter LossPercent",
        ),
        (
            r#"{"LossPercent":101}"#.into(),
            "invalid value 101 for parameter LossPercent",
        ),
        (
            r#"{"LossPercent":5}"#.into(),
            "required parameter Sources is missing",
        ),
        (
            format!(r#"{{"LossPercent":5,{sources},"FlowsPercent":101}}"#),
            "invalid value 101 for parameter flowsPercent",
        ),
    ];
    for (body, text) in &loss_cases {
        assert_answer(&post(agent.task, &loss, body).await, 400, &err_body(text));
    }

    // Then the task: unknown endpoint ID, fault injection off, unsupported network mode.
    let good = r#"{"Port":1234,"Protocol":"tcp","TrafficType":"ingress"}"#;
    let unknown = uuid::Uuid::new_v4().to_string();
    for (fault, body) in [
        ("network-blackhole-port", good),
        ("network-latency", ""),
        ("network-packet-loss", ""),
    ] {
        assert_answer(
            &post(agent.task, &fault_path(&unknown, fault, "status"), body).await,
            404,
            &err_body(&format!(
                "unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {unknown}"
            )),
        );
    }
    // An empty ID never reaches the route: path cleaning redirects `//` first.
    let a = post(agent.task, &fault_path("", "network-latency", "stop"), "").await;
    assert_eq!(a.status, 301, "{a:?}");
    assert_eq!(
        a.header("location"),
        Some("/api/fault/v1/network-latency/stop")
    );
    let off = agent.endpoint_id(&disabled, "app");
    for (fault, op, body) in [
        ("network-blackhole-port", "start", good),
        ("network-latency", "status", ""),
        ("network-packet-loss", "stop", ""),
    ] {
        assert_answer(
            &post(agent.task, &fault_path(&off, fault, op), body).await,
            400,
            &err_body(&format!(
                "enableFaultInjection is not enabled for task: {disabled}"
            )),
        );
    }
    let br = agent.endpoint_id(&bridge, "app");
    let latency_body = format!(r#"{{"DelayMilliseconds":10,"JitterMilliseconds":0,{sources}}}"#);
    for (fault, op, body) in [
        ("network-blackhole-port", "start", good),
        ("network-latency", "start", latency_body.as_str()),
        ("network-packet-loss", "status", ""),
    ] {
        assert_answer(
            &post(agent.task, &fault_path(&br, fault, op), body).await,
            400,
            &err_body("bridge mode is not supported. Please use either host or awsvpc mode."),
        );
    }

    // Only POST is served; other shapes are not fault routes at all.
    for method in ["GET", "PUT", "DELETE"] {
        let a = send_from(fresh_source(), agent.task, method, &bh("status"), good).await;
        assert_eq!((a.status, a.text().as_str()), (405, ""), "{method}: {a:?}");
    }
    for path in [
        fault_path(&id, "network-blackhole-port", "restart"),
        fault_path(&id, "cpu-stress", "start"),
        format!("{}/", bh("start")),
        format!("/api/{id}/fault/v2/network-latency/start"),
    ] {
        let a = post(agent.task, &path, good).await;
        assert_eq!(
            (a.status, a.text().as_str()),
            (404, "404 page not found\n"),
            "{path}"
        );
    }

    // One request per 5 s per client IP and path; another path or IP is its own budget.
    let src = fresh_source();
    let limited = fault_path(&unknown, "network-latency", "status");
    assert_eq!(
        send_from(src, agent.task, "POST", &limited, "")
            .await
            .status,
        404
    );
    let again = send_from(src, agent.task, "POST", &limited, "").await;
    assert_eq!(again.status, 429, "{again:?}");
    assert_eq!(again.text(), "You have reached maximum request limit");
    assert_eq!(
        again.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let other_path = fault_path(&unknown, "network-packet-loss", "status");
    assert_eq!(
        send_from(src, agent.task, "POST", &other_path, "")
            .await
            .status,
        404
    );
    assert_eq!(post(agent.task, &limited, "").await.status, 404);
}

/// Whether this kernel can build the latency/packet loss tree (prio, netem and the
/// flow classifier), tried in a throwaway namespace.
fn kernel_has_netem_tree() -> bool {
    let ns = format!("ecs-fault-probe-{}", std::process::id());
    assert!(
        run("ip", &["netns", "add", &ns]).status.success(),
        "ip netns add"
    );
    let tc = |args: &[&str]| {
        let mut full = vec!["netns", "exec", &ns, "tc"];
        full.extend_from_slice(args);
        run("ip", &full).status.success()
    };
    let supported = tc(&["qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio"])
        && tc(&[
            "qdisc", "add", "dev", "lo", "parent", "1:1", "handle", "10:", "netem", "delay", "1ms",
        ])
        && tc(&[
            "filter",
            "add",
            "dev",
            "lo",
            "parent",
            "1:",
            "protocol",
            "all",
            "prio",
            "1",
            "handle",
            "1",
            "flow",
            "hash",
            "keys",
            "dst",
            "divisor",
            "2",
            "baseclass",
            "1:1",
        ]);
    let _ = run("ip", &["netns", "del", &ns]);
    supported
}

fn qdiscs(dev: &str) -> Vec<Value> {
    let out = run("tc", &["-j", "q", "show", "dev", dev]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("tc JSON")
}

fn has_fault_root(dev: &str) -> bool {
    qdiscs(dev)
        .iter()
        .any(|q| q["root"] == true && q["handle"] == "1:" && q["kind"] == "prio")
}

/// Removes a fault tree the test left on the interface.
struct Tree(String);

impl Drop for Tree {
    fn drop(&mut self) {
        if has_fault_root(&self.0) {
            let _ = run(
                "tc",
                &[
                    "qdisc", "del", "dev", &self.0, "root", "handle", "1:", "prio",
                ],
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_packet_loss_faults_on_a_host_task() {
    let _lock = lock_rules();
    let routes = default_routes(std::path::Path::new("/proc/net")).expect("route tables");
    let dev = routes.devices.first().expect("a default route").clone();
    assert!(
        !has_fault_root(&dev),
        "a fault tree is already on {dev}: {:?}",
        qdiscs(&dev)
    );
    let before = qdiscs(&dev);
    let _tree = Tree(dev.clone());
    let supported = kernel_has_netem_tree();

    let mut agent = agent(Options::default()).await;
    let arn = unique_arn();
    agent.run(task(&arn, "host", true)).await;
    let id = agent.endpoint_id(&arn, "app");
    let lat = |op| fault_path(&id, "network-latency", op);
    let loss = |op| fault_path(&id, "network-packet-loss", op);
    // TEST-NET-3 only: no real traffic is ever delayed or dropped.
    let latency = r#"{"DelayMilliseconds":100,"JitterMilliseconds":10,"Sources":["203.0.113.0/24"],"SourcesToFilter":["203.0.113.7"],"FlowsPercent":50}"#;
    let packet_loss = r#"{"LossPercent":10,"Sources":["203.0.113.0/24"]}"#;

    for path in [lat("status"), loss("status")] {
        assert_answer(
            &post(agent.task, &path, "").await,
            200,
            &ok_status("not-running"),
        );
    }
    if !supported {
        // The reference's answer when a tc command fails; nothing is left behind.
        for (path, body) in [(lat("start"), latency), (loss("start"), packet_loss)] {
            assert_answer(
                &post(agent.task, &path, body).await,
                500,
                &err_body("internal error"),
            );
            assert_eq!(qdiscs(&dev), before, "qdiscs changed on {dev}");
        }
        for path in [lat("status"), loss("status")] {
            assert_answer(
                &post(agent.task, &path, "").await,
                200,
                &ok_status("not-running"),
            );
        }
        for path in [lat("stop"), loss("stop")] {
            assert_answer(
                &post(agent.task, &path, "").await,
                200,
                &ok_status("stopped"),
            );
        }
        eprintln!("kernel without prio/netem/flow: checked the 500 path");
        return;
    }

    assert_answer(
        &post(agent.task, &lat("start"), latency).await,
        200,
        &ok_status("running"),
    );
    assert!(has_fault_root(&dev), "{:?}", qdiscs(&dev));
    let leaves = run("tc", &["-j", "q", "show", "dev", &dev, "parent", "100:1"]);
    let leaves: Vec<Value> = serde_json::from_slice(&leaves.stdout).unwrap();
    assert_eq!(leaves[0]["kind"], "netem", "{leaves:?}");
    assert_answer(
        &post(agent.task, &lat("status"), "").await,
        200,
        &ok_status("running"),
    );
    assert_answer(
        &post(agent.task, &loss("status"), "").await,
        200,
        &ok_status("not-running"),
    );
    let latency_running = err_body("There is already one network latency fault running");
    assert_answer(
        &post(agent.task, &lat("start"), latency).await,
        409,
        &latency_running,
    );
    assert_answer(
        &post(agent.task, &loss("start"), packet_loss).await,
        409,
        &latency_running,
    );
    // Stopping the other kind leaves this one alone.
    assert_answer(
        &post(agent.task, &loss("stop"), "").await,
        200,
        &ok_status("stopped"),
    );
    assert!(has_fault_root(&dev));
    assert_answer(
        &post(agent.task, &lat("stop"), "").await,
        200,
        &ok_status("stopped"),
    );
    assert!(!has_fault_root(&dev), "{:?}", qdiscs(&dev));

    assert_answer(
        &post(agent.task, &loss("start"), packet_loss).await,
        200,
        &ok_status("running"),
    );
    assert_answer(
        &post(agent.task, &loss("status"), "").await,
        200,
        &ok_status("running"),
    );
    assert_answer(
        &post(agent.task, &lat("status"), "").await,
        200,
        &ok_status("not-running"),
    );
    assert_answer(
        &post(agent.task, &lat("start"), latency).await,
        409,
        &err_body("There is already one network packet loss fault running"),
    );
    assert_answer(
        &post(agent.task, &loss("stop"), "").await,
        200,
        &ok_status("stopped"),
    );
    assert_eq!(qdiscs(&dev), before, "qdiscs changed on {dev}");
}
