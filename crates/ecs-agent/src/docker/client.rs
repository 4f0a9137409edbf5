//! `DockerClient`: the bollard-backed implementation of [`DockerApi`].

use std::future::Future;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::models::{ContainerCreateBody, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, KillContainerOptions, ListContainersOptions,
    ListImagesOptions, RemoveContainerOptions, RemoveImageOptions, RemoveVolumeOptions,
    StartContainerOptions, StatsOptions, StopContainerOptions, TagImageOptions,
};
use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use tokio::time::Instant;

use super::DockerApi;
use super::convert;
use super::error::{DockerError, from_bollard};
use super::events::{self, EventStreamItem};
use super::stats::{self, ContainerStats};
use super::types::{
    ApiVersion, ContainerDetails, ContainerFilter, ContainerSummary, CreateSpec, CreatedContainer,
    EngineInfo, ImageDetails, ImageSummary, PullTimeouts, RegistryAuth, VersionInfo, VolumeInfo,
    VolumeSpec,
};

/// The engine's socket when `DOCKER_HOST` is unset.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How long `connect` waits for `/version` (the reference's version/info deadline).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// bollard's own per-request deadline. Every call here carries the caller's deadline instead, so
/// this only has to be longer than any of them (the stop deadline is grace + 2 min).
pub(crate) const TRANSPORT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A connection to one Docker engine, speaking the API version negotiated at connect time.
/// Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct DockerClient {
    docker: Docker,
    address: String,
    version: VersionInfo,
}

impl std::fmt::Debug for DockerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerClient")
            .field("address", &self.address)
            .field("api_version", &self.version.api_version)
            .finish()
    }
}

impl DockerClient {
    /// Connects to `host` (a `DOCKER_HOST` value: `unix:///path` or `tcp://host:port`; `None`
    /// or empty means [`DEFAULT_DOCKER_HOST`]) and negotiates the API version: the newest
    /// version both sides speak. Fails with [`DockerError::Unreachable`] when nothing answers.
    pub async fn connect(host: Option<&str>) -> Result<Self, DockerError> {
        Self::connect_with_timeout(host, CONNECT_TIMEOUT).await
    }

    pub async fn connect_with_timeout(
        host: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, DockerError> {
        let address = match host.map(str::trim) {
            None | Some("") => DEFAULT_DOCKER_HOST.to_string(),
            Some(h) => h.to_string(),
        };
        let newest = ApiVersion::new(
            API_DEFAULT_VERSION.major_version as u16,
            API_DEFAULT_VERSION.minor_version as u16,
        );
        let docker = build(&address, newest)?;
        let unreachable = |reason: String| DockerError::Unreachable {
            address: address.clone(),
            reason,
        };
        let answer = tokio::time::timeout(timeout, docker.version())
            .await
            .map_err(|_| {
                unreachable(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                ))
            })?;
        let (docker, server) = match answer {
            Ok(v) => (docker, v),
            // Engines older than this client refuse its version outright ("client version 1.53
            // is too new. Maximum supported API version is 1.41"), so ask again at theirs.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 400,
                message,
            }) if max_supported(&message).is_some() => {
                let pinned = max_supported(&message).unwrap_or(newest);
                let docker = build(&address, pinned)?;
                let v = tokio::time::timeout(timeout, docker.version())
                    .await
                    .map_err(|_| unreachable("no answer to /version".to_string()))?
                    .map_err(|e| from_bollard(e, &address))?;
                (docker, v)
            }
            Err(e) => return Err(from_bollard(e, &address)),
        };
        let server_api = server
            .api_version
            .as_deref()
            .and_then(ApiVersion::parse)
            .ok_or_else(|| {
                DockerError::Decode(format!(
                    "engine at {address} reported no parsable ApiVersion"
                ))
            })?;
        let current = docker.client_version();
        let current = ApiVersion::new(current.major_version as u16, current.minor_version as u16);
        let api_version = current.min(server_api);
        let docker = if api_version != current {
            build(&address, api_version)?
        } else {
            docker
        };
        let version = VersionInfo {
            api_version,
            server_api_version: server_api,
            server_version: server.version.unwrap_or_default(),
            os: server.os.unwrap_or_default(),
            arch: server.arch.unwrap_or_default(),
            kernel_version: server.kernel_version.unwrap_or_default(),
        };
        tracing::info!(
            address = %address,
            api_version = %version.api_version,
            server_version = %version.server_version,
            "connected to Docker"
        );
        Ok(DockerClient {
            docker,
            address,
            version,
        })
    }

    /// The address this client talks to, as given (`unix:///var/run/docker.sock`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What the engine said at connect time, including the negotiated API version.
    pub fn version_info(&self) -> &VersionInfo {
        &self.version
    }

    fn err(&self, e: bollard::errors::Error) -> DockerError {
        from_bollard(e, &self.address)
    }

    /// Runs one Docker call under the caller's deadline.
    async fn call<T, F>(
        &self,
        operation: &'static str,
        timeout: Duration,
        fut: F,
    ) -> Result<T, DockerError>
    where
        F: Future<Output = Result<T, bollard::errors::Error>>,
    {
        match tokio::time::timeout(timeout, fut).await {
            Ok(result) => result.map_err(|e| self.err(e)),
            Err(_) => Err(DockerError::Timeout {
                operation,
                after: timeout,
            }),
        }
    }

    async fn pull(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        timeouts: PullTimeouts,
    ) -> Result<(), DockerError> {
        let (from_image, tag) = split_reference(image);
        let options = CreateImageOptions {
            from_image: Some(from_image),
            tag,
            ..Default::default()
        };
        let credentials = auth.map(credentials);
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        let deadline = Instant::now() + timeouts.total;
        let mut first = true;
        loop {
            let gap = if first {
                timeouts.first_progress
            } else {
                timeouts.inactivity
            };
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            let wait = gap.min(left);
            let next = match tokio::time::timeout(wait, progress.next()).await {
                Ok(next) => next,
                Err(_) => {
                    let (operation, after) = if wait == left {
                        ("image pull", timeouts.total)
                    } else if first {
                        ("image pull: waiting for the first progress message", gap)
                    } else {
                        ("image pull: inactivity between progress messages", gap)
                    };
                    return Err(DockerError::Timeout { operation, after });
                }
            };
            match next {
                None => return Ok(()),
                Some(Ok(info)) => {
                    first = false;
                    tracing::debug!(
                        image,
                        status = info.status.as_deref().unwrap_or(""),
                        layer = info.id.as_deref().unwrap_or(""),
                        "pull progress"
                    );
                }
                Some(Err(bollard::errors::Error::DockerStreamError { error })) => {
                    return Err(DockerError::Pull {
                        image: image.to_string(),
                        message: error,
                    });
                }
                Some(Err(e)) => return Err(self.err(e)),
            }
        }
    }
}

/// `Image` for the pull call: a reference without tag or digest pulls `latest`, never every tag.
fn split_reference(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_string(), None);
    }
    let last_segment_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_segment_start..].rfind(':') {
        Some(i) => {
            let at = last_segment_start + i;
            (image[..at].to_string(), Some(image[at + 1..].to_string()))
        }
        None => (image.to_string(), Some("latest".to_string())),
    }
}

fn credentials(auth: &RegistryAuth) -> DockerCredentials {
    DockerCredentials {
        username: auth.username.clone(),
        password: auth.password.clone(),
        auth: auth.auth.clone(),
        email: auth.email.clone(),
        serveraddress: auth.server_address.clone(),
        identitytoken: auth.identity_token.clone(),
        registrytoken: auth.registry_token.clone(),
    }
}

/// The engine's refusal of a too-new client names the version it does speak.
fn max_supported(message: &str) -> Option<ApiVersion> {
    let (_, rest) = message.split_once("Maximum supported API version is ")?;
    ApiVersion::parse(rest.split_whitespace().next()?)
}

fn build(address: &str, version: ApiVersion) -> Result<Docker, DockerError> {
    let version = ClientVersion {
        major_version: usize::from(version.major),
        minor_version: usize::from(version.minor),
    };
    let secs = TRANSPORT_TIMEOUT.as_secs();
    let result = if address.starts_with("unix://") {
        Docker::connect_with_unix(address, secs, &version)
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        Docker::connect_with_http(address, secs, &version)
    } else {
        return Err(DockerError::UnsupportedHost(address.to_string()));
    };
    result.map_err(|e| from_bollard(e, address))
}

fn create_body(spec: &CreateSpec) -> Result<ContainerCreateBody, DockerError> {
    let mut body = match &spec.config {
        serde_json::Value::Object(map) => map.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            return Err(DockerError::InvalidSpec(format!(
                "config must be a JSON object, got {other}"
            )));
        }
    };
    match &spec.host_config {
        serde_json::Value::Null => {}
        serde_json::Value::Object(_) => {
            body.insert("HostConfig".to_string(), spec.host_config.clone());
        }
        other => {
            return Err(DockerError::InvalidSpec(format!(
                "host config must be a JSON object, got {other}"
            )));
        }
    }
    serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| DockerError::InvalidSpec(e.to_string()))
}

impl DockerApi for DockerClient {
    fn version(&self) -> &VersionInfo {
        &self.version
    }

    fn ping(&self, timeout: Duration) -> BoxFuture<'_, Result<(), DockerError>> {
        Box::pin(async move {
            self.call("ping", timeout, self.docker.ping())
                .await
                .map(|_| ())
        })
    }

    fn info(&self, timeout: Duration) -> BoxFuture<'_, Result<EngineInfo, DockerError>> {
        Box::pin(async move {
            let info = self.call("info", timeout, self.docker.info()).await?;
            Ok(convert::engine_info(info))
        })
    }

    fn list_images(
        &self,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<ImageSummary>, DockerError>> {
        Box::pin(async move {
            let options = ListImagesOptions {
                all: false,
                digests: true,
                ..Default::default()
            };
            let images = self
                .call(
                    "listing images",
                    timeout,
                    self.docker.list_images(Some(options)),
                )
                .await?;
            Ok(images.into_iter().map(convert::image_summary).collect())
        })
    }

    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ImageDetails, DockerError>> {
        Box::pin(async move {
            let details = self
                .call(
                    "inspecting image",
                    timeout,
                    self.docker.inspect_image(image),
                )
                .await?;
            Ok(convert::image_details(details))
        })
    }

    fn pull_image<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a RegistryAuth>,
        timeouts: PullTimeouts,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(self.pull(image, auth, timeouts))
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        repo: &'a str,
        tag: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(async move {
            let options = TagImageOptions {
                repo: Some(repo.to_string()),
                tag: Some(tag.to_string()),
            };
            self.call(
                "tagging image",
                timeout,
                self.docker.tag_image(source, Some(options)),
            )
            .await
        })
    }

    fn remove_image<'a>(
        &'a self,
        image: &'a str,
        force: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(async move {
            let options = RemoveImageOptions {
                force,
                ..Default::default()
            };
            self.call(
                "removing image",
                timeout,
                self.docker.remove_image(image, Some(options), None),
            )
            .await
            .map(|_| ())
        })
    }

    fn create_container<'a>(
        &'a self,
        spec: &'a CreateSpec,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<CreatedContainer, DockerError>> {
        Box::pin(async move {
            let body = create_body(spec)?;
            let options = CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            };
            let created = self
                .call(
                    "creating container",
                    timeout,
                    self.docker.create_container(Some(options), body),
                )
                .await?;
            Ok(CreatedContainer {
                id: created.id,
                warnings: created.warnings,
            })
        })
    }

    fn start_container<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(async move {
            self.call(
                "starting container",
                timeout,
                self.docker
                    .start_container(id, None::<StartContainerOptions>),
            )
            .await
        })
    }

    fn stop_container<'a>(
        &'a self,
        id: &'a str,
        grace: Duration,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(async move {
            let options = StopContainerOptions {
                signal: None,
                t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            };
            self.call(
                "stopping container",
                timeout,
                self.docker.stop_container(id, Some(options)),
            )
            .await
        })
    }

    fn kill_container<'a>(
        &'a self,
        id: &'a str,
        signal: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(async move {
            let options = KillContainerOptions {
                signal: signal.to_string(),
            };
            self.call(
                "killing container",
                timeout,
                self.docker.kill_container(id, Some(options)),
            )
            .await
        })
    }

    fn inspect_container<'a>(
        &'a self,
        id_or_name: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ContainerDetails, DockerError>> {
        Box::pin(async move {
            let details = self
                .call(
                    "inspecting container",
                    timeout,
                    self.docker.inspect_container(id_or_name, None),
                )
                .await?;
            convert::container_details(details)
        })
    }

    fn remove_container<'a>(
        &'a self,
        id: &'a str,
        remove_volumes: bool,
        force: bool,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(async move {
            let options = RemoveContainerOptions {
                v: remove_volumes,
                force,
                link: false,
            };
            self.call(
                "removing container",
                timeout,
                self.docker.remove_container(id, Some(options)),
            )
            .await
        })
    }

    fn list_containers<'a>(
        &'a self,
        filter: &'a ContainerFilter,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<ContainerSummary>, DockerError>> {
        Box::pin(async move {
            let options = ListContainersOptions {
                all: filter.all,
                filters: convert::filters(&filter.labels, filter.name.as_deref()),
                ..Default::default()
            };
            let list = self
                .call(
                    "listing containers",
                    timeout,
                    self.docker.list_containers(Some(options)),
                )
                .await?;
            Ok(list.into_iter().map(convert::container_summary).collect())
        })
    }

    fn create_volume<'a>(
        &'a self,
        spec: &'a VolumeSpec,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<VolumeInfo, DockerError>> {
        Box::pin(async move {
            let request = VolumeCreateRequest {
                name: Some(spec.name.clone()),
                driver: (!spec.driver.is_empty()).then(|| spec.driver.clone()),
                driver_opts: Some(spec.driver_opts.clone()),
                labels: Some(spec.labels.clone()),
                cluster_volume_spec: None,
            };
            let volume = self
                .call(
                    "creating volume",
                    timeout,
                    self.docker.create_volume(request),
                )
                .await?;
            Ok(convert::volume_info(volume))
        })
    }

    fn inspect_volume<'a>(
        &'a self,
        name: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<VolumeInfo, DockerError>> {
        Box::pin(async move {
            let volume = self
                .call(
                    "inspecting volume",
                    timeout,
                    self.docker.inspect_volume(name),
                )
                .await?;
            Ok(convert::volume_info(volume))
        })
    }

    fn remove_volume<'a>(
        &'a self,
        name: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DockerError>> {
        Box::pin(async move {
            self.call(
                "removing volume",
                timeout,
                self.docker.remove_volume(name, None::<RemoveVolumeOptions>),
            )
            .await
        })
    }

    fn container_events(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> BoxStream<'static, EventStreamItem> {
        events::container_events(self.docker.clone(), since)
    }

    fn stats_once<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ContainerStats, DockerError>> {
        Box::pin(async move {
            let options = StatsOptions {
                stream: false,
                one_shot: true,
            };
            let mut stream = self.docker.stats(id, Some(options));
            match self
                .call("reading stats", timeout, async {
                    stream.next().await.transpose()
                })
                .await?
            {
                Some(s) => Ok(stats::from_bollard(s)),
                None => Err(DockerError::Decode(format!("no stats for container {id}"))),
            }
        })
    }

    fn stats_stream(&self, id: &str) -> BoxStream<'static, Result<ContainerStats, DockerError>> {
        let options = StatsOptions {
            stream: true,
            one_shot: false,
        };
        let address = self.address.clone();
        self.docker
            .stats(id, Some(options))
            .map(move |item| match item {
                Ok(s) => Ok(stats::from_bollard(s)),
                Err(e) => Err(from_bollard(e, &address)),
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_without_tag_pull_latest() {
        assert_eq!(
            split_reference("busybox"),
            ("busybox".to_string(), Some("latest".to_string()))
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/ecs-test/busybox"),
            (
                "127.0.0.1:5000/ecs-test/busybox".to_string(),
                Some("latest".to_string())
            )
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/a/b:1.2"),
            ("127.0.0.1:5000/a/b".to_string(), Some("1.2".to_string()))
        );
        assert_eq!(
            split_reference("a/b@sha256:abcd"),
            ("a/b@sha256:abcd".to_string(), None)
        );
    }

    #[test]
    fn too_new_message_names_the_engine_version() {
        let msg = "client version 1.53 is too new. Maximum supported API version is 1.41";
        assert_eq!(max_supported(msg), Some(ApiVersion::new(1, 41)));
    }

    #[test]
    fn create_body_rejects_wrong_types() {
        let mut spec = CreateSpec::new("n", "busybox");
        spec.host_config = serde_json::json!({ "Memory": "lots" });
        assert!(matches!(
            create_body(&spec),
            Err(DockerError::InvalidSpec(_))
        ));
        spec.host_config = serde_json::json!({ "Memory": 1048576, "PortBindings": {"80/tcp": [{"HostPort": "0"}]} });
        let body = create_body(&spec).expect("valid body");
        assert_eq!(body.host_config.and_then(|h| h.memory), Some(1048576));
    }
}
