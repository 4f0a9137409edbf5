//! `ecs-local`: a local Amazon ECS control plane.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ecs_local::server::{self, Config, Server};

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
    /// Log format: text or json.
    #[arg(long, env = "ECS_LOCAL_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/ecs-local"),
        None => PathBuf::from("/var/lib/ecs-local"),
    }
}

fn init_logging(format: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ECS_LOCAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => anyhow::bail!("unknown log format {other:?}: use text or json"),
    }
    Ok(())
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
            init_logging(&args.log_format)?;
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
            init_logging(&args.log_format)?;
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
