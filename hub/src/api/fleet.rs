//! `GET /api/v1/k8s/fleet`: the organization's clusters grouped by environment, provider or
//! tag, with roll-up health, counts and month-to-date cost, for a fleet view that stays one
//! request at thousands of clusters.

use axum::Json;
use axum::extract::State;
use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiQuery, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{FleetGroup, FleetGrouping};

/// How to group.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FleetParams {
    /// `environment` (default), `provider` or `tag`.
    pub by: Option<String>,
}

/// One group of clusters.
#[derive(Debug, Serialize, ToSchema)]
pub struct FleetGroupView {
    /// The environment, provider or tag; `""` for clusters without one (shown as "none").
    pub key: String,
    /// Clusters in the group (a cluster with several tags is in each tag's group).
    pub clusters: u64,
    /// Judged healthy.
    pub healthy: u64,
    /// Judged degraded.
    pub degraded: u64,
    /// Judged critical.
    pub critical: u64,
    /// Never judged.
    pub unknown: u64,
    /// Live nodes.
    pub nodes: u64,
    /// Live pods.
    pub pods: u64,
    /// Cost since the first of this month (UTC), in dollars, from the daily roll-ups.
    pub cost_month_to_date: f64,
}

/// The fleet, grouped.
#[derive(Debug, Serialize, ToSchema)]
pub struct FleetView {
    /// Groups, by key.
    pub groups: Vec<FleetGroupView>,
}

impl From<FleetGroup> for FleetGroupView {
    fn from(g: FleetGroup) -> Self {
        Self {
            key: g.key,
            clusters: g.clusters,
            healthy: g.healthy,
            degraded: g.degraded,
            critical: g.critical,
            unknown: g.unknown,
            nodes: g.nodes,
            pods: g.pods,
            // Presentation only: the store keeps exact nano-dollars.
            cost_month_to_date: g.cost_nanos as f64 / 1e9,
        }
    }
}

/// `GET /api/v1/k8s/fleet`.
#[utoipa::path(get, path = "/api/v1/k8s/fleet", tag = "clusters", params(FleetParams),
    responses((status = 200, body = FleetView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(super) async fn fleet(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<FleetParams>,
) -> Result<Json<FleetView>, ApiError> {
    let by = match params.by.as_deref().unwrap_or("environment") {
        "environment" => FleetGrouping::Environment,
        "provider" => FleetGrouping::Provider,
        "tag" => FleetGrouping::Tag,
        other => {
            return Err(ApiError::BadRequest(format!(
                "cannot group by {other:?}: use environment, provider or tag"
            )));
        }
    };
    let now = Utc::now();
    let month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let groups = state.store.fleet(who.org_id, by, month).await?;
    Ok(Json(FleetView {
        groups: groups.into_iter().map(FleetGroupView::from).collect(),
    }))
}
