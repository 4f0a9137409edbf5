//! `ecs-local up --example`: a sample web server task registered and run through the
//! ECS API, exactly as the AWS CLI would, and its status once it settles.

use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::types::{ContainerDefinition, PortMapping, Task, TransportProtocol};
use ecs_agent::backend::settings::StaticKeys;
use ecs_agent::backend::{BackendSettings, EcsClient};

use super::{DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, Up, UpError};

/// The sample's image; busybox has a shell and a small web server.
pub const DEFAULT_IMAGE: &str = "busybox:latest";
/// Task definition family of the sample.
pub const FAMILY: &str = "ecs-local-example";
/// How long the sample may take to pull and start.
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The sample task once it is RUNNING (or STOPPED).
#[derive(Debug, Clone)]
pub struct ExampleTask {
    pub task_arn: String,
    pub cluster: String,
    pub last_status: String,
    pub stopped_reason: Option<String>,
    pub host_port: Option<i32>,
    pub endpoint_url: String,
    pub region: String,
}

impl fmt::Display for ExampleTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Sample task {} is {}.", self.task_arn, self.last_status)?;
        if let Some(reason) = &self.stopped_reason {
            writeln!(f, "  stopped reason: {reason}")?;
        }
        if let Some(port) = self.host_port {
            writeln!(f, "  try: curl http://127.0.0.1:{port}/")?;
        }
        write!(
            f,
            "  aws ecs describe-tasks --cluster {c} --tasks {t} --endpoint-url {u} --region {r}\n  aws ecs stop-task --cluster {c} --task {t} --endpoint-url {u} --region {r}",
            c = self.cluster,
            t = self.task_arn,
            u = self.endpoint_url,
            r = self.region,
        )
    }
}

/// A client of `up`'s ECS API with the dummy keys.
pub async fn client(up: &Up) -> Result<EcsClient, UpError> {
    let mut settings = BackendSettings {
        region: Some(up.region().to_owned()),
        external: true,
        no_iid: true,
        ..BackendSettings::default()
    };
    settings.endpoints.backend_host = Some(up.url());
    settings.credentials.keys = Some(StaticKeys {
        access_key_id: DUMMY_ACCESS_KEY_ID.to_owned(),
        secret_access_key: DUMMY_SECRET_ACCESS_KEY.to_owned(),
        session_token: None,
    });
    EcsClient::new(&settings)
        .await
        .map_err(|e| UpError::Example(e.to_string()))
}

/// Registers the sample task definition, runs it on `up`'s cluster and waits until it
/// is RUNNING or STOPPED.
pub async fn run(up: &Up, image: &str) -> Result<ExampleTask, UpError> {
    let fail = |what: &str, e: &dyn fmt::Display| UpError::Example(format!("{what}: {e}"));
    let cluster = up
        .agent()
        .map(|a| a.cluster().to_owned())
        .unwrap_or_default();
    let client = client(up).await?;
    let sdk = client.sdk();
    let web = ContainerDefinition::builder()
        .name("web")
        .image(image)
        .memory(32)
        .cpu(64)
        .essential(true)
        .stop_timeout(5)
        .command("sh")
        .command("-c")
        .command(
            "mkdir -p /www && echo 'hello from ecs-local' > /www/index.html \
             && exec httpd -f -p 8080 -h /www",
        )
        .port_mappings(
            PortMapping::builder()
                .container_port(8080)
                .host_port(0)
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .build();
    sdk.register_task_definition()
        .family(FAMILY)
        .container_definitions(web)
        .send()
        .await
        .map_err(|e| {
            fail(
                "RegisterTaskDefinition",
                &aws_sdk_ecs::error::DisplayErrorContext(e),
            )
        })?;
    let ran = sdk
        .run_task()
        .cluster(&cluster)
        .task_definition(FAMILY)
        .send()
        .await
        .map_err(|e| fail("RunTask", &aws_sdk_ecs::error::DisplayErrorContext(e)))?;
    if let Some(failure) = ran.failures().first() {
        return Err(UpError::Example(format!(
            "RunTask placed nothing: {}",
            failure.reason().unwrap_or("no reason given")
        )));
    }
    let task_arn = ran
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .ok_or_else(|| UpError::Example("RunTask returned no task".to_owned()))?
        .to_owned();
    println!("Sample task {task_arn} placed; waiting for it to run ({image})");
    let task = wait_settled(&client, &cluster, &task_arn).await?;
    Ok(ExampleTask {
        task_arn,
        cluster,
        last_status: task.last_status().unwrap_or_default().to_owned(),
        stopped_reason: task.stopped_reason().map(str::to_owned),
        host_port: task
            .containers()
            .iter()
            .flat_map(|c| c.network_bindings())
            .find_map(|b| b.host_port()),
        endpoint_url: up.url(),
        region: up.region().to_owned(),
    })
}

/// Polls DescribeTasks until the task is RUNNING or STOPPED.
async fn wait_settled(client: &EcsClient, cluster: &str, arn: &str) -> Result<Task, UpError> {
    let deadline = tokio::time::Instant::now() + SETTLE_DEADLINE;
    loop {
        let out = client
            .sdk()
            .describe_tasks()
            .cluster(cluster)
            .tasks(arn)
            .send()
            .await
            .map_err(|e| {
                UpError::Example(format!(
                    "DescribeTasks: {}",
                    aws_sdk_ecs::error::DisplayErrorContext(e)
                ))
            })?;
        if let Some(task) = out.tasks().first()
            && matches!(task.last_status(), Some("RUNNING" | "STOPPED"))
        {
            return Ok(task.clone());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(UpError::Example(format!(
                "{arn} did not reach RUNNING within {}s",
                SETTLE_DEADLINE.as_secs()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
