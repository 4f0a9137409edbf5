//! The real AWS CLI against the server: clusters, task definitions from a JSON file,
//! run/describe/stop/list tasks, and error exit codes.

mod api_support;

use api_support::TestServer;
use serde_json::{Value, json};

const TASK_DEFINITION: &str = r#"{
  "family": "web",
  "networkMode": "bridge",
  "containerDefinitions": [
    {
      "name": "app",
      "image": "ecs-test/busybox:latest",
      "cpu": 128,
      "memory": 256,
      "essential": true,
      "command": ["sh", "-c", "sleep 3600"],
      "portMappings": [{"containerPort": 80, "hostPort": 8080}],
      "environment": [{"name": "MODE", "value": "test"}]
    },
    {
      "name": "sidecar",
      "image": "ecs-test/busybox:latest",
      "memoryReservation": 64,
      "essential": false
    }
  ],
  "tags": [{"key": "team", "value": "platform"}]
}"#;

/// The CLI exits 255 (v1) or 254 (v2) when the service answers an error.
fn assert_error(out: &std::process::Output, code: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(254 | 255)),
        "exit {:?}, stderr: {stderr}",
        out.status.code()
    );
    assert!(stderr.contains(code), "expected {code} in: {stderr}");
}

#[test]
fn clusters_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());

    let created = server.aws(&[
        "create-cluster",
        "--cluster-name",
        "prod",
        "--tags",
        "key=env,value=prod",
    ]);
    let cluster = &created["cluster"];
    assert_eq!(
        cluster["clusterArn"],
        "arn:aws:ecs:us-east-1:111122223333:cluster/prod"
    );
    assert_eq!(cluster["status"], "ACTIVE");
    assert_eq!(cluster["tags"], json!([{"key": "env", "value": "prod"}]));
    server.aws(&["create-cluster", "--cluster-name", "dev"]);

    let listed = server.aws(&["list-clusters"]);
    assert_eq!(
        listed["clusterArns"],
        json!([
            "arn:aws:ecs:us-east-1:111122223333:cluster/dev",
            "arn:aws:ecs:us-east-1:111122223333:cluster/prod"
        ])
    );
    let described = server.aws(&[
        "describe-clusters",
        "--clusters",
        "prod",
        "arn:aws:ecs:us-east-1:111122223333:cluster/missing",
        "--include",
        "TAGS",
    ]);
    assert_eq!(described["clusters"][0]["clusterName"], "prod");
    assert_eq!(
        described["clusters"][0]["registeredContainerInstancesCount"],
        0
    );
    assert_eq!(described["clusters"][0]["tags"][0]["key"], "env");
    assert_eq!(described["failures"][0]["reason"], "MISSING");

    let deleted = server.aws(&["delete-cluster", "--cluster", "dev"]);
    assert_eq!(deleted["cluster"]["status"], "INACTIVE");
    let listed = server.aws(&["list-clusters"]);
    assert_eq!(listed["clusterArns"].as_array().unwrap().len(), 1);

    // Errors: the CLI names the modelled exception and exits 254.
    assert_error(
        &server.aws_output(&["list-tasks", "--cluster", "nope"]),
        "ClusterNotFoundException",
    );
    assert_error(
        &server.aws_output(&["delete-cluster", "--cluster", "dev"]),
        "ClusterNotFoundException",
    );
    assert_error(
        &server.aws_output(&["create-cluster", "--cluster-name", "bad name!"]),
        "InvalidParameterException",
    );
}

#[test]
fn task_definitions_and_tasks_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let file = dir.path().join("web.json");
    std::fs::write(&file, TASK_DEFINITION).unwrap();
    let file_arg = format!("file://{}", file.display());

    let registered = server.aws(&["register-task-definition", "--cli-input-json", &file_arg]);
    let td = &registered["taskDefinition"];
    assert_eq!(
        td["taskDefinitionArn"],
        "arn:aws:ecs:us-east-1:111122223333:task-definition/web:1"
    );
    assert_eq!(td["revision"], 1);
    assert_eq!(td["status"], "ACTIVE");
    assert_eq!(
        td["containerDefinitions"][0]["portMappings"][0]["protocol"],
        "tcp"
    );
    assert_eq!(td["containerDefinitions"][1]["cpu"], 0);
    assert_eq!(registered["tags"][0]["value"], "platform");
    server.aws(&["register-task-definition", "--cli-input-json", &file_arg]);

    let described = server.aws(&[
        "describe-task-definition",
        "--task-definition",
        "web",
        "--include",
        "TAGS",
    ]);
    assert_eq!(described["taskDefinition"]["revision"], 2);
    assert_eq!(
        described["taskDefinition"]["containerDefinitions"][0]["environment"],
        json!([{"name": "MODE", "value": "test"}])
    );
    assert_eq!(described["tags"][0]["key"], "team");
    let first = server.aws(&["describe-task-definition", "--task-definition", "web:1"]);
    assert_eq!(first["taskDefinition"]["revision"], 1);

    let families = server.aws(&["list-task-definition-families"]);
    assert_eq!(families["families"], json!(["web"]));
    let listed = server.aws(&["list-task-definitions", "--sort", "DESC"]);
    assert_eq!(
        listed["taskDefinitionArns"][0],
        "arn:aws:ecs:us-east-1:111122223333:task-definition/web:2"
    );
    let deregistered = server.aws(&["deregister-task-definition", "--task-definition", "web:1"]);
    assert_eq!(deregistered["taskDefinition"]["status"], "INACTIVE");
    let inactive = server.aws(&["list-task-definitions", "--status", "INACTIVE"]);
    assert_eq!(inactive["taskDefinitionArns"].as_array().unwrap().len(), 1);
    assert_error(
        &server.aws_output(&["describe-task-definition", "--task-definition", "nope"]),
        "ClientException",
    );

    // No instance yet: the service refuses to run anything.
    server.aws(&["create-cluster"]);
    assert_error(
        &server.aws_output(&["run-task", "--task-definition", "web"]),
        "InvalidParameterException",
    );

    // An agent registers (as the reference agent would, via the API), then the CLI runs.
    let instance = server.boto3("done(register_instance()['containerInstanceArn'])");
    let instance = instance.as_str().unwrap();

    let run = server.aws(&[
        "run-task",
        "--task-definition",
        "web",
        "--started-by",
        "cli-test",
        "--overrides",
        r#"{"containerOverrides":[{"name":"app","command":["echo","hi"]}]}"#,
    ]);
    assert_eq!(run["failures"], json!([]));
    let task = &run["tasks"][0];
    assert_eq!(task["lastStatus"], "PENDING");
    assert_eq!(task["desiredStatus"], "RUNNING");
    assert_eq!(task["containerInstanceArn"], instance);
    assert_eq!(task["containers"].as_array().unwrap().len(), 2);
    let task_arn = task["taskArn"].as_str().unwrap().to_string();

    // The same static host port cannot be placed twice on the only instance.
    let second = server.aws(&["run-task", "--task-definition", "web"]);
    assert_eq!(second["tasks"], json!([]));
    assert_eq!(second["failures"][0]["reason"], "RESOURCE:PORTS");
    assert_eq!(second["failures"][0]["arn"], instance);

    let listed = server.aws(&["list-tasks", "--started-by", "cli-test"]);
    assert_eq!(listed["taskArns"], json!([task_arn]));
    let listed = server.aws(&["list-tasks", "--family", "other"]);
    assert_eq!(listed["taskArns"], json!([]));

    let described = server.aws(&["describe-tasks", "--tasks", &task_arn]);
    assert_eq!(described["tasks"][0]["taskArn"], task_arn.as_str());
    assert_eq!(
        described["tasks"][0]["overrides"]["containerOverrides"][0]["command"],
        json!(["echo", "hi"])
    );

    let stopped = server.aws(&["stop-task", "--task", &task_arn, "--reason", "done"]);
    assert_eq!(stopped["task"]["desiredStatus"], "STOPPED");
    assert_eq!(stopped["task"]["stoppedReason"], "done");
    let listed = server.aws(&["list-tasks", "--desired-status", "STOPPED"]);
    assert_eq!(listed["taskArns"], json!([task_arn]));
    let running: Value = server.aws(&["list-tasks"]);
    assert_eq!(running["taskArns"], json!([]));
    assert_error(
        &server.aws_output(&["stop-task", "--task", "0123456789abcdef0123456789abcdef"]),
        "InvalidParameterException",
    );
}
