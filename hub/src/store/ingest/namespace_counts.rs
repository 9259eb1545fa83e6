//! Live deployments and pods per (cluster, namespace), kept in `k8s_namespace_counts` on both
//! backends (migration 0012 of each) for the namespaces page (`inventory::namespaces`).
//!
//! How they are kept differs, because what is cheap differs:
//! - PostgreSQL: the statement-level triggers that keep the cluster counts also upsert, per
//!   statement, one row per (cluster, namespace) whose live rows it changed.
//! - SQLite has no statement-level triggers, and row triggers would make every pod written
//!   update a counts row, which the ingest bench shows as lost churn throughput. Ingest keeps
//!   them instead, in the transaction of the writes: after each run it recounts the
//!   namespaces the run wrote or deleted in, and all of a cluster's namespaces after a
//!   relist ended, whose prune reaches namespaces the run never named ([`Touched`],
//!   [`refresh`]). SQLite's cluster counts of deployments and pods are then their sums
//!   (`cluster_counts`).
//!
//! A row whose counts fall to zero stays until maintenance deletes it ([`drop_empty`]).

use std::collections::{BTreeMap, BTreeSet};

use kubeworkz_shared::change::ObjectKind;
use uuid::Uuid;

use super::cluster_counts;
use super::prepare::PreparedWrites;
use crate::store::StoreError;
use crate::store::sql::{Cast, Dialect, Sql, Value, run_rows, values_rows};

/// The column of `k8s_namespace_counts` that counts `kind`, with the kind's table and its
/// partial index of live rows (`cluster_counts::live_index`); `None` for kinds not counted
/// per namespace.
fn counted(kind: ObjectKind) -> Option<(&'static str, (&'static str, &'static str))> {
    let column = cluster_counts::namespace_column(kind)?;
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
