//! Looking at an object as the cluster has it now: its events (`GET …/{id}/events`) and its
//! live definition (`GET …/{id}/yaml`), for pods, deployments, nodes and namespaces. Both are
//! fetched through the cluster's agent (or its kubeconfig) when asked, never stored.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::operations::EventSummary;
use kubeworkz_shared::protocol::{LiveKind, ObjectRequest, OperationRequest};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{ApiPath, Principal};
use super::inventory::own_object;
use super::operations::fetch;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// One event about an object.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short reason (`ScalingReplicaSet`, `BackOff`).
    pub reason: String,
    /// What happened.
    pub message: String,
    /// How many times.
    pub count: i32,
    /// The last time (RFC 3339), when known.
    pub last_seen: Option<String>,
    /// Who reported it.
    pub source: String,
}

impl From<EventSummary> for EventView {
    fn from(e: EventSummary) -> Self {
        Self {
            type_: e.type_,
            reason: e.reason,
            message: e.message,
            count: e.count,
            last_seen: e.last_seen,
            source: e.source,
        }
    }
}

fn live_kind(kind: ObjectKind) -> LiveKind {
    match kind {
        ObjectKind::Deployment => LiveKind::Deployment,
        ObjectKind::Node => LiveKind::Node,
        ObjectKind::Namespace => LiveKind::Namespace,
        _ => LiveKind::Pod,
    }
}

async fn target(
    state: &AppState,
    who: &Principal,
    kind: ObjectKind,
    id: &str,
) -> Result<(kubeworkz_shared::ids::ClusterId, ObjectRequest), ApiError> {
    let item = own_object(state, who, kind, id).await?;
    let request = ObjectRequest {
        kind: live_kind(kind),
        namespace: item.namespace,
        name: item.name,
    };
    Ok((item.cluster_id, request))
}

async fn events(
    state: AppState,
    who: Principal,
    kind: ObjectKind,
    id: String,
) -> Result<Json<Vec<EventView>>, ApiError> {
    super::switches::may_read_logs(&state, &who).await?;
    let (cluster, object) = target(&state, &who, kind, &id).await?;
    let body = fetch(&state, &who, cluster, OperationRequest::Events(object)).await?;
    let events: Vec<EventSummary> = serde_json::from_slice(&body)
        .map_err(|_| ApiError::Upstream("the cluster's events could not be read".into()))?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

async fn yaml(
    state: AppState,
    who: Principal,
    kind: ObjectKind,
    id: String,
) -> Result<Response, ApiError> {
    let (cluster, object) = target(&state, &who, kind, &id).await?;
    let body = fetch(&state, &who, cluster, OperationRequest::Object(object)).await?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::Upstream("the cluster's object could not be read".into()))?;
    let text = serde_yaml::to_string(&value)
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("encoding YAML: {err}")))?;
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The two handlers of one kind, each with its OpenAPI entry.
macro_rules! inspect_routes {
    ($events:ident, $yaml:ident, $kind:expr, $events_path:literal, $yaml_path:literal, $what:literal) => {
        #[doc = concat!("`GET ", $events_path, "`.")]
        #[utoipa::path(get, path = $events_path, tag = "operations",
            params(("id" = String, Path, description = concat!($what, " id (its Kubernetes uid)"))),
            responses(
                (status = 200, body = Vec<EventView>, description = "Its events now, warnings first, then the newest"),
                (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
                (status = 403, body = ErrorBody, description = "A viewer, where the organization lets only operators and admins read events"),
                (status = 409, body = ErrorBody, description = "Not enabled in the agent's chart (`operations.events`)"),
                (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
        pub(super) async fn $events(
            State(state): State<AppState>,
            who: Principal,
            ApiPath(id): ApiPath<String>,
        ) -> Result<Json<Vec<EventView>>, ApiError> {
            events(state, who, $kind, id).await
        }

        #[doc = concat!("`GET ", $yaml_path, "`.")]
        #[utoipa::path(get, path = $yaml_path, tag = "operations",
            params(("id" = String, Path, description = concat!($what, " id (its Kubernetes uid)"))),
            responses(
                (status = 200, description = "Its definition now, without `managedFields`", content_type = "application/yaml"),
                (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
                (status = 409, body = ErrorBody, description = "Not enabled in the agent's chart (`operations.objects`)"),
                (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
        pub(super) async fn $yaml(
            State(state): State<AppState>,
            who: Principal,
            ApiPath(id): ApiPath<String>,
        ) -> Result<Response, ApiError> {
            yaml(state, who, $kind, id).await
        }
    };
}

inspect_routes!(
    pod_events,
    pod_yaml,
    ObjectKind::Pod,
    "/api/v1/k8s/pods/{id}/events",
    "/api/v1/k8s/pods/{id}/yaml",
    "Pod"
);
inspect_routes!(
    deployment_events,
    deployment_yaml,
    ObjectKind::Deployment,
    "/api/v1/k8s/deployments/{id}/events",
    "/api/v1/k8s/deployments/{id}/yaml",
    "Deployment"
);
inspect_routes!(
    node_events,
    node_yaml,
    ObjectKind::Node,
    "/api/v1/k8s/nodes/{id}/events",
    "/api/v1/k8s/nodes/{id}/yaml",
    "Node"
);
inspect_routes!(
    namespace_events,
    namespace_yaml,
    ObjectKind::Namespace,
    "/api/v1/k8s/namespaces/{id}/events",
    "/api/v1/k8s/namespaces/{id}/yaml",
    "Namespace"
);
