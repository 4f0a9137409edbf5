//! `ecs-local up`: the control plane and an ECS agent on the local Docker engine in one
//! process, so that `aws ecs run-task --endpoint-url http://127.0.0.1:51680` runs
//! containers on this machine with no AWS account.
//!
//! The agent is the `ecs-agent` library, configured as an external (ECS Anywhere) host
//! registering with this ecs-local: no instance metadata, static dummy keys (ecs-local
//! accepts any well-signed request), its state in `<data-dir>/agent`. It speaks the
//! same wire protocol as on a real host: RegisterContainerInstance, ACS and TCS
//! websockets, Submit*StateChange.

pub mod example;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ecs_agent::app::{Agent, StartError, StartOptions};
use ecs_agent::config::{ConfigError, ConfigInput};
use ecs_agent::endpoints::EndpointConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::server::{self, Server, ServerError};

/// The keys the agent signs with, and the ones `up` tells users to export: ecs-local
/// checks the signature's shape, not who made it.
pub const DUMMY_ACCESS_KEY_ID: &str = "ecslocal";
pub const DUMMY_SECRET_ACCESS_KEY: &str = "ecslocal";

/// Settings the agent must have to work against this ecs-local; the user's own `ECS_*`
/// variables do not override them.
const OWNED_SETTINGS: &[&str] = &[
    "ECS_BACKEND_HOST",
    "ECS_CLUSTER",
    "ECS_EXTERNAL",
    "ECS_DATADIR",
    "ECS_HOST_DATA_DIR",
    "ECS_CHECKPOINT",
];

/// How long a restarted ecs-local waits for the previous one to let go of its store.
const STORE_RELEASE_DEADLINE: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
    /// Address of the ECS API (and the agent's ACS/TCS websockets).
    #[arg(long, env = "ECS_LOCAL_LISTEN", default_value = server::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Directory of the durable state: ecs-local's in it, the agent's in `agent/`.
    /// Default: ~/.local/share/ecs-local.
    #[arg(long, env = "ECS_LOCAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Cluster the local agent registers into.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Region in ARNs and for the agent.
    #[arg(long, env = "ECS_LOCAL_REGION", default_value = server::DEFAULT_REGION)]
    pub region: String,
    /// Register a sample task definition, run it and print its status.
    #[arg(long)]
    pub example: bool,
    /// Image of the sample task.
    #[arg(long, default_value = example::DEFAULT_IMAGE)]
    pub example_image: String,
    /// Log format: logfmt or json, the agent's line shapes.
    #[arg(long, env = "ECS_LOCAL_LOG_FORMAT", default_value = "logfmt")]
    pub log_format: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error("cannot start ecs-local: {0}")]
    Server(#[from] ServerError),
    #[error("cannot create {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("agent configuration: {0}")]
    AgentConfig(#[from] ConfigError),
    #[error("cannot start the local agent: {0}")]
    Agent(#[from] StartError),
    #[error("sample task: {0}")]
    Example(String),
}

impl UpError {
    /// The exit code of `ecs-local up`: the agent's own code when it could not start.
    pub fn exit_code(&self) -> u8 {
        match self {
            UpError::Agent(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// What [`Up::start`] runs.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub server: server::Config,
    pub cluster: String,
    /// Where the agent keeps its state (created if missing).
    pub agent_data_dir: PathBuf,
    /// The agent's endpoints; `None` = the reference's ports (51678, 51679).
    pub agent_endpoints: Option<EndpointConfig>,
    /// Extra agent settings (`ECS_*` variables), below the ones `up` owns.
    pub agent_env: BTreeMap<String, String>,
}

impl UpConfig {
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            server: server::Config::new(listen, &data_dir),
            cluster: ecs_agent::config::DEFAULT_CLUSTER.to_owned(),
            agent_data_dir: data_dir.join("agent"),
            agent_endpoints: None,
            agent_env: BTreeMap::new(),
        }
    }
}

/// A running ecs-local with its agent.
pub struct Up {
    config: UpConfig,
    addr: SocketAddr,
    agent_config: Arc<ecs_agent::config::Config>,
    agent: Option<Agent>,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<ServerTask>,
}

impl Up {
    /// Starts ecs-local, then the agent, which registers before this returns.
    pub async fn start(config: UpConfig) -> Result<Up, UpError> {
        let (addr, stop_server, server) = serve(&config.server).await?;
        let mut up = Up {
            agent_config: Arc::new(agent_config(&config, addr)?),
            config,
            addr,
            agent: None,
            stop_server: Some(stop_server),
            server: Some(server),
        };
        let started = up.start_agent().await;
        if let Err(e) = started {
            up.stop().await;
            return Err(e);
        }
        Ok(up)
    }

    /// Starts the agent on the saved state, when it is not running.
    pub async fn start_agent(&mut self) -> Result<(), UpError> {
        if self.agent.is_some() {
            return Ok(());
        }
        let dir = &self.config.agent_data_dir;
        std::fs::create_dir_all(dir).map_err(|source| UpError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let agent = Agent::start(
            self.agent_config.clone(),
            StartOptions {
                endpoints: self.config.agent_endpoints.clone(),
                ..StartOptions::default()
            },
        )
        .await?;
        self.agent = Some(agent);
        Ok(())
    }

    /// The ECS API endpoint (`--endpoint-url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn region(&self) -> &str {
        &self.config.server.region
    }

    /// The running agent (`None` between [`Up::stop_agent`] and [`Up::start_agent`]).
    pub fn agent(&self) -> Option<&Agent> {
        self.agent.as_ref()
    }

    /// Stops the agent as SIGTERM would and starts a new one on the same state: it
    /// re-registers with its saved container instance ARN and adopts its containers.
    pub async fn restart_agent(&mut self) -> Result<u8, UpError> {
        let code = self.stop_agent().await;
        self.start_agent().await?;
        Ok(code)
    }

    /// Stops the agent as SIGTERM would (its containers keep running); ecs-local goes
    /// on serving. The agent's exit code.
    pub async fn stop_agent(&mut self) -> u8 {
        match self.agent.take() {
            Some(agent) => agent.shutdown().await,
            None => 0,
        }
    }

    /// Stops ecs-local and starts it again on the same address and state while the
    /// agent keeps running (its sessions reconnect).
    pub async fn restart_server(&mut self) -> Result<(), UpError> {
        self.stop_server().await;
        let mut config = self.config.server.clone();
        config.listen = self.addr;
        // Sessions the old server was closing may still hold its store for a moment.
        let deadline = tokio::time::Instant::now() + STORE_RELEASE_DEADLINE;
        let (_, stop_server, server) = loop {
            match serve(&config).await {
                Err(UpError::Server(ServerError::Store(_)))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => break other?,
            }
        };
        self.stop_server = Some(stop_server);
        self.server = Some(server);
        Ok(())
    }

    async fn stop_server(&mut self) {
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "ecs-local stopped with an error"),
                Err(e) => tracing::error!(error = %e, "ecs-local task failed"),
            }
        }
    }

    /// Stops the agent (its containers keep running), then ecs-local. The agent's exit
    /// code.
    pub async fn stop(mut self) -> u8 {
        let code = self.stop_agent().await;
        self.stop_server().await;
        code
    }
}

type ServerTask = JoinHandle<Result<(), ServerError>>;

/// Binds and serves ecs-local until the returned sender fires.
async fn serve(
    config: &server::Config,
) -> Result<(SocketAddr, oneshot::Sender<()>, ServerTask), UpError> {
    let bound = Server::bind(config).await?;
    let addr = bound.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(bound.run(async {
        let _ = stopped.await;
    }));
    Ok((addr, stop, task))
}

/// The agent's configuration: an external host registering with ecs-local at `addr`.
pub fn agent_config(
    config: &UpConfig,
    addr: SocketAddr,
) -> Result<ecs_agent::config::Config, ConfigError> {
    let data_dir = config.agent_data_dir.display().to_string();
    let mut env: BTreeMap<String, String> = [
        // On a laptop, pulling on every start is slow and fails offline.
        ("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached"),
        ("ECS_AUDIT_LOGFILE_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(config.agent_env.clone());
    for name in OWNED_SETTINGS {
        env.remove(*name);
    }
    let owned = [
        ("ECS_BACKEND_HOST", format!("http://{addr}")),
        ("ECS_CLUSTER", config.cluster.clone()),
        ("ECS_EXTERNAL", "true".to_owned()),
        ("ECS_DATADIR", data_dir.clone()),
        ("ECS_HOST_DATA_DIR", data_dir),
        ("ECS_CHECKPOINT", "true".to_owned()),
        ("AWS_DEFAULT_REGION", config.server.region.clone()),
        ("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_ACCESS_KEY.to_owned()),
    ];
    env.extend(owned.map(|(k, v)| (k.to_owned(), v)));
    let input = ConfigInput {
        env,
        // Host files configure a host's real agent, not this one.
        ecs_config_files: Vec::new(),
        json_file: Some(config.agent_data_dir.join("ecs-agent.json")),
    };
    let loaded = ecs_agent::config::load(&input)?;
    for warning in &loaded.warnings {
        tracing::warn!("agent configuration: {warning}");
    }
    Ok(loaded.config)
}

/// The user's `ECS_*` and `DOCKER_HOST` variables, passed on to the agent.
pub fn agent_env_from_process() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| {
            (k.starts_with("ECS_") && !k.starts_with("ECS_LOCAL_")) || k == "DOCKER_HOST"
        })
        .collect()
}

/// Default data directory, shared with `ecs-local serve`.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/ecs-local"),
        None => PathBuf::from("/var/lib/ecs-local"),
    }
}

/// `ecs-local up` until `shutdown` completes; the process exit code.
pub async fn run(args: UpArgs, shutdown: impl Future<Output = ()>) -> Result<u8, UpError> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let mut config = UpConfig::new(args.listen, &data_dir);
    config.cluster = args.cluster.clone();
    config.server.region = args.region.clone();
    config.agent_env = agent_env_from_process();
    tokio::pin!(shutdown);
    let up = tokio::select! {
        up = Up::start(config) => up?,
        () = &mut shutdown => return Ok(0),
    };
    println!("{}", banner(&up, &data_dir));
    if args.example {
        let ran = tokio::select! {
            ran = example::run(&up, &args.example_image) => ran,
            () = &mut shutdown => {
                return Ok(up.stop().await);
            }
        };
        match ran {
            Ok(task) => println!("{task}"),
            Err(e) => eprintln!("{e}"),
        }
    }
    shutdown.await;
    tracing::info!("Shutting down: the agent stops, its containers keep running");
    Ok(up.stop().await)
}

/// What to tell the user once everything is up.
pub fn banner(up: &Up, data_dir: &std::path::Path) -> String {
    let url = up.url();
    let region = up.region();
    let (cluster, instance) = up
        .agent()
        .map(|a| {
            (
                a.cluster().to_owned(),
                a.container_instance_arn().to_owned(),
            )
        })
        .unwrap_or_default();
    format!(
        "\
ecs-local is up: the ECS API on {url}, an agent on the local Docker engine.
  cluster            {cluster}
  container instance {instance}
  data               {data_dir}

Use it from another terminal:
  export AWS_ACCESS_KEY_ID={DUMMY_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={DUMMY_SECRET_ACCESS_KEY} AWS_DEFAULT_REGION={region}
  aws ecs list-container-instances --cluster {cluster} --endpoint-url {url} --region {region}
  aws ecs run-task --cluster {cluster} --task-definition <family> --endpoint-url {url} --region {region}

Ctrl-C stops ecs-local and the agent; task containers keep running.",
        data_dir = data_dir.display(),
    )
}
