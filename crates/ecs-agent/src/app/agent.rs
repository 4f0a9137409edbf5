//! The agent's start-up in the reference's order (config-and-lifecycle.md §2.3) and its
//! graceful shutdown (§2.4). Each failure carries the reference's exit code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::acs_record::RecordingEngine;
use super::wiring::{image_cleanup_config, metadata_host};
use crate::backend::{BackendSettings, Registration, Sessions, StartupError};
use crate::config::{Config, ConfigError};
use crate::docker::{ApiVersion, DockerApi, DockerClient, DockerError};
use crate::endpoints::metadata_file::MetadataFiles;
use crate::endpoints::metrics::{BackendGauges, BackendProbe};
use crate::endpoints::netrules::Installed;
use crate::endpoints::{
    self, AcsInfo, AgentInfo, CredentialsManager, EndpointConfig, EndpointError, EndpointState,
};
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::exit;
use crate::images::ImageManager;
use crate::logging::{AuditLog, SystemClock, WriterGuard};
use crate::store::{Store, StoreError};

/// The oldest Docker API the reference accepts (§2.3 step 11).
const MIN_DOCKER_API: ApiVersion = ApiVersion::new(1, 21);
/// The reference gives the task engine this long to stop on SIGTERM (§2.4).
const ENGINE_STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Command-line switches that change how the agent runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `-k`: skip TLS verification for backend calls.
    pub accept_insecure_cert: bool,
    /// `-blackhole-ec2-metadata`: every instance metadata call fails.
    pub blackhole_ec2_metadata: bool,
}

/// How an agent is started; the binary uses the defaults.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub run: RunOptions,
    /// Where the introspection and task servers listen; `None` = the reference's ports.
    /// An agent embedded next to another one (tests, `ecs-local up`) moves them.
    pub endpoints: Option<EndpointConfig>,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    DataDir(ConfigError),
    #[error("Unable to create Docker client: {0}")]
    Docker(DockerError),
    #[error("Docker API version {found} is older than the minimum supported {MIN_DOCKER_API}")]
    DockerTooOld { found: ApiVersion },
    #[error("Unable to open the state store: {0}")]
    Store(StoreError),
    #[error("Unable to load saved state: {0}")]
    Restore(EngineError),
    #[error(transparent)]
    Backend(#[from] StartupError),
    #[error("Unable to start the agent endpoints: {0}")]
    Endpoints(#[from] EndpointError),
}

impl StartError {
    /// The process exit code the reference uses for this failure (§2.1).
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::DataDir(_) | StartError::Docker(_) | StartError::Endpoints(_) => {
                exit::ERROR
            }
            StartError::Store(
                StoreError::UnsupportedSchema { .. } | StoreError::Corrupt { .. },
            ) => exit::TERMINAL,
            StartError::Store(_) => exit::ERROR,
            StartError::DockerTooOld { .. } | StartError::Restore(_) => exit::TERMINAL,
            StartError::Backend(e) => e.exit_code(),
        }
    }
}

/// A started agent: registered, reconciled, serving its endpoints and connected to ACS
/// and TCS. Stop it with [`Agent::shutdown`]; its containers keep running.
pub struct Agent {
    engine: Engine,
    registration: Registration,
    sessions: Sessions,
    endpoints: endpoints::Handles,
    network_rules: Option<Installed>,
    /// The store as `/metrics` reads it; emptied at shutdown so that no scrape keeps
    /// the file open after the agent is gone.
    probe_store: Arc<std::sync::Mutex<Option<Store>>>,
    stop_background: watch::Sender<bool>,
    background: Vec<JoinHandle<()>>,
    store: Option<Store>,
    _audit: Option<WriterGuard>,
}

impl Agent {
    /// Runs start-up steps 6-28 for `config` (already loaded and logged).
    pub async fn start(config: Arc<Config>, options: StartOptions) -> Result<Agent, StartError> {
        if options.run.accept_insecure_cert {
            tracing::warn!("SSL certificate verification disabled. This is not recommended.");
        }
        let docker = DockerClient::connect(Some(&config.docker_host))
            .await
            .map_err(StartError::Docker)?;
        let found = docker.version_info().api_version;
        if found < MIN_DOCKER_API {
            return Err(StartError::DockerTooOld { found });
        }
        let docker: Arc<dyn DockerApi> = Arc::new(docker);
        let store = open_store(&config)?;

        let images = Arc::new(ImageManager::new(
            docker.clone(),
            store.clone(),
            image_cleanup_config(&config),
        ));
        if let Err(e) = images.load() {
            tracing::error!(error = %e, "Unable to load saved image states");
        }
        // The submitter's outbox is this same store (`Sessions::start`), so the engine
        // queues reported changes in it with the task state that marks them reported.
        let engine = Engine::new(docker.clone(), store.clone(), EngineConfig::from(&*config))
            .with_images(images.clone())
            .with_durable_outbox();
        // Subscribed before `start` so that what reconciling finds is reported.
        let changes = engine.subscribe_reports();
        let metadata_changes = config
            .container_metadata_enabled
            .then(|| engine.subscribe());

        let mut settings = BackendSettings::from_config(&config, options.run.accept_insecure_cert);
        settings.blackhole_ec2_metadata = options.run.blackhole_ec2_metadata;
        log_restored_cluster(store.as_ref(), &settings);
        tracing::info!("Registering Instance with ECS");
        let registration =
            crate::backend::register(&settings, docker.as_ref(), store.as_ref(), None).await?;
        let arn = registration.registered.container_instance_arn.clone();
        let az = registration
            .registered
            .availability_zone
            .clone()
            .unwrap_or_default();

        engine.start().await.map_err(StartError::Restore)?;

        let (stop_background, stop_rx) = watch::channel(false);
        let mut background = Vec::new();
        {
            let engine = engine.clone();
            background.push(images.spawn_cleanup(move || engine.container_ids(), stop_rx.clone()));
        }
        if let Some(changes) = metadata_changes {
            let files = MetadataFiles {
                data_dir: config.data_dir.clone(),
                host: metadata_host(&config, &arn, &az),
                docker: docker.clone(),
            };
            background.push(files.spawn(Arc::new(engine.clone()), changes, stop_rx));
        }

        let credentials = Arc::new(CredentialsManager::new());
        let acs_info = Arc::new(match &store {
            Some(store) => AcsInfo::persistent(store.clone()).map_err(StartError::Store)?,
            None => AcsInfo::default(),
        });
        let audit = open_audit_log(&config);
        let state = EndpointState::new(
            Arc::new(engine.clone()),
            docker.clone(),
            credentials.clone(),
            acs_info.clone(),
            audit.as_ref().map(|(log, _)| log.clone()),
            AgentInfo::from_config(&config, &arn, &az),
        );
        // The tags paths call ECS with the client that registered this instance.
        state.set_tag_client(Arc::new(registration.client.clone()));
        let endpoint_config = options
            .endpoints
            .unwrap_or_else(|| EndpointConfig::from_config(&config));
        let endpoints =
            match endpoints::serve(state.clone(), &endpoint_config, std::future::pending()).await {
                Ok(handles) => handles,
                Err(e) => {
                    // Leave nothing running behind the error: the caller may start again.
                    engine.shutdown().await;
                    stop_background.send_replace(true);
                    return Err(e.into());
                }
            };
        let network_rules = super::network_rules::install(
            &config,
            endpoints
                .task_addr
                .map_or(endpoint_config.task_addr.port(), |a| a.port()),
            endpoints
                .introspection_addr
                .map_or(endpoint_config.introspection_addr.port(), |a| a.port()),
        )
        .await;

        tracing::info!("Beginning Polling for updates");
        let sessions = Sessions::start(
            &settings,
            &registration,
            Arc::new(RecordingEngine {
                engine: engine.clone(),
                acs: acs_info,
            }),
            changes,
            docker,
            store.clone(),
            credentials,
        );
        let probe_store = Arc::new(std::sync::Mutex::new(store.clone()));
        state.set_backend_probe(backend_probe(&sessions, probe_store.clone()));
        Ok(Agent {
            engine,
            registration,
            sessions,
            endpoints,
            network_rules,
            probe_store,
            stop_background,
            background,
            store,
            _audit: audit.map(|(_, guard)| guard),
        })
    }

    pub fn container_instance_arn(&self) -> &str {
        &self.registration.registered.container_instance_arn
    }

    /// The cluster registered into.
    pub fn cluster(&self) -> &str {
        &self.registration.registered.cluster
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Where the introspection server listens (`None` while its port is taken).
    pub fn introspection_addr(&self) -> Option<SocketAddr> {
        self.endpoints.introspection_addr
    }

    /// Where the credentials and task metadata server listens.
    pub fn task_server_addr(&self) -> Option<SocketAddr> {
        self.endpoints.task_addr
    }

    /// The reference's SIGTERM path: stop the task engine (its state is already in the
    /// store, which commits every change durably), then close the ACS and TCS sessions.
    /// Task containers keep running. Returns the process exit code: 5 when the engine
    /// does not stop in time, as the reference's failed final save.
    pub async fn shutdown(self) -> u8 {
        let Agent {
            engine,
            registration,
            sessions,
            endpoints,
            network_rules,
            probe_store,
            stop_background,
            background,
            store,
            _audit,
        } = self;
        probe_store.lock().unwrap_or_else(|p| p.into_inner()).take();
        let stopped = tokio::time::timeout(ENGINE_STOP_DEADLINE, engine.shutdown()).await;
        let code = match stopped {
            Ok(()) => exit::SUCCESS,
            Err(_) => {
                crate::critical!(
                    "Error saving state before final shutdown: the task engine did not stop in time"
                );
                exit::TERMINAL
            }
        };
        endpoints.shutdown().await;
        if let Some(installed) = network_rules {
            super::network_rules::remove(installed).await;
        }
        stop_background.send_replace(true);
        for task in background {
            let _ = task.await;
        }
        // The state-change forwarder ends with the engine's stream, which ends once the
        // last engine handle is gone: ours goes first, the sessions' with them.
        drop(engine);
        drop(registration);
        sessions.shutdown().await;
        drop(store);
        code
    }
}

/// `/metrics`' view of the backend: the submitter's count, the ACS flag, and the
/// outbox and file size of the store.
fn backend_probe(sessions: &Sessions, store: Arc<std::sync::Mutex<Option<Store>>>) -> BackendProbe {
    let accepted = sessions.submitter.accepted();
    let connected = sessions.acs_connected.clone();
    Box::new(move || {
        let store = store.lock().unwrap_or_else(|p| p.into_inner());
        BackendGauges {
            state_changes_pending: store.as_ref().and_then(|s| s.outbox_len().ok()),
            state_changes_submitted: *accepted.borrow(),
            acs_connected: *connected.borrow(),
            store_bytes: store
                .as_ref()
                .and_then(|s| std::fs::metadata(s.path()).ok())
                .map(|m| m.len()),
        }
    })
}

/// Step 7: with checkpointing on, the data directory must exist and the store open.
fn open_store(config: &Config) -> Result<Option<Store>, StartError> {
    if !config.checkpoint {
        tracing::info!(
            "Checkpointing not enabled; a new container instance will be created each time the agent is run"
        );
        return Ok(None);
    }
    config.check_data_dir().map_err(StartError::DataDir)?;
    Store::open_in(&config.data_dir)
        .map(Some)
        .map_err(StartError::Store)
}

/// `Cluster was successfully restored` when the store holds this cluster's identity;
/// the mismatch cases are judged (and logged) by registration.
fn log_restored_cluster(store: Option<&Store>, settings: &BackendSettings) {
    let Some(store) = store else { return };
    match store.load_identity() {
        Ok(Some(saved)) if saved.cluster == settings.cluster_name() => {
            tracing::info!(cluster = %saved.cluster, "Cluster was successfully restored");
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "Unable to read the saved instance identity"),
    }
}

/// The credentials audit log; a file that cannot be opened is logged, not fatal.
fn open_audit_log(config: &Config) -> Option<(AuditLog, WriterGuard)> {
    match AuditLog::open(&config.log, SystemClock, Some(Box::new(std::io::stdout()))) {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(error = %e, "Unable to open the credentials audit log");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RegistrationError;

    #[test]
    fn start_failures_carry_the_reference_exit_codes() {
        let docker = StartError::Docker(DockerError::Unreachable {
            address: "unix:///x".into(),
            reason: "gone".into(),
        });
        assert_eq!(docker.exit_code(), exit::ERROR);
        let old = StartError::DockerTooOld {
            found: ApiVersion::new(1, 20),
        };
        assert_eq!(old.exit_code(), exit::TERMINAL);
        let locked = StartError::Store(StoreError::Locked {
            path: "/data/agent.redb".into(),
        });
        assert_eq!(locked.exit_code(), exit::ERROR);
        let newer = StartError::Store(StoreError::UnsupportedSchema {
            found: "99".into(),
            supported: 1,
        });
        assert_eq!(newer.exit_code(), exit::TERMINAL);
        let terminal = StartError::Backend(StartupError::Registration(
            RegistrationError::Terminal("ClientException".into()),
        ));
        assert_eq!(terminal.exit_code(), exit::TERMINAL);
        let retriable = StartError::Backend(StartupError::Registration(
            RegistrationError::Retriable("throttled".into()),
        ));
        assert_eq!(retriable.exit_code(), exit::ERROR);
    }
}
