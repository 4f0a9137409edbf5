//! Start-up of the backend in the reference's order (config-and-lifecycle.md §2.3):
//! step 21 (register or re-register, save the identity), then steps 27-28 (state-change
//! submitter, TCS, ACS), and their shutdown. `app.rs` calls these.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::acs::{AcsIdentity, AcsSession, AcsTimers};
use super::capabilities::HostFacts;
use super::client::EcsClient;
use super::credentials::CredentialsStore;
use super::engine_adapter::forward_state_changes;
use super::engine_port::TaskEngine;
use super::error::{BackendError, RegistrationError};
use super::outbox::Outbox;
use super::registration::{Registered, Registrar, register_with_store};
use super::settings::BackendSettings;
use super::submitter::{Submitter, SubmitterTimers};
use super::tcs::{MetricsMode, TcsIdentity, TcsSession, TcsTimers};
use crate::docker::DockerApi;
use crate::engine::Report;
use crate::store::Store;

/// Why the backend could not start; each carries the reference's exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Client(#[from] BackendError),
    #[error(transparent)]
    Registration(#[from] RegistrationError),
}

impl StartupError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartupError::Client(_) => crate::exit::ERROR,
            StartupError::Registration(e) => e.exit_code(),
        }
    }
}

/// A registered container instance and the client that registered it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub client: EcsClient,
    pub host: HostFacts,
    pub registered: Registered,
}

/// Step 21: builds the ECS client, then registers (re-registering with the ARN saved in
/// `store` when the saved state may be used) and saves the identity.
pub async fn register(
    settings: &BackendSettings,
    docker: &dyn DockerApi,
    store: Option<&Store>,
    ec2_instance_id: Option<&str>,
) -> Result<Registration, StartupError> {
    let client = EcsClient::new(settings).await?;
    let host = HostFacts::detect(docker.version());
    let registrar = Registrar::new(client.clone(), settings.clone(), host.clone());
    let instance_id = match ec2_instance_id {
        Some(id) => Some(id.to_owned()),
        None => registrar.metadata.instance_id().await,
    };
    let registered = register_with_store(&registrar, store, instance_id.as_deref()).await?;
    Ok(Registration {
        client,
        host,
        registered,
    })
}

/// The running sessions.
pub struct Sessions {
    pub submitter: Submitter,
    /// True while the ACS connection is open.
    pub acs_connected: watch::Receiver<bool>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sessions {
    /// Steps 27-28: the submitter drains the outbox (what a previous run left first),
    /// engine state changes flow into it, TCS publishes, and ACS connects. `changes`
    /// must come from `Engine::subscribe` called before `Engine::start`. `engine` is what
    /// ACS hands tasks to: the engine itself, or a wrapper that also records them.
    pub fn start<E: TaskEngine>(
        settings: &BackendSettings,
        registration: &Registration,
        engine: Arc<E>,
        changes: mpsc::UnboundedReceiver<Report>,
        docker: Arc<dyn DockerApi>,
        store: Option<Store>,
        credentials: Arc<dyn CredentialsStore>,
    ) -> Self {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let cluster = settings.cluster_name().to_owned();
        let arn = registration.registered.container_instance_arn.clone();
        let docker_version =
            Some(registration.host.docker_version.clone()).filter(|v| !v.is_empty());
        let outbox = match &store {
            Some(store) => Outbox::durable(store.clone()),
            None => Outbox::memory(),
        };
        let submitter = Submitter::new(
            registration.client.clone(),
            &cluster,
            outbox,
            SubmitterTimers::default(),
        );
        let mut tasks = vec![
            tokio::spawn(forward_state_changes(changes, submitter.clone())),
            tokio::spawn(submitter.clone().run(shutdown_rx.clone())),
        ];
        let acs = AcsSession::new(
            registration.client.clone(),
            AcsIdentity {
                cluster: cluster.clone(),
                container_instance_arn: arn.clone(),
                docker_version: docker_version.clone(),
            },
            engine.clone(),
            credentials,
            submitter.clone(),
            store,
            settings.updates_enabled,
            AcsTimers::default(),
        );
        let signals = acs.signals();
        let acs_connected = signals.connected.clone();
        let tcs = TcsSession::new(
            registration.client.clone(),
            TcsIdentity {
                cluster,
                container_instance_arn: arn,
                docker_version,
            },
            engine,
            docker,
            MetricsMode {
                disabled: settings.metrics_disabled,
                poll: settings.poll_metrics,
                poll_interval: settings.polling_metrics_wait,
            },
            TcsTimers::default(),
            signals.heartbeats,
            signals.inactive,
        );
        tasks.push(tokio::spawn(tcs.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(acs.run(shutdown_rx)));
        Self {
            submitter,
            acs_connected,
            shutdown,
            tasks,
        }
    }

    /// Closes the sessions (ACS and TCS send a close frame) and stops submitting; what
    /// is still in the durable outbox is sent by the next run.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(3), task)
                .await
                .is_err()
            {
                tracing::warn!("A backend session did not stop in time");
            }
        }
    }
}
