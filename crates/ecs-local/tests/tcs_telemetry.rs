//! The TCS server against a fake agent: signed upgrade, frames with the agent's signed
//! header block, acknowledgements, and the telemetry read back.

mod acs_support;

use acs_support::{DEADLINE, TestServer, dial, fast_settings, sign_headers};
use ecs_types::TcsMessage;
use ecs_types::tcs::{
    CWStatsSet, ContainerHealth, ContainerMetric, EpochSeconds, HealthMetadata,
    InstanceHealthcheckStatus, InstanceStatus, InstanceStatusMetadata, MetricsMetadata,
    PublishHealthRequest, PublishInstanceStatusRequest, PublishMetricsRequest, TaskHealth,
    TaskMetric, format_signed_frame,
};
use ecs_types::{HealthStatus, acs::HandshakeError};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const CLUSTER: &str = "tcs";

/// A frame as the reference agent writes it: signed header block, empty line, JSON.
fn signed_frame(url: &str, secret: &str, message: TcsMessage) -> String {
    let body = message.to_json().unwrap();
    let http_url = url.replacen("ws://", "http://", 1);
    let host = http_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut headers = vec![("host".to_string(), host.clone())];
    headers.extend(sign_headers(
        "GET",
        &http_url,
        &headers,
        body.as_bytes(),
        secret,
    ));
    let named: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| match n.as_str() {
            "host" => ("Host", v.as_str()),
            "authorization" => ("Authorization", v.as_str()),
            "x-amz-date" => ("X-Amz-Date", v.as_str()),
            other => (other, v.as_str()),
        })
        .collect();
    format_signed_frame(&named, &body)
}

async fn next_tcs(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> TcsMessage {
    loop {
        let frame = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("a TCS frame before the deadline")
            .expect("open")
            .expect("readable");
        if let Message::Text(text) = frame {
            return TcsMessage::from_frame(text.as_str()).expect("valid TCS message");
        }
    }
}

/// The next message that is not a heartbeat.
async fn next_reply(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> TcsMessage {
    loop {
        match next_tcs(socket).await {
            TcsMessage::HeartbeatMessage(_) => {}
            other => return other,
        }
    }
}

fn stats(value: f64) -> CWStatsSet {
    CWStatsSet {
        min: Some(value),
        max: Some(value),
        sample_count: Some(1),
        sum: Some(value),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_are_acknowledged_and_kept() {
    let server = TestServer::start(fast_settings()).await;
    let instance = server.register_instance(CLUSTER).await;
    let td = server
        .register_task_definition(json!({"family": "m", "containerDefinitions": [
            {"name": "c", "image": "ecs-test/busybox:latest", "memory": 64,
             "healthCheck": {"command": ["CMD", "true"]}}]}))
        .await;
    let task_arn = server.run_task(CLUSTER, &td, json!({})).await;

    let url = server.tcs_url(CLUSTER, &instance).await;
    assert!(url.contains("/tcs/ws?"), "{url}");
    let mut socket = dial(&url, &server.secret).await.expect("TCS upgrade");
    // The server keeps the agent's heartbeat timer fed.
    assert!(matches!(
        next_tcs(&mut socket).await,
        TcsMessage::HeartbeatMessage(_)
    ));

    let metrics = PublishMetricsRequest {
        metadata: Some(MetricsMetadata {
            cluster: Some(CLUSTER.into()),
            container_instance: Some(instance.clone()),
            message_id: Some("batch-1".into()),
            idle: Some(false),
            fin: Some(true),
        }),
        task_metrics: Some(vec![TaskMetric {
            task_arn: Some(task_arn.clone()),
            task_definition_family: Some("m".into()),
            task_definition_version: Some("1".into()),
            container_metrics: Some(vec![ContainerMetric {
                container_name: Some("c".into()),
                cpu_stats_set: Some(stats(12.5)),
                memory_stats_set: Some(stats(30.0)),
                ..ContainerMetric::default()
            }]),
            ..TaskMetric::default()
        }]),
        timestamp: Some(EpochSeconds(1717171700.123)),
        instance_metrics: None,
    };
    let frame = signed_frame(&url, &server.secret, metrics.clone().into());
    assert!(frame.starts_with("Authorization: AWS4-HMAC-SHA256 "));
    socket.send(Message::text(frame)).await.unwrap();
    assert!(matches!(
        next_reply(&mut socket).await,
        TcsMessage::AckPublishMetric(_)
    ));
    let kept = server
        .tcs
        .task_telemetry(&task_arn)
        .expect("task telemetry");
    assert_eq!(kept.container_instance_arn, instance);
    assert_eq!(kept.metrics, metrics.task_metrics.clone().unwrap().pop());

    let health = PublishHealthRequest {
        metadata: Some(HealthMetadata {
            cluster: Some(CLUSTER.into()),
            container_instance: Some(instance.clone()),
            message_id: Some("h-1".into()),
            fin: Some(true),
        }),
        tasks: Some(vec![TaskHealth {
            task_arn: Some(task_arn.clone()),
            task_definition_family: Some("m".into()),
            task_definition_version: Some("1".into()),
            containers: Some(vec![ContainerHealth {
                container_name: Some("c".into()),
                health_status: Some(HealthStatus::Healthy),
                status_since: Some(EpochSeconds(1717171690.0)),
                status_message: None,
            }]),
            cluster_arn: None,
        }]),
        timestamp: Some(EpochSeconds(1717171700.5)),
    };
    // A frame without the header block is accepted as well.
    socket
        .send(Message::text(
            TcsMessage::from(health.clone()).to_json().unwrap(),
        ))
        .await
        .unwrap();
    assert!(matches!(
        next_reply(&mut socket).await,
        TcsMessage::AckPublishHealth(_)
    ));
    let kept = server.tcs.task_telemetry(&task_arn).unwrap();
    assert_eq!(kept.health, health.tasks.clone().unwrap().pop());
    assert!(kept.metrics.is_some(), "health does not erase metrics");
    // The backend records the health and aggregates the task's.
    let described = server.describe_task(CLUSTER, &task_arn).await;
    assert_eq!(described["containers"][0]["healthStatus"], "HEALTHY");
    assert_eq!(described["healthStatus"], "HEALTHY");

    let status = PublishInstanceStatusRequest {
        metadata: Some(InstanceStatusMetadata {
            cluster: Some(CLUSTER.into()),
            container_instance: Some(instance.clone()),
            request_id: Some("r-1".into()),
        }),
        statuses: Some(vec![InstanceStatus {
            status_type: Some("ContainerRuntime".into()),
            status: Some(InstanceHealthcheckStatus::Ok),
            status_reason: None,
            last_updated: Some(EpochSeconds(1717171700.0)),
            last_status_change: Some(EpochSeconds(1717171600.0)),
        }]),
        timestamp: Some(EpochSeconds(1717171700.0)),
    };
    let frame = signed_frame(&url, &server.secret, status.clone().into());
    socket.send(Message::text(frame)).await.unwrap();
    assert!(matches!(
        next_reply(&mut socket).await,
        TcsMessage::AckPublishInstanceStatus(_)
    ));
    let kept = server
        .tcs
        .instance_telemetry(&instance)
        .expect("instance telemetry");
    assert_eq!(kept.statuses, status.statuses.unwrap());
    assert!(!kept.idle);

    // Garbage is ignored; the session still answers.
    socket
        .send(Message::text("Authorization: x\r\n\r\n{oops"))
        .await
        .unwrap();
    socket
        .send(Message::text("{\"type\":\"Nope\"}"))
        .await
        .unwrap();
    let idle = PublishMetricsRequest {
        metadata: Some(MetricsMetadata {
            idle: Some(true),
            fin: Some(true),
            message_id: Some("batch-2".into()),
            ..MetricsMetadata::default()
        }),
        ..PublishMetricsRequest::default()
    };
    socket
        .send(Message::text(signed_frame(
            &url,
            &server.secret,
            idle.into(),
        )))
        .await
        .unwrap();
    assert!(matches!(
        next_reply(&mut socket).await,
        TcsMessage::AckPublishMetric(_)
    ));
    assert!(server.tcs.instance_telemetry(&instance).unwrap().idle);
    let _ = socket.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcs_upgrades_are_checked() {
    let server = TestServer::start_with(
        fast_settings(),
        Some((acs_support::ACCESS_KEY, "tcs-secret")),
    )
    .await;
    let instance = server.register_instance(CLUSTER).await;
    let url = server.tcs_url(CLUSTER, &instance).await;
    let (status, body) = dial(&url, "wrong").await.expect_err("refused");
    assert_eq!(status, 403);
    let error = HandshakeError::from_body(body.as_bytes()).unwrap();
    assert_eq!(error.exception_type, "AccessDeniedException");
    let unknown = url.replace(
        "container-instance%2Ftcs%2F",
        "container-instance%2Ftcs%2Fx",
    );
    let (status, _) = dial(&unknown, "tcs-secret").await.expect_err("refused");
    assert_eq!(status, 400);
    dial(&url, "tcs-secret").await.expect("accepted");
}
