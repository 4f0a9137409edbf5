//! The event stream survives a broken connection: a proxy socket in front of the real engine
//! is cut mid-stream, the stream reports the interruption, re-opens from the last event it
//! delivered (no duplicates) and keeps delivering.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecs_agent::docker::{ContainerEventKind, CreateSpec, DockerApi, DockerClient, EventStreamItem};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::json;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use ecs_test_support::IMAGE;
const T: Duration = Duration::from_secs(60);

/// Forwards every connection on `path` to the engine; `cut()` drops the open ones.
struct Proxy {
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    fn start(path: &std::path::Path) -> Proxy {
        let listener = UnixListener::bind(path).expect("bind proxy socket");
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let conns = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let handle = tokio::spawn(async move {
                    if let Ok(mut engine) = UnixStream::connect("/var/run/docker.sock").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
                conns.lock().expect("lock").push(handle);
            }
        });
        Proxy {
            connections,
            accept,
        }
    }

    fn cut(&self) {
        for handle in self.connections.lock().expect("lock").drain(..) {
            handle.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            ecs_test_support::docker::remove_container(name);
        }
    }
}

async fn run_to_exit(docker: &DockerClient, name: &str) -> String {
    let mut spec = CreateSpec::new(name, IMAGE);
    spec.config["Cmd"] = json!(["true"]);
    let created = docker.create_container(&spec, T).await.expect("create");
    docker.start_container(&created.id, T).await.expect("start");
    created.id
}

/// Next item that is an interruption or concerns one of `names`.
async fn next_relevant(
    events: &mut BoxStream<'static, EventStreamItem>,
    names: &[&str],
) -> EventStreamItem {
    loop {
        let item = tokio::time::timeout(T, events.next())
            .await
            .expect("an event in time")
            .expect("the stream never ends");
        match &item {
            EventStreamItem::Interrupted { .. } => return item,
            EventStreamItem::Event(ev) => {
                if ev
                    .attributes
                    .get("name")
                    .is_some_and(|n| names.contains(&n.as_str()))
                {
                    return item;
                }
            }
        }
    }
}

#[tokio::test]
async fn stream_reopens_after_the_connection_breaks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("proxy.sock");
    let proxy = Proxy::start(&socket);
    let docker = DockerClient::connect(Some(&format!("unix://{}", socket.display())))
        .await
        .expect("connect through the proxy");

    let first = format!("ecs-test-reopen-a-{}", uuid::Uuid::new_v4().simple());
    let second = format!("ecs-test-reopen-b-{}", uuid::Uuid::new_v4().simple());
    let _cleanup = Cleanup(vec![first.clone(), second.clone()]);
    let names = [first.as_str(), second.as_str()];

    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let first_id = run_to_exit(&docker, &first).await;
    let mut events = docker.container_events(Some(since));
    loop {
        match next_relevant(&mut events, &names).await {
            EventStreamItem::Event(ev) if matches!(ev.kind, ContainerEventKind::Die { .. }) => {
                assert_eq!(ev.id, first_id);
                break;
            }
            EventStreamItem::Event(_) => {}
            EventStreamItem::Interrupted { error } => panic!("early interruption: {error}"),
        }
    }

    proxy.cut();
    match next_relevant(&mut events, &names).await {
        EventStreamItem::Interrupted { .. } => {}
        other => panic!("expected the interruption, got {other:?}"),
    }

    // While the stream is down, the second container runs; the re-opened stream replays it
    // from the last delivered event and does not repeat the first container's events.
    let second_id = run_to_exit(&docker, &second).await;
    let mut seen = Vec::new();
    loop {
        match next_relevant(&mut events, &names).await {
            EventStreamItem::Event(ev) => {
                assert_eq!(ev.id, second_id, "no replay of the first container: {ev:?}");
                let done = matches!(ev.kind, ContainerEventKind::Die { .. });
                seen.push(ev.kind);
                if done {
                    break;
                }
            }
            // Re-opening may race with the cut connection draining; more interruptions are
            // allowed as long as the events arrive.
            EventStreamItem::Interrupted { .. } => {}
        }
    }
    assert_eq!(seen.first(), Some(&ContainerEventKind::Create));
    assert!(seen.contains(&ContainerEventKind::Start));
    assert_eq!(
        seen.last(),
        Some(&ContainerEventKind::Die { exit_code: Some(0) })
    );
    for id in [first_id, second_id] {
        docker
            .remove_container(&id, true, true, T)
            .await
            .expect("remove");
    }
}
