//! Liveness and readiness probes.
//!
//! `/healthz` says the process serves requests (a restart would not help otherwise);
//! `/readyz` also checks the database, so a load balancer stops sending traffic to a hub
//! whose store is gone without the orchestrator killing it.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "hub", security(),
    responses((status = 200, description = "Serving", body = Object)))]
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the process serves requests and its database answers.
#[utoipa::path(get, path = "/readyz", tag = "hub", security(),
    responses((status = 200, description = "Ready", body = Object),
        (status = 503, body = crate::error::ErrorBody)))]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?;
    Ok(Json(
        json!({ "status": "ready", "database": state.store.backend().as_str() }),
    ))
}
