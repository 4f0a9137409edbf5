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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigInput, load};

    fn config(env: &[(&str, &str)]) -> Config {
        let input = ConfigInput {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .chain([("AWS_DEFAULT_REGION".to_owned(), "us-east-1".to_owned())])
                .collect(),
            ecs_config_files: Vec::new(),
            json_file: Some("/nonexistent/ecs-agent.json".into()),
        };
        load(&input).unwrap().config
    }

    #[test]
    fn prefer_cached_pulls_turn_image_cleanup_off_and_the_pause_image_is_kept() {
        let c = image_cleanup_config(&config(&[]));
        assert!(c.enabled);
        assert!(
            c.excluded
                .iter()
                .any(|i| i.starts_with("amazon/amazon-ecs-pause:")),
            "{:?}",
            c.excluded
        );
        let c = image_cleanup_config(&config(&[("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")]));
        assert!(!c.enabled);
        let c = image_cleanup_config(&config(&[
            ("ECS_IMAGE_CLEANUP_INTERVAL", "15m"),
            ("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "9"),
            ("ECS_EXCLUDE_UNTRACKED_IMAGE", "keep:me"),
        ]));
        assert_eq!(c.interval, std::time::Duration::from_secs(15 * 60));
        assert_eq!(c.images_per_cycle, 9);
        assert!(
            c.excluded.iter().any(|i| i == "keep:me"),
            "{:?}",
            c.excluded
        );
    }

    #[test]
    fn metadata_files_name_the_default_cluster() {
        let host = metadata_host(&config(&[]), "arn:ci", "az-1");
        assert_eq!(host.cluster, "default");
        assert_eq!(host.container_instance_arn, "arn:ci");
        assert_eq!(host.availability_zone, "az-1");
    }
}
