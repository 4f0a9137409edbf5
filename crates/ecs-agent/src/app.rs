//! The running agent: what happens between "configuration loaded" and "process exits".
//! `main.rs` parses arguments, loads the configuration and starts logging, then hands
//! over to [`run`], which starts an [`Agent`] (Docker, store, registration, the task
//! engine, the endpoints, the ACS and TCS sessions, in the reference's order: spec
//! config-and-lifecycle §2.3) and stops it on SIGTERM/SIGINT (§2.4). Embedders
//! (`ecs-local up`, tests) use [`Agent`] directly.

mod acs_record;
mod agent;
mod network_rules;
mod wiring;

use std::io;
use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};

pub use agent::{Agent, RunOptions, StartError, StartOptions};

use crate::backend::BackendSettings;
use crate::backend::capabilities::{HostFacts, capabilities};
use crate::config::Config;
use crate::docker::DockerClient;
use crate::exit;

/// SIGTERM and SIGINT (and SIGUSR1), installed before anything slow starts so that a
/// stop during start-up is a clean exit rather than the default kill (spec §8 quirk 8).
pub struct Termination {
    terminate: Signal,
    interrupt: Signal,
    dump: Signal,
}

impl Termination {
    /// Installs the handlers; needs a running Tokio runtime.
    pub fn install() -> io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            dump: signal(SignalKind::user_defined1())?,
        })
    }

    /// Waits for the next termination signal; its name as the reference logs it.
    /// SIGUSR1 meanwhile logs a stack dump and keeps waiting, as in the reference
    /// (whose default action would otherwise kill the agent).
    pub async fn recv(&mut self) -> &'static str {
        loop {
            tokio::select! {
                _ = self.terminate.recv() => return "terminated",
                _ = self.interrupt.recv() => return "interrupt",
                _ = self.dump.recv() => log_stack_dump(),
            }
        }
    }
}

/// The reference logs every goroutine's stack between these markers. Rust cannot walk
/// other threads' stacks, so the dump holds the stack of the thread handling the signal.
fn log_stack_dump() {
    let backtrace = std::backtrace::Backtrace::force_capture();
    crate::critical!("====== STACKTRACE ======\n{backtrace}\n====== /STACKTRACE ======");
}

/// Runs the agent until it is told to stop; the process exit code.
pub async fn run(config: Arc<Config>, options: RunOptions, mut termination: Termination) -> u8 {
    tracing::debug!(
        cluster = config.cluster_name(),
        blackhole_ec2_metadata = options.blackhole_ec2_metadata,
        checkpoint = config.checkpoint,
        "Agent configuration ready"
    );
    let start = Agent::start(
        config,
        StartOptions {
            run: options,
            endpoints: None,
        },
    );
    // Start-up may wait long (registration retries for up to an hour); a stop meanwhile
    // ends it at once, with nothing to save yet.
    let agent = tokio::select! {
        started = start => match started {
            Ok(agent) => agent,
            Err(err) => {
                crate::critical!(error = %err, "Unable to start the agent");
                return err.exit_code();
            }
        },
        signal = termination.recv() => {
            tracing::info!("Agent received termination signal: {signal}");
            return exit::SUCCESS;
        }
    };
    let signal = termination.recv().await;
    tracing::info!("Agent received termination signal: {signal}");
    agent.shutdown().await
}

/// `-ecs-attributes`: connects to Docker as the agent would, then prints each
/// registration capability as `name<TAB>value` (value empty for name-only ones).
pub async fn print_ecs_attributes(config: &Config, options: RunOptions) -> u8 {
    let docker = match DockerClient::connect(Some(&config.docker_host)).await {
        Ok(docker) => docker,
        Err(err) => {
            crate::critical!(error = %err, "Unable to create Docker client");
            return exit::ERROR;
        }
    };
    let host = HostFacts::detect(docker.version_info());
    let settings = BackendSettings::from_config(config, options.accept_insecure_cert);
    let mut out = String::new();
    for attribute in capabilities(&host, &settings.capabilities, settings.external) {
        out.push_str(&attribute.name);
        out.push('\t');
        out.push_str(attribute.value.as_deref().unwrap_or_default());
        out.push('\n');
    }
    print!("{out}");
    exit::SUCCESS
}
