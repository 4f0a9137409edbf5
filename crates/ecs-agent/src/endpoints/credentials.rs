//! Task and execution role credentials by credentials ID (spec endpoints §3): the
//! in-memory store the ACS session fills, and the `/v1/credentials` and
//! `/v2/credentials/{id}` answers.
//!
//! IDs are compared by hash-map lookup only and never logged beyond 8 characters;
//! secrets live in `SensitiveString`, whose `Debug`/`Display` print nothing.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::StatusCode;
use ecs_types::sensitive::SensitiveString;
use ecs_types::task::{IAMRoleCredentials, Task};
use serde::Serialize;

use super::http::{self, Resp, short_id};

/// Which role a credentials ID belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleType {
    /// The task role (`roleCredentials`): the containers' SDKs use it.
    TaskApplication,
    /// The execution role (`executionRoleCredentials`): the agent and dockerd use it.
    TaskExecution,
}

impl RoleType {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleType::TaskApplication => "TaskApplication",
            RoleType::TaskExecution => "TaskExecution",
        }
    }

    /// Parses the ACS `roleType` value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "TaskApplication" => Some(RoleType::TaskApplication),
            "TaskExecution" => Some(RoleType::TaskExecution),
            _ => None,
        }
    }

    /// The audit log's event type.
    pub fn audit_event(self) -> &'static str {
        match self {
            RoleType::TaskApplication => "GetCredentials",
            RoleType::TaskExecution => "GetCredentialsExecutionRole",
        }
    }
}

/// One set of role credentials, as ACS delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: SensitiveString,
    pub session_token: SensitiveString,
    /// Echoed verbatim.
    pub expiration: String,
}

impl RoleCredentials {
    pub fn from_acs(c: &IAMRoleCredentials) -> Self {
        RoleCredentials {
            role_arn: c.role_arn.clone().unwrap_or_default(),
            access_key_id: c.access_key_id.clone().unwrap_or_default(),
            secret_access_key: c.secret_access_key.clone().unwrap_or_default(),
            session_token: c.session_token.clone().unwrap_or_default(),
            expiration: c.expiration.clone().unwrap_or_default(),
        }
    }
}

/// What the store holds for an ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsEntry {
    pub task_arn: String,
    pub role_type: RoleType,
    /// `None`: known (restored from state) but not yet delivered again by ACS.
    pub credentials: Option<RoleCredentials>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("credentials id is empty")]
    EmptyId,
    #[error("task arn is empty")]
    EmptyTaskArn,
}

/// The result of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(CredentialsEntry),
    Pending(CredentialsEntry),
    Unknown,
}

/// ID → {task ARN, role type, credentials}. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct CredentialsManager {
    entries: RwLock<HashMap<String, CredentialsEntry>>,
}

impl CredentialsManager {
    pub fn new() -> Self {
        Self::default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, CredentialsEntry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, CredentialsEntry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores or replaces the credentials of `id` (a task payload or a refresh).
    pub fn set(
        &self,
        id: &str,
        task_arn: &str,
        role_type: RoleType,
        credentials: RoleCredentials,
    ) -> Result<(), CredentialsError> {
        check(id, task_arn)?;
        self.write().insert(
            id.to_owned(),
            CredentialsEntry {
                task_arn: task_arn.to_owned(),
                role_type,
                credentials: Some(credentials),
            },
        );
        Ok(())
    }

    /// Registers an ID restored from saved state: answers 503 until ACS delivers it.
    /// Credentials already held are kept.
    pub fn set_pending(
        &self,
        id: &str,
        task_arn: &str,
        role_type: RoleType,
    ) -> Result<(), CredentialsError> {
        check(id, task_arn)?;
        self.write()
            .entry(id.to_owned())
            .or_insert_with(|| CredentialsEntry {
                task_arn: task_arn.to_owned(),
                role_type,
                credentials: None,
            });
        Ok(())
    }

    /// Stores both role credentials carried by an ACS task payload.
    pub fn set_from_task(&self, task: &Task) -> Result<(), CredentialsError> {
        let arn = task.arn.as_deref().unwrap_or_default();
        for (creds, role) in [
            (&task.role_credentials, RoleType::TaskApplication),
            (&task.execution_role_credentials, RoleType::TaskExecution),
        ] {
            if let Some(c) = creds {
                let id = c.credentials_id.as_deref().unwrap_or_default();
                self.set(id, arn, role, RoleCredentials::from_acs(c))?;
            }
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Lookup {
        match self.read().get(id) {
            Some(e) if e.credentials.is_some() => Lookup::Found(e.clone()),
            Some(e) => Lookup::Pending(e.clone()),
            None => Lookup::Unknown,
        }
    }

    pub fn remove(&self, id: &str) {
        self.write().remove(id);
    }

    /// Removes the IDs of `task_arn` with `role_type` (task role at STOPPED, execution
    /// role at cleanup).
    pub fn remove_task(&self, task_arn: &str, role_type: RoleType) {
        self.write()
            .retain(|_, e| !(e.task_arn == task_arn && e.role_type == role_type));
    }

    /// The current ID of `task_arn` for `role_type`, if any.
    pub fn id_for_task(&self, task_arn: &str, role_type: RoleType) -> Option<String> {
        self.read()
            .iter()
            .find(|(_, e)| e.task_arn == task_arn && e.role_type == role_type)
            .map(|(id, _)| id.clone())
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn check(id: &str, task_arn: &str) -> Result<(), CredentialsError> {
    if id.is_empty() {
        return Err(CredentialsError::EmptyId);
    }
    if task_arn.is_empty() {
        return Err(CredentialsError::EmptyTaskArn);
    }
    Ok(())
}

/// The success body; key order and casing are the reference's.
#[derive(Serialize)]
struct CredentialsBody<'a> {
    #[serde(rename = "RoleArn")]
    role_arn: &'a str,
    #[serde(rename = "AccessKeyId")]
    access_key_id: &'a str,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: &'a str,
    #[serde(rename = "Token")]
    token: &'a str,
    #[serde(rename = "Expiration")]
    expiration: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(rename = "HTTPErrorCode")]
    http_error_code: u16,
}

/// Which path form asked (only the message prefix differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    fn prefix(self) -> &'static str {
        match self {
            Version::V1 => "CredentialsV1Request: ",
            Version::V2 => "CredentialsV2Request: ",
        }
    }
}

/// The answer and what the audit line needs (task ARN and role, when found).
pub struct Answer {
    pub response: Resp,
    pub status: u16,
    pub owner: Option<(String, RoleType)>,
}

/// The algorithm of §3.4.
pub fn answer(manager: &CredentialsManager, version: Version, id: &str) -> Answer {
    let error = |status: StatusCode, code: &str, message: &str| {
        let message = format!("{}{message}", version.prefix());
        tracing::error!("Error processing credential request: {message}");
        Answer {
            response: http::json(
                status,
                "credentials",
                &ErrorBody {
                    code,
                    message,
                    http_error_code: status.as_u16(),
                },
            ),
            status: status.as_u16(),
            owner: None,
        }
    };
    if id.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "NoIdInRequest",
            "No Credential ID in the request",
        );
    }
    match manager.get(id) {
        Lookup::Unknown => error(
            StatusCode::BAD_REQUEST,
            "InvalidIdInRequest",
            "Credentials not found",
        ),
        Lookup::Pending(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CredentialsUninitialized",
            "Credentials uninitialized for ID",
        ),
        Lookup::Found(entry) => {
            let Some(c) = entry.credentials.as_ref() else {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "CredentialsUninitialized",
                    "Credentials uninitialized for ID",
                );
            };
            tracing::info!(
                id = short_id(id),
                "Processing credential request, credentialType={} taskARN={}",
                entry.role_type.as_str(),
                entry.task_arn
            );
            let body = CredentialsBody {
                role_arn: &c.role_arn,
                access_key_id: &c.access_key_id,
                secret_access_key: c.secret_access_key.expose(),
                token: c.session_token.expose(),
                expiration: &c.expiration,
            };
            let response = http::json(StatusCode::OK, "credentials", &body);
            let status = response.status().as_u16();
            Answer {
                response,
                status,
                owner: Some((entry.task_arn.clone(), entry.role_type)),
            }
        }
    }
}

/// The audit line of §3.6 (without the newline).
pub struct AuditEntry<'a> {
    pub time: chrono::DateTime<chrono::Utc>,
    pub status: u16,
    pub remote: &'a str,
    pub path: &'a str,
    pub user_agent: &'a str,
    pub owner: Option<(&'a str, RoleType)>,
    pub cluster: &'a str,
    pub container_instance_arn: &'a str,
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

impl AuditEntry<'_> {
    pub fn line(&self) -> String {
        let path = if self.path.starts_with("/v2/credentials/") {
            "/v2/credentials"
        } else {
            self.path
        };
        let head = format!(
            "{} {} {} \"{}\" \"{}\"",
            self.time.format("%Y-%m-%dT%H:%M:%SZ"),
            self.status,
            dash(self.remote),
            path,
            self.user_agent,
        );
        match self.owner {
            Some((arn, role)) => format!(
                "{head} {} {} 2 {} {}",
                dash(arn),
                role.audit_event(),
                dash(self.cluster),
                dash(self.container_instance_arn)
            ),
            None => {
                tracing::warn!("Unknown eventType: ");
                format!("{head} - ")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn creds(key: &str) -> RoleCredentials {
        RoleCredentials {
            role_arn: "arn:aws:iam::1:role/r".into(),
            access_key_id: key.into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expiration: "2024-05-01T18:17:58Z".into(),
        }
    }

    #[test]
    fn store_rejects_empty_and_removes_by_role() {
        let m = CredentialsManager::new();
        assert_eq!(
            m.set("", "arn", RoleType::TaskApplication, creds("a")),
            Err(CredentialsError::EmptyId)
        );
        assert_eq!(
            m.set("id", "", RoleType::TaskApplication, creds("a")),
            Err(CredentialsError::EmptyTaskArn)
        );
        m.set("a", "t1", RoleType::TaskApplication, creds("A"))
            .unwrap();
        m.set("e", "t1", RoleType::TaskExecution, creds("E"))
            .unwrap();
        m.set_pending("p", "t2", RoleType::TaskApplication).unwrap();
        assert!(matches!(m.get("p"), Lookup::Pending(_)));
        assert!(matches!(m.get("a"), Lookup::Found(_)));
        m.remove_task("t1", RoleType::TaskApplication);
        assert_eq!(m.get("a"), Lookup::Unknown);
        assert!(matches!(m.get("e"), Lookup::Found(_)));
        assert_eq!(
            m.id_for_task("t1", RoleType::TaskExecution).as_deref(),
            Some("e")
        );
    }

    #[test]
    fn audit_lines_match_the_reference() {
        let time = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let ok = AuditEntry {
            time,
            status: 200,
            remote: "172.17.0.5:48712",
            path: "/v2/credentials/abcd",
            user_agent: "curl/8.5.0",
            owner: Some(("arn:task", RoleType::TaskApplication)),
            cluster: "default",
            container_instance_arn: "arn:ci",
        };
        assert_eq!(
            ok.line(),
            "2024-05-01T12:00:00Z 200 172.17.0.5:48712 \"/v2/credentials\" \"curl/8.5.0\" arn:task GetCredentials 2 default arn:ci"
        );
        let bad = AuditEntry {
            status: 400,
            path: "/v1/credentials",
            owner: None,
            ..ok
        };
        assert_eq!(
            bad.line(),
            "2024-05-01T12:00:00Z 400 172.17.0.5:48712 \"/v1/credentials\" \"curl/8.5.0\" - "
        );
    }
}
