//! Inventory reads: namespaces and nodes of a cluster, deployments and pods of a namespace,
//! pods of a deployment, single deployments, Helm releases (a pod and the other workload
//! kinds are in `workloads`). Ids are Kubernetes uids;
//! every lookup is scoped to the caller's organization, so another org's id is a 404.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::ClusterId;
use serde::Deserialize;
use utoipa::IntoParams;

use super::clusters::cluster_id;
use super::costs::Format;
use super::extract::{ApiPath, ApiQuery, Principal};
use super::list_columns::{Fields, NAMESPACE_HEADER, namespace_fields, object_columns};
use super::search_export::{DownloadPage, download, download_page, download_request};
use super::views::{
    NamespaceListAnswer, NamespacePage, NamespaceView, ObjectListAnswer, ObjectPage, ObjectView,
    PageParams, last_key, standing,
};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{InventoryItem, InventoryKey, InventoryQuery, NamespaceItem, Paged, Store};
use kubeworkz_shared::ids::OrgId;

/// A cluster of the caller's organization, or 404.
pub(super) async fn own_cluster(
    state: &AppState,
    who: &Principal,
    id: &str,
) -> Result<ClusterId, ApiError> {
    let id = cluster_id(id)?;
    state
        .store
        .cluster(who.org_id, id)
        .await?
        .map(|c| c.id)
        .ok_or(ApiError::NotFound)
}

/// A live object of the caller's organization, or 404.
pub(super) async fn own_object(
    state: &AppState,
    who: &Principal,
    kind: ObjectKind,
    uid: &str,
) -> Result<InventoryItem, ApiError> {
    state
        .store
        .inventory_item(who.org_id, kind, uid)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A page of `query`, or with `format` every row as a download named `name`.
pub(super) async fn page(
    state: &AppState,
    who: &Principal,
    query: InventoryQuery,
    format: Option<Format>,
    name: &str,
) -> Result<Response, ApiError> {
    if let Some(format) = format {
        return Ok(list_download(state, who, query, format, name));
    }
    let paged = state.store.inventory_page(who.org_id, &query).await?;
    Ok(Json(object_page(paged, &query)).into_response())
}

/// The API's page of `paged`, a page of `query`, with its keyset cursor.
fn object_page(paged: Paged<InventoryItem>, query: &InventoryQuery) -> ObjectPage {
    let key = last_key(&paged.items);
    let page = standing(query.page, query.from_end, paged.total, paged.items.len());
    ObjectPage::new(paged, page, ObjectView::from).keyed(key, query.sort.key())
}

/// Every object `query` selects (all pages, by keyset) as a CSV (the columns of the kind's
/// table) or JSON download.
fn list_download(
    state: &AppState,
    who: &Principal,
    query: InventoryQuery,
    format: Format,
    name: &str,
) -> Response {
    let columns = object_columns(query.kind);
    inventory_download(
        state,
        who,
        query,
        (format, name),
        columns,
        |store, org, q| async move {
            let page = store.inventory_page(org, &q).await?;
            Ok(download_page(
                page.items,
                InventoryItem::key,
                ObjectView::from,
            ))
        },
    )
}

/// Every namespace of `cluster` that `query` selects, with its counts, as a download.
fn namespace_download(
    state: &AppState,
    who: &Principal,
    cluster: ClusterId,
    query: InventoryQuery,
    format: Format,
) -> Response {
    let columns = (NAMESPACE_HEADER, namespace_fields as Fields<NamespaceView>);
    let file = (format, "namespaces");
    inventory_download(
        state,
        who,
        query,
        file,
        columns,
        move |store, org, q| async move {
            let page = store.namespace_list(org, cluster, &q).await?;
            let view = |n: NamespaceItem| NamespaceView::new(n.item, n.counts);
            Ok(download_page(page.items, |n| n.item.key(), view))
        },
    )
}

/// The pages of `query` that `read` returns, one after another from the start, as a
/// download: `file` is its format and name, `columns` its CSV header and row writer.
fn inventory_download<V, Fut>(
    state: &AppState,
    who: &Principal,
    query: InventoryQuery,
    (format, name): (Format, &str),
    (header, fields): (&'static str, Fields<V>),
    read: impl Fn(Store, OrgId, InventoryQuery) -> Fut + Send + Sync + 'static,
) -> Response
where
    V: serde::Serialize + Send + 'static,
    Fut: std::future::Future<Output = DownloadPage<V, InventoryKey>> + Send + 'static,
{
    let (store, org) = (state.store.clone(), who.org_id);
    download(format, name, header, fields, move |after| {
        let query = InventoryQuery {
            after,
            page: download_request(),
            ..query.clone()
        };
        read(store.clone(), org, query)
    })
}

/// `GET /api/v1/k8s/clusters/{id}/namespaces`: each with its live deployment and pod counts
/// (counted in the page's own statement).
#[utoipa::path(get, path = "/api/v1/k8s/clusters/{id}/namespaces", tag = "inventory",
    params(("id" = String, Path, description = "Cluster id"), PageParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((NamespaceListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cluster_namespaces(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    let cluster = cluster_id(&id)?;
    let query = params.inventory(ObjectKind::Namespace, Some(cluster))?;
    if let Some(format) = params.format {
        own_cluster(&state, &who, &id).await?;
        return Ok(namespace_download(&state, &who, cluster, query, format));
    }
    let paged = state
        .store
        .namespace_list(who.org_id, cluster, &query)
        .await?;
    let paged = of_own_cluster(&state, &who, &id, paged).await?;
    let key = last_key(
        &paged
            .items
            .iter()
            .map(|n| n.item.clone())
            .collect::<Vec<_>>(),
    );
    let page = standing(query.page, query.from_end, paged.total, paged.items.len());
    let page = NamespacePage::new(paged, page, |n| NamespaceView::new(n.item, n.counts));
    Ok(Json(page.keyed(key, query.sort.key())).into_response())
}

/// `GET /api/v1/k8s/clusters/{id}/nodes`.
#[utoipa::path(get, path = "/api/v1/k8s/clusters/{id}/nodes", tag = "inventory",
    params(("id" = String, Path, description = "Cluster id"), PageParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cluster_nodes(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    let q = params.inventory(ObjectKind::Node, Some(cluster_id(&id)?))?;
    if let Some(format) = params.format {
        own_cluster(&state, &who, &id).await?;
        return Ok(list_download(&state, &who, q, format, "nodes"));
    }
    let paged = state.store.inventory_page(who.org_id, &q).await?;
    let paged = of_own_cluster(&state, &who, &id, paged).await?;
    Ok(Json(object_page(paged, &q)).into_response())
}

/// A page of one cluster's objects, read without looking the cluster up first: rows of the
/// caller's organization already prove the cluster is theirs, so only an empty page must
/// tell "no such cluster" (404) from "nothing in it".
async fn of_own_cluster<T>(
    state: &AppState,
    who: &Principal,
    id: &str,
    paged: Paged<T>,
) -> Result<Paged<T>, ApiError> {
    if paged.items.is_empty() {
        own_cluster(state, who, id).await?;
    }
    Ok(paged)
}

async fn namespace_list(
    state: AppState,
    who: Principal,
    id: String,
    params: PageParams,
    kind: ObjectKind,
) -> Result<Response, ApiError> {
    let namespace = own_object(&state, &who, ObjectKind::Namespace, &id).await?;
    let mut q = params.inventory(kind, Some(namespace.cluster_id))?;
    q.namespace = Some(namespace.name);
    let name = if kind == ObjectKind::Pod {
        "pods"
    } else {
        "deployments"
    };
    page(&state, &who, q, params.format, name).await
}

/// `GET /api/v1/k8s/namespaces/{id}/deployments`.
#[utoipa::path(get, path = "/api/v1/k8s/namespaces/{id}/deployments", tag = "inventory",
    params(("id" = String, Path, description = "Namespace uid"), PageParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_deployments(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    namespace_list(state, who, id, params, ObjectKind::Deployment).await
}

/// `GET /api/v1/k8s/namespaces/{id}/pods`.
#[utoipa::path(get, path = "/api/v1/k8s/namespaces/{id}/pods", tag = "inventory",
    params(("id" = String, Path, description = "Namespace uid"), PageParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_pods(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    namespace_list(state, who, id, params, ObjectKind::Pod).await
}

/// `GET /api/v1/k8s/deployments/{id}/pods`: pods whose controlling ReplicaSet belongs to
/// the deployment.
#[utoipa::path(get, path = "/api/v1/k8s/deployments/{id}/pods", tag = "inventory",
    params(("id" = String, Path, description = "Deployment uid"), PageParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn deployment_pods(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    let deployment = own_object(&state, &who, ObjectKind::Deployment, &id).await?;
    let mut q = params.inventory(ObjectKind::Pod, Some(deployment.cluster_id))?;
    q.namespace = Some(deployment.namespace);
    q.owner = Some((ObjectKind::Deployment, deployment.name));
    page(&state, &who, q, params.format, "pods").await
}

/// `GET /api/v1/k8s/deployments/{id}`.
#[utoipa::path(get, path = "/api/v1/k8s/deployments/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Deployment uid")),
    responses((status = 200, body = ObjectView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn deployment(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ObjectView>, ApiError> {
    Ok(Json(
        own_object(&state, &who, ObjectKind::Deployment, &id)
            .await?
            .into(),
    ))
}

/// Filters of the Helm release list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HelmParams {
    /// Cluster id.
    pub cluster: Option<String>,
    /// Namespace name.
    pub namespace: Option<String>,
    /// Release status, e.g. `Deployed`, `Failed`, `PendingUpgrade`.
    pub status: Option<String>,
    /// Chart name.
    pub chart: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// The `next_cursor` of the previous page (instead of `offset`).
    pub cursor: Option<String>,
    /// `name` (default) or `-name`.
    pub sort: Option<String>,
    /// Case-insensitive text in the name.
    pub q: Option<String>,
    /// `csv` or `json`: every row (all pages, the filters applied) as a download.
    pub format: Option<Format>,
    /// `true`: the list's last page, read from the end by keyset.
    pub last: Option<bool>,
}

/// `GET /api/v1/k8s/helm/releases`: live releases across the organization's clusters.
#[utoipa::path(get, path = "/api/v1/k8s/helm/releases", tag = "inventory", params(HelmParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn helm_releases(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<HelmParams>,
) -> Result<Response, ApiError> {
    let cluster = match &params.cluster {
        Some(id) => Some(own_cluster(&state, &who, id).await?),
        None => None,
    };
    let mut columns = Vec::new();
    if let Some(status) = params.status {
        columns.push(("status", status));
    }
    if let Some(chart) = params.chart {
        columns.push(("chart_name", chart));
    }
    let mut q = PageParams {
        limit: params.limit,
        offset: params.offset,
        cursor: params.cursor,
        sort: params.sort,
        q: params.q,
        format: None,
        last: params.last,
    }
    .inventory(ObjectKind::HelmRelease, cluster)?;
    q.namespace = params.namespace;
    q.columns = columns;
    page(&state, &who, q, params.format, "helm-releases").await
}
