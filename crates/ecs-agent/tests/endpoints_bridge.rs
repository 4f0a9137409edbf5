//! Reachability from inside real bridge-mode containers (issue 6 item 4): with the
//! agent's iptables rules installed, `$ECS_CONTAINER_METADATA_URI_V4/task` and
//! `http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` answer each container
//! with its own task's data.

mod endpoints_support;

use ecs_agent::endpoints::netrules::{self, Installed, NetRulesConfig};
use endpoints_support::*;
use serde_json::{Value, json};

/// Removes the rules even when the test fails.
struct Rules(Option<Installed>);

impl Drop for Rules {
    fn drop(&mut self) {
        if let Some(i) = self.0.take() {
            netrules::remove(i);
        }
    }
}

/// GET `path_expr` (a shell expression) on 169.254.170.2:80 from inside the container,
/// with busybox `nc` (the image's static `wget` cannot be relied on); the body.
/// Runs on a blocking thread: the servers answering it share the test's runtime.
async fn exec_get(docker_id: &str, path_expr: &str) -> Result<String, String> {
    // stdin stays open until the answer is in: the server does not serve half-closed
    // connections, and HTTP/1.0 makes it close once it has answered.
    let script = format!(
        "{{ printf 'GET %s HTTP/1.0\\r\\nHost: 169.254.170.2\\r\\n\\r\\n' \"{path_expr}\"; sleep 2; }} | nc -w 10 169.254.170.2 80"
    );
    let out = ecs_test_support::docker::exec_sh(docker_id, &script).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let fail = || format!("{text:?} {:?}", String::from_utf8_lossy(&out.stderr));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(fail)?;
    if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
        Ok(body.to_owned())
    } else {
        Err(fail())
    }
}

fn task_with_role(arn: &str, id: &str, n: &str) -> Value {
    web_task(
        arn,
        json!({
            "containers": [{
                "name": "app", "image": image(), "essential": true,
                "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
                "cpu": 10, "memory": 32,
                "dockerConfig": {"hostConfig": "{\"NetworkMode\":\"bridge\"}", "version": "1.17"}
            }],
            "roleCredentials": {
                "credentialsId": id, "roleArn": format!("arn:aws:iam::1:role/{n}"),
                "accessKeyId": format!("AKID{n}"), "secretAccessKey": format!("secret{n}"),
                "sessionToken": format!("token{n}"), "expiration": "2099-01-01T00:00:00Z"
            }
        }),
    )
}

#[tokio::test]
async fn bridge_containers_reach_their_own_metadata_and_credentials() {
    // ecs-local's up_network_rules test (another process) installs the rules too.
    let _lock = ecs_test_support::net::lock_network_rules();
    let mut agent = agent(Options::default()).await;
    let rules = Rules(Some(
        netrules::install(&NetRulesConfig {
            task_port: agent.task.port(),
            introspection_port: agent.intro.port(),
            skip_localhost_traffic_filter: false,
            allow_offhost_introspection_access: false,
            docker_bridge: Some("docker0".into()),
        })
        .expect("iptables rules (the tests run as root)"),
    ));
    // Installing again adds nothing.
    let again = netrules::install(&NetRulesConfig {
        task_port: agent.task.port(),
        introspection_port: agent.intro.port(),
        skip_localhost_traffic_filter: false,
        allow_offhost_introspection_access: false,
        docker_bridge: Some("docker0".into()),
    })
    .expect("second install");
    assert!(again.rules().is_empty(), "{:?}", again.rules());

    let mut tasks = Vec::new();
    for n in ["one", "two"] {
        let arn = unique_arn();
        let id = uuid::Uuid::new_v4().to_string();
        agent.run(task_with_role(&arn, &id, n)).await;
        tasks.push((arn, id, n));
    }
    for (arn, id, n) in &tasks {
        let docker_id = agent.docker_id(arn, "app");
        let body = exec_get(
            &docker_id,
            "${ECS_CONTAINER_METADATA_URI_V4#http://169.254.170.2}/task",
        )
        .await
        .expect("v4 task from inside the container");
        let task: Value = serde_json::from_str(&body).expect("task JSON");
        assert_eq!(task["TaskARN"], arn.as_str());
        assert_eq!(task["Containers"][0]["DockerId"], docker_id.as_str());

        let body = exec_get(&docker_id, "$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .await
            .expect("credentials from inside the container");
        let creds: Value = serde_json::from_str(&body).expect("credentials JSON");
        assert_eq!(creds["AccessKeyId"], format!("AKID{n}"));
        let _ = id;
        // The other task's keys are not what this container gets.
        for (_, _, other) in &tasks {
            if other != n {
                assert!(!body.contains(&format!("AKID{other}")));
            }
        }
    }
    drop(rules);
    netrules::remove(again);
}
