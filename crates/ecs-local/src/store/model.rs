//! The records the control plane keeps. They are stored as JSON; the API turns them into
//! the wire shapes of botocore's model (see `api::wire`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const ACTIVE: &str = "ACTIVE";
pub const INACTIVE: &str = "INACTIVE";
pub const DRAINING: &str = "DRAINING";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub arn: String,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub settings: Vec<Value>,
    #[serde(default)]
    pub configuration: Option<Value>,
    #[serde(default)]
    pub capacity_providers: Vec<String>,
    #[serde(default)]
    pub default_capacity_provider_strategy: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: u32,
    pub status: String,
    pub registered_at: f64,
    #[serde(default)]
    pub deregistered_at: Option<f64>,
    /// The registration request as given (without `tags`): every member of it is also a
    /// member of the `TaskDefinition` output shape.
    pub body: Map<String, Value>,
}

impl TaskDefinition {
    pub fn container_definitions(&self) -> &[Value] {
        self.body
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn str_member(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }
}

/// What a task holds on its instance while it is not STOPPED.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub cpu: i64,
    pub memory: i64,
    #[serde(default)]
    pub tcp_ports: Vec<u16>,
    #[serde(default)]
    pub udp_ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub arn: String,
    pub name: String,
    pub image: String,
    pub last_status: String,
    #[serde(default)]
    pub runtime_id: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub network_bindings: Vec<Value>,
    pub cpu: String,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub memory_reservation: Option<String>,
    #[serde(default)]
    pub essential: bool,
    /// From the agent's TCS health reports; `None` reads as UNKNOWN.
    #[serde(default)]
    pub health_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub arn: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub container_instance_arn: String,
    pub last_status: String,
    pub desired_status: String,
    pub created_at: f64,
    #[serde(default)]
    pub started_by: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    /// The `TaskOverride` given to RunTask/StartTask, verbatim.
    #[serde(default)]
    pub overrides: Value,
    pub containers: Vec<Container>,
    pub cpu: String,
    pub memory: String,
    pub reservation: Reservation,
    #[serde(default)]
    pub started_at: Option<f64>,
    #[serde(default)]
    pub connectivity_at: Option<f64>,
    #[serde(default)]
    pub stopping_at: Option<f64>,
    #[serde(default)]
    pub stopped_at: Option<f64>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub pull_started_at: Option<f64>,
    #[serde(default)]
    pub pull_stopped_at: Option<f64>,
    #[serde(default)]
    pub execution_stopped_at: Option<f64>,
    #[serde(default)]
    pub enable_execute_command: bool,
    #[serde(default)]
    pub attachments: Vec<Value>,
    /// Bumped on every change, as the service's `version` member is.
    pub version: i64,
    /// Aggregated from the containers' health (task-engine.md §5.3); `None` is UNKNOWN.
    #[serde(default)]
    pub health_status: Option<String>,
    /// RunTask's idempotency token: a retried RunTask returns the tasks it made.
    #[serde(default)]
    pub client_token: Option<String>,
}

impl Task {
    /// Whether the task still holds resources on its instance.
    pub fn holds_resources(&self) -> bool {
        self.last_status != "STOPPED"
    }

    pub fn family(&self) -> &str {
        let resource = super::arn::resource(&self.task_definition_arn).unwrap_or("");
        let name = resource
            .strip_prefix("task-definition/")
            .unwrap_or(resource);
        name.rsplit_once(':')
            .map(|(family, _)| family)
            .unwrap_or(name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub double_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_value: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer_value: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_set_value: Option<Vec<String>>,
}

impl Resource {
    pub fn integer(name: &str, value: i64) -> Self {
        Self {
            name: name.to_string(),
            kind: "INTEGER".to_string(),
            double_value: None,
            long_value: None,
            integer_value: Some(value),
            string_set_value: None,
        }
    }

    pub fn string_set(name: &str, values: Vec<String>) -> Self {
        Self {
            name: name.to_string(),
            kind: "STRINGSET".to_string(),
            double_value: None,
            long_value: None,
            integer_value: None,
            string_set_value: Some(values),
        }
    }

    /// The numeric value whichever member carries it.
    pub fn number(&self) -> i64 {
        self.integer_value
            .or(self.long_value)
            .or(self.double_value.map(|d| d as i64))
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstance {
    pub arn: String,
    pub cluster_arn: String,
    pub status: String,
    #[serde(default)]
    pub ec2_instance_id: Option<String>,
    pub registered_resources: Vec<Resource>,
    /// Attributes in the order the agent sent them (echoed verbatim on registration),
    /// followed by those added with PutAttributes.
    pub attributes: Vec<Attribute>,
    #[serde(default)]
    pub version_info: Option<Value>,
    pub registered_at: f64,
    pub agent_connected: bool,
    /// When a connected agent went away; cleared when it connects or registers again.
    /// Placement avoids such instances, as the real service does.
    #[serde(default)]
    pub agent_disconnected_at: Option<f64>,
    #[serde(default)]
    pub client_token: Option<String>,
    pub version: i64,
}

impl ContainerInstance {
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.registered_resources.iter().find(|r| r.name == name)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    /// A PENDING task with one container, for tests.
    pub fn task(arn: &str, instance_arn: &str) -> Task {
        Task {
            arn: arn.to_string(),
            cluster_arn: "arn:aws:ecs:us-east-1:111122223333:cluster/default".to_string(),
            task_definition_arn: "arn:aws:ecs:us-east-1:111122223333:task-definition/web:3"
                .to_string(),
            container_instance_arn: instance_arn.to_string(),
            last_status: "PENDING".to_string(),
            desired_status: "RUNNING".to_string(),
            created_at: 1.0,
            started_by: None,
            group: None,
            overrides: Value::Null,
            containers: vec![Container {
                arn: format!("{arn}/c"),
                name: "c".to_string(),
                image: "i".to_string(),
                last_status: "PENDING".to_string(),
                runtime_id: None,
                image_digest: None,
                exit_code: None,
                reason: None,
                network_bindings: Vec::new(),
                cpu: "0".to_string(),
                memory: Some("64".to_string()),
                memory_reservation: None,
                essential: true,
                health_status: None,
            }],
            cpu: "0".to_string(),
            memory: "64".to_string(),
            reservation: Reservation {
                memory: 64,
                ..Default::default()
            },
            started_at: None,
            connectivity_at: None,
            stopping_at: None,
            stopped_at: None,
            stopped_reason: None,
            stop_code: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            enable_execute_command: false,
            attachments: Vec::new(),
            version: 1,
            client_token: None,
            health_status: None,
        }
    }
}
