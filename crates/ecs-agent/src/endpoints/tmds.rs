//! The task server on 127.0.0.1:51679 (spec endpoints §2–§4): path cleaning, the rate
//! limit, credentials, and task metadata v2, v3 and v4, routed by hand so that empty
//! segments and trailing slashes match exactly as the reference's router does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::EndpointState;
use super::associations;
use super::build::Flavor;
use super::credentials::{self, AuditEntry, Version};
use super::http::{self, Resp, short_id};
use super::ratelimit::Limiter;
use crate::engine::TaskSnapshot;
use crate::stats::StatsJson;

/// How long a stats request waits for the first sample of a container.
const FIRST_SAMPLE_WAIT: Duration = Duration::from_secs(4);

struct TaskServer {
    state: Arc<EndpointState>,
    limiter: Limiter,
}

pub fn router(state: Arc<EndpointState>, limiter: Limiter) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(TaskServer { state, limiter }))
}

/// The routes of §2.3.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Credentials(Version, String),
    V2Task,
    V2Container(&'a str),
    V2TaskStats,
    V2ContainerStats(&'a str),
    Container(Meta, &'a str),
    Task(Meta, &'a str),
    /// `taskWithTags`: the task object plus the ECS tags (§4.5).
    TaskWithTags(Meta, &'a str),
    ContainerStats(Meta, &'a str),
    TaskStats(Meta, &'a str),
    /// The list form: endpoint ID and association type.
    Associations(Meta, &'a str, &'a str),
    AssociationMissingName(Meta, &'a str),
    Association(Meta, &'a str, &'a str, &'a str),
    TaskProtection(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    V3,
    V4,
}

impl Meta {
    fn tag(self) -> &'static str {
        match self {
            Meta::V3 => "V3",
            Meta::V4 => "V4",
        }
    }
}

fn route<'a>(path: &'a str, query: Option<&str>) -> Option<Route<'a>> {
    if path == "/v1/credentials" {
        let id = http::query_value(query, "id").unwrap_or_default();
        return Some(Route::Credentials(Version::V1, id));
    }
    if let Some(id) = path.strip_prefix("/v2/credentials/") {
        return Some(Route::Credentials(Version::V2, id.to_owned()));
    }
    match path {
        "/v2/metadata" | "/v2/metadata/" | "/v2/metadataWithTags" | "/v2/metadataWithTags/" => {
            return Some(Route::V2Task);
        }
        "/v2/stats" | "/v2/stats/" => return Some(Route::V2TaskStats),
        _ => {}
    }
    if let Some(id) = path.strip_prefix("/v2/metadata/").filter(|r| !r.is_empty()) {
        return Some(Route::V2Container(id));
    }
    if let Some(id) = path.strip_prefix("/v2/stats/").filter(|r| !r.is_empty()) {
        return Some(Route::V2ContainerStats(id));
    }
    if let Some(id) = path
        .strip_prefix("/api/")
        .and_then(|r| r.strip_suffix("/task-protection/v1/state"))
        .filter(|id| !id.contains('/'))
    {
        return Some(Route::TaskProtection(id));
    }
    let (meta, rest) = if let Some(rest) = path.strip_prefix("/v3/") {
        (Meta::V3, rest)
    } else if let Some(rest) = path.strip_prefix("/v4/") {
        (Meta::V4, rest)
    } else {
        return None;
    };
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let has_tail = rest.contains('/');
    if !has_tail {
        return Some(Route::Container(meta, id));
    }
    match tail {
        "task" => return Some(Route::Task(meta, id)),
        "taskWithTags" => return Some(Route::TaskWithTags(meta, id)),
        "stats" => return Some(Route::ContainerStats(meta, id)),
        "task/stats" => return Some(Route::TaskStats(meta, id)),
        _ => {}
    }
    let assoc = tail.strip_prefix("associations/")?;
    match assoc.split_once('/') {
        None => Some(Route::Associations(meta, id, assoc)),
        Some((kind, "")) => {
            let _ = kind;
            Some(Route::AssociationMissingName(meta, id))
        }
        Some((kind, name)) => Some(Route::Association(meta, id, kind, name)),
    }
}

async fn handle(
    State(server): State<Arc<TaskServer>>,
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
    let state = &server.state;
    state.counters.task_requests.fetch_add(1, Ordering::Relaxed);
    let remote = peer.to_string();
    let forwarded_for = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut resp = if !server.limiter.allow(&peer.ip().to_string(), &path) {
        state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        audit(state, 429, &remote, &path, &user_agent, None);
        http::text(
            StatusCode::TOO_MANY_REQUESTS,
            "task metadata",
            "text/plain; charset=utf-8",
            b"You have reached maximum request limit.".to_vec(),
        )
    } else {
        tracing::debug!(method = %req.method(), from = %remote, "Handling http request");
        match route(&path, query.as_deref()) {
            None => match super::fault::route(&path) {
                Some(fault) => super::fault::handle(state, fault, &path, peer, req).await,
                None => http::not_found(),
            },
            Some(Route::Credentials(version, id)) => {
                state
                    .counters
                    .credentials_requests
                    .fetch_add(1, Ordering::Relaxed);
                let answer = credentials::answer(&state.credentials, version, &id);
                let owner = answer
                    .owner
                    .as_ref()
                    .map(|(arn, role)| (arn.as_str(), *role));
                audit(state, answer.status, &remote, &path, &user_agent, owner);
                answer.response
            }
            Some(Route::TaskProtection(id)) => {
                let method = req.method().clone();
                let id = id.to_owned();
                match axum::body::to_bytes(req.into_body(), 1 << 20).await {
                    Ok(body) => super::protection::handle(state, &method, &id, &body).await,
                    Err(_) => http::bad_request(),
                }
            }
            Some(r) => metadata(state, r, peer).await,
        }
    };
    server
        .limiter
        .headers(resp.headers_mut(), &forwarded_for, &remote);
    resp
}

/// `200` with an encoded JSON body, shared rather than copied (as `http::json` answers).
fn json_ok(body: Bytes) -> Resp {
    let mut resp = Resp::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn audit(
    state: &EndpointState,
    status: u16,
    remote: &str,
    path: &str,
    user_agent: &str,
    owner: Option<(&str, credentials::RoleType)>,
) {
    let Some(log) = &state.audit else { return };
    let line = AuditEntry {
        time: chrono::Utc::now(),
        status,
        remote,
        path,
        user_agent,
        owner,
        cluster: &state.instance.cluster,
        container_instance_arn: &state.instance.container_instance_arn,
    }
    .line();
    log.log(&line);
}

#[derive(Serialize)]
struct AssociationsBody {
    #[serde(rename = "Associations")]
    associations: Option<Vec<String>>,
}

async fn metadata(state: &EndpointState, route: Route<'_>, peer: SocketAddr) -> Resp {
    let bad = |kind, msg: String| http::json_string(StatusCode::BAD_REQUEST, kind, &msg);
    let fail = |kind, msg: String| http::json_string(StatusCode::INTERNAL_SERVER_ERROR, kind, &msg);
    let missing = |meta: Meta, kind, msg: String| match meta {
        Meta::V3 => fail(kind, msg),
        Meta::V4 => http::json_string(StatusCode::NOT_FOUND, kind, &msg),
    };
    match route {
        Route::Credentials(..) | Route::TaskProtection(_) => http::not_found(),
        // v2 finds the task from the caller's awsvpc address; no task here has one.
        Route::V2Task | Route::V2Container(_) => bad(
            "task metadata",
            format!(
                "Unable to get task arn from request: unable to associate '{}' with task",
                peer.ip()
            ),
        ),
        Route::V2TaskStats | Route::V2ContainerStats(_) => bad(
            "task stats",
            format!(
                "Unable to get task arn from request: unable to associate '{}' with task",
                peer.ip()
            ),
        ),
        Route::Container(meta, id) => {
            let kind = "container metadata";
            let Some((task, idx)) = state.endpoint_index.find(state.tasks.as_ref(), id) else {
                return missing(
                    meta,
                    kind,
                    format!(
                        "{} container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: {id}",
                        meta.tag()
                    ),
                );
            };
            tracing::info!(endpoint = short_id(id), task = %task.spec.arn, "Writing response for container metadata");
            match meta {
                Meta::V3 => match state.container_v3(&task, idx, Flavor::V3).await {
                    Ok(c) => http::json(StatusCode::OK, kind, &c),
                    Err(docker_id) => fail(kind, format!("Unable to find container '{docker_id}'")),
                },
                Meta::V4 => match state.container_v4(&task, idx).await {
                    Ok(c) => http::json(StatusCode::OK, kind, &c),
                    Err(docker_id) => fail(kind, format!("unable to find container '{docker_id}'")),
                },
            }
        }
        Route::Task(meta, id) | Route::TaskWithTags(meta, id) => {
            let with_tags = matches!(route, Route::TaskWithTags(..));
            let kind = "task metadata";
            let Some((task, idx)) = state.endpoint_index.find(state.tasks.as_ref(), id) else {
                return missing(
                    meta,
                    kind,
                    format!(
                        "{} task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {id}",
                        meta.tag()
                    ),
                );
            };
            tracing::info!(endpoint = short_id(id), task = %task.spec.arn, "Writing response for task metadata");
            match (meta, with_tags) {
                (Meta::V3, false) => match state.task_v3(&task, Flavor::V3).await {
                    Ok(t) => http::json(StatusCode::OK, kind, &t),
                    Err(docker_id) => fail(kind, format!("Unable to find container '{docker_id}'")),
                },
                (Meta::V3, true) => match state.task_v3_with_tags(&task, Flavor::V3).await {
                    Ok(t) => http::json(StatusCode::OK, kind, &t),
                    Err(docker_id) => fail(kind, format!("Unable to find container '{docker_id}'")),
                },
                (Meta::V4, false) => match state.task_v4_body(&task).await {
                    Some(body) => json_ok(body),
                    None => {
                        http::json_bytes(StatusCode::INTERNAL_SERVER_ERROR, kind, b"{}".to_vec())
                    }
                },
                (Meta::V4, true) => {
                    let container = &task.spec.containers[idx].name;
                    let t = state.task_v4_with_tags(&task, container).await;
                    http::json(StatusCode::OK, kind, &t)
                }
            }
        }
        Route::ContainerStats(meta, id) => {
            let kind = "container stats";
            let Some((task, idx)) = state.endpoint_index.find(state.tasks.as_ref(), id) else {
                let status = match meta {
                    Meta::V3 => StatusCode::BAD_REQUEST,
                    Meta::V4 => StatusCode::NOT_FOUND,
                };
                return http::json_string(
                    status,
                    kind,
                    &format!(
                        "{} container stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {id}",
                        meta.tag()
                    ),
                );
            };
            let docker_id = task.containers[idx].docker_id.clone().unwrap_or_default();
            match container_stats(state, &task, idx, meta == Meta::V4).await {
                Some(StatsAnswer::Sample(s)) => http::json(StatusCode::OK, kind, &s),
                Some(StatsAnswer::NoSample) => match meta {
                    Meta::V3 => http::json_bytes(StatusCode::OK, kind, b"null".to_vec()),
                    Meta::V4 => http::json_bytes(StatusCode::OK, kind, b"{}".to_vec()),
                },
                None => {
                    let msg = format!("Unable to get container stats for: {docker_id}");
                    match meta {
                        Meta::V3 => bad(kind, msg),
                        Meta::V4 => fail(kind, msg),
                    }
                }
            }
        }
        Route::TaskStats(meta, id) => {
            let kind = "task stats";
            let Some((task, _)) = state.endpoint_index.find(state.tasks.as_ref(), id) else {
                let status = match meta {
                    Meta::V3 => StatusCode::BAD_REQUEST,
                    Meta::V4 => StatusCode::NOT_FOUND,
                };
                return http::json_string(
                    status,
                    kind,
                    &format!(
                        "{} task stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {id}",
                        meta.tag()
                    ),
                );
            };
            let ids: Vec<usize> = (0..task.containers.len())
                .filter(|&i| task.containers[i].docker_id.is_some())
                .collect();
            if ids.is_empty() || state.instance.metrics_disabled {
                let msg = format!("Unable to get task stats for: {}", task.spec.arn);
                return match meta {
                    Meta::V3 => bad(kind, msg),
                    Meta::V4 => fail(kind, msg),
                };
            }
            let lookups = ids
                .iter()
                .map(|&i| container_stats(state, &task, i, meta == Meta::V4));
            let answers = futures::future::join_all(lookups).await;
            let mut map: BTreeMap<String, Option<StatsJson>> = BTreeMap::new();
            for (&i, answer) in ids.iter().zip(answers) {
                let key = task.containers[i].docker_id.clone().unwrap_or_default();
                map.insert(
                    key,
                    match answer {
                        Some(StatsAnswer::Sample(s)) => Some(*s),
                        _ => None,
                    },
                );
            }
            match meta {
                Meta::V3 => http::json(StatusCode::OK, kind, &map),
                Meta::V4 => {
                    // v4 writes `{}` where v3 writes `null`.
                    let v4: BTreeMap<String, V4Stats> =
                        map.into_iter().map(|(k, v)| (k, V4Stats(v))).collect();
                    http::json(StatusCode::OK, kind, &v4)
                }
            }
        }
        Route::Associations(meta, id, association_type) => {
            let kind = "container associations";
            match state.endpoint_index.find(state.tasks.as_ref(), id) {
                None => bad(
                    kind,
                    format!(
                        "{} container associations handler: unable to get container id from request: unable to get docker ID from v3 endpoint ID: {id}",
                        meta.tag()
                    ),
                ),
                Some((task, idx)) => http::json(
                    StatusCode::OK,
                    kind,
                    &AssociationsBody {
                        associations: state.acs.get(&task.spec.arn).and_then(|info| {
                            associations::names_for_container(
                                &info.associations,
                                association_type,
                                &task.spec.containers[idx].name,
                            )
                        }),
                    },
                ),
            }
        }
        Route::AssociationMissingName(meta, id) | Route::Association(meta, id, _, _)
            if state
                .endpoint_index
                .find(state.tasks.as_ref(), id)
                .is_none() =>
        {
            bad(
                "container association",
                format!(
                    "{} container associations handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {id}",
                    meta.tag()
                ),
            )
        }
        Route::AssociationMissingName(meta, _) => bad(
            "container association",
            format!(
                "{} container associations handler: unable to get association name from request",
                meta.tag()
            ),
        ),
        Route::Association(_, id, kind_name, name) => {
            let content = state
                .endpoint_index
                .find(state.tasks.as_ref(), id)
                .and_then(|(task, _)| state.acs.get(&task.spec.arn))
                .and_then(|info| {
                    associations::content(&info.associations, kind_name, name).map(str::to_owned)
                });
            match content {
                // Written raw, as the reference does: the content is JSON by contract.
                Some(body) => {
                    http::json_bytes(StatusCode::OK, "container association", body.into_bytes())
                }
                None => bad(
                    "container association",
                    format!(
                        "Unable to write container association response: unable to get association from association type {kind_name} and association name {name}"
                    ),
                ),
            }
        }
    }
}

/// `Some(None)` inside serialises as `{}` (v4's empty stats).
struct V4Stats(Option<StatsJson>);

impl Serialize for V4Stats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(v) => v.serialize(s),
            None => serde::ser::SerializeMap::end(s.serialize_map(Some(0))?),
        }
    }
}

enum StatsAnswer {
    Sample(Box<StatsJson>),
    NoSample,
}

/// `None`: no stats for this container (metrics off, or not running any more).
async fn container_stats(
    state: &EndpointState,
    task: &TaskSnapshot,
    idx: usize,
    v4: bool,
) -> Option<StatsAnswer> {
    let st = &task.containers[idx];
    let id = st.docker_id.as_deref()?;
    if state.instance.metrics_disabled || st.known.is_terminal() || task.known.is_terminal() {
        return None;
    }
    match state.stats.samples(id, FIRST_SAMPLE_WAIT).await {
        Some(s) => Some(StatsAnswer::Sample(Box::new(StatsJson::from_samples(
            &s.last,
            s.prev.as_ref(),
            v4,
        )))),
        None => Some(StatsAnswer::NoSample),
    }
}

/// An empty 405 (kept for routes that restrict methods).
pub fn method_not_allowed() -> Resp {
    let mut r = axum::http::Response::new(Body::empty());
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_the_reference_table() {
        assert_eq!(
            route("/v1/credentials", Some("id=abc")),
            Some(Route::Credentials(Version::V1, "abc".into()))
        );
        assert_eq!(
            route("/v2/credentials/", None),
            Some(Route::Credentials(Version::V2, String::new()))
        );
        assert_eq!(route("/v2/credentials", None), None);
        assert_eq!(route("/v1/credentials/", None), None);
        assert_eq!(route("/v3/", None), Some(Route::Container(Meta::V3, "")));
        assert_eq!(
            route("/v3/stats", None),
            Some(Route::Container(Meta::V3, "stats"))
        );
        assert_eq!(route("/v3/x/", None), None);
        assert_eq!(route("/v4/x/task/", None), None);
        assert_eq!(route("/v4/x/tasks", None), None);
        assert_eq!(route("/v4/x/task", None), Some(Route::Task(Meta::V4, "x")));
        assert_eq!(
            route("/v4/x/taskWithTags", None),
            Some(Route::TaskWithTags(Meta::V4, "x"))
        );
        assert_eq!(
            route("/v4/x/task/stats", None),
            Some(Route::TaskStats(Meta::V4, "x"))
        );
        assert_eq!(
            route("/v4/x/stats", None),
            Some(Route::ContainerStats(Meta::V4, "x"))
        );
        assert_eq!(
            route("/v3/x/associations/gpu", None),
            Some(Route::Associations(Meta::V3, "x", "gpu"))
        );
        assert_eq!(
            route("/v3/x/associations/gpu/", None),
            Some(Route::AssociationMissingName(Meta::V3, "x"))
        );
        assert_eq!(
            route("/v3/x/associations/gpu/a/b", None),
            Some(Route::Association(Meta::V3, "x", "gpu", "a/b"))
        );
        assert_eq!(route("/v2/metadata/", None), Some(Route::V2Task));
        assert_eq!(
            route("/v2/metadata/abc", None),
            Some(Route::V2Container("abc"))
        );
        assert_eq!(route("/", None), None);
    }
}
