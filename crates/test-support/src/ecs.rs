//! The ECS API through the AWS SDK, as tests drive ecs-local with it.

use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerDefinition, PortMapping, Task, TransportProtocol};

use crate::wait::{TimedOut, wait_for};

/// A shell command for a container that runs until SIGTERM, then exits with `code`.
pub fn until_sigterm_then_exit(code: u8) -> String {
    format!("trap 'exit {code}' TERM; while true; do sleep 1; done")
}

/// An essential container `app` of the test image with 32 MiB running `command`.
pub fn app_container(command: &[&str]) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
    ContainerDefinition::builder()
        .name("app")
        .image(crate::IMAGE)
        .memory(32)
        .essential(true)
        .set_command(Some(command.iter().map(|c| (*c).to_owned()).collect()))
}

/// A TCP port mapping of `container_port` to a dynamic host port.
pub fn dynamic_tcp_port(container_port: i32) -> PortMapping {
    PortMapping::builder()
        .container_port(container_port)
        .host_port(0)
        .protocol(TransportProtocol::Tcp)
        .build()
}

/// Registers `family` with the one container and runs it once on `cluster`; asserts no
/// placement failure; the task ARN.
pub async fn register_and_run(
    ecs: &Client,
    cluster: &str,
    family: &str,
    container: ContainerDefinition,
) -> String {
    ecs.register_task_definition()
        .family(family)
        .container_definitions(container)
        .send()
        .await
        .expect("RegisterTaskDefinition");
    let out = ecs
        .run_task()
        .cluster(cluster)
        .task_definition(family)
        .send()
        .await
        .expect("RunTask");
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.tasks()[0].task_arn().expect("task ARN").to_owned()
}

/// DescribeTasks of one task.
pub async fn describe_task(ecs: &Client, cluster: &str, arn: &str) -> Task {
    let out = ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .expect("DescribeTasks");
    out.tasks()[0].clone()
}

/// Polls DescribeTasks (every 200 ms) until `done` holds; the task as it then was.
pub async fn wait_task(
    ecs: &Client,
    cluster: &str,
    arn: &str,
    what: &str,
    within: Duration,
    done: impl Fn(&Task) -> bool,
) -> Result<Task, TimedOut> {
    wait_for(what, within, Duration::from_millis(200), async || {
        let task = describe_task(ecs, cluster, arn).await;
        if done(&task) {
            Ok(task)
        } else {
            Err(Some(format!("{task:?}")))
        }
    })
    .await
}

/// Whether the task's first container has stopped with an exit code.
pub fn stopped_with_exit_code(task: &Task) -> bool {
    task.last_status() == Some("STOPPED") && task.containers()[0].exit_code().is_some()
}
