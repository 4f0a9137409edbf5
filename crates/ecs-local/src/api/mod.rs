//! The ECS JSON 1.1 API: `POST /` with the operation in `X-Amz-Target`, SigV4-checked,
//! answering the shapes of botocore's ECS model and its errors.

mod agent;
mod clusters;
pub mod error;
mod instances;
pub mod sigv4;
mod tags;
mod task_definitions;
mod tasks;
mod wire;

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::store::Store;
use error::ApiError;
use sigv4::Verifier;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
/// Larger than any valid request (a task definition is limited to 64 KiB of JSON).
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// The cluster used when a request names none, as in the real service.
pub const DEFAULT_CLUSTER: &str = "default";

/// What the API handler needs; cloned per request.
#[derive(Clone, Debug)]
pub struct Api {
    pub store: Arc<Store>,
    pub verifier: Arc<Verifier>,
    /// Base URL advertised by DiscoverPollEndpoint; `None` derives it from the request's
    /// `Host`, so that an agent reaches the websockets wherever it reached the API.
    pub advertised_url: Option<String>,
}

/// Per-request context of an operation.
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub base_url: String,
}

/// The axum handler for `POST /`.
pub async fn handle(State(api): State<Api>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let result = serve(&api, request).await;
    let mut response = match result {
        Ok(body) => {
            let mut response = (StatusCode::OK, body.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            tracing::debug!(%target, %request_id, "request served");
            response
        }
        Err(error) => {
            if error.status.is_server_error() {
                tracing::error!(%target, %request_id, code = error.code, message = %error.message, "request failed");
            } else {
                tracing::info!(%target, %request_id, code = error.code, message = %error.message, "request refused");
            }
            error.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

async fn serve(api: &Api, request: Request) -> Result<Value, ApiError> {
    let (mut parts, body) = request.into_parts();
    // Refuse a declared oversized body before reading any of it.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::too_large(format!(
            "Request body is larger than {MAX_BODY_BYTES} bytes."
        )));
    }
    let bytes = read_body(body).await?;
    // HTTP/2 carries the host as :authority; the signer signed it as `host`.
    if !parts.headers.contains_key(header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, value);
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    api.verifier.verify(
        parts.method.as_str(),
        path_and_query,
        &parts.headers,
        &bytes,
        SystemTime::now(),
    )?;
    let operation = operation(&parts.headers)?;
    check_content_type(&parts.headers)?;
    let input = parse_input(&bytes)?;
    let store = api.store.clone();
    let base_url = base_url(api, &parts.headers);
    let operation = operation.to_string();
    // Store writes wait for the disk; keep them off the threads that drive sockets.
    tokio::task::spawn_blocking(move || {
        let ctx = Ctx {
            store: &store,
            base_url,
        };
        dispatch(&ctx, &operation, input).map(wire::strip_nulls)
    })
    .await
    .map_err(|e| ApiError::server(format!("The request failed inside ecs-local: {e}")))?
}

async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            ApiError::too_large(format!(
                "Request body is larger than {MAX_BODY_BYTES} bytes or unreadable: {e}"
            ))
        })
}

fn operation(headers: &HeaderMap) -> Result<&str, ApiError> {
    let target = headers
        .get("x-amz-target")
        .ok_or_else(|| ApiError::unknown_operation("Missing X-Amz-Target header."))?
        .to_str()
        .map_err(|_| ApiError::unknown_operation("X-Amz-Target is not text."))?;
    target
        .strip_prefix(TARGET_PREFIX)
        .filter(|op| !op.is_empty())
        .ok_or_else(|| {
            ApiError::unknown_operation(format!(
                "Unknown operation target '{target}': expected {TARGET_PREFIX}<Operation>."
            ))
        })
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        // Some clients send no type for an empty body; the body is still checked as JSON.
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let media = text.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(CONTENT_TYPE)
        || media.eq_ignore_ascii_case("application/x-amz-json-1.0")
        || media.eq_ignore_ascii_case("application/json")
    {
        Ok(())
    } else {
        Err(ApiError::serialization(format!(
            "Unsupported Content-Type '{text}': expected {CONTENT_TYPE}."
        )))
    }
}

fn parse_input(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::serialization(format!("Request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::serialization(
            "Request body must be a JSON object.",
        ));
    }
    Ok(value)
}

fn base_url(api: &Api, headers: &HeaderMap) -> String {
    if let Some(url) = &api.advertised_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("127.0.0.1:51680");
    format!("http://{host}")
}

/// Operations of the ECS model that this control plane does not implement.
const UNSUPPORTED: &[&str] = &[
    "CreateCapacityProvider",
    "CreateService",
    "CreateTaskSet",
    "DeleteAccountSetting",
    "DeleteCapacityProvider",
    "DeleteService",
    "DeleteTaskDefinitions",
    "DeleteTaskSet",
    "DescribeCapacityProviders",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "DescribeServices",
    "DescribeTaskSets",
    "ExecuteCommand",
    "GetTaskProtection",
    "ListAccountSettings",
    "ListServiceDeployments",
    "ListServices",
    "ListServicesByNamespace",
    "PutAccountSetting",
    "PutAccountSettingDefault",
    "PutClusterCapacityProviders",
    "UpdateCapacityProvider",
    "UpdateCluster",
    "UpdateClusterSettings",
    "UpdateContainerAgent",
    "UpdateService",
    "UpdateServicePrimaryTaskSet",
    "UpdateTaskProtection",
    "UpdateTaskSet",
];

fn dispatch(ctx: &Ctx<'_>, operation: &str, input: Value) -> Result<Value, ApiError> {
    match operation {
        "CreateCluster" => clusters::create(ctx, input),
        "DeleteCluster" => clusters::delete(ctx, input),
        "DescribeClusters" => clusters::describe(ctx, input),
        "ListClusters" => clusters::list(ctx, input),
        "RegisterTaskDefinition" => task_definitions::register(ctx, input),
        "DeregisterTaskDefinition" => task_definitions::deregister(ctx, input),
        "DescribeTaskDefinition" => task_definitions::describe(ctx, input),
        "ListTaskDefinitions" => task_definitions::list(ctx, input),
        "ListTaskDefinitionFamilies" => task_definitions::list_families(ctx, input),
        "RunTask" => tasks::run(ctx, input),
        "StartTask" => tasks::start(ctx, input),
        "StopTask" => tasks::stop(ctx, input),
        "DescribeTasks" => tasks::describe(ctx, input),
        "ListTasks" => tasks::list(ctx, input),
        "ListContainerInstances" => instances::list(ctx, input),
        "DescribeContainerInstances" => instances::describe(ctx, input),
        "UpdateContainerInstancesState" => instances::update_state(ctx, input),
        "PutAttributes" => instances::put_attributes(ctx, input),
        "ListAttributes" => instances::list_attributes(ctx, input),
        "DeleteAttributes" => instances::delete_attributes(ctx, input),
        "TagResource" => tags::tag(ctx, input),
        "UntagResource" => tags::untag(ctx, input),
        "ListTagsForResource" => tags::list(ctx, input),
        "RegisterContainerInstance" => instances::register(ctx, input),
        "DeregisterContainerInstance" => instances::deregister(ctx, input),
        "DiscoverPollEndpoint" => agent::discover_poll_endpoint(ctx, input),
        "SubmitTaskStateChange" => agent::submit_task_state_change(ctx, input),
        "SubmitContainerStateChange" => agent::submit_container_state_change(ctx, input),
        "SubmitAttachmentStateChanges" => agent::submit_attachment_state_changes(ctx, input),
        op if UNSUPPORTED.contains(&op) => Err(ApiError::unknown_operation(format!(
            "Operation {op} is not supported by ecs-local."
        ))),
        op => Err(ApiError::unknown_operation(format!(
            "Unknown operation {op}."
        ))),
    }
}
