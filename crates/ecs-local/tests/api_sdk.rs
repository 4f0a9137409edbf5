//! The AWS SDK for Rust as the client: every operation, success and error paths. The SDK
//! rejects mistyped members, so a passing call is also a check of the response shapes.

mod api_support;

use api_support::{ACCESS_KEY, SECRET_KEY, TestServer};
use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{
    AttachmentStateChange, Attribute, ContainerDefinition, ContainerInstanceStatus,
    ContainerOverride, ContainerStateChange, DesiredStatus, NetworkBinding, PortMapping, Resource,
    Tag, TaskOverride, TransportProtocol,
};

fn client(server: &TestServer, secret: &str) -> Client {
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, secret, None, None, "test"))
        .endpoint_url(server.endpoint())
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn resources() -> Vec<Resource> {
    vec![
        Resource::builder()
            .name("CPU")
            .r#type("INTEGER")
            .integer_value(1024)
            .build(),
        Resource::builder()
            .name("MEMORY")
            .r#type("INTEGER")
            .integer_value(2048)
            .build(),
        Resource::builder()
            .name("PORTS")
            .r#type("STRINGSET")
            .string_set_value("22")
            .build(),
        Resource::builder()
            .name("PORTS_UDP")
            .r#type("STRINGSET")
            .build(),
    ]
}

/// The server runs on its own runtime (see `api_support`); the SDK gets another.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

#[test]
fn every_operation_with_the_rust_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    block_on(every_operation(&server));
}

async fn every_operation(server: &TestServer) {
    let ecs = client(server, SECRET_KEY);

    // Clusters.
    let err = ecs.list_tasks().cluster("none").send().await.unwrap_err();
    assert!(err.into_service_error().is_cluster_not_found_exception());
    let cluster = ecs
        .create_cluster()
        .cluster_name("sdk")
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    let cluster_arn = cluster.cluster_arn.unwrap();
    assert_eq!(cluster.status.as_deref(), Some("ACTIVE"));
    let listed = ecs.list_clusters().send().await.unwrap();
    assert_eq!(listed.cluster_arns(), std::slice::from_ref(&cluster_arn));
    let described = ecs
        .describe_clusters()
        .clusters("sdk")
        .clusters("gone")
        .send()
        .await
        .unwrap();
    assert_eq!(described.clusters().len(), 1);
    assert_eq!(described.failures()[0].reason(), Some("MISSING"));

    // Task definitions.
    let app = ContainerDefinition::builder()
        .name("app")
        .image("ecs-test/busybox:latest")
        .memory(512)
        .cpu(256)
        .port_mappings(
            PortMapping::builder()
                .container_port(80)
                .host_port(8000)
                .build(),
        )
        .build();
    let td = ecs
        .register_task_definition()
        .family("sdk-app")
        .container_definitions(app.clone())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!(td.revision, 1);
    assert_eq!(td.container_definitions()[0].essential, Some(true));
    let err = ecs
        .register_task_definition()
        .family("sdk-app")
        .container_definitions(ContainerDefinition::builder().name("x").image("i").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ClientException"));
    let described = ecs
        .describe_task_definition()
        .task_definition("sdk-app:1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.task_definition().unwrap().family(),
        Some("sdk-app")
    );
    let err = ecs
        .describe_task_definition()
        .task_definition("nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_client_exception());
    let families = ecs.list_task_definition_families().send().await.unwrap();
    assert_eq!(families.families(), ["sdk-app".to_string()]);
    let defs = ecs
        .list_task_definitions()
        .family_prefix("sdk-app")
        .send()
        .await
        .unwrap();
    assert_eq!(defs.task_definition_arns().len(), 1);

    // An agent registers.
    let instance = ecs
        .register_container_instance()
        .cluster("sdk")
        .instance_identity_document("")
        .set_total_resources(Some(resources()))
        .attributes(
            Attribute::builder()
                .name("ecs.capability.full-sync")
                .build()
                .unwrap(),
        )
        .attributes(
            Attribute::builder()
                .name("ecs.os-type")
                .value("linux")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .container_instance
        .unwrap();
    let instance_arn = instance.container_instance_arn.clone().unwrap();
    assert_eq!(instance.attributes().len(), 2);
    assert_eq!(instance.attributes()[1].value(), Some("linux"));
    let poll = ecs
        .discover_poll_endpoint()
        .cluster("sdk")
        .container_instance(&instance_arn)
        .send()
        .await
        .unwrap();
    assert!(poll.endpoint().unwrap().starts_with("http://"));
    assert!(poll.telemetry_endpoint().unwrap().starts_with("http://"));

    // Tasks.
    let run = ecs
        .run_task()
        .cluster("sdk")
        .task_definition("sdk-app")
        .started_by("sdk")
        .client_token("sdk-first-run")
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name("app")
                        .command("true")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let task = &run.tasks()[0];
    let task_arn = task.task_arn().unwrap().to_string();
    assert_eq!(task.last_status(), Some("PENDING"));
    assert!(task.created_at().is_some());
    // A retry with the same token returns the same task rather than a second one.
    let retried = ecs
        .run_task()
        .cluster("sdk")
        .task_definition("sdk-app")
        .client_token("sdk-first-run")
        .send()
        .await
        .unwrap();
    assert_eq!(retried.tasks().len(), 1);
    assert_eq!(retried.tasks()[0].task_arn(), Some(task_arn.as_str()));
    let full = ecs
        .run_task()
        .cluster("sdk")
        .task_definition("sdk-app")
        .send()
        .await
        .unwrap();
    assert!(full.tasks().is_empty());
    assert_eq!(full.failures()[0].reason(), Some("RESOURCE:PORTS"));
    let err = ecs
        .run_task()
        .cluster("sdk")
        .task_definition("sdk-app")
        .count(11)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_exception());

    ecs.submit_task_state_change()
        .cluster("sdk")
        .task(&task_arn)
        .status("RUNNING")
        .reason("")
        .pull_started_at(DateTime::from_secs(1_717_171_701))
        .containers(
            ContainerStateChange::builder()
                .container_name("app")
                .runtime_id("abc123")
                .status("RUNNING")
                .network_bindings(
                    NetworkBinding::builder()
                        .bind_ip("0.0.0.0")
                        .container_port(80)
                        .host_port(8000)
                        .protocol(TransportProtocol::Tcp)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let running = ecs
        .list_tasks()
        .cluster("sdk")
        .container_instance(&instance_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(running.task_arns(), std::slice::from_ref(&task_arn));
    let stopped = ecs
        .stop_task()
        .cluster("sdk")
        .task(&task_arn)
        .send()
        .await
        .unwrap()
        .task
        .unwrap();
    assert_eq!(stopped.desired_status(), Some("STOPPED"));
    ecs.submit_container_state_change()
        .cluster("sdk")
        .task(&task_arn)
        .container_name("app")
        .status("STOPPED")
        .exit_code(143)
        .send()
        .await
        .unwrap();
    ecs.submit_task_state_change()
        .cluster("sdk")
        .task(&task_arn)
        .status("STOPPED")
        .reason("")
        .send()
        .await
        .unwrap();
    ecs.submit_attachment_state_changes()
        .cluster("sdk")
        .attachments(
            AttachmentStateChange::builder()
                .attachment_arn("arn:aws:ecs:us-east-1:111122223333:attachment/a")
                .status("ATTACHED")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let described = ecs
        .describe_tasks()
        .cluster("sdk")
        .tasks(&task_arn)
        .send()
        .await
        .unwrap();
    let task = &described.tasks()[0];
    assert_eq!(task.last_status(), Some("STOPPED"));
    assert_eq!(task.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(task.containers()[0].exit_code(), Some(143));
    assert_eq!(
        task.containers()[0].network_bindings()[0].host_port(),
        Some(8000)
    );
    let stopped_list = ecs
        .list_tasks()
        .cluster("sdk")
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped_list.task_arns().len(), 1);
    let started = ecs
        .start_task()
        .cluster("sdk")
        .task_definition("sdk-app:1")
        .container_instances(&instance_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(started.tasks().len(), 1);

    // Instances, attributes and tags.
    let listed = ecs
        .list_container_instances()
        .cluster("sdk")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.container_instance_arns(),
        std::slice::from_ref(&instance_arn)
    );
    let described = ecs
        .describe_container_instances()
        .cluster("sdk")
        .container_instances(&instance_arn)
        .send()
        .await
        .unwrap();
    let ci = &described.container_instances()[0];
    assert_eq!(ci.running_tasks_count, 0);
    assert_eq!(ci.pending_tasks_count, 1);
    assert!(!ci.agent_connected);
    ecs.put_attributes()
        .cluster("sdk")
        .attributes(
            Attribute::builder()
                .name("zone")
                .value("a")
                .target_id(&instance_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let attrs = ecs
        .list_attributes()
        .cluster("sdk")
        .target_type(aws_sdk_ecs::types::TargetType::ContainerInstance)
        .attribute_name("zone")
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.attributes()[0].value(), Some("a"));
    ecs.delete_attributes()
        .cluster("sdk")
        .attributes(
            Attribute::builder()
                .name("zone")
                .target_id(&instance_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ecs.tag_resource()
        .resource_arn(&cluster_arn)
        .tags(Tag::builder().key("more").value("tags").build())
        .send()
        .await
        .unwrap();
    ecs.untag_resource()
        .resource_arn(&cluster_arn)
        .tag_keys("k")
        .send()
        .await
        .unwrap();
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(&cluster_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].key(), Some("more"));
    let drained = ecs
        .update_container_instances_state()
        .cluster("sdk")
        .container_instances(&instance_arn)
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await
        .unwrap();
    assert_eq!(drained.container_instances()[0].status(), Some("DRAINING"));
    let err = ecs
        .deregister_container_instance()
        .cluster("sdk")
        .container_instance(&instance_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = ecs
        .delete_cluster()
        .cluster("sdk")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("ClusterContainsContainerInstancesException")
    );
    ecs.deregister_container_instance()
        .cluster("sdk")
        .container_instance(&instance_arn)
        .force(true)
        .send()
        .await
        .unwrap();
    let deregistered = ecs
        .deregister_task_definition()
        .task_definition("sdk-app:1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deregistered
            .task_definition()
            .unwrap()
            .status()
            .map(|s| s.as_str()),
        Some("INACTIVE")
    );
    let deleted = ecs.delete_cluster().cluster("sdk").send().await.unwrap();
    assert_eq!(deleted.cluster().unwrap().status(), Some("INACTIVE"));
    let err = ecs.list_tasks().cluster("sdk").send().await.unwrap_err();
    assert!(err.into_service_error().is_cluster_not_found_exception());
}

#[test]
fn strict_sigv4_with_the_rust_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, format!("{ACCESS_KEY} {SECRET_KEY}\n")).unwrap();
    let server = TestServer::start_with(&dir.path().join("data"), Some(credentials));
    block_on(strict_sigv4(&server));
}

async fn strict_sigv4(server: &TestServer) {
    client(server, SECRET_KEY)
        .create_cluster()
        .send()
        .await
        .unwrap();
    let err = client(server, "wrong")
        .list_clusters()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
}
