//! Search across every cluster and kind of an organization: a page of hits in a stable
//! order with a keyset cursor, and facet counts over the whole match.
//!
//! The query is parsed outside the store (`crate::search`); [`sql`] turns it into one
//! `UNION ALL` of a `SELECT` per admitted kind. The order is relevance (exact name, then
//! prefix, then anywhere), then name, kind, cluster and id, which is unique, so a page
//! continues after the last row of the one before it ([`SearchKey`]) and page 200 costs a
//! seek, not 199 pages skipped.

mod sql;

use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

use crate::search::{Query, SearchKind};
use crate::store::sql::{Cells, Ty, Value, parse_uuid};
use crate::store::{Store, StoreError, on_conn};
use sql::{Builder, HIT_COLUMNS, Reach};

/// Where a hit sorts: the keyset a page continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchKey {
    /// 0 for an exact name, 1 for a prefix, 2 otherwise (0 without free text).
    pub rank: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: SearchKind,
    /// Cluster id, as text.
    pub cluster_id: String,
    /// Object id (uid, or the cluster id for clusters).
    pub id: String,
}

/// One object that matches.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Where it sorts (and what [`SearchKey::kind`], name and id are).
    pub key: SearchKey,
    /// Its cluster.
    pub cluster_id: ClusterId,
    /// The cluster's name.
    pub cluster_name: String,
    /// Namespace; empty for clusters, nodes and namespaces.
    pub namespace: String,
    /// Status as the UI shows it (a pod's as kubectl prints it, a node's readiness, a
    /// cluster's health).
    pub status: String,
    /// Labels, in key order; empty for kinds without.
    pub labels: Vec<(String, String)>,
}

/// A page of hits and the key to continue after, if more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The hits, in order.
    pub hits: Vec<SearchHit>,
    /// The last hit's key when another page follows.
    pub next: Option<SearchKey>,
}

/// How many matches have one value of a facet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    /// The value (a kind's name, a cluster id, a namespace, a status).
    pub value: String,
    /// What to show (the cluster's name for a cluster).
    pub label: String,
    /// Matches with it.
    pub count: u64,
}

/// Counts of the match by kind, cluster, namespace and status; each facet keeps its largest
/// values only. A match larger than [`FACET_SCAN`] is counted over the first
/// `FACET_SCAN + 1` objects found, so that a broad query costs what a narrow one does:
/// `total` is then a lower bound and `total_is_estimate` says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFacets {
    /// By kind.
    pub kind: Vec<FacetCount>,
    /// By cluster.
    pub cluster: Vec<FacetCount>,
    /// By namespace (namespaced kinds only).
    pub namespace: Vec<FacetCount>,
    /// By status.
    pub status: Vec<FacetCount>,
    /// Every match, or with `total_is_estimate` the objects counted (more match).
    pub total: u64,
    /// The match has more than [`FACET_SCAN`] objects; the counts cover only some.
    pub total_is_estimate: bool,
}

/// Values kept per facet: what a side panel shows, not a report.
pub const FACET_VALUES: usize = 20;

/// Matches counted at most (one more, to know more exist): a side panel's "1,000+" needs no
/// exact count of a million pods, and counting them all was most of a broad search's cost.
pub const FACET_SCAN: usize = 1_000;

const HIT_TYPES: [Ty; 9] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::I64,
];

fn hit_from(row: Vec<Value>) -> Result<SearchHit, StoreError> {
    let mut c = Cells::new(row);
    let kind_name = c.text()?;
    let kind = SearchKind::named(&kind_name)
        .ok_or_else(|| crate::store::sql::decode_error("unknown search kind"))?;
    let id = c.text()?;
    let cluster_id = c.text()?;
    let cluster = ClusterId::from_uuid(parse_uuid(&cluster_id)?);
    let cluster_name = c.text()?;
    let namespace = c.text()?;
    let name = c.text()?;
    let status = c.text()?;
    let labels = c
        .text()?
        .split('\n')
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let rank = c.i64()?;
    Ok(SearchHit {
        key: SearchKey {
            rank,
            name,
            kind,
            cluster_id,
            id,
        },
        cluster_id: cluster,
        cluster_name,
        namespace,
        status,
        labels,
    })
}

impl Store {
    /// A page of at most `limit` objects of the organization that match `query`, after
    /// `after` (the previous page's [`SearchPage::next`]).
    #[instrument(skip_all)]
    pub async fn search(
        &self,
        org: OrgId,
        query: &Query,
        after: Option<&SearchKey>,
        limit: u32,
    ) -> Result<SearchPage, StoreError> {
        on_conn!(self, |db| async {
            let mut b = Builder::new(db.dialect());
            // One more than the page: whether it exists says if a next page does.
            let limit_one_more = u64::from(limit) + 1;
            let reach = Reach::Page {
                after,
                limit: limit_one_more,
            };
            let Some(hits) = sql::hits(&mut b, Value::Id(*org.as_uuid()), query, reach) else {
                return Ok(SearchPage {
                    hits: Vec::new(),
                    next: None,
                });
            };
            let sql = format!(
                "WITH {hits} SELECT {HIT_COLUMNS} FROM hits \
                 ORDER BY rank, name, kind, cluster_id, id LIMIT {limit_one_more}"
            );
            let rows = db.fetch(&sql, b.args, &HIT_TYPES).await?;
            let mut hits = rows
                .into_iter()
                .map(hit_from)
                .collect::<Result<Vec<_>, _>>()?;
            let more = hits.len() > limit as usize;
            hits.truncate(limit as usize);
            let next = more.then(|| hits.last().map(|h| h.key.clone())).flatten();
            Ok(SearchPage { hits, next })
        })
    }

    /// The facet counts of everything in the organization that matches `query`, in one
    /// statement.
    #[instrument(skip_all)]
    pub async fn search_facets(
        &self,
        org: OrgId,
        query: &Query,
    ) -> Result<SearchFacets, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut b = Builder::new(d);
            let Some(hits) = sql::hits(&mut b, Value::Id(*org.as_uuid()), query, Reach::All) else {
                return Ok(SearchFacets::default());
            };
            // MATERIALIZED: the match is computed once and grouped four ways (both backends
            // take the hint; without it SQLite may run the union once per grouping), and
            // only as far as the first FACET_SCAN + 1 objects.
            let (head, union) = hits.split_once(" AS (").expect("hits is a named CTE");
            let union = union.strip_suffix(')').expect("hits ends its CTE");
            let hits = format!(
                "{head} AS MATERIALIZED (SELECT * FROM ({union}) m LIMIT {})",
                FACET_SCAN + 1
            );
            let sql = format!(
                "WITH {hits} \
                 SELECT 'kind', kind, kind, count(*) FROM hits GROUP BY kind \
                 UNION ALL SELECT 'cluster', cluster_id, max(cluster_name), count(*) \
                 FROM hits GROUP BY cluster_id \
                 UNION ALL SELECT 'namespace', namespace, namespace, count(*) FROM hits \
                 WHERE namespace <> '' GROUP BY namespace \
                 UNION ALL SELECT 'status', status, status, count(*) FROM hits GROUP BY status"
            );
            let rows = db
                .fetch(&sql, b.args, &[Ty::Text, Ty::Text, Ty::Text, Ty::I64])
                .await?;
            let mut facets = SearchFacets::default();
            for row in rows {
                let mut c = Cells::new(row);
                let facet = c.text()?;
                let count = FacetCount {
                    value: c.text()?,
                    label: c.text()?,
                    count: c.i64()?.max(0) as u64,
                };
                let list = match facet.as_str() {
                    "kind" => {
                        facets.total += count.count;
                        &mut facets.kind
                    }
                    "cluster" => &mut facets.cluster,
                    "namespace" => &mut facets.namespace,
                    _ => &mut facets.status,
                };
                list.push(count);
            }
            facets.total_is_estimate = facets.total > FACET_SCAN as u64;
            for list in [
                &mut facets.kind,
                &mut facets.cluster,
                &mut facets.namespace,
                &mut facets.status,
            ] {
                list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
                list.truncate(FACET_VALUES);
            }
            Ok(facets)
        })
    }
}
