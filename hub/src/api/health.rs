//! Liveness and readiness probes.
//!
//! `/healthz` says the process serves requests (a restart would not help otherwise);
//! `/readyz` also checks the database, so a load balancer stops sending traffic to a hub
//! whose store is gone without the orchestrator killing it.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::pull::supervisor::PULL_LEASES;
use crate::state::AppState;

/// What `/healthz` answers while the process serves requests.
#[derive(Debug, Serialize, ToSchema)]
pub struct LivenessView {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// What `/readyz` answers while the database answers too.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessView {
    /// The store's backend: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: &'static str,
    /// Always `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// This process's id among the hub replicas sharing the database (`--replica-id`).
    #[schema(example = "hub-1a2b3c4d5e6f")]
    pub replica: String,
    /// How many pull-mode clusters this replica collects now (it holds their leases).
    pub pull_clusters: usize,
}

/// `GET /healthz`: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "hub", security(),
    responses((status = 200, description = "Serving", body = LivenessView)))]
pub(super) async fn healthz() -> Json<LivenessView> {
    Json(LivenessView { status: "ok" })
}

/// `GET /readyz`: the process serves requests and its database answers.
#[utoipa::path(get, path = "/readyz", tag = "hub", security(),
    responses((status = 200, description = "Ready", body = ReadinessView),
        (status = 503, body = crate::error::ErrorBody)))]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<ReadinessView>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?;
    let replica = state.settings.replica_id.clone();
    let pull_clusters = state
        .store
        .held_leases(PULL_LEASES)
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?
        .iter()
        .filter(|lease| lease.holder == replica)
        .count();
    Ok(Json(ReadinessView {
        database: state.store.backend().as_str(),
        status: "ready",
        replica,
        pull_clusters,
    }))
}
