//! The agent's local HTTP endpoints (spec endpoints.md): introspection on 51678
//! (`/v1/metadata`, `/v1/tasks`, `/license`, runtime stats, and `/metrics` beyond the
//! reference) and the task server on 127.0.0.1:51679 (credentials, task metadata v2,
//! v3 and v4, rate limited per caller and path).
//!
//! Build an [`EndpointState`] from small handles (a [`TaskSource`] such as the engine,
//! the Docker client, the [`CredentialsManager`], the [`AcsInfo`] side table), then
//! call [`serve`]. Endpoints only read: nothing here changes a task.

pub mod associations;
pub mod build;
pub mod credentials;
pub mod fault;
pub mod http;
pub mod introspection;
pub mod json;
pub mod listener;
pub mod metadata_file;
pub mod metrics;
pub mod model;
pub mod netrules;
pub mod pprof;
pub mod protection;
pub mod ratelimit;
pub mod source;
pub mod tags;
pub mod tmds;

use std::collections::HashSet;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use credentials::{CredentialsManager, RoleCredentials, RoleType};
pub use source::{AcsInfo, DetailsCache, TaskSource};

use crate::config::Config;
use crate::docker::DockerApi;
use crate::logging::AuditLog;
use crate::stats::StatsCollector;

/// Introspection port (all interfaces).
pub const INTROSPECTION_PORT: u16 = 51678;
/// Task server port (IPv4 loopback only).
pub const TASK_PORT: u16 = 51679;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What the agent knows about itself that the endpoints print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentInfo {
    /// The configured cluster (`default` when empty), not its ARN.
    pub cluster: String,
    /// From registration; empty until registered.
    pub container_instance_arn: String,
    /// From registration.
    pub availability_zone: String,
    /// `ECS_DISABLE_TASK_METADATA_AZ`.
    pub az_disabled: bool,
    /// `ECS_DISABLE_METRICS`: every stats call fails.
    pub metrics_disabled: bool,
    /// The agent's region, for the task protection calls.
    pub region: String,
    /// The ECS endpoint override, if any (`ECS_BACKEND_HOST` and friends).
    pub ecs_endpoint: Option<String>,
}

/// Listener settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    pub introspection_addr: SocketAddr,
    pub task_addr: SocketAddr,
    /// `ECS_TASK_METADATA_RPS_LIMIT`.
    pub rps_steady: u32,
    pub rps_burst: u32,
    /// `ECS_ENABLE_RUNTIME_STATS`.
    pub runtime_stats: bool,
    /// Where `/license` reads `LICENSE`, `NOTICE`, `THIRD-PARTY` (the working directory).
    pub license_dir: PathBuf,
}

impl EndpointConfig {
    pub fn from_config(config: &Config) -> Self {
        EndpointConfig {
            introspection_addr: SocketAddr::from((Ipv6Addr::UNSPECIFIED, INTROSPECTION_PORT)),
            task_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, TASK_PORT)),
            rps_steady: config.task_metadata_steady_state_rate,
            rps_burst: config.task_metadata_burst_rate,
            runtime_stats: config.runtime_stats_enabled,
            license_dir: PathBuf::from("."),
        }
    }
}

impl AgentInfo {
    pub fn from_config(
        config: &Config,
        container_instance_arn: &str,
        availability_zone: &str,
    ) -> Self {
        AgentInfo {
            cluster: config.cluster_name().to_owned(),
            container_instance_arn: container_instance_arn.to_owned(),
            availability_zone: availability_zone.to_owned(),
            az_disabled: config.task_metadata_az_disabled,
            metrics_disabled: config.metrics_disabled,
            region: config.aws_region.clone().unwrap_or_default(),
            ecs_endpoint: crate::backend::BackendSettings::from_config(config, false)
                .endpoints
                .resolve(),
        }
    }
}

/// Counters the `/metrics` page reports.
#[derive(Debug, Default)]
pub struct Counters {
    pub task_requests: AtomicU64,
    pub rate_limited: AtomicU64,
    pub credentials_requests: AtomicU64,
    pub introspection_requests: AtomicU64,
}

/// Everything the handlers read.
pub struct EndpointState {
    pub tasks: Arc<dyn TaskSource>,
    pub credentials: Arc<CredentialsManager>,
    pub acs: Arc<AcsInfo>,
    pub audit: Option<AuditLog>,
    pub instance: AgentInfo,
    pub counters: Counters,
    pub(crate) details: DetailsCache,
    /// Endpoint ID → task, and the encoded v4 task bodies: the metadata hot path.
    pub endpoint_index: source::EndpointIndex,
    pub task_bodies: build::TaskBodies,
    pub(crate) stats: StatsCollector,
    /// Set once the backend sessions run (they start after the endpoints).
    backend: std::sync::OnceLock<metrics::BackendProbe>,
    /// The ECS client of the tags paths, set once the agent has registered.
    pub(crate) tags: tags::Tags,
    pub(crate) fault_limiter: fault::FaultLimiter,
}

impl EndpointState {
    pub fn new(
        tasks: Arc<dyn TaskSource>,
        docker: Arc<dyn DockerApi>,
        credentials: Arc<CredentialsManager>,
        acs: Arc<AcsInfo>,
        audit: Option<AuditLog>,
        instance: AgentInfo,
    ) -> Arc<Self> {
        Arc::new(EndpointState {
            tasks,
            credentials,
            acs,
            audit,
            instance,
            counters: Counters::default(),
            details: DetailsCache::new(docker.clone()),
            endpoint_index: source::EndpointIndex::default(),
            task_bodies: build::TaskBodies::default(),
            stats: StatsCollector::new(docker),
            backend: std::sync::OnceLock::new(),
            tags: tags::Tags::default(),
            fault_limiter: fault::FaultLimiter::default(),
        })
    }

    /// Where `/metrics` reads the backend's gauges from; only the first call counts.
    pub fn set_backend_probe(&self, probe: metrics::BackendProbe) {
        let _ = self.backend.set(probe);
    }

    pub(crate) fn backend_gauges(&self) -> Option<metrics::BackendGauges> {
        self.backend.get().map(|probe| probe())
    }

    /// Takes what the endpoints need from an ACS task payload: both role credentials
    /// and the fields the engine does not keep. Call it before handing the task to the
    /// engine.
    pub fn record_acs_task(
        &self,
        task: &ecs_types::task::Task,
    ) -> Result<(), credentials::CredentialsError> {
        self.acs.record(task);
        self.credentials.set_from_task(task)
    }

    /// One pass of housekeeping: credentials of stopped/removed tasks, IDs of restored
    /// tasks as pending, and caches of containers that are gone.
    pub fn sweep(&self, seen: &mut HashSet<String>) {
        let tasks = self.tasks.list_tasks();
        let mut live_tasks = HashSet::new();
        let mut live_ids = HashSet::new();
        for t in &tasks {
            let arn = t.spec.arn.clone();
            if t.known == ecs_types::TaskStatus::Stopped {
                self.credentials
                    .remove_task(&arn, RoleType::TaskApplication);
            } else if let Some(id) = &t.spec.credentials_id {
                let _ = self
                    .credentials
                    .set_pending(id, &arn, RoleType::TaskApplication);
            }
            if let Some(id) = &t.spec.execution_credentials_id {
                let _ = self
                    .credentials
                    .set_pending(id, &arn, RoleType::TaskExecution);
            }
            live_ids.extend(t.containers.iter().filter_map(|c| c.docker_id.clone()));
            live_tasks.insert(arn);
        }
        for gone in seen.difference(&live_tasks) {
            self.credentials
                .remove_task(gone, RoleType::TaskApplication);
            self.credentials.remove_task(gone, RoleType::TaskExecution);
            // Only tasks seen before: ACS fields are recorded before the engine has the task.
            self.acs.remove(gone);
        }
        self.details.retain(&live_ids);
        self.endpoint_index.retain(&live_tasks);
        self.task_bodies.retain(&live_tasks);
        if seen.difference(&live_tasks).next().is_some() {
            release_freed_memory();
        }
        *seen = live_tasks;
    }
}

/// Hands the heap freed by tasks that went away back to the system: glibc keeps freed
/// memory in its arenas, and after 500 churned tasks were cleaned up about 35 MiB stayed
/// resident that way.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists and returns unused
    // pages; it touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The running servers.
pub struct Handles {
    /// `None` while the port could not be bound (retried in the background).
    pub introspection_addr: Option<SocketAddr>,
    pub task_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Handles {
    /// Stops both servers and waits for them.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts both servers; they stop when `shutdown` completes (or at
/// [`Handles::shutdown`]). A port that cannot be bound is logged and retried with
/// back-off, as the reference does; the error is returned only for an address that
/// cannot be used at all.
pub async fn serve(
    state: Arc<EndpointState>,
    config: &EndpointConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Handles, EndpointError> {
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = shutdown => { stop.send_replace(true); }
                _ = stop.closed() => {}
            }
        }));
    }

    let limiter = ratelimit::Limiter::new(config.rps_steady, config.rps_burst);
    tasks.push(spawn_housekeeping(
        state.clone(),
        limiter.clone(),
        stop_rx.clone(),
    ));

    let intro_router = introspection::router(state.clone(), config);
    let (introspection_addr, t) = start_listener(
        config.introspection_addr,
        intro_router,
        introspection::write_timeout(config),
        stop_rx.clone(),
        "Error running introspection endpoint",
    )
    .await;
    tasks.push(t);

    let task_router = tmds::router(state.clone(), limiter);
    let (task_addr, t) = start_listener(
        config.task_addr,
        task_router,
        listener::WRITE_TIMEOUT,
        stop_rx,
        "Error running task api",
    )
    .await;
    tasks.push(t);

    Ok(Handles {
        introspection_addr,
        task_addr,
        stop,
        tasks,
    })
}

fn spawn_housekeeping(
    state: Arc<EndpointState>,
    limiter: ratelimit::Limiter,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = HashSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
            state.sweep(&mut seen);
            ticks += 1;
            if ticks.is_multiple_of(60) {
                limiter.evict();
            }
        }
    })
}

async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        // No IPv6 on this host: the IPv4 wildcard is the closest to "all interfaces".
        Err(_) if addr.ip() == Ipv6Addr::UNSPECIFIED => {
            TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, addr.port()))).await
        }
        other => other,
    }
}

async fn start_listener(
    addr: SocketAddr,
    router: axum::Router,
    write_timeout: Duration,
    stop: watch::Receiver<bool>,
    error_text: &'static str,
) -> (Option<SocketAddr>, JoinHandle<()>) {
    let first = bind(addr).await;
    let bound = first.as_ref().ok().and_then(|l| l.local_addr().ok());
    let task = tokio::spawn(async move {
        let mut listener = first;
        let mut delay = Duration::from_secs(1);
        loop {
            match listener {
                Ok(l) => match self::listener::serve_router(
                    l,
                    router.clone(),
                    stop.clone(),
                    write_timeout,
                )
                .await
                {
                    Ok(()) => return,
                    Err(e) => tracing::error!("{error_text}: {e}"),
                },
                Err(e) => tracing::error!("{error_text}: {e}"),
            }
            if *stop.borrow() {
                return;
            }
            let jitter = 0.8 + rand::random::<f64>() * 0.4;
            let mut stop_wait = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay.mul_f64(jitter)) => {}
                _ = async { let _ = stop_wait.wait_for(|s| *s).await; } => return,
            }
            delay = (delay * 2).min(Duration::from_secs(60));
            listener = bind(addr).await;
        }
    });
    (bound, task)
}
