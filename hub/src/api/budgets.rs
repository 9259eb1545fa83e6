//! `/api/v1/budgets` and `/api/v1/alert-settings`: monthly budgets per namespace, team, cost
//! center or cluster, each shown with its month so far (actual and run-rate forecast), and
//! the organization's anomaly rule. Everyone reads; admins change, and every change is
//! audited with what it changed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::ClusterId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::record_detail;
use super::context::RequestContext;
use super::extract::{Admin, ApiJson, ApiPath, Principal};
use crate::alerts::{AnomalyRule, BudgetStatus, budget_statuses};
use crate::cost::NanoDollars;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{Budget, BudgetScope};

/// An amount of money: decimal dollars as a string (`"1500.25"`) or a JSON number (the API
/// document names it a string).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Amount {
    /// `"1500.25"`, at most 9 decimals.
    Text(String),
    /// `1500.25`.
    Number(serde_json::Number),
}

impl Amount {
    /// The exact amount (a number is read from its decimal text, never through a float).
    fn nanos(&self) -> Result<NanoDollars, ApiError> {
        let text = match self {
            Amount::Text(t) => t.clone(),
            Amount::Number(n) => n.to_string(),
        };
        text.parse::<NanoDollars>()
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }
}

/// A budget as created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetInput {
    /// Unique in the organization, 1 to 100 characters.
    pub name: String,
    /// `namespace`, `team`, `cost_center` or `cluster`.
    pub scope: String,
    /// The namespace name (in every cluster), team, cost center, or cluster id.
    pub scope_key: String,
    /// Dollars per calendar month (UTC), above zero: `"1500.25"` or `1500.25`.
    #[schema(value_type = String)]
    pub amount: Amount,
}

/// A budget with its month so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `namespace`, `team`, `cost_center` or `cluster`.
    pub scope: String,
    /// What the scope names.
    pub scope_key: String,
    /// Dollars per month (exact decimal).
    pub amount: String,
    /// The same in nano-dollars.
    pub amount_nanos: u64,
    /// The month shown.
    pub month_start: DateTime<Utc>,
    /// Spent in the computed hours of the month (exact decimal dollars).
    pub actual: String,
    /// The same in nano-dollars.
    pub actual_nanos: u64,
    /// The month-end forecast from the run-rate (exact decimal dollars).
    pub forecast: String,
    /// The same in nano-dollars.
    pub forecast_nanos: u64,
    /// Hours of the month computed.
    pub elapsed_hours: u64,
    /// Hours in the month.
    pub month_hours: u64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<BudgetStatus> for BudgetView {
    fn from(s: BudgetStatus) -> Self {
        let b = s.budget;
        Self {
            id: b.id,
            name: b.name,
            scope: b.scope.as_str().into(),
            scope_key: b.scope_key,
            amount: b.amount.to_string(),
            amount_nanos: b.amount.0,
            month_start: s.month_start,
            actual: s.forecast.actual.to_string(),
            actual_nanos: s.forecast.actual.0,
            forecast: s.forecast.forecast.to_string(),
            forecast_nanos: s.forecast.forecast.0,
            elapsed_hours: s.forecast.elapsed_hours,
            month_hours: s.forecast.month_hours,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// The organization's budgets.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetList {
    /// By name.
    pub items: Vec<BudgetView>,
}

/// The organization's anomaly rule.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSettingsView {
    /// An hour is an anomaly above this multiple of its baseline (above 1, at most 1000;
    /// three decimals kept).
    pub anomaly_factor: f64,
    /// ... and only when it costs at least this many dollars.
    #[schema(value_type = String)]
    pub anomaly_min_cost: Amount,
}

/// A budget's or a webhook's name, trimmed: 1 to 100 characters.
pub(super) fn checked_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "name must have 1 to 100 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Checks `input` and makes it the budget `id` of the caller's organization.
async fn budget_from(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    input: BudgetInput,
    created_at: DateTime<Utc>,
) -> Result<Budget, ApiError> {
    let name = checked_name(&input.name)?;
    let scope = BudgetScope::parse(&input.scope).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "scope must be namespace, team, cost_center or cluster, not {:?}",
            input.scope
        ))
    })?;
    let key = input.scope_key.trim().to_owned();
    if key.is_empty() || key.len() > 253 {
        return Err(ApiError::BadRequest(
            "scope_key must have 1 to 253 characters".into(),
        ));
    }
    if scope == BudgetScope::Cluster {
        let cluster = Uuid::parse_str(&key)
            .map_err(|_| ApiError::BadRequest("scope_key of a cluster budget is its id".into()))?;
        if state
            .store
            .cluster(who.org_id, ClusterId::from_uuid(cluster))
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "no cluster {key} in this organization"
            )));
        }
    }
    let amount = input.amount.nanos()?;
    if amount == NanoDollars::ZERO {
        return Err(ApiError::BadRequest("amount must be above zero".into()));
    }
    Ok(Budget {
        id,
        org_id: who.org_id,
        name,
        scope,
        scope_key: key,
        amount,
        created_at,
        updated_at: Utc::now(),
    })
}

/// The budget `id` with its month, as shown.
async fn view_of(state: &AppState, who: &Principal, id: Uuid) -> Result<BudgetView, ApiError> {
    budget_statuses(&state.store, who.org_id, Utc::now())
        .await?
        .into_iter()
        .find(|s| s.budget.id == id)
        .map(BudgetView::from)
        .ok_or(ApiError::NotFound)
}

fn describe(b: &Budget) -> String {
    format!(
        "{:?}: {} {} at ${} a month",
        b.name,
        b.scope.as_str(),
        b.scope_key,
        b.amount
    )
}

/// Audits an admin's change of a budget or the settings with `detail`, passing `result` on.
async fn audit<T>(
    state: &AppState,
    who: &Principal,
    ctx: &RequestContext,
    (action, target): (&str, &str),
    result: Result<(T, Option<String>), ApiError>,
) -> Result<T, ApiError> {
    let (outcome, detail) = match &result {
        Ok((_, detail)) => ("success".to_owned(), detail.clone()),
        Err(e) => (format!("failure: {}", e.status_and_code().1), None),
    };
    record_detail(
        state,
        who.org_id,
        &who.actor,
        ctx,
        (action, target),
        outcome,
        detail,
    )
    .await;
    result.map(|(value, _)| value)
}

/// `GET /api/v1/budgets`: every budget with its month so far (every role).
#[utoipa::path(get, path = "/api/v1/budgets", tag = "alerts",
    responses((status = 200, body = BudgetList), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Json<BudgetList>, ApiError> {
    let statuses = budget_statuses(&state.store, who.org_id, Utc::now()).await?;
    Ok(Json(BudgetList {
        items: statuses.into_iter().map(BudgetView::from).collect(),
    }))
}

/// `POST /api/v1/budgets` (admin).
#[utoipa::path(post, path = "/api/v1/budgets", tag = "alerts", request_body = BudgetInput,
    responses((status = 201, body = BudgetView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    body: Result<ApiJson<BudgetInput>, ApiError>,
) -> Result<(StatusCode, Json<BudgetView>), ApiError> {
    let id = Uuid::now_v7();
    let result = async {
        let ApiJson(body) = body?;
        let budget = budget_from(&state, &who, id, body, Utc::now()).await?;
        state.store.create_budget(&budget).await?;
        let view = view_of(&state, &who, id).await?;
        Ok(((StatusCode::CREATED, Json(view)), Some(describe(&budget))))
    }
    .await;
    let target = format!("budget:{id}");
    audit(&state, &who, &ctx, ("budget.create", &target), result).await
}

/// `PUT /api/v1/budgets/{id}` (admin): replaces name, scope and amount.
#[utoipa::path(put, path = "/api/v1/budgets/{id}", tag = "alerts", request_body = BudgetInput,
    params(("id" = String, Path, description = "Budget id")),
    responses((status = 200, body = BudgetView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<BudgetInput>, ApiError>,
) -> Result<Json<BudgetView>, ApiError> {
    let target = format!("budget:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let ApiJson(body) = body?;
        let before = state
            .store
            .budget(who.org_id, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let budget = budget_from(&state, &who, id, body, before.created_at).await?;
        if !state.store.update_budget(&budget).await? {
            return Err(ApiError::NotFound);
        }
        let detail = format!("{} -> {}", describe(&before), describe(&budget));
        Ok((Json(view_of(&state, &who, id).await?), Some(detail)))
    }
    .await;
    audit(&state, &who, &ctx, ("budget.update", &target), result).await
}

/// `DELETE /api/v1/budgets/{id}` (admin): its alerts stay in the history.
#[utoipa::path(delete, path = "/api/v1/budgets/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Budget id")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = format!("budget:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let before = state
            .store
            .budget(who.org_id, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if !state.store.delete_budget(who.org_id, id).await? {
            return Err(ApiError::NotFound);
        }
        Ok((StatusCode::NO_CONTENT, Some(describe(&before))))
    }
    .await;
    audit(&state, &who, &ctx, ("budget.delete", &target), result).await
}

fn settings_view(rule: &AnomalyRule) -> AlertSettingsView {
    AlertSettingsView {
        anomaly_factor: rule.factor_milli as f64 / 1000.0,
        anomaly_min_cost: Amount::Text(rule.min_cost.to_string()),
    }
}

/// `GET /api/v1/alert-settings`: the anomaly rule (every role).
#[utoipa::path(get, path = "/api/v1/alert-settings", tag = "alerts",
    responses((status = 200, body = AlertSettingsView), (status = 401, body = ErrorBody)))]
pub(super) async fn settings(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Json<AlertSettingsView>, ApiError> {
    let rule = state.store.anomaly_rule(who.org_id).await?;
    Ok(Json(settings_view(&rule)))
}

/// `PUT /api/v1/alert-settings` (admin).
#[utoipa::path(put, path = "/api/v1/alert-settings", tag = "alerts",
    request_body = AlertSettingsView,
    responses((status = 200, body = AlertSettingsView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn set_settings(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    body: Result<ApiJson<AlertSettingsView>, ApiError>,
) -> Result<Json<AlertSettingsView>, ApiError> {
    let result = async {
        let ApiJson(body) = body?;
        let factor = body.anomaly_factor;
        if factor.is_nan() || factor <= 1.0 || factor > 1000.0 {
            return Err(ApiError::BadRequest(
                "anomaly_factor must be above 1 and at most 1000".into(),
            ));
        }
        let rule = AnomalyRule {
            factor_milli: (factor * 1000.0).round() as u64,
            min_cost: body.anomaly_min_cost.nanos()?,
        };
        if rule.factor_milli <= 1000 {
            return Err(ApiError::BadRequest(
                "anomaly_factor must be above 1".into(),
            ));
        }
        let before = state.store.anomaly_rule(who.org_id).await?;
        state
            .store
            .set_anomaly_rule(who.org_id, &rule, Utc::now())
            .await?;
        let detail = format!(
            "anomaly factor {} -> {}, minimum ${} -> ${}",
            before.factor_milli as f64 / 1000.0,
            rule.factor_milli as f64 / 1000.0,
            before.min_cost,
            rule.min_cost
        );
        Ok((Json(settings_view(&rule)), Some(detail)))
    }
    .await;
    audit(
        &state,
        &who,
        &ctx,
        ("alert_settings.update", "organization"),
        result,
    )
    .await
}
