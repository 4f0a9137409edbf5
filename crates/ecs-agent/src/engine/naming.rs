//! Docker names the reference gives to task containers and task-scoped volumes.

/// `ecs-<family>-<version>-<name'>-<20 hex>`: `name'` keeps only `[A-Za-z0-9-]`;
/// family and version are used as they are (the reference does not sanitise them).
pub fn container_name(family: &str, version: &str, container: &str) -> String {
    container_name_with_suffix(family, version, container, &random_suffix())
}

/// The name for an explicit suffix (used by tests and by recovery).
pub fn container_name_with_suffix(
    family: &str,
    version: &str,
    container: &str,
    suffix: &str,
) -> String {
    let sanitised: String = container
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("ecs-{family}-{version}-{sanitised}-{suffix}")
}

/// Task-scoped Docker volume: `ecs-<family>-<version>-<volumeName>-<20 hex>`.
pub fn task_volume_name(family: &str, version: &str, volume: &str) -> String {
    format!("ecs-{family}-{version}-{volume}-{}", random_suffix())
}

/// 10 random bytes as 20 lower-case hex characters.
pub fn random_suffix() -> String {
    let bytes: [u8; 10] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The task ID: the part of the ARN resource after its last `/`.
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_follows_the_reference_scheme() {
        let name = container_name("web", "3", "nginx");
        let suffix = name.strip_prefix("ecs-web-3-nginx-").unwrap();
        assert_eq!(suffix.len(), 20);
        assert!(
            suffix
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn container_name_is_sanitised_but_family_is_not() {
        assert_eq!(
            container_name_with_suffix("my_fam", "12", "~internal~ecs~pause", "00"),
            "ecs-my_fam-12-internalecspause-00"
        );
        assert_eq!(
            container_name_with_suffix("f", "1", "a.b_c-d", "ff"),
            "ecs-f-1-abc-d-ff"
        );
    }

    #[test]
    fn suffixes_differ() {
        assert_ne!(random_suffix(), random_suffix());
    }

    #[test]
    fn task_id_is_last_segment() {
        assert_eq!(
            task_id("arn:aws:ecs:us-east-1:123456789012:task/c1/0f1e2d"),
            "0f1e2d"
        );
        assert_eq!(task_id("arn:aws:ecs:us-east-1:1:task/abc"), "abc");
    }
}
