//! Response shapes of the task metadata endpoint (spec endpoints §4.2–§4.4) and of the
//! introspection `/v1/tasks` answer (§1.4), in the reference's key order and casing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::json::{go_f64, opt_go_f64, opt_time};

#[derive(Debug, Clone, Serialize)]
pub struct Port {
    #[serde(rename = "ContainerPort", skip_serializing_if = "is_zero_u16")]
    pub container_port: u16,
    #[serde(rename = "Protocol", skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(rename = "HostPort", skip_serializing_if = "is_zero_u16")]
    pub host_port: u16,
    #[serde(rename = "HostIp", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct Network {
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
    #[serde(rename = "IPv4Addresses", skip_serializing_if = "Vec::is_empty")]
    pub ipv4_addresses: Vec<String>,
    #[serde(rename = "IPv6Addresses", skip_serializing_if = "Vec::is_empty")]
    pub ipv6_addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    #[serde(rename = "DockerName", skip_serializing_if = "String::is_empty")]
    pub docker_name: String,
    #[serde(rename = "Source", skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(rename = "Destination", skip_serializing_if = "String::is_empty")]
    pub destination: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(
        rename = "statusSince",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub status_since: Option<DateTime<Utc>>,
    #[serde(rename = "exitCode", skip_serializing_if = "super::json::is_zero_i64")]
    pub exit_code: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerLimits {
    #[serde(rename = "CPU", serialize_with = "go_f64")]
    pub cpu: f64,
    #[serde(rename = "Memory")]
    pub memory: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskLimits {
    #[serde(
        rename = "CPU",
        serialize_with = "opt_go_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    #[serde(rename = "Memory", skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
}

/// Keys 1–15 of §4.2, common to v2, v3 and v4.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerBase {
    #[serde(rename = "DockerId")]
    pub docker_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "DockerName")]
    pub docker_name: String,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(rename = "Ports", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "DesiredStatus")]
    pub desired_status: &'static str,
    #[serde(rename = "KnownStatus")]
    pub known_status: &'static str,
    #[serde(rename = "ExitCode", skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(rename = "Limits")]
    pub limits: ContainerLimits,
    #[serde(
        rename = "CreatedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(
        rename = "StartedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(
        rename = "FinishedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(rename = "Type")]
    pub kind: &'static str,
}

/// The v2 and v3 container object.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerV3 {
    #[serde(flatten)]
    pub base: ContainerBase,
    #[serde(rename = "Networks", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    #[serde(rename = "Health", skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    #[serde(rename = "Volumes", skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

/// The v4 container object.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerV4 {
    #[serde(flatten)]
    pub base: ContainerBase,
    #[serde(rename = "Health", skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    #[serde(rename = "Volumes", skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(rename = "LogDriver", skip_serializing_if = "String::is_empty")]
    pub log_driver: String,
    #[serde(rename = "LogOptions", skip_serializing_if = "BTreeMap::is_empty")]
    pub log_options: BTreeMap<String, String>,
    #[serde(rename = "ContainerARN", skip_serializing_if = "String::is_empty")]
    pub container_arn: String,
    #[serde(rename = "Networks", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    #[serde(rename = "RestartCount", skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i64>,
}

/// Keys 1–6 of §4.4.
#[derive(Debug, Clone, Serialize)]
pub struct TaskHead {
    #[serde(rename = "Cluster")]
    pub cluster: String,
    #[serde(rename = "TaskARN")]
    pub task_arn: String,
    #[serde(rename = "Family")]
    pub family: String,
    #[serde(rename = "Revision")]
    pub revision: String,
    #[serde(rename = "DesiredStatus")]
    pub desired_status: &'static str,
    #[serde(rename = "KnownStatus")]
    pub known_status: &'static str,
}

/// Keys 8–14 of §4.4.
#[derive(Debug, Clone, Serialize)]
pub struct TaskMiddle {
    #[serde(rename = "Limits", skip_serializing_if = "Option::is_none")]
    pub limits: Option<TaskLimits>,
    #[serde(
        rename = "PullStartedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_started_at: Option<DateTime<Utc>>,
    #[serde(
        rename = "PullStoppedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_stopped_at: Option<DateTime<Utc>>,
    #[serde(
        rename = "ExecutionStoppedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_stopped_at: Option<DateTime<Utc>>,
    #[serde(rename = "AvailabilityZone", skip_serializing_if = "String::is_empty")]
    pub availability_zone: String,
    #[serde(rename = "TaskTags", skip_serializing_if = "BTreeMap::is_empty")]
    pub task_tags: BTreeMap<String, String>,
    #[serde(
        rename = "ContainerInstanceTags",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub container_instance_tags: BTreeMap<String, String>,
}

/// The v2 and v3 task object.
#[derive(Debug, Clone, Serialize)]
pub struct TaskV3 {
    #[serde(flatten)]
    pub head: TaskHead,
    #[serde(rename = "Containers", skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerV3>,
    #[serde(flatten)]
    pub middle: TaskMiddle,
}

/// The v4 `Errors` element of the tags paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskError {
    #[serde(rename = "ErrorField", skip_serializing_if = "String::is_empty")]
    pub error_field: String,
    #[serde(rename = "ErrorCode", skip_serializing_if = "String::is_empty")]
    pub error_code: String,
    #[serde(rename = "ErrorMessage", skip_serializing_if = "String::is_empty")]
    pub error_message: String,
    #[serde(
        rename = "StatusCode",
        skip_serializing_if = "super::json::is_zero_i64"
    )]
    pub status_code: i64,
    #[serde(rename = "RequestId", skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    #[serde(rename = "ResourceARN", skip_serializing_if = "String::is_empty")]
    pub resource_arn: String,
}

/// The v4 task object.
#[derive(Debug, Clone, Serialize)]
pub struct TaskV4 {
    #[serde(flatten)]
    pub head: TaskHead,
    #[serde(flatten)]
    pub middle: TaskMiddle,
    #[serde(rename = "LaunchType", skip_serializing_if = "String::is_empty")]
    pub launch_type: String,
    #[serde(rename = "Errors", skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<TaskError>,
    #[serde(rename = "Containers", skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerV4>,
    #[serde(rename = "VPCID", skip_serializing_if = "String::is_empty")]
    pub vpc_id: String,
    #[serde(rename = "ServiceName", skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    #[serde(rename = "FaultInjectionEnabled")]
    pub fault_injection_enabled: bool,
    #[serde(
        rename = "AvailabilityZoneID",
        skip_serializing_if = "String::is_empty"
    )]
    pub availability_zone_id: String,
}

/// Introspection `/v1/tasks` container.
#[derive(Debug, Clone, Serialize)]
pub struct V1Container {
    #[serde(rename = "DockerId")]
    pub docker_id: String,
    #[serde(rename = "DockerName")]
    pub docker_name: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(
        rename = "CreatedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(
        rename = "StartedAt",
        serialize_with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(rename = "Ports", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(rename = "Networks", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    #[serde(rename = "Volumes", skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(rename = "RestartCount", skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i64>,
}

/// Introspection task object; the all-empty value is the error body of `/v1/tasks`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct V1Task {
    #[serde(rename = "Arn")]
    pub arn: String,
    #[serde(rename = "DesiredStatus", skip_serializing_if = "String::is_empty")]
    pub desired_status: String,
    #[serde(rename = "KnownStatus")]
    pub known_status: String,
    #[serde(rename = "Family")]
    pub family: String,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Containers")]
    pub containers: Option<Vec<V1Container>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct V1Tasks {
    #[serde(rename = "Tasks")]
    pub tasks: Vec<V1Task>,
}
