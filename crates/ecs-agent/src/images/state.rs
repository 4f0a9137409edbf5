//! Tracked image records (task-engine.md §8.2 "image states").

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One image ID used by ECS containers. Persisted as JSON in the store's `images` table keyed
/// by `image_id`; the container references are not persisted (the engine re-registers the
/// containers it restores).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageState {
    /// Docker image ID, `sha256:...`.
    pub image_id: String,
    /// The names (references) ECS containers used for this image.
    pub names: Vec<String>,
    pub size: i64,
    /// When this record was created (the reference's `PulledAt`; not the real pull time).
    pub pulled_at: DateTime<Utc>,
    /// Record creation, then each time a container reference is removed.
    pub last_used_at: DateTime<Utc>,
    pub pull_succeeded: bool,
    /// Which of `AWS_REGION` / `AWS_DEFAULT_REGION` the image's own `Config.Env` defines.
    #[serde(default)]
    pub image_env_keys: Vec<String>,
    #[serde(skip)]
    pub containers: BTreeSet<String>,
}

impl ImageState {
    pub(crate) fn new(image_id: &str, size: i64, now: DateTime<Utc>) -> Self {
        ImageState {
            image_id: image_id.to_string(),
            names: Vec::new(),
            size,
            pulled_at: now,
            last_used_at: now,
            pull_succeeded: false,
            image_env_keys: Vec::new(),
            containers: BTreeSet::new(),
        }
    }

    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}
