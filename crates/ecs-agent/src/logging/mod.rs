//! Logging: stdout and the on-instance file, in the reference's logfmt/json line shapes
//! (spec config-and-lifecycle §5).
//!
//! `init` installs the global subscriber for the agent binary; `build` gives the same
//! layer with any clock and stdout writer, for use under `tracing::subscriber::with_default`.

pub mod audit;
pub mod clock;
pub mod format;
pub mod layer;
pub mod quote;
pub mod rolling;
pub mod settings;
pub mod writer;

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use audit::AuditLog;
pub use clock::{Clock, ManualClock, SystemClock};
pub use layer::{EcsLayer, Output};
pub use rolling::{RollPolicy, RollingFile};
pub use settings::{LogFormat, LogLevel, LogSettings, RolloverType};
pub use writer::{LineSink, WriterGuard, WriterHandle};

/// For `critical!` in crates that do not depend on `tracing` themselves.
#[doc(hidden)]
pub use tracing as __tracing;

/// Logs at the reference's `critical` level: an `error!` carrying `critical = true`.
#[macro_export]
macro_rules! critical {
    (target: $target:expr, $($arg:tt)+) => {
        $crate::logging::__tracing::error!(target: $target, critical = true, $($arg)+)
    };
    ($($arg:tt)+) => {
        $crate::logging::__tracing::error!(critical = true, $($arg)+)
    };
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot open log file {path}: {source}")]
    OpenFile { path: PathBuf, source: io::Error },
    #[error("cannot start the log writer thread: {0}")]
    SpawnWriter(io::Error),
    #[error("a global logger is already installed: {0}")]
    AlreadyInitialised(String),
}

/// Keeps the writer threads alive; dropping it writes and flushes every queued line.
/// Keep it until the very end of `main`.
pub struct LogGuard {
    sinks: Vec<WriterHandle>,
    _guards: Vec<WriterGuard>,
}

impl LogGuard {
    /// Waits until every line logged so far is written to its output.
    pub fn flush(&self) {
        self.flusher().flush();
    }

    /// A handle that can flush from elsewhere (e.g. a panic hook) without owning the guard.
    pub fn flusher(&self) -> LogFlusher {
        LogFlusher {
            sinks: self.sinks.clone(),
        }
    }
}

/// Flushes the outputs of a `LogGuard`; cheap to clone.
#[derive(Clone)]
pub struct LogFlusher {
    sinks: Vec<WriterHandle>,
}

impl LogFlusher {
    pub fn flush(&self) {
        for sink in &self.sinks {
            sink.flush();
        }
    }
}

/// Builds the layer for `settings`: stdout at `level`, the log file (if any) at
/// `level_on_instance`, each through its own writer thread.
pub fn build<C: Clock + Clone>(
    settings: &LogSettings,
    clock: C,
    stdout: Box<dyn Write + Send>,
) -> Result<(EcsLayer<C>, LogGuard), LoggingError> {
    let mut outputs = Vec::new();
    let mut sinks = Vec::new();
    let mut guards = Vec::new();
    if settings.level != LogLevel::Off {
        let (handle, guard) =
            writer::spawn_writer("stdout", stdout).map_err(LoggingError::SpawnWriter)?;
        outputs.push(Output::new(settings.level, Arc::new(handle.clone())));
        sinks.push(handle);
        guards.push(guard);
    }
    if let Some(path) = settings.logfile.as_ref()
        && settings.level_on_instance != LogLevel::Off
    {
        let file = RollingFile::open(
            path,
            RollPolicy::for_logfile(settings),
            settings.max_roll_count,
            clock.clone(),
        )
        .map_err(|source| LoggingError::OpenFile {
            path: path.clone(),
            source,
        })?;
        let (handle, guard) =
            writer::spawn_writer("file", Box::new(file)).map_err(LoggingError::SpawnWriter)?;
        outputs.push(Output::new(
            settings.level_on_instance,
            Arc::new(handle.clone()),
        ));
        sinks.push(handle);
        guards.push(guard);
    }
    Ok((
        EcsLayer::new(settings.format, clock, outputs),
        LogGuard {
            sinks,
            _guards: guards,
        },
    ))
}

/// Installs the global logger for the process: stdout and the configured file.
pub fn init(settings: &LogSettings) -> Result<LogGuard, LoggingError> {
    let stdout = io::BufWriter::new(io::stdout());
    let (layer, guard) = build(settings, SystemClock, Box::new(stdout))?;
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|e| LoggingError::AlreadyInitialised(e.to_string()))?;
    Ok(guard)
}
