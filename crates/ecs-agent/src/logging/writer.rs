//! Log lines are written by one background thread per output, so a slow disk or a
//! blocked stdout pipe never stalls the async runtime (the reference's seelog runs an
//! `asyncloop` the same way). The queue is drained and flushed when the guard drops.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::{self, JoinHandle};

/// Lines queued before a writer blocks its callers; back-pressure instead of unbounded
/// memory when the output cannot keep up.
pub const QUEUE_LINES: usize = 16_384;

/// Pause after each written burst, so that a busy writer batches lines.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(1);

enum Msg {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
    Stop,
}

/// Where formatted lines go.
pub trait LineSink: Send + Sync + 'static {
    /// Queues one complete line (ending in `\n`).
    fn write_line(&self, line: &[u8]);
    /// Returns once every line queued before the call has been written and flushed.
    fn flush(&self);
}

/// The sending side of a background writer; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    tx: SyncSender<Msg>,
}

impl LineSink for WriterHandle {
    fn write_line(&self, line: &[u8]) {
        // A stopped writer (after its guard dropped) simply drops the line.
        let _ = self.tx.send(Msg::Line(line.to_vec()));
    }

    fn flush(&self) {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv();
        }
    }
}

/// Stops the writer thread when dropped, after it wrote and flushed every queued line.
pub struct WriterGuard {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a thread that writes queued lines to `out`.
pub fn spawn_writer(
    name: &str,
    out: Box<dyn Write + Send>,
) -> io::Result<(WriterHandle, WriterGuard)> {
    let (tx, rx) = mpsc::sync_channel(QUEUE_LINES);
    let label = name.to_string();
    let thread = thread::Builder::new()
        .name(format!("log-{name}"))
        .spawn(move || run(&label, out, rx))?;
    Ok((
        WriterHandle { tx: tx.clone() },
        WriterGuard {
            tx,
            thread: Some(thread),
        },
    ))
}

fn run(label: &str, mut out: Box<dyn Write + Send>, rx: Receiver<Msg>) {
    let mut errors = ErrorReport::new(label);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        // Write everything already queued, then flush once: one syscall per burst.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(line) => errors.check(out.write_all(&line)),
                Msg::Flush(ack) => {
                    errors.check(out.flush());
                    let _ = ack.send(());
                }
                Msg::Stop => {
                    errors.check(out.flush());
                    return;
                }
            }
            next = match rx.try_recv() {
                Ok(msg) => Some(msg),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => {
                    errors.check(out.flush());
                    return;
                }
            };
        }
        errors.check(out.flush());
        // Lines sent while this thread sleeps queue without waking it: under a steady
        // stream (an info line per metadata request) that is one wake-up and one write
        // per pause instead of per line, and a lone line is still written at once.
        thread::sleep(COALESCE);
    }
    let _ = out.flush();
}

/// Reports a failing output once per failure streak on stderr, the only place left.
struct ErrorReport<'a> {
    label: &'a str,
    failing: bool,
}

impl<'a> ErrorReport<'a> {
    fn new(label: &'a str) -> Self {
        Self {
            label,
            failing: false,
        }
    }

    fn check(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => self.failing = false,
            Err(err) if !self.failing => {
                self.failing = true;
                eprintln!("ecs-agent: writing log output {} failed: {err}", self.label);
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn flush_waits_for_queued_lines_and_drop_drains() {
        let buf = Shared::default();
        let (handle, guard) = spawn_writer("test", Box::new(buf.clone())).unwrap();
        for i in 0..100 {
            handle.write_line(format!("line {i}\n").as_bytes());
        }
        handle.flush();
        assert_eq!(
            buf.0
                .lock()
                .unwrap()
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            100
        );
        handle.write_line(b"last\n");
        drop(guard);
        assert!(buf.0.lock().unwrap().ends_with(b"last\n"));
        // After the guard is gone, writes are dropped, never blocking.
        handle.write_line(b"dropped\n");
        handle.flush();
        assert!(buf.0.lock().unwrap().ends_with(b"last\n"));
    }
}
