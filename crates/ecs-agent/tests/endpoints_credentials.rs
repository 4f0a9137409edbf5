//! The credentials endpoint: the reference's bodies and status codes, one audit line per
//! request without the ID, task isolation, and a real SDK (boto3) reading the keys.

mod endpoints_support;

use std::process::Command;

use ecs_agent::endpoints::{RoleCredentials, RoleType};
use ecs_agent::logging::{AuditLog, LogSettings, SystemClock};
use endpoints_support::*;
use serde_json::json;

fn role(n: &str) -> RoleCredentials {
    RoleCredentials {
        role_arn: format!("arn:aws:iam::123456789012:role/role-{n}"),
        access_key_id: format!("ASIA{n}EXAMPLEKEYID"),
        secret_access_key: format!("secret-{n}-wJalrXUtnFEMI/K7MDENG").into(),
        session_token: format!("token-{n}-IQoJb3JpZ2luX2VjEXAMPLE").into(),
        expiration: "2099-05-01T18:17:58Z".to_owned(),
    }
}

#[tokio::test]
async fn credentials_bodies_status_codes_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.log");
    let settings = LogSettings {
        audit_logfile: Some(audit_path.clone()),
        ..LogSettings::default()
    };
    let (audit, _guard) = AuditLog::open(&settings, SystemClock, None)
        .unwrap()
        .expect("audit on");
    let agent = agent(Options {
        audit: Some(audit.clone()),
        ..Options::default()
    })
    .await;
    let creds = &agent.state.credentials;
    let id_a = uuid::Uuid::new_v4().to_string();
    let id_b = uuid::Uuid::new_v4().to_string();
    let id_exec = uuid::Uuid::new_v4().to_string();
    let id_pending = uuid::Uuid::new_v4().to_string();
    creds
        .set(&id_a, "arn:task/a", RoleType::TaskApplication, role("A"))
        .unwrap();
    creds
        .set(&id_b, "arn:task/b", RoleType::TaskApplication, role("B"))
        .unwrap();
    creds
        .set(&id_exec, "arn:task/a", RoleType::TaskExecution, role("X"))
        .unwrap();
    creds
        .set_pending(&id_pending, "arn:task/c", RoleType::TaskApplication)
        .unwrap();

    // Success, both paths, both role types; exact body.
    let a = get(agent.task, &format!("/v2/credentials/{id_a}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(
        a.text(),
        r#"{"RoleArn":"arn:aws:iam::123456789012:role/role-A","AccessKeyId":"ASIAAEXAMPLEKEYID","SecretAccessKey":"secret-A-wJalrXUtnFEMI/K7MDENG","Token":"token-A-IQoJb3JpZ2luX2VjEXAMPLE","Expiration":"2099-05-01T18:17:58Z"}"#
    );
    let b = get(agent.task, &format!("/v1/credentials?id={id_b}")).await;
    assert_eq!(b.status, 200);
    assert_eq!(b.json()["AccessKeyId"], "ASIABEXAMPLEKEYID");
    let x = get(agent.task, &format!("/v2/credentials/{id_exec}")).await;
    assert_eq!(x.json()["AccessKeyId"], "ASIAXEXAMPLEKEYID");

    // Errors.
    let cases = [
        (
            "/v1/credentials".to_owned(),
            400,
            r#"{"code":"NoIdInRequest","message":"CredentialsV1Request: No Credential ID in the request","HTTPErrorCode":400}"#,
        ),
        (
            "/v1/credentials?id=".to_owned(),
            400,
            r#"{"code":"NoIdInRequest","message":"CredentialsV1Request: No Credential ID in the request","HTTPErrorCode":400}"#,
        ),
        (
            "/v2/credentials/".to_owned(),
            400,
            r#"{"code":"NoIdInRequest","message":"CredentialsV2Request: No Credential ID in the request","HTTPErrorCode":400}"#,
        ),
        (
            "/v2/credentials/not-an-id".to_owned(),
            400,
            r#"{"code":"InvalidIdInRequest","message":"CredentialsV2Request: Credentials not found","HTTPErrorCode":400}"#,
        ),
        (
            format!("/v1/credentials?id={}", &id_a[..8]),
            400,
            r#"{"code":"InvalidIdInRequest","message":"CredentialsV1Request: Credentials not found","HTTPErrorCode":400}"#,
        ),
        (
            format!("/v2/credentials/{id_a}/x"),
            400,
            r#"{"code":"InvalidIdInRequest","message":"CredentialsV2Request: Credentials not found","HTTPErrorCode":400}"#,
        ),
        (
            format!("/v2/credentials/{id_pending}"),
            503,
            r#"{"code":"CredentialsUninitialized","message":"CredentialsV2Request: Credentials uninitialized for ID","HTTPErrorCode":503}"#,
        ),
        (
            "/v1/credentials?id=%zz%".to_owned(),
            400,
            r#"{"code":"InvalidIdInRequest","message":"CredentialsV1Request: Credentials not found","HTTPErrorCode":400}"#,
        ),
    ];
    for (path, status, body) in &cases {
        let a = get(agent.task, path).await;
        assert_eq!((a.status, a.text().as_str()), (*status, *body), "{path}");
        assert_eq!(a.header("content-type"), Some("application/json"));
    }

    // Removal by role: the task role goes, the execution role stays.
    creds.remove_task("arn:task/a", RoleType::TaskApplication);
    assert_eq!(
        get(agent.task, &format!("/v2/credentials/{id_a}"))
            .await
            .status,
        400
    );
    assert_eq!(
        get(agent.task, &format!("/v2/credentials/{id_exec}"))
            .await
            .status,
        200
    );

    // The audit log: one line per request, no ID, no secret, the reference's fields.
    audit.flush();
    let log = std::fs::read_to_string(&audit_path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3 + cases.len() + 2, "{log}");
    for secret in [&id_a, &id_b, &id_exec, &id_pending] {
        assert!(!log.contains(secret.as_str()), "id in audit log: {log}");
    }
    assert!(!log.contains("secret-") && !log.contains("token-"), "{log}");
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert!(chrono::DateTime::parse_from_rfc3339(first[0]).is_ok() && first[0].ends_with('Z'));
    assert_eq!(first[1], "200");
    assert!(first[2].starts_with("127.0.0.1:"));
    assert_eq!(
        &first[3..],
        [
            "\"/v2/credentials\"",
            "\"endpoint-test/1.0\"",
            "arn:task/a",
            "GetCredentials",
            "2",
            CLUSTER,
            INSTANCE_ARN
        ]
    );
    assert!(
        lines[1].contains("\"/v1/credentials\" \"endpoint-test/1.0\" arn:task/b GetCredentials 2 ")
    );
    assert!(lines[2].contains(" arn:task/a GetCredentialsExecutionRole 2 "));
    let error_line = lines[3];
    assert!(
        error_line.ends_with(" 400 ".to_owned().as_str())
            || error_line.ends_with("\"endpoint-test/1.0\" - "),
        "{error_line:?}"
    );
    assert!(lines[3 + 6].contains(" 503 "), "{}", lines[9]);
}

#[tokio::test]
async fn a_second_tasks_id_never_returns_the_first_tasks_credentials() {
    let mut agent = agent(Options::default()).await;
    let mut ids = Vec::new();
    for n in ["one", "two"] {
        let arn = unique_arn();
        let id = uuid::Uuid::new_v4().to_string();
        let task = web_task(
            &arn,
            json!({
                "containers": [{
                    "name": "app", "image": image(), "essential": true,
                    "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
                    "cpu": 10, "memory": 32
                }],
                "roleCredentials": {
                    "credentialsId": id, "roleArn": format!("arn:aws:iam::1:role/{n}"),
                    "accessKeyId": format!("AKID{n}"), "secretAccessKey": format!("secret{n}"),
                    "sessionToken": format!("token{n}"), "expiration": "2099-01-01T00:00:00Z"
                }
            }),
        );
        let arn = agent.run(task).await;
        ids.push((arn, id, n));
    }
    for (arn, id, n) in &ids {
        // The container's environment carries its own task's ID.
        let docker_id = agent.docker_id(arn, "app");
        let out = Command::new("docker")
            .args(["inspect", "--format", "{{json .Config.Env}}", &docker_id])
            .output()
            .unwrap();
        let env = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            env.contains(&format!(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/{id}"
            )),
            "{env}"
        );
        let a = get(agent.task, &format!("/v2/credentials/{id}")).await;
        assert_eq!(a.status, 200);
        let c = a.json();
        assert_eq!(c["AccessKeyId"], format!("AKID{n}"));
        assert_eq!(c["RoleArn"], format!("arn:aws:iam::1:role/{n}"));
        for (_, other_id, other) in &ids {
            if other != n {
                assert_ne!(other_id, id);
                assert!(!a.text().contains(&format!("AKID{other}")));
            }
        }
    }
    // Stopping the first task removes its task-role credentials (spec §3.1).
    let (first_arn, first_id, _) = &ids[0];
    agent
        .engine
        .set_desired_status(first_arn, ecs_types::TaskStatus::Stopped);
    ecs_test_support::wait_until(
        "the credentials of the stopped task to be refused",
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(250),
        async || {
            get(agent.task, &format!("/v2/credentials/{first_id}"))
                .await
                .status
                == 400
        },
    )
    .await
    .unwrap();
    let (_, second_id, _) = &ids[1];
    assert_eq!(
        get(agent.task, &format!("/v2/credentials/{second_id}"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn boto3_reads_the_task_role_through_the_full_uri() {
    let agent = agent(Options::default()).await;
    let id = uuid::Uuid::new_v4().to_string();
    agent
        .state
        .credentials
        .set(
            &id,
            "arn:task/boto",
            RoleType::TaskApplication,
            role("BOTO"),
        )
        .unwrap();
    let uri = format!("http://127.0.0.1:{}/v2/credentials/{id}", agent.task.port());
    let script = "import boto3\n\
c = boto3.Session().get_credentials().get_frozen_credentials()\n\
print(c.access_key, c.secret_key, c.token)\n";
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "ASIABOTOEXAMPLEKEYID secret-BOTO-wJalrXUtnFEMI/K7MDENG token-BOTO-IQoJb3JpZ2luX2VjEXAMPLE"
    );
}
