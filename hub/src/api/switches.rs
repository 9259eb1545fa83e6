//! `GET`/`PUT /api/v1/organization/operations`: the organization's switches over what its
//! roles may do on clusters beyond their rank (viewers' logs and events, operators'
//! terminals). Every member reads them, so the UI shows only what works; admins change them.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::record_detail;
use super::context::RequestContext;
use super::extract::{Admin, ApiJson, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{OperationSwitches, Role};

/// The organization's operation switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationSwitchesView {
    /// Viewers read pods' logs and objects' events (default true, as Kubernetes' `view`
    /// role does); operators and admins always do.
    pub viewers_read_logs: bool,
    /// Operators may open a terminal in a container (default false: admins only).
    pub operators_exec: bool,
}

impl From<OperationSwitches> for OperationSwitchesView {
    fn from(s: OperationSwitches) -> Self {
        Self {
            viewers_read_logs: s.viewers_read_logs,
            operators_exec: s.operators_exec,
        }
    }
}

impl From<OperationSwitchesView> for OperationSwitches {
    fn from(s: OperationSwitchesView) -> Self {
        Self {
            viewers_read_logs: s.viewers_read_logs,
            operators_exec: s.operators_exec,
        }
    }
}

/// `GET /api/v1/organization/operations`.
#[utoipa::path(get, path = "/api/v1/organization/operations", tag = "operations",
    responses((status = 200, body = OperationSwitchesView), (status = 401, body = ErrorBody)))]
pub(super) async fn get(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Json<OperationSwitchesView>, ApiError> {
    let switches = state.store.operation_switches(who.org_id).await?;
    Ok(Json(switches.into()))
}

/// `PUT /api/v1/organization/operations` (admin): sets both switches.
#[utoipa::path(put, path = "/api/v1/organization/operations", tag = "admin",
    request_body = OperationSwitchesView,
    responses((status = 200, body = OperationSwitchesView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn set(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    body: Result<ApiJson<OperationSwitchesView>, ApiError>,
) -> Result<Json<OperationSwitchesView>, ApiError> {
    let result = async {
        let ApiJson(body) = body?;
        let before = state.store.operation_switches(who.org_id).await?;
        state
            .store
            .set_operation_switches(who.org_id, body.into())
            .await?;
        Ok::<_, ApiError>((body, OperationSwitches::from(body).change_from(before)))
    }
    .await;
    let (outcome, detail) = match &result {
        Ok((_, change)) => ("success".to_owned(), Some(change.clone())),
        Err(err) => (format!("failure: {}", err.status_and_code().1), None),
    };
    record_detail(
        &state,
        who.org_id,
        &who.actor,
        &ctx,
        ("organization.operations", "organization"),
        outcome,
        detail,
    )
    .await;
    result.map(|(body, _)| Json(body))
}

/// Refuses a viewer when the organization turned off viewers' logs and events; operators and
/// admins always read them.
pub(super) async fn may_read_logs(state: &AppState, who: &Principal) -> Result<(), ApiError> {
    if who.role.includes(Role::Operator)
        || state
            .store
            .operation_switches(who.org_id)
            .await?
            .viewers_read_logs
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this organization lets only operators and admins read logs and events".into(),
        ))
    }
}

/// Lets admins open terminals, and operators where the organization turned
/// `operators_exec` on; refuses viewers always.
pub(super) async fn may_exec(state: &AppState, who: &Principal) -> Result<(), ApiError> {
    if who.role.includes(Role::Admin) {
        return Ok(());
    }
    if who.role.includes(Role::Operator) {
        if state
            .store
            .operation_switches(who.org_id)
            .await?
            .operators_exec
        {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "this organization lets only admins open terminals (operators_exec is off)".into(),
        ));
    }
    Err(ApiError::Forbidden(
        "opening a terminal needs the admin role, or the operator role where the organization allows it".into(),
    ))
}
