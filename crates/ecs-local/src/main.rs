//! `ecs-local`: a local Amazon ECS control plane.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ecs_agent::logging::{self, LogFormat, LogGuard, LogLevel, LogSettings, SystemClock};
use ecs_local::server::{self, Config, Server};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Parser)]
#[command(
    name = "ecs-local",
    version,
    about = "A local Amazon ECS control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the ECS API (and the agent-facing calls) until interrupted.
    Serve(ServeArgs),
    /// Serve the ECS API with an agent on the local Docker engine, in one process.
    Up(ecs_local::up::UpArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ECS_LOCAL_LISTEN", default_value = server::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Directory holding the durable state (created if missing).
    #[arg(long, env = "ECS_LOCAL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// File of `ACCESS_KEY_ID SECRET_ACCESS_KEY` lines; given, SigV4 signatures are
    /// verified against these keys only. Without it any key with a well-formed, fresh
    /// signature is accepted.
    #[arg(long, env = "ECS_LOCAL_CREDENTIALS")]
    credentials: Option<PathBuf>,
    /// Region in ARNs.
    #[arg(long, env = "ECS_LOCAL_REGION", default_value = server::DEFAULT_REGION)]
    region: String,
    /// Account ID in ARNs.
    #[arg(long, env = "ECS_LOCAL_ACCOUNT_ID", default_value = server::DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Base URL (http:// or https://) that DiscoverPollEndpoint advertises to agents;
    /// by default the host the agent used to reach the API.
    #[arg(long, env = "ECS_LOCAL_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// Log format: logfmt or json, the agent's line shapes.
    #[arg(long, env = "ECS_LOCAL_LOG_FORMAT", default_value = "logfmt")]
    log_format: String,
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/ecs-local"),
        None => PathBuf::from("/var/lib/ecs-local"),
    }
}

/// The agent's logger (same logfmt/json line shapes), on stderr: stdout belongs to
/// what `up` prints for the user. `ECS_LOCAL_LOG` is the level word (`debug`, `info`,
/// `warn`, `error`, `crit`, `none`).
fn init_logging(format: &str) -> anyhow::Result<LogGuard> {
    let format = LogFormat::parse(format)
        .with_context(|| format!("unknown log format {format:?}: use logfmt or json"))?;
    let level = match std::env::var("ECS_LOCAL_LOG") {
        Ok(word) => LogLevel::parse(&word)
            .with_context(|| format!("unknown ECS_LOCAL_LOG level {word:?}"))?,
        Err(_) => LogLevel::Info,
    };
    let settings = LogSettings {
        logfile: None,
        audit_logfile: None,
        level,
        format,
        ..LogSettings::default()
    };
    let (layer, guard) = logging::build(&settings, SystemClock, Box::new(std::io::stderr()))?;
    tracing_subscriber::registry().with(layer).try_init()?;
    Ok(guard)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let _log = init_logging(&args.log_format)?;
            if let Some(url) = &args.advertise_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                anyhow::bail!("--advertise-url must start with http:// or https://");
            }
            let mut config =
                Config::new(args.listen, args.data_dir.unwrap_or_else(default_data_dir));
            config.credentials = args.credentials;
            config.region = args.region;
            config.account_id = args.account_id;
            config.advertised_url = args.advertise_url;
            let server = Server::bind(&config)
                .await
                .with_context(|| format!("starting ecs-local on {}", config.listen))?;
            server.run(shutdown_signal()).await?;
            Ok(())
        }
        Command::Up(args) => {
            let _log = init_logging(&args.log_format)?;
            let code = ecs_local::up::run(args, shutdown_signal())
                .await
                .unwrap_or_else(|e| {
                    tracing::error!("{e}");
                    e.exit_code()
                });
            std::process::exit(i32::from(code))
        }
    }
}
