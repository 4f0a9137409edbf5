//! `/debug/pprof/profile` (spec endpoints §1.6, quirk 13): a CPU profile of the agent
//! in pprof's protobuf, gzip-compressed as Go's `runtime/pprof` writes it, taken by a
//! SIGPROF sampling profiler (pprof-rs) at Go's 100 Hz.
//!
//! The request handling follows Go's `net/http/pprof.Profile`: a `seconds` value that
//! is not a positive integer means the default 30 (Go does not reject it); a duration
//! at or beyond the server's write timeout is refused with 400; a second profile while
//! one runs gets 500 with `runtime/pprof`'s "cpu profiling already in use". A client
//! that goes away ends its profile early (Go stops at the request context's end).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use pprof::protos::Message;

use super::http::{self, Resp};

/// Go's default profile length.
const DEFAULT_SECONDS: u64 = 30;
/// Go's CPU profiling rate.
const FREQUENCY_HZ: i32 = 100;
/// Unwinding inside these from a signal handler can deadlock (pprof-rs's advice).
const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

/// SIGPROF and its timer are process-wide: one profile at a time, in the whole process.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// Holds the process's profiling slot; freed when dropped, also when the handler is
/// dropped because the client left or the write deadline passed.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        IN_USE
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_USE.store(false, Ordering::Release);
    }
}

#[derive(Debug, thiserror::Error)]
enum ProfileError {
    #[error("{0}")]
    Profiler(#[from] pprof::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The profile length Go would use for this `seconds` query value.
pub fn profile_seconds(query: Option<&str>) -> u64 {
    http::query_value(query, "seconds")
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_SECONDS)
}

/// Answers `/debug/pprof/profile?seconds=N` on a server with `write_timeout`.
pub async fn profile(query: Option<&str>, write_timeout: Duration) -> Resp {
    let seconds = profile_seconds(query);
    // Go compares in float seconds: `seconds >= WriteTimeout.Seconds()`.
    if seconds as f64 >= write_timeout.as_secs_f64() {
        return serve_error(
            StatusCode::BAD_REQUEST,
            "profile duration exceeds server's WriteTimeout",
        );
    }
    let Some(slot) = Slot::take() else {
        return serve_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not enable CPU profiling: cpu profiling already in use",
        );
    };
    // Starting resolves a first backtrace (pprof-rs warms its unwinder), which reads
    // the binary's debug info: not on an async worker. The slot travels with the guard
    // so that it is freed only once a guard started here is gone, even if this handler
    // is dropped meanwhile.
    let started = tokio::task::spawn_blocking(move || {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY_HZ)
            .blocklist(&BLOCKLIST)
            .build();
        (slot, guard)
    })
    .await;
    let (slot, guard) = match started {
        Ok((slot, Ok(g))) => (slot, g),
        Ok((_, Err(e))) => return could_not_enable(&e),
        Err(e) => return could_not_enable(&e),
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // Symbolising walks debug info: keep it off the async workers. The guard stops
    // the profiler when this closure drops it, and the slot is freed after that.
    let built = tokio::task::spawn_blocking(move || {
        let encoded = encode(&guard);
        drop(guard);
        drop(slot);
        encoded
    })
    .await;
    match built {
        Ok(Ok(body)) => {
            let mut resp = http::text(
                StatusCode::OK,
                "introspection/agent",
                "application/octet-stream",
                body,
            );
            let h = resp.headers_mut();
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"profile\""),
            );
            resp
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "CPU profile could not be written");
            serve_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to collect profile",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "CPU profile task failed");
            serve_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to collect profile",
            )
        }
    }
}

fn encode(guard: &pprof::ProfilerGuard<'_>) -> Result<Vec<u8>, ProfileError> {
    let report = guard.report().build()?;
    let profile = report.pprof()?;
    let raw = profile.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw)?;
    Ok(gz.finish()?)
}

fn could_not_enable(e: &dyn std::fmt::Display) -> Resp {
    serve_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("Could not enable CPU profiling: {e}"),
    )
}

/// Go's `serveError` of net/http/pprof: the text and a newline, with `X-Go-Pprof: 1`.
fn serve_error(status: StatusCode, text: &str) -> Resp {
    let mut resp = http::text(
        status,
        "introspection/agent",
        "text/plain; charset=utf-8",
        format!("{text}\n").into_bytes(),
    );
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-go-pprof", HeaderValue::from_static("1"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_like_go() {
        assert_eq!(profile_seconds(None), 30);
        assert_eq!(profile_seconds(Some("seconds=2")), 2);
        assert_eq!(profile_seconds(Some("seconds=%2B3")), 3);
        for bad in [
            "seconds=",
            "seconds=abc",
            "seconds=0",
            "seconds=-4",
            "seconds=1.5",
        ] {
            assert_eq!(profile_seconds(Some(bad)), 30, "{bad}");
        }
    }

    #[tokio::test]
    async fn durations_at_the_write_timeout_are_refused() {
        let resp = profile(Some("seconds=5"), Duration::from_secs(5)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers().get("x-go-pprof").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let body = axum::body::to_bytes(resp.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(
            &body[..],
            b"profile duration exceeds server's WriteTimeout\n"
        );
        // The default 30 s against the reference's plain 5 s timeout.
        let resp = profile(None, Duration::from_secs(5)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
}
