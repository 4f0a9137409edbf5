//! TCS messages (`models/tcs-api-2.json`, backend-protocol.md §5).
//!
//! Timestamps are JSON numbers of epoch seconds with a millisecond fraction
//! ([`EpochSeconds`]). The agent's frames carry a signed header block before the
//! JSON envelope ([`split_signed_frame`], [`format_signed_frame`]).

use crate::status::HealthStatus;
use crate::wire_enum::{message_only, wire_enum};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A TCS `Timestamp`: epoch seconds, fraction allowed (e.g. `1717171700.123`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EpochSeconds(#[serde(serialize_with = "crate::go_float::f64")] pub f64);

impl EpochSeconds {
    /// Millisecond precision, as the reference sends.
    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        EpochSeconds(t.timestamp_millis() as f64 / 1000.0)
    }

    /// `None` when the number is not a representable instant (NaN, out of range).
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        if !self.0.is_finite() {
            return None;
        }
        let millis = (self.0 * 1000.0).round();
        if millis.abs() > i64::MAX as f64 {
            return None;
        }
        Utc.timestamp_millis_opt(millis as i64).single()
    }
}

impl From<DateTime<Utc>> for EpochSeconds {
    fn from(t: DateTime<Utc>) -> Self {
        Self::from_datetime(t)
    }
}

/// `CWStatsSet`: CPU (percent, 100 = one vCPU) or memory (MiB) over the samples
/// since the previous publish.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CWStatsSet {
    #[serde(
        serialize_with = "crate::go_float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub min: Option<f64>,
    #[serde(
        serialize_with = "crate::go_float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<u64>,
    #[serde(
        serialize_with = "crate::go_float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sum: Option<f64>,
}

/// `UDoubleCWStatsSet`: all four members are required by the model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UDoubleCWStatsSet {
    #[serde(serialize_with = "crate::go_float::f64")]
    pub min: f64,
    #[serde(serialize_with = "crate::go_float::f64")]
    pub max: f64,
    pub sample_count: u64,
    #[serde(serialize_with = "crate::go_float::f64")]
    pub sum: f64,
}

/// `ULongStatsSet`: unsigned 64-bit counters; `overflow*` carry the part of a
/// value beyond `u64` (the reference accumulates in 128 bits).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ULongStatsSet {
    pub min: u64,
    pub max: u64,
    pub sample_count: u64,
    pub sum: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow_min: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow_max: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow_sum: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_bytes_per_second: Option<UDoubleCWStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_bytes: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_dropped: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_errors: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_packets: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_bytes_per_second: Option<UDoubleCWStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_bytes: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_dropped: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_errors: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_packets: Option<ULongStatsSet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_size_bytes: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_size_bytes: Option<ULongStatsSet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dimension {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

wire_enum! {
    /// `MetricType` of a general metrics wrapper; the model gives only the codes.
    pub enum MetricType {
        Type1 => "1",
        Type2 => "2",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneralMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(
        serialize_with = "crate::go_float::opt_vec_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub metric_values: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_counts: Option<Vec<i64>>,
    #[serde(
        serialize_with = "crate::go_float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub metric_value_double: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_value_long: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_value_stats_set: Option<CWStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneralMetricsWrapper {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<Dimension>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<MetricType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub general_metrics: Option<Vec<GeneralMetric>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_stats_set: Option<CWStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_stats_set: Option<CWStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_stats_set: Option<NetworkStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_stats_set: Option<StorageStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_stats_set: Option<RestartStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub general_metrics_payload: Option<Vec<GeneralMetricsWrapper>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralStorageMetrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_utilized: Option<ULongStatsSet>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilized: Option<UDoubleCWStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<UDoubleCWStatsSet>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_metrics: Option<Vec<ContainerMetric>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_metrics: Option<EphemeralStorageMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_metrics: Option<Vec<VolumeMetric>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_connect_metrics_wrapper: Option<Vec<GeneralMetricsWrapper>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStorageMetrics {
    /// Percent, 0..=100.
    #[serde(
        serialize_with = "crate::go_float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub root_filesystem: Option<f64>,
    /// Percent, 0..=100.
    #[serde(
        serialize_with = "crate::go_float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_filesystem: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMetrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<InstanceStorageMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub general_metrics_payload: Option<Vec<GeneralMetricsWrapper>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    /// Shared by every request of one batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<bool>,
    /// True on the last request of a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fin: Option<bool>,
}

/// Agent → TCS every 20 s.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishMetricsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetricsMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_metrics: Option<InstanceMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_metrics: Option<Vec<TaskMetric>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<EpochSeconds>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_since: Option<EpochSeconds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<ContainerHealth>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fin: Option<bool>,
}

/// Agent → TCS: container health, the only channel health reaches the backend by.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishHealthRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HealthMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskHealth>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<EpochSeconds>,
}

wire_enum! {
    pub enum InstanceHealthcheckStatus {
        Ok => "OK",
        Impaired => "IMPAIRED",
        InsufficientData => "INSUFFICIENT_DATA",
        Initializing => "INITIALIZING",
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// e.g. `ContainerRuntime`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub status_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<InstanceHealthcheckStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<EpochSeconds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<EpochSeconds>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatusMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishInstanceStatusRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<InstanceStatusMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<InstanceStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<EpochSeconds>,
}

/// Never sent: the connection URL replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTelemetrySessionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
}

/// TCS → agent keep-alive.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

message_only!(
    AckPublishMetric,
    AckPublishHealth,
    AckPublishInstanceStatus,
    StopTelemetrySessionMessage,
    ServerException,
    BadRequestException,
    ResourceValidationException,
    InvalidParameterException,
);

/// Splits an agent → TCS frame into its header block and JSON body at the first
/// empty line. A frame without a header block (as TCS → agent frames are) is all
/// body.
pub fn split_signed_frame(frame: &str) -> (Option<&str>, &str) {
    if frame.trim_start().starts_with('{') {
        return (None, frame);
    }
    match frame.split_once("\r\n\r\n") {
        Some((headers, body)) => (Some(headers), body),
        None => (None, frame),
    }
}

/// The header lines of a signed frame as `(name, value)` pairs.
pub fn parse_frame_headers(block: &str) -> Vec<(&str, &str)> {
    block
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect()
}

/// Builds an agent → TCS frame: headers sorted by name, `Name: value\r\n` each,
/// an empty line, then the JSON envelope.
pub fn format_signed_frame(headers: &[(&str, &str)], body: &str) -> String {
    let mut sorted: Vec<_> = headers.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(body.len() + 512);
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}
