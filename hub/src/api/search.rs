//! `GET /api/v1/k8s/search`: every cluster and object of the caller's organization that a
//! query matches (the language is `crate::search`), a page at a time by an opaque cursor,
//! with facet counts over the whole match.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{ApiQuery, Principal};
use super::views::PageParams;
use crate::error::{ApiError, ErrorBody};
use crate::search::{self, SearchKind};
use crate::state::AppState;
use crate::store::{self, SearchKey};

/// The query and the slice of a search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query, e.g. `payments kind:pod status:Pending -label:tier=batch` (see the API
    /// guide); empty matches everything.
    pub q: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One object that matches.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    /// `cluster`, `node`, `namespace`, `deployment`, `pod`, `pvc` or `helm_release`.
    pub kind: &'static str,
    /// The Kubernetes uid, or the cluster id for a cluster.
    pub id: String,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// The cluster's name.
    pub cluster_name: String,
    /// Namespace; empty for clusters, nodes and namespaces.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Status as the UI shows it: a pod's as kubectl prints it (`CrashLoopBackOff`), a node's
    /// readiness, a cluster's health…
    pub status: String,
    /// A few key labels (`app`, `team`… first).
    pub labels: BTreeMap<String, String>,
    /// The UI page that shows it.
    pub link: String,
}

/// How many matches have one value.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetCount {
    /// The value to filter by (a kind, a cluster id, a namespace, a status).
    pub value: String,
    /// What to show (a cluster's name for a cluster id).
    pub label: String,
    /// Matches with the value.
    pub count: u64,
}

/// Counts of the whole match, largest first, at most 20 values each.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchFacets {
    /// By kind.
    pub kind: Vec<FacetCount>,
    /// By cluster.
    pub cluster: Vec<FacetCount>,
    /// By namespace.
    pub namespace: Vec<FacetCount>,
    /// By status.
    pub status: Vec<FacetCount>,
}

/// A page of search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    /// Matches, by relevance (exact name, prefix, substring), then name.
    pub items: Vec<SearchHit>,
    /// Counts over every match, not only this page (over the first 1,001 found when more
    /// match: see `total_is_estimate`).
    pub facets: SearchFacets,
    /// Every match; with `total_is_estimate`, a lower bound (the matches counted).
    pub total: u64,
    /// More than 1,000 objects match: `total` and the facet counts cover the first 1,001
    /// found, so that a broad query answers as fast as a narrow one. Show "1,000+".
    pub total_is_estimate: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Labels shown first when an object has them; the rest follow in key order.
const KEY_LABELS: [&str; 6] = [
    "app",
    "app.kubernetes.io/name",
    "team",
    "tier",
    "component",
    "app.kubernetes.io/component",
];

/// Labels a hit carries at most: enough to tell objects apart in a result list.
const SHOWN_LABELS: usize = 4;

fn key_labels(labels: Vec<(String, String)>) -> BTreeMap<String, String> {
    let rank = |k: &str| {
        KEY_LABELS
            .iter()
            .position(|l| *l == k)
            .unwrap_or(KEY_LABELS.len())
    };
    let mut labels = labels;
    labels.sort_by_key(|(k, _)| rank(k));
    labels.into_iter().take(SHOWN_LABELS).collect()
}

/// The UI route of an object; kinds without a page of their own link to their cluster's
/// table of them (a claim's filtered to its name, which Kubernetes keeps URL-safe).
fn link(kind: SearchKind, id: &str, name: &str, cluster: &Uuid) -> String {
    let base = "/admin/kubernetes";
    match kind {
        SearchKind::Cluster => format!("{base}/clusters/{id}"),
        SearchKind::Namespace => format!("{base}/namespaces/{id}"),
        SearchKind::Deployment => format!("{base}/deployments/{id}"),
        SearchKind::Pod => format!("{base}/pods/{id}"),
        SearchKind::Node => format!("{base}/clusters/{cluster}#nodes"),
        SearchKind::Pvc => format!("{base}/clusters/{cluster}?pvcs.q={name}#pvcs"),
        SearchKind::HelmRelease => format!("{base}/clusters/{cluster}#helm"),
    }
}

impl From<store::SearchHit> for SearchHit {
    fn from(hit: store::SearchHit) -> Self {
        let cluster_id = *hit.cluster_id.as_uuid();
        Self {
            kind: hit.key.kind.as_str(),
            link: link(hit.key.kind, &hit.key.id, &hit.key.name, &cluster_id),
            id: hit.key.id,
            cluster_id,
            cluster_name: hit.cluster_name,
            namespace: hit.namespace,
            name: hit.key.name,
            status: hit.status,
            labels: key_labels(hit.labels),
        }
    }
}

fn facet_list(counts: Vec<store::FacetCount>) -> Vec<FacetCount> {
    counts
        .into_iter()
        .map(|c| FacetCount {
            value: c.value,
            label: c.label,
            count: c.count,
        })
        .collect()
}

/// The cursor's wire form: the key as a JSON array, base64url. Opaque to clients; it is
/// only ever compared as a keyset, so a forged one selects a different slice of the
/// caller's own results, never anything else.
type CursorForm = (i64, String, String, String, String);

fn encode_cursor(key: &SearchKey) -> String {
    let form: CursorForm = (
        key.rank,
        key.name.clone(),
        key.kind.as_str().to_owned(),
        key.cluster_id.clone(),
        key.id.clone(),
    );
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&form).expect("a tuple serializes"))
}

fn decode_cursor(text: &str) -> Result<SearchKey, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one a search returned".into());
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let (rank, name, kind, cluster_id, id): CursorForm =
        serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok(SearchKey {
        rank,
        name,
        kind: SearchKind::named(&kind).ok_or_else(bad)?,
        cluster_id,
        id,
    })
}

/// `GET /api/v1/k8s/search`.
#[utoipa::path(get, path = "/api/v1/k8s/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchPage),
        (status = 400, body = ErrorBody,
            description = "`bad_query` (with `position`) or a bad limit or cursor"),
        (status = 401, body = ErrorBody)))]
pub(super) async fn search(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    let limit = PageParams::slice(params.limit, None, None).page()?.limit;
    let query = search::parse(params.q.as_deref().unwrap_or("")).map_err(ApiError::BadQuery)?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let (page, facets) = tokio::try_join!(
        state
            .store
            .search(who.org_id, &query, after.as_ref(), limit),
        state.store.search_facets(who.org_id, &query)
    )?;
    Ok(Json(SearchPage {
        next_cursor: page.next.as_ref().map(encode_cursor),
        items: page.hits.into_iter().map(SearchHit::from).collect(),
        total: facets.total,
        total_is_estimate: facets.total_is_estimate,
        facets: SearchFacets {
            kind: facet_list(facets.kind),
            cluster: facet_list(facets.cluster),
            namespace: facet_list(facets.namespace),
            status: facet_list(facets.status),
        },
    }))
}

#[cfg(test)]
mod tests;
