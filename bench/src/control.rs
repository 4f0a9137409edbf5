//! ecs-local through the AWS SDK for Rust: task definitions, RunTask in batches, and the
//! timestamps ecs-local records (createdAt when RunTask placed the task, startedAt when
//! the agent's RUNNING state change arrived, stoppedAt for STOPPED).

use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::types::ContainerDefinition;
use futures::future::try_join_all;

pub const REGION: &str = "us-east-1";
/// ecs-local accepts any well-formed signature; the agent signs with the same keys.
pub const ACCESS_KEY: &str = "bench";
pub const SECRET_KEY: &str = "bench";
/// RunTask places at most this many tasks per call.
const RUN_TASK_MAX: usize = 10;
/// DescribeTasks describes at most this many tasks per call.
const DESCRIBE_MAX: usize = 100;

#[derive(Clone)]
pub struct Control {
    pub ecs: Client,
    pub cluster: String,
}

/// What DescribeTasks says about one task; times are seconds since the epoch.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub arn: String,
    pub last_status: String,
    pub created_at: Option<f64>,
    pub started_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub runtime_id: Option<String>,
    pub stopped_reason: Option<String>,
}

impl Control {
    pub fn new(url: &str, cluster: &str) -> Control {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "bench",
            ))
            .endpoint_url(url)
            .build();
        Control {
            ecs: Client::from_conf(config),
            cluster: cluster.to_owned(),
        }
    }

    pub async fn create_cluster(&self) -> anyhow::Result<()> {
        self.ecs
            .create_cluster()
            .cluster_name(&self.cluster)
            .send()
            .await
            .context("CreateCluster")?;
        Ok(())
    }

    /// One busybox container running `command`; a one-second stop timeout because
    /// busybox as PID 1 ignores SIGTERM.
    pub async fn register(
        &self,
        family: &str,
        image: &str,
        command: &[&str],
    ) -> anyhow::Result<()> {
        let mut container = ContainerDefinition::builder()
            .name("main")
            .image(image)
            .memory_reservation(16)
            .essential(true)
            .stop_timeout(1);
        for part in command {
            container = container.command(*part);
        }
        self.ecs
            .register_task_definition()
            .family(family)
            .container_definitions(container.build())
            .send()
            .await
            .with_context(|| format!("RegisterTaskDefinition {family}"))?;
        Ok(())
    }

    /// Places `n` tasks of `family` with concurrent RunTask calls; their ARNs.
    pub async fn run_tasks(&self, family: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let mut calls = Vec::new();
        let mut left = n;
        while left > 0 {
            let count = left.min(RUN_TASK_MAX);
            left -= count;
            calls.push(
                self.ecs
                    .run_task()
                    .cluster(&self.cluster)
                    .task_definition(family)
                    .count(count as i32)
                    .send(),
            );
        }
        let outputs = try_join_all(calls).await.context("RunTask")?;
        let mut arns = Vec::with_capacity(n);
        for out in outputs {
            if let Some(f) = out.failures().first() {
                bail!("RunTask failure: {:?} {:?}", f.reason(), f.detail());
            }
            arns.extend(
                out.tasks()
                    .iter()
                    .filter_map(|t| t.task_arn().map(str::to_owned)),
            );
        }
        Ok(arns)
    }

    pub async fn describe(&self, arns: &[String]) -> anyhow::Result<Vec<TaskView>> {
        let calls = arns.chunks(DESCRIBE_MAX).map(|chunk| {
            self.ecs
                .describe_tasks()
                .cluster(&self.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
        });
        let outputs = try_join_all(calls).await.context("DescribeTasks")?;
        Ok(outputs
            .iter()
            .flat_map(|o| o.tasks())
            .map(|t| TaskView {
                arn: t.task_arn().unwrap_or_default().to_owned(),
                last_status: t.last_status().unwrap_or_default().to_owned(),
                created_at: t.created_at().map(|d| d.as_secs_f64()),
                started_at: t.started_at().map(|d| d.as_secs_f64()),
                stopped_at: t.stopped_at().map(|d| d.as_secs_f64()),
                runtime_id: t
                    .containers()
                    .first()
                    .and_then(|c| c.runtime_id())
                    .map(str::to_owned),
                stopped_reason: t.stopped_reason().map(str::to_owned),
            })
            .collect())
    }

    /// Polls until every task's last status is `status` (or STOPPED, which ends a wait
    /// for RUNNING with an error).
    pub async fn wait_for(
        &self,
        arns: &[String],
        status: &str,
        timeout: Duration,
    ) -> anyhow::Result<Vec<TaskView>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let views = self.describe(arns).await?;
            if let Some(v) = views
                .iter()
                .find(|v| status != "STOPPED" && v.last_status == "STOPPED")
            {
                bail!("task {} stopped: {:?}", v.arn, v.stopped_reason);
            }
            let done = views.iter().filter(|v| v.last_status == status).count();
            if done == arns.len() {
                return Ok(views);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{done} of {} tasks {status} after {timeout:?}", arns.len());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn stop_all(&self, arns: &[String]) -> anyhow::Result<()> {
        for chunk in arns.chunks(20) {
            let calls = chunk.iter().map(|arn| {
                self.ecs
                    .stop_task()
                    .cluster(&self.cluster)
                    .task(arn)
                    .reason("bench")
                    .send()
            });
            try_join_all(calls).await.context("StopTask")?;
        }
        Ok(())
    }

    /// The (only) container instance and whether its agent holds an ACS connection.
    pub async fn instance(&self) -> anyhow::Result<Option<(String, bool)>> {
        let list = self
            .ecs
            .list_container_instances()
            .cluster(&self.cluster)
            .send()
            .await
            .context("ListContainerInstances")?;
        let Some(arn) = list.container_instance_arns().first() else {
            return Ok(None);
        };
        let described = self
            .ecs
            .describe_container_instances()
            .cluster(&self.cluster)
            .container_instances(arn)
            .send()
            .await
            .context("DescribeContainerInstances")?;
        Ok(described
            .container_instances()
            .first()
            .map(|i| (arn.clone(), i.agent_connected())))
    }
}

/// Seconds since the epoch, as ecs-local records them.
pub fn epoch_now() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}
