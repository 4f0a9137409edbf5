//! ARNs in the format the real service uses, with a configurable region and account.

use uuid::Uuid;

/// Builds and parses the ARNs of one (fake) account in one region.
#[derive(Debug, Clone)]
pub struct Arns {
    pub region: String,
    pub account_id: String,
}

impl Arns {
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            account_id: account_id.into(),
        }
    }

    fn prefix(&self) -> String {
        format!("arn:aws:ecs:{}:{}", self.region, self.account_id)
    }

    pub fn cluster(&self, name: &str) -> String {
        format!("{}:cluster/{name}", self.prefix())
    }

    pub fn task_definition(&self, family: &str, revision: u32) -> String {
        format!("{}:task-definition/{family}:{revision}", self.prefix())
    }

    pub fn task(&self, cluster: &str, id: &str) -> String {
        format!("{}:task/{cluster}/{id}", self.prefix())
    }

    pub fn container_instance(&self, cluster: &str, id: &str) -> String {
        format!("{}:container-instance/{cluster}/{id}", self.prefix())
    }

    pub fn container(&self, cluster: &str, task_id: &str, id: &str) -> String {
        format!("{}:container/{cluster}/{task_id}/{id}", self.prefix())
    }

    /// A task or container-instance reference (full ARN or bare ID) as a full ARN.
    pub fn qualify(&self, kind: &str, cluster: &str, reference: &str) -> String {
        if reference.starts_with("arn:") {
            reference.to_string()
        } else {
            format!("{}:{kind}/{cluster}/{reference}", self.prefix())
        }
    }
}

/// A fresh resource ID: 32 lower-case hex digits, as the service issues them.
pub fn new_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The resource part of an ECS ARN (`cluster/x`, `task/c/id`), if `arn` is one.
pub fn resource(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("ecs"), Some(_region), Some(_account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    parts.next().filter(|r| !r.is_empty())
}

/// A cluster reference (name or ARN) as a cluster name.
pub fn cluster_name(reference: &str) -> &str {
    match resource(reference).and_then(|r| r.strip_prefix("cluster/")) {
        Some(name) => name,
        None => reference,
    }
}

/// The last path segment of an ARN's resource: the task or instance ID.
pub fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses() {
        let arns = Arns::new("us-east-1", "111122223333");
        let task = arns.task("local", "abc");
        assert_eq!(task, "arn:aws:ecs:us-east-1:111122223333:task/local/abc");
        assert_eq!(resource(&task), Some("task/local/abc"));
        assert_eq!(cluster_name(&arns.cluster("prod")), "prod");
        assert_eq!(cluster_name("prod"), "prod");
        assert_eq!(last_segment(&task), "abc");
        assert_eq!(arns.qualify("task", "local", "abc"), task);
        assert_eq!(arns.qualify("task", "other", &task), task);
        assert_eq!(resource("arn:aws:s3:::bucket"), None);
        assert_eq!(new_id().len(), 32);
    }
}
