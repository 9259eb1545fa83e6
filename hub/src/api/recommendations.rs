//! `GET /api/v1/k8s/costs/recommendations`: right-sizing per workload container
//! ([`crate::cost::recommendations`]), ordered by monthly saving, paged by keyset cursor, or
//! every line as a CSV download.
//!
//! The list is computed from the window's hourly usage on each request (it is not stored):
//! a page is the slice after the cursor's key of the freshly sorted list, so a line whose
//! saving changed between two pages is neither lost nor shown twice unless it moved across
//! the cursor.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kubeworkz_shared::ids::ClusterId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::cost_views::CostWindowView;
use super::costs::{Format, window};
use super::extract::{ApiQuery, Principal};
use super::search_export::{DownloadPage, download};
use super::views::{ListCursor, MAX_LIMIT, keyset};
use crate::cost::{
    ContainerRecommendation, NanoDollars, ParseSavingSortError, RecommendationKey, SavingSort,
    page_after, recommendations,
};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::RightsizingScope;

/// Lines per page of the CSV stream.
const CSV_PAGE: usize = MAX_LIMIT as usize;

/// Parameters of the right-sizing list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecommendationParams {
    /// Usage window: `7d` (default), `30d`, `lastweek`, or `START,END`; at most 92 days.
    pub window: Option<String>,
    /// Only this cluster (its id).
    pub cluster: Option<Uuid>,
    /// Only namespaces of this name.
    pub namespace: Option<String>,
    /// `-saving` (default: largest saving first) or `saving` (largest extra cost first).
    pub sort: Option<String>,
    /// Lines per page: 1 to 500, default 50.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `json` (default) or `csv` (every line, not one page).
    pub format: Option<Format>,
}

/// One workload container's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecommendationView {
    /// Cluster id.
    pub cluster_id: Uuid,
    /// Cluster name.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Owner kind (`Deployment`, `StatefulSet`, `DaemonSet`, `Job`, …) or `Pod`.
    pub workload_kind: String,
    /// Owner name, or the pod's when it has no owner.
    pub workload: String,
    /// `pod-template-hash` of the newest live pod, whose requests are shown.
    pub pod_template: Option<String>,
    /// Container name.
    pub container: String,
    /// Live pods running the container.
    pub replicas: u32,
    /// Current CPU request, millicores (null: none).
    pub cpu_request_millis: Option<u64>,
    /// Recommended CPU request, millicores.
    pub cpu_recommended_millis: u64,
    /// 95th percentile of hourly average CPU, millicores.
    pub cpu_p95_millis: u64,
    /// Current memory request, bytes (null: none).
    pub memory_request_bytes: Option<u64>,
    /// Recommended memory request, bytes.
    pub memory_recommended_bytes: u64,
    /// Peak memory, bytes.
    pub memory_peak_bytes: u64,
    /// Monthly saving of all replicas in dollars; negative is an extra cost.
    pub monthly_saving: f64,
    /// The same in nano-dollars, exact.
    pub monthly_saving_nanos: i64,
    /// Hours with usage data behind the recommendation.
    pub hours_of_data: usize,
    /// Days of data (hours / 24): the confidence.
    pub days_of_data: f64,
}

impl From<&ContainerRecommendation> for RecommendationView {
    fn from(line: &ContainerRecommendation) -> Self {
        let r = &line.recommendation;
        Self {
            cluster_id: *line.cluster.as_uuid(),
            cluster: line.cluster_name.clone(),
            namespace: line.namespace.clone(),
            workload_kind: line.workload_kind.clone(),
            workload: line.workload_name.clone(),
            pod_template: line.pod_template.clone(),
            container: line.container.clone(),
            replicas: line.replicas,
            cpu_request_millis: line.cpu_request_millis,
            cpu_recommended_millis: r.cpu_millis,
            cpu_p95_millis: r.cpu_p95_millis,
            memory_request_bytes: line.memory_request_bytes,
            memory_recommended_bytes: r.memory_bytes,
            memory_peak_bytes: r.memory_peak_bytes,
            monthly_saving: signed_dollars(line.monthly_saving_nanos),
            monthly_saving_nanos: line.monthly_saving_nanos,
            hours_of_data: r.hours,
            days_of_data: r.days_of_data(),
        }
    }
}

fn signed_dollars(nanos: i64) -> f64 {
    let dollars = NanoDollars(nanos.unsigned_abs()).to_dollars_f64();
    if nanos < 0 { -dollars } else { dollars }
}

/// One page of the right-sizing list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecommendationPage {
    /// The usage window.
    pub window: CostWindowView,
    /// Lines in the whole list.
    pub total: usize,
    /// This page, in the order asked for.
    pub items: Vec<RecommendationView>,
    /// The cursor of the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The CSV header: the table's columns, quantities in their units.
const CSV_HEADER: &str = "cluster,namespace,workload_kind,workload,pod_template,container,\
replicas,cpu_request_millis,cpu_recommended_millis,cpu_p95_millis,memory_request_bytes,\
memory_recommended_bytes,memory_peak_bytes,monthly_change,monthly_amount,days_of_data";

fn csv_fields(v: &RecommendationView) -> Vec<String> {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    vec![
        v.cluster.clone(),
        v.namespace.clone(),
        v.workload_kind.clone(),
        v.workload.clone(),
        v.pod_template.clone().unwrap_or_default(),
        v.container.clone(),
        v.replicas.to_string(),
        opt(v.cpu_request_millis),
        v.cpu_recommended_millis.to_string(),
        v.cpu_p95_millis.to_string(),
        opt(v.memory_request_bytes),
        v.memory_recommended_bytes.to_string(),
        v.memory_peak_bytes.to_string(),
        // The direction in words and the amount unsigned: a leading `-` would be defused
        // as a formula (`'-1.5`) and no longer read as a number.
        if v.monthly_saving_nanos < 0 {
            "extra_cost".to_owned()
        } else {
            "saving".to_owned()
        },
        NanoDollars(v.monthly_saving_nanos.unsigned_abs()).to_string(),
        format!("{:.2}", v.days_of_data),
    ]
}

/// `GET /api/v1/k8s/costs/recommendations`.
#[utoipa::path(get, path = "/api/v1/k8s/costs/recommendations", tag = "costs",
    params(RecommendationParams),
    responses(
        (status = 200, description = "Per workload container: current and recommended CPU and \
            memory requests, p95 and peak, monthly saving and days of data; every line as CSV \
            with `format=csv`",
            content((RecommendationPage = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<RecommendationParams>,
) -> Result<Response, ApiError> {
    let sort: SavingSort = params
        .sort
        .as_deref()
        .unwrap_or("-saving")
        .parse()
        .map_err(|err: ParseSavingSortError| ApiError::BadRequest(err.to_string()))?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = keyset(params.cursor.as_deref(), sort.as_str())?
        .map(|key| RecommendationKey::from_strings(&key).ok_or_else(super::views::bad_cursor))
        .transpose()?;
    let window = window(params.window.as_deref(), "7d")?;
    let scope = RightsizingScope {
        cluster: params.cluster.map(ClusterId::from_uuid),
        namespace: params.namespace.filter(|n| !n.is_empty()),
    };
    let lines = recommendations(&state.store, who.org_id, window, &scope, sort).await?;
    if params.format == Some(Format::Csv) {
        let views: Arc<Vec<RecommendationView>> =
            Arc::new(lines.iter().map(RecommendationView::from).collect());
        return Ok(download(
            Format::Csv,
            "recommendations",
            CSV_HEADER,
            csv_fields,
            move |after: Option<usize>| {
                let views = views.clone();
                async move {
                    let start = after.unwrap_or(0);
                    let end = views.len().min(start + CSV_PAGE);
                    let page: DownloadPage<RecommendationView, usize> = Ok((
                        views[start..end].to_vec(),
                        (end < views.len()).then_some(end),
                    ));
                    page
                }
            },
        ));
    }
    let page = page_after(&lines, after.as_ref(), sort, limit as usize);
    let next_cursor = page
        .last()
        .filter(|last| lines.last().is_some_and(|end| end.key() != last.key()))
        .map(|last| {
            ListCursor {
                p: 0,
                k: Some(last.key().to_strings()),
                s: Some(sort.as_str().to_owned()),
            }
            .encode()
        });
    Ok(Json(RecommendationPage {
        window: window.into(),
        total: lines.len(),
        items: page.iter().map(RecommendationView::from).collect(),
        next_cursor,
    })
    .into_response())
}
