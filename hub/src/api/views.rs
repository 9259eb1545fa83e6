//! JSON shapes shared by several resources: pages, paging parameters, clusters and their
//! health, inventory objects. Only `hub::api` knows these shapes.

use chrono::{DateTime, Utc};
use kubeworkz_shared::model::HealthReason;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use crate::store::{
    ClusterCounts, ClusterHealth, ClusterSummary, InventoryItem, InventoryKey, InventoryQuery,
    InventorySort, NamespaceCounts, PageRequest, SortValue,
};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::ClusterId;

/// Largest page a client may ask for.
pub const MAX_LIMIT: u32 = 500;

/// `limit` (1–500, default 50), `offset` (default 0) or `cursor`, and for inventory lists
/// `sort` and `q`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// The `next_cursor` of the previous page (instead of `offset`).
    pub cursor: Option<String>,
    /// The column to sort by, `-` first for descending: `name` (default) on every list;
    /// `age` too; namespaces also `pods`; pods also `namespace`, `node`, `restarts`, `phase`;
    /// deployments, StatefulSets and DaemonSets `ready`, `replicas`; Jobs `status`; PVCs
    /// `phase`, `capacity`, `storage_class`; Helm releases `namespace`, `status`, `chart`.
    pub sort: Option<String>,
    /// Case-insensitive text in the name.
    pub q: Option<String>,
    /// `csv` or `json`: every row (all pages, the filters applied) as a download instead of
    /// a page.
    pub format: Option<crate::api::costs::Format>,
    /// `true`: the list's last page (`limit` items; `offset` and `cursor` are ignored), read
    /// from the end by keyset, so it costs what the first page does.
    pub last: Option<bool>,
}

impl PageParams {
    /// Just a slice: `limit`, and `offset` or an offset cursor.
    pub fn slice(limit: Option<u32>, offset: Option<u64>, cursor: Option<String>) -> Self {
        Self {
            limit,
            offset,
            cursor,
            ..Self::default()
        }
    }

    /// The cursor, decoded.
    fn decoded_cursor(&self) -> Result<Option<ListCursor>, ApiError> {
        self.cursor.as_deref().map(ListCursor::decode).transpose()
    }

    /// The store's page request; an out-of-range limit is a 400. With a cursor, the offset is
    /// where the cursor's page stands.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let offset = match self.decoded_cursor()? {
            Some(cursor) => cursor.p,
            None => self.offset.unwrap_or(0),
        };
        if offset > i64::MAX as u64 {
            return Err(ApiError::BadRequest("offset is too large".into()));
        }
        Ok(PageRequest { limit, offset })
    }

    /// A page of inventory objects of `kind` in `cluster`: the slice, the name filter, the
    /// order, and the object a cursor continues after.
    pub fn inventory(
        &self,
        kind: ObjectKind,
        cluster: Option<ClusterId>,
    ) -> Result<InventoryQuery, ApiError> {
        let text = self.sort.as_deref().unwrap_or("name");
        let (descending, key) = match text.strip_prefix('-') {
            Some(key) => (true, key),
            None => (false, text),
        };
        let sort = InventorySort::parse(kind, key).ok_or_else(|| {
            let keys: Vec<&str> = InventorySort::of_kind(kind)
                .into_iter()
                .map(InventorySort::key)
                .collect();
            ApiError::BadRequest(format!(
                "cannot sort this list by {key:?}: use one of {} (with - first for descending)",
                keys.join(", ")
            ))
        })?;
        let after = match self.decoded_cursor()? {
            Some(ListCursor {
                k: Some(key), s, ..
            }) => {
                if s.as_deref().unwrap_or("name") != sort.key() {
                    return Err(bad_cursor());
                }
                Some(inventory_key(kind, sort, key)?)
            }
            _ => None,
        };
        Ok(InventoryQuery {
            search: self.q.clone().filter(|q| !q.is_empty()),
            sort,
            descending,
            after,
            from_end: self.last == Some(true),
            ..InventoryQuery::new(kind, cluster, self.page()?)
        })
    }
}

/// A list page's cursor: where the next page stands (`p`) and, for lists paged by keyset,
/// the sort key of the row it continues after (`k`). Opaque to clients (base64url of
/// JSON); only ever compared as a keyset or used as an offset, so a forged one selects
/// another slice of the caller's own list, never anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCursor {
    /// The next page's position in the list.
    pub p: u64,
    /// The key of the last row of the page before.
    #[serde(default)]
    pub k: Option<Vec<String>>,
    /// The sort the key belongs to (absent: by name), so a cursor of one order is refused
    /// by another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
}

impl ListCursor {
    /// Its wire form.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    /// From its wire form; anything else is a 400.
    pub fn decode(text: &str) -> Result<Self, ApiError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad_cursor())?;
        serde_json::from_slice(&bytes).map_err(|_| bad_cursor())
    }
}

/// Where a page of `len` items of a list of `total` stands: where it was asked for, or for
/// the last page (`from_end`), at the list's end.
pub fn standing(page: PageRequest, from_end: bool, total: u64, len: usize) -> PageRequest {
    match from_end {
        true => PageRequest {
            limit: page.limit,
            offset: total.saturating_sub(len as u64),
        },
        false => page,
    }
}

/// The key a keyset cursor continues after, if `cursor` has one; a cursor handed out for
/// another sort than `sort` (the sort's name without `-`) is a 400.
pub fn keyset(cursor: Option<&str>, sort: &str) -> Result<Option<Vec<String>>, ApiError> {
    match cursor.map(ListCursor::decode).transpose()? {
        Some(ListCursor {
            k: Some(key), s, ..
        }) => {
            if s.as_deref().unwrap_or("name") != sort {
                return Err(bad_cursor());
            }
            Ok(Some(key))
        }
        _ => Ok(None),
    }
}

/// The answer to a cursor the list did not hand out (or handed out for another order).
pub fn bad_cursor() -> ApiError {
    ApiError::BadRequest("cursor is not one this list returned".into())
}

/// An inventory object's key from a cursor of a list of `kind` sorted by `sort`: the sort
/// column's value (unless by name), namespace, name, cluster id, uid.
fn inventory_key(
    kind: ObjectKind,
    sort: InventorySort,
    mut key: Vec<String>,
) -> Result<InventoryKey, ApiError> {
    let value = match sort.expression_of(kind) {
        true if !key.is_empty() => {
            let text = key.remove(0);
            Some(sort.value_from_text(kind, &text).ok_or_else(bad_cursor)?)
        }
        true => return Err(bad_cursor()),
        false => None,
    };
    let [namespace, name, cluster, uid]: [String; 4] = key.try_into().map_err(|_| bad_cursor())?;
    let cluster = Uuid::parse_str(&cluster).map_err(|_| bad_cursor())?;
    Ok(InventoryKey {
        sort: value,
        namespace,
        name,
        cluster_id: ClusterId::from_uuid(cluster),
        uid,
    })
}

/// The cursor key (see [`inventory_key`]) of the last item of a page, if any.
pub fn last_key(items: &[InventoryItem]) -> Option<Vec<String>> {
    let last = items.last()?;
    let mut key: Vec<String> = last.sort.iter().map(SortValue::to_text).collect();
    key.extend([
        last.namespace.clone(),
        last.name.clone(),
        last.cluster_id.to_string(),
        last.uid.clone(),
    ]);
    Some(key)
}

/// Declares a page type for `$item` (utoipa needs one concrete schema per page).
macro_rules! page_of {
    ($page:ident, $item:ty) => {
        #[doc = concat!("A page of `", stringify!($item), "`, with the total of the filtered list.")]
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $page {
            /// The items, in the list's stable order.
            pub items: Vec<$item>,
            /// Items in the whole filtered list.
            pub total: u64,
            /// The page size used.
            pub limit: u32,
            /// Where this page stands in the list (the offset used, or the cursor's).
            pub offset: u64,
            /// Pass as `cursor` for the next page; null on the last page.
            pub next_cursor: Option<String>,
        }

        impl $page {
            /// Builds the page from the store's page, with a cursor to the next page by
            /// offset.
            pub fn new<T>(
                paged: crate::store::Paged<T>,
                page: crate::store::PageRequest,
                view: impl FnMut(T) -> $item,
            ) -> Self {
                let items: Vec<$item> = paged.items.into_iter().map(view).collect();
                let next = page.offset + items.len() as u64;
                let more = !items.is_empty() && next < paged.total;
                Self {
                    items,
                    total: paged.total,
                    limit: page.limit,
                    offset: page.offset,
                    next_cursor: more.then(|| {
                        crate::api::views::ListCursor {
                            p: next,
                            k: None,
                            s: None,
                        }
                        .encode()
                    }),
                }
            }

            /// The same page whose next cursor continues after its last item's `key` in
            /// the list sorted by `sort` (lists paged by keyset).
            pub fn keyed(mut self, key: Option<Vec<String>>, sort: &str) -> Self {
                if let (Some(_), Some(key)) = (&self.next_cursor, key) {
                    let p = self.offset + self.items.len() as u64;
                    self.next_cursor = Some(
                        crate::api::views::ListCursor {
                            p,
                            k: Some(key),
                            s: (sort != "name").then(|| sort.to_owned()),
                        }
                        .encode(),
                    );
                }
                self
            }
        }
    };
}
pub(crate) use page_of;

page_of!(ClusterPage, ClusterView);
page_of!(ObjectPage, ObjectView);

/// A health reason: a stable code, its own severity, and a sentence.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonView {
    /// e.g. `nodes_not_ready`.
    pub code: &'static str,
    /// `healthy`, `degraded` or `critical`.
    pub severity: &'static str,
    /// For people.
    pub message: String,
}

/// The latest health verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `healthy`, `degraded` or `critical`.
    pub status: &'static str,
    /// Why.
    pub reasons: Vec<ReasonView>,
    /// When it was judged.
    #[serde(serialize_with = "super::timestamp::utc")]
    pub checked_at: DateTime<Utc>,
}

/// Stable code of a reason.
pub fn reason_code(reason: &HealthReason) -> &'static str {
    match reason {
        HealthReason::ApiNotReady(_) => "api_not_ready",
        HealthReason::ApiNotLive(_) => "api_not_live",
        HealthReason::MostNodesNotReady { .. } => "most_nodes_not_ready",
        HealthReason::NoHeartbeat { .. } => "no_heartbeat",
        HealthReason::NodesNotReady { .. } => "nodes_not_ready",
        HealthReason::NoNodes => "no_nodes",
        HealthReason::StaleLease { .. } => "stale_lease",
        HealthReason::MetricsUnavailable => "metrics_unavailable",
        HealthReason::DeploymentsShort(_) => "deployments_short",
        HealthReason::PodsFailing(_) => "pods_failing",
        HealthReason::QuotasExhausted(_) => "quotas_exhausted",
    }
}

impl From<&HealthReason> for ReasonView {
    fn from(r: &HealthReason) -> Self {
        Self {
            code: reason_code(r),
            severity: r.severity().as_str(),
            message: r.to_string(),
        }
    }
}

impl From<&ClusterHealth> for HealthView {
    fn from(h: &ClusterHealth) -> Self {
        Self {
            status: h.status.as_str(),
            reasons: h.reasons.iter().map(ReasonView::from).collect(),
            checked_at: h.checked_at,
        }
    }
}

/// Live counts of a cluster.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsView {
    /// Nodes.
    pub nodes: u64,
    /// Ready nodes.
    pub nodes_ready: u64,
    /// Namespaces.
    pub namespaces: u64,
    /// Deployments.
    pub deployments: u64,
    /// Pods.
    pub pods: u64,
}

impl From<ClusterCounts> for CountsView {
    fn from(c: ClusterCounts) -> Self {
        Self {
            nodes: c.nodes,
            nodes_ready: c.nodes_ready,
            namespaces: c.namespaces,
            deployments: c.deployments,
            pods: c.pods,
        }
    }
}

/// A registered cluster. Never carries its kubeconfig.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// Id.
    pub id: Uuid,
    /// Name, unique in the organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `production`, `staging` or `development`.
    pub environment: &'static str,
    /// Tags.
    pub tags: Vec<String>,
    /// Detected provider (`eks`, `gke`, `aks`, `k3s`, `openshift`, `kind`, `rke2`, `oke`, `doks`,
    /// `lke`, `ack`, `iks`, `hetzner`, `talos`, `microk8s`, `minikube`, `eks-anywhere`, `vanilla`).
    pub provider: Option<String>,
    /// Kubernetes server version.
    pub version: Option<String>,
    /// API server URL (pull mode).
    pub api_server_url: Option<String>,
    /// `agent` or `kubeconfig`.
    pub mode: &'static str,
    /// Disabled clusters are neither collected nor accepted.
    pub enabled: bool,
    /// The latest health verdict.
    pub health: Option<HealthView>,
    /// Last successful ingest.
    #[serde(serialize_with = "super::timestamp::opt_utc")]
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last collection error.
    pub last_error: Option<String>,
    /// Last agent heartbeat.
    #[serde(serialize_with = "super::timestamp::opt_utc")]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Who registered it.
    pub created_by: Option<String>,
    /// Registration time.
    #[serde(serialize_with = "super::timestamp::utc")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "super::timestamp::utc")]
    pub updated_at: DateTime<Utc>,
    /// Live counts.
    pub counts: CountsView,
    /// The hub replica collecting this pull-mode cluster now (the holder of its lease);
    /// only on a single cluster's answer, `null` when no replica holds it or in agent mode.
    pub collected_by: Option<String>,
}

impl From<ClusterSummary> for ClusterView {
    fn from(s: ClusterSummary) -> Self {
        let c = s.cluster;
        Self {
            id: *c.id.as_uuid(),
            name: c.name,
            description: c.description,
            environment: c.environment.as_str(),
            tags: c.tags,
            provider: c.provider,
            version: c.version,
            api_server_url: c.api_server_url,
            mode: c.mode.as_str(),
            enabled: c.enabled,
            health: c.health.as_ref().map(HealthView::from),
            last_sync_at: c.last_sync_at,
            last_error: c.last_error,
            last_heartbeat_at: c.last_heartbeat_at,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
            counts: s.counts.into(),
            collected_by: None,
        }
    }
}

/// A live Kubernetes object as collected.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectView {
    /// The Kubernetes uid: the id in this API's paths.
    pub id: String,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The collected projection of the object (fields depend on the kind). Passed through
    /// as the stored JSON text: pages of pods are the API's largest answers, and parsing each
    /// projection into a tree only to print it again was most of their cost.
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
    /// First seen by the hub.
    #[serde(serialize_with = "super::timestamp::utc")]
    pub first_seen_at: DateTime<Utc>,
    /// Last change seen.
    #[serde(serialize_with = "super::timestamp::utc")]
    pub updated_at: DateTime<Utc>,
    /// What `kubectl get pods` prints as STATUS (`CrashLoopBackOff`, `Init:0/1`,
    /// `Terminating`, else the phase); null for other kinds.
    pub status: Option<String>,
}

impl From<InventoryItem> for ObjectView {
    fn from(item: InventoryItem) -> Self {
        Self {
            id: item.uid,
            cluster_id: *item.cluster_id.as_uuid(),
            namespace: item.namespace,
            name: item.name,
            data: serde_json::value::RawValue::from_string(item.data).unwrap_or_else(|_| {
                // The store writes only JSON it serialized; a row that is not is shown as null.
                serde_json::value::RawValue::from_string("null".into()).expect("null is JSON")
            }),
            first_seen_at: item.first_seen_at,
            updated_at: item.updated_at,
            status: item.status,
        }
    }
}

/// A namespace with its live workload counts, so the namespaces table needs no request per row.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceView {
    /// The namespace itself.
    #[serde(flatten)]
    pub object: ObjectView,
    /// Deployments in it (not deleted).
    pub deployments: u64,
    /// Pods in it (not deleted).
    pub pods: u64,
}

impl NamespaceView {
    /// The namespace with its counts (zero when it has no live deployments or pods).
    pub fn new(item: InventoryItem, counts: NamespaceCounts) -> Self {
        Self {
            object: item.into(),
            deployments: counts.deployments,
            pods: counts.pods,
        }
    }
}

page_of!(NamespacePage, NamespaceView);

/// The JSON answer of an object list, for the API document only: a page, or with
/// `format=json` every row (the download). Never built; the handlers answer either form.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ObjectListAnswer {
    /// A page (no `format`).
    Page(ObjectPage),
    /// Every row (`format=json`).
    Rows(Vec<ObjectView>),
}

/// The JSON answer of a namespace list, for the API document only (see [`ObjectListAnswer`]).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum NamespaceListAnswer {
    /// A page (no `format`).
    Page(NamespacePage),
    /// Every row (`format=json`).
    Rows(Vec<NamespaceView>),
}

/// The JSON answer of the cluster list, for the API document only (see
/// [`ObjectListAnswer`]).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ClusterListAnswer {
    /// A page (no `format`).
    Page(ClusterPage),
    /// Every cluster (`format=json`).
    Rows(Vec<ClusterView>),
}
