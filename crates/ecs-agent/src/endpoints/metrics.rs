//! `GET /metrics` on the introspection port: Prometheus text exposition (format 0.0.4)
//! of what the endpoints can see — tasks and containers by status, credentials held,
//! request counters, stats watches, and the process's own memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::http::StatusCode;

use super::EndpointState;
use super::build::task_status;
use super::http::{self, Resp};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the backend tells `/metrics`; `None` is what it cannot see (e.g. no store).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendGauges {
    /// State changes in the outbox, not yet accepted by ECS.
    pub state_changes_pending: Option<u64>,
    /// State changes ECS accepted since start.
    pub state_changes_submitted: u64,
    pub acs_connected: bool,
    /// Size of the state store's file.
    pub store_bytes: Option<u64>,
}

/// Reads the backend's gauges at scrape time.
pub type BackendProbe = Box<dyn Fn() -> BackendGauges + Send + Sync>;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The page's text.
pub fn render(state: &EndpointState) -> String {
    let mut tasks: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut containers: BTreeMap<&'static str, u64> = BTreeMap::new();
    for t in state.tasks.list_tasks() {
        *tasks.entry(task_status(t.known)).or_default() += 1;
        for c in &t.containers {
            *containers.entry(c.known.as_str()).or_default() += 1;
        }
    }
    let mut out = String::new();
    family(
        &mut out,
        "ecs_agent_tasks",
        "gauge",
        "Tasks the agent holds, by known status.",
    );
    for (status, n) in &tasks {
        let _ = writeln!(out, "ecs_agent_tasks{{status=\"{status}\"}} {n}");
    }
    family(
        &mut out,
        "ecs_agent_containers",
        "gauge",
        "Containers of the agent's tasks, by known status.",
    );
    for (status, n) in &containers {
        let _ = writeln!(out, "ecs_agent_containers{{status=\"{status}\"}} {n}");
    }
    family(
        &mut out,
        "ecs_agent_credentials",
        "gauge",
        "Role credentials IDs the credentials endpoint can serve or expects.",
    );
    let _ = writeln!(out, "ecs_agent_credentials {}", state.credentials.len());
    let c = &state.counters;
    family(
        &mut out,
        "ecs_agent_endpoint_requests_total",
        "counter",
        "Requests received by the local endpoints.",
    );
    for (server, v) in [
        ("introspection", &c.introspection_requests),
        ("task", &c.task_requests),
        ("credentials", &c.credentials_requests),
    ] {
        let _ = writeln!(
            out,
            "ecs_agent_endpoint_requests_total{{endpoint=\"{server}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
    family(
        &mut out,
        "ecs_agent_task_metadata_rate_limited_total",
        "counter",
        "Task server requests answered 429.",
    );
    let _ = writeln!(
        out,
        "ecs_agent_task_metadata_rate_limited_total {}",
        c.rate_limited.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "ecs_agent_stats_watched_containers",
        "gauge",
        "Containers whose Docker stats are being followed.",
    );
    let _ = writeln!(
        out,
        "ecs_agent_stats_watched_containers {}",
        state.stats.watched()
    );
    if let Some(b) = state.backend_gauges() {
        backend_families(&mut out, &b);
    }
    if let Some(rss) = resident_bytes() {
        family(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    if let Some(n) = threads() {
        family(
            &mut out,
            "process_threads",
            "gauge",
            "Number of OS threads.",
        );
        let _ = writeln!(out, "process_threads {n}");
    }
    out
}

fn backend_families(out: &mut String, b: &BackendGauges) {
    family(
        out,
        "ecs_agent_state_changes_submitted_total",
        "counter",
        "Task and container state changes ECS accepted.",
    );
    let _ = writeln!(
        out,
        "ecs_agent_state_changes_submitted_total {}",
        b.state_changes_submitted
    );
    if let Some(n) = b.state_changes_pending {
        family(
            out,
            "ecs_agent_state_changes_pending",
            "gauge",
            "State changes queued for ECS and not yet accepted.",
        );
        let _ = writeln!(out, "ecs_agent_state_changes_pending {n}");
    }
    family(
        out,
        "ecs_agent_acs_connected",
        "gauge",
        "1 while the ACS session is connected.",
    );
    let _ = writeln!(out, "ecs_agent_acs_connected {}", u8::from(b.acs_connected));
    if let Some(n) = b.store_bytes {
        family(
            out,
            "ecs_agent_store_size_bytes",
            "gauge",
            "Size of the state store file.",
        );
        let _ = writeln!(out, "ecs_agent_store_size_bytes {n}");
    }
}

pub fn page(state: &EndpointState) -> Resp {
    http::text(
        StatusCode::OK,
        "metrics",
        CONTENT_TYPE,
        render(state).into_bytes(),
    )
}

/// Resident set size from `/proc/self/statm`.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(page).ok().map(|p| p * pages)
}

/// OS threads from `/proc/self/status`.
pub fn threads() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_gauges_render_what_the_backend_can_see() {
        let mut out = String::new();
        backend_families(
            &mut out,
            &BackendGauges {
                state_changes_pending: Some(3),
                state_changes_submitted: 7,
                acs_connected: true,
                store_bytes: None,
            },
        );
        assert!(out.contains("ecs_agent_state_changes_pending 3\n"), "{out}");
        assert!(
            out.contains("ecs_agent_state_changes_submitted_total 7\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE ecs_agent_acs_connected gauge\necs_agent_acs_connected 1\n"),
            "{out}"
        );
        // No store: no size family at all rather than a made-up zero.
        assert!(!out.contains("ecs_agent_store_size_bytes"), "{out}");
    }
}
