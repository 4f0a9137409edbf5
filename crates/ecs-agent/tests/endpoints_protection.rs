//! Task scale-in protection through `$ECS_AGENT_URI/task-protection/v1/state`: the
//! reference's error answers, and a real ECS API call (to ecs-local) made with the
//! task's own role credentials, whose ECS error is relayed with its status and code.

mod endpoints_support;

use std::net::{Ipv4Addr, SocketAddr};

use endpoints_support::*;
use serde_json::json;

async fn ecs_local(dir: &std::path::Path) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let config = ecs_local::server::Config::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), dir);
    let server = ecs_local::server::Server::bind(&config)
        .await
        .expect("ecs-local");
    let addr = server.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

async fn request(agent: &Agent, method: &str, path: &str, body: &str) -> Answer {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw(agent.task, req.as_bytes()).await.expect("answer")
}

#[tokio::test]
async fn task_protection_errors_and_a_real_ecs_call() {
    let dir = tempfile::tempdir().unwrap();
    let (ecs, _stop) = ecs_local(dir.path()).await;
    let mut agent = agent(Options {
        ecs_endpoint: Some(format!("http://{ecs}")),
        ..Options::default()
    })
    .await;

    let state = "/api/nope/task-protection/v1/state";
    let a = request(&agent, "GET", state, "").await;
    assert_eq!(
        (a.status, a.text().as_str()),
        (
            404,
            r#"{"error":{"Code":"ResourceNotFoundException","Message":"Failed to find a task for the request"}}"#
        )
    );
    let a = request(&agent, "POST", state, "").await;
    assert_eq!((a.status, a.body.len()), (405, 0));
    let a = request(&agent, "PUT", state, r#"{"Unknown": 1}"#).await;
    assert_eq!(
        (a.status, a.text().as_str()),
        (
            400,
            r#"{"error":{"Code":"InvalidParameterException","Message":"UpdateTaskProtection: failed to decode request"}}"#
        )
    );
    assert_eq!(
        request(&agent, "GET", "/api/x/task-protection/v1/state/", "")
            .await
            .status,
        404
    );

    // A task without a task role.
    let plain = unique_arn();
    agent.run(web_task(&plain, json!({}))).await;
    let id = agent.endpoint_id(&plain, "web");
    let path = format!("/api/{id}/task-protection/v1/state");
    let a = request(&agent, "GET", &path, "").await;
    assert_eq!(
        (a.status, a.text()),
        (
            403,
            format!(
                r#"{{"error":{{"Arn":"{plain}","Code":"AccessDeniedException","Message":"Invalid Request: no task IAM role credentials available for task"}}}}"#
            )
        )
    );
    let a = request(&agent, "PUT", &path, "{}").await;
    assert_eq!(
        (a.status, a.text()),
        (
            400,
            format!(
                r#"{{"error":{{"Arn":"{plain}","Code":"InvalidParameterException","Message":"Invalid request: does not contain 'ProtectionEnabled' field"}}}}"#
            )
        )
    );

    // A task with a task role: the call reaches ECS (ecs-local), signed with the
    // task's keys, and ECS's refusal comes back with its status, code and request ID.
    let roled = unique_arn();
    let cid = uuid::Uuid::new_v4().to_string();
    agent
        .run(web_task(
            &roled,
            json!({"roleCredentials": {
                "credentialsId": cid, "roleArn": "arn:aws:iam::1:role/app",
                "accessKeyId": "AKIDTASKROLE", "secretAccessKey": "secret",
                "sessionToken": "token", "expiration": "2099-01-01T00:00:00Z"
            }}),
        ))
        .await;
    let id = agent.endpoint_id(&roled, "web");
    let path = format!("/api/{id}/task-protection/v1/state");
    let a = request(
        &agent,
        "PUT",
        &path,
        r#"{"ProtectionEnabled": true, "ExpiresInMinutes": 60}"#,
    )
    .await;
    let body = a.json();
    assert!((400..500).contains(&a.status), "{} {}", a.status, a.text());
    assert_eq!(body["error"]["Arn"], roled.as_str(), "{body}");
    assert!(
        !body["error"]["Code"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
    let a = request(&agent, "GET", &path, "").await;
    assert!((400..500).contains(&a.status), "{} {}", a.status, a.text());
    assert_eq!(a.json()["error"]["Arn"], roled.as_str());
}
