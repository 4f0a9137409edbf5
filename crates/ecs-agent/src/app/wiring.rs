//! Settings of the agent's parts that are derived from the configuration here rather
//! than in the parts themselves (they are built and tested without a `Config`).

use crate::config::{Config, ImagePullBehavior};
use crate::endpoints::metadata_file::HostInfo;
use crate::images::ImageCleanupConfig;

/// The image manager's settings (spec config-and-lifecycle §1.7 D): `prefer-cached`
/// pulls also turn cleanup off, and the pause image is never removed.
pub fn image_cleanup_config(config: &Config) -> ImageCleanupConfig {
    let mut excluded = config.image_cleanup_exclusion_list.clone();
    excluded.push(format!(
        "{}:{}",
        config.pause_container_image_name, config.pause_container_tag
    ));
    ImageCleanupConfig {
        enabled: !config.image_cleanup_disabled
            && config.image_pull_behavior != ImagePullBehavior::PreferCached,
        interval: config.image_cleanup_interval,
        minimum_age: config.image_minimum_cleanup_age,
        images_per_cycle: config.num_images_delete_per_cycle as usize,
        untracked: config.untracked_image_cleanup,
        non_ecs_minimum_age: config.non_ecs_image_minimum_cleanup_age,
        non_ecs_containers_per_cycle: config.num_non_ecs_containers_delete_per_cycle as usize,
        non_ecs_container_wait: config.task_cleanup_wait,
        excluded,
        ..ImageCleanupConfig::default()
    }
}

/// What the container metadata files say about this host. Host IPs come from IMDS in
/// the reference; without it they are empty, as the reference writes them then.
pub fn metadata_host(config: &Config, container_instance_arn: &str, az: &str) -> HostInfo {
    HostInfo {
        cluster: config.cluster_name().to_owned(),
        container_instance_arn: container_instance_arn.to_owned(),
        availability_zone: az.to_owned(),
        host_private_ipv4: String::new(),
        host_public_ipv4: String::new(),
    }
}
