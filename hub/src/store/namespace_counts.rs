//! A page of a cluster's namespaces with each one's live deployment and pod counts, for the
//! namespaces table, in one statement whose total is a column too: the cluster's kept count
//! of its live namespaces.
//!
//! The counts are kept in `k8s_namespace_counts` on both backends (migration 0012 of
//! each) and joined to the page by key. Counting on read, per namespace of the page, was
//! most of the page's database work: on PostgreSQL 0.45 ms of server time per page (each
//! namespace counted in every monthly pods partition) against 0.25 ms reading kept counts;
//! on SQLite 0.39 ms against 0.19 ms. How they are kept differs, because what is cheap
//! differs:
//! - PostgreSQL: the statement-level triggers that keep the cluster counts also upsert, per
//!   statement, one row per (cluster, namespace) whose live rows it changed.
//! - SQLite has no statement-level triggers, and row triggers (session 11) made every pod
//!   written update a counts row: ingest churn fell from 26–28k to 21k changes/s. Ingest
//!   keeps them instead, in the transaction of the writes: after each run it recounts the
//!   namespaces the run wrote or deleted in, and all of a cluster's namespaces after a
//!   relist ended, whose prune reaches namespaces the run never named ([`Touched`],
//!   [`refresh`]). SQLite's cluster counts of deployments and pods are then their sums
//!   (`cluster_counts`), which made keeping them cost ingest nothing measurable.
//!
//! A row whose counts fall to zero stays until maintenance deletes it ([`drop_empty`]).

use std::collections::{BTreeMap, BTreeSet};

use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use uuid::Uuid;

use super::api_queries::{
    ITEM_TYPES, InventoryItem, InventoryQuery, inventory_filter, item_from, item_order,
};
use super::ingest_group::run_rows;
use super::paging::{PageRequest, Paged};
use super::prepare::PreparedWrites;
use super::sql::{Cast, Cells, Dialect, Sql, Ty, Value, values_rows};
use super::{StoreError, cluster_counts};

/// Live objects in one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NamespaceCounts {
    /// Deployments not deleted.
    pub deployments: u64,
    /// Pods not deleted.
    pub pods: u64,
}

/// A live namespace and what lives in it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceItem {
    /// The namespace.
    pub item: InventoryItem,
    /// Its live deployments and pods.
    pub counts: NamespaceCounts,
}

/// A page of the live namespaces of an organization's cluster, in inventory order, with
/// their counts. Another organization's cluster has none.
pub(crate) async fn namespace_page(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    page: PageRequest,
) -> Result<Paged<NamespaceItem>, StoreError> {
    let d = db.dialect();
    let query = InventoryQuery {
        kind: ObjectKind::Namespace,
        cluster: Some(cluster),
        namespace: None,
        deployment: None,
        columns: Vec::new(),
        page,
    };
    let filter = inventory_filter(d, org, &query);
    let table = "k8s_namespaces";
    let raw = "uid, cluster_id, namespace, name, data, first_seen_at, updated_at";
    let order = item_order(ObjectKind::Namespace);
    let (inner, mut args) = filter.page_sql((table, raw, order), page);
    // The total is the cluster's kept count of live namespaces (one primary-key read)
    // rather than a count of the page's filter: on SQLite that count fetched every
    // namespace row of the cluster to check its organization. NULL (another
    // organization's cluster) reads as none. Its two values are bound after the page's.
    args.extend([Value::Id(*cluster.as_uuid()), Value::Id(*org.as_uuid())]);
    let (cluster_ph, org_ph) = (d.ph(args.len() - 1), d.ph(args.len()));
    let total = format!(
        "(SELECT coalesce(max(namespace_count), 0) FROM k8s_clusters WHERE id = {cluster_ph} \
         AND org_id = {org_ph})"
    );
    let columns = format!(
        "n.uid, {}, n.namespace, n.name, {}, n.first_seen_at, n.updated_at",
        d.text("n.cluster_id"),
        d.text("n.data")
    );
    let order = order
        .split(", ")
        .map(|c| format!("n.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The page is cut first, so only its namespaces are looked up. On PostgreSQL the
    // lookup is also bounded by the page's first and last name, a range of the primary key,
    // so it grows with the page, not with the cluster (joined on the cluster alone, the
    // planner scans all its rows); SQLite looks each name up by key as it is.
    let range = match d {
        Dialect::Postgres => {
            " AND c.namespace >= (SELECT min(name) FROM n) AND c.namespace <= (SELECT max(name) FROM n)"
        }
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "WITH n AS ({inner}) \
         SELECT {columns}, coalesce(c.deployments, 0), coalesce(c.pods, 0), {total} \
         FROM n LEFT JOIN k8s_namespace_counts c ON c.cluster_id = {cluster_ph} \
         AND c.namespace = n.name{range} ORDER BY {order}"
    );
    let types = [&ITEM_TYPES[..], &[Ty::I64, Ty::I64, Ty::I64]].concat();
    let mut rows = db.fetch(&sql, args, &types).await?;
    let total = filter.take_total(db, table, page, &mut rows).await?;
    let items = rows
        .into_iter()
        .map(|mut row| {
            let mut counts = Cells::new(row.split_off(ITEM_TYPES.len()));
            Ok(NamespaceItem {
                counts: NamespaceCounts {
                    deployments: counts.i64()?.max(0) as u64,
                    pods: counts.i64()?.max(0) as u64,
                },
                item: item_from(row)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Paged { items, total })
}

/// The column of `k8s_namespace_counts` that counts `kind`; `None` for kinds not counted
/// per namespace.
pub(crate) fn column(kind: ObjectKind) -> Option<&'static str> {
    counted(kind).map(|(column, ..)| column)
}

/// The column of `k8s_namespace_counts` that counts `kind`, with the kind's table and its
/// partial index of live rows (`cluster_counts::live_index`); `None` for kinds not counted
/// per namespace.
fn counted(kind: ObjectKind) -> Option<(&'static str, (&'static str, &'static str))> {
    let column = match kind {
        ObjectKind::Deployment => "deployments",
        ObjectKind::Pod => "pods",
        _ => return None,
    };
    Some((column, cluster_counts::live_index(kind)?))
}

/// The namespaces whose kept counts a run's writes can change: recounted after the run on
/// SQLite, nothing on PostgreSQL (see the module docs).
#[derive(Debug)]
pub(crate) struct Touched {
    /// Whether this backend recounts (else its triggers keep the counts).
    recounts: bool,
    /// Per counted kind and cluster, the namespaces whose count of it to redo.
    pairs: BTreeMap<ObjectKind, BTreeMap<Uuid, BTreeSet<String>>>,
    /// Clusters whose namespaces are all recounted (both kinds).
    whole: BTreeSet<Uuid>,
}

impl Touched {
    /// Nothing touched yet, for a run on `d`.
    pub(crate) fn new(d: Dialect) -> Self {
        Self {
            recounts: d == Dialect::Sqlite,
            pairs: BTreeMap::new(),
            whole: BTreeSet::new(),
        }
    }

    /// Notes the namespaces `writes` (of `kind`, to `cluster`) write or delete in: every
    /// upsert's slot is among its slot clears, and uid deletes name their slots' namespaces.
    pub(crate) fn writes(&mut self, kind: ObjectKind, cluster: Uuid, writes: &PreparedWrites) {
        if !self.recounts || counted(kind).is_none() {
            return;
        }
        let names = self
            .pairs
            .entry(kind)
            .or_default()
            .entry(cluster)
            .or_default();
        let touched = writes.slot_clears.iter().map(|[namespace, ..]| namespace);
        for namespace in touched.chain(&writes.uid_delete_namespaces) {
            if !names.contains(namespace) {
                names.insert(namespace.clone());
            }
        }
    }

    /// Notes that a relist of `kind` ended for `cluster`: its prune soft-deletes rows in
    /// namespaces the run never named, so all of the cluster's are recounted.
    pub(crate) fn relist(&mut self, kind: ObjectKind, cluster: Uuid) {
        if self.recounts && counted(kind).is_some() {
            self.whole.insert(cluster);
        }
    }
}

/// Brings SQLite's kept counts up to date after a run's writes, as `touched` says (nothing
/// on PostgreSQL, whose triggers counted each write as it was made).
///
/// A pair recounts only the kinds written in it, and an unchanged count writes nothing:
/// under churn most pairs keep their counts (a pod replaced by another in its namespace),
/// and on SQLite's one writer a rewritten row costs its page in the WAL.
pub(crate) async fn refresh(db: &mut dyn Sql, touched: Touched) -> Result<(), StoreError> {
    for &cluster in &touched.whole {
        recount_cluster(db, cluster).await?;
    }
    for (kind, pairs) in touched.pairs {
        let Some((column, (table, index))) = counted(kind) else {
            continue;
        };
        let rows = pairs
            .into_iter()
            .filter(|(cluster, _)| !touched.whole.contains(cluster))
            .flat_map(|(cluster, names)| {
                names
                    .into_iter()
                    .map(move |namespace| vec![Value::Id(cluster), Value::Text(namespace)])
            })
            .collect();
        // A row absent means both counts are zero (rows are only ever upserted, and
        // maintenance deletes only rows of zeros), so a new row's other count is 0.
        // `WHERE true`: SQLite would read `ON CONFLICT` as the join's `ON` otherwise.
        run_rows(db, 2, rows, |n| {
            format!(
                "WITH v (cluster_id, namespace) AS (VALUES {}) \
                 INSERT INTO k8s_namespace_counts (cluster_id, namespace, {column}) \
                 SELECT v.cluster_id, v.namespace, (SELECT count(*) FROM {table} t \
                 INDEXED BY {index} WHERE t.cluster_id = v.cluster_id \
                 AND t.namespace = v.namespace AND t.deleted_at IS NULL) FROM v WHERE true \
                 ON CONFLICT (cluster_id, namespace) DO UPDATE SET {column} = excluded.{column} \
                 WHERE {column} <> excluded.{column}",
                values_rows(Dialect::Sqlite, n, &[Cast::None; 2])
            )
        })
        .await?;
    }
    Ok(())
}

/// Recounts every namespace of `cluster` on SQLite: one grouped pass over its live
/// deployments and pods.
async fn recount_cluster(db: &mut dyn Sql, cluster: Uuid) -> Result<(), StoreError> {
    let live = |kind| counted(kind).expect("deployments and pods are counted").1;
    let ((deployments, deployments_live), (pods, pods_live)) =
        (live(ObjectKind::Deployment), live(ObjectKind::Pod));
    db.execute(
        "DELETE FROM k8s_namespace_counts WHERE cluster_id = ?1",
        vec![Value::Id(cluster)],
    )
    .await?;
    db.execute(
        &format!(
            "INSERT INTO k8s_namespace_counts (cluster_id, namespace, deployments, pods) \
             SELECT ?1, namespace, sum(deployments), sum(pods) FROM \
             (SELECT namespace, 1 AS deployments, 0 AS pods FROM {deployments} \
              INDEXED BY {deployments_live} WHERE cluster_id = ?1 AND deleted_at IS NULL \
              UNION ALL SELECT namespace, 0, 1 FROM {pods} INDEXED BY {pods_live} \
              WHERE cluster_id = ?1 AND deleted_at IS NULL) GROUP BY namespace"
        ),
        vec![Value::Id(cluster)],
    )
    .await?;
    Ok(())
}

/// Deletes kept counts that fell to zero (namespaces emptied or gone), in maintenance: rows
/// are only ever upserted, so without this the table would keep every namespace name a
/// cluster ever had. A namespace that fills again gets its row back by upsert.
pub(crate) async fn drop_empty(db: &mut dyn Sql) -> Result<(), StoreError> {
    db.execute(
        "DELETE FROM k8s_namespace_counts WHERE deployments = 0 AND pods = 0",
        vec![],
    )
    .await?;
    Ok(())
}
