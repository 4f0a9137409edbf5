//! The ACS server against a fake agent: a real websocket client with a SigV4-signed
//! upgrade, the ECS API driven over HTTP, the server itself unmodified.

mod acs_support;

use std::time::Duration;

use acs_support::{Agent, Received, TestServer, dial, fast_settings};
use ecs_local::acs::AcsSettings;
use ecs_types::AcsMessage;
use ecs_types::acs::{
    AckRequest, IAMRoleCredentialsAckRequest, RoleType, TaskIdentifier, TaskStopVerificationMessage,
};
use ecs_types::docker_config::HealthCheck;
use ecs_types::task::{ContainerOverridesWire, HealthCheckType};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const CLUSTER: &str = "acs";

fn web_definition() -> Value {
    json!({
        "family": "web",
        "networkMode": "bridge",
        "containerDefinitions": [{
            "name": "web",
            "image": "ecs-test/busybox:latest",
            "cpu": 128,
            "memory": 256,
            "memoryReservation": 128,
            "essential": true,
            "command": ["sleep", "300"],
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "from-td"}],
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
            "user": "nobody",
            "dockerLabels": {"team": "platform"},
            "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10, "retries": 2},
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
            "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}},
            "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                                "initProcessEnabled": true}
        }]
    })
}

fn payload_task(payload: &ecs_types::acs::PayloadMessage) -> ecs_types::task::Task {
    let tasks = payload.tasks();
    assert_eq!(tasks.len(), 1);
    tasks[0].valid().expect("the task decodes").clone()
}

async fn ack(agent: &mut Agent, payload: &ecs_types::acs::PayloadMessage) {
    agent.send(payload.ack()).await;
}

/// A server with `settings`, an instance registered on it and that instance's agent
/// connected.
async fn connected(settings: AcsSettings) -> (TestServer, String, Agent) {
    let server = TestServer::start(settings).await;
    let instance = server.register_instance(CLUSTER).await;
    let agent = Agent::connect(&server, CLUSTER, &instance, true).await;
    (server, instance, agent)
}

/// Registers the web task definition and runs it; the task ARN.
async fn run_web_task(server: &TestServer) -> String {
    let td = server.register_task_definition(web_definition()).await;
    server.run_task(CLUSTER, &td, json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_payload_is_converted_acked_and_not_resent() {
    let server = TestServer::start(fast_settings()).await;
    let instance = server.register_instance(CLUSTER).await;
    assert!(!server.agent_connected(CLUSTER, &instance).await);
    let mut agent = Agent::connect(&server, CLUSTER, &instance, true).await;
    server.wait_agent_connected(CLUSTER, &instance, true).await;

    let td = server.register_task_definition(web_definition()).await;
    let overrides = json!({"containerOverrides": [{
        "name": "web",
        "command": ["sleep", "5"],
        "environment": [{"name": "B", "value": "from-override"}, {"name": "C", "value": "3"}]
    }]});
    let task_arn = server.run_task(CLUSTER, &td, overrides).await;

    let payload = agent.next_payload().await;
    assert_eq!(
        payload.cluster_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:111122223333:cluster/acs")
    );
    assert_eq!(
        payload.container_instance_arn.as_deref(),
        Some(instance.as_str())
    );
    assert!(payload.message_id.as_deref().is_some_and(|m| !m.is_empty()));
    assert!(payload.seq_num.is_some_and(|s| s > 0));
    let task = payload_task(&payload);
    assert_eq!(task.arn.as_deref(), Some(task_arn.as_str()));
    assert_eq!(task.family.as_deref(), Some("web"));
    assert_eq!(task.version.as_deref(), Some("1"));
    assert_eq!(task.desired_status.as_deref(), Some("RUNNING"));
    assert_eq!(task.network_mode.as_deref(), Some("bridge"));
    assert_eq!(task.launch_type.as_deref(), Some("EC2"));
    assert_eq!(
        task.task_definition_account_id.as_deref(),
        Some("111122223333")
    );
    assert!(task.role_credentials.is_none());

    let container = &task.containers()[0];
    assert_eq!(container.name(), "web");
    assert_eq!((container.cpu, container.memory), (Some(128), Some(256)));
    assert!(container.is_essential());
    assert!(
        container
            .container_arn
            .as_deref()
            .is_some_and(|a| a.contains(":container/acs/"))
    );
    // Environment overrides are merged by the backend; only the command stays an override.
    let env = container.environment.clone().unwrap();
    assert_eq!(env.get("A").map(String::as_str), Some("1"));
    assert_eq!(env.get("B").map(String::as_str), Some("from-override"));
    assert_eq!(env.get("C").map(String::as_str), Some("3"));
    assert_eq!(
        env.get("AWS_EXECUTION_ENV").map(String::as_str),
        Some("AWS_ECS_EC2")
    );
    assert_eq!(
        container.command,
        Some(vec!["sleep".to_string(), "300".to_string()])
    );
    let Some(ContainerOverridesWire::Text(over)) = &container.overrides else {
        panic!("overrides is a JSON string: {:?}", container.overrides);
    };
    assert_eq!(
        serde_json::from_str::<Value>(over).unwrap(),
        json!({"command": ["sleep", "5"]})
    );
    assert_eq!(
        container.effective_command().unwrap(),
        Some(vec!["sleep".to_string(), "5".to_string()])
    );
    assert_eq!(container.health_check_type, Some(HealthCheckType::Docker));
    assert_eq!(container.port_mappings()[0].container_port, Some(80));

    let docker = container.docker_config.clone().expect("dockerConfig");
    assert_eq!(
        docker.version.as_deref(),
        Some("1.25"),
        "Init needs API 1.25"
    );
    let config = docker.config_fragment().unwrap();
    assert_eq!(config.user.as_deref(), Some("nobody"));
    assert_eq!(config.labels.unwrap()["team"], "platform");
    assert_eq!(
        config.healthcheck,
        Some(HealthCheck {
            test: Some(vec!["CMD-SHELL".into(), "true".into()]),
            interval: Some(10_000_000_000),
            timeout: Some(5_000_000_000),
            retries: Some(2),
            start_period: None,
        })
    );
    let host = docker.host_config_fragment().unwrap();
    assert_eq!(host.memory_reservation, Some(128 * 1024 * 1024));
    assert_eq!(host.network_mode.as_deref(), Some("bridge"));
    assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".to_string()]));
    assert_eq!(host.cap_drop, Some(vec!["MKNOD".to_string()]));
    assert_eq!(host.init, Some(true));
    let ulimit = &host.ulimits.unwrap()[0];
    assert_eq!(
        (ulimit.name.as_str(), ulimit.soft, ulimit.hard),
        ("nofile", 1024, 2048)
    );
    let log = host.log_config.unwrap();
    assert_eq!(log.log_driver.as_deref(), Some("json-file"));
    assert_eq!(log.config.unwrap()["max-size"], "10m");

    ack(&mut agent, &payload).await;
    // Several resend periods pass (heartbeats every 150 ms, resend after 400 ms).
    agent.expect_no_payload_for_heartbeats(8).await;
    agent.sync().await;
    let stats = server.acs.stats(&instance).unwrap();
    assert_eq!((stats.payloads_sent, stats.payload_acks), (1, 1));
    assert!(stats.heartbeat_acks >= 8);

    agent.close().await;
    server.wait_agent_connected(CLUSTER, &instance, false).await;
    assert!(!server.acs.is_connected(&instance));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_payloads_are_resent_also_after_reconnect_and_stop_task_sends_stopped() {
    let server = TestServer::start(fast_settings()).await;
    let instance = server.register_instance(CLUSTER).await;
    let td = server.register_task_definition(web_definition()).await;
    // Placed before any agent is connected: delivered when it connects.
    let task_arn = server.run_task(CLUSTER, &td, json!({})).await;

    let mut agent = Agent::connect(&server, CLUSTER, &instance, true).await;
    let first = agent.next_payload().await;
    assert_eq!(payload_task(&first).arn.as_deref(), Some(task_arn.as_str()));
    // No ack: the same message comes again.
    let again = agent.next_payload().await;
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(again.seq_num, first.seq_num);

    agent.close().await;
    let mut agent = Agent::connect(&server, CLUSTER, &instance, false).await;
    let resent = agent.next_payload().await;
    assert_eq!(resent.message_id, first.message_id);
    ack(&mut agent, &resent).await;
    agent.expect_no_payload_for_heartbeats(6).await;

    let stopped = server
        .ok(
            "StopTask",
            json!({"cluster": CLUSTER, "task": task_arn, "reason": "done"}),
        )
        .await;
    assert_eq!(stopped["task"]["desiredStatus"], "STOPPED");
    let stop = agent.next_payload().await;
    assert_ne!(stop.message_id, first.message_id);
    assert!(stop.seq_num > first.seq_num);
    let task = payload_task(&stop);
    assert_eq!(task.arn.as_deref(), Some(task_arn.as_str()));
    assert_eq!(task.desired_status.as_deref(), Some("STOPPED"));
    assert!(!task.containers().is_empty(), "the full task is resent");
    ack(&mut agent, &stop).await;
    agent.expect_no_payload_for_heartbeats(6).await;
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_state_changes_show_in_describe_tasks() {
    let (server, _, mut agent) = connected(fast_settings()).await;
    let task_arn = run_web_task(&server).await;
    let payload = agent.next_payload().await;
    ack(&mut agent, &payload).await;
    assert_eq!(
        server.describe_task(CLUSTER, &task_arn).await["lastStatus"],
        "PENDING"
    );

    server
        .ok(
            "SubmitTaskStateChange",
            json!({"cluster": CLUSTER, "task": task_arn, "status": "RUNNING", "reason": "",
                   "pullStartedAt": 1717171701.25, "pullStoppedAt": 1717171709.88,
                   "containers": [{"containerName": "web", "runtimeId": "b71d", "status": "RUNNING",
                       "networkBindings": [{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 32768, "protocol": "tcp"}]}]}),
        )
        .await;
    let running = server.describe_task(CLUSTER, &task_arn).await;
    assert_eq!(running["lastStatus"], "RUNNING");
    assert_eq!(
        running["containers"][0]["networkBindings"][0]["hostPort"],
        32768
    );

    server
        .ok(
            "SubmitTaskStateChange",
            json!({"cluster": CLUSTER, "task": task_arn, "status": "STOPPED", "reason": "",
                   "executionStoppedAt": 1717172001.004,
                   "containers": [{"containerName": "web", "runtimeId": "b71d", "status": "STOPPED", "exitCode": 0}]}),
        )
        .await;
    let stopped = server.describe_task(CLUSTER, &task_arn).await;
    assert_eq!(stopped["lastStatus"], "STOPPED");
    assert_eq!(stopped["desiredStatus"], "STOPPED");
    assert_eq!(stopped["containers"][0]["exitCode"], 0);
    // A finished task is not sent again, nor does the manifest list it.
    agent.expect_no_payload_for_heartbeats(6).await;
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_credentials_travel_in_the_payload_and_are_refreshed() {
    let mut settings = fast_settings();
    settings.credentials.lifetime = Duration::from_secs(3600);
    // Every set is due for renewal at the first check.
    settings.credentials.refresh_before = Duration::from_secs(3600);
    settings.credentials_check_interval = Duration::from_millis(300);
    let (server, instance, mut agent) = connected(settings).await;
    let mut definition = web_definition();
    definition["taskRoleArn"] = json!("arn:aws:iam::111122223333:role/web-task");
    definition["executionRoleArn"] = json!("arn:aws:iam::111122223333:role/ecsTaskExecutionRole");
    let td = server.register_task_definition(definition).await;
    let task_arn = server.run_task(CLUSTER, &td, json!({})).await;

    let payload = agent.next_payload().await;
    let task = payload_task(&payload);
    let role = task
        .role_credentials
        .clone()
        .expect("task role credentials");
    let execution = task
        .execution_role_credentials
        .clone()
        .expect("execution role credentials");
    assert_eq!(
        role.role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/web-task")
    );
    assert!(
        role.access_key_id
            .as_deref()
            .is_some_and(|k| k.starts_with("ASIA"))
    );
    assert!(
        role.secret_access_key
            .as_ref()
            .is_some_and(|s| s.expose().len() == 40)
    );
    assert!(role.session_token.as_ref().is_some_and(|s| !s.is_empty()));
    assert!(role.expiration.as_deref().is_some_and(|e| e.ends_with('Z')));
    assert_ne!(role.credentials_id, execution.credentials_id);
    // The agent acks the payload and each set of credentials it carried.
    ack(&mut agent, &payload).await;
    for creds in [&role, &execution] {
        agent
            .send(IAMRoleCredentialsAckRequest::for_credentials(
                payload.message_id.clone(),
                Some(creds),
            ))
            .await;
    }

    let (mut aligned, mut refreshed) = (0, Vec::new());
    while refreshed.len() < 2 {
        if let AcsMessage::IAMRoleCredentialsMessage(m) = agent.next_message().await {
            assert_eq!(m.task_arn.as_deref(), Some(task_arn.as_str()));
            let creds = m.role_credentials.clone().unwrap();
            let previous = match m.role_type.clone().unwrap() {
                RoleType::TaskApplication => &role,
                RoleType::TaskExecution => &execution,
                other => panic!("role type {other:?}"),
            };
            agent.send(m.ack()).await;
            if creds.credentials_id == previous.credentials_id {
                // After the payload ack the task is pointed at the sets it carried.
                aligned += 1;
                continue;
            }
            assert_eq!(creds.role_arn, previous.role_arn);
            let role_type = m.role_type.unwrap();
            if !refreshed.contains(&role_type) {
                refreshed.push(role_type);
            }
        }
    }
    assert!(aligned <= 2);
    assert!(refreshed.contains(&RoleType::TaskApplication));
    assert!(refreshed.contains(&RoleType::TaskExecution));
    agent.close().await;

    // A restarted agent (sendCredentials=true) gets the current credentials pushed.
    let mut agent = Agent::connect(&server, CLUSTER, &instance, true).await;
    match agent.next_message().await {
        AcsMessage::IAMRoleCredentialsMessage(m) => {
            assert_eq!(m.task_arn.as_deref(), Some(task_arn.as_str()))
        }
        other => panic!("expected credentials, got {other:?}"),
    }
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_with_403_and_opens_no_session() {
    let server = TestServer::start_with(
        fast_settings(),
        Some((acs_support::ACCESS_KEY, "the-right-secret")),
    )
    .await;
    let instance = server.register_instance(CLUSTER).await;
    let url = server.acs_url(CLUSTER, &instance, true).await;
    let (status, body) = dial(&url, "a-wrong-secret").await.expect_err("refused");
    assert_eq!(status, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "AccessDeniedException");
    assert!(!server.acs.is_connected(&instance));
    assert!(!server.agent_connected(CLUSTER, &instance).await);

    // Unsigned: refused as well.
    let (status, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map(|_| (101, ()))
        .unwrap_or_else(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(r) => (r.status().as_u16(), ()),
            other => panic!("{other}"),
        });
    assert_eq!(status, 403);

    // The right secret is let in.
    let socket = dial(&url, "the-right-secret").await.expect("accepted");
    drop(socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_errors_name_the_problem() {
    let server = TestServer::start(fast_settings()).await;
    let instance = server.register_instance(CLUSTER).await;
    let base = format!("ws://{}/acs/ws", server.host());
    let unknown = format!(
        "{base}?clusterArn={CLUSTER}&containerInstanceArn=arn%3Aaws%3Aecs%3Aus-east-1%3A111122223333%3Acontainer-instance%2Facs%2F0000&seqNum=1"
    );
    let (status, body) = dial(&unknown, &server.secret).await.expect_err("refused");
    assert_eq!(status, 400);
    assert!(body.contains("InvalidInstanceException"), "{body}");
    let (status, body) = dial(&format!("{base}?clusterArn={CLUSTER}"), &server.secret)
        .await
        .err()
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("containerInstanceArn"), "{body}");
    let bad_seq = server
        .acs_url(CLUSTER, &instance, true)
        .await
        .replace("seqNum=1", "seqNum=one");
    let (status, body) = dial(&bad_seq, &server.secret).await.expect_err("refused");
    assert_eq!(status, 400);
    assert!(body.contains("seqNum"), "{body}");
    let wrong_cluster = server
        .acs_url(CLUSTER, &instance, true)
        .await
        .replace("clusterArn=acs", "clusterArn=other");
    let (status, body) = dial(&wrong_cluster, &server.secret)
        .await
        .expect_err("refused");
    assert_eq!(status, 400);
    assert!(body.contains("InvalidClusterException"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_ignored_and_the_session_goes_on() {
    let (server, instance, mut agent) = connected(fast_settings()).await;
    for frame in [
        Message::text("not json"),
        Message::text("{\"message\":{}}"),
        Message::text("{\"type\":\"AckRequest\",\"message\":{\"messageId\":7}}"),
        Message::text("{\"type\":\"SomethingNew\",\"message\":{}}"),
        Message::text("{\"type\":\"PayloadMessage\",\"message\":{}}"),
        Message::binary(vec![0xff, 0x00, 0xfe]),
        Message::text("[]"),
    ] {
        agent.send_raw(frame).await;
    }
    agent
        .send(AckRequest {
            message_id: Some("never-sent".into()),
            ..AckRequest::default()
        })
        .await;
    agent.sync().await;
    assert_eq!(server.acs.stats(&instance).unwrap().ignored_frames, 7);
    // The same session still delivers work.
    let task_arn = run_web_task(&server).await;
    let payload = agent.next_payload().await;
    assert_eq!(
        payload_task(&payload).arn.as_deref(),
        Some(task_arn.as_str())
    );
    assert!(server.acs.is_connected(&instance));
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_list_the_instances_tasks_and_stop_verification_confirms_strays() {
    let mut settings = fast_settings();
    settings.manifest_interval = Duration::from_millis(300);
    let (server, instance, mut agent) = connected(settings).await;
    let task_arn = run_web_task(&server).await;

    let (mut previous_timeline, mut payload_seq) = (None, None);
    let manifest = loop {
        match agent.next_message().await {
            AcsMessage::PayloadMessage(p) => {
                payload_seq = p.seq_num;
                agent.send(p.ack()).await;
            }
            AcsMessage::TaskManifestMessage(m) => {
                let listed = m
                    .tasks
                    .iter()
                    .flatten()
                    .any(|t| t.task_arn.as_deref() == Some(task_arn.as_str()));
                if let Some(prev) = previous_timeline {
                    assert!(m.timeline > Some(prev));
                }
                previous_timeline = m.timeline;
                agent.send(m.ack()).await;
                if listed && payload_seq.is_some() {
                    break m;
                }
            }
            _ => {}
        }
    };
    assert!(
        manifest.timeline > payload_seq,
        "manifest sequence above every payload's"
    );
    let entry = manifest.tasks.clone().unwrap().into_iter().next().unwrap();
    assert_eq!(entry.desired_status.as_deref(), Some("RUNNING"));
    assert_eq!(
        entry.task_cluster_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:111122223333:cluster/acs")
    );

    let stray = "arn:aws:ecs:us-east-1:111122223333:task/acs/00000000000000000000000000000000";
    let candidate = |arn: &str| TaskIdentifier {
        task_arn: Some(arn.to_string()),
        task_cluster_arn: manifest.cluster_arn.clone(),
        desired_status: Some("STOPPED".to_string()),
    };
    agent
        .send(TaskStopVerificationMessage {
            message_id: manifest.message_id.clone(),
            stop_candidates: Some(vec![candidate(&task_arn), candidate(stray)]),
        })
        .await;
    let ack = loop {
        match agent.next_message().await {
            AcsMessage::TaskStopVerificationAck(a) => break a,
            AcsMessage::TaskManifestMessage(m) => agent.send(m.ack()).await,
            _ => {}
        }
    };
    assert_eq!(ack.message_id, manifest.message_id);
    let confirmed: Vec<_> = ack
        .stop_tasks
        .unwrap()
        .into_iter()
        .filter_map(|t| t.task_arn)
        .collect();
    assert_eq!(
        confirmed,
        vec![stray.to_string()],
        "the running task is kept"
    );
    agent.sync().await;
    let stats = server.acs.stats(&instance).unwrap();
    assert!(stats.manifest_acks >= 1);
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_closes_sessions_with_going_away() {
    let (server, _, mut agent) = connected(fast_settings()).await;
    // A heartbeat proves the session is up before the shutdown.
    loop {
        if let Received::Message(m) = agent.receive().await
            && let AcsMessage::HeartbeatMessage(hb) = *m
        {
            agent.send(hb.ack()).await;
            break;
        }
    }
    server.stop().await;
    loop {
        match agent.receive().await {
            Received::Closed(code) => {
                assert_eq!(code, Some(1001));
                break;
            }
            Received::Message(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_replaces_the_old_one() {
    let server = TestServer::start(fast_settings()).await;
    let instance = server.register_instance(CLUSTER).await;
    let mut old = Agent::connect(&server, CLUSTER, &instance, true).await;
    let mut new = Agent::connect(&server, CLUSTER, &instance, false).await;
    loop {
        match old.receive().await {
            Received::Closed(code) => {
                assert_eq!(code, Some(1008));
                break;
            }
            Received::Message(_) => {}
        }
    }
    // The replaced session ending does not mark the instance disconnected.
    let td = server.register_task_definition(web_definition()).await;
    server.run_task(CLUSTER, &td, json!({})).await;
    let payload = new.next_payload().await;
    new.send(payload.ack()).await;
    assert!(server.agent_connected(CLUSTER, &instance).await);
    new.close().await;
    server.wait_agent_connected(CLUSTER, &instance, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deregistered_instance_is_closed_and_then_refused_as_inactive() {
    let (server, instance, mut agent) = connected(fast_settings()).await;
    let task_arn = run_web_task(&server).await;
    let payload = agent.next_payload().await;
    ack(&mut agent, &payload).await;
    server
        .ok(
            "DeregisterContainerInstance",
            json!({"cluster": CLUSTER, "containerInstance": instance, "force": true}),
        )
        .await;
    let mut stop_seen = false;
    loop {
        match agent.receive().await {
            Received::Message(m) => match *m {
                AcsMessage::PayloadMessage(p) => {
                    let task = payload_task(&p);
                    assert_eq!(task.arn.as_deref(), Some(task_arn.as_str()));
                    assert_eq!(task.desired_status.as_deref(), Some("STOPPED"));
                    agent.send(p.ack()).await;
                    stop_seen = true;
                }
                AcsMessage::HeartbeatMessage(hb) => agent.send(hb.ack()).await,
                _ => {}
            },
            Received::Closed(code) => {
                assert_eq!(code, Some(1000));
                break;
            }
        }
    }
    assert!(
        stop_seen,
        "forced deregistration stops the instance's tasks"
    );
    let url = server.acs_url(CLUSTER, &instance, false).await;
    let (status, body) = dial(&url, &server.secret).await.expect_err("refused");
    assert_eq!(status, 400);
    assert!(body.contains("InactiveInstanceException"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_stops_acking_heartbeats_is_disconnected() {
    let mut settings = fast_settings();
    settings.max_unacked_heartbeats = 5;
    settings.heartbeat_ack_grace = Duration::ZERO;
    let (server, instance, mut agent) = connected(settings).await;
    let mut heartbeats = 0;
    let code = loop {
        match agent.receive().await {
            Received::Message(m) => {
                if let AcsMessage::HeartbeatMessage(_) = *m {
                    heartbeats += 1;
                }
            }
            Received::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(1008));
    assert_eq!(heartbeats, 5);
    server.wait_agent_connected(CLUSTER, &instance, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_agent_receives_only_its_own_instances_tasks() {
    let server = TestServer::start(fast_settings()).await;
    let first = server.register_instance(CLUSTER).await;
    let second = server.register_instance(CLUSTER).await;
    assert_ne!(first, second);
    let mut agent_one = Agent::connect(&server, CLUSTER, &first, true).await;
    let mut agent_two = Agent::connect(&server, CLUSTER, &second, true).await;
    let td = server.register_task_definition(web_definition()).await;
    let mut started = Vec::new();
    for instance in [&first, &second] {
        let out = server
            .ok(
                "StartTask",
                json!({"cluster": CLUSTER, "taskDefinition": td, "containerInstances": [instance]}),
            )
            .await;
        started.push(out["tasks"][0]["taskArn"].as_str().unwrap().to_string());
    }
    for (agent, instance, task_arn) in [
        (&mut agent_one, &first, &started[0]),
        (&mut agent_two, &second, &started[1]),
    ] {
        let payload = agent.next_payload().await;
        assert_eq!(
            payload.container_instance_arn.as_deref(),
            Some(instance.as_str())
        );
        assert_eq!(
            payload_task(&payload).arn.as_deref(),
            Some(task_arn.as_str())
        );
        agent.send(payload.ack()).await;
        agent.expect_no_payload_for_heartbeats(6).await;
    }
    agent_one.close().await;
    agent_two.close().await;
}
