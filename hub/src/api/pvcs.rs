//! PersistentVolumeClaim lists: a cluster's claims and a namespace's, paged, filtered and
//! sorted like the other inventory lists, with the claims table's download columns.
//!
//! A claim has no page of its own: search links a claim to its cluster's claims table
//! filtered to its name, so the lists here are where a claim is seen.

use axum::extract::State;
use axum::response::Response;
use kubeworkz_shared::change::ObjectKind;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiPath, ApiQuery, Principal};
use super::inventory::{own_cluster, own_object, page};
use super::views::{ObjectListAnswer, PageParams};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::InventoryQuery;

/// The phases a claim can be in, as the API spells them.
const PHASES: [&str; 3] = ["Pending", "Bound", "Lost"];

/// Filters of a claims list, besides the name filter every list has.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PvcFilters {
    /// Only claims in this phase: `Pending`, `Bound` or `Lost`.
    pub phase: Option<String>,
    /// Only claims of this StorageClass.
    pub storage_class: Option<String>,
}

impl PvcFilters {
    /// `query` narrowed to the filters; a phase no claim can have is a 400.
    fn narrow(self, mut query: InventoryQuery) -> Result<InventoryQuery, ApiError> {
        if let Some(phase) = self.phase {
            if !PHASES.contains(&phase.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "phase must be one of {}, not {phase:?}",
                    PHASES.join(", ")
                )));
            }
            query.columns.push(("phase", phase));
        }
        if let Some(class) = self.storage_class {
            query.columns.push(("storage_class", class));
        }
        Ok(query)
    }
}

/// `GET /api/v1/k8s/clusters/{id}/pvcs`: the cluster's live claims, every namespace's.
#[utoipa::path(get, path = "/api/v1/k8s/clusters/{id}/pvcs", tag = "inventory",
    params(("id" = String, Path, description = "Cluster id"), PageParams, PvcFilters),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cluster_pvcs(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
    ApiQuery(filters): ApiQuery<PvcFilters>,
) -> Result<Response, ApiError> {
    let cluster = own_cluster(&state, &who, &id).await?;
    let query = params.inventory(ObjectKind::PersistentVolumeClaim, Some(cluster))?;
    let query = filters.narrow(query)?;
    page(&state, &who, query, params.format, "pvcs").await
}

/// `GET /api/v1/k8s/namespaces/{id}/pvcs`: the namespace's live claims.
#[utoipa::path(get, path = "/api/v1/k8s/namespaces/{id}/pvcs", tag = "inventory",
    params(("id" = String, Path, description = "Namespace uid"), PageParams, PvcFilters),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_pvcs(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
    ApiQuery(filters): ApiQuery<PvcFilters>,
) -> Result<Response, ApiError> {
    let namespace = own_object(&state, &who, ObjectKind::Namespace, &id).await?;
    let mut query = params.inventory(
        ObjectKind::PersistentVolumeClaim,
        Some(namespace.cluster_id),
    )?;
    query.namespace = Some(namespace.name);
    let query = filters.narrow(query)?;
    page(&state, &who, query, params.format, "pvcs").await
}
