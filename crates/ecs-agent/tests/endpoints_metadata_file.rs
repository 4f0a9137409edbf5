//! The container metadata file (`ECS_ENABLE_CONTAINER_METADATA`): written at the
//! reference's path, updated to READY with Docker's view, readable inside the container
//! through `ECS_CONTAINER_METADATA_FILE`.

mod endpoints_support;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use endpoints_support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn metadata_file_becomes_ready_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(Options {
        metadata_dir: Some(dir.path().to_owned()),
        ..Options::default()
    })
    .await;
    let arn = unique_arn();
    agent.run(web_task(&arn, json!({}))).await;
    let task_id = arn.rsplit('/').next().unwrap();
    let path = dir
        .path()
        .join("data/metadata")
        .join(CLUSTER)
        .join(task_id)
        .join("web/ecs-container-metadata.json");

    let what = format!("a READY file at {path:?}");
    let every = Duration::from_millis(200);
    let text = ecs_test_support::wait_for(&what, Duration::from_secs(30), every, async || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|text| text.contains("\"MetadataFileStatus\": \"READY\""))
            .ok_or(None)
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(text.starts_with("{\n\t\"Cluster\": "), "{text}");
    assert!(!text.ends_with('\n'));
    assert_eq!(
        raw_keys(&text),
        [
            "Cluster",
            "ContainerInstanceARN",
            "TaskARN",
            "TaskDefinitionFamily",
            "TaskDefinitionRevision",
            "ContainerID",
            "ContainerName",
            "DockerContainerName",
            "ImageID",
            "ImageName",
            "PortMappings",
            "Networks",
            "MetadataFileStatus",
            "AvailabilityZone",
            "HostPrivateIPv4Address",
        ]
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let docker_id = agent.docker_id(&arn, "web");
    assert_eq!(v["Cluster"], CLUSTER);
    assert_eq!(v["TaskARN"], arn.as_str());
    assert_eq!(v["TaskDefinitionFamily"], "endpointtest");
    assert_eq!(v["TaskDefinitionRevision"], "3");
    assert_eq!(v["ContainerID"], docker_id.as_str());
    assert_eq!(v["ContainerName"], "web");
    assert!(
        v["DockerContainerName"]
            .as_str()
            .unwrap()
            .starts_with("/ecs-endpointtest-3-web-")
    );
    assert!(v["ImageID"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["ImageName"], image().as_str());
    assert_eq!(
        raw_keys_after(&text, "\"PortMappings\": ["),
        [
            "ContainerPort",
            "ContainerPortRange",
            "HostPort",
            "BindIp",
            "Protocol"
        ]
    );
    assert_eq!(v["PortMappings"][0]["ContainerPort"], 8080);
    assert_eq!(v["PortMappings"][0]["ContainerPortRange"], "");
    assert_eq!(v["PortMappings"][0]["Protocol"], "tcp");
    assert_eq!(v["Networks"][0]["NetworkMode"], "bridge");
    assert_eq!(v["AvailabilityZone"], "us-east-1a");
    assert_eq!(v["HostPrivateIPv4Address"], "10.0.1.23");

    // The container sees the same file through its environment.
    let script = "cat \"$ECS_CONTAINER_METADATA_FILE\"";
    let inside = ecs_test_support::docker::exec_sh(&docker_id, script).await;
    assert_eq!(String::from_utf8_lossy(&inside.stdout), text);
}
