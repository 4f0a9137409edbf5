//! Agent API fault injection (spec endpoints §4.12):
//! `POST /api/<id>/fault/v1/<network-blackhole-port|network-latency|network-packet-loss>/<start|stop|status>`.
//!
//! The engine runs bridge, host and none tasks (awsvpc is refused at intake), so only
//! host-mode tasks reach the commands: they run in the agent's (host) namespace, on
//! the interfaces holding the default routes.

pub mod blackhole;
pub mod exec;
pub mod gojson;
pub mod netem;
pub mod request;
pub mod target;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::time::Instant;

use super::EndpointState;
use super::http::{self, Resp, short_id};
use super::source::by_endpoint_id;
use crate::engine::model::NetworkMode;
use exec::{ExecError, REQUEST_TIMEOUT};
use request::{Blackhole, BlackholeSpec, Latency, NetemSpec, PacketLoss};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultType {
    BlackholePort,
    Latency,
    PacketLoss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
    Status,
}

/// A matched fault path; `id` may be empty (`[^/]*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultRoute<'a> {
    pub id: &'a str,
    pub fault: FaultType,
    pub op: Op,
}

/// Matches routes 29–37 of §2.3 (any method; the handler answers 405).
pub fn route(path: &str) -> Option<FaultRoute<'_>> {
    let (id, tail) = path.strip_prefix("/api/")?.split_once('/')?;
    let (fault, op) = tail.strip_prefix("fault/v1/")?.split_once('/')?;
    let fault = match fault {
        "network-blackhole-port" => FaultType::BlackholePort,
        "network-latency" => FaultType::Latency,
        "network-packet-loss" => FaultType::PacketLoss,
        _ => return None,
    };
    let op = match op {
        "start" => Op::Start,
        "stop" => Op::Stop,
        "status" => Op::Status,
        _ => return None,
    };
    Some(FaultRoute { id, fault, op })
}

/// The request type of the error log line and the timeout text.
fn kind(fault: FaultType, op: Op) -> &'static str {
    use FaultType::*;
    match (op, fault) {
        (Op::Start, BlackholePort) => "start network-blackhole-port",
        (Op::Stop, BlackholePort) => "stop network-blackhole-port",
        (Op::Status, BlackholePort) => "check status network-blackhole-port",
        (Op::Start, Latency) => "start network-latency",
        (Op::Stop, Latency) => "stop network-latency",
        (Op::Status, Latency) => "check status network-latency",
        (Op::Start, PacketLoss) => "start network-packet-loss",
        (Op::Stop, PacketLoss) => "stop network-packet-loss",
        (Op::Status, PacketLoss) => "check status network-packet-loss",
    }
}

/// The fault routes' own limiter: 1 request per 5 s per client IP and path, on top of
/// the server's. One per server (it lives in the [`EndpointState`]).
pub struct FaultLimiter(DefaultKeyedRateLimiter<String>);

/// Beyond this many buckets, refilled ones (indistinguishable from new) are dropped.
const LIMITER_EVICT_AT: usize = 4096;

impl Default for FaultLimiter {
    fn default() -> Self {
        let quota = Quota::with_period(Duration::from_secs(5))
            .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(std::num::NonZeroU32::MIN);
        FaultLimiter(RateLimiter::keyed(quota))
    }
}

impl FaultLimiter {
    fn allow(&self, ip: IpAddr, path: &str) -> bool {
        let allowed = self.0.check_key(&format!("{ip}|{path}")).is_ok();
        if self.0.len() > LIMITER_EVICT_AT {
            self.0.retain_recent();
        }
        allowed
    }
}

#[derive(Serialize)]
struct Answer<'a> {
    #[serde(rename = "Status", skip_serializing_if = "str::is_empty")]
    status: &'a str,
    #[serde(rename = "Error", skip_serializing_if = "str::is_empty")]
    error: &'a str,
}

fn status(kind: &'static str, status: &str) -> Resp {
    http::json(StatusCode::OK, kind, &Answer { status, error: "" })
}

fn error(kind: &'static str, code: StatusCode, error: &str) -> Resp {
    http::json(code, kind, &Answer { status: "", error })
}

const INTERNAL_ERROR: &str = "internal error";

/// What the body asked for, once valid.
enum Plan {
    Blackhole(BlackholeSpec),
    Netem(NetemSpec),
    /// Latency and packet loss `stop`/`status` read no body.
    NoBody,
}

fn plan(fault: FaultType, op: Op, body: &[u8]) -> Result<Plan, String> {
    Ok(match (fault, op) {
        (FaultType::BlackholePort, _) => {
            Plan::Blackhole(blackhole::effective(Blackhole::parse(body)?.validate()?))
        }
        (FaultType::Latency, Op::Start) => Plan::Netem(Latency::parse(body)?.validate()?),
        (FaultType::PacketLoss, Op::Start) => Plan::Netem(PacketLoss::parse(body)?.validate()?),
        _ => Plan::NoBody,
    })
}

/// Where a task's faults go.
struct Target {
    /// The namespace lock's key.
    namespace: String,
    /// Command prefix (empty: the agent's own namespace).
    prefix: Vec<String>,
    devices: Vec<String>,
    ipv6_only: bool,
}

fn mode_name(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Bridge => "bridge",
        NetworkMode::Host => "host",
        NetworkMode::None => "none",
        NetworkMode::Awsvpc => "awsvpc",
    }
}

/// A refused request: status and error text.
type Refusal = (StatusCode, String);

/// The task checks, in the reference's order.
fn resolve_task(state: &EndpointState, id: &str) -> Result<(String, Target), Refusal> {
    let Some((task, _)) = by_endpoint_id(state.tasks.as_ref(), id) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {id}"
            ),
        ));
    };
    let arn = task.spec.arn.clone();
    if !state
        .acs
        .get(&arn)
        .is_some_and(|a| a.fault_injection_enabled)
    {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("enableFaultInjection is not enabled for task: {arn}"),
        ));
    }
    let incomplete = || {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to get task metadata due to internal server error for container: {id}"),
        )
    };
    match task.spec.network_mode {
        NetworkMode::Host => {
            let routes = target::default_routes(Path::new("/proc/net")).map_err(|e| {
                tracing::error!(error = %e, task = %arn, "Unable to obtain default network interface on host");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "failed to resolve default host network interface".to_owned(),
                )
            })?;
            if routes.devices.is_empty() {
                return Err(incomplete());
            }
            Ok((
                arn,
                Target {
                    namespace: "host".to_owned(),
                    prefix: Vec::new(),
                    devices: routes.devices,
                    ipv6_only: routes.ipv6_only,
                },
            ))
        }
        // The reference needs the task's ENI; the engine refuses awsvpc tasks at intake,
        // so none has one: its "network config incomplete" answer.
        NetworkMode::Awsvpc => Err(incomplete()),
        other => Err((
            StatusCode::BAD_REQUEST,
            format!(
                "{} mode is not supported. Please use either host or awsvpc mode.",
                mode_name(other)
            ),
        )),
    }
}

/// Serves a fault path (already past the server's own rate limit).
pub async fn handle(
    state: &EndpointState,
    route: FaultRoute<'_>,
    path: &str,
    peer: SocketAddr,
    req: Request,
) -> Resp {
    if req.method() != Method::POST {
        return super::tmds::method_not_allowed();
    }
    let kind = kind(route.fault, route.op);
    if !state.fault_limiter.allow(peer.ip(), path) {
        state
            .counters
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return http::text(
            StatusCode::TOO_MANY_REQUESTS,
            kind,
            "text/plain; charset=utf-8",
            b"You have reached maximum request limit".to_vec(),
        );
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), 1 << 20).await else {
        return http::bad_request();
    };
    tracing::info!(
        endpoint = short_id(route.id),
        "Received new request for request type: {kind}"
    );
    let plan = match plan(route.fault, route.op, &body) {
        Ok(p) => p,
        Err(text) => return error(kind, StatusCode::BAD_REQUEST, &text),
    };
    let (arn, target) = match resolve_task(state, route.id) {
        Ok(t) => t,
        Err((code, text)) => return error(kind, code, &text),
    };
    let lock = exec::namespace_lock(&target.namespace);
    let (code, answer) = if route.op == Op::Status {
        let _shared = lock.read().await;
        run(route, &plan, &target).await
    } else {
        let _exclusive = lock.write().await;
        run(route, &plan, &target).await
    };
    tracing::info!(task = %arn, status = code.as_u16(), answer = %answer.as_ref().map_or_else(|e| e.to_string(), |s| s.to_string()), "Handled fault request: {kind}");
    respond(kind, code, answer)
}

fn respond(kind: &'static str, code: StatusCode, answer: Result<Outcome, RunError>) -> Resp {
    match answer {
        Ok(Outcome::Status(s)) => status(kind, s),
        Ok(Outcome::Error(text)) => error(kind, code, text),
        Err(RunError::TimedOut) => error(kind, code, &format!("{kind}: request timed out")),
        Err(RunError::Failed) => error(kind, code, INTERNAL_ERROR),
    }
}

enum Outcome {
    Status(&'static str),
    /// A 409 text.
    Error(&'static str),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(s) | Outcome::Error(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("request timed out")]
    TimedOut,
    #[error("internal error")]
    Failed,
}

/// Runs the operation under the shared 5 s deadline (it starts once the lock is held,
/// as in the reference).
async fn run(
    route: FaultRoute<'_>,
    plan: &Plan,
    t: &Target,
) -> (StatusCode, Result<Outcome, RunError>) {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let result = operate(route, plan, t, deadline).await;
    // Like the reference's check of its context: past the deadline is a timeout, even
    // when the last command made it.
    let result = match result {
        Err(ExecError::TimedOut) => Err(RunError::TimedOut),
        _ if Instant::now() >= deadline => Err(RunError::TimedOut),
        Err(e) => {
            tracing::error!(error = %e, "Fault command failed");
            Err(RunError::Failed)
        }
        Ok(o) => Ok(o),
    };
    let code = match &result {
        Ok(Outcome::Status(_)) => StatusCode::OK,
        Ok(Outcome::Error(_)) => StatusCode::CONFLICT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, result)
}

const LATENCY_RUNNING: &str = "There is already one network latency fault running";
const PACKET_LOSS_RUNNING: &str = "There is already one network packet loss fault running";

async fn operate(
    route: FaultRoute<'_>,
    plan: &Plan,
    t: &Target,
    deadline: Instant,
) -> Result<Outcome, ExecError> {
    match plan {
        Plan::Blackhole(spec) => {
            let bt = blackhole::Target {
                prefix: t.prefix.clone(),
                ipv6_only: t.ipv6_only,
            };
            match route.op {
                Op::Status => Ok(Outcome::Status(
                    if blackhole::is_running(&bt, spec, deadline).await? {
                        "running"
                    } else {
                        "not-running"
                    },
                )),
                Op::Start => {
                    blackhole::start(&bt, spec, deadline).await?;
                    Ok(Outcome::Status("running"))
                }
                Op::Stop => {
                    blackhole::stop(&bt, spec, deadline).await?;
                    Ok(Outcome::Status("stopped"))
                }
            }
        }
        Plan::Netem(spec) => {
            let running = netem::check(&t.prefix, &t.devices, deadline).await?;
            if running.latency {
                return Ok(Outcome::Error(LATENCY_RUNNING));
            }
            if running.packet_loss {
                return Ok(Outcome::Error(PACKET_LOSS_RUNNING));
            }
            netem::start(&t.prefix, &t.devices, spec, deadline).await?;
            Ok(Outcome::Status("running"))
        }
        Plan::NoBody => {
            let running = netem::check(&t.prefix, &t.devices, deadline).await?;
            let this = match route.fault {
                FaultType::Latency => running.latency,
                _ => running.packet_loss,
            };
            match route.op {
                Op::Status => Ok(Outcome::Status(if this {
                    "running"
                } else {
                    "not-running"
                })),
                _ => {
                    if this {
                        netem::stop(&t.prefix, &t.devices, deadline).await?;
                    }
                    Ok(Outcome::Status("stopped"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/api/abc/fault/v1/network-latency/start"),
            Some(FaultRoute {
                id: "abc",
                fault: FaultType::Latency,
                op: Op::Start
            })
        );
        assert_eq!(
            route("/api//fault/v1/network-blackhole-port/status"),
            Some(FaultRoute {
                id: "",
                fault: FaultType::BlackholePort,
                op: Op::Status
            })
        );
        assert_eq!(
            route("/api/x/fault/v1/network-packet-loss/stop").map(|r| r.fault),
            Some(FaultType::PacketLoss)
        );
        assert_eq!(route("/api/x/fault/v1/network-latency/start/"), None);
        assert_eq!(route("/api/x/fault/v1/network-latency"), None);
        assert_eq!(route("/api/x/fault/v1/cpu-stress/start"), None);
        assert_eq!(route("/api/x/y/fault/v1/network-latency/start"), None);
        assert_eq!(route("/api/x/task-protection/v1/state"), None);
    }

    #[test]
    fn request_types() {
        assert_eq!(
            kind(FaultType::BlackholePort, Op::Status),
            "check status network-blackhole-port"
        );
        assert_eq!(
            kind(FaultType::PacketLoss, Op::Start),
            "start network-packet-loss"
        );
    }

    #[test]
    fn answers_are_go_json() {
        let r = status("x", "running");
        assert_eq!(r.status(), StatusCode::OK);
        let body = Answer {
            status: "",
            error: "a <b>",
        };
        assert_eq!(
            super::super::json::to_go_json(&body).unwrap(),
            br#"{"Error":"a \u003cb\u003e"}"#
        );
    }

    async fn body(r: Resp) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// A target whose commands are all prefixed: `sh -c <script> sh tc …` runs only
    /// the script.
    fn scripted(script: &str) -> Target {
        Target {
            namespace: format!("test-{script}"),
            prefix: exec::argv(&["sh", "-c", script, "sh"]),
            devices: vec!["lo".to_owned()],
            ipv6_only: false,
        }
    }

    #[tokio::test]
    async fn the_shared_deadline_and_failures_answer_like_the_reference() {
        let status = FaultRoute {
            id: "x",
            fault: FaultType::Latency,
            op: Op::Status,
        };
        let started = std::time::Instant::now();
        let (code, answer) = run(status, &Plan::NoBody, &scripted("sleep 30")).await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        let kind = kind(status.fault, status.op);
        assert_eq!(
            body(respond(kind, code, answer)).await,
            r#"{"Error":"check status network-latency: request timed out"}"#
        );
        let (code, answer) = run(status, &Plan::NoBody, &scripted("exit 1")).await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(respond(kind, code, answer)).await,
            r#"{"Error":"internal error"}"#
        );
        // A status check whose output says a latency fault runs.
        let tc_says =
            r#"echo '[{"kind":"netem","handle":"200:","options":{"delay":{"delay":0.1}}}]'"#;
        let (code, answer) = run(status, &Plan::NoBody, &scripted(tc_says)).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            body(respond(kind, code, answer)).await,
            r#"{"Status":"running"}"#
        );
        let start = FaultRoute {
            op: Op::Start,
            fault: FaultType::PacketLoss,
            ..status
        };
        let plan = plan(
            start.fault,
            start.op,
            br#"{"LossPercent":5,"Sources":["203.0.113.1"]}"#,
        )
        .unwrap();
        let (code, answer) = run(start, &plan, &scripted(tc_says)).await;
        assert_eq!(code, StatusCode::CONFLICT);
        assert_eq!(
            body(respond(kind, code, answer)).await,
            r#"{"Error":"There is already one network latency fault running"}"#
        );
    }

    #[test]
    fn limiter_allows_one_per_five_seconds_per_ip_and_path() {
        let ip: IpAddr = "192.0.2.77".parse().unwrap();
        let path = format!(
            "/api/{}/fault/v1/network-latency/status",
            uuid::Uuid::new_v4()
        );
        let limiter = FaultLimiter::default();
        assert!(limiter.allow(ip, &path));
        assert!(!limiter.allow(ip, &path));
        assert!(limiter.allow("192.0.2.78".parse().unwrap(), &path));
        assert!(limiter.allow(ip, &format!("{path}x")));
        // Another server's limiter has its own buckets.
        assert!(FaultLimiter::default().allow(ip, &path));
    }
}
