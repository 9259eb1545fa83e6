//! A namespace's bounds and health: its ResourceQuotas (each resource's used against hard,
//! with how full it is) and LimitRanges, and the namespace's own health reasons — failing
//! pods and exhausted quotas, judged by the rules the cluster's verdict uses.
//!
//! Both answers are whole, not paged: a namespace has a handful of quotas and limit ranges.
//! Amounts are written as people read them (`4`, `500m`, `8Gi`); exact thousandths stay in
//! the store, since JSON numbers lose precision past 2^53 and the page needs only the share.

use axum::Json;
use axum::extract::State;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::model::health::failing::group_failing;
use kubeworkz_shared::model::health::quota::{EXHAUSTED_PERCENT, NEARLY_EXHAUSTED_PERCENT};
use kubeworkz_shared::model::health::{ExhaustedQuota, ExhaustedQuotas};
use kubeworkz_shared::model::{
    HealthReport, LimitRangeLimit, LimitRangeProjection, QuotaResource, ResourceQuotaProjection,
    quantity_text,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{ApiPath, Principal};
use super::inventory::own_object;
use super::views::ReasonView;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How full one quota resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaLevel {
    /// Below 90 % of hard.
    Ok,
    /// At 90 % of hard or more: shown as a warning; not a health reason, since the verdict
    /// has no level below Degraded.
    Near,
    /// At or over hard: the namespace (and cluster) is Degraded.
    Exhausted,
    /// Not counted by the quota controller yet, or a hard amount of zero (forbidden outright).
    Unknown,
}

/// One resource of a quota.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaResourceView {
    /// `requests.cpu`, `pods`, `count/jobs.batch`, …
    pub resource: String,
    /// `spec.hard`, as people write it (`4`, `500m`, `8Gi`).
    pub hard: String,
    /// `status.used`, likewise; null until the quota controller has counted it.
    pub used: Option<String>,
    /// Used as a share of hard in percent, rounded down (over 100 when hard was lowered
    /// below use); null when `level` is `unknown`.
    pub percent_used: Option<u64>,
    /// How full it is.
    pub level: QuotaLevel,
}

impl From<&QuotaResource> for QuotaResourceView {
    fn from(r: &QuotaResource) -> Self {
        let percent_used = r.percent_used();
        let level = match percent_used {
            None => QuotaLevel::Unknown,
            Some(p) if p >= EXHAUSTED_PERCENT => QuotaLevel::Exhausted,
            Some(p) if p >= NEARLY_EXHAUSTED_PERCENT => QuotaLevel::Near,
            Some(_) => QuotaLevel::Ok,
        };
        Self {
            resource: r.resource.clone(),
            hard: quantity_text(&r.resource, r.hard_milli),
            used: r.used_milli.map(|u| quantity_text(&r.resource, u)),
            percent_used,
            level,
        }
    }
}

/// A ResourceQuota.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaView {
    /// Its uid.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Which objects it counts, in words (`NotTerminating`, `PriorityClass In high`); empty:
    /// everything in the namespace.
    pub scopes: Vec<String>,
    /// Each limited resource, by name.
    pub resources: Vec<QuotaResourceView>,
}

impl From<&ResourceQuotaProjection> for QuotaView {
    fn from(q: &ResourceQuotaProjection) -> Self {
        Self {
            id: q.uid.clone(),
            name: q.name.clone(),
            scopes: q.scopes.clone(),
            resources: q.resources.iter().map(QuotaResourceView::from).collect(),
        }
    }
}

/// One (type, resource) row of a LimitRange; every amount as people write it, null when the
/// range does not set it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitView {
    /// `Container`, `Pod` or `PersistentVolumeClaim`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `cpu`, `memory`, `storage`, …
    pub resource: String,
    /// The limit a container gets when it sets none.
    pub default: Option<String>,
    /// The request a container gets when it sets none.
    pub default_request: Option<String>,
    /// The least allowed.
    pub min: Option<String>,
    /// The most allowed.
    pub max: Option<String>,
    /// The largest limit-to-request ratio allowed (`4`, `1500m` for 1.5).
    pub max_limit_request_ratio: Option<String>,
}

impl From<&LimitRangeLimit> for LimitView {
    fn from(l: &LimitRangeLimit) -> Self {
        let text = |milli: Option<u64>| milli.map(|m| quantity_text(&l.resource, m));
        Self {
            type_: l.type_.clone(),
            resource: l.resource.clone(),
            default: text(l.default_milli),
            default_request: text(l.default_request_milli),
            min: text(l.min_milli),
            max: text(l.max_milli),
            // A ratio has no unit, whatever resource it bounds.
            max_limit_request_ratio: l
                .max_limit_request_ratio_milli
                .map(|m| quantity_text("", m)),
        }
    }
}

/// A LimitRange.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitRangeView {
    /// Its uid.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its rows, in the order of its items, resources by name.
    pub limits: Vec<LimitView>,
}

impl From<&LimitRangeProjection> for LimitRangeView {
    fn from(r: &LimitRangeProjection) -> Self {
        Self {
            id: r.uid.clone(),
            name: r.name.clone(),
            limits: r.limits.iter().map(LimitView::from).collect(),
        }
    }
}

/// What bounds a namespace.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceQuotasView {
    /// Its live ResourceQuotas, by name.
    pub quotas: Vec<QuotaView>,
    /// Its live LimitRanges, by name.
    pub limit_ranges: Vec<LimitRangeView>,
}

/// A namespace's own verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceHealthView {
    /// `healthy` or `degraded`.
    pub status: &'static str,
    /// Why: `pods_failing` (counted per reason, a few named) and `quotas_exhausted`.
    pub reasons: Vec<ReasonView>,
}

/// `GET /api/v1/k8s/namespaces/{id}/quotas`: the namespace's quotas and limit ranges.
#[utoipa::path(get, path = "/api/v1/k8s/namespaces/{id}/quotas", tag = "inventory",
    params(("id" = String, Path, description = "Namespace uid")),
    responses((status = 200, body = NamespaceQuotasView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_quotas(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<NamespaceQuotasView>, ApiError> {
    let namespace = own_object(&state, &who, ObjectKind::Namespace, &id).await?;
    let found = state
        .store
        .namespace_quotas(who.org_id, namespace.cluster_id, &namespace.name)
        .await?;
    Ok(Json(NamespaceQuotasView {
        quotas: found.quotas.iter().map(QuotaView::from).collect(),
        limit_ranges: found
            .limit_ranges
            .iter()
            .map(LimitRangeView::from)
            .collect(),
    }))
}

/// `GET /api/v1/k8s/namespaces/{id}/health`: the namespace's failing pods and exhausted
/// quotas as health reasons, judged now from the stored inventory.
#[utoipa::path(get, path = "/api/v1/k8s/namespaces/{id}/health", tag = "inventory",
    params(("id" = String, Path, description = "Namespace uid")),
    responses((status = 200, body = NamespaceHealthView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_health(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<NamespaceHealthView>, ApiError> {
    let namespace = own_object(&state, &who, ObjectKind::Namespace, &id).await?;
    let (org, cluster) = (who.org_id, namespace.cluster_id);
    let failing = state
        .store
        .namespace_failing_pods(org, cluster, &namespace.name)
        .await?;
    let full = state
        .store
        .namespace_quotas_full_at(org, cluster, &namespace.name, EXHAUSTED_PERCENT)
        .await?;
    let groups = group_failing(
        failing
            .iter()
            .map(|(pod, failure)| (pod.namespace.as_str(), pod.name.as_str(), *failure)),
    );
    let exhausted: Vec<ExhaustedQuota> = full.iter().filter_map(ExhaustedQuota::of).collect();
    let report = HealthReport::from_reasons(Vec::new())
        .with_failing_pods(groups)
        .with_exhausted_quotas(ExhaustedQuotas::gather(&exhausted));
    Ok(Json(NamespaceHealthView {
        status: report.status.as_str(),
        reasons: report.reasons.iter().map(ReasonView::from).collect(),
    }))
}
