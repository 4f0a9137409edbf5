//! The introspection server on port 51678 (spec endpoints §1): `/v1/metadata`,
//! `/v1/tasks`, `/license`, runtime stats when enabled, every other path the command
//! list, and `/metrics` (Prometheus text, beyond the reference; not listed).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::http::{self, Resp};
use super::listener::WRITE_TIMEOUT;
use super::model::{V1Task, V1Tasks};
use super::source::by_docker_id;
use super::{EndpointConfig, EndpointState, metrics};

struct Introspection {
    state: Arc<EndpointState>,
    runtime_stats: bool,
    license_dir: PathBuf,
    write_timeout: Duration,
}

/// The reference's introspection write timeout: 5 s, or 5 min with runtime stats on so
/// that CPU profiles fit (spec §1.1). A profile must be shorter than it (Go's rule).
pub fn write_timeout(config: &EndpointConfig) -> Duration {
    if config.runtime_stats {
        Duration::from_secs(5 * 60)
    } else {
        WRITE_TIMEOUT
    }
}

pub fn router(state: Arc<EndpointState>, config: &EndpointConfig) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(Introspection {
            state,
            runtime_stats: config.runtime_stats,
            license_dir: config.license_dir.clone(),
            write_timeout: write_timeout(config),
        }))
}

const COMMANDS: &str = r#"{"AvailableCommands":["/v1/metadata","/v1/tasks","/license"]}"#;
const COMMANDS_PPROF: &str = r#"{"AvailableCommands":["/v1/metadata","/v1/tasks","/license","/debug/pprof/","/debug/pprof/cmdline","/debug/pprof/profile","/debug/pprof/symbol","/debug/pprof/trace"]}"#;

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(rename = "Cluster")]
    cluster: &'a str,
    #[serde(rename = "ContainerInstanceArn")]
    container_instance_arn: &'a str,
    #[serde(rename = "Version")]
    version: String,
}

async fn handle(
    State(server): State<Arc<Introspection>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Resp {
    let query = req.uri().query().map(str::to_owned);
    let Some(path) = http::request_path(req.uri()) else {
        return http::bad_request();
    };
    let cleaned = http::clean_path(&path);
    if cleaned != path {
        return http::redirect(&cleaned, query.as_deref());
    }
    tracing::debug!(method = %req.method(), from = %peer, "Handling http request");
    let state = &server.state;
    state
        .counters
        .introspection_requests
        .fetch_add(1, Ordering::Relaxed);
    match path.as_str() {
        "/v1/metadata" => http::json(
            StatusCode::OK,
            "introspection/agent",
            &Metadata {
                cluster: &state.instance.cluster,
                container_instance_arn: &state.instance.container_instance_arn,
                version: crate::version::introspection_version(),
            },
        ),
        "/v1/tasks" => tasks(state, query.as_deref()).await,
        "/license" => license(&server.license_dir),
        "/metrics" => metrics::page(state),
        "/debug/pprof/profile" if server.runtime_stats => {
            super::pprof::profile(query.as_deref(), server.write_timeout).await
        }
        p if server.runtime_stats && (p.starts_with("/debug/pprof/")) => runtime(p),
        _ => {
            let body = if server.runtime_stats {
                COMMANDS_PPROF
            } else {
                COMMANDS
            };
            http::text(
                StatusCode::OK,
                "introspection/agent",
                "text/plain; charset=utf-8",
                body.as_bytes().to_vec(),
            )
        }
    }
}

fn empty_task(status: StatusCode) -> Resp {
    http::json(status, "introspection/tasks", &V1Task::default())
}

async fn tasks(state: &EndpointState, query: Option<&str>) -> Resp {
    let arn = http::query_value(query, "taskarn");
    let docker_id = http::query_value(query, "dockerid");
    let kind = "introspection/tasks";
    match (arn, docker_id) {
        (Some(_), Some(_)) => empty_task(StatusCode::BAD_REQUEST),
        (Some(arn), None) => match state.tasks.task(&arn) {
            Some(t) => http::json(StatusCode::OK, kind, &state.task_v1(&t).await),
            None => empty_task(StatusCode::NOT_FOUND),
        },
        (None, Some(id)) if id.len() > 12 => match by_docker_id(state.tasks.as_ref(), &id) {
            Some((t, _)) => http::json(StatusCode::OK, kind, &state.task_v1(&t).await),
            None => empty_task(StatusCode::NOT_FOUND),
        },
        (None, Some(prefix)) => {
            let mut matched = BTreeSet::new();
            let mut found = None;
            for t in state.tasks.list_tasks() {
                let hit = t.containers.iter().any(|c| {
                    c.docker_id
                        .as_deref()
                        .is_some_and(|d| d.starts_with(&prefix))
                });
                if hit {
                    matched.insert(t.spec.arn.clone());
                    found = Some(t);
                }
            }
            // Tasks are counted once each, not once per matching container (quirk 12).
            match (matched.len(), found) {
                (1, Some(t)) => http::json(StatusCode::OK, kind, &state.task_v1(&t).await),
                (0, _) => empty_task(StatusCode::NOT_FOUND),
                _ => empty_task(StatusCode::BAD_REQUEST),
            }
        }
        (None, None) => {
            let mut all = state.tasks.list_tasks();
            all.sort_by(|a, b| a.spec.arn.cmp(&b.spec.arn));
            let mut out = Vec::with_capacity(all.len());
            for t in &all {
                out.push(state.task_v1(t).await);
            }
            http::json(StatusCode::OK, kind, &V1Tasks { tasks: out })
        }
    }
}

/// LICENSE, NOTICE and THIRD-PARTY joined by a line of 80 `=` (§1.5).
pub fn license_text(dir: &std::path::Path) -> std::io::Result<String> {
    let sep = format!("\n{}\n", "=".repeat(80));
    let mut out = std::fs::read_to_string(dir.join("LICENSE"))?;
    out.push_str(&sep);
    out.push_str(&std::fs::read_to_string(dir.join("NOTICE"))?);
    out.push_str(&sep);
    out.push_str(&std::fs::read_to_string(dir.join("THIRD-PARTY"))?);
    Ok(out)
}

fn license(dir: &std::path::Path) -> Resp {
    match license_text(dir) {
        Ok(text) => http::text(
            StatusCode::OK,
            "introspection/license",
            "text/plain",
            text.into_bytes(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "Failed to get v1 license.");
            http::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "introspection/license",
                "text/plain",
                Vec::new(),
            )
        }
    }
}

/// The port's stand-ins for Go's other pprof pages (quirk 13); `trace` and Go's
/// named runtime profiles have no Rust counterpart and answer 404.
fn runtime(path: &str) -> Resp {
    let kind = "introspection/agent";
    let plain = "text/plain; charset=utf-8";
    match path {
        "/debug/pprof/cmdline" => {
            let argv: Vec<String> = std::env::args().collect();
            http::text(StatusCode::OK, kind, plain, argv.join("\0").into_bytes())
        }
        "/debug/pprof/symbol" => {
            http::text(StatusCode::OK, kind, plain, b"num_symbols: 0\n".to_vec())
        }
        "/debug/pprof/" => {
            let mut body =
                String::from("/debug/pprof/\n\nProfiles:\n\tcmdline\n\tprofile\n\tsymbol\n\n");
            if let Some(rss) = metrics::resident_bytes() {
                body.push_str(&format!("resident_memory_bytes {rss}\n"));
            }
            if let Some(threads) = metrics::threads() {
                body.push_str(&format!("threads {threads}\n"));
            }
            http::text(StatusCode::OK, kind, plain, body.into_bytes())
        }
        _ => http::not_found(),
    }
}
