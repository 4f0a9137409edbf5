//! What has been sent to each instance's agent and what it acknowledged.
//!
//! Kept in memory: after a restart of ecs-local every task that is not finished is sent
//! again, which the agent treats as a desired-status update of a task it knows
//! (backend-protocol.md §3.7.2), so nothing is lost and nothing runs twice.

use std::collections::HashMap;
use std::time::Instant;

use ecs_types::acs::RoleType;

/// A payload that carried one task at one desired status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPayload {
    pub message_id: String,
    pub seq_num: i64,
    pub desired_status: String,
    pub sent_at: Instant,
}

#[derive(Debug, Clone, Default)]
pub struct TaskDelivery {
    /// The desired status the agent acknowledged last.
    pub acked: Option<String>,
    pub pending: Option<PendingPayload>,
}

/// A credentials refresh not yet acknowledged.
#[derive(Debug, Clone)]
pub struct PendingRefresh {
    pub task_arn: String,
    pub role_type: RoleType,
    pub credentials_id: String,
    pub sent_at: Instant,
    pub attempts: u32,
}

/// What the tests and logs can see of one instance's session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceStats {
    pub payloads_sent: u64,
    pub payload_acks: u64,
    pub heartbeats_sent: u64,
    pub heartbeat_acks: u64,
    pub manifests_sent: u64,
    pub manifest_acks: u64,
    pub credential_refreshes_sent: u64,
    pub credential_acks: u64,
    pub stop_verifications: u64,
    pub ignored_frames: u64,
}

#[derive(Debug, Default)]
pub struct InstanceLedger {
    last_seq: i64,
    pub tasks: HashMap<String, TaskDelivery>,
    /// Payload message ID -> (task ARN, desired status) it carried.
    pub payloads: HashMap<String, (String, String)>,
    pub refreshes: HashMap<String, PendingRefresh>,
    pub manifests: HashMap<String, Instant>,
    pub stats: InstanceStats,
}

impl InstanceLedger {
    /// A sequence number above every one sent before to this instance, also across
    /// restarts of ecs-local (the agent persists the highest it saw and ignores
    /// manifests at or below it): wall-clock milliseconds, forced to increase.
    pub fn next_seq(&mut self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis();
        self.last_seq = now.max(self.last_seq + 1);
        self.last_seq
    }

    /// Records a sent payload for `task_arn`.
    pub fn sent_payload(&mut self, task_arn: &str, pending: PendingPayload) {
        self.payloads.insert(
            pending.message_id.clone(),
            (task_arn.to_string(), pending.desired_status.clone()),
        );
        let delivery = self.tasks.entry(task_arn.to_string()).or_default();
        if let Some(old) = delivery.pending.replace(pending)
            && delivery.pending.as_ref().map(|p| &p.message_id) != Some(&old.message_id)
        {
            self.payloads.remove(&old.message_id);
        }
        self.stats.payloads_sent += 1;
    }

    /// Applies an `AckRequest`; returns the task it acknowledged, if it was a payload.
    pub fn ack_payload(&mut self, message_id: &str) -> Option<String> {
        let (task_arn, desired) = self.payloads.remove(message_id)?;
        self.stats.payload_acks += 1;
        let delivery = self.tasks.entry(task_arn.clone()).or_default();
        if delivery
            .pending
            .as_ref()
            .is_some_and(|p| p.message_id == message_id)
        {
            delivery.pending = None;
        }
        delivery.acked = Some(desired);
        Some(task_arn)
    }

    /// Forgets a finished task.
    pub fn forget(&mut self, task_arn: &str) {
        if let Some(delivery) = self.tasks.remove(task_arn)
            && let Some(p) = delivery.pending
        {
            self.payloads.remove(&p.message_id);
        }
        self.refreshes.retain(|_, r| r.task_arn != task_arn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str, status: &str) -> PendingPayload {
        PendingPayload {
            message_id: id.to_string(),
            seq_num: 1,
            desired_status: status.to_string(),
            sent_at: Instant::now(),
        }
    }

    #[test]
    fn sequence_numbers_increase() {
        let mut ledger = InstanceLedger::default();
        let a = ledger.next_seq();
        let b = ledger.next_seq();
        assert!(b > a && a > 1_600_000_000_000);
    }

    #[test]
    fn an_ack_settles_the_payload_it_names() {
        let mut ledger = InstanceLedger::default();
        ledger.sent_payload("t", pending("m1", "RUNNING"));
        ledger.sent_payload("t", pending("m2", "STOPPED"));
        assert!(!ledger.payloads.contains_key("m1"));
        assert_eq!(ledger.ack_payload("m1"), None);
        assert_eq!(ledger.ack_payload("m2").as_deref(), Some("t"));
        let d = &ledger.tasks["t"];
        assert_eq!(d.acked.as_deref(), Some("STOPPED"));
        assert!(d.pending.is_none());
        ledger.forget("t");
        assert!(ledger.tasks.is_empty());
    }
}
