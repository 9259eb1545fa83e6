//! `/api/v1/k8s/clusters`: register (through `pull::register`, JSON or multipart), list with
//! filters, sort and pages, read, edit (including a new kubeconfig), delete, sync, health.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kubeworkz_shared::ids::ClusterId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::audit::audited;
use super::context::RequestContext;
use super::costs::Format;
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery, Principal};
use super::list_columns::{CLUSTER_HEADER, cluster_fields};
use super::search_export::{download, download_page, download_request};
use super::views::{
    ClusterListAnswer, ClusterPage, ClusterView, HealthView, PageParams, ReasonView, bad_cursor,
    keyset, standing,
};
use crate::error::{ApiError, ErrorBody};
use crate::kubeconfig::{KubeconfigError, MAX_KUBECONFIG_BYTES};
use crate::pull::supervisor::lease_name;
use crate::pull::{self, RegisterError, Registration};
use crate::state::AppState;
use crate::store::{
    ClusterKey, ClusterMode, ClusterPatch, ClusterQuery, ClusterSort, ClusterSummary, Environment,
    SortValue,
};

/// Body limit of registration: the largest kubeconfig plus room for the other fields.
pub const REGISTER_BODY_LIMIT: usize = MAX_KUBECONFIG_BYTES + 64 * 1024;

/// Registration by kubeconfig (JSON; multipart takes the same fields with the kubeconfig
/// as a file part named `kubeconfig`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCluster {
    /// Name, unique in the organization (1–63 characters).
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// `production` (default), `staging` or `development`.
    pub environment: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The kubeconfig as YAML text (stored sealed, never returned).
    pub kubeconfig: String,
    /// The context to use (default: the current context).
    pub context: Option<String>,
}

impl std::fmt::Debug for RegisterCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterCluster")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The registered cluster and what the operator should know.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    /// The cluster.
    pub cluster: ClusterView,
    /// Non-blocking remarks about the kubeconfig.
    pub warnings: Vec<String>,
}

fn environment(name: Option<&str>) -> Result<Environment, ApiError> {
    name.unwrap_or("production")
        .parse()
        .map_err(|e: crate::store::UnknownEnvironment| ApiError::Unprocessable(e.to_string()))
}

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::InvalidName => ApiError::Unprocessable(err.to_string()),
            RegisterError::Kubeconfig(KubeconfigError::TooLarge { .. }) => {
                ApiError::PayloadTooLarge(err.to_string())
            }
            RegisterError::Kubeconfig(e) => ApiError::Unprocessable(e.to_string()),
            RegisterError::Store(e) => e.into(),
        }
    }
}

async fn read_multipart(mut form: Multipart) -> Result<RegisterCluster, ApiError> {
    let mut fields = std::collections::HashMap::new();
    let mut tags = Vec::new();
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let text = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "tags" | "tag" => tags.extend(
                text.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            ),
            "name" | "description" | "environment" | "kubeconfig" | "context" => {
                fields.insert(name, text);
            }
            other => {
                return Err(ApiError::Unprocessable(format!(
                    "unknown form field {other:?}"
                )));
            }
        }
    }
    Ok(RegisterCluster {
        name: fields.remove("name").ok_or_else(|| missing("name"))?,
        description: fields.remove("description").unwrap_or_default(),
        environment: fields.remove("environment"),
        tags,
        kubeconfig: fields
            .remove("kubeconfig")
            .ok_or_else(|| missing("kubeconfig"))?,
        context: fields.remove("context").filter(|c| !c.is_empty()),
    })
}

fn missing(field: &str) -> ApiError {
    ApiError::Unprocessable(format!("missing form field {field:?}"))
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("request body is too large".into())
    } else {
        ApiError::BadRequest(err.body_text())
    }
}

/// `POST /api/v1/k8s/clusters`: register a cluster by kubeconfig (admin).
#[utoipa::path(post, path = "/api/v1/k8s/clusters", tag = "clusters",
    request_body(content(
        (RegisterCluster = "application/json"),
        (RegisterCluster = "multipart/form-data"))),
    responses((status = 201, body = Registered), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn register(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    request: Request,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let body = if is_multipart {
        let form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        read_multipart(form).await
    } else {
        ApiJson::<RegisterCluster>::from_request(request, &state)
            .await
            .map(|ApiJson(body)| body)
    };
    let target = match &body {
        Ok(b) => format!("cluster:{}", b.name),
        Err(_) => "cluster:?".to_owned(),
    };
    let result = async {
        let body = body?;
        let registration = Registration {
            org_id: who.org_id,
            name: body.name,
            description: body.description,
            environment: environment(body.environment.as_deref())?,
            tags: body.tags,
            kubeconfig: body.kubeconfig,
            context: body.context,
            created_by: Some(who.actor.clone()),
        };
        let (cluster, warnings) = pull::register(
            &state.store,
            &state.keyring,
            registration,
            &state.settings.probe,
        )
        .await?;
        let summary = own_summary(&state, &who, cluster.id).await?;
        Ok((
            StatusCode::CREATED,
            Json(Registered {
                cluster: summary.into(),
                warnings,
            }),
        ))
    }
    .await;
    audited(&state, &who, &ctx, "cluster.create", &target, result).await
}

/// Filters, order and page of the cluster list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClusterListParams {
    /// `production`, `staging` or `development`.
    pub environment: Option<String>,
    /// Detected provider, e.g. `eks`.
    pub provider: Option<String>,
    /// `healthy`, `degraded`, `critical` or `unknown`.
    pub health: Option<String>,
    /// Has this tag.
    pub tag: Option<String>,
    /// `agent` or `kubeconfig`.
    pub mode: Option<String>,
    /// Case-insensitive text in the name or description.
    pub search: Option<String>,
    /// `name` (default), `created_at`, `environment`, `health` or `last_sync`; prefix `-`
    /// for descending.
    pub sort: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// The `next_cursor` of the previous page (instead of `offset`).
    pub cursor: Option<String>,
    /// `csv` or `json`: every cluster (all pages, the filters and sort applied) as a
    /// download instead of a page.
    pub format: Option<Format>,
    /// `true`: the list's last page (`limit` clusters; `offset` and `cursor` are ignored),
    /// read from the end by keyset.
    pub last: Option<bool>,
}

impl ClusterListParams {
    fn query(self) -> Result<ClusterQuery, ApiError> {
        let bad = |m: String| ApiError::BadRequest(m);
        let environment = self
            .environment
            .map(|e| e.parse::<Environment>().map_err(|e| bad(e.to_string())))
            .transpose()?;
        let mode = match self.mode.as_deref() {
            None => None,
            Some("agent") => Some(ClusterMode::Agent),
            Some("kubeconfig") => Some(ClusterMode::Kubeconfig),
            Some(other) => {
                return Err(bad(format!(
                    "unknown mode {other:?}: use agent or kubeconfig"
                )));
            }
        };
        if let Some(h) = &self.health
            && !matches!(h.as_str(), "healthy" | "degraded" | "critical" | "unknown")
        {
            return Err(bad(format!(
                "unknown health {h:?}: use healthy, degraded, critical or unknown"
            )));
        }
        let sort_text = self.sort.as_deref().unwrap_or("name");
        let (descending, column) = match sort_text.strip_prefix('-') {
            Some(column) => (true, column),
            None => (false, sort_text),
        };
        let sort = CLUSTER_SORTS
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, sort)| *sort)
            .ok_or_else(|| {
                let names: Vec<&str> = CLUSTER_SORTS.iter().map(|(name, _)| *name).collect();
                bad(format!(
                    "cannot sort by {column:?}: use one of {} (with - first for descending)",
                    names.join(", ")
                ))
            })?;
        let after = match keyset(self.cursor.as_deref(), column)? {
            Some(key) => Some(cluster_key(sort, key)?),
            None => None,
        };
        let page = PageParams::slice(self.limit, self.offset, self.cursor).page()?;
        Ok(ClusterQuery {
            after,
            from_end: self.last == Some(true),
            environment,
            provider: self.provider,
            health: self.health,
            tag: self.tag,
            mode,
            search: self.search.filter(|s| !s.is_empty()),
            sort,
            descending,
            page,
        })
    }
}

/// The cluster list's sorts by their names in the API.
const CLUSTER_SORTS: [(&str, ClusterSort); 5] = [
    ("name", ClusterSort::Name),
    ("created_at", ClusterSort::CreatedAt),
    ("environment", ClusterSort::Environment),
    ("health", ClusterSort::Health),
    ("last_sync", ClusterSort::LastSync),
];

/// The API's name of `sort`.
fn sort_name(sort: ClusterSort) -> &'static str {
    CLUSTER_SORTS
        .iter()
        .find(|(_, s)| *s == sort)
        .map_or("name", |(name, _)| name)
}

/// A cluster's key from a cursor: the sort column's value (absent when NULL), then its id.
fn cluster_key(sort: ClusterSort, mut key: Vec<String>) -> Result<ClusterKey, ApiError> {
    let id = key.pop().ok_or_else(bad_cursor)?;
    let id = cluster_id(&id).map_err(|_| bad_cursor())?;
    let value = match key.pop() {
        Some(text) => Some(sort.value_from_text(&text).ok_or_else(bad_cursor)?),
        None => None,
    };
    if !key.is_empty() {
        return Err(bad_cursor());
    }
    Ok(ClusterKey { value, id })
}

/// The cursor key (see [`cluster_key`]) of the last cluster of a page.
fn last_cluster_key(items: &[ClusterSummary], sort: ClusterSort) -> Option<Vec<String>> {
    let key = items.last()?.key(sort);
    let mut out: Vec<String> = key.value.iter().map(SortValue::to_text).collect();
    out.push(key.id.to_string());
    Some(out)
}

/// `GET /api/v1/k8s/clusters`.
#[utoipa::path(get, path = "/api/v1/k8s/clusters", tag = "clusters", params(ClusterListParams),
    responses((status = 200, description = "A page, or with `format` every cluster",
        content((ClusterListAnswer = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<ClusterListParams>,
) -> Result<Response, ApiError> {
    let format = params.format;
    let query = params.query()?;
    if let Some(format) = format {
        return Ok(cluster_download(&state, &who, query, format));
    }
    let paged = state.store.cluster_page(who.org_id, &query).await?;
    let key = last_cluster_key(&paged.items, query.sort);
    let page = standing(query.page, query.from_end, paged.total, paged.items.len());
    let page = ClusterPage::new(paged, page, ClusterView::from);
    Ok(Json(page.keyed(key, sort_name(query.sort))).into_response())
}

/// Every cluster `query` selects (all pages, by keyset) as a CSV or JSON download.
fn cluster_download(
    state: &AppState,
    who: &Principal,
    query: ClusterQuery,
    format: Format,
) -> Response {
    let (store, org) = (state.store.clone(), who.org_id);
    download(
        format,
        "clusters",
        CLUSTER_HEADER,
        cluster_fields,
        move |after: Option<ClusterKey>| {
            let store = store.clone();
            let query = ClusterQuery {
                after,
                page: download_request(),
                ..query.clone()
            };
            async move {
                let page = store.cluster_page(org, &query).await?;
                let sort = query.sort;
                Ok(download_page(
                    page.items,
                    |s| s.key(sort),
                    ClusterView::from,
                ))
            }
        },
    )
}

/// The caller's cluster with its counts, or 404.
async fn own_summary(
    state: &AppState,
    who: &Principal,
    id: ClusterId,
) -> Result<crate::store::ClusterSummary, ApiError> {
    state
        .store
        .cluster_summary(who.org_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The caller's cluster, or 404.
async fn own(
    state: &AppState,
    who: &Principal,
    id: ClusterId,
) -> Result<crate::store::Cluster, ApiError> {
    state
        .store
        .cluster(who.org_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A path id that must be a UUID; anything else names nothing here.
pub(super) fn cluster_id(id: &str) -> Result<ClusterId, ApiError> {
    Uuid::parse_str(id)
        .map(ClusterId::from_uuid)
        .map_err(|_| ApiError::NotFound)
}

/// `GET /api/v1/k8s/clusters/{id}`.
#[utoipa::path(get, path = "/api/v1/k8s/clusters/{id}", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id")),
    responses((status = 200, body = ClusterView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClusterView>, ApiError> {
    let id = cluster_id(&id)?;
    let summary = own_summary(&state, &who, id).await?;
    let pull = summary.cluster.mode == ClusterMode::Kubeconfig;
    let mut view = ClusterView::from(summary);
    if pull {
        let held = state.store.held_leases(&lease_name(id)).await?;
        view.collected_by = held.into_iter().next().map(|lease| lease.holder);
    }
    Ok(Json(view))
}

/// Changes to a cluster; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCluster {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New environment.
    pub environment: Option<String>,
    /// New tags (replace the old ones).
    pub tags: Option<Vec<String>>,
    /// Enable or disable collection (disabling revokes an agent's certificates).
    pub enabled: Option<bool>,
    /// A new kubeconfig (pull-mode clusters only), checked like a registration.
    pub kubeconfig: Option<String>,
    /// The context of the new kubeconfig.
    pub context: Option<String>,
}

/// `PATCH /api/v1/k8s/clusters/{id}` (admin).
#[utoipa::path(patch, path = "/api/v1/k8s/clusters/{id}", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id")), request_body = UpdateCluster,
    responses((status = 200, body = ClusterView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<UpdateCluster>, ApiError>,
) -> Result<Json<ClusterView>, ApiError> {
    let target = format!("cluster:{id}");
    let result = async {
        let id = cluster_id(&id)?;
        let ApiJson(body) = body?;
        if let Some(name) = &body.name
            && (name.is_empty() || name.len() > 63)
        {
            return Err(ApiError::Unprocessable(
                "cluster name must be 1 to 63 characters".into(),
            ));
        }
        let current = own(&state, &who, id).await?;
        if let Some(yaml) = &body.kubeconfig {
            if current.mode != ClusterMode::Kubeconfig {
                return Err(ApiError::Conflict(
                    "an agent-mode cluster has no kubeconfig to replace".into(),
                ));
            }
            pull::replace_kubeconfig(
                &state.store,
                &state.keyring,
                who.org_id,
                id,
                yaml,
                body.context.as_deref(),
                &state.settings.probe,
            )
            .await?
            .ok_or(ApiError::NotFound)?;
        }
        let patch = ClusterPatch {
            name: body.name,
            description: body.description,
            environment: body
                .environment
                .as_deref()
                .map(|e| environment(Some(e)))
                .transpose()?,
            tags: body.tags,
            enabled: body.enabled,
        };
        state
            .store
            .update_cluster(who.org_id, id, &patch)
            .await?
            .ok_or(ApiError::NotFound)?;
        let summary = own_summary(&state, &who, id).await?;
        Ok(Json(summary.into()))
    }
    .await;
    audited(&state, &who, &ctx, "cluster.update", &target, result).await
}

/// `DELETE /api/v1/k8s/clusters/{id}` (admin): the cluster and everything collected from it;
/// an agent's certificates go with it, so its connection is refused from then on.
#[utoipa::path(delete, path = "/api/v1/k8s/clusters/{id}", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = format!("cluster:{id}");
    let result = async {
        let id = cluster_id(&id)?;
        let cluster = own(&state, &who, id).await?;
        if cluster.mode == ClusterMode::Agent {
            // Revoke first, so a failure in between leaves a dead certificate, not a live one.
            state
                .store
                .set_cluster_enabled(who.org_id, id, false)
                .await?;
        }
        if !state.store.delete_cluster(who.org_id, id).await? {
            return Err(ApiError::NotFound);
        }
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&state, &who, &ctx, "cluster.delete", &target, result).await
}

/// What `sync` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStarted {
    /// `resync_started` (a pull collector of this replica relists now),
    /// `resync_requested` (a pull-mode cluster collected by another replica, or by none yet:
    /// the replica collecting it relists within seconds), or `agent_resync_requested` (the
    /// replica holding the agent's connection asks it for a full sync within seconds).
    pub status: String,
}

/// `POST /api/v1/k8s/clusters/{id}/sync` (admin): an immediate full resync.
#[utoipa::path(post, path = "/api/v1/k8s/clusters/{id}/sync", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id")),
    responses((status = 202, body = SyncStarted), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn sync(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<SyncStarted>), ApiError> {
    let target = format!("cluster:{id}");
    let result = async {
        let id = cluster_id(&id)?;
        let cluster = own(&state, &who, id).await?;
        let status = match cluster.mode {
            ClusterMode::Kubeconfig if state.pull.sync_now(id) => "resync_started",
            // Recorded in the store: the replica collecting it (or holding the agent's
            // connection) delivers it within a few seconds, or at its next start.
            mode => {
                if !state.store.request_resync(who.org_id, id).await? {
                    return Err(ApiError::NotFound);
                }
                match mode {
                    ClusterMode::Kubeconfig => "resync_requested",
                    ClusterMode::Agent => "agent_resync_requested",
                }
            }
        };
        Ok((
            StatusCode::ACCEPTED,
            Json(SyncStarted {
                status: status.into(),
            }),
        ))
    }
    .await;
    audited(&state, &who, &ctx, "cluster.sync", &target, result).await
}

/// One control-plane check derived from the verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentCheck {
    /// `apiserver_ready`, `apiserver_live`, `scheduler`, `controller_manager`, `metrics`.
    pub component: String,
    /// `ok`, `failing`, or `unknown` (never judged).
    pub status: String,
}

/// A cluster's health in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterHealthView {
    /// `healthy`, `degraded`, `critical`, or `unknown` (never judged).
    pub status: String,
    /// Why.
    pub reasons: Vec<ReasonView>,
    /// When it was judged.
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Control-plane components.
    pub components: Vec<ComponentCheck>,
    /// Live nodes.
    pub nodes: u64,
    /// Ready nodes.
    pub nodes_ready: u64,
    /// Last agent heartbeat.
    pub last_heartbeat_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last successful ingest.
    pub last_sync_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last collection error.
    pub last_error: Option<String>,
}

/// `GET /api/v1/k8s/clusters/{id}/health`.
#[utoipa::path(get, path = "/api/v1/k8s/clusters/{id}/health", tag = "clusters",
    params(("id" = String, Path, description = "Cluster id")),
    responses((status = 200, body = ClusterHealthView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn health(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClusterHealthView>, ApiError> {
    let summary = own_summary(&state, &who, cluster_id(&id)?).await?;
    let cluster = summary.cluster;
    let view = cluster.health.as_ref().map(HealthView::from);
    let failing: Vec<&str> = view
        .as_ref()
        .map(|v| v.reasons.iter().map(|r| r.code).collect())
        .unwrap_or_default();
    let stale = |component| {
        cluster.health.as_ref().is_some_and(|h| {
            h.reasons.iter().any(|r| {
                matches!(r, kubeworkz_shared::model::HealthReason::StaleLease { component: c, .. } if *c == component)
            })
        })
    };
    use kubeworkz_shared::model::health::ControlPlaneComponent as C;
    let checks = [
        ("apiserver_ready", failing.contains(&"api_not_ready")),
        ("apiserver_live", failing.contains(&"api_not_live")),
        ("scheduler", stale(C::Scheduler)),
        ("controller_manager", stale(C::ControllerManager)),
        ("metrics", failing.contains(&"metrics_unavailable")),
    ];
    let components = checks
        .into_iter()
        .map(|(component, bad)| ComponentCheck {
            component: component.into(),
            status: match (&view, bad) {
                (None, _) => "unknown",
                (Some(_), true) => "failing",
                (Some(_), false) => "ok",
            }
            .into(),
        })
        .collect();
    Ok(Json(ClusterHealthView {
        status: view.as_ref().map_or("unknown", |v| v.status).to_owned(),
        checked_at: view.as_ref().map(|v| v.checked_at),
        reasons: view.map(|v| v.reasons).unwrap_or_default(),
        components,
        nodes: summary.counts.nodes,
        nodes_ready: summary.counts.nodes_ready,
        last_heartbeat_at: cluster.last_heartbeat_at,
        last_sync_at: cluster.last_sync_at,
        last_error: cluster.last_error,
    }))
}
