//! The whole agent path on the real Docker engine against a real, in-process ecs-local:
//! RunTask → ACS payload → engine → container runs → RUNNING in DescribeTasks (with the
//! runtime ID and network binding) → TCS metrics → StopTask → STOPPED with exit code.

mod backend_support;

use std::sync::Arc;
use std::time::Duration;

use backend_support::{
    CLUSTER, LocalServer, describe_task, eventually, server_and_agent_dirs, settings,
    wait_outbox_empty,
};
use ecs_agent::backend::acs::{AcsIdentity, AcsSession, AcsTimers};
use ecs_agent::backend::capabilities::HostFacts;
use ecs_agent::backend::outbox::Outbox;
use ecs_agent::backend::{
    CredentialsManager, EcsClient, MetricsMode, Registrar, Submitter, SubmitterTimers, TcsIdentity,
    TcsSession, TcsTimers, forward_state_changes,
};
use ecs_agent::docker::{DockerApi, DockerClient};
use ecs_agent::engine::{Engine, EngineConfig, PullBehavior};
use ecs_agent::store::Store;
use ecs_test_support::ecs::{
    self, app_container, dynamic_tcp_port, stopped_with_exit_code, until_sigterm_then_exit,
};
use tokio::sync::watch;

#[tokio::test]
async fn run_task_runs_in_docker_and_stop_task_reports_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let (server_dir, agent_dir) = server_and_agent_dirs(dir.path());
    let server = LocalServer::start("127.0.0.1:0".parse().unwrap(), &server_dir).await;

    let docker: Arc<dyn DockerApi> = Arc::new(DockerClient::connect(None).await.unwrap());
    let s = settings(&server.url());
    let client = EcsClient::new(&s).await.unwrap();
    let host = HostFacts::detect(docker.version());
    let registered = Registrar::new(client.clone(), s.clone(), host.clone())
        .register(None)
        .await
        .unwrap();

    let store = Store::open_in(&agent_dir).unwrap();
    let config = EngineConfig {
        cluster: CLUSTER.to_owned(),
        data_dir: agent_dir.clone(),
        host_data_dir: agent_dir.clone(),
        pull_behavior: PullBehavior::PreferCached,
        task_cpu_mem_limit: false,
        container_stop_timeout: Duration::from_secs(5),
        ..EngineConfig::default()
    };
    let engine =
        Arc::new(Engine::new(docker.clone(), Some(store.clone()), config).with_durable_outbox());
    let submitter = Submitter::new(
        client.clone(),
        CLUSTER,
        Outbox::durable(store.clone()),
        SubmitterTimers::default(),
    );
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(forward_state_changes(
        engine.subscribe_reports(),
        submitter.clone(),
    ));
    tokio::spawn(submitter.clone().run(shutdown.clone()));
    engine.start().await.unwrap();

    let session = AcsSession::new(
        client.clone(),
        AcsIdentity {
            cluster: CLUSTER.to_owned(),
            container_instance_arn: registered.container_instance_arn.clone(),
            docker_version: Some(host.docker_version.clone()),
        },
        engine.clone(),
        Arc::new(CredentialsManager::new()),
        submitter.clone(),
        Some(store.clone()),
        false,
        AcsTimers::default(),
    );
    let signals = session.signals();
    tokio::spawn(session.run(shutdown.clone()));
    let tcs = TcsSession::new(
        client.clone(),
        TcsIdentity {
            cluster: CLUSTER.to_owned(),
            container_instance_arn: registered.container_instance_arn.clone(),
            docker_version: Some(host.docker_version.clone()),
        },
        engine.clone(),
        docker.clone(),
        MetricsMode {
            disabled: false,
            // Docker's stream, the default mode (ECS_POLL_METRICS=false).
            poll: false,
            poll_interval: Duration::from_millis(200),
        },
        TcsTimers {
            publish_interval: Duration::from_millis(500),
            ..TcsTimers::default()
        },
        signals.heartbeats.clone(),
        signals.inactive.clone(),
    );
    tokio::spawn(tcs.run(shutdown.clone()));

    let app = app_container(&["sh", "-c", &until_sigterm_then_exit(7)])
        .cpu(10)
        .port_mappings(dynamic_tcp_port(80))
        .build();
    let task_arn = ecs::register_and_run(client.sdk(), CLUSTER, "e2e", app).await;

    eventually(
        "RUNNING in DescribeTasks",
        Duration::from_secs(60),
        async || describe_task(&client, &task_arn).await.last_status() == Some("RUNNING"),
    )
    .await;
    let described = describe_task(&client, &task_arn).await;
    let container = &described.containers()[0];
    let runtime_id = container.runtime_id().unwrap().to_owned();
    let inspected = docker
        .inspect_container(&runtime_id, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(inspected.state.running);
    let binding = &container.network_bindings()[0];
    assert_eq!(binding.container_port(), Some(80));
    assert!(binding.host_port().unwrap_or(0) > 0);

    let tcs_server = server.tcs.clone();
    let arn = task_arn.clone();
    eventually("task metrics over TCS", Duration::from_secs(20), || {
        let got = tcs_server
            .task_telemetry(&arn)
            .and_then(|t| t.metrics)
            .is_some_and(|m| {
                m.container_metrics
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.memory_stats_set.is_some())
            });
        async move { got }
    })
    .await;

    let tcs_server = server.tcs.clone();
    let instance_arn = registered.container_instance_arn.clone();
    eventually(
        "the instance status over TCS",
        Duration::from_secs(20),
        || {
            let ok = tcs_server
                .instance_telemetry(&instance_arn)
                .is_some_and(|i| {
                    i.statuses.iter().any(|s| {
                        s.status_type.as_deref() == Some("ContainerRuntime")
                            && s.status == Some(ecs_types::tcs::InstanceHealthcheckStatus::Ok)
                    })
                });
            async move { ok }
        },
    )
    .await;

    client
        .sdk()
        .stop_task()
        .cluster(CLUSTER)
        .task(&task_arn)
        .reason("end of test")
        .send()
        .await
        .unwrap();
    eventually(
        "STOPPED in DescribeTasks",
        Duration::from_secs(60),
        async || stopped_with_exit_code(&describe_task(&client, &task_arn).await),
    )
    .await;
    let described = describe_task(&client, &task_arn).await;
    assert_eq!(described.containers()[0].exit_code(), Some(7));
    wait_outbox_empty(&store, Duration::from_secs(10)).await;

    stop.send_replace(true);
    engine.shutdown().await;
    let _ = docker
        .remove_container(&runtime_id, true, true, Duration::from_secs(30))
        .await;
    server.stop().await;
}
