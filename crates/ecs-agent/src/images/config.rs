//! Settings of the image manager, filled from the agent configuration by the caller.

use std::time::Duration;

/// The reference always keeps these (besides `ECS_EXCLUDE_UNTRACKED_IMAGE` and the configured
/// pause image).
pub const ALWAYS_EXCLUDED: &[&str] = &["amazon/amazon-ecs-agent:latest"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCleanupConfig {
    /// False when `ECS_DISABLE_IMAGE_CLEANUP=true` or the pull behaviour is `prefer-cached`.
    pub enabled: bool,
    /// `ECS_IMAGE_CLEANUP_INTERVAL`: first cycle one interval after start, then every interval.
    pub interval: Duration,
    /// `ECS_IMAGE_MINIMUM_CLEANUP_AGE`, measured from the record's `pulled_at`.
    pub minimum_age: Duration,
    /// `ECS_NUM_IMAGES_DELETE_PER_CYCLE`.
    pub images_per_cycle: usize,
    /// `ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP`.
    pub untracked: bool,
    /// `NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE`, measured from the image's build time.
    pub non_ecs_minimum_age: Duration,
    /// `NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE`.
    pub non_ecs_containers_per_cycle: usize,
    /// `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`: how long a non-ECS container must have been
    /// finished before it is removed.
    pub non_ecs_container_wait: Duration,
    /// Exact `name:tag` references never removed: `ECS_EXCLUDE_UNTRACKED_IMAGE`, the pause
    /// image(s); [`ALWAYS_EXCLUDED`] is added by the manager.
    pub excluded: Vec<String>,
    /// Deadline of each image removal (3 min in the reference).
    pub remove_image_timeout: Duration,
    /// Deadline of listings (10 min in the reference).
    pub list_timeout: Duration,
    /// Deadline of each container removal (5 min in the reference).
    pub remove_container_timeout: Duration,
}

impl Default for ImageCleanupConfig {
    fn default() -> Self {
        ImageCleanupConfig {
            enabled: true,
            interval: Duration::from_secs(30 * 60),
            minimum_age: Duration::from_secs(3600),
            images_per_cycle: 5,
            untracked: false,
            non_ecs_minimum_age: Duration::from_secs(3600),
            non_ecs_containers_per_cycle: 5,
            non_ecs_container_wait: Duration::from_secs(3 * 3600),
            excluded: Vec::new(),
            remove_image_timeout: Duration::from_secs(3 * 60),
            list_timeout: Duration::from_secs(10 * 60),
            remove_container_timeout: Duration::from_secs(5 * 60),
        }
    }
}
