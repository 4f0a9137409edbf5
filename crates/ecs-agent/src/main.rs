//! `ecs-agent`: argument parsing and dispatch. The running agent lives in `app`.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use ecs_agent::cli::{Cli, LevelOverrides};
use ecs_agent::config::{self, ConfigInput};
use ecs_agent::exit::{self, exit_code};
use ecs_agent::logging::{self, LogFlusher, LogGuard, LogSettings};
use ecs_agent::{app, critical, healthcheck, version};

fn main() -> ExitCode {
    let cli = match Cli::parse_from_go_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = write!(std::io::stderr(), "{}", err.message());
            return exit_code(exit::TERMINAL);
        }
    };
    // The reference checks these three first, in this order, before loading anything.
    if cli.license {
        print!("{LICENSE_TEXT}");
        return exit_code(exit::SUCCESS);
    }
    if cli.version {
        print!("{}", version::version_text());
        return exit_code(exit::SUCCESS);
    }
    let levels = cli.log_level_overrides();
    if cli.print_config {
        return exit_code(print_config());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ecs-agent: cannot start the async runtime: {err}");
            return exit_code(exit::ERROR);
        }
    };
    if cli.healthcheck {
        let guard = start_logging(&levels, early_settings());
        let code = runtime.block_on(healthcheck::run(
            &healthcheck::url_from_env(),
            healthcheck::TIMEOUT,
        ));
        drop(guard);
        return exit_code(code);
    }
    if cli.windows_service {
        let guard = start_logging(&levels, early_settings());
        tracing::error!("Windows Services are not supported on Linux");
        drop(guard);
        return exit_code(exit::ERROR);
    }
    let code = runtime.block_on(run_agent(&cli, &levels));
    exit_code(code)
}

/// Logging before the configuration is loaded: stdout, level and format from the
/// process environment.
fn early_settings() -> LogSettings {
    LogSettings::early(|name| std::env::var(name).ok())
}

/// `--print-config`: the effective configuration with its sources; secrets redacted.
fn print_config() -> u8 {
    match config::load(&ConfigInput::from_process()) {
        Ok(loaded) => {
            print!("{}", config::render_effective(&loaded));
            exit::SUCCESS
        }
        Err(err) => {
            eprintln!("Error loading config: {err}");
            exit::ERROR
        }
    }
}

async fn run_agent(cli: &Cli, levels: &LevelOverrides) -> u8 {
    // Before anything slow: a stop during start-up must end the process cleanly.
    let termination = match app::Termination::install() {
        Ok(termination) => termination,
        Err(err) => {
            eprintln!("ecs-agent: cannot install signal handlers: {err}");
            return exit::ERROR;
        }
    };
    let loaded = match config::load(&ConfigInput::from_process()) {
        Ok(loaded) => loaded,
        Err(err) => {
            // No configuration, so no configured outputs: stdout with the defaults.
            let _guard = start_logging(levels, early_settings());
            critical!(error = %err, "Error loading config");
            return exit::ERROR;
        }
    };
    let _guard = start_logging(levels, loaded.config.log.clone());
    tracing::info!(
        version = version::AGENT_VERSION,
        commit = version::GIT_HASH,
        "Starting Amazon ECS Agent"
    );
    tracing::info!("Loading configuration");
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let options = app::RunOptions {
        accept_insecure_cert: cli.accept_insecure_cert,
        blackhole_ec2_metadata: cli.blackhole_ec2_metadata,
    };
    if cli.ecs_attributes {
        return app::print_ecs_attributes(&loaded.config, options).await;
    }
    app::run(Arc::new(loaded.config), options, termination).await
}

/// Starts logging with `settings` and the `-loglevel*` overrides. A log file that
/// cannot be opened is reported and logging continues on stdout, as the reference keeps
/// running when its file output fails.
fn start_logging(levels: &LevelOverrides, mut settings: LogSettings) -> Option<LogGuard> {
    levels.apply(&mut settings);
    let guard = match logging::init(&settings) {
        Ok(guard) => guard,
        Err(logging::LoggingError::OpenFile { path, source }) => {
            let guard = logging::init(&LogSettings {
                logfile: None,
                ..settings
            })
            .ok()?;
            tracing::error!(
                "Cannot open log file {}: {source}; logging to stdout only",
                path.display()
            );
            guard
        }
        Err(err) => {
            eprintln!("ecs-agent: {err}");
            return None;
        }
    };
    for word in &levels.unknown {
        tracing::error!("Unknown log level {word:?} on the command line; level left unchanged");
    }
    install_panic_hook(guard.flusher());
    Some(guard)
}

/// A panic anywhere ends the agent with the reference's panic code (2), after logging
/// it at critical and flushing the logs, so ecs-init restarts it (spec §8 quirk 9).
fn install_panic_hook(flusher: LogFlusher) {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        critical!("Agent panicked: {info}");
        // A panic in a log writer thread cannot wait for that same thread.
        let in_writer = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("log-"));
        if !in_writer {
            flusher.flush();
        }
        std::process::exit(i32::from(exit::PANIC));
    }));
}

/// `--license`: the licence this implementation is distributed under.
const LICENSE_TEXT: &str = "\
Amazon ECS Agent (Rust implementation)

Licensed under the Apache License, Version 2.0 (the \"License\"); you may not use
this software except in compliance with the License. You may obtain a copy of the
License at http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed
under the License is distributed on an \"AS IS\" BASIS, WITHOUT WARRANTIES OR
CONDITIONS OF ANY KIND, either express or implied. See the License for the specific
language governing permissions and limitations under the License.
";
