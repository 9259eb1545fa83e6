//! The one error type of the REST API and its one JSON shape.
//!
//! Every handler returns `Result<_, ApiError>`; this is the only place that turns failures
//! into HTTP responses: `{"error": {"code", "message", "request_id"}}`. Internal errors are
//! logged with their cause and answered with a generic message, so no SQL, path or secret
//! ever reaches a client. The request id comes from the task-local set by the API's request
//! middleware, so every error names the request it answers.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

tokio::task_local! {
    /// The id of the request being served (set by the API middleware).
    pub static REQUEST_ID: String;
}

/// An API failure with the status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 400: a search query that cannot be parsed; the body carries its position.
    #[error("{0}")]
    BadQuery(crate::search::QueryError),
    /// 401: no valid session or token.
    #[error("authentication required")]
    Unauthorized,
    /// 401 at login: wrong email or password (indistinguishable on purpose).
    #[error("wrong email or password")]
    BadCredentials,
    /// 401: the identity provider revoked or expired the session's refresh token.
    #[error("signed out by your identity provider")]
    SignedOutByIdp,
    /// 403: authenticated, but not allowed (role, or CSRF check).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource in the caller's organization.
    #[error("not found")]
    NotFound,
    /// 409: conflicts with existing state (a taken name).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body (or the kubeconfig in it) is over its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422: well-formed, but the content cannot be used.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: over a rate limit; retry after the given time.
    #[error("too many requests")]
    TooManyRequests(Duration),
    /// 429: over a cap of things held open at once (event streams); retrying helps only
    /// once one is closed, so no Retry-After.
    #[error("{0}")]
    OverLimit(String),
    /// 408: the request did not complete within the hub's request timeout.
    #[error("the request took longer than {} s", .0.as_secs())]
    RequestTimeout(Duration),
    /// 503: a dependency (the database) is unavailable; the cause is logged, not returned.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 502: the cluster's Kubernetes API failed a request made for the client; its message
    /// names objects, never credentials.
    #[error("{0}")]
    Upstream(String),
    /// 503: the cluster cannot be reached now (no agent connected); the message says why.
    #[error("{0}")]
    ClusterUnavailable(String),
    /// 500: a bug or an unexpected failure; the cause is logged, not returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::ClusterNotFound => ApiError::NotFound,
            other => ApiError::Internal(other.into()),
        }
    }
}

/// The error body every failure answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The failure.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`.
    pub code: String,
    /// A sentence for people; never contains secrets or internals.
    pub message: String,
    /// The request's id (also in the `x-request-id` header), for support and the logs.
    pub request_id: String,
    /// Where in the search query the problem is (1-based, in characters); only for
    /// `bad_query`, so a client can point at it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

impl ApiError {
    /// The status and the stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            ApiError::SignedOutByIdp => (StatusCode::UNAUTHORIZED, "signed_out_by_idp"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::OverLimit(_) => (StatusCode::TOO_MANY_REQUESTS, "over_limit"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream"),
            ApiError::ClusterUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "cluster_unavailable")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The refusal of an action that needs the admin role.
    pub fn forbidden_role() -> Self {
        ApiError::Forbidden("this needs the admin role".into())
    }
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let request_id = current_request_id();
        if status.is_server_error() {
            // `{:#}` prints the whole cause chain; it goes to the log only.
            let cause = match &self {
                ApiError::Unavailable(e) | ApiError::Internal(e) => format!("{e:#}"),
                _ => String::new(),
            };
            tracing::error!(status = status.as_u16(), %cause, %request_id, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.to_string(),
                request_id,
                position: match &self {
                    ApiError::BadQuery(e) => Some(e.position),
                    _ => None,
                },
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests(retry) = &self {
            // Rounded up: a client that waits what it is told must not be refused again.
            let secs = (retry.as_secs() + u64::from(retry.subsec_nanos() > 0)).max(1);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).expect("digits are a valid header"),
            );
        }
        response
    }
}
