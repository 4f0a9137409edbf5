//! `ecs-local up` in-process (ecs-local and the real agent on the real Docker engine)
//! and the real AWS CLI pointed at it.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ecs_agent::docker::{ContainerDetails, ContainerFilter, DockerApi, DockerClient};
use ecs_agent::endpoints::EndpointConfig;
use ecs_local::up::{DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, Up, UpConfig};
use ecs_test_support::{aws_cli, docker as docker_cli};
use serde_json::Value;

pub const IMAGE: &str = ecs_test_support::IMAGE;

/// One `up` with its own cluster, state and agent ports; its task containers are
/// removed when it is dropped, whatever the test's outcome.
pub struct Local {
    pub up: Option<Up>,
    pub cluster: String,
    pub dir: tempfile::TempDir,
    pub docker: DockerClient,
}

impl Local {
    pub async fn start(test: &str) -> Local {
        // The 169.254.170.2 rules are only installed by the tests about them.
        Self::start_with_env(test, &[("ECS_AGENT_MANAGE_NETWORK_RULES", "false")]).await
    }

    /// `env`: agent variables on top of the usual ones.
    pub async fn start_with_env(test: &str, env: &[(&str, &str)]) -> Local {
        let dir = tempfile::tempdir().unwrap();
        let cluster = format!("up-{test}-{}", std::process::id());
        let mut config = UpConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), dir.path());
        config.cluster = cluster.clone();
        config.agent_endpoints = Some(EndpointConfig {
            introspection_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            task_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            rps_steady: 40,
            rps_burst: 60,
            runtime_stats: false,
            license_dir: PathBuf::from("."),
        });
        // Stopped tasks are kept (not cleaned up) for the length of any test.
        config
            .agent_env
            .insert("ECS_CONTAINER_STOP_TIMEOUT".to_owned(), "2s".to_owned());
        config
            .agent_env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let up = Up::start(config).await.unwrap();
        let docker = DockerClient::connect(None).await.unwrap();
        Local {
            up: Some(up),
            cluster,
            dir,
            docker,
        }
    }

    pub fn up(&self) -> &Up {
        self.up.as_ref().unwrap()
    }

    pub fn up_mut(&mut self) -> &mut Up {
        self.up.as_mut().unwrap()
    }

    pub fn instance_arn(&self) -> String {
        self.up()
            .agent()
            .unwrap()
            .container_instance_arn()
            .to_owned()
    }

    /// `aws ecs <args>` against this ecs-local; must succeed; its JSON output.
    pub async fn aws(&self, args: &[&str]) -> Value {
        let cli = aws_cli::ecs_command(
            &self.up().url(),
            self.up().region(),
            DUMMY_ACCESS_KEY_ID,
            DUMMY_SECRET_ACCESS_KEY,
            args,
        );
        let out = tokio::process::Command::from(cli)
            .output()
            .await
            .unwrap_or_else(|e| aws_cli::not_installed(e));
        aws_cli::json_output(args, &out)
    }

    /// Registers a task definition from its JSON (as a file, like a user would).
    pub async fn register_task_definition(&self, json: &str) -> Value {
        let path = self.dir.path().join("taskdef.json");
        std::fs::write(&path, json).unwrap();
        let input = format!("file://{}", path.display());
        self.aws(&["register-task-definition", "--cli-input-json", &input])
            .await
    }

    /// `run-task`; the task ARN.
    pub async fn run_task(&self, family: &str) -> String {
        let out = self
            .aws(&[
                "run-task",
                "--cluster",
                &self.cluster,
                "--task-definition",
                family,
            ])
            .await;
        assert_eq!(out["failures"], serde_json::json!([]), "{out}");
        out["tasks"][0]["taskArn"].as_str().unwrap().to_owned()
    }

    pub async fn describe_task(&self, arn: &str) -> Value {
        let out = self
            .aws(&["describe-tasks", "--cluster", &self.cluster, "--tasks", arn])
            .await;
        out["tasks"][0].clone()
    }

    /// Polls describe-tasks until `done` holds; panics after `within`.
    pub async fn wait_task(
        &self,
        arn: &str,
        what: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        ecs_test_support::wait_for(what, within, Duration::from_millis(200), async || {
            let task = self.describe_task(arn).await;
            if done(&task) {
                Ok(task)
            } else {
                Err(Some(format!("{task:#}")))
            }
        })
        .await
        .unwrap()
    }

    pub async fn wait_status(&self, arn: &str, status: &str) -> Value {
        self.wait_task(arn, status, Duration::from_secs(90), |t| {
            t["lastStatus"] == status
        })
        .await
    }

    pub async fn inspect(&self, docker_id: &str) -> ContainerDetails {
        self.docker
            .inspect_container(docker_id, Duration::from_secs(10))
            .await
            .unwrap()
    }

    /// Docker containers of task `arn` (by the agent's task label), running or not.
    pub async fn task_containers(&self, arn: &str) -> Vec<String> {
        let filter = ContainerFilter {
            all: true,
            labels: vec![format!("com.amazonaws.ecs.task-arn={arn}")],
            ..ContainerFilter::default()
        };
        self.docker
            .list_containers(&filter, Duration::from_secs(10))
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the agent (containers keep running) and ecs-local.
    pub async fn stop(mut self) -> u8 {
        let up = self.up.take().unwrap();
        up.stop().await
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Containers the agent leaves running on purpose; removed with the CLI so
        // cleanup also works while a panic unwinds.
        docker_cli::remove_labelled(&docker_cli::cluster_label(&self.cluster));
    }
}
