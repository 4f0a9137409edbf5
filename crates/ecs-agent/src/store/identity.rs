//! The container instance this store belongs to, and the start-up rule that decides whether
//! saved state may be used (config-and-lifecycle.md §4.4 steps 4-6).

use serde::{Deserialize, Serialize};

/// Saved after each successful registration, all keys in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceIdentity {
    /// The cluster actually registered into.
    pub cluster: String,
    pub container_instance_arn: String,
    /// Empty on external (ECS Anywhere) hosts.
    pub ec2_instance_id: String,
    pub agent_version: String,
    pub availability_zone: String,
}

/// What start-up may do with the saved state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedState {
    /// Nothing saved: register a new container instance.
    Fresh,
    /// Same host and cluster: re-register with the saved ARN and resume the saved tasks.
    Restore(InstanceIdentity),
    /// The saved state belongs to another EC2 instance (e.g. an AMI built from a used host):
    /// tasks, containers, images, outbox and identity were purged; register anew.
    Discarded {
        saved_instance_id: String,
        current_instance_id: String,
    },
}

/// The reference treats an unset cluster as `default` when comparing.
pub const DEFAULT_CLUSTER: &str = "default";
