//! The container metadata file (`ECS_ENABLE_CONTAINER_METADATA`, spec endpoints §5):
//! `<ECS_DATADIR>/metadata/<task part>/<container>/ecs-container-metadata.json`,
//! written with the initial content when a container is created, rewritten `READY`
//! with Docker's view once it runs, and removed with the task at cleanup. Driven by
//! the engine's state-change stream.

use std::collections::HashSet;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ecs_types::ContainerStatus;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::json::to_go_json_indented;
use super::model::Network;
use super::source::TaskSource;
use crate::docker::{ContainerDetails, DockerApi};
use crate::engine::{StateChange, TaskSnapshot};

pub const FILE_NAME: &str = "ecs-container-metadata.json";

/// What every file of this agent carries.
#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    pub cluster: String,
    pub container_instance_arn: String,
    pub availability_zone: String,
    pub host_private_ipv4: String,
    pub host_public_ipv4: String,
}

#[derive(Debug, Serialize)]
struct PortMapping {
    #[serde(rename = "ContainerPort")]
    container_port: u16,
    #[serde(rename = "ContainerPortRange")]
    container_port_range: &'static str,
    #[serde(rename = "HostPort")]
    host_port: u16,
    #[serde(rename = "BindIp")]
    bind_ip: String,
    #[serde(rename = "Protocol")]
    protocol: &'static str,
}

#[derive(Debug, Serialize, Default)]
struct FileContent<'a> {
    #[serde(rename = "Cluster", skip_serializing_if = "str::is_empty")]
    cluster: &'a str,
    #[serde(rename = "ContainerInstanceARN", skip_serializing_if = "str::is_empty")]
    container_instance_arn: &'a str,
    #[serde(rename = "TaskARN", skip_serializing_if = "str::is_empty")]
    task_arn: &'a str,
    #[serde(rename = "TaskDefinitionFamily", skip_serializing_if = "str::is_empty")]
    family: &'a str,
    #[serde(
        rename = "TaskDefinitionRevision",
        skip_serializing_if = "str::is_empty"
    )]
    revision: &'a str,
    #[serde(rename = "ContainerID", skip_serializing_if = "str::is_empty")]
    container_id: &'a str,
    #[serde(rename = "ContainerName", skip_serializing_if = "str::is_empty")]
    container_name: &'a str,
    #[serde(
        rename = "DockerContainerName",
        skip_serializing_if = "String::is_empty"
    )]
    docker_container_name: String,
    #[serde(rename = "ImageID", skip_serializing_if = "str::is_empty")]
    image_id: &'a str,
    #[serde(rename = "ImageName", skip_serializing_if = "str::is_empty")]
    image_name: &'a str,
    #[serde(rename = "PortMappings", skip_serializing_if = "Vec::is_empty")]
    port_mappings: Vec<PortMapping>,
    #[serde(rename = "Networks", skip_serializing_if = "Vec::is_empty")]
    networks: Vec<Network>,
    #[serde(rename = "MetadataFileStatus", skip_serializing_if = "str::is_empty")]
    status: &'a str,
    #[serde(rename = "AvailabilityZone", skip_serializing_if = "str::is_empty")]
    availability_zone: &'a str,
    #[serde(
        rename = "HostPrivateIPv4Address",
        skip_serializing_if = "str::is_empty"
    )]
    host_private_ipv4: &'a str,
    #[serde(
        rename = "HostPublicIPv4Address",
        skip_serializing_if = "str::is_empty"
    )]
    host_public_ipv4: &'a str,
}

/// `<cluster>/<id>` (or `<id>` for old ARNs); `None` for a malformed ARN.
pub fn task_part(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 {
        return None;
    }
    let (_, rest) = parts[5].split_once('/')?;
    (!rest.is_empty()).then_some(rest)
}

/// The directory of a task's files.
pub fn task_dir(data_dir: &Path, arn: &str) -> Option<PathBuf> {
    Some(data_dir.join("metadata").join(task_part(arn)?))
}

/// The file of one container.
pub fn file_path(data_dir: &Path, arn: &str, container: &str) -> Option<PathBuf> {
    Some(task_dir(data_dir, arn)?.join(container).join(FILE_NAME))
}

fn write_atomic(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("temp_metadata_file{:016x}", rand::random::<u64>()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(body)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    Ok(())
}

fn networks(details: &ContainerDetails) -> Vec<Network> {
    if details.networks.is_empty() {
        return vec![Network {
            network_mode: details.network_mode.clone(),
            ipv4_addresses: vec![String::new()],
            ipv6_addresses: Vec::new(),
        }];
    }
    details
        .networks
        .iter()
        .map(|n| Network {
            network_mode: n.name.clone(),
            ipv4_addresses: vec![n.ip_address.clone()],
            ipv6_addresses: if n.ipv6_address.is_empty() {
                Vec::new()
            } else {
                vec![n.ipv6_address.clone()]
            },
        })
        .collect()
}

/// Writes and updates the files; one per agent.
pub struct MetadataFiles {
    pub data_dir: PathBuf,
    pub host: HostInfo,
    pub docker: Arc<dyn DockerApi>,
}

impl MetadataFiles {
    /// The initial content (no Docker fields, no status).
    pub fn write_initial(&self, task: &TaskSnapshot, idx: usize) -> std::io::Result<()> {
        let spec = &task.spec.containers[idx];
        let Some(path) = file_path(&self.data_dir, &task.spec.arn, &spec.name) else {
            tracing::warn!(task = %task.spec.arn, "malformed task ARN; no container metadata file");
            return Ok(());
        };
        let content = self.base(task, idx);
        write_atomic(&path, &to_go_json_indented(&content).unwrap_or_default())
    }

    fn base<'a>(&'a self, task: &'a TaskSnapshot, idx: usize) -> FileContent<'a> {
        FileContent {
            cluster: &self.host.cluster,
            container_instance_arn: &self.host.container_instance_arn,
            task_arn: &task.spec.arn,
            family: &task.spec.family,
            revision: &task.spec.version,
            container_name: &task.spec.containers[idx].name,
            availability_zone: &self.host.availability_zone,
            host_private_ipv4: &self.host.host_private_ipv4,
            host_public_ipv4: &self.host.host_public_ipv4,
            ..FileContent::default()
        }
    }

    /// The `READY` content from `docker inspect`; left as is when not running.
    pub async fn write_ready(&self, task: &TaskSnapshot, idx: usize) -> std::io::Result<bool> {
        let spec = &task.spec.containers[idx];
        let Some(id) = task.containers[idx].docker_id.as_deref() else {
            return Ok(false);
        };
        let Some(path) = file_path(&self.data_dir, &task.spec.arn, &spec.name) else {
            return Ok(false);
        };
        let details = match self
            .docker
            .inspect_container(id, Duration::from_secs(30))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "cannot inspect container for its metadata file");
                return Ok(false);
            }
        };
        if !details.state.running {
            tracing::warn!(container = %id, "container not running; metadata file not updated");
            return Ok(false);
        }
        let mut content = self.base(task, idx);
        content.container_id = &details.id;
        content.docker_container_name = format!("/{}", details.name);
        content.image_id = &details.image_id;
        content.image_name = &details.image;
        content.port_mappings = details
            .port_bindings
            .iter()
            .map(|b| PortMapping {
                container_port: b.container_port,
                container_port_range: "",
                host_port: b.host_port,
                bind_ip: b.host_ip.clone(),
                protocol: b.protocol.as_str(),
            })
            .collect();
        content.networks = networks(&details);
        content.status = "READY";
        write_atomic(&path, &to_go_json_indented(&content).unwrap_or_default())?;
        Ok(true)
    }

    /// Follows `changes` until `stop`: initial file at CREATED, READY at RUNNING,
    /// the task's directory removed once the engine no longer holds the task.
    pub fn spawn(
        self,
        tasks: Arc<dyn TaskSource>,
        mut changes: UnboundedReceiver<StateChange>,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ready: HashSet<(String, String)> = HashSet::new();
            let mut seen: HashSet<String> = HashSet::new();
            // Containers already running when we start (agent restart) are updated once.
            for task in tasks.list_tasks() {
                for idx in 0..task.containers.len() {
                    if task.containers[idx].known == ContainerStatus::Running {
                        self.ready_once(&task, idx, &mut ready).await;
                    }
                }
            }
            let mut sweep = tokio::time::interval(Duration::from_secs(30));
            loop {
                tokio::select! {
                    change = changes.recv() => match change {
                        Some(StateChange::Container(c)) => {
                            let Some(task) = tasks.task(&c.task_arn) else { continue };
                            let Some(idx) = task.index_of(&c.container_name) else { continue };
                            match c.status {
                                ContainerStatus::Created => {
                                    if let Err(e) = self.write_initial(&task, idx) {
                                        tracing::warn!(error = %e, "cannot write container metadata file");
                                    }
                                }
                                ContainerStatus::Running => self.ready_once(&task, idx, &mut ready).await,
                                _ => {}
                            }
                        }
                        Some(StateChange::Task(_)) => {}
                        None => return,
                    },
                    _ = sweep.tick() => self.sweep(tasks.as_ref(), &mut seen, &mut ready),
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
                }
            }
        })
    }

    async fn ready_once(
        &self,
        task: &TaskSnapshot,
        idx: usize,
        ready: &mut HashSet<(String, String)>,
    ) {
        let key = (
            task.spec.arn.clone(),
            task.spec.containers[idx].name.clone(),
        );
        if ready.contains(&key) {
            return;
        }
        if let Some(path) = file_path(&self.data_dir, &task.spec.arn, &key.1)
            && !path.exists()
            && let Err(e) = self.write_initial(task, idx)
        {
            tracing::warn!(error = %e, "cannot write container metadata file");
        }
        match self.write_ready(task, idx).await {
            Ok(true) => {
                ready.insert(key);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot update container metadata file"),
        }
    }

    fn sweep(
        &self,
        tasks: &dyn TaskSource,
        seen: &mut HashSet<String>,
        ready: &mut HashSet<(String, String)>,
    ) {
        let live: HashSet<String> = tasks
            .list_tasks()
            .iter()
            .map(|t| t.spec.arn.clone())
            .collect();
        for gone in seen.difference(&live) {
            if let Some(dir) = task_dir(&self.data_dir, gone) {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        ready.retain(|(arn, _)| live.contains(arn));
        *seen = live;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_part_follows_the_arn_form() {
        assert_eq!(
            task_part("arn:aws:ecs:us-west-2:1:task/default/abc"),
            Some("default/abc")
        );
        assert_eq!(task_part("arn:aws:ecs:us-west-2:1:task/abc"), Some("abc"));
        assert_eq!(task_part("arn:aws:ecs:us-west-2:1:task"), None);
        assert_eq!(task_part("nonsense"), None);
    }
}
