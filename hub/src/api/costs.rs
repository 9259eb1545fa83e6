//! `/api/v1/k8s/costs` and `/api/v1/k8s/namespaces/{id}/costs`: the cost reports of
//! [`crate::cost::report`], as JSON or CSV. This file only parses parameters and picks the
//! format; the sums live in the report module, which the view `v_k8s_namespace_costs` is
//! tested against, and the shapes in `cost_views`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::time::UnixMillis;
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::IntoParams;
use uuid::Uuid;

use super::cost_views::{
    self, CostLineView, CostReportView, EfficiencyLineView, EfficiencyReportView,
    NamespaceCostsView,
};
use super::extract::{ApiPath, ApiQuery, Principal};
use super::inventory::own_object;
use crate::cost::report::{self, CostFilter, CostQuery, ReportError, Step};
use crate::cost::{AggregateBy, EfficiencySort, Window};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Longest window a report may cover: a quarter of hourly rows.
const MAX_WINDOW_MILLIS: i64 = 92 * 86_400_000;

/// `json` (default) or `csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON.
    Json,
    /// CSV (RFC 4180) as an attachment.
    Csv,
}

/// Parameters of a namespace's cost series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NamespaceCostParams {
    /// `24h`, `7d` (default), `today`, `yesterday`, `lastweek`, or `START,END` in RFC 3339.
    pub window: Option<String>,
    /// Step of the series, whole hours or days: `1h`, `1d` (default).
    pub step: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<Format>,
}

/// Parameters of the grouped cost report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CostParams {
    /// `24h` (default), `7d`, `today`, `yesterday`, `lastweek`, or `START,END` in RFC 3339.
    pub window: Option<String>,
    /// `cluster`, `namespace` (default), `team`, `cost_center`, `label:KEY`, or `workload`
    /// (one line per workload with its `workload` object, plus each namespace's
    /// `__storage__` line and, with `include_idle`, each cluster's `__idle__`).
    pub aggregate: Option<String>,
    /// `FIELD:V1,V2` clauses joined by `+`, e.g. `team:platform+namespace:web,api`.
    pub filter: Option<String>,
    /// Include each cluster's `__idle__` row (default false).
    pub include_idle: Option<bool>,
    /// `json` (default) or `csv`.
    pub format: Option<Format>,
}

/// Parameters of the efficiency report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EfficiencyParams {
    /// `24h`, `7d` (default), `today`, `yesterday`, `lastweek`, or `START,END` in RFC 3339.
    pub window: Option<String>,
    /// `namespace` (default), `team`, `cost_center`, `cluster`, `label:KEY`, or `workload`
    /// (key `Kind/namespace/name` with its `cluster`, over whole UTC days: the window's
    /// first day from midnight).
    pub aggregate: Option<String>,
    /// `-waste` (default: most unused cost first), `waste`, `efficiency` (least efficient
    /// first), `-efficiency` or `key`.
    pub sort: Option<String>,
    /// At most this many lines, the first in the order asked for: 1 to 1000, default 100.
    pub limit: Option<usize>,
}

/// The `aggregate` value of the groupings by workload, which group the workload split of the
/// cost rows rather than the rows.
const WORKLOAD: &str = "workload";

/// Puts the cluster names beside the ids of a workload report's lines.
async fn name_clusters(
    state: &AppState,
    who: &Principal,
    view: &mut CostReportView,
) -> Result<(), ApiError> {
    let names: HashMap<Uuid, String> = state
        .store
        .list_clusters(who.org_id)
        .await?
        .into_iter()
        .map(|c| (*c.id.as_uuid(), c.name))
        .collect();
    for workload in view.lines.iter_mut().filter_map(|l| l.workload.as_mut()) {
        workload.cluster_name = names.get(&workload.cluster).cloned();
    }
    Ok(())
}

fn aggregate_by(text: Option<&str>) -> Result<AggregateBy, ApiError> {
    text.unwrap_or("namespace")
        .parse()
        .map_err(|err: crate::cost::ParseAggregateError| ApiError::BadRequest(err.to_string()))
}

pub(super) fn window(text: Option<&str>, default: &str) -> Result<Window, ApiError> {
    let window = Window::parse(text.unwrap_or(default), UnixMillis::now())
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    if window.end.0 - window.start.0 > MAX_WINDOW_MILLIS {
        return Err(ApiError::BadRequest(
            "window too long: at most 92 days".to_owned(),
        ));
    }
    Ok(window)
}

/// A `filter` parameter; blank is none.
pub(super) fn filter(text: Option<&str>) -> Result<Option<CostFilter>, ApiError> {
    Ok(text
        .filter(|f| !f.trim().is_empty())
        .map(str::parse::<CostFilter>)
        .transpose()?)
}

impl From<ReportError> for ApiError {
    fn from(err: ReportError) -> Self {
        match err {
            ReportError::Store(err) => err.into(),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// `lines` as a CSV attachment named `filename`.
fn csv_attachment(lines: &[CostLineView], filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        cost_views::csv(lines),
    )
        .into_response()
}

/// `GET /api/v1/k8s/namespaces/{id}/costs`.
#[utoipa::path(get, path = "/api/v1/k8s/namespaces/{id}/costs", tag = "costs",
    params(("id" = String, Path, description = "Namespace uid"), NamespaceCostParams),
    responses(
        (status = 200, description = "Cost per step (cpu, memory, storage, network, total, \
            efficiency) and over the window; `steps` as CSV lines with `format=csv`",
            content((NamespaceCostsView = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_costs(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<NamespaceCostParams>,
) -> Result<Response, ApiError> {
    let namespace = own_object(&state, &who, ObjectKind::Namespace, &id).await?;
    let window = window(params.window.as_deref(), "7d")?;
    let step: Step = params.step.as_deref().unwrap_or("1d").parse()?;
    let costs = report::namespace_costs(
        &state.store,
        who.org_id,
        namespace.cluster_id,
        &namespace.name,
        window,
        step,
    )
    .await?;
    let view = NamespaceCostsView::from(costs);
    Ok(match params.format.unwrap_or(Format::Json) {
        Format::Json => Json(view).into_response(),
        Format::Csv => csv_attachment(&view.steps, &format!("{}-costs.csv", view.namespace)),
    })
}

/// `GET /api/v1/k8s/costs`.
#[utoipa::path(get, path = "/api/v1/k8s/costs", tag = "costs",
    params(CostParams),
    responses(
        (status = 200, description = "One line per group, most expensive first, and the total; \
            CSV with `format=csv`",
            content((CostReportView = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn costs(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<CostParams>,
) -> Result<Response, ApiError> {
    let workloads = params.aggregate.as_deref() == Some(WORKLOAD);
    let aggregate = if workloads {
        AggregateBy::Namespace
    } else {
        aggregate_by(params.aggregate.as_deref())?
    };
    let filter = filter(params.filter.as_deref())?;
    let query = CostQuery {
        window: window(params.window.as_deref(), "24h")?,
        aggregate,
        filter,
        include_idle: params.include_idle.unwrap_or(false),
    };
    let view = if workloads {
        let report = report::workload_costs(&state.store, who.org_id, &query).await?;
        let mut view = CostReportView::from(report);
        name_clusters(&state, &who, &mut view).await?;
        view
    } else {
        CostReportView::from(report::costs(&state.store, who.org_id, &query).await?)
    };
    Ok(match params.format.unwrap_or(Format::Json) {
        Format::Json => Json(view).into_response(),
        Format::Csv => csv_attachment(&view.lines, "costs.csv"),
    })
}

/// `GET /api/v1/k8s/costs/efficiency`.
#[utoipa::path(get, path = "/api/v1/k8s/costs/efficiency", tag = "costs",
    params(EfficiencyParams),
    responses(
        (status = 200, description = "Per group: CPU and memory requested vs used, efficiency \
            and the cost of the unused requests", body = EfficiencyReportView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn efficiency(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<EfficiencyParams>,
) -> Result<Json<EfficiencyReportView>, ApiError> {
    let workloads = params.aggregate.as_deref() == Some(WORKLOAD);
    let by = if workloads {
        AggregateBy::Namespace
    } else {
        aggregate_by(params.aggregate.as_deref())?
    };
    let sort: EfficiencySort = params.sort.as_deref().unwrap_or("-waste").parse().map_err(
        |err: crate::cost::ParseEfficiencySortError| ApiError::BadRequest(err.to_string()),
    )?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be from 1 to 1000".to_owned(),
        ));
    }
    let window = window(params.window.as_deref(), "7d")?;
    let lines = if workloads {
        report::workload_efficiency_report(&state.store, who.org_id, window, sort).await?
    } else {
        report::efficiency_report(&state.store, who.org_id, window, &by, sort).await?
    };
    Ok(Json(EfficiencyReportView {
        window: window.into(),
        groups: lines.len(),
        lines: lines
            .into_iter()
            .take(limit)
            .map(EfficiencyLineView::from)
            .collect(),
    }))
}
