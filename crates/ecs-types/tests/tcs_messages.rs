//! TCS messages: metrics, health, instance status, acks, signed frames.

use chrono::{TimeZone, Utc};
use ecs_types::TcsMessage;
use ecs_types::status::HealthStatus;
use ecs_types::tcs::{
    CWStatsSet, ContainerMetric, EpochSeconds, InstanceHealthcheckStatus, MetricsMetadata,
    PublishMetricsRequest, TaskMetric, format_signed_frame, parse_frame_headers,
    split_signed_frame,
};
use serde_json::{Value, json};

const METRICS: &str = r#"{"type":"PublishMetricsRequest","message":{
  "metadata":{"cluster":"local","containerInstance":"arn:aws:ecs:us-east-1:111122223333:container-instance/local/8f0c",
              "messageId":"3e1f9a52-7c4b-4d1e-9f0a-5b6c7d8e9f01","idle":false,"fin":true},
  "taskMetrics":[{"taskArn":"arn:aws:ecs:us-east-1:111122223333:task/local/0f9a",
    "clusterArn":"arn:aws:ecs:us-east-1:111122223333:cluster/local",
    "taskDefinitionFamily":"web-app","taskDefinitionVersion":"3",
    "containerMetrics":[{"containerArn":"arn:aws:ecs:us-east-1:111122223333:container/local/0f9a/1e2d",
      "containerName":"web",
      "cpuStatsSet":{"max":12.5,"min":0.25,"sampleCount":4,"sum":20.75},
      "memoryStatsSet":{"max":64,"min":60,"sampleCount":4,"sum":248},
      "networkStatsSet":{
        "rxBytes":{"max":18446744073709551615,"min":0,"sampleCount":4,"sum":18446744073709551615,"overflowSum":3},
        "rxBytesPerSecond":{"max":1024.5,"min":0,"sampleCount":4,"sum":2048.25},
        "txBytes":{"max":100,"min":10,"sampleCount":4,"sum":200}},
      "storageStatsSet":{"readSizeBytes":{"max":4096,"min":0,"sampleCount":4,"sum":8192},
                         "writeSizeBytes":{"max":0,"min":0,"sampleCount":4,"sum":0}},
      "restartStatsSet":{"restartCount":2}}],
    "ephemeralStorageMetrics":{"bytesUtilized":{"max":5,"min":1,"sampleCount":2,"sum":6}},
    "volumeMetrics":[{"volumeId":"vol-1","volumeName":"data",
       "utilized":{"max":1.5,"min":1,"sampleCount":2,"sum":2.5},"size":{"max":10,"min":10,"sampleCount":2,"sum":20}}],
    "serviceConnectMetricsWrapper":[{"dimensions":[{"key":"DiscoveryName","value":"web"}],"metricType":"1",
       "generalMetrics":[{"metricName":"RequestCount","metricValues":[1,2.5],"metricCounts":[3,4],"unit":"Count"}]}]}],
  "timestamp":1717171720.123}}"#;

#[test]
fn metrics_request_round_trips_with_numbers_as_on_the_wire() {
    let msg = TcsMessage::from_json(METRICS).unwrap();
    assert_eq!(
        msg.to_value().unwrap(),
        serde_json::from_str::<Value>(METRICS).unwrap()
    );
    let TcsMessage::PublishMetricsRequest(m) = msg else {
        panic!("wrong variant")
    };
    assert_eq!(m.metadata.as_ref().unwrap().fin, Some(true));
    assert_eq!(m.timestamp, Some(EpochSeconds(1_717_171_720.123)));
    let task = &m.task_metrics.as_ref().unwrap()[0];
    let c = &task.container_metrics.as_ref().unwrap()[0];
    assert_eq!(c.cpu_stats_set.as_ref().unwrap().sum, Some(20.75));
    assert_eq!(c.cpu_stats_set.as_ref().unwrap().sample_count, Some(4));
    let rx = c
        .network_stats_set
        .as_ref()
        .unwrap()
        .rx_bytes
        .as_ref()
        .unwrap();
    assert_eq!(rx.max, u64::MAX);
    assert_eq!(rx.overflow_sum, Some(3));
    assert_eq!(c.restart_stats_set.as_ref().unwrap().restart_count, Some(2));
    assert_eq!(
        task.volume_metrics.as_ref().unwrap()[0]
            .utilized
            .as_ref()
            .unwrap()
            .sum,
        2.5
    );
}

#[test]
fn idle_metrics_request_omits_unset_members() {
    let req = PublishMetricsRequest {
        metadata: Some(MetricsMetadata {
            cluster: Some("local".into()),
            container_instance: Some("ci".into()),
            message_id: Some("m1".into()),
            idle: Some(true),
            fin: Some(true),
        }),
        timestamp: Some(EpochSeconds::from_datetime(
            Utc.timestamp_millis_opt(1_717_171_720_123).unwrap(),
        )),
        ..Default::default()
    };
    assert_eq!(
        TcsMessage::from(req).to_json().unwrap(),
        r#"{"type":"PublishMetricsRequest","message":{"metadata":{"cluster":"local","containerInstance":"ci","messageId":"m1","idle":true,"fin":true},"timestamp":1717171720.123}}"#
    );
}

#[test]
fn built_metrics_match_the_shape_the_reference_sends() {
    let metric = TaskMetric {
        task_arn: Some("t".into()),
        task_definition_family: Some("f".into()),
        task_definition_version: Some("1".into()),
        container_metrics: Some(vec![ContainerMetric {
            container_name: Some("c".into()),
            cpu_stats_set: Some(CWStatsSet {
                min: Some(0.0),
                max: Some(1.0),
                sample_count: Some(2),
                sum: Some(1.0),
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&metric).unwrap(),
        json!({"taskArn":"t","taskDefinitionFamily":"f","taskDefinitionVersion":"1",
               "containerMetrics":[{"containerName":"c","cpuStatsSet":{"min":0,"max":1,"sampleCount":2,"sum":1}}]})
    );
}

#[test]
fn health_and_instance_status_round_trip() {
    let health = r#"{"type":"PublishHealthRequest","message":{"metadata":{"cluster":"local","containerInstance":"ci","messageId":"m","fin":true},
      "tasks":[{"taskArn":"t","taskDefinitionFamily":"web-app","taskDefinitionVersion":"3",
        "containers":[{"containerName":"web","healthStatus":"HEALTHY","statusSince":1717171700.5}]}],"timestamp":1717171720}}"#;
    let msg = TcsMessage::from_json(health).unwrap();
    assert_eq!(
        msg.to_value().unwrap(),
        serde_json::from_str::<Value>(health).unwrap()
    );
    let TcsMessage::PublishHealthRequest(h) = msg else {
        panic!("wrong variant")
    };
    let c = &h.tasks.unwrap()[0].containers.clone().unwrap()[0];
    assert_eq!(c.health_status, Some(HealthStatus::Healthy));
    assert_eq!(
        c.status_since.unwrap().to_datetime().unwrap(),
        Utc.timestamp_millis_opt(1_717_171_700_500).unwrap()
    );

    let status = r#"{"type":"PublishInstanceStatusRequest","message":{"metadata":{"cluster":"local","containerInstance":"ci","requestId":"r"},
      "statuses":[{"type":"ContainerRuntime","status":"OK","lastStatusChange":1717171000.25,"lastUpdated":1717171700.75}],"timestamp":1717171720}}"#;
    let msg = TcsMessage::from_json(status).unwrap();
    assert_eq!(
        msg.to_value().unwrap(),
        serde_json::from_str::<Value>(status).unwrap()
    );
    let TcsMessage::PublishInstanceStatusRequest(s) = msg else {
        panic!("wrong variant")
    };
    let st = &s.statuses.unwrap()[0];
    assert_eq!(st.status_type.as_deref(), Some("ContainerRuntime"));
    assert_eq!(st.status, Some(InstanceHealthcheckStatus::Ok));
}

#[test]
fn server_messages_round_trip_and_unknown_types_are_kept() {
    for text in [
        r#"{"type":"HeartbeatMessage","message":{"healthy":true}}"#,
        r#"{"type":"AckPublishMetric","message":{"message":"ok"}}"#,
        r#"{"type":"AckPublishHealth","message":{"message":"ok"}}"#,
        r#"{"type":"AckPublishInstanceStatus","message":{"message":"ok"}}"#,
        r#"{"type":"StopTelemetrySessionMessage","message":{"message":"bye"}}"#,
        r#"{"type":"ResourceValidationException","message":{"message":"bad"}}"#,
    ] {
        let msg = TcsMessage::from_json(text).unwrap();
        assert!(!matches!(msg, TcsMessage::Unknown { .. }), "{text}");
        assert_eq!(msg.to_json().unwrap(), text);
    }
    let msg = TcsMessage::from_json(r#"{"type":"PublishSomethingNew","message":{"a":1}}"#).unwrap();
    assert_eq!(msg.message_type(), "PublishSomethingNew");
    assert!(matches!(msg, TcsMessage::Unknown { .. }));
}

#[test]
fn signed_frames_split_and_format() {
    let body = r#"{"type":"PublishMetricsRequest","message":{"timestamp":1.5}}"#;
    let frame = format_signed_frame(
        &[
            ("X-Amz-Date", "20250601T120000Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20250601/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab12",
            ),
            ("Host", "127.0.0.1:51680"),
        ],
        body,
    );
    assert!(
        frame.starts_with("Authorization: AWS4-HMAC-SHA256 "),
        "{frame}"
    );
    assert!(frame.contains("\r\nHost: 127.0.0.1:51680\r\nX-Amz-Date: 20250601T120000Z\r\n\r\n{"));

    let (headers, json) = split_signed_frame(&frame);
    assert_eq!(json, body);
    let headers = parse_frame_headers(headers.unwrap());
    assert_eq!(headers[1], ("Host", "127.0.0.1:51680"));
    assert_eq!(headers.len(), 3);

    assert_eq!(split_signed_frame(body), (None, body));
    let TcsMessage::PublishMetricsRequest(m) = TcsMessage::from_frame(&frame).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(m.timestamp, Some(EpochSeconds(1.5)));
    assert!(TcsMessage::from_frame("Host: x\r\n\r\nnot json").is_err());
}

#[test]
fn epoch_seconds_reject_non_instants() {
    assert_eq!(EpochSeconds(f64::NAN).to_datetime(), None);
    assert_eq!(EpochSeconds(1e300).to_datetime(), None);
    assert_eq!(
        EpochSeconds(0.001).to_datetime(),
        Some(Utc.timestamp_millis_opt(1).unwrap())
    );
}

#[test]
fn integral_doubles_are_written_without_a_fraction_like_the_reference() {
    let set = CWStatsSet {
        min: Some(0.0),
        max: Some(64.0),
        sample_count: Some(1),
        sum: Some(0.5),
    };
    assert_eq!(
        serde_json::to_string(&set).unwrap(),
        r#"{"min":0,"max":64,"sampleCount":1,"sum":0.5}"#
    );
    // Beyond 2^53 an integral value is written as a float and still reads back.
    let big = serde_json::to_string(&EpochSeconds(1e20)).unwrap();
    assert_eq!(
        serde_json::from_str::<EpochSeconds>(&big).unwrap(),
        EpochSeconds(1e20)
    );
}
