//! A set of writes committed together in one durable transaction.

use serde::Serialize;

use super::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    PutTask(String, Vec<u8>),
    DeleteTask(String),
    PutTaskExtras(String, Vec<u8>),
    PutContainer(String, String, Vec<u8>),
    DeleteContainer(String, String),
    PutImage(String, Vec<u8>),
    DeleteImage(String),
    AppendOutbox(Vec<u8>),
    RemoveOutbox(u64),
}

/// Writes that must land together or not at all: e.g. a container's new status and the state
/// change that reports it, so that a crash never keeps one without the other.
/// Records are serialized when added, so an encoding error surfaces before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
}

fn encode(table: &'static str, value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encode {
        table,
        reason: e.to_string(),
    })
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn put_task(&mut self, arn: &str, task: &impl Serialize) -> Result<&mut Self, StoreError> {
        self.ops
            .push(Op::PutTask(arn.to_string(), encode("tasks", task)?));
        Ok(self)
    }

    /// Fields kept beside the task for readers other than the engine; deleted with it.
    pub fn put_task_extras(
        &mut self,
        arn: &str,
        extras: &impl Serialize,
    ) -> Result<&mut Self, StoreError> {
        self.ops.push(Op::PutTaskExtras(
            arn.to_string(),
            encode("task-extras", extras)?,
        ));
        Ok(self)
    }

    /// Deletes the task, its extras and every container stored under it.
    pub fn delete_task(&mut self, arn: &str) -> &mut Self {
        self.ops.push(Op::DeleteTask(arn.to_string()));
        self
    }

    pub fn put_container(
        &mut self,
        task_arn: &str,
        name: &str,
        container: &impl Serialize,
    ) -> Result<&mut Self, StoreError> {
        self.ops.push(Op::PutContainer(
            task_arn.to_string(),
            name.to_string(),
            encode("containers", container)?,
        ));
        Ok(self)
    }

    pub fn delete_container(&mut self, task_arn: &str, name: &str) -> &mut Self {
        self.ops
            .push(Op::DeleteContainer(task_arn.to_string(), name.to_string()));
        self
    }

    pub fn put_image(
        &mut self,
        key: &str,
        image: &impl Serialize,
    ) -> Result<&mut Self, StoreError> {
        self.ops
            .push(Op::PutImage(key.to_string(), encode("images", image)?));
        Ok(self)
    }

    pub fn delete_image(&mut self, key: &str) -> &mut Self {
        self.ops.push(Op::DeleteImage(key.to_string()));
        self
    }

    /// Queues a state change; [`super::Store::commit`] returns its sequence number.
    pub fn append_outbox(&mut self, entry: &impl Serialize) -> Result<&mut Self, StoreError> {
        self.ops.push(Op::AppendOutbox(encode("outbox", entry)?));
        Ok(self)
    }

    pub fn remove_outbox(&mut self, seq: u64) -> &mut Self {
        self.ops.push(Op::RemoveOutbox(seq));
        self
    }
}
