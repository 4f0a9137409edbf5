//! What the ACS session needs from the task engine. The engine implements it; the
//! session never reaches into the engine's internals.

use ecs_types::TaskStatus;
use ecs_types::acs::RoleType;
use ecs_types::task::Task;
use futures::future::BoxFuture;

use crate::engine::state::TaskSnapshot;

/// Why the engine did not take a task; the payload is then not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAccepted(pub String);

pub trait TaskEngine: Send + Sync + 'static {
    /// A new ARN is added and started; a known ARN only gets its desired status
    /// updated. Returns once the task (or its new desired status) is durably stored, so
    /// the payload may be acknowledged. A task the engine rejects on validation is
    /// still `Ok`: the engine reports it STOPPED itself.
    fn accept_task(&self, task: Task) -> BoxFuture<'_, Result<(), NotAccepted>>;

    /// Every known task with its desired status (for the task manifest).
    fn desired_statuses(&self) -> BoxFuture<'_, Vec<(String, TaskStatus)>>;

    /// Sets the desired status of a known task to STOPPED; false for an unknown task.
    fn stop_task<'a>(&'a self, task_arn: &'a str) -> BoxFuture<'a, bool>;

    /// Points a known task at new credentials; false for an unknown task.
    fn set_credentials_id<'a>(
        &'a self,
        task_arn: &'a str,
        role: &'a RoleType,
        credentials_id: &'a str,
    ) -> BoxFuture<'a, bool>;

    /// Snapshots of every task (for telemetry: containers, Docker IDs, health).
    fn list_tasks(&self) -> BoxFuture<'_, Vec<TaskSnapshot>> {
        Box::pin(async { Vec::new() })
    }
}
