//! Task scale-in protection through the agent API (spec endpoints §4.11):
//! `GET|PUT /api/<id>/task-protection/v1/state` calls ECS `GetTaskProtection` /
//! `UpdateTaskProtection` with the task's own task-role credentials.

use std::time::Duration;

use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::RequestId;
use aws_sdk_ecs::types::{Failure, ProtectedTask};
use axum::http::{Method, StatusCode};
use serde::Serialize;

use super::EndpointState;
use super::credentials::{Lookup, RoleType};
use super::http::{self, Resp};
use super::source::by_endpoint_id;

const KIND_GET: &str = "api/GetTaskProtection/v1";
const KIND_PUT: &str = "api/UpdateTaskProtection/v1";
const ECS_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Serialize, Default)]
struct Envelope {
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protection: Option<Protection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<FailureBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

#[derive(Serialize)]
struct Protection {
    #[serde(rename = "ExpirationDate")]
    expiration_date: Option<String>,
    #[serde(rename = "ProtectionEnabled")]
    protection_enabled: bool,
    #[serde(rename = "TaskArn")]
    task_arn: Option<String>,
}

#[derive(Serialize)]
struct FailureBody {
    #[serde(rename = "Arn")]
    arn: Option<String>,
    #[serde(rename = "Detail")]
    detail: Option<String>,
    #[serde(rename = "Reason")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody {
    #[serde(rename = "Arn", skip_serializing_if = "Option::is_none")]
    arn: Option<String>,
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message")]
    message: String,
}

fn error(
    kind: &'static str,
    status: StatusCode,
    arn: Option<&str>,
    code: &str,
    message: &str,
) -> Resp {
    http::json(
        status,
        kind,
        &Envelope {
            error: Some(ErrorBody {
                arn: arn.map(str::to_owned),
                code: code.to_owned(),
                message: message.to_owned(),
            }),
            ..Envelope::default()
        },
    )
}

/// The PUT body: keys match case-insensitively, unknown keys are refused.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UpdateRequest {
    pub protection_enabled: Option<bool>,
    pub expires_in_minutes: Option<i32>,
}

pub fn decode_update(body: &[u8]) -> Option<UpdateRequest> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut out = UpdateRequest::default();
    for (k, v) in value.as_object()? {
        match k.to_ascii_lowercase().as_str() {
            "protectionenabled" => out.protection_enabled = Some(v.as_bool()?),
            "expiresinminutes" => {
                out.expires_in_minutes = Some(i32::try_from(v.as_i64()?).ok()?);
            }
            _ => return None,
        }
    }
    Some(out)
}

fn time(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> Option<String> {
    let t = t?;
    let dt = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())?;
    Some(super::json::go_time(&dt))
}

fn answer(
    kind: &'static str,
    arn: &str,
    protected: &[ProtectedTask],
    failures: &[Failure],
) -> Resp {
    if failures.len() > 1 || protected.len() > 1 || (failures.is_empty() && protected.is_empty()) {
        return error(
            kind,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(arn),
            "ServerException",
            "Unexpected error occurred",
        );
    }
    let body = match (failures.first(), protected.first()) {
        (Some(f), _) => Envelope {
            failure: Some(FailureBody {
                arn: f.arn().map(str::to_owned),
                detail: f.detail().map(str::to_owned),
                reason: f.reason().map(str::to_owned),
            }),
            ..Envelope::default()
        },
        (None, Some(p)) => Envelope {
            protection: Some(Protection {
                expiration_date: time(p.expiration_date()),
                protection_enabled: p.protection_enabled(),
                task_arn: p.task_arn().map(str::to_owned),
            }),
            ..Envelope::default()
        },
        (None, None) => Envelope::default(),
    };
    http::json(StatusCode::OK, kind, &body)
}

fn sdk_error<E>(kind: &'static str, arn: &str, err: SdkError<E>) -> Resp
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if !matches!(err, SdkError::ServiceError(_)) {
        let text = aws_sdk_ecs::error::DisplayErrorContext(&err).to_string();
        return error(
            kind,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(arn),
            "ServerException",
            &text,
        );
    }
    let status = err
        .raw_response()
        .and_then(|r| StatusCode::from_u16(r.status().as_u16()).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    http::json(
        status,
        kind,
        &Envelope {
            request_id: err.request_id().map(str::to_owned),
            error: Some(ErrorBody {
                arn: Some(arn.to_owned()),
                code: err.code().unwrap_or("ServerException").to_owned(),
                message: err.message().unwrap_or_default().to_owned(),
            }),
            ..Envelope::default()
        },
    )
}

/// Serves `/api/<id>/task-protection/v1/state`.
pub async fn handle(state: &EndpointState, method: &Method, id: &str, body: &[u8]) -> Resp {
    let put = match *method {
        Method::GET => false,
        Method::PUT => true,
        _ => return super::tmds::method_not_allowed(),
    };
    let kind = if put { KIND_PUT } else { KIND_GET };
    let request = if put {
        match decode_update(body) {
            Some(r) => Some(r),
            None => {
                return error(
                    kind,
                    StatusCode::BAD_REQUEST,
                    None,
                    "InvalidParameterException",
                    "UpdateTaskProtection: failed to decode request",
                );
            }
        }
    } else {
        None
    };
    let Some((task, _)) = by_endpoint_id(state.tasks.as_ref(), id) else {
        return error(
            kind,
            StatusCode::NOT_FOUND,
            None,
            "ResourceNotFoundException",
            "Failed to find a task for the request",
        );
    };
    let arn = task.spec.arn.clone();
    if let Some(r) = &request
        && r.protection_enabled.is_none()
    {
        return error(
            kind,
            StatusCode::BAD_REQUEST,
            Some(&arn),
            "InvalidParameterException",
            "Invalid request: does not contain 'ProtectionEnabled' field",
        );
    }
    let creds = state
        .credentials
        .id_for_task(&arn, RoleType::TaskApplication)
        .map(|cid| state.credentials.get(&cid));
    let Some(Lookup::Found(entry)) = creds else {
        return error(
            kind,
            StatusCode::FORBIDDEN,
            Some(&arn),
            "AccessDeniedException",
            "Invalid Request: no task IAM role credentials available for task",
        );
    };
    let Some(c) = entry.credentials else {
        return error(
            kind,
            StatusCode::FORBIDDEN,
            Some(&arn),
            "AccessDeniedException",
            "Invalid Request: no task IAM role credentials available for task",
        );
    };
    let mut conf = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(state.instance.region.clone()))
        .credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.expose().to_owned(),
            Some(c.session_token.expose().to_owned()),
            None,
            "task-role",
        ));
    if let Some(endpoint) = &state.instance.ecs_endpoint {
        conf = conf.endpoint_url(endpoint.clone());
    }
    let client = aws_sdk_ecs::Client::from_conf(conf.build());
    let cluster = state.instance.cluster.clone();
    let timed_out = || {
        error(
            kind,
            StatusCode::GATEWAY_TIMEOUT,
            Some(&arn),
            "RequestCanceled",
            "Timed out calling ECS Task Protection API",
        )
    };
    match request {
        Some(r) => {
            let call = client
                .update_task_protection()
                .cluster(cluster)
                .tasks(arn.clone())
                .protection_enabled(r.protection_enabled.unwrap_or(false))
                .set_expires_in_minutes(r.expires_in_minutes)
                .send();
            match tokio::time::timeout(ECS_TIMEOUT, call).await {
                Err(_) => timed_out(),
                Ok(Err(e)) => sdk_error(kind, &arn, e),
                Ok(Ok(out)) => answer(kind, &arn, out.protected_tasks(), out.failures()),
            }
        }
        None => {
            let call = client
                .get_task_protection()
                .cluster(cluster)
                .tasks(arn.clone())
                .send();
            match tokio::time::timeout(ECS_TIMEOUT, call).await {
                Err(_) => timed_out(),
                Ok(Err(e)) => sdk_error(kind, &arn, e),
                Ok(Ok(out)) => answer(kind, &arn, out.protected_tasks(), out.failures()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_bodies_decode_like_the_reference() {
        assert_eq!(
            decode_update(br#"{"protectionEnabled": true, "ExpiresInMinutes": 60}"#),
            Some(UpdateRequest {
                protection_enabled: Some(true),
                expires_in_minutes: Some(60)
            })
        );
        assert_eq!(decode_update(b"{}"), Some(UpdateRequest::default()));
        assert_eq!(decode_update(br#"{"Other": 1}"#), None);
        assert_eq!(decode_update(b""), None);
        assert_eq!(decode_update(br#"{"ProtectionEnabled": "yes"}"#), None);
    }
}
