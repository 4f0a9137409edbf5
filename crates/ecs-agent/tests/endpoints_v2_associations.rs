//! Task metadata paths beyond the route table, on real servers with real tasks:
//! the v2 paths from bridge and host callers (spec §4.6: v2 is awsvpc-only, so every
//! non-awsvpc caller gets the task-by-IP error) and the association paths of §4.10
//! with a task whose ACS payload carries `associations`.

mod endpoints_support;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use ecs_agent::endpoints::{self, EndpointConfig};
use endpoints_support::*;
use serde_json::{Value, json};

fn associated_task(arn: &str) -> Value {
    let mut task = web_task(
        arn,
        json!({
            "associations": [
                {"type": "gpu", "name": "0", "containers": ["web"],
                 "content": {"encoding": "identity", "value": "{\"GpuId\":\"0\"}"}},
                {"type": "gpu", "name": "1", "containers": ["web", "side"],
                 "content": {"encoding": "base64", "value": "eyJHcHVJZCI6IjEifQ=="}},
                {"type": "elastic-inference", "name": "device_1", "containers": ["side"],
                 "content": {"encoding": "identity", "value": "{\"url\": \"https://ei.example/1\"}"}}
            ]
        }),
    );
    task["containers"]
        .as_array_mut()
        .expect("containers")
        .push(json!({
            "name": "side", "image": image(), "essential": false,
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            "cpu": 10, "memory": 32,
            "dockerConfig": {"hostConfig": "{\"NetworkMode\":\"bridge\"}", "version": "1.17"}
        }));
    task
}

/// A JSON string body, as the metadata handlers write errors.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("string")
}

#[tokio::test]
async fn association_paths_answer_from_the_acs_payload() {
    let mut agent = agent(Options::default()).await;
    let arn = unique_arn();
    agent.run(associated_task(&arn)).await;
    let web = agent.endpoint_id(&arn, "web");
    let side = agent.endpoint_id(&arn, "side");

    // List form: names of that type listing the caller's container; null when none.
    for v in ["v3", "v4"] {
        let cases: [(String, &str); 6] = [
            (
                format!("/{v}/{web}/associations/gpu"),
                r#"{"Associations":["0","1"]}"#,
            ),
            (
                format!("/{v}/{side}/associations/gpu"),
                r#"{"Associations":["1"]}"#,
            ),
            (
                format!("/{v}/{side}/associations/elastic-inference"),
                r#"{"Associations":["device_1"]}"#,
            ),
            (
                format!("/{v}/{web}/associations/elastic-inference"),
                r#"{"Associations":null}"#,
            ),
            (
                format!("/{v}/{web}/associations/nothing-of-this-type"),
                r#"{"Associations":null}"#,
            ),
            (
                format!("/{v}/{web}/associations/"),
                r#"{"Associations":null}"#,
            ),
        ];
        for (path, body) in cases {
            let a = get(agent.task, &path).await;
            assert_eq!((a.status, a.text().as_str()), (200, body), "{path}");
            assert_eq!(a.header("content-type"), Some("application/json"), "{path}");
        }

        // Single form: the content's value, raw (a base64 value is not decoded), for
        // any association of the caller's task.
        let cases: [(String, &str); 4] = [
            (format!("/{v}/{web}/associations/gpu/0"), r#"{"GpuId":"0"}"#),
            (
                format!("/{v}/{side}/associations/gpu/1"),
                "eyJHcHVJZCI6IjEifQ==",
            ),
            (
                format!("/{v}/{side}/associations/elastic-inference/device_1"),
                r#"{"url": "https://ei.example/1"}"#,
            ),
            (
                format!("/{v}/{web}/associations/elastic-inference/device_1"),
                r#"{"url": "https://ei.example/1"}"#,
            ),
        ];
        for (path, body) in cases {
            let a = get(agent.task, &path).await;
            assert_eq!((a.status, a.text().as_str()), (200, body), "{path}");
            assert_eq!(a.header("content-type"), Some("application/json"), "{path}");
        }

        // Every error row: 400 and a JSON string.
        let p = format!("{} container associations handler: ", v.to_uppercase());
        let cases: [(String, String); 7] = [
            (
                format!("/{v}/nope/associations/gpu"),
                format!(
                    "{p}unable to get container id from request: unable to get docker ID from v3 endpoint ID: nope"
                ),
            ),
            (
                format!("/{v}/nope/associations/gpu/0"),
                format!(
                    "{p}unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope"
                ),
            ),
            (
                format!("/{v}/nope/associations/gpu/"),
                format!(
                    "{p}unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope"
                ),
            ),
            (
                format!("/{v}/{web}/associations/gpu/"),
                format!("{p}unable to get association name from request"),
            ),
            (
                format!("/{v}/{web}/associations/gpu/7"),
                "Unable to write container association response: unable to get association from association type gpu and association name 7".to_owned(),
            ),
            (
                format!("/{v}/{web}/associations/elastic-inference/0"),
                "Unable to write container association response: unable to get association from association type elastic-inference and association name 0".to_owned(),
            ),
            (
                format!("/{v}/{web}/associations/gpu/0/extra"),
                "Unable to write container association response: unable to get association from association type gpu and association name 0/extra".to_owned(),
            ),
        ];
        for (path, body) in cases {
            let a = get(agent.task, &path).await;
            assert_eq!((a.status, a.text()), (400, quoted(&body)), "{path}");
            assert_eq!(a.header("content-type"), Some("application/json"), "{path}");
        }
    }

    // A task without associations answers null to every list and an error to every name.
    let plain = unique_arn();
    agent.run(web_task(&plain, json!({}))).await;
    let id = agent.endpoint_id(&plain, "web");
    let a = get(agent.task, &format!("/v4/{id}/associations/gpu")).await;
    assert_eq!(
        (a.status, a.text().as_str()),
        (200, r#"{"Associations":null}"#)
    );
    let a = get(agent.task, &format!("/v4/{id}/associations/gpu/0")).await;
    assert_eq!(
        (a.status, a.text()),
        (
            400,
            quoted(
                "Unable to write container association response: unable to get association from association type gpu and association name 0"
            )
        )
    );
}

/// The v2 paths with a real task's Docker IDs: all of them need the caller's awsvpc
/// task, found by IP, before anything else.
fn v2_paths(full: &str) -> Vec<String> {
    let short = &full[..12];
    vec![
        "/v2/metadata".to_owned(),
        "/v2/metadata/".to_owned(),
        "/v2/metadataWithTags".to_owned(),
        "/v2/metadataWithTags/".to_owned(),
        format!("/v2/metadata/{full}"),
        format!("/v2/metadata/{short}"),
        "/v2/metadata/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_owned(),
        "/v2/stats".to_owned(),
        "/v2/stats/".to_owned(),
        format!("/v2/stats/{full}"),
        format!("/v2/stats/{short}"),
    ]
}

fn task_by_ip_error(ip: &str) -> String {
    quoted(&format!(
        "Unable to get task arn from request: unable to associate '{ip}' with task"
    ))
}

fn docker_text(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Sends `GET <path>` for each path from inside the container with busybox `nc`; the
/// raw answers in order. Runs on a blocking thread: the servers answering share the
/// test's runtime.
async fn from_container(docker_id: &str, server: SocketAddr, paths: &[String]) -> Vec<String> {
    // `nc … -e PROG` (busybox wants -e last) hands the socket to a script that writes
    // the request and then reads the answer until the server closes (HTTP/1.0), so the
    // request side is never half-closed early (the server drops half-closed
    // connections).
    // All at once, then the answers in order.
    let mut script = String::new();
    for (i, p) in paths.iter().enumerate() {
        script.push_str(&format!(
            "printf '%s\\n' '#!/bin/sh' \"printf 'GET {p} HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n'; cat > /tmp/v2-answer-{i}\" > /tmp/v2-request-{i}; chmod +x /tmp/v2-request-{i}; nc -w 10 {} {} -e /tmp/v2-request-{i} & ",
            server.ip(),
            server.port()
        ));
    }
    script.push_str("wait; ");
    for i in 0..paths.len() {
        script.push_str(&format!("cat /tmp/v2-answer-{i}; echo '=====';"));
    }
    let out = ecs_test_support::docker::exec_sh(docker_id, &script).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let answers: Vec<String> = text
        .split("=====\n")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(answers.len(), paths.len(), "{text:?} {out:?}");
    answers
}

#[tokio::test]
async fn v2_paths_refuse_bridge_and_host_callers() {
    let mut agent = agent(Options::default()).await;
    let arn = unique_arn();
    agent.run(web_task(&arn, json!({}))).await;
    let docker_id = agent.docker_id(&arn, "web");
    let paths = v2_paths(&docker_id);

    // A host process (127.0.0.1).
    let expected = task_by_ip_error("127.0.0.1");
    for path in &paths {
        let a = get(agent.task, path).await;
        assert_eq!((a.status, a.text()), (400, expected.clone()), "{path}");
        assert_eq!(a.header("content-type"), Some("application/json"), "{path}");
    }

    // The task's own bridge-mode container, reaching the same endpoints served on the
    // docker0 gateway address (what 169.254.170.2 is redirected to is the loopback
    // server; the peer address is what matters here).
    let gateway: IpAddr = docker_text(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
    ])
    .parse()
    .expect("gateway address");
    let config = EndpointConfig {
        introspection_addr: SocketAddr::new(gateway, 0),
        task_addr: SocketAddr::new(gateway, 0),
        rps_steady: 1000,
        rps_burst: 1000,
        runtime_stats: false,
        license_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    let bridge_side = endpoints::serve(agent.state.clone(), &config, std::future::pending())
        .await
        .expect("serve on the bridge gateway");
    let server = bridge_side.task_addr.expect("bound on the gateway");
    let container_ip = docker_text(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.IPAddress}}",
        &docker_id,
    ]);
    assert!(
        !container_ip.is_empty(),
        "bridge container without an address"
    );
    let expected = task_by_ip_error(&container_ip);
    let answers = from_container(&docker_id, server, &paths).await;
    for (path, answer) in paths.iter().zip(answers) {
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{path}: {answer:?}"));
        assert!(head.starts_with("HTTP/1.0 400 "), "{path}: {head}");
        assert!(
            head.lines()
                .any(|l| l.eq_ignore_ascii_case("content-type: application/json")),
            "{path}: {head}"
        );
        assert_eq!(body, expected, "{path}");
    }
    bridge_side.shutdown().await;
}
