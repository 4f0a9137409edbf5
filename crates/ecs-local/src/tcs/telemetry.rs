//! The latest telemetry per task and per instance, as the agents published it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ecs_types::tcs::{
    InstanceMetrics, InstanceStatus, PublishHealthRequest, PublishInstanceStatusRequest,
    PublishMetricsRequest, TaskHealth, TaskMetric,
};

/// What the last publications said about one task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskTelemetry {
    /// The instance whose agent published it.
    pub container_instance_arn: String,
    pub metrics: Option<TaskMetric>,
    pub metrics_at: Option<DateTime<Utc>>,
    pub health: Option<TaskHealth>,
    pub health_at: Option<DateTime<Utc>>,
}

/// What the last publications said about one instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceTelemetry {
    pub instance_metrics: Option<InstanceMetrics>,
    /// The agent had no task with stats at the last metrics publication.
    pub idle: bool,
    pub metrics_at: Option<DateTime<Utc>>,
    /// Latest status per status type (e.g. `ContainerRuntime`).
    pub statuses: Vec<InstanceStatus>,
    pub statuses_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct Telemetry {
    pub tasks: HashMap<String, TaskTelemetry>,
    pub instances: HashMap<String, InstanceTelemetry>,
}

impl Telemetry {
    pub fn record_metrics(&mut self, instance_arn: &str, request: PublishMetricsRequest) {
        let now = Utc::now();
        let instance = self.instances.entry(instance_arn.to_string()).or_default();
        instance.metrics_at = Some(now);
        instance.idle = request
            .metadata
            .as_ref()
            .and_then(|m| m.idle)
            .unwrap_or(false);
        if request.instance_metrics.is_some() {
            instance.instance_metrics = request.instance_metrics;
        }
        for metric in request.task_metrics.unwrap_or_default() {
            let Some(arn) = metric.task_arn.clone() else {
                continue;
            };
            let entry = self.tasks.entry(arn).or_default();
            entry.container_instance_arn = instance_arn.to_string();
            entry.metrics = Some(metric);
            entry.metrics_at = Some(now);
        }
    }

    pub fn record_health(&mut self, instance_arn: &str, request: PublishHealthRequest) {
        let now = Utc::now();
        for health in request.tasks.unwrap_or_default() {
            let Some(arn) = health.task_arn.clone() else {
                continue;
            };
            let entry = self.tasks.entry(arn).or_default();
            entry.container_instance_arn = instance_arn.to_string();
            entry.health = Some(health);
            entry.health_at = Some(now);
        }
    }

    pub fn record_instance_status(
        &mut self,
        instance_arn: &str,
        request: PublishInstanceStatusRequest,
    ) {
        let instance = self.instances.entry(instance_arn.to_string()).or_default();
        instance.statuses_at = Some(Utc::now());
        for status in request.statuses.unwrap_or_default() {
            match instance
                .statuses
                .iter_mut()
                .find(|s| s.status_type == status.status_type)
            {
                Some(existing) => *existing = status,
                None => instance.statuses.push(status),
            }
        }
    }

    /// Drops the entries of tasks that no longer run, so memory does not grow with churn.
    pub fn retain_tasks(&mut self, mut live: impl FnMut(&str) -> bool) {
        self.tasks.retain(|arn, _| live(arn));
    }
}
