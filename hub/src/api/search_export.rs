//! `GET /api/v1/k8s/search/export`: every match of a search as a CSV or JSON download.
//!
//! The body is a stream of pages fetched one after another by cursor, each written out
//! before the next is read, so an export of a million objects holds one page in memory, not
//! the result. It is routed outside the request timeout, like the event stream: a large
//! export outlives it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::stream;
use kubeworkz_shared::ids::OrgId;
use serde::Deserialize;
use utoipa::IntoParams;

use super::cost_views::csv_text;
use super::costs::Format;
use super::extract::{ApiQuery, Principal};
use super::search::SearchHit;
use crate::error::{ApiError, ErrorBody};
use crate::search::{self, Query};
use crate::state::AppState;
use crate::store::{SearchKey, Store};

/// Hits fetched per page of the stream: the most one request may ask for.
const EXPORT_PAGE: u32 = super::views::MAX_LIMIT;

/// What to export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// The query, as for `GET /api/v1/k8s/search`.
    pub q: Option<String>,
    /// `csv` or `json` (default).
    pub format: Option<Format>,
}

/// The CSV header: the columns of the search results table.
const CSV_HEADER: &str = "kind,cluster,namespace,name,status,labels,link\r\n";

/// One hit as a CSV row; labels as `key=value;key=value`.
fn csv_row(hit: &SearchHit) -> String {
    let labels: Vec<String> = hit.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let fields = [
        hit.kind,
        &hit.cluster_name,
        &hit.namespace,
        &hit.name,
        &hit.status,
        &labels.join(";"),
        &hit.link,
    ];
    let fields: Vec<String> = fields.iter().map(|f| csv_text(f)).collect();
    format!("{}\r\n", fields.join(","))
}

/// Where the stream is.
enum Step {
    /// Before the first page (the header or `[` is still to come).
    Start,
    /// After the hit with this key; `first` if nothing was written yet.
    After(Option<SearchKey>, bool),
    /// The closing part is written.
    Done,
}

/// The page after `after`, written out: its bytes, where the next one starts (`None`
/// when it was the last), and whether it wrote any hit.
async fn page(
    store: &Store,
    org: OrgId,
    query: &Query,
    after: Option<&SearchKey>,
    format: Format,
    first: bool,
) -> Result<(String, Option<SearchKey>, bool), ApiError> {
    let page = store.search(org, query, after, EXPORT_PAGE).await?;
    let wrote = !page.hits.is_empty();
    let mut out = String::new();
    for (i, hit) in page.hits.into_iter().enumerate() {
        let hit = SearchHit::from(hit);
        match format {
            Format::Csv => out.push_str(&csv_row(&hit)),
            Format::Json => {
                if !(first && i == 0) {
                    out.push(',');
                }
                out.push_str(
                    &serde_json::to_string(&hit).map_err(|e| ApiError::Internal(e.into()))?,
                );
            }
        }
    }
    Ok((out, page.next, wrote))
}

/// `GET /api/v1/k8s/search/export`.
#[utoipa::path(get, path = "/api/v1/k8s/search/export", tag = "search", params(ExportParams),
    responses((status = 200, description = "Every match: CSV (`kind,cluster,namespace,name,\
            status,labels,link`, labels as `k=v;k=v`) or a JSON array of search hits",
            content((String = "text/csv"), (Vec<SearchHit> = "application/json"))),
        (status = 400, body = ErrorBody, description = "`bad_query` (with `position`)"),
        (status = 401, body = ErrorBody)))]
pub(super) async fn export(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let query = search::parse(params.q.as_deref().unwrap_or("")).map_err(ApiError::BadQuery)?;
    let format = params.format.unwrap_or(Format::Json);
    let (store, org) = (state.store.clone(), who.org_id);
    let body = stream::unfold(Step::Start, move |step| {
        let (store, query) = (store.clone(), query.clone());
        async move {
            let (after, first) = match step {
                Step::Done => return None,
                Step::Start => {
                    let open = match format {
                        Format::Csv => CSV_HEADER,
                        Format::Json => "[",
                    };
                    return Some((Ok(Bytes::from(open)), Step::After(None, true)));
                }
                Step::After(after, first) => (after, first),
            };
            match page(&store, org, &query, after.as_ref(), format, first).await {
                Ok((text, Some(next), wrote)) => Some((
                    Ok(Bytes::from(text)),
                    Step::After(Some(next), first && !wrote),
                )),
                Ok((mut text, None, _)) => {
                    if format == Format::Json {
                        text.push(']');
                    }
                    Some((Ok(Bytes::from(text)), Step::Done))
                }
                Err(e) => {
                    // The status is sent; ending the body early tells the client it is cut.
                    tracing::error!(error = %e, "search export failed");
                    Some((Err(std::io::Error::other("export failed")), Step::Done))
                }
            }
        }
    });
    let (content_type, filename) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "kubeworkz-search.csv"),
        Format::Json => ("application/json", "kubeworkz-search.json"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests;
