//! Workloads: Deployments, StatefulSets, DaemonSets, Jobs and CronJobs — lists per cluster and
//! per namespace, one workload by uid, its pods (through the owner chain: a CronJob's pods
//! are its Jobs' pods), a CronJob's Jobs, and a pod with its top owner.
//!
//! The kind is a path segment (`statefulsets`, …) so that every kind has the same five
//! answers; an unknown kind names nothing and is a 404, like an unknown id. ReplicaSets are
//! collected only to resolve owners and have no list.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::model::PodProjection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery, Principal};
use super::inventory::{own_cluster, own_object, page};
use super::views::{ObjectListAnswer, ObjectView, PageParams};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{InventoryQuery, TopOwner};

/// A workload kind as the API's paths name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployments,
    /// apps/v1 StatefulSet.
    StatefulSets,
    /// apps/v1 DaemonSet.
    DaemonSets,
    /// batch/v1 Job.
    Jobs,
    /// batch/v1 CronJob.
    CronJobs,
}

impl WorkloadKind {
    fn object_kind(self) -> ObjectKind {
        match self {
            Self::Deployments => ObjectKind::Deployment,
            Self::StatefulSets => ObjectKind::StatefulSet,
            Self::DaemonSets => ObjectKind::DaemonSet,
            Self::Jobs => ObjectKind::Job,
            Self::CronJobs => ObjectKind::CronJob,
        }
    }

    /// The name of a download of this kind's list.
    fn file(self) -> &'static str {
        match self {
            Self::Deployments => "deployments",
            Self::StatefulSets => "statefulsets",
            Self::DaemonSets => "daemonsets",
            Self::Jobs => "jobs",
            Self::CronJobs => "cronjobs",
        }
    }
}

/// The states a Job can be in, as the API spells them.
const JOB_STATES: [&str; 4] = ["Running", "Complete", "Failed", "Suspended"];

/// Filters of a workload list, besides the name filter every list has.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkloadFilters {
    /// Jobs only: only Jobs in this state, `Running`, `Complete`, `Failed` or `Suspended`.
    pub status: Option<String>,
    /// Jobs only: only the Jobs this CronJob (name) started.
    pub cronjob: Option<String>,
}

impl WorkloadFilters {
    /// `query` narrowed to the filters; a filter the kind does not have, or a state no Job
    /// can be in, is a 400.
    fn narrow(
        self,
        kind: WorkloadKind,
        mut query: InventoryQuery,
    ) -> Result<InventoryQuery, ApiError> {
        if kind != WorkloadKind::Jobs && (self.status.is_some() || self.cronjob.is_some()) {
            return Err(ApiError::BadRequest(
                "status and cronjob filter only the jobs list".into(),
            ));
        }
        if let Some(status) = self.status {
            if !JOB_STATES.contains(&status.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "status must be one of {}, not {status:?}",
                    JOB_STATES.join(", ")
                )));
            }
            query.columns.push(("status", status));
        }
        if let Some(cron) = self.cronjob {
            query.columns.push(("owner_kind", "CronJob".into()));
            query.columns.push(("owner_name", cron));
        }
        Ok(query)
    }
}

/// `GET /api/v1/k8s/clusters/{id}/workloads/{kind}`: the cluster's live workloads of a kind,
/// every namespace's.
#[utoipa::path(get, path = "/api/v1/k8s/clusters/{id}/workloads/{kind}", tag = "workloads",
    params(("id" = String, Path, description = "Cluster id"),
        ("kind" = WorkloadKind, Path, description = "Workload kind"), PageParams, WorkloadFilters),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cluster_workloads(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((id, kind)): ApiPath<(String, WorkloadKind)>,
    ApiQuery(params): ApiQuery<PageParams>,
    ApiQuery(filters): ApiQuery<WorkloadFilters>,
) -> Result<Response, ApiError> {
    let cluster = own_cluster(&state, &who, &id).await?;
    let query = params.inventory(kind.object_kind(), Some(cluster))?;
    let query = filters.narrow(kind, query)?;
    page(&state, &who, query, params.format, kind.file()).await
}

/// `GET /api/v1/k8s/namespaces/{id}/workloads/{kind}`: the namespace's live workloads of a
/// kind.
#[utoipa::path(get, path = "/api/v1/k8s/namespaces/{id}/workloads/{kind}", tag = "workloads",
    params(("id" = String, Path, description = "Namespace uid"),
        ("kind" = WorkloadKind, Path, description = "Workload kind"), PageParams, WorkloadFilters),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_workloads(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((id, kind)): ApiPath<(String, WorkloadKind)>,
    ApiQuery(params): ApiQuery<PageParams>,
    ApiQuery(filters): ApiQuery<WorkloadFilters>,
) -> Result<Response, ApiError> {
    let namespace = own_object(&state, &who, ObjectKind::Namespace, &id).await?;
    let mut query = params.inventory(kind.object_kind(), Some(namespace.cluster_id))?;
    query.namespace = Some(namespace.name);
    let query = filters.narrow(kind, query)?;
    page(&state, &who, query, params.format, kind.file()).await
}

/// `GET /api/v1/k8s/workloads/{kind}/{id}`: one workload with its status (`data` holds the
/// kind's counts: ready/desired, a Job's succeeded/failed/active, a CronJob's last schedule).
#[utoipa::path(get, path = "/api/v1/k8s/workloads/{kind}/{id}", tag = "workloads",
    params(("kind" = WorkloadKind, Path, description = "Workload kind"),
        ("id" = String, Path, description = "Workload uid")),
    responses((status = 200, body = ObjectView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn workload(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((kind, id)): ApiPath<(WorkloadKind, String)>,
) -> Result<Json<ObjectView>, ApiError> {
    let item = own_object(&state, &who, kind.object_kind(), &id).await?;
    Ok(Json(item.into()))
}

/// `GET /api/v1/k8s/workloads/{kind}/{id}/pods`: the live pods whose top owner is the
/// workload (a Deployment's through its ReplicaSets, a CronJob's through its Jobs).
#[utoipa::path(get, path = "/api/v1/k8s/workloads/{kind}/{id}/pods", tag = "workloads",
    params(("kind" = WorkloadKind, Path, description = "Workload kind"),
        ("id" = String, Path, description = "Workload uid"), PageParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn workload_pods(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((kind, id)): ApiPath<(WorkloadKind, String)>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    let workload = own_object(&state, &who, kind.object_kind(), &id).await?;
    let mut query = params.inventory(ObjectKind::Pod, Some(workload.cluster_id))?;
    query.namespace = Some(workload.namespace);
    query.owner = Some((kind.object_kind(), workload.name));
    page(&state, &who, query, params.format, "pods").await
}

/// `GET /api/v1/k8s/workloads/cronjobs/{id}/jobs`: the live Jobs a CronJob started (other
/// kinds have no Jobs: 404).
#[utoipa::path(get, path = "/api/v1/k8s/workloads/{kind}/{id}/jobs", tag = "workloads",
    params(("kind" = WorkloadKind, Path, description = "`cronjobs`"),
        ("id" = String, Path, description = "CronJob uid"), PageParams),
    responses((status = 200, description = "A page, or with `format` every row",
        content((ObjectListAnswer = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cronjob_jobs(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((kind, id)): ApiPath<(WorkloadKind, String)>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    if kind != WorkloadKind::CronJobs {
        return Err(ApiError::NotFound);
    }
    let cron = own_object(&state, &who, ObjectKind::CronJob, &id).await?;
    let mut query = params.inventory(ObjectKind::Job, Some(cron.cluster_id))?;
    query.namespace = Some(cron.namespace);
    query.columns = vec![("owner_kind", "CronJob".into()), ("owner_name", cron.name)];
    page(&state, &who, query, params.format, "jobs").await
}

/// The workload a pod belongs to, at the end of its owner chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopOwnerView {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, a bare `ReplicaSet`,
    /// `Node` (static pods) or an operator's kind as written.
    pub kind: String,
    /// Its name, in the pod's namespace (a node's for static pods).
    pub name: String,
    /// Its uid, the id of its page, when the hub collects the kind and holds it; null
    /// otherwise.
    pub id: Option<String>,
}

impl From<TopOwner> for TopOwnerView {
    fn from(owner: TopOwner) -> Self {
        Self {
            kind: owner.kind,
            name: owner.name,
            id: owner.uid,
        }
    }
}

/// A pod as collected, with the workload it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct PodView {
    /// The pod itself.
    #[serde(flatten)]
    pub object: ObjectView,
    /// Its top owner: a ReplicaSet's Deployment, a Job's CronJob, else its controller;
    /// null for a bare pod.
    pub top_owner: Option<TopOwnerView>,
}

/// `GET /api/v1/k8s/pods/{id}`: a pod with its top owner.
#[utoipa::path(get, path = "/api/v1/k8s/pods/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Pod uid")),
    responses((status = 200, body = PodView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn pod(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PodView>, ApiError> {
    let item = own_object(&state, &who, ObjectKind::Pod, &id).await?;
    // The owner is in the projection only; a row that does not parse has none to resolve.
    let owner = serde_json::from_str::<PodProjection>(&item.data)
        .ok()
        .and_then(|p| p.owner);
    let top_owner = state
        .store
        .top_owner(who.org_id, item.cluster_id, &item.namespace, owner.as_ref())
        .await?;
    Ok(Json(PodView {
        object: item.into(),
        top_owner: top_owner.map(TopOwnerView::from),
    }))
}
