//! Docker actions run as background jobs of a task actor: pull, create, start, stop,
//! inspect. Each returns a `ContainerChange` for the actor to apply (§2.7–§2.10, §9.3).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ecs_types::ContainerStatus;
use tracing::{debug, warn};

use super::Shared;
use super::config::PullBehavior;
use super::errors::{ErrorName, NamedError};
use super::mapping::{self, CreateContext, LABEL_TASK_ARN};
use super::model::{RegistryAuthKind, TaskSpec, VolumeKind};
use super::pull;
use crate::docker::{ContainerDetails, CreateSpec, DockerError, PullTimeouts, VolumeSpec};

pub const INSPECT_TIMEOUT: Duration = Duration::from_secs(30);
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const VOLUME_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const STOP_CALL_EXTRA: Duration = Duration::from_secs(2 * 60);
const STOP_ATTEMPTS: u32 = 5;
const PULL_ATTEMPTS: u32 = 5;
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A container status change to apply (§9.2): an action result, an event, a
/// reconciliation or a synthetic move.
#[derive(Debug, Clone, Default)]
pub struct ContainerChange {
    pub status: ContainerStatus,
    pub details: Option<ContainerDetails>,
    pub error: Option<NamedError>,
    /// Exit code when no inspect supplies one (a `die` event attribute, or 143).
    pub exit_code: Option<i64>,
    /// The result of an action the actor started (clears the in-flight marker).
    pub from_action: bool,
    /// `(started, finished)` of a real image pull.
    pub pull_times: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// An exit whose restart was attempted and failed: process it as an exit.
    pub no_restart: bool,
    /// The image's repo digest, found after the pull step.
    pub image_digest: Option<String>,
}

impl ContainerChange {
    pub fn status(status: ContainerStatus) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    fn action(status: ContainerStatus) -> Self {
        Self {
            status,
            from_action: true,
            ..Self::default()
        }
    }

    fn failed(status: ContainerStatus, error: NamedError) -> Self {
        Self {
            status,
            error: Some(error),
            from_action: true,
            ..Self::default()
        }
    }
}

/// The status an inspect result means (§9.3), with OOM / state errors (§9.4).
pub fn change_from_details(details: ContainerDetails) -> ContainerChange {
    let state = &details.state;
    let status = if state.running || state.paused || state.restarting {
        ContainerStatus::Running
    } else if state.dead {
        ContainerStatus::Stopped
    } else if state.started_at.is_none() && state.error.is_empty() {
        ContainerStatus::Created
    } else {
        ContainerStatus::Stopped
    };
    let error = if status == ContainerStatus::Stopped && state.oom_killed {
        Some(NamedError::out_of_memory())
    } else if status == ContainerStatus::Stopped && !state.error.is_empty() {
        Some(NamedError::new(
            ErrorName::DockerStateError,
            state.error.clone(),
        ))
    } else {
        None
    };
    ContainerChange {
        status,
        error,
        details: Some(details),
        ..ContainerChange::default()
    }
}

fn timeout_or(err: DockerError, what: &str, waited: Duration, name: ErrorName) -> NamedError {
    if err.is_timeout() {
        NamedError::timeout(what, waited)
    } else {
        NamedError::new(name, err.message())
    }
}

/// Pull (§2.7): decides whether a pull is needed, then pulls with retries.
pub async fn pull(
    shared: Arc<Shared>,
    image: String,
    auth_kind: RegistryAuthKind,
    container_key: String,
) -> ContainerChange {
    if let RegistryAuthKind::Unsupported(kind) = auth_kind {
        let (name, msg) = if kind == "asm" {
            (
                ErrorName::CannotPullContainerAuthError,
                "engine docker private registry credentials: not found",
            )
        } else {
            (
                ErrorName::CannotPullECRContainerError,
                "engine ecr credentials: not found",
            )
        };
        return ContainerChange::failed(ContainerStatus::Pulled, NamedError::new(name, msg));
    }
    let docker = shared.docker.as_ref();
    let required = match shared.config.pull_behavior {
        PullBehavior::Default | PullBehavior::Always => true,
        PullBehavior::Once => !shared.pulled_once(&image),
        PullBehavior::PreferCached => docker.inspect_image(&image, INSPECT_TIMEOUT).await.is_err(),
    };
    if !required {
        shared.record_image(&image, &container_key, false).await;
        let mut change = ContainerChange::action(ContainerStatus::Pulled);
        change.image_digest = image_digest(&shared, &image).await;
        return change;
    }
    // Pulls share the lock that image cleanup takes exclusively.
    let images = shared.images.get().cloned();
    let _permit = match &images {
        Some(images) => Some(images.pull_permit().await),
        None => None,
    };
    let reference = pull::pull_reference(&image);
    let auth = pull::engine_auth_for(&shared.config.engine_auth, &image);
    let timeouts = PullTimeouts {
        total: shared.config.image_pull_timeout,
        first_progress: Duration::from_secs(5 * 60),
        inactivity: shared.config.image_pull_inactivity_timeout,
    };
    let started = Utc::now();
    let deadline = tokio::time::Instant::now() + shared.config.image_pull_timeout;
    let mut backoff = Duration::from_millis(1100);
    let mut result = Err(NamedError::pull("no attempt made"));
    for attempt in 1..=PULL_ATTEMPTS {
        let call = docker.pull_image(&reference, auth.as_ref(), timeouts);
        result = match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(NamedError::timeout(
                "pulled",
                shared.config.image_pull_timeout,
            )),
            Ok(Err(e)) => Err(NamedError::pull(e.message())),
            Err(_) => Err(NamedError::timeout(
                "pulled",
                shared.config.image_pull_timeout,
            )),
        };
        match &result {
            Ok(()) => break,
            Err(e) => {
                debug!(image = %reference, attempt, error = %e, "image pull failed");
                if attempt == PULL_ATTEMPTS || tokio::time::Instant::now() + backoff >= deadline {
                    break;
                }
                tokio::time::sleep(jittered(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    let finished = Utc::now();
    let mut change = match result {
        Ok(()) => {
            shared.record_image(&image, &container_key, true).await;
            let mut change = ContainerChange::action(ContainerStatus::Pulled);
            change.image_digest = image_digest(&shared, &image).await;
            change
        }
        Err(e) => ContainerChange::failed(ContainerStatus::Pulled, e),
    };
    change.pull_times = Some((started, finished));
    change
}

/// §2.7.2 step 10: the part after `@` of the first repo digest that starts with the
/// image reference cut at its first `:`.
pub fn digest_for(image: &str, repo_digests: &[String]) -> Option<String> {
    let prefix = image.split(':').next().unwrap_or(image);
    repo_digests
        .iter()
        .find(|d| d.starts_with(prefix))
        .and_then(|d| d.split_once('@'))
        .map(|(_, digest)| digest.to_owned())
}

async fn image_digest(shared: &Shared, image: &str) -> Option<String> {
    let details = shared
        .docker
        .inspect_image(image, INSPECT_TIMEOUT)
        .await
        .ok()?;
    digest_for(image, &details.repo_digests)
}

fn jittered(d: Duration) -> Duration {
    let factor: f64 = 1.0 + rand::random::<f64>() * 0.2;
    d.mul_f64(factor)
}

/// Everything a create needs, copied out of the actor's state.
pub struct CreateJob {
    pub task: TaskSpec,
    pub idx: usize,
    pub docker_name: String,
    pub docker_names: HashMap<String, String>,
    pub cgroup_parent: Option<String>,
}

/// Create (§2.8). A name conflict means an earlier create of ours went through (crash
/// before the ID was saved, or a retry): that container is adopted, never duplicated.
pub async fn create(shared: Arc<Shared>, job: CreateJob) -> ContainerChange {
    let docker = shared.docker.as_ref();
    let container = &job.task.containers[job.idx];
    let image_env = if shared.config.region.is_some() {
        docker
            .inspect_image(&container.image, INSPECT_TIMEOUT)
            .await
            .map(|d| d.env)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let ctx = CreateContext {
        docker_names: job
            .docker_names
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        image_env: &image_env,
        cgroup_parent: job.cgroup_parent.clone(),
        metadata_bind: metadata_bind(&shared.config, &job.task.arn, &container.name),
    };
    let request = match mapping::create_request(
        &job.task,
        container,
        &job.docker_name,
        &ctx,
        &shared.config,
        &shared.ports,
    ) {
        Ok(r) => r,
        Err(e) => return ContainerChange::failed(ContainerStatus::Created, e),
    };
    let spec = CreateSpec {
        name: request.name,
        config: request.config,
        host_config: request.host_config,
    };
    let timeout = shared.config.container_create_timeout;
    let id = match docker.create_container(&spec, timeout).await {
        Ok(created) => created.id,
        Err(DockerError::Conflict { message }) => {
            match docker
                .inspect_container(&job.docker_name, INSPECT_TIMEOUT)
                .await
            {
                Ok(d) if d.labels.get(LABEL_TASK_ARN) == Some(&job.task.arn) => d.id,
                _ => {
                    return ContainerChange::failed(
                        ContainerStatus::Created,
                        NamedError::new(ErrorName::CannotCreateContainerError, message),
                    );
                }
            }
        }
        Err(e) => {
            return ContainerChange::failed(
                ContainerStatus::Created,
                timeout_or(e, "created", timeout, ErrorName::CannotCreateContainerError),
            );
        }
    };
    match docker.inspect_container(&id, INSPECT_TIMEOUT).await {
        Ok(details) => ContainerChange {
            status: ContainerStatus::Created,
            details: Some(details),
            from_action: true,
            ..ContainerChange::default()
        },
        Err(e) => ContainerChange::failed(
            ContainerStatus::Created,
            NamedError::new(ErrorName::CannotInspectContainerError, e.message()),
        ),
    }
}

/// With `ECS_ENABLE_CONTAINER_METADATA`: the host directory of the container's
/// metadata file (written by the endpoints module) and where it appears inside.
fn metadata_bind(
    config: &super::config::EngineConfig,
    arn: &str,
    container: &str,
) -> Option<(String, String)> {
    if !config.container_metadata_enabled {
        return None;
    }
    let task_part = crate::endpoints::metadata_file::task_part(arn)?;
    let host = config
        .host_data_dir
        .join("data")
        .join("metadata")
        .join(task_part)
        .join(container);
    Some((
        host.to_string_lossy().into_owned(),
        format!("/opt/ecs/metadata/{}", uuid::Uuid::new_v4()),
    ))
}

/// Start (§2.9).
pub async fn start(shared: Arc<Shared>, id: String) -> ContainerChange {
    let docker = shared.docker.as_ref();
    let timeout = shared.config.container_start_timeout;
    if let Err(e) = docker.start_container(&id, timeout).await {
        return ContainerChange::failed(
            ContainerStatus::Running,
            timeout_or(e, "started", timeout, ErrorName::CannotStartContainerError),
        );
    }
    match docker.inspect_container(&id, INSPECT_TIMEOUT).await {
        // A container that exits at once is reported RUNNING first, as the reference
        // does; its `die` event then brings the exit.
        Ok(details) => ContainerChange {
            status: ContainerStatus::Running,
            details: Some(details),
            from_action: true,
            ..ContainerChange::default()
        },
        Err(e) => ContainerChange::failed(
            ContainerStatus::Running,
            NamedError::new(ErrorName::CannotInspectContainerError, e.message()),
        ),
    }
}

/// Restart under the restart policy (§4.2): Docker start called directly. On success
/// a RUNNING change refreshes the metadata; on failure the exit is handed back.
pub async fn restart(shared: Arc<Shared>, id: String, exit: ContainerChange) -> ContainerChange {
    let docker = shared.docker.as_ref();
    match docker
        .start_container(&id, shared.config.container_start_timeout)
        .await
    {
        Ok(()) => match docker.inspect_container(&id, INSPECT_TIMEOUT).await {
            Ok(details) => ContainerChange {
                status: ContainerStatus::Running,
                details: Some(details),
                ..ContainerChange::default()
            },
            Err(_) => ContainerChange::status(ContainerStatus::Running),
        },
        Err(e) => {
            warn!(container = %id, error = %e, "restart under the restart policy failed");
            ContainerChange {
                no_restart: true,
                ..exit
            }
        }
    }
}

/// Stop (§2.10): the stop signal, SIGKILL after the grace period (Docker does both),
/// up to 5 attempts; when every attempt failed but Docker answers a ping the
/// container is treated as stopped.
pub async fn stop(shared: Arc<Shared>, id: String, grace: Duration) -> ContainerChange {
    let docker = shared.docker.as_ref();
    let deadline = grace + STOP_CALL_EXTRA;
    let mut backoff = Duration::from_secs(1);
    let mut last_error = None;
    for attempt in 1..=STOP_ATTEMPTS {
        match docker.stop_container(&id, grace, deadline).await {
            Ok(()) => {
                last_error = None;
                break;
            }
            Err(e) if e.is_not_found() => {
                last_error = Some(NamedError::new(
                    ErrorName::CannotStopContainerError,
                    format!("Container not found: {id}"),
                ));
                break;
            }
            Err(e) => {
                warn!(container = %id, attempt, error = %e, "container stop failed");
                last_error = Some(timeout_or(
                    e,
                    "stopped",
                    deadline,
                    ErrorName::CannotStopContainerError,
                ));
                if attempt < STOP_ATTEMPTS {
                    tokio::time::sleep(jittered(backoff)).await;
                    backoff = backoff.mul_f64(1.3).min(Duration::from_secs(5));
                }
            }
        }
    }
    if let Some(err) = last_error {
        // Docker unreachable: keep retrying until it answers, then decide.
        while docker.ping(PING_TIMEOUT).await.is_err() {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        if let Ok(details) = docker.inspect_container(&id, INSPECT_TIMEOUT).await
            && details.state.running
        {
            let mut change = ContainerChange::failed(ContainerStatus::Stopped, err);
            change.details = Some(details);
            return change;
        }
        return ContainerChange::failed(ContainerStatus::Stopped, err);
    }
    match docker.inspect_container(&id, INSPECT_TIMEOUT).await {
        Ok(details) => {
            let mut change = change_from_details(details);
            change.status = ContainerStatus::Stopped;
            change.from_action = true;
            change
        }
        Err(_) => ContainerChange::action(ContainerStatus::Stopped),
    }
}

/// Inspect for events and reconciliation (§9.3): failures are `NONE` changes.
pub async fn inspect(
    shared: Arc<Shared>,
    id_or_name: String,
    die_exit: Option<i64>,
) -> ContainerChange {
    match shared
        .docker
        .inspect_container(&id_or_name, INSPECT_TIMEOUT)
        .await
    {
        Ok(details) => {
            let mut change = change_from_details(details);
            if change.status == ContainerStatus::Stopped
                && change
                    .details
                    .as_ref()
                    .is_some_and(|d| d.state.exit_code.is_none())
            {
                change.exit_code = die_exit;
            }
            change
        }
        Err(e) => ContainerChange {
            status: ContainerStatus::None,
            error: Some(NamedError::new(
                ErrorName::CannotDescribeContainerError,
                e.message(),
            )),
            ..ContainerChange::default()
        },
    }
}

/// Creates the task's Docker volumes that do not exist yet (§6.11).
pub async fn ensure_volumes(shared: &Shared, task: &TaskSpec) -> Result<(), String> {
    let docker = shared.docker.as_ref();
    for volume in &task.volumes {
        let VolumeKind::Docker {
            docker_name,
            task_scoped,
            autoprovision,
            driver,
            driver_opts,
            labels,
        } = &volume.kind
        else {
            continue;
        };
        match docker.inspect_volume(docker_name, VOLUME_TIMEOUT).await {
            Ok(_) => continue,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(capitalise(&e.message())),
        }
        if !task_scoped && !autoprovision {
            return Err(format!(
                "volume detection failed, volume '{docker_name}' does not exist and autoprovision is set to false"
            ));
        }
        let spec = VolumeSpec {
            name: docker_name.clone(),
            driver: driver.clone(),
            driver_opts: driver_opts.clone().into_iter().collect(),
            labels: labels.clone().into_iter().collect(),
        };
        if let Err(e) = docker.create_volume(&spec, VOLUME_TIMEOUT).await {
            let text = e.message();
            return Err(if text.is_empty() {
                "VolumeError: Agent could not create task's volume resources".to_owned()
            } else {
                capitalise(&text)
            });
        }
    }
    Ok(())
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::ContainerState;

    fn details(state: ContainerState) -> ContainerDetails {
        ContainerDetails {
            id: "abc".into(),
            name: "n".into(),
            image: "i".into(),
            image_id: "sha256:0".into(),
            created: Some(Utc::now()),
            state,
            labels: Default::default(),
            env: vec![],
            network_mode: "bridge".into(),
            port_bindings: vec![],
            networks: vec![],
            mounts: vec![],
            restart_count: 0,
            config: serde_json::Value::Null,
            host_config: serde_json::Value::Null,
        }
    }

    fn state() -> ContainerState {
        ContainerState {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: None,
            error: String::new(),
            started_at: None,
            finished_at: None,
            health: None,
        }
    }

    #[test]
    fn inspect_state_mapping() {
        let created = change_from_details(details(state()));
        assert_eq!(created.status, ContainerStatus::Created);
        assert!(created.error.is_none());

        let running = change_from_details(details(ContainerState {
            running: true,
            paused: true,
            started_at: Some(Utc::now()),
            ..state()
        }));
        assert_eq!(running.status, ContainerStatus::Running);

        let exited = change_from_details(details(ContainerState {
            started_at: Some(Utc::now()),
            finished_at: Some(Utc::now()),
            exit_code: Some(3),
            ..state()
        }));
        assert_eq!(exited.status, ContainerStatus::Stopped);
        assert!(exited.error.is_none());

        let dead = change_from_details(details(ContainerState {
            dead: true,
            ..state()
        }));
        assert_eq!(dead.status, ContainerStatus::Stopped);
    }

    #[test]
    fn oom_and_state_errors_become_reasons() {
        let oom = change_from_details(details(ContainerState {
            started_at: Some(Utc::now()),
            oom_killed: true,
            exit_code: Some(137),
            ..state()
        }));
        assert_eq!(
            oom.error.unwrap().to_string(),
            "OutOfMemoryError: Container killed due to memory usage"
        );
        // A container that never started but has an error is stopped, not created.
        let failed = change_from_details(details(ContainerState {
            error: "exec: \"nope\": executable file not found".into(),
            ..state()
        }));
        assert_eq!(failed.status, ContainerStatus::Stopped);
        assert_eq!(failed.error.unwrap().name, ErrorName::DockerStateError);
    }

    #[test]
    fn repo_digest_selection() {
        let digests = vec![
            "other/x@sha256:00".to_owned(),
            "127.0.0.1:5000/ecs-test/busybox@sha256:ab".to_owned(),
        ];
        assert_eq!(
            digest_for("127.0.0.1:5000/ecs-test/busybox:latest", &digests).as_deref(),
            Some("sha256:ab")
        );
        assert_eq!(digest_for("busybox:1.36", &digests), None);
        assert_eq!(digest_for("x", &[]), None);
    }

    #[test]
    fn capitalise_first_letter() {
        assert_eq!(capitalise("volume failed"), "Volume failed");
        assert_eq!(capitalise(""), "");
    }
}
