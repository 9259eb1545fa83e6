//! `/api/v1/alerts`: the organization's cost alerts, newest first, and each alert's webhook
//! deliveries with every attempt (every role reads).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{ApiPath, ApiQuery, Principal};
use super::views::{PageParams, bad_cursor, keyset, page_of};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{Alert, AlertFilter, AlertKind, Delivery, DeliveryAttempt};

/// One alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// Id.
    pub id: Uuid,
    /// `budget_actual`, `budget_forecast` or `anomaly`.
    pub kind: String,
    /// The budget, for budget alerts.
    pub budget_id: Option<Uuid>,
    /// `namespace`, `team`, `cost_center` or `cluster`.
    pub scope: String,
    /// The budget's key, or the anomaly's (`<cluster id>/<namespace>`, `<cluster id>`).
    pub scope_key: String,
    /// The month (budgets) or the hour (anomalies).
    pub period_start: DateTime<Utc>,
    /// 80 or 100, for budget alerts.
    pub threshold_pct: Option<u32>,
    /// The actual or forecast spend, or the hour's cost (exact decimal dollars).
    pub value: String,
    /// The same in nano-dollars.
    pub value_nanos: u64,
    /// The budget amount, or the anomaly's baseline (exact decimal dollars).
    pub reference: String,
    /// The same in nano-dollars.
    pub reference_nanos: u64,
    /// One line for people.
    pub message: String,
    /// When it fired.
    pub created_at: DateTime<Utc>,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            kind: a.kind.as_str().into(),
            budget_id: a.budget_id,
            scope: a.scope_kind,
            scope_key: a.scope_key,
            period_start: a.period_start,
            threshold_pct: a.threshold_pct,
            value: a.value.to_string(),
            value_nanos: a.value.0,
            reference: a.reference.to_string(),
            reference_nanos: a.reference.0,
            message: a.message,
            created_at: a.created_at,
        }
    }
}

page_of!(AlertPage, AlertView);

/// Filters and page of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// One budget's alerts.
    pub budget: Option<String>,
    /// `budget_actual`, `budget_forecast` or `anomaly`.
    pub kind: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// The `next_cursor` of the previous page (instead of `offset`).
    pub cursor: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first.
    pub attempt: u32,
    /// When it started.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

impl From<DeliveryAttempt> for AttemptView {
    fn from(a: DeliveryAttempt) -> Self {
        Self {
            attempt: a.attempt,
            at: a.at,
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// One delivery of an alert (or a test) to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Id (the `Kubeworkz-Delivery` header of every attempt).
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The endpoint's name.
    pub endpoint_name: String,
    /// `alert` or `test`.
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt, first first.
    pub attempt_log: Vec<AttemptView>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        let pending = d.status == crate::store::DeliveryStatus::Pending;
        Self {
            id: d.id,
            endpoint_id: d.endpoint_id,
            endpoint_name: d.endpoint_name,
            event: d.event,
            status: d.status.as_str().into(),
            attempts: d.attempts,
            next_attempt_at: pending.then_some(d.next_attempt_at),
            created_at: d.created_at,
            finished_at: d.finished_at,
            attempt_log: d.attempt_log.into_iter().map(AttemptView::from).collect(),
        }
    }
}

/// An alert's deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// By endpoint name.
    pub items: Vec<DeliveryView>,
}

/// `GET /api/v1/alerts`: the organization's alerts, newest first (every role).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses((status = 200, body = AlertPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<AlertParams>,
) -> Result<Json<AlertPage>, ApiError> {
    let budget_id = params
        .budget
        .as_deref()
        .map(|b| {
            Uuid::parse_str(b)
                .map_err(|_| ApiError::BadRequest("budget must be a budget id".into()))
        })
        .transpose()?;
    let kind = params
        .kind
        .as_deref()
        .map(|k| {
            AlertKind::parse(k).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "kind must be budget_actual, budget_forecast or anomaly, not {k:?}"
                ))
            })
        })
        .transpose()?;
    let after = match keyset(params.cursor.as_deref(), ALERT_ORDER)? {
        Some(key) => Some(alert_key(key)?),
        None => None,
    };
    let page = PageParams::slice(params.limit, params.offset, params.cursor).page()?;
    let filter = AlertFilter {
        budget_id,
        kind,
        after,
    };
    let paged = state.store.alert_page(who.org_id, &filter, page).await?;
    let key = paged.items.last().map(|a| {
        vec![
            a.created_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
            a.id.to_string(),
        ]
    });
    let page = AlertPage::new(paged, page, AlertView::from);
    Ok(Json(page.keyed(key, ALERT_ORDER)))
}

/// The alert history's one order (newest first), as its cursors name it.
const ALERT_ORDER: &str = "created_at";

/// An alert's place from a cursor: its time, then its id.
fn alert_key(key: Vec<String>) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let [at, id]: [String; 2] = key.try_into().map_err(|_| bad_cursor())?;
    Ok((
        DateTime::parse_from_rfc3339(&at)
            .map_err(|_| bad_cursor())?
            .with_timezone(&Utc),
        Uuid::parse_str(&id).map_err(|_| bad_cursor())?,
    ))
}

/// `GET /api/v1/alerts/{id}/deliveries`: the alert's webhook deliveries with every attempt
/// (every role).
#[utoipa::path(get, path = "/api/v1/alerts/{id}/deliveries", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, body = DeliveryList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .alert(who.org_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let items = state.store.deliveries(who.org_id, Some(id), None).await?;
    Ok(Json(DeliveryList {
        items: items.into_iter().map(DeliveryView::from).collect(),
    }))
}
