//! The only module that talks to the Docker engine (through bollard). Everything else uses the
//! [`DockerApi`] trait and the types in this module, so bollard never leaks out.
//!
//! Every call takes the deadline the reference applies to it (task-engine.md §2.11); the task
//! engine passes them from its configuration. A deadline that passes gives
//! [`DockerError::Timeout`].

mod client;
mod convert;
mod error;
mod events;
mod stats;
mod types;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use client::{CONNECT_TIMEOUT, DEFAULT_DOCKER_HOST, DockerClient};
pub use error::DockerError;
pub use events::{ContainerEvent, ContainerEventKind, EventStreamItem};
pub use stats::{
    BlkioEntry, BlkioStats, ContainerStats, CpuStats, CpuUsage, MemoryStats, NetworkStats,
    PidsStats, ThrottlingData,
};
pub use types::{
    ApiVersion, ContainerDetails, ContainerFilter, ContainerState, ContainerSummary, CreateSpec,
    CreatedContainer, EngineInfo, HealthState, HealthStatus, ImageDetails, ImageSummary, MountInfo,
    NetworkAttachment, PortBinding, Protocol, PullTimeouts, RegistryAuth, VersionInfo, VolumeInfo,
    VolumeSpec,
};

/// What the agent needs from a Docker engine. Object safe: hold it as `Arc<dyn DockerApi>`.
pub trait DockerApi: Send + Sync {
    /// The engine's version and the API version negotiated at connect time.
    fn version(&self) -> &VersionInfo;

    fn ping(&self, timeout: Duration) -> BoxFuture<'_, Result<(), DockerError>>;

    fn info(&self, timeout: Duration) -> BoxFuture<'_, Result<EngineInfo, DockerError>>;

    fn list_images(
        &self,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<ImageSummary>, DockerError>>;

    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ImageDetails, DockerError>>;

    /// Pulls `image` (a reference without tag or digest pulls `:latest`). Progress goes to the
    /// debug log; an error inside the progress stream is [`DockerError::Pull`].
    fn pull_image<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a RegistryAuth>,
        timeouts: PullTimeouts,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    /// Tags `source` (name or ID) as `repo:tag`.
    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        repo: &'a str,
        tag: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    fn remove_image<'a>(
        &'a self,
        image: &'a str,
        force: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    fn create_container<'a>(
        &'a self,
        spec: &'a CreateSpec,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<CreatedContainer, DockerError>>;

    fn start_container<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    /// `POST /containers/<id>/stop?t=<grace seconds>`: the stop signal, then SIGKILL after
    /// `grace`. `timeout` bounds the whole call (the reference uses grace + 2 min).
    fn stop_container<'a>(
        &'a self,
        id: &'a str,
        grace: Duration,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    /// Sends `signal` (`SIGKILL`, `TERM`, `9`, ...).
    fn kill_container<'a>(
        &'a self,
        id: &'a str,
        signal: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    fn inspect_container<'a>(
        &'a self,
        id_or_name: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ContainerDetails, DockerError>>;

    fn remove_container<'a>(
        &'a self,
        id: &'a str,
        remove_volumes: bool,
        force: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    fn list_containers<'a>(
        &'a self,
        filter: &'a ContainerFilter,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<ContainerSummary>, DockerError>>;

    fn create_volume<'a>(
        &'a self,
        spec: &'a VolumeSpec,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<VolumeInfo, DockerError>>;

    fn inspect_volume<'a>(
        &'a self,
        name: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<VolumeInfo, DockerError>>;

    fn remove_volume<'a>(
        &'a self,
        name: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>>;

    /// Container events in Docker's order, from now (`None`) or replayed from `since` as far as
    /// the daemon still buffers them. The stream never ends: when the connection breaks it
    /// yields [`EventStreamItem::Interrupted`] and re-opens where it left off, with a backoff.
    fn container_events(&self, since: Option<DateTime<Utc>>)
    -> BoxStream<'static, EventStreamItem>;

    /// One sample (`stream=false&one-shot=true`: no previous CPU sample).
    fn stats_once<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ContainerStats, DockerError>>;

    /// A sample about every second until the container stops or the stream is dropped.
    fn stats_stream(&self, id: &str) -> BoxStream<'static, Result<ContainerStats, DockerError>>;
}
