//! Container events from `GET /events`, mapped to our enum, on a stream that re-opens itself.

use std::collections::{HashMap, HashSet, VecDeque};
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

/// How many delivered events are remembered to recognise a replay after a reconnect. The
/// replay starts at the newest timestamp delivered, so only the last few can come again.
const RECENT_KEYS: usize = 1024;

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

struct State {
    docker: Docker,
    inner: Option<BoxStream<'static, Result<EventMessage, bollard::errors::Error>>>,
    /// Where the first connection starts (`since`), when the caller asked for a replay.
    start_nanos: Option<i64>,
    /// Delivered events: where a re-opened stream starts, and which of its events are replays.
    seen: Seen,
    backoff: Option<Duration>,
}

/// The events already delivered. Docker stamps an event before it takes the lock that orders
/// publication, so under load events of different containers arrive with timestamps out of
/// order: an older timestamp is no sign of a replay. Only an event delivered before (same
/// time, container and action) is one.
#[derive(Default)]
struct Seen {
    /// The newest timestamp delivered: `since` of a re-opened stream.
    newest_nanos: Option<i64>,
    keys: HashSet<EventKey>,
    order: VecDeque<EventKey>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct EventKey {
    nanos: i64,
    id: String,
    action: String,
}

impl Seen {
    /// Records the event; false when it was delivered already.
    fn first_time(&mut self, key: EventKey) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
        self.newest_nanos = Some(self.newest_nanos.map_or(key.nanos, |n| n.max(key.nanos)));
        if self.order.len() == RECENT_KEYS
            && let Some(old) = self.order.pop_front()
        {
            self.keys.remove(&old);
        }
        self.order.push_back(key.clone());
        self.keys.insert(key);
        true
    }
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
        seen: Seen::default(),
        backoff: None,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.inner.is_none() {
                if let Some(delay) = st.backoff {
                    tokio::time::sleep(delay).await;
                }
                st.inner = Some(open(&st.docker, st.seen.newest_nanos.or(st.start_nanos)));
            }
            let next = match st.inner.as_mut() {
                Some(inner) => inner.next().await,
                None => None,
            };
            match next {
                Some(Ok(msg)) => {
                    st.backoff = None;
                    if let Some(event) = map_event(msg, &mut st.seen) {
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

fn map_event(msg: EventMessage, seen: &mut Seen) -> Option<ContainerEvent> {
    if msg.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let nanos = msg
        .time_nano
        .or_else(|| msg.time.map(|s| s.saturating_mul(1_000_000_000)))?;
    let actor = msg.actor?;
    let id = actor.id.filter(|id| !id.is_empty())?;
    let attributes = actor.attributes.unwrap_or_default();
    let action = msg.action?;
    let kind = ContainerEventKind::from_action(&action, &attributes)?;
    let key = EventKey {
        nanos,
        id: id.clone(),
        action,
    };
    if !seen.first_time(key) {
        return None;
    }
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

    fn msg(id: &str, action: &str, nanos: i64) -> EventMessage {
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some(action.to_string()),
            actor: Some(bollard::models::EventActor {
                id: Some(id.to_string()),
                attributes: None,
            }),
            time_nano: Some(nanos),
            ..Default::default()
        }
    }

    #[test]
    fn replayed_events_are_dropped() {
        let mut seen = Seen::default();
        assert!(map_event(msg("abc", "start", 10), &mut seen).is_some());
        assert!(map_event(msg("abc", "start", 10), &mut seen).is_none());
        assert!(map_event(msg("abc", "die", 11), &mut seen).is_some());
        assert!(map_event(msg("abc", "die", 11), &mut seen).is_none());
        assert_eq!(seen.newest_nanos, Some(11));
    }

    #[test]
    fn events_stamped_out_of_order_are_all_delivered() {
        // Docker stamps before it serialises publication: a `die` of one container can
        // arrive after a later-stamped event of another, or at the same nanosecond.
        let mut seen = Seen::default();
        assert!(map_event(msg("b", "start", 20), &mut seen).is_some());
        assert!(map_event(msg("a", "die", 15), &mut seen).is_some());
        assert!(map_event(msg("c", "die", 20), &mut seen).is_some());
        assert!(map_event(msg("b", "die", 20), &mut seen).is_some());
        assert_eq!(seen.newest_nanos, Some(20));
    }

    #[test]
    fn only_recent_events_are_remembered() {
        let mut seen = Seen::default();
        for n in 0..(RECENT_KEYS as i64 + 10) {
            assert!(map_event(msg("abc", "start", n), &mut seen).is_some());
        }
        assert_eq!(seen.keys.len(), RECENT_KEYS);
        assert_eq!(seen.order.len(), RECENT_KEYS);
    }
}
