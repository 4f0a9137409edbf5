//! ACS messages (`models/acs-api-2.json`, backend-protocol.md §3).
//!
//! Each struct is the `message` member of an envelope whose `type` is the struct's
//! name; see [`crate::envelope::AcsMessage`]. `generatedAt` and `timeline` are
//! int64 on the wire (`generatedAt` is epoch milliseconds in practice, and ignored
//! by the reference).

use crate::lenient::Lenient;
use crate::task::{Attachment, ElasticNetworkInterface, IAMRoleCredentials, Task};
use crate::wire_enum::{message_only, wire_enum};
use serde::{Deserialize, Serialize};

/// Agent → ACS: acknowledges a payload, manifest, attachment or update message.
/// Members are copied from the message acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckRequest {
    /// The acknowledged message's `clusterArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The acknowledged message's `containerInstanceArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// Agent → ACS: refuses an update (`UpdateFailure`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NackRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// ACS → agent: new tasks or desired-status changes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Each task decodes on its own: one malformed task does not lose the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Lenient<Task>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_num: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<i64>,
}

impl PayloadMessage {
    /// The tasks as received (decoded or not), or an empty slice.
    pub fn tasks(&self) -> &[Lenient<Task>] {
        self.tasks.as_deref().unwrap_or(&[])
    }

    /// The tasks that decoded, in order.
    pub fn valid_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks().iter().filter_map(Lenient::valid)
    }

    /// Replaces the task list (the sending side always has decoded tasks).
    pub fn set_tasks(&mut self, tasks: impl IntoIterator<Item = Task>) {
        self.tasks = Some(tasks.into_iter().map(Lenient::Valid).collect());
    }

    /// The acknowledgement the agent sends once every task is accepted.
    pub fn ack(&self) -> AckRequest {
        AckRequest {
            cluster: self.cluster_arn.clone(),
            container_instance: self.container_instance_arn.clone(),
            message_id: self.message_id.clone(),
        }
    }
}

/// ACS → agent keep-alive; `healthy` is ignored by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl HeartbeatMessage {
    pub fn ack(&self) -> HeartbeatAckRequest {
        HeartbeatAckRequest {
            message_id: self.message_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatAckRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

wire_enum! {
    pub enum RoleType {
        TaskApplication => "TaskApplication",
        TaskExecution => "TaskExecution",
    }
}

/// ACS → agent: new credentials for a known task. `Debug` redacts the secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IAMRoleCredentialsMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_credentials: Option<IAMRoleCredentials>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_type: Option<RoleType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl IAMRoleCredentialsMessage {
    pub fn ack(&self) -> IAMRoleCredentialsAckRequest {
        IAMRoleCredentialsAckRequest::for_credentials(
            self.message_id.clone(),
            self.role_credentials.as_ref(),
        )
    }
}

/// Agent → ACS: credentials received. Members are copied verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IAMRoleCredentialsAckRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_id: Option<String>,
}

impl IAMRoleCredentialsAckRequest {
    /// The ack for one set of credentials, under the given message ID (the
    /// payload's ID for credentials carried inside a `PayloadMessage`).
    pub fn for_credentials(
        message_id: Option<String>,
        credentials: Option<&IAMRoleCredentials>,
    ) -> Self {
        IAMRoleCredentialsAckRequest {
            message_id,
            expiration: credentials.and_then(|c| c.expiration.clone()),
            credentials_id: credentials.and_then(|c| c.credentials_id.clone()),
        }
    }
}

/// One entry of a manifest or stop verification.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdentifier {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_status: Option<String>,
}

impl TaskIdentifier {
    /// The desired status, typed; unknown strings are errors.
    pub fn desired_status(
        &self,
    ) -> Result<Option<crate::status::TaskStatus>, crate::status::StatusParseError> {
        self.desired_status.as_deref().map(str::parse).transpose()
    }
}

/// ACS → agent: the complete set of tasks the backend places on this instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskManifestMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskIdentifier>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The manifest sequence number; the reference crashes without it, so a
    /// control plane must always send it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<i64>,
}

impl TaskManifestMessage {
    pub fn ack(&self) -> AckRequest {
        AckRequest {
            cluster: self.cluster_arn.clone(),
            container_instance: self.container_instance_arn.clone(),
            message_id: self.message_id.clone(),
        }
    }
}

/// Agent → ACS: tasks the agent runs that the manifest did not list as RUNNING.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStopVerificationMessage {
    /// The manifest's `messageId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_candidates: Option<Vec<TaskIdentifier>>,
}

/// ACS → agent: the candidates the agent must stop.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStopVerificationAck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_tasks: Option<Vec<TaskIdentifier>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachTaskNetworkInterfacesMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_network_interfaces: Option<Vec<ElasticNetworkInterface>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachInstanceNetworkInterfacesMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_network_interfaces: Option<Vec<ElasticNetworkInterface>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmAttachmentMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// 0 means 300000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Lowercase hex SHA-256 of the download.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageUpdateMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_info: Option<UpdateInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformUpdateMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_info: Option<UpdateInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

/// Never sent as a message: the connection URL's query carries it (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_num: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_credentials: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<i64>,
}

message_only!(
    /// The `Poll` operation's output; no handler in the reference.
    CloseMessage,
    /// No handler in the reference; logged only.
    ErrorMessage,
    ServerException,
    BadRequestException,
    InvalidClusterException,
    InvalidInstanceException,
    AccessDeniedException,
    /// Rejected handshake meaning the instance was deregistered: wait 1 h.
    InactiveInstanceException,
);

/// An ACS error delivered as the body of a rejected websocket upgrade
/// (backend-protocol.md §3.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception_type}: {message}")]
pub struct HandshakeError {
    /// e.g. `InactiveInstanceException`.
    pub exception_type: String,
    pub message: String,
}

impl HandshakeError {
    /// How much of the body the reference reads.
    pub const MAX_BODY: usize = 1024;

    pub const INACTIVE_INSTANCE: &'static str = "InactiveInstanceException";

    pub fn new(exception_type: impl Into<String>, message: impl Into<String>) -> Self {
        HandshakeError {
            exception_type: exception_type.into(),
            message: message.into(),
        }
    }

    /// Decodes `{"<ExceptionType>":"<message>"}` or
    /// `{"type":"<ExceptionType>","message":{"message":"<message>"}}` from the first
    /// [`Self::MAX_BODY`] bytes; `None` when the body is neither.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        let body = &body[..body.len().min(Self::MAX_BODY)];
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let obj = value.as_object()?;
        if let Some(t) = obj.get("type").and_then(|t| t.as_str()) {
            let message = obj
                .get("message")
                .and_then(|m| m.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or_default();
            return Some(Self::new(t, message));
        }
        let (t, message) = obj.iter().next()?;
        Some(Self::new(t.clone(), message.as_str().unwrap_or_default()))
    }

    /// The body a server sends, in the envelope form.
    pub fn to_body(&self) -> String {
        serde_json::json!({"type": self.exception_type, "message": {"message": self.message}})
            .to_string()
    }

    /// The only exception that changes the agent's behaviour (1 h back-off).
    pub fn is_inactive_instance(&self) -> bool {
        self.exception_type == Self::INACTIVE_INSTANCE
    }
}
