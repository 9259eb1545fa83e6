//! Live inventory counts per cluster (nodes, ready nodes, namespaces, deployments, pods),
//! kept in `k8s_clusters` by ingest and read by the cluster list and detail.
//!
//! Why kept rather than counted on read: the cluster list is the hub's most requested page,
//! and counting on read costs every live pod of the page's clusters per request, which alone
//! breaks the API's latency budget under concurrent load.
//!
//! How they are kept, in the transaction of the write that changes them, so the counts are
//! exactly as current as the rows they count:
//! - PostgreSQL: statement-level triggers on the counted tables (migration 0011) add, per
//!   statement, the live rows its transition tables show appearing minus those going. Every
//!   write counts itself, whatever statement makes it, for one aggregate per statement.
//!   Since migration 0012 the same triggers also keep deployments and pods per (cluster,
//!   namespace) for the namespaces page (see [`super::namespace_counts`]).
//! - SQLite has no statement-level triggers, and a row-level trigger would make a full sync
//!   pay an update of the cluster row per object. An upsert cannot tell portably whether it
//!   inserted, revived or updated a row, so each ingest run recounts the kinds it touched
//!   for the clusters it touched (see [`Touched`]): nodes and namespaces from their live
//!   indexes, deployments and pods as the sums of the cluster's kept namespace counts,
//!   which the run has just brought up to date (see [`super::namespace_counts`]).

use std::collections::{BTreeMap, BTreeSet};

use kubeworkz_shared::change::ObjectKind;
use uuid::Uuid;

use crate::store::StoreError;
use crate::store::sql::{Dialect, Sql, Value, id_list, run_rows};

/// Where a counted kind lives and which count columns of `k8s_clusters` it keeps.
struct Counted {
    table: &'static str,
    /// The kind's partial index of live rows (`cluster_id` first).
    index: &'static str,
    count: &'static str,
    /// Nodes also count the ready ones.
    ready: Option<&'static str>,
}

/// The counts `kind` keeps; `None` for kinds the counts do not cover.
fn counted(kind: ObjectKind) -> Option<Counted> {
    let (table, index, count, ready) = match kind {
        ObjectKind::Node => (
            "k8s_nodes",
            "k8s_nodes_live",
            "node_count",
            Some("node_ready_count"),
        ),
        ObjectKind::Namespace => (
            "k8s_namespaces",
            "k8s_namespaces_live",
            "namespace_count",
            None,
        ),
        ObjectKind::Deployment => (
            "k8s_deployments",
            "k8s_deployments_live",
            "deployment_count",
            None,
        ),
        ObjectKind::Pod => ("k8s_pods", "k8s_pods_live_ns", "pod_count", None),
        _ => return None,
    };
    Some(Counted {
        table,
        index,
        count,
        ready,
    })
}

/// The table of `kind` and its partial index of live rows (`cluster_id` first), for the kept
/// namespace counts' recounts; `None` for kinds the counts do not cover.
pub(crate) fn live_index(kind: ObjectKind) -> Option<(&'static str, &'static str)> {
    counted(kind).map(|c| (c.table, c.index))
}

/// The column of `k8s_namespace_counts` that counts `kind`; `None` for kinds not counted
/// per namespace. Here, beside the cluster counts, because SQLite's cluster counts of these
/// kinds are sums of that column.
pub(crate) fn namespace_column(kind: ObjectKind) -> Option<&'static str> {
    match kind {
        ObjectKind::Deployment => Some("deployments"),
        ObjectKind::Pod => Some("pods"),
        _ => None,
    }
}

/// The assignments that recount `kind` for the row of `k8s_clusters` being updated; `None`
/// for kinds the counts do not cover.
///
/// Each count reads the kind's partial index of live rows, which holds `cluster_id` first
/// and only live rows, so it is answered from the index alone. SQLite's planner, without
/// statistics, prefers the pods' `(cluster_id, uid)` index and fetches every row to test
/// `deleted_at` (under churn that made the recount most of the writer's time), so on SQLite
/// the index is named; PostgreSQL plans partial indexes by itself.
///
/// SQLite sums deployments and pods from the cluster's kept namespace counts instead (a
/// few dozen rows rather than every live pod's index entry), which ingest brings up to date
/// first ([`super::namespace_counts::refresh`]).
fn recount(d: Dialect, kind: ObjectKind) -> Option<String> {
    let c = counted(kind)?;
    if let (Dialect::Sqlite, Some(column)) = (d, namespace_column(kind)) {
        return Some(format!(
            "{} = (SELECT coalesce(sum(n.{column}), 0) FROM k8s_namespace_counts n \
             WHERE n.cluster_id = k8s_clusters.id)",
            c.count
        ));
    }
    let live = |extra: &str| {
        let indexed = match d {
            Dialect::Sqlite => format!(" INDEXED BY {}", c.index),
            Dialect::Postgres => String::new(),
        };
        format!(
            "(SELECT count(*) FROM {} t{indexed} WHERE t.cluster_id = k8s_clusters.id \
             AND t.deleted_at IS NULL{extra})",
            c.table
        )
    };
    let mut out = format!("{} = {}", c.count, live(""));
    if let Some(ready) = c.ready {
        out.push_str(&format!(", {ready} = {}", live(" AND t.ready")));
    }
    Some(out)
}

/// The clusters whose counts a run's writes can change, per counted kind: recounted in full
/// after the run on SQLite, nothing on PostgreSQL (see the module docs).
///
/// SQLite recounts every touched cluster's kind: the count reads contiguous entries of the
/// kind's partial index of live rows alone, while reading the touched rows by key before
/// and after the writes would probe the index and fetch the row for each key, twice (the
/// ingest bench's churn case shows the difference). Deployments and pods are summed from
/// the kept namespace counts instead, a few dozen rows per cluster.
#[derive(Debug)]
pub(crate) struct Touched {
    /// Whether this backend recounts (else its triggers keep the counts).
    recounts: bool,
    /// Clusters recounted in full, per kind.
    recount: BTreeMap<ObjectKind, BTreeSet<Uuid>>,
}

impl Touched {
    /// Nothing touched yet, for a run on `d`.
    pub(crate) fn new(d: Dialect) -> Self {
        Self {
            recounts: d == Dialect::Sqlite,
            recount: BTreeMap::new(),
        }
    }

    /// Notes that a run writes (or prunes) `cluster`'s rows of `kind`.
    pub(crate) fn touch(&mut self, kind: ObjectKind, cluster: Uuid) {
        if self.recounts && counted(kind).is_some() {
            self.recount.entry(kind).or_default().insert(cluster);
        }
    }
}

/// Brings the counts up to date after a run's writes: recounts in full what `touched` says
/// to (nothing on PostgreSQL, whose triggers counted each write as it was made).
pub(crate) async fn refresh(db: &mut dyn Sql, touched: Touched) -> Result<(), StoreError> {
    let d = db.dialect();
    for (kind, clusters) in touched.recount {
        let Some(assignments) = recount(d, kind) else {
            continue;
        };
        let rows = clusters.into_iter().map(|id| vec![Value::Id(id)]).collect();
        run_rows(db, 1, rows, |n| {
            format!(
                "UPDATE k8s_clusters SET {assignments} WHERE id IN ({})",
                id_list(d, n)
            )
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counted_kind_recounts_its_own_live_index_and_others_none() {
        let postgres = |kind| recount(Dialect::Postgres, kind).unwrap();
        assert!(postgres(ObjectKind::Pod).contains("FROM k8s_pods t"));
        assert!(!postgres(ObjectKind::Pod).contains("INDEXED"));
        assert!(postgres(ObjectKind::Node).contains("t.ready"));
        assert!(postgres(ObjectKind::Deployment).starts_with("deployment_count = "));
        assert!(postgres(ObjectKind::Namespace).starts_with("namespace_count = "));
        let sqlite = |kind| recount(Dialect::Sqlite, kind).unwrap();
        assert!(sqlite(ObjectKind::Node).contains("INDEXED BY k8s_nodes_live"));
        assert!(sqlite(ObjectKind::Namespace).starts_with("namespace_count = "));
        // Deployments and pods: summed from the kept namespace counts.
        let pods = sqlite(ObjectKind::Pod);
        assert!(pods.starts_with("pod_count = "), "{pods}");
        assert!(pods.contains("sum(n.pods)"), "{pods}");
        assert!(sqlite(ObjectKind::Deployment).contains("sum(n.deployments)"));
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            assert!(recount(d, ObjectKind::HelmRelease).is_none());
            assert!(recount(d, ObjectKind::PersistentVolumeClaim).is_none());
        }
    }
}
