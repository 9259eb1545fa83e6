//! The one error type of the REST API.
//!
//! Every handler returns `Result<_, ApiError>`; this is the only place that turns failures
//! into HTTP responses. Internal errors are logged with their cause and answered with a
//! generic message, so no SQL, path or secret ever reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// An API failure with the status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such resource in the caller's organization.
    #[error("not found")]
    NotFound,
    /// 503: a dependency (the database) is unavailable; the cause is logged, not returned.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug or an unexpected failure; the cause is logged, not returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::Internal(err.into())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            // `{:#}` prints the whole cause chain; it goes to the log only.
            let cause = match &self {
                ApiError::Unavailable(e) | ApiError::Internal(e) => format!("{e:#}"),
                _ => String::new(),
            };
            tracing::error!(status = status.as_u16(), %cause, "request failed");
        }
        let body = Body {
            error: Detail {
                code,
                message: self.to_string(),
            },
        };
        (status, Json(body)).into_response()
    }
}
