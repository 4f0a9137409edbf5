//! Last Docker stats samples per container, for the task metadata endpoint.
//!
//! A container is watched only once someone asks for its stats, and the watch ends
//! when its stream ends (container stopped) or nobody asked for a while, so an idle
//! agent streams nothing (the reference's CPU-burn lesson).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::watch;

use crate::docker::{ContainerStats, DockerApi};

/// The last sample and the one before it.
#[derive(Debug, Clone)]
pub struct Samples {
    pub last: ContainerStats,
    pub prev: Option<ContainerStats>,
}

struct Watch {
    samples: watch::Receiver<Option<Arc<Samples>>>,
    last_asked: Arc<AtomicU64>,
}

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct StatsCollector {
    docker: Arc<dyn DockerApi>,
    watches: Arc<Mutex<HashMap<String, Watch>>>,
    epoch: Instant,
    idle: Duration,
}

impl StatsCollector {
    pub fn new(docker: Arc<dyn DockerApi>) -> Self {
        StatsCollector {
            docker,
            watches: Arc::new(Mutex::new(HashMap::new())),
            epoch: Instant::now(),
            idle: Duration::from_secs(300),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The samples of `docker_id`; starts watching it if needed and waits up to
    /// `first_wait` for a first sample. `None` when there is none.
    pub async fn samples(&self, docker_id: &str, first_wait: Duration) -> Option<Arc<Samples>> {
        let mut rx = {
            let mut map = self.watches.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(docker_id) {
                Some(w) => {
                    w.last_asked.store(self.now_ms(), Ordering::Relaxed);
                    w.samples.clone()
                }
                None => {
                    let rx = self.spawn(docker_id);
                    let last_asked = Arc::new(AtomicU64::new(self.now_ms()));
                    map.insert(
                        docker_id.to_owned(),
                        Watch {
                            samples: rx.clone(),
                            last_asked,
                        },
                    );
                    rx
                }
            }
        };
        if let Some(s) = rx.borrow().clone() {
            return Some(s);
        }
        let waited = tokio::time::timeout(first_wait, async {
            rx.wait_for(|s| s.is_some())
                .await
                .ok()
                .and_then(|s| s.clone())
        })
        .await;
        match waited {
            Ok(Some(s)) => Some(s),
            _ => rx.borrow().clone(),
        }
    }

    fn spawn(&self, docker_id: &str) -> watch::Receiver<Option<Arc<Samples>>> {
        let (tx, rx) = watch::channel(None);
        let mut stream = self.docker.stats_stream(docker_id);
        let id = docker_id.to_owned();
        let watches = self.watches.clone();
        let this = self.clone();
        tokio::spawn(async move {
            let mut check = tokio::time::interval(this.idle / 4);
            check.tick().await;
            loop {
                tokio::select! {
                    item = stream.next() => match item {
                        Some(Ok(sample)) => {
                            let prev = tx.borrow().as_ref().map(|s: &Arc<Samples>| s.last.clone());
                            tx.send_replace(Some(Arc::new(Samples { last: sample, prev })));
                        }
                        Some(Err(e)) => {
                            tracing::debug!(container = %id, error = %e, "stats stream error");
                            break;
                        }
                        None => break,
                    },
                    _ = check.tick() => {
                        let asked = watches
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get(&id)
                            .map(|w| w.last_asked.load(Ordering::Relaxed));
                        match asked {
                            Some(at) if this.now_ms().saturating_sub(at) < this.idle.as_millis() as u64 => {}
                            _ => break,
                        }
                    }
                }
            }
            // Keep the final sample readable for a request already waiting; the next
            // request starts a new watch.
            watches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        });
        rx
    }

    /// How many containers are being watched.
    pub fn watched(&self) -> usize {
        self.watches.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
