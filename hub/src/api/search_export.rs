//! Downloads: every match of a search (`GET /api/v1/k8s/search/export`) or every row of a
//! list (`format=csv|json`) as a CSV or JSON attachment.
//!
//! The body is a stream of pages fetched one after another by cursor, each written out
//! before the next is read, so an export of a million objects holds one page in memory, not
//! the result. The request timeout bounds only the start of the response, so a large
//! download outlives it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::stream;
use serde::Deserialize;
use utoipa::IntoParams;

use super::cost_views::csv_text;
use super::costs::Format;
use super::extract::{ApiQuery, Principal};
use super::search::SearchHit;
use crate::error::{ApiError, ErrorBody};
use crate::search;
use crate::state::AppState;
use crate::store::{PageRequest, SearchKey};

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
const CSV_HEADER: &str = "kind,cluster,namespace,name,status,labels,link";

/// One hit's CSV fields; labels as `key=value;key=value`.
fn csv_fields(hit: &SearchHit) -> Vec<String> {
    let labels: Vec<String> = hit.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![
        hit.kind.to_owned(),
        hit.cluster_name.clone(),
        hit.namespace.clone(),
        hit.name.clone(),
        hit.status.clone(),
        labels.join(";"),
        hit.link.clone(),
    ]
}

/// The page request of each page a list download reads: the largest a client may ask for.
pub(super) fn download_request() -> PageRequest {
    PageRequest {
        limit: EXPORT_PAGE,
        offset: 0,
    }
}

/// A list download's page from the store's page `items` (read with [`download_request`]):
/// the rows as `view` shows them, and the `key` of the last to continue after when the page
/// was full (a short page is the list's end).
pub(super) fn download_page<T, V, K>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    view: impl FnMut(T) -> V,
) -> (Vec<V>, Option<K>) {
    let full = items.len() == EXPORT_PAGE as usize;
    let next = items.last().filter(|_| full).map(key);
    (items.into_iter().map(view).collect(), next)
}

/// Where a download's stream is.
enum Step<K> {
    /// Before the first page (the header or `[` is still to come).
    Start,
    /// After the row with this key (`None`: from the start); `first` if no row was written.
    After(Option<K>, bool),
    /// The closing part is written.
    Done,
}

/// A page of a download: its rows, and the key to continue after (`None` on the last).
pub(super) type DownloadPage<T, K> = Result<(Vec<T>, Option<K>), ApiError>;

/// Every page `fetch` returns, one after another, streamed as a CSV (`header`, then
/// `fields` of each row) or JSON array attachment named `name` (`.csv`/`.json` added). One
/// page is in memory at a time, whatever the size of the whole.
pub(super) fn download<T, K, F, Fut>(
    format: Format,
    name: &str,
    header: &'static str,
    fields: fn(&T) -> Vec<String>,
    fetch: F,
) -> Response
where
    T: serde::Serialize + Send + 'static,
    K: Send + 'static,
    F: Fn(Option<K>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = DownloadPage<T, K>> + Send + 'static,
{
    let fetch = std::sync::Arc::new(fetch);
    let body = stream::unfold(Step::Start, move |step| {
        let fetch = fetch.clone();
        async move {
            let (after, first) = match step {
                Step::Done => return None,
                Step::Start => {
                    let open = match format {
                        Format::Csv => format!("{header}\r\n"),
                        Format::Json => "[".to_owned(),
                    };
                    return Some((Ok(Bytes::from(open)), Step::After(None, true)));
                }
                Step::After(after, first) => (after, first),
            };
            let (rows, next) = match fetch(after).await {
                Ok(page) => page,
                Err(e) => {
                    // The status is sent; ending the body early tells the client it is cut.
                    tracing::error!(error = %e, "download failed");
                    return Some((Err(std::io::Error::other("download failed")), Step::Done));
                }
            };
            let mut out = String::new();
            for (i, row) in rows.iter().enumerate() {
                match format {
                    Format::Csv => {
                        let fields: Vec<String> = fields(row).iter().map(|f| csv_text(f)).collect();
                        out.push_str(&fields.join(","));
                        out.push_str("\r\n");
                    }
                    Format::Json => {
                        if !(first && i == 0) {
                            out.push(',');
                        }
                        match serde_json::to_string(row) {
                            Ok(json) => out.push_str(&json),
                            Err(e) => {
                                tracing::error!(error = %e, "download failed");
                                let err = std::io::Error::other("download failed");
                                return Some((Err(err), Step::Done));
                            }
                        }
                    }
                }
            }
            let step = match next {
                Some(next) => Step::After(Some(next), first && rows.is_empty()),
                None => {
                    if format == Format::Json {
                        out.push(']');
                    }
                    Step::Done
                }
            };
            Some((Ok(Bytes::from(out)), step))
        }
    });
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{extension}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
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
    Ok(download(
        format,
        "kubeworkz-search",
        CSV_HEADER,
        csv_fields,
        move |after: Option<SearchKey>| {
            let (store, query) = (store.clone(), query.clone());
            async move {
                let page = store
                    .search(org, &query, after.as_ref(), EXPORT_PAGE)
                    .await?;
                let hits = page.hits.into_iter().map(SearchHit::from).collect();
                Ok((hits, page.next))
            }
        },
    ))
}

#[cfg(test)]
mod tests;
