//! Which images and containers a cleanup cycle removes (task-engine.md §8.2); pure functions so
//! the rules are tested without deleting anything from a shared engine.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::state::ImageState;
use crate::docker::ImageSummary;

/// The tracked image to remove next: no container references, older than `minimum_age` since
/// its record was created, none of its names excluded, not already given up on this cycle;
/// the least recently used wins.
pub fn pick_lru(
    images: &HashMap<String, ImageState>,
    now: DateTime<Utc>,
    minimum_age: Duration,
    excluded: &HashSet<String>,
    skip: &HashSet<String>,
) -> Option<String> {
    images
        .values()
        .filter(|s| s.containers.is_empty())
        .filter(|s| !skip.contains(&s.image_id))
        .filter(|s| !s.names.iter().any(|n| excluded.contains(n)))
        .filter(|s| older_than(s.pulled_at, now, minimum_age))
        .min_by(|a, b| {
            a.last_used_at
                .cmp(&b.last_used_at)
                .then_with(|| a.image_id.cmp(&b.image_id))
        })
        .map(|s| s.image_id.clone())
}

fn older_than(then: DateTime<Utc>, now: DateTime<Utc>, age: Duration) -> bool {
    match (now - then).to_std() {
        Ok(elapsed) => elapsed > age,
        // `then` in the future (clock moved back): not old.
        Err(_) => false,
    }
}

/// Untracked images to remove, in order, within `budget` removals: images whose ID is not
/// tracked and none of whose tags is excluded, built longer than `minimum_age` ago, smallest
/// first. A multi-tag image is removed tag by tag (each tag counts), others by ID.
pub fn untracked_image_targets(
    images: &[ImageSummary],
    tracked_ids: &HashSet<String>,
    excluded: &HashSet<String>,
    now: DateTime<Utc>,
    minimum_age: Duration,
    budget: usize,
) -> Vec<String> {
    let mut candidates: Vec<&ImageSummary> = images
        .iter()
        .filter(|i| !tracked_ids.contains(&i.id))
        .filter(|i| !i.repo_tags.iter().any(|t| excluded.contains(t)))
        .filter(|i| {
            DateTime::from_timestamp(i.created, 0)
                .is_some_and(|built| older_than(built, now, minimum_age))
        })
        .collect();
    candidates.sort_by(|a, b| a.size.cmp(&b.size).then_with(|| a.id.cmp(&b.id)));
    let mut out = Vec::new();
    for image in candidates {
        let tags: Vec<&String> = image
            .repo_tags
            .iter()
            .filter(|t| t.as_str() != "<none>:<none>")
            .collect();
        if tags.len() > 1 {
            out.extend(tags.into_iter().cloned());
        } else {
            out.push(image.id.clone());
        }
        if out.len() >= budget {
            out.truncate(budget);
            break;
        }
    }
    out
}

/// Whether a container the engine does not know may be removed: `exited`, `dead` or `created`,
/// and finished longer than `wait` ago (a never-started container, with no finish time,
/// qualifies).
pub fn untracked_container_qualifies(
    status: &str,
    finished_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    wait: Duration,
) -> bool {
    if !matches!(status, "exited" | "dead" | "created") {
        return false;
    }
    finished_at.is_none_or(|t| older_than(t, now, wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(
        id: &str,
        names: &[&str],
        pulled_h: i64,
        used_h: i64,
        now: DateTime<Utc>,
    ) -> ImageState {
        let mut s = ImageState::new(id, 10, now - chrono::Duration::hours(pulled_h));
        s.names = names.iter().map(|n| n.to_string()).collect();
        s.last_used_at = now - chrono::Duration::hours(used_h);
        s
    }

    #[test]
    fn lru_skips_referenced_young_excluded_and_given_up_images() {
        let now = Utc::now();
        let hour = Duration::from_secs(3600);
        let mut images = HashMap::new();
        for s in [
            state("sha256:old", &["a:1"], 10, 9, now),
            state("sha256:older-use", &["b:1"], 10, 20, now),
            state("sha256:young", &["c:1"], 0, 30, now),
            state("sha256:excluded", &["pause:1"], 10, 40, now),
        ] {
            images.insert(s.image_id.clone(), s);
        }
        let mut referenced = state("sha256:ref", &["d:1"], 10, 50, now);
        referenced.containers.insert("c1".to_string());
        images.insert(referenced.image_id.clone(), referenced);
        let excluded = HashSet::from(["pause:1".to_string()]);
        let mut skip = HashSet::new();
        assert_eq!(
            pick_lru(&images, now, hour, &excluded, &skip).as_deref(),
            Some("sha256:older-use")
        );
        skip.insert("sha256:older-use".to_string());
        assert_eq!(
            pick_lru(&images, now, hour, &excluded, &skip).as_deref(),
            Some("sha256:old")
        );
        skip.insert("sha256:old".to_string());
        assert_eq!(pick_lru(&images, now, hour, &excluded, &skip), None);
    }

    #[test]
    fn untracked_images_smallest_first_tags_counted() {
        let now = Utc::now();
        let old = (now - chrono::Duration::hours(5)).timestamp();
        let img = |id: &str, tags: &[&str], size: i64, created: i64| ImageSummary {
            id: id.to_string(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            repo_digests: vec![],
            size,
            created,
        };
        let images = vec![
            img("sha256:big", &["big:1"], 900, old),
            img("sha256:multi", &["m:1", "m:2"], 50, old),
            img("sha256:none", &["<none>:<none>"], 10, old),
            img("sha256:tracked", &["t:1"], 1, old),
            img("sha256:kept", &["keep:1", "other:1"], 1, old),
            img("sha256:new", &["new:1"], 1, now.timestamp()),
        ];
        let tracked = HashSet::from(["sha256:tracked".to_string()]);
        let excluded = HashSet::from(["keep:1".to_string()]);
        let hour = Duration::from_secs(3600);
        assert_eq!(
            untracked_image_targets(&images, &tracked, &excluded, now, hour, 10),
            vec!["sha256:none", "m:1", "m:2", "sha256:big"]
        );
        assert_eq!(
            untracked_image_targets(&images, &tracked, &excluded, now, hour, 2),
            vec!["sha256:none", "m:1"]
        );
        assert!(untracked_image_targets(&images, &tracked, &excluded, now, hour, 0).is_empty());
    }

    #[test]
    fn untracked_containers_need_a_finished_state_and_age() {
        let now = Utc::now();
        let wait = Duration::from_secs(3 * 3600);
        let long_ago = Some(now - chrono::Duration::hours(4));
        let recently = Some(now - chrono::Duration::minutes(5));
        assert!(untracked_container_qualifies("exited", long_ago, now, wait));
        assert!(untracked_container_qualifies("created", None, now, wait));
        assert!(untracked_container_qualifies("dead", long_ago, now, wait));
        assert!(!untracked_container_qualifies(
            "exited", recently, now, wait
        ));
        assert!(!untracked_container_qualifies(
            "running", long_ago, now, wait
        ));
        assert!(!untracked_container_qualifies("paused", None, now, wait));
    }
}
