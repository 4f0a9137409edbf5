//! Image state and image cleanup (task-engine.md §2.7.2 step 10 and §8.2): which image IDs ECS
//! containers use under which names, whether a pull of a name ever succeeded (for
//! `ECS_IMAGE_PULL_BEHAVIOR=once`), the pull/delete lock, and the periodic cleanup cycle.
//! Pull decisions and registry credentials stay with the task engine.

mod cleanup;
mod config;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{RwLock, RwLockReadGuard, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

pub use cleanup::{pick_lru, untracked_container_qualifies, untracked_image_targets};
pub use config::{ALWAYS_EXCLUDED, ImageCleanupConfig};
pub use state::ImageState;

use crate::docker::{ContainerFilter, DockerApi, DockerError};
use crate::store::{Batch, Store, StoreError};

/// Deadline of the image inspect that follows a pull.
pub const INSPECT_IMAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The region variables whose presence in an image's own environment is recorded.
const REGION_KEYS: &[&str] = &["AWS_REGION", "AWS_DEFAULT_REGION"];

#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error("{0}")]
    Docker(#[from] DockerError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What one cleanup cycle removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Tracked image IDs whose records were deleted.
    pub images: Vec<String>,
    /// Untracked image references (tags or IDs) removed.
    pub untracked_images: Vec<String>,
    /// Untracked container IDs removed.
    pub untracked_containers: Vec<String>,
}

pub struct ImageManager {
    docker: Arc<dyn DockerApi>,
    store: Option<Store>,
    config: ImageCleanupConfig,
    images: Mutex<HashMap<String, ImageState>>,
    /// Pulls share it; a cleanup cycle holds it exclusively, so an image is never deleted
    /// under a pull that is about to use it.
    pull_delete: RwLock<()>,
}

impl std::fmt::Debug for ImageManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageManager")
            .field("images", &self.lock().len())
            .finish()
    }
}

impl ImageManager {
    pub fn new(
        docker: Arc<dyn DockerApi>,
        store: Option<Store>,
        config: ImageCleanupConfig,
    ) -> Self {
        ImageManager {
            docker,
            store,
            config,
            images: Mutex::new(HashMap::new()),
            pull_delete: RwLock::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ImageState>> {
        self.images.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads saved records. Entries of the `images` table that are not image states (another
    /// writer's shape) are skipped with a warning rather than failing start-up; a record that
    /// is not JSON at all is a store error.
    pub fn load(&self) -> Result<usize, ImagesError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let entries = store.list_images::<serde_json::Value>()?;
        let mut images = self.lock();
        for (key, value) in entries {
            match serde_json::from_value::<ImageState>(value) {
                Ok(state) if state.image_id == key => {
                    images.insert(key, state);
                }
                Ok(_) | Err(_) => {
                    warn!(key = %key, "skipping a stored image record that is not an image state");
                }
            }
        }
        Ok(images.len())
    }

    /// Hold this while pulling: cleanup waits for it.
    pub async fn pull_permit(&self) -> RwLockReadGuard<'_, ()> {
        self.pull_delete.read().await
    }

    /// Records that `container` uses `image_name` (after a pull, or when a restored container is
    /// adopted): inspects the image, moves the name off a record of another ID if the name now
    /// resolves elsewhere, adds the reference and persists. `pull_succeeded` marks the name as
    /// pulled for the `once` behaviour (it is never cleared).
    pub async fn record_container(
        &self,
        image_name: &str,
        container: &str,
        pull_succeeded: bool,
    ) -> Result<ImageState, ImagesError> {
        let details = self
            .docker
            .inspect_image(image_name, INSPECT_IMAGE_TIMEOUT)
            .await?;
        let now = Utc::now();
        let mut batch = Batch::new();
        let result = {
            let mut images = self.lock();
            for other in images.values_mut() {
                if other.image_id != details.id && other.has_name(image_name) {
                    other.names.retain(|n| n != image_name);
                    batch.put_image(&other.image_id, other)?;
                }
            }
            let state = images
                .entry(details.id.clone())
                .or_insert_with(|| ImageState::new(&details.id, details.size, now));
            state.size = details.size;
            if !state.has_name(image_name) {
                state.names.push(image_name.to_string());
            }
            state.containers.insert(container.to_string());
            state.pull_succeeded |= pull_succeeded;
            state.image_env_keys = REGION_KEYS
                .iter()
                .filter(|k| {
                    details
                        .env
                        .iter()
                        .any(|e| e.split_once('=').is_some_and(|(name, _)| name == **k))
                })
                .map(|k| (*k).to_string())
                .collect();
            batch.put_image(&state.image_id, state)?;
            state.clone()
        };
        // Off the runtime's worker: the commit waits for an fsync.
        if let Some(store) = self.store.clone()
            && !batch.is_empty()
        {
            tokio::task::spawn_blocking(move || store.commit(&batch))
                .await
                .map_err(|_| StoreError::WriterStopped)??;
        }
        Ok(result)
    }

    /// Drops `container`'s reference (task cleanup); the image becomes a cleanup candidate once
    /// no container uses it.
    pub fn remove_container(&self, container: &str) -> Result<(), ImagesError> {
        let now = Utc::now();
        let mut batch = Batch::new();
        {
            let mut images = self.lock();
            for state in images.values_mut() {
                if state.containers.remove(container) {
                    state.last_used_at = now;
                    batch.put_image(&state.image_id, state)?;
                }
            }
        }
        self.persist(&batch)
    }

    /// True once a pull of `image_name` succeeded (`ECS_IMAGE_PULL_BEHAVIOR=once`).
    pub fn pulled_successfully(&self, image_name: &str) -> bool {
        self.lock()
            .values()
            .any(|s| s.pull_succeeded && s.has_name(image_name))
    }

    pub fn images(&self) -> Vec<ImageState> {
        let mut out: Vec<ImageState> = self.lock().values().cloned().collect();
        out.sort_by(|a, b| a.image_id.cmp(&b.image_id));
        out
    }

    fn persist(&self, batch: &Batch) -> Result<(), ImagesError> {
        if let Some(store) = &self.store
            && !batch.is_empty()
        {
            store.commit(batch)?;
        }
        Ok(())
    }

    fn excluded(&self) -> HashSet<String> {
        self.config
            .excluded
            .iter()
            .cloned()
            .chain(ALWAYS_EXCLUDED.iter().map(|s| (*s).to_string()))
            .collect()
    }

    /// One cleanup cycle now. `known_containers` holds the Docker IDs (or names) of every
    /// container the engine manages; only used for untracked cleanup.
    pub async fn cleanup_cycle(&self, known_containers: &HashSet<String>) -> CleanupReport {
        self.cleanup_cycle_at(Utc::now(), known_containers).await
    }

    /// As [`Self::cleanup_cycle`], with the clock given (ages are measured against `now`).
    pub async fn cleanup_cycle_at(
        &self,
        now: DateTime<Utc>,
        known_containers: &HashSet<String>,
    ) -> CleanupReport {
        let _exclusive = self.pull_delete.write().await;
        let mut report = CleanupReport::default();
        let excluded = self.excluded();
        self.remove_tracked(now, &excluded, &mut report).await;
        if self.config.untracked {
            self.remove_untracked_containers(now, known_containers, &mut report)
                .await;
            let budget = self
                .config
                .images_per_cycle
                .saturating_sub(report.images.len());
            self.remove_untracked_images(now, &excluded, budget, &mut report)
                .await;
        }
        if report != CleanupReport::default() {
            info!(
                images = report.images.len(),
                untracked_images = report.untracked_images.len(),
                untracked_containers = report.untracked_containers.len(),
                "image cleanup cycle done"
            );
        }
        report
    }

    async fn remove_tracked(
        &self,
        now: DateTime<Utc>,
        excluded: &HashSet<String>,
        report: &mut CleanupReport,
    ) {
        let mut skip = HashSet::new();
        for _ in 0..self.config.images_per_cycle {
            let candidate = {
                let images = self.lock();
                pick_lru(&images, now, self.config.minimum_age, excluded, &skip)
                    .and_then(|id| images.get(&id).cloned())
            };
            let Some(candidate) = candidate else { break };
            let id = candidate.image_id.clone();
            let targets = if candidate.names.is_empty() {
                vec![id.clone()]
            } else {
                candidate.names.clone()
            };
            let mut removed = Vec::new();
            let mut failed = false;
            for target in &targets {
                match self
                    .docker
                    .remove_image(target, false, self.config.remove_image_timeout)
                    .await
                {
                    Ok(()) => removed.push(target.clone()),
                    Err(e) if e.is_not_found() => removed.push(target.clone()),
                    Err(e) => {
                        warn!(image = %target, error = %e, "image cleanup: cannot remove image");
                        failed = true;
                        break;
                    }
                }
            }
            let outcome = {
                let mut images = self.lock();
                let Some(state) = images.get_mut(&id) else {
                    continue;
                };
                state.names.retain(|n| !removed.contains(n));
                let gone = !failed && (state.names.is_empty() || removed.contains(&id));
                if gone {
                    images.remove(&id);
                    Ok(())
                } else {
                    skip.insert(id.clone());
                    Err(state.clone())
                }
            };
            let write = match &outcome {
                Ok(()) => self.store.as_ref().map(|s| s.delete_image(&id)),
                Err(state) => self.store.as_ref().map(|s| s.put_image(&id, state)),
            };
            if let Some(Err(e)) = write {
                warn!(image = %id, error = %e, "image cleanup: cannot save image state");
            }
            if outcome.is_ok() {
                debug!(image = %id, "image cleanup: removed");
                report.images.push(id);
            }
        }
    }

    async fn remove_untracked_containers(
        &self,
        now: DateTime<Utc>,
        known: &HashSet<String>,
        report: &mut CleanupReport,
    ) {
        let filter = ContainerFilter {
            all: true,
            ..Default::default()
        };
        let list = match self
            .docker
            .list_containers(&filter, self.config.list_timeout)
            .await
        {
            Ok(list) => list,
            Err(e) => {
                warn!(error = %e, "image cleanup: cannot list containers");
                return;
            }
        };
        for c in list {
            if report.untracked_containers.len() >= self.config.non_ecs_containers_per_cycle {
                break;
            }
            if known.contains(&c.id) || c.names.iter().any(|n| known.contains(n)) {
                continue;
            }
            if !matches!(c.state.as_str(), "exited" | "dead" | "created") {
                continue;
            }
            let details = match self
                .docker
                .inspect_container(&c.id, INSPECT_IMAGE_TIMEOUT)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    debug!(container = %c.id, error = %e, "image cleanup: cannot inspect");
                    continue;
                }
            };
            if !untracked_container_qualifies(
                &details.state.status,
                details.state.finished_at,
                now,
                self.config.non_ecs_container_wait,
            ) {
                continue;
            }
            match self
                .docker
                .remove_container(&c.id, true, false, self.config.remove_container_timeout)
                .await
            {
                Ok(()) => report.untracked_containers.push(c.id),
                Err(e) => warn!(container = %c.id, error = %e, "image cleanup: cannot remove"),
            }
        }
    }

    async fn remove_untracked_images(
        &self,
        now: DateTime<Utc>,
        excluded: &HashSet<String>,
        budget: usize,
        report: &mut CleanupReport,
    ) {
        if budget == 0 {
            return;
        }
        let list = match self.docker.list_images(self.config.list_timeout).await {
            Ok(list) => list,
            Err(e) => {
                warn!(error = %e, "image cleanup: cannot list images");
                return;
            }
        };
        let tracked: HashSet<String> = self.lock().keys().cloned().collect();
        let targets = untracked_image_targets(
            &list,
            &tracked,
            excluded,
            now,
            self.config.non_ecs_minimum_age,
            budget,
        );
        for target in targets {
            match self
                .docker
                .remove_image(&target, false, self.config.remove_image_timeout)
                .await
            {
                Ok(()) => report.untracked_images.push(target),
                Err(e) => warn!(image = %target, error = %e, "image cleanup: cannot remove"),
            }
        }
    }

    /// Runs a cycle every `interval` (the first one interval after start) until `shutdown`
    /// turns true. Does nothing when cleanup is disabled.
    pub fn spawn_cleanup<F>(
        self: Arc<Self>,
        known_containers: F,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()>
    where
        F: Fn() -> HashSet<String> + Send + Sync + 'static,
    {
        tokio::spawn(async move {
            if !self.config.enabled {
                return;
            }
            let period = self.config.interval.max(Duration::from_secs(1));
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let known = known_containers();
                        self.cleanup_cycle(&known).await;
                    }
                    changed = shutdown.changed() => {
                        if changed.is_err() || *shutdown.borrow() {
                            return;
                        }
                    }
                }
            }
        })
    }
}
