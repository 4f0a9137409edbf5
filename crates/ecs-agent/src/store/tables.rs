//! Table layout. Values are JSON bytes of the owner's record type (as the reference stores Go
//! JSON); keys are the natural identifiers.

use redb::TableDefinition;

/// Task ARN -> task record.
pub(crate) const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
/// (task ARN, container name) -> container record.
pub(crate) const CONTAINERS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("containers");
/// Image key (the image ID, `sha256:...`) -> image state record.
pub(crate) const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
/// Task ARN -> the ACS payload's fields the engine does not keep (launch type, container
/// ARNs, ...), read by the metadata endpoints; removed with the task.
pub(crate) const TASK_EXTRAS: TableDefinition<&str, &[u8]> = TableDefinition::new("task-extras");
/// Instance identity and bookkeeping, as plain strings (keys as the reference's `metadata`).
pub(crate) const METADATA: TableDefinition<&str, &str> = TableDefinition::new("metadata");
/// Sequence number -> pending state change, in submission order.
pub(crate) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Monotonic counters that must survive removals (the next outbox sequence).
pub(crate) const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

pub(crate) const NEXT_OUTBOX_SEQ: &str = "outbox-next-seq";

pub(crate) const KEY_SCHEMA_VERSION: &str = "schema-version";
pub(crate) const KEY_AGENT_VERSION: &str = "agent-version";
pub(crate) const KEY_AVAILABILITY_ZONE: &str = "availability-zone";
pub(crate) const KEY_CLUSTER: &str = "cluster-name";
pub(crate) const KEY_CONTAINER_INSTANCE_ARN: &str = "container-instance-arn";
pub(crate) const KEY_EC2_INSTANCE_ID: &str = "ec2-instance-id";
pub(crate) const KEY_MANIFEST_SEQ_NUM: &str = "task-manifest-seq-num";

/// Layout version written at creation; bumped when a table changes incompatibly.
pub(crate) const SCHEMA_VERSION: u32 = 1;
