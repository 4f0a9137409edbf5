//! Registration against a real, in-process ecs-local.

mod backend_support;

use backend_support::{CLUSTER, LocalServer, host, server_and_agent_dirs, settings};
use ecs_agent::backend::{EcsClient, Registrar, register_with_store};
use ecs_agent::store::Store;

async fn describe_instance(client: &EcsClient, arn: &str) -> aws_sdk_ecs::types::ContainerInstance {
    let out = client
        .sdk()
        .describe_container_instances()
        .cluster(CLUSTER)
        .container_instances(arn)
        .send()
        .await
        .unwrap();
    out.container_instances()[0].clone()
}

#[tokio::test]
async fn registers_and_reregisters_with_the_saved_arn() {
    let dir = tempfile::tempdir().unwrap();
    let (server_dir, agent_dir) = server_and_agent_dirs(dir.path());
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), &server_dir).await;

    let mut s = settings(&server.url());
    s.instance_attributes = [("team".to_owned(), "blue".to_owned())].into();
    s.instance_tags = [("env".to_owned(), "test".to_owned())].into();
    s.reserved_memory_mib = 96;
    let client = EcsClient::new(&s).await.unwrap();
    let registrar = Registrar::new(client.clone(), s.clone(), host());

    let store = Store::open_in(&agent_dir).unwrap();
    let first = register_with_store(&registrar, Some(&store), None)
        .await
        .unwrap();
    assert!(
        first
            .container_instance_arn
            .contains(":container-instance/local/")
    );
    assert_eq!(first.cluster, CLUSTER);
    let saved = store.load_identity().unwrap().unwrap();
    assert_eq!(saved.container_instance_arn, first.container_instance_arn);
    assert_eq!(saved.cluster, CLUSTER);

    let described = describe_instance(&client, &first.container_instance_arn).await;
    let names: Vec<&str> = described.attributes().iter().map(|a| a.name()).collect();
    assert!(names.contains(&"team"));
    assert!(names.contains(&"ecs.capability.external"));
    assert!(names.contains(&"ecs.os-type"));
    let memory = described
        .registered_resources()
        .iter()
        .find(|r| r.name() == Some("MEMORY"))
        .unwrap();
    assert_eq!(memory.integer_value(), 4096 - 96);
    let cpu = described
        .registered_resources()
        .iter()
        .find(|r| r.name() == Some("CPU"))
        .unwrap();
    assert_eq!(cpu.integer_value(), 2048);

    // A restart: the store is reopened, the saved ARN is sent and kept.
    drop(store);
    let store = Store::open_in(&agent_dir).unwrap();
    let second = register_with_store(&registrar, Some(&store), None)
        .await
        .unwrap();
    assert_eq!(second.container_instance_arn, first.container_instance_arn);
    let listed = client
        .sdk()
        .list_container_instances()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.container_instance_arns().len(), 1);
    // Custom attributes go only with the first registration.
    let described = describe_instance(&client, &first.container_instance_arn).await;
    assert!(!described.attributes().iter().any(|a| a.name() == "team"));
    server.stop().await;
}

#[tokio::test]
async fn terminal_errors_exit_5_and_network_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), dir.path()).await;
    // ecs-local answers InvalidParameterException for an impossible cluster name, as ECS.
    let mut s = settings(&server.url());
    s.cluster = "c".repeat(300);
    let client = EcsClient::new(&s).await.unwrap();
    let registrar = Registrar::new(client, s, host());
    let err = registrar.register(None).await.unwrap_err();
    assert!(err.is_terminal(), "{err}");
    assert_eq!(err.exit_code(), 5);
    assert!(
        err.to_string().contains("InvalidParameterException"),
        "{err}"
    );
    server.stop().await;

    // Nothing listens any more: a network error is retriable (exit 1).
    let mut s = settings("http://127.0.0.1:9");
    s.instance_attributes.clear();
    let client = EcsClient::new(&s).await.unwrap();
    let registrar = Registrar::new(client, s, host());
    let err = registrar.register(None).await.unwrap_err();
    assert!(!err.is_terminal(), "{err}");
    assert_eq!(err.exit_code(), 1);
}
