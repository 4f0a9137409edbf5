//! Errors as the AWS JSON 1.1 protocol returns them: an HTTP status, the error code in
//! `X-Amzn-ErrorType` and in the body's `__type`, and a `message`. botocore and the SDKs
//! turn the code into the modelled exception.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::FromStoreError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn client(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ClientException", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            message,
        )
    }

    pub fn cluster_not_found() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ClusterNotFoundException",
            "Cluster not found.",
        )
    }

    pub fn server(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerException",
            message,
        )
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            message,
        )
    }

    pub fn target_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "TargetNotFoundException", message)
    }

    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            message,
        )
    }

    pub fn missing_authentication(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            message,
        )
    }

    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "InvalidSignatureException", message)
    }

    pub fn unrecognized_client(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            message,
        )
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            message,
        )
    }
}

impl FromStoreError for ApiError {
    fn from_store_error(error: StoreError) -> Self {
        tracing::error!(%error, "store write failed");
        ApiError::server(format!("The state could not be saved: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"__type": self.code, "message": self.message});
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::CONTENT_TYPE),
        );
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
    }
}
