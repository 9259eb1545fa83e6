//! `GET /api/v1/k8s/costs/focus`: the organization's hourly cost allocation over a window as
//! a FOCUS 1.2 cost-and-usage dataset (CSV), the mapping of [`crate::cost::focus_lines`].
//!
//! Streamed like the other downloads ([`super::search_export::download`]): the clusters'
//! hourly rows are read a page at a time by keyset and each page is written out before the
//! next is read, so a month of ten thousand namespaces holds one page in memory.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::costs::{Format, filter, window};
use super::extract::{ApiQuery, Principal};
use super::search_export::download;
use crate::cost::{CostFilter, FOCUS_COLUMNS, FocusContext, FocusLine, focus_lines};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::CostRowKey;

/// Hourly rows read per page of the stream. Each gives up to five lines of some 45 cells,
/// held as strings until the page is written: 500 rows keep a page near 5 MB.
const FOCUS_PAGE: u32 = 500;

/// The header line: the dataset's column names.
static HEADER: LazyLock<String> = LazyLock::new(|| FOCUS_COLUMNS.join(","));

/// Parameters of the FOCUS export: the window and filter of `GET /api/v1/k8s/costs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FocusParams {
    /// `24h` (default), `7d`, `today`, `yesterday`, `lastweek`, or `START,END` in RFC 3339.
    pub window: Option<String>,
    /// `FIELD:V1,V2` clauses joined by `+`, e.g. `team:platform+namespace:web,api`.
    pub filter: Option<String>,
    /// Include each cluster's idle rows (default false, as the cost report).
    pub include_idle: Option<bool>,
}

/// Where the stream is: the cluster (index into the organization's list) and the row to
/// continue after in it.
type Position = (usize, Option<CostRowKey>);

fn cells(line: &FocusLine) -> Vec<String> {
    line.0
        .iter()
        .map(|c| c.clone().unwrap_or_default())
        .collect()
}

/// `GET /api/v1/k8s/costs/focus`.
#[utoipa::path(get, path = "/api/v1/k8s/costs/focus", tag = "costs",
    params(FocusParams),
    responses(
        (status = 200, description = "FOCUS 1.2 cost-and-usage dataset: one CSV line per \
            namespace, hour and resource (columns and mapping in docs/costs.md); the \
            `BilledCost` of the lines adds up to the cost report's total for the same \
            parameters", content_type = "text/csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn focus(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<FocusParams>,
) -> Result<Response, ApiError> {
    let window = window(params.window.as_deref(), "24h")?;
    let filter: Option<CostFilter> = filter(params.filter.as_deref())?;
    let include_idle = params.include_idle.unwrap_or(false);
    let store = state.store.clone();
    let org = store
        .organization(who.org_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let mut clusters = store.list_clusters(who.org_id).await?;
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    let ids: Arc<Vec<_>> = Arc::new(clusters.iter().map(|c| c.id).collect());
    let ctx = Arc::new(FocusContext {
        org_id: org.id,
        org_name: org.name,
        clusters: clusters
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect::<HashMap<_, _>>(),
    });
    let filter = Arc::new(filter);
    Ok(download(
        Format::Csv,
        "kubeworkz-focus",
        HEADER.as_str(),
        cells,
        move |after: Option<Position>| {
            let (store, ids, ctx, filter) =
                (store.clone(), ids.clone(), ctx.clone(), filter.clone());
            async move {
                let (at, key) = after.unwrap_or((0, None));
                let Some(&cluster) = ids.get(at) else {
                    return Ok((Vec::new(), None));
                };
                let page = store
                    .cost_hours_page(
                        ctx.org_id,
                        cluster,
                        (window.start, window.end),
                        key.as_ref(),
                        FOCUS_PAGE,
                    )
                    .await?;
                let lines = page
                    .rows
                    .iter()
                    .filter(|row| include_idle || !row.is_idle())
                    .filter(|row| filter.iter().all(|f| f.matches(row)))
                    .flat_map(|row| focus_lines(row, &ctx))
                    .collect();
                let next = match page.next {
                    Some(key) => Some((at, Some(key))),
                    None => (at + 1 < ids.len()).then_some((at + 1, None)),
                };
                Ok((lines, next))
            }
        },
    ))
}
