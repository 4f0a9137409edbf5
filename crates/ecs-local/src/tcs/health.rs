//! Container health reported over TCS, recorded on the task as DescribeTasks shows it,
//! with the task's health aggregated the way the service does (task-engine.md §5.3).

use std::collections::HashSet;

use ecs_types::HealthStatus;
use ecs_types::tcs::TaskHealth;
use serde_json::Value;

use crate::store::{Store, StoreError};

/// One container as the aggregation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerHealthView {
    pub essential: bool,
    pub has_health_check: bool,
    pub status: HealthStatus,
}

/// Over the essential containers with a health check: UNHEALTHY if any is, else UNKNOWN
/// if any is, else HEALTHY; without such containers the non-essential ones with a check
/// decide the same way; no health check at all is UNKNOWN.
pub fn aggregate(containers: &[ContainerHealthView]) -> HealthStatus {
    let decide = |essential: bool| {
        let checked: Vec<HealthStatus> = containers
            .iter()
            .filter(|c| c.has_health_check && c.essential == essential)
            .map(|c| c.status)
            .collect();
        if checked.is_empty() {
            None
        } else if checked.contains(&HealthStatus::Unhealthy) {
            Some(HealthStatus::Unhealthy)
        } else if checked.contains(&HealthStatus::Unknown) {
            Some(HealthStatus::Unknown)
        } else {
            Some(HealthStatus::Healthy)
        }
    };
    decide(true)
        .or_else(|| decide(false))
        .unwrap_or(HealthStatus::Unknown)
}

/// Records a task's reported container health and its aggregated health.
pub fn apply(store: &Store, report: &TaskHealth) -> Result<(), StoreError> {
    let Some(task_arn) = report.task_arn.as_deref() else {
        return Ok(());
    };
    store.write(|txn| {
        let Some(mut task) = txn.state().tasks.get(task_arn).cloned() else {
            return Ok(());
        };
        let checked: HashSet<String> = txn
            .state()
            .task_definitions
            .values()
            .find(|td| td.arn == task.task_definition_arn)
            .map(|td| {
                td.container_definitions()
                    .iter()
                    .filter(|c| c.get("healthCheck").is_some_and(|h| !h.is_null()))
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let before = task.clone();
        for reported in report.containers.iter().flatten() {
            let (Some(name), Some(status)) = (&reported.container_name, reported.health_status)
            else {
                continue;
            };
            if let Some(container) = task.containers.iter_mut().find(|c| &c.name == name) {
                container.health_status = Some(status.as_str().to_string());
            }
        }
        let views: Vec<ContainerHealthView> = task
            .containers
            .iter()
            .map(|c| ContainerHealthView {
                essential: c.essential,
                has_health_check: checked.contains(&c.name),
                status: c
                    .health_status
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default(),
            })
            .collect();
        task.health_status = Some(aggregate(&views).as_str().to_string());
        if task != before {
            task.version += 1;
            txn.put_task(task);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(essential: bool, has_health_check: bool, status: HealthStatus) -> ContainerHealthView {
        ContainerHealthView {
            essential,
            has_health_check,
            status,
        }
    }

    #[test]
    fn essential_checked_containers_decide_first() {
        use HealthStatus::*;
        assert_eq!(aggregate(&[]), Unknown);
        assert_eq!(aggregate(&[view(true, false, Healthy)]), Unknown);
        assert_eq!(
            aggregate(&[view(true, true, Healthy), view(false, true, Unhealthy)]),
            Healthy
        );
        assert_eq!(
            aggregate(&[view(true, true, Healthy), view(true, true, Unknown)]),
            Unknown
        );
        assert_eq!(
            aggregate(&[view(true, true, Unknown), view(true, true, Unhealthy)]),
            Unhealthy
        );
        assert_eq!(
            aggregate(&[view(true, false, Unknown), view(false, true, Unhealthy)]),
            Unhealthy
        );
    }
}
