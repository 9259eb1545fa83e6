//! `GET /api/v1/k8s/pods/{id}/logs`: a container's log, read from the cluster now and
//! streamed as it arrives (with `follow`, for as long as the client keeps reading).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::protocol::{LogsRequest, OperationRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiPath, ApiQuery, Principal};
use super::inventory::own_object;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Most lines `tailLines` may ask for.
pub const MAX_TAIL_LINES: u64 = 100_000;

/// Which log, as `kubectl logs` takes it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct LogParams {
    /// The container; may be left out for a pod with one container.
    pub container: Option<String>,
    /// Keep the response open and send new lines as they are written.
    pub follow: Option<bool>,
    /// Only this many lines from the end (1 to 100000).
    #[param(minimum = 1, maximum = 100000)]
    pub tail_lines: Option<u64>,
    /// Only lines from the last this many seconds.
    #[param(minimum = 1)]
    pub since_seconds: Option<u64>,
    /// The previous (terminated) container's log, which explains a crash loop.
    pub previous: Option<bool>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: Option<bool>,
}

impl LogParams {
    fn request(self, namespace: String, pod: String) -> Result<LogsRequest, ApiError> {
        if let Some(container) = &self.container
            && (container.is_empty() || container.len() > 253)
        {
            return Err(ApiError::BadRequest(
                "container must be a container name of 1 to 253 characters".into(),
            ));
        }
        if self
            .tail_lines
            .is_some_and(|n| !(1..=MAX_TAIL_LINES).contains(&n))
        {
            return Err(ApiError::BadRequest(format!(
                "tailLines must be from 1 to {MAX_TAIL_LINES}"
            )));
        }
        if self.since_seconds == Some(0) {
            return Err(ApiError::BadRequest(
                "sinceSeconds must be at least 1".into(),
            ));
        }
        Ok(LogsRequest {
            namespace,
            pod,
            container: self.container,
            follow: self.follow.unwrap_or(false),
            tail_lines: self.tail_lines,
            since_seconds: self.since_seconds,
            previous: self.previous.unwrap_or(false),
            timestamps: self.timestamps.unwrap_or(false),
        })
    }
}

/// `GET /api/v1/k8s/pods/{id}/logs`.
#[utoipa::path(get, path = "/api/v1/k8s/pods/{id}/logs", tag = "operations",
    params(("id" = String, Path, description = "Pod id (its Kubernetes uid)"), LogParams),
    responses(
        (status = 200, description = "The log as it arrives (chunked text; with `follow`, \
            open until the container stops or the client closes)", content_type = "text/plain"),
        (status = 400, body = ErrorBody, description = "Bad parameters, or Kubernetes refused \
            them (no such container, no previous container)"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "A viewer, where the organization lets \
            only operators and admins read logs"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not enabled in the agent's chart \
            (`operations.logs`), or the cluster is disabled"),
        (status = 429, body = ErrorBody, description = "Too many operations for this cluster"),
        (status = 502, body = ErrorBody, description = "The cluster's API failed the request"),
        (status = 503, body = ErrorBody, description = "Agent not connected, or the cluster \
            cannot be reached")))]
pub(super) async fn pod_logs(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Response, ApiError> {
    super::switches::may_read_logs(&state, &who).await?;
    let pod = own_object(&state, &who, ObjectKind::Pod, &id).await?;
    let request = params.request(pod.namespace, pod.name)?;
    let output = super::operations::stream(
        &state,
        &who,
        pod.cluster_id,
        OperationRequest::Logs(request),
    )
    .await?;
    let mut response = Body::from_stream(output).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
