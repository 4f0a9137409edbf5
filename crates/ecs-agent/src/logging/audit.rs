//! The credentials audit log (spec config-and-lifecycle §5.6): the message alone, one
//! line per credentials request, to `ECS_AUDIT_LOGFILE` and echoed to stdout.
//! The endpoints build the line; this only writes it.

use std::io::{self, Write};
use std::sync::Arc;

use super::LoggingError;
use super::clock::Clock;
use super::rolling::{RollPolicy, RollingFile};
use super::settings::LogSettings;
use super::writer::{LineSink, WriterGuard, WriterHandle, spawn_writer};

/// A handle to write audit lines; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sink: Arc<dyn LineSink>,
}

impl AuditLog {
    /// Opens the audit log of `settings` with its own writer thread, or `None` when
    /// the audit log is disabled. Drop the guard at exit to flush.
    pub fn open(
        settings: &LogSettings,
        clock: impl Clock,
        stdout: Option<Box<dyn Write + Send>>,
    ) -> Result<Option<(AuditLog, WriterGuard)>, LoggingError> {
        let Some(path) = settings.audit_logfile.as_ref() else {
            return Ok(None);
        };
        let file = RollingFile::open(
            path,
            RollPolicy::for_audit_log(settings),
            settings.max_roll_count,
            clock,
        )
        .map_err(|source| LoggingError::OpenFile {
            path: path.clone(),
            source,
        })?;
        let mut outs: Vec<Box<dyn Write + Send>> = vec![Box::new(file)];
        outs.extend(stdout);
        let (handle, guard): (WriterHandle, WriterGuard) =
            spawn_writer("audit", Box::new(Tee(outs))).map_err(LoggingError::SpawnWriter)?;
        Ok(Some((
            AuditLog {
                sink: Arc::new(handle),
            },
            guard,
        )))
    }

    /// Writes one audit entry; a newline is added.
    pub fn log(&self, entry: &str) {
        let mut line = Vec::with_capacity(entry.len() + 1);
        line.extend_from_slice(entry.as_bytes());
        line.push(b'\n');
        self.sink.write_line(&line);
    }

    /// Waits until every entry logged so far is written.
    pub fn flush(&self) {
        self.sink.flush();
    }
}

/// Writes each line to every output; a failing output does not starve the others.
struct Tee(Vec<Box<dyn Write + Send>>);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut first_err = None;
        for out in &mut self.0 {
            if let Err(err) = out.write_all(buf) {
                first_err.get_or_insert(err);
            }
        }
        match first_err {
            Some(err) => Err(err),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut first_err = None;
        for out in &mut self.0 {
            if let Err(err) = out.flush() {
                first_err.get_or_insert(err);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
