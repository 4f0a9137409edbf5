//! Task metadata v3/v4 and introspection against a real engine running a real
//! bridge-mode busybox task: golden key order, casing and types, and error paths.

mod endpoints_support;

use std::time::Duration;

use endpoints_support::*;
use serde_json::{Value, json};

/// `got` lists only keys of `order`, in that order, and has every key of `required`.
fn assert_shape(what: &str, got: &[String], order: &[&str], required: &[&str]) {
    let mut pos = 0;
    for k in got {
        match order[pos..].iter().position(|o| o == k) {
            Some(p) => pos += p + 1,
            None => panic!("{what}: unexpected or misplaced key {k:?} in {got:?}"),
        }
    }
    for r in required {
        assert!(
            got.iter().any(|k| k == r),
            "{what}: missing {r:?} in {got:?}"
        );
    }
}

const V4_CONTAINER: &[&str] = &[
    "DockerId",
    "Name",
    "DockerName",
    "Image",
    "ImageID",
    "Ports",
    "Labels",
    "DesiredStatus",
    "KnownStatus",
    "ExitCode",
    "Limits",
    "CreatedAt",
    "StartedAt",
    "FinishedAt",
    "Type",
    "Health",
    "Volumes",
    "LogDriver",
    "LogOptions",
    "ContainerARN",
    "Networks",
    "RestartCount",
];
const V3_CONTAINER: &[&str] = &[
    "DockerId",
    "Name",
    "DockerName",
    "Image",
    "ImageID",
    "Ports",
    "Labels",
    "DesiredStatus",
    "KnownStatus",
    "ExitCode",
    "Limits",
    "CreatedAt",
    "StartedAt",
    "FinishedAt",
    "Type",
    "Networks",
    "Health",
    "Volumes",
];
const V4_TASK: &[&str] = &[
    "Cluster",
    "TaskARN",
    "Family",
    "Revision",
    "DesiredStatus",
    "KnownStatus",
    "Limits",
    "PullStartedAt",
    "PullStoppedAt",
    "ExecutionStoppedAt",
    "AvailabilityZone",
    "TaskTags",
    "ContainerInstanceTags",
    "LaunchType",
    "Errors",
    "Containers",
    "VPCID",
    "ServiceName",
    "FaultInjectionEnabled",
    "AvailabilityZoneID",
];
const V3_TASK: &[&str] = &[
    "Cluster",
    "TaskARN",
    "Family",
    "Revision",
    "DesiredStatus",
    "KnownStatus",
    "Containers",
    "Limits",
    "PullStartedAt",
    "PullStoppedAt",
    "ExecutionStoppedAt",
    "AvailabilityZone",
    "TaskTags",
    "ContainerInstanceTags",
];
const STATS: &[&str] = &[
    "read",
    "preread",
    "pids_stats",
    "blkio_stats",
    "num_procs",
    "storage_stats",
    "cpu_stats",
    "precpu_stats",
    "memory_stats",
    "name",
    "id",
    "networks",
    "network_rate_stats",
];

fn is_go_time(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        && s.ends_with('Z')
        && !s.contains("0Z")
        && !s.contains(".Z")
}

/// Polls the v4 container until Docker reports it healthy (bounded).
async fn wait_healthy(agent: &Agent, id: &str) -> Value {
    let every = Duration::from_millis(200);
    ecs_test_support::wait_for("HEALTHY", Duration::from_secs(30), every, async || {
        let c = get(agent.task, &format!("/v4/{id}")).await.json();
        if c["Health"]["status"] == "HEALTHY" {
            Ok(c)
        } else {
            Err(Some(c.to_string()))
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn v4_and_v3_shapes_for_a_running_bridge_task() {
    let mut agent = agent(Options::default()).await;
    let arn = unique_arn();
    agent
        .run(web_task(&arn, json!({"serviceName": "websvc"})))
        .await;
    let id = agent.endpoint_id(&arn, "web");
    let docker_id = agent.docker_id(&arn, "web");

    // v4 container
    let c = wait_healthy(&agent, &id).await;
    let a = get(agent.task, &format!("/v4/{id}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.header("x-rate-limit-limit"), Some("1000.00"));
    assert_eq!(a.header("x-rate-limit-duration"), Some("1"));
    assert!(!a.body.ends_with(b"\n"));
    let body = a.text();
    assert_shape(
        "v4 container",
        &raw_keys(&body),
        V4_CONTAINER,
        &[
            "DockerId",
            "Name",
            "DockerName",
            "Image",
            "ImageID",
            "Ports",
            "Labels",
            "DesiredStatus",
            "KnownStatus",
            "Limits",
            "CreatedAt",
            "StartedAt",
            "Type",
            "Health",
            "LogDriver",
            "LogOptions",
            "ContainerARN",
            "Networks",
        ],
    );
    assert_eq!(c["DockerId"], docker_id.as_str());
    assert_eq!(c["Name"], "web");
    assert!(
        c["DockerName"]
            .as_str()
            .unwrap()
            .starts_with("ecs-endpointtest-3-web-")
    );
    assert_eq!(c["Image"], image().as_str());
    assert!(c["ImageID"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(c["DesiredStatus"], "RUNNING");
    assert_eq!(c["KnownStatus"], "RUNNING");
    assert_eq!(c["Type"], "NORMAL");
    assert!(
        body.contains(r#""Limits":{"CPU":256,"Memory":64}"#),
        "{body}"
    );
    let port = &c["Ports"][0];
    assert_eq!(
        raw_keys_after(&body, "\"Ports\":["),
        ["ContainerPort", "Protocol", "HostPort", "HostIp"]
    );
    assert_eq!(port["ContainerPort"], 8080);
    assert_eq!(port["Protocol"], "tcp");
    assert!(port["HostPort"].as_u64().unwrap() > 0);
    assert!(port["HostIp"].is_string());
    assert_eq!(c["Labels"]["com.amazonaws.ecs.cluster"], CLUSTER);
    assert_eq!(c["Labels"]["com.amazonaws.ecs.task-arn"], arn.as_str());
    assert_eq!(c["Labels"]["com.amazonaws.ecs.container-name"], "web");
    assert_eq!(
        c["Labels"]["com.amazonaws.ecs.task-definition-family"],
        "endpointtest"
    );
    assert_eq!(
        c["Labels"]["com.amazonaws.ecs.task-definition-version"],
        "3"
    );
    assert!(
        is_go_time(&c["CreatedAt"]) && is_go_time(&c["StartedAt"]),
        "{c}"
    );
    assert_eq!(c["LogDriver"], "json-file");
    assert_eq!(c["LogOptions"], json!({"max-size": "1m"}));
    assert_eq!(c["ContainerARN"], format!("{arn}/container/web"));
    assert_eq!(c["Health"]["status"], "HEALTHY");
    assert!(is_go_time(&c["Health"]["statusSince"]));
    assert_eq!(c["Health"]["output"], "ok\n");
    let nets = c["Networks"].as_array().unwrap();
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0]["NetworkMode"], "bridge");
    let ip = nets[0]["IPv4Addresses"][0].as_str().unwrap();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");

    // v4 task
    let a = get(agent.task, &format!("/v4/{id}/task")).await;
    assert_eq!(a.status, 200);
    let body = a.text();
    let t = a.json();
    assert_shape(
        "v4 task",
        &raw_keys(&body),
        V4_TASK,
        &[
            "Cluster",
            "TaskARN",
            "Family",
            "Revision",
            "DesiredStatus",
            "KnownStatus",
            "Limits",
            "AvailabilityZone",
            "LaunchType",
            "Containers",
            "ServiceName",
            "FaultInjectionEnabled",
        ],
    );
    assert_eq!(t["Cluster"], CLUSTER);
    assert_eq!(t["TaskARN"], arn.as_str());
    assert_eq!(t["Family"], "endpointtest");
    assert_eq!(t["Revision"], "3");
    assert_eq!(t["KnownStatus"], "RUNNING");
    assert_eq!(t["AvailabilityZone"], "us-east-1a");
    assert_eq!(t["LaunchType"], "EC2");
    assert_eq!(t["ServiceName"], "websvc");
    assert_eq!(t["FaultInjectionEnabled"], false);
    assert!(
        body.contains(r#""Limits":{"CPU":0.25,"Memory":256}"#),
        "{body}"
    );
    assert_eq!(t["Containers"].as_array().unwrap().len(), 1);
    assert_eq!(t["Containers"][0]["DockerId"], docker_id.as_str());
    // taskWithTags answers the same task (no tags are configured here).
    let tagged = get(agent.task, &format!("/v4/{id}/taskWithTags")).await;
    assert_eq!(tagged.status, 200);
    assert_eq!(tagged.json()["TaskARN"], arn.as_str());

    // v3 container and task
    let a = get(agent.task, &format!("/v3/{id}")).await;
    assert_eq!(a.status, 200);
    let body = a.text();
    assert_shape(
        "v3 container",
        &raw_keys(&body),
        V3_CONTAINER,
        &["DockerId", "Name", "Limits", "Type", "Networks", "Health"],
    );
    let c3 = a.json();
    assert!(
        c3["Ports"][0].get("HostIp").is_none(),
        "v3 has no HostIp: {c3}"
    );
    assert_eq!(c3["Networks"][0]["NetworkMode"], "bridge");
    let a = get(agent.task, &format!("/v3/{id}/task")).await;
    assert_eq!(a.status, 200);
    let body = a.text();
    assert_shape(
        "v3 task",
        &raw_keys(&body),
        V3_TASK,
        &[
            "Cluster",
            "TaskARN",
            "Containers",
            "Limits",
            "AvailabilityZone",
        ],
    );
    assert!(!body.contains("LaunchType") && !body.contains("FaultInjectionEnabled"));

    // Stats: v4 container, v4 task map, v3 container, v3 task map.
    let a = get(agent.task, &format!("/v4/{id}/stats")).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.text();
    assert_shape(
        "v4 stats",
        &raw_keys(&body),
        STATS,
        &[
            "read",
            "preread",
            "pids_stats",
            "blkio_stats",
            "num_procs",
            "storage_stats",
            "cpu_stats",
            "precpu_stats",
            "memory_stats",
            "name",
            "id",
        ],
    );
    let s = a.json();
    assert_eq!(s["id"], docker_id.as_str());
    assert_eq!(s["name"], format!("/{}", c["DockerName"].as_str().unwrap()));
    assert!(s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert_eq!(
        raw_keys_after(&body, "\"blkio_stats\":"),
        [
            "io_service_bytes_recursive",
            "io_serviced_recursive",
            "io_queue_recursive",
            "io_service_time_recursive",
            "io_wait_time_recursive",
            "io_merged_recursive",
            "io_time_recursive",
            "sectors_recursive",
        ]
    );
    assert_eq!(s["storage_stats"], json!({}));
    let a = get(agent.task, &format!("/v4/{id}/task/stats")).await;
    assert_eq!(a.status, 200);
    let m = a.json();
    assert_eq!(keys(&m), vec![docker_id.clone()]);
    assert_eq!(m[&docker_id]["id"], docker_id.as_str());
    let a = get(agent.task, &format!("/v3/{id}/stats")).await;
    assert_eq!(a.status, 200);
    assert!(a.json().get("network_rate_stats").is_none());
    let a = get(agent.task, &format!("/v3/{id}/task/stats")).await;
    assert_eq!(a.status, 200);
    assert_eq!(keys(&a.json()), vec![docker_id.clone()]);

    // Introspection
    let a = get(agent.intro, "/v1/tasks").await;
    assert_eq!(a.status, 200);
    let tasks = a.json();
    let mine = tasks["Tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Arn"] == arn.as_str())
        .cloned()
        .expect("task listed");
    assert_eq!(mine["KnownStatus"], "RUNNING");
    assert_eq!(
        raw_keys_after(&a.text(), "\"Tasks\":["),
        [
            "Arn",
            "DesiredStatus",
            "KnownStatus",
            "Family",
            "Version",
            "Containers"
        ]
    );
    let by_arn = get(agent.intro, &format!("/v1/tasks?taskarn={arn}")).await;
    assert_eq!(by_arn.status, 200);
    let body = by_arn.text();
    assert_eq!(
        raw_keys(&body),
        [
            "Arn",
            "DesiredStatus",
            "KnownStatus",
            "Family",
            "Version",
            "Containers"
        ]
    );
    let v1 = by_arn.json();
    assert_eq!(v1["KnownStatus"], "RUNNING");
    assert_eq!(v1["Version"], "3");
    let vc = &v1["Containers"][0];
    assert_shape(
        "v1 container",
        &raw_keys_after(&body, "\"Containers\":["),
        &[
            "DockerId",
            "DockerName",
            "Name",
            "Image",
            "ImageID",
            "CreatedAt",
            "StartedAt",
            "Ports",
            "Networks",
            "Volumes",
            "RestartCount",
        ],
        &[
            "DockerId",
            "DockerName",
            "Name",
            "Image",
            "ImageID",
            "CreatedAt",
            "StartedAt",
            "Ports",
        ],
    );
    assert!(vc["Ports"][0].get("HostIp").is_none());
    let full = get(agent.intro, &format!("/v1/tasks?dockerid={docker_id}")).await;
    assert_eq!((full.status, full.json()["Arn"].clone()), (200, json!(arn)));
    let short = get(
        agent.intro,
        &format!("/v1/tasks?dockerid={}", &docker_id[..12]),
    )
    .await;
    assert_eq!(
        (short.status, short.json()["Arn"].clone()),
        (200, json!(arn))
    );

    // Metrics
    let a = get(agent.intro, "/metrics").await;
    assert_eq!(a.status, 200);
    assert!(
        a.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = a.text();
    assert!(text.contains("# TYPE ecs_agent_tasks gauge"), "{text}");
    assert!(
        text.contains("ecs_agent_tasks{status=\"RUNNING\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ecs_agent_containers{status=\"RUNNING\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn error_paths_answer_the_reference_status_and_body() {
    let agent = agent(Options::default()).await;
    let cases: &[(&str, u16, &str)] = &[
        (
            "/v4/nope",
            404,
            r#""V4 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: nope""#,
        ),
        (
            "/v4/nope/task",
            404,
            r#""V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope""#,
        ),
        (
            "/v4/nope/stats",
            404,
            r#""V4 container stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope""#,
        ),
        (
            "/v4/nope/task/stats",
            404,
            r#""V4 task stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope""#,
        ),
        (
            "/v3/nope",
            500,
            r#""V3 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: nope""#,
        ),
        (
            "/v3/nope/task",
            500,
            r#""V3 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope""#,
        ),
        (
            "/v3/nope/taskWithTags",
            500,
            r#""V3 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope""#,
        ),
        (
            "/v3/nope/stats",
            400,
            r#""V3 container stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope""#,
        ),
        (
            "/v3/nope/task/stats",
            400,
            r#""V3 task stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope""#,
        ),
        (
            "/v3/",
            500,
            r#""V3 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: ""#,
        ),
        (
            "/v2/metadata",
            400,
            r#""Unable to get task arn from request: unable to associate '127.0.0.1' with task""#,
        ),
        (
            "/v2/stats",
            400,
            r#""Unable to get task arn from request: unable to associate '127.0.0.1' with task""#,
        ),
        (
            "/v3/nope/associations/elastic-inference",
            400,
            r#""V3 container associations handler: unable to get container id from request: unable to get docker ID from v3 endpoint ID: nope""#,
        ),
    ];
    for (path, status, body) in cases {
        let a = get(agent.task, path).await;
        assert_eq!((a.status, a.text().as_str()), (*status, *body), "{path}");
        assert_eq!(a.header("content-type"), Some("application/json"), "{path}");
    }
    for path in [
        "/v3/x/",
        "/v4/x/task/",
        "/v4/x/tasks",
        "/v4/x/tasks/stats",
        "/",
        "/v2/credentials",
        "/v1/credentials/",
    ] {
        let a = get(agent.task, path).await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(a.text(), "404 page not found\n", "{path}");
        assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert!(
            a.header("x-rate-limit-limit").is_some(),
            "{path}: limiter headers on 404"
        );
    }
    // Non-canonical paths are redirected before anything else runs.
    let a = get(agent.task, "//v4/abc/../abc/task?x=1").await;
    assert_eq!(a.status, 301);
    assert_eq!(a.header("location"), Some("/v4/abc/task?x=1"));
    assert!(a.header("x-rate-limit-limit").is_none());

    // Introspection errors and fixed answers.
    let empty = r#"{"Arn":"","KnownStatus":"","Family":"","Version":"","Containers":null}"#;
    for (path, status) in [
        ("/v1/tasks?taskarn=arn:nope", 404),
        ("/v1/tasks?dockerid=0123456789abcdef0123", 404),
        ("/v1/tasks?dockerid=zzzz", 404),
        ("/v1/tasks?taskarn=a&dockerid=b", 400),
    ] {
        let a = get(agent.intro, path).await;
        assert_eq!((a.status, a.text().as_str()), (status, empty), "{path}");
    }
    let a = get(agent.intro, "/v1/metadata").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        raw_keys(&a.text()),
        ["Cluster", "ContainerInstanceArn", "Version"]
    );
    let m = a.json();
    assert_eq!(m["Cluster"], CLUSTER);
    assert_eq!(m["ContainerInstanceArn"], INSTANCE_ARN);
    assert!(
        m["Version"]
            .as_str()
            .unwrap()
            .starts_with("Amazon ECS Agent - v1.105.1 (")
    );
    for path in ["/", "/v1/metadata/", "/v1/tasksX", "/anything"] {
        let a = get(agent.intro, path).await;
        assert_eq!(
            (a.status, a.text().as_str()),
            (
                200,
                r#"{"AvailableCommands":["/v1/metadata","/v1/tasks","/license"]}"#
            ),
            "{path}"
        );
    }
    let a = get(agent.intro, "//v1/metadata").await;
    assert_eq!(
        (a.status, a.header("location")),
        (301, Some("/v1/metadata"))
    );
    // HEAD gets the headers only (the healthcheck's request).
    let a = raw(
        agent.intro,
        b"HEAD /v1/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("answer");
    assert_eq!(a.status, 200);
    assert!(a.body.is_empty());
}

#[tokio::test]
async fn stats_fail_when_metrics_are_disabled() {
    let mut agent = agent(Options {
        metrics_disabled: true,
        ..Options::default()
    })
    .await;
    let arn = unique_arn();
    agent.run(web_task(&arn, json!({}))).await;
    let id = agent.endpoint_id(&arn, "web");
    let docker_id = agent.docker_id(&arn, "web");
    let a = get(agent.task, &format!("/v4/{id}/stats")).await;
    assert_eq!(
        (a.status, a.text()),
        (
            500,
            format!("\"Unable to get container stats for: {docker_id}\"")
        )
    );
    let a = get(agent.task, &format!("/v3/{id}/stats")).await;
    assert_eq!(a.status, 400);
    let a = get(agent.task, &format!("/v4/{id}/task/stats")).await;
    assert_eq!(
        (a.status, a.text()),
        (500, format!("\"Unable to get task stats for: {arn}\""))
    );
    let a = get(agent.task, &format!("/v3/{id}/task/stats")).await;
    assert_eq!(a.status, 400);
}
