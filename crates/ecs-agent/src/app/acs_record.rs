//! The engine as the ACS session sees it, with the task payload's fields the engine
//! does not keep (launch type, service name, container ARNs) recorded for the task
//! metadata endpoints on the way in.

use std::sync::Arc;

use ecs_types::TaskStatus;
use ecs_types::acs::RoleType;
use ecs_types::task::Task;
use futures::future::BoxFuture;

use crate::backend::{NotAccepted, TaskEngine};
use crate::endpoints::AcsInfo;
use crate::engine::{Engine, TaskSnapshot};

pub struct RecordingEngine {
    pub engine: Engine,
    pub acs: Arc<AcsInfo>,
}

impl TaskEngine for RecordingEngine {
    fn accept_task(&self, task: Task) -> BoxFuture<'_, Result<(), NotAccepted>> {
        // Recorded alongside the engine's own intake: both durable writes usually share
        // one fsync (the store groups concurrent commits), and the in-memory record is in
        // place long before the task's first container (and metadata request) exists.
        let acs = self.acs.clone();
        let recorded = {
            let task = task.clone();
            tokio::task::spawn_blocking(move || acs.record(&task))
        };
        Box::pin(async move {
            let accepted = TaskEngine::accept_task(&self.engine, task).await;
            if let Err(e) = recorded.await {
                tracing::warn!(error = %e, "Recording the task's ACS fields failed");
            }
            accepted
        })
    }

    fn desired_statuses(&self) -> BoxFuture<'_, Vec<(String, TaskStatus)>> {
        TaskEngine::desired_statuses(&self.engine)
    }

    fn stop_task<'a>(&'a self, task_arn: &'a str) -> BoxFuture<'a, bool> {
        TaskEngine::stop_task(&self.engine, task_arn)
    }

    fn set_credentials_id<'a>(
        &'a self,
        task_arn: &'a str,
        role: &'a RoleType,
        credentials_id: &'a str,
    ) -> BoxFuture<'a, bool> {
        TaskEngine::set_credentials_id(&self.engine, task_arn, role, credentials_id)
    }

    fn list_tasks(&self) -> BoxFuture<'_, Vec<TaskSnapshot>> {
        TaskEngine::list_tasks(&self.engine)
    }
}
