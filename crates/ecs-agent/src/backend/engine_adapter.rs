//! The task engine as the backend sees it, and the bridge from its state-change
//! stream to the submitter.

use ecs_types::TaskStatus;
use ecs_types::acs::RoleType;
use ecs_types::task::Task;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::engine_port::{NotAccepted, TaskEngine};
use super::submitter::Submitter;
use crate::engine::{Engine, Report, TaskSnapshot};

impl TaskEngine for Engine {
    fn accept_task(&self, task: Task) -> BoxFuture<'_, Result<(), NotAccepted>> {
        Box::pin(async move {
            self.add_task(task)
                .await
                .map_err(|e| NotAccepted(e.to_string()))
        })
    }

    fn desired_statuses(&self) -> BoxFuture<'_, Vec<(String, TaskStatus)>> {
        Box::pin(async move {
            Engine::list_tasks(self)
                .iter()
                .map(|t| (t.spec.arn.clone(), t.desired))
                .collect()
        })
    }

    fn stop_task<'a>(&'a self, task_arn: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.set_desired_status(task_arn, TaskStatus::Stopped) })
    }

    fn set_credentials_id<'a>(
        &'a self,
        task_arn: &'a str,
        _role: &'a RoleType,
        _credentials_id: &'a str,
    ) -> BoxFuture<'a, bool> {
        // The credentials store is keyed by ID and the engine keeps the ID it got with
        // the task; a refresh under a new ID is served by the store as soon as it lands.
        Box::pin(async move { self.task(task_arn).is_some() })
    }

    fn list_tasks(&self) -> BoxFuture<'_, Vec<TaskSnapshot>> {
        Box::pin(async move {
            Engine::list_tasks(self)
                .iter()
                .map(|t| TaskSnapshot::clone(t))
                .collect()
        })
    }
}

/// Queues every engine state change in the outbox, in order, until the engine's feed
/// ends, or only wakes the submitter for changes the engine queued itself
/// (`Engine::with_durable_outbox`). Take `changes` from `Engine::subscribe_reports`
/// before `Engine::start` so that changes found while reconciling are reported.
pub async fn forward_state_changes(
    mut changes: mpsc::UnboundedReceiver<Report>,
    submitter: Submitter,
) {
    while let Some(report) = changes.recv().await {
        match report {
            Report::Queued => submitter.wake(),
            Report::Change(change) => {
                if let Err(e) = submitter.report(change).await {
                    tracing::error!(error = %e, "Unable to queue a state change");
                }
            }
        }
    }
}
