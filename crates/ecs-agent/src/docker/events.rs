//! Container events from `GET /events`, mapped to our enum, on a stream that re-opens itself.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptions;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};

use super::types::HealthStatus;

/// The container actions the engine reacts to (task-engine.md §9.1), plus the ones it logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEventKind {
    Create,
    Start,
    /// The process exited; Docker's `exitCode` attribute.
    Die {
        exit_code: Option<i64>,
    },
    Stop,
    /// A signal was sent; Docker's `signal` attribute (a number as text).
    Kill {
        signal: Option<String>,
    },
    Oom,
    HealthStatus(HealthStatus),
    Destroy,
    Restart,
    Pause,
    Unpause,
}

impl ContainerEventKind {
    fn from_action(action: &str, attributes: &HashMap<String, String>) -> Option<Self> {
        let kind = match action {
            "create" => ContainerEventKind::Create,
            "start" => ContainerEventKind::Start,
            "die" => ContainerEventKind::Die {
                exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
            },
            "stop" => ContainerEventKind::Stop,
            "kill" => ContainerEventKind::Kill {
                signal: attributes.get("signal").cloned(),
            },
            "oom" => ContainerEventKind::Oom,
            "destroy" => ContainerEventKind::Destroy,
            "restart" => ContainerEventKind::Restart,
            "pause" => ContainerEventKind::Pause,
            "unpause" => ContainerEventKind::Unpause,
            other => {
                let status = other.strip_prefix("health_status:")?;
                ContainerEventKind::HealthStatus(HealthStatus::parse(status)?)
            }
        };
        Some(kind)
    }
}

/// One container event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: String,
    pub kind: ContainerEventKind,
    pub time: DateTime<Utc>,
    /// Docker's actor attributes: `name`, `image`, the container's labels, ...
    pub attributes: HashMap<String, String>,
}

/// What the event stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventStreamItem {
    Event(ContainerEvent),
    /// The stream broke and is being re-opened (with `since` = the last event seen, so the
    /// engine's own log covers the gap while the daemon lived); a daemon restart loses events,
    /// so the engine should re-inspect its containers.
    Interrupted {
        error: String,
    },
}

/// The actions asked from the daemon; others (exec_*, attach, top, ...) are filtered there.
const ACTIONS: &[&str] = &[
    "create",
    "start",
    "die",
    "stop",
    "kill",
    "oom",
    "health_status",
    "destroy",
    "restart",
    "pause",
    "unpause",
];

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

struct State {
    docker: Docker,
    inner: Option<BoxStream<'static, Result<EventMessage, bollard::errors::Error>>>,
    /// Where the first connection starts (`since`), when the caller asked for a replay.
    start_nanos: Option<i64>,
    /// Nanoseconds of the last event delivered; events at or before it are replays.
    last_nanos: Option<i64>,
    backoff: Option<Duration>,
}

/// A never-ending stream of container events, from `since` if given (the daemon replays what it
/// still buffers), else from now. Dropping it closes the connection.
pub(crate) fn container_events(
    docker: Docker,
    since: Option<DateTime<Utc>>,
) -> BoxStream<'static, EventStreamItem> {
    let state = State {
        docker,
        inner: None,
        start_nanos: since.and_then(|t| t.timestamp_nanos_opt()),
        last_nanos: None,
        backoff: None,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.inner.is_none() {
                if let Some(delay) = st.backoff {
                    tokio::time::sleep(delay).await;
                }
                st.inner = Some(open(&st.docker, st.last_nanos.or(st.start_nanos)));
            }
            let next = match st.inner.as_mut() {
                Some(inner) => inner.next().await,
                None => None,
            };
            match next {
                Some(Ok(msg)) => {
                    st.backoff = None;
                    if let Some(event) = map_event(msg, &mut st.last_nanos) {
                        return Some((EventStreamItem::Event(event), st));
                    }
                }
                Some(Err(err)) => {
                    st.inner = None;
                    st.backoff = Some(next_backoff(st.backoff));
                    let error = err.to_string();
                    return Some((EventStreamItem::Interrupted { error }, st));
                }
                None => {
                    st.inner = None;
                    st.backoff = Some(next_backoff(st.backoff));
                    let error = "event stream ended".to_string();
                    return Some((EventStreamItem::Interrupted { error }, st));
                }
            }
        }
    })
    .boxed()
}

fn next_backoff(current: Option<Duration>) -> Duration {
    match current {
        None => BACKOFF_START,
        Some(d) => (d * 2).min(BACKOFF_MAX),
    }
}

fn open(
    docker: &Docker,
    since_nanos: Option<i64>,
) -> BoxStream<'static, Result<EventMessage, bollard::errors::Error>> {
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "event".to_string(),
            ACTIONS.iter().map(|a| (*a).to_string()).collect(),
        ),
    ]);
    let options = EventsOptions {
        since: since_nanos.map(|n| format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000)),
        until: None,
        filters: Some(filters),
    };
    docker.events(Some(options)).boxed()
}

fn map_event(msg: EventMessage, last_nanos: &mut Option<i64>) -> Option<ContainerEvent> {
    if msg.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let nanos = msg
        .time_nano
        .or_else(|| msg.time.map(|s| s.saturating_mul(1_000_000_000)))?;
    if last_nanos.is_some_and(|last| nanos <= last) {
        return None;
    }
    let actor = msg.actor?;
    let id = actor.id.filter(|id| !id.is_empty())?;
    let attributes = actor.attributes.unwrap_or_default();
    let kind = ContainerEventKind::from_action(msg.action.as_deref()?, &attributes)?;
    *last_nanos = Some(nanos);
    Some(ContainerEvent {
        id,
        kind,
        time: DateTime::from_timestamp_nanos(nanos),
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_die_actions_are_mapped() {
        let attrs = HashMap::from([("exitCode".to_string(), "3".to_string())]);
        assert_eq!(
            ContainerEventKind::from_action("die", &attrs),
            Some(ContainerEventKind::Die { exit_code: Some(3) })
        );
        assert_eq!(
            ContainerEventKind::from_action("health_status: unhealthy", &attrs),
            Some(ContainerEventKind::HealthStatus(HealthStatus::Unhealthy))
        );
        assert_eq!(
            ContainerEventKind::from_action("exec_start: sh", &attrs),
            None
        );
    }

    #[test]
    fn replayed_events_are_dropped() {
        let msg = |nanos: i64| EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".to_string()),
            actor: Some(bollard::models::EventActor {
                id: Some("abc".to_string()),
                attributes: None,
            }),
            time_nano: Some(nanos),
            ..Default::default()
        };
        let mut last = None;
        assert!(map_event(msg(10), &mut last).is_some());
        assert!(map_event(msg(10), &mut last).is_none());
        assert!(map_event(msg(9), &mut last).is_none());
        assert!(map_event(msg(11), &mut last).is_some());
    }
}
