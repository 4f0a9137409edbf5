//! What the agent puts on the wire for the ECS API, captured by a minimal HTTP server:
//! the members the reference sends beyond the SDK's model (`clientToken`, `zoneId`),
//! the always-present ones (`instanceIdentityDocument`, `reason`), the resource order and
//! the User-Agent.

mod backend_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend_support::{CLUSTER, host, settings};
use ecs_agent::backend::outbox::Outbox;
use ecs_agent::backend::{EcsClient, Registrar, Submitter, SubmitterTimers};
use ecs_agent::engine::state::{StateChange, TaskStateChange};
use ecs_types::TaskStatus;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Debug, Clone)]
struct Captured {
    target: String,
    user_agent: String,
    body: Value,
}

async fn capture_server() -> (String, Arc<Mutex<Vec<Captured>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Captured>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let target = header("x-amz-target");
                        let user_agent = header("user-agent");
                        let bytes = req.into_body().collect().await.unwrap().to_bytes();
                        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        let op = target.rsplit('.').next().unwrap_or_default().to_owned();
                        let answer = match op.as_str() {
                            "RegisterContainerInstance" => json!({"containerInstance": {
                                "containerInstanceArn": "arn:aws:ecs:us-east-1:111122223333:container-instance/local/0123456789abcdef0123456789abcdef",
                                "attributes": body["attributes"].clone()}}),
                            "DiscoverPollEndpoint" => json!({"endpoint": "http://127.0.0.1:9/acs"}),
                            _ => json!({}),
                        };
                        log.lock().unwrap().push(Captured {
                            target,
                            user_agent,
                            body,
                        });
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/x-amz-json-1.1")
                                .body(Full::new(Bytes::from(answer.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, seen)
}

fn find(seen: &Arc<Mutex<Vec<Captured>>>, op: &str) -> Captured {
    seen.lock()
        .unwrap()
        .iter()
        .find(|c| c.target.ends_with(op))
        .cloned()
        .unwrap_or_else(|| panic!("no {op} captured"))
}

#[tokio::test]
async fn requests_carry_what_the_reference_sends() {
    let (url, seen) = capture_server().await;
    let s = settings(&url);
    let client = EcsClient::new(&s).await.unwrap();
    let registered = Registrar::new(client.clone(), s, host())
        .register(None)
        .await
        .unwrap();

    let register = find(&seen, "RegisterContainerInstance");
    assert_eq!(
        register.target,
        "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance"
    );
    assert!(
        register
            .user_agent
            .starts_with("Amazon ECS Agent - v1.105.1 ("),
        "{}",
        register.user_agent
    );
    let body = &register.body;
    assert_eq!(body["cluster"], CLUSTER);
    assert!(body.get("containerInstanceArn").is_none());
    assert_eq!(body["instanceIdentityDocument"], "");
    assert_eq!(body["instanceIdentityDocumentSignature"], "");
    let token = body["clientToken"].as_str().expect("clientToken");
    assert!(uuid::Uuid::parse_str(token).is_ok());
    let names: Vec<&str> = body["totalResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["CPU", "MEMORY", "PORTS", "PORTS_UDP"]);
    assert_eq!(body["totalResources"][3]["stringSetValue"], json!([]));
    assert_eq!(body["totalResources"][0]["integerValue"], 2048);
    assert!(body.get("versionInfo").is_none());
    // Name-only capabilities carry no value member.
    let flag = body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "ecs.capability.full-sync")
        .unwrap();
    assert!(flag.get("value").is_none());

    client
        .discover_poll_endpoint(CLUSTER, &registered.container_instance_arn)
        .await
        .unwrap();
    let discover = find(&seen, "DiscoverPollEndpoint");
    assert_eq!(
        discover.body,
        json!({"cluster": CLUSTER, "containerInstance": registered.container_instance_arn, "zoneId": ""})
    );

    let submitter = Submitter::new(
        client.clone(),
        CLUSTER,
        Outbox::memory(),
        SubmitterTimers::default(),
    );
    let mut accepted = submitter.accepted();
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(submitter.clone().run(shutdown));
    let task_arn = "arn:aws:ecs:us-east-1:111122223333:task/local/0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c";
    submitter
        .report(StateChange::Task(TaskStateChange {
            task_arn: task_arn.to_owned(),
            status: TaskStatus::Running,
            reason: None,
            pull_started_at: Some(chrono::Utc::now()),
            pull_stopped_at: None,
            execution_stopped_at: None,
            containers: Vec::new(),
        }))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), accepted.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    let submit = find(&seen, "SubmitTaskStateChange");
    assert_eq!(submit.body["cluster"], CLUSTER);
    assert_eq!(submit.body["task"], task_arn);
    assert_eq!(submit.body["status"], "RUNNING");
    assert_eq!(submit.body["reason"], "");
    assert!(submit.body["pullStartedAt"].is_number());
    assert!(submit.body.get("containers").is_none());
    assert!(submit.body.get("pullStoppedAt").is_none());
    stop.send_replace(true);
}
