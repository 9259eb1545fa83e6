//! Live inventory counts per cluster (nodes, ready nodes, namespaces, deployments, pods),
//! kept in `k8s_clusters` by ingest and read by the cluster list and detail.
//!
//! Why kept rather than counted on read: the cluster list is the hub's most requested page,
//! and counting on read costs every live pod of the page's clusters per request (~65k index
//! entries for 50 clusters of 1,000 pods), which alone breaks the API's latency budget under
//! concurrent load. Why a recount rather than `+1/-1` deltas: an upsert cannot tell
//! portably whether it inserted, revived or updated a row, and a recount is self-correcting.
//! Its cost is one index-only count of one cluster's live rows per kind a run touched, in
//! the run's own transaction, so the counts are exactly as current as the rows they count.

use std::collections::{BTreeMap, BTreeSet};

use kubeworkz_shared::change::ObjectKind;
use uuid::Uuid;

use super::StoreError;
use super::api_queries::ClusterCounts;
use super::ingest_group::{id_list, run_rows};
use super::sql::{Cells, Dialect, Sql, Ty, Value};

/// The count columns of `k8s_clusters`, in [`counts_from`]'s order.
pub(crate) const COUNT_COLUMNS: &str =
    "node_count, node_ready_count, namespace_count, deployment_count, pod_count";

/// The decode types of [`COUNT_COLUMNS`].
pub(crate) const COUNT_TYPES: [Ty; 5] = [Ty::I64; 5];

/// Reads [`COUNT_COLUMNS`] from the next five cells.
pub(crate) fn counts_from(c: &mut Cells) -> Result<ClusterCounts, StoreError> {
    let mut next = || -> Result<u64, StoreError> { Ok(c.i64()?.max(0) as u64) };
    Ok(ClusterCounts {
        nodes: next()?,
        nodes_ready: next()?,
        namespaces: next()?,
        deployments: next()?,
        pods: next()?,
    })
}

/// The assignments that recount `kind` for the row of `k8s_clusters` being updated; `None`
/// for kinds the counts do not cover.
///
/// Each count reads the kind's partial index of live rows, which holds `cluster_id` first
/// and only live rows, so it is answered from the index alone. SQLite's planner, without
/// statistics, prefers the pods' `(cluster_id, uid)` index and fetches every row to test
/// `deleted_at` (under churn that made the recount most of the writer's time), so on SQLite
/// the index is named; PostgreSQL plans partial indexes by itself.
fn recount(d: Dialect, kind: ObjectKind) -> Option<String> {
    let live = |table: &str, index: &str, extra: &str| {
        let indexed = match d {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        };
        format!(
            "(SELECT count(*) FROM {table} t{indexed} WHERE t.cluster_id = k8s_clusters.id \
             AND t.deleted_at IS NULL{extra})"
        )
    };
    Some(match kind {
        ObjectKind::Node => format!(
            "node_count = {}, node_ready_count = {}",
            live("k8s_nodes", "k8s_nodes_live", ""),
            live("k8s_nodes", "k8s_nodes_live", " AND t.ready")
        ),
        ObjectKind::Namespace => format!(
            "namespace_count = {}",
            live("k8s_namespaces", "k8s_namespaces_live", "")
        ),
        ObjectKind::Deployment => format!(
            "deployment_count = {}",
            live("k8s_deployments", "k8s_deployments_live", "")
        ),
        ObjectKind::Pod => format!("pod_count = {}", live("k8s_pods", "k8s_pods_live_ns", "")),
        _ => return None,
    })
}

/// Which clusters' counts of which kinds a run may have changed.
#[derive(Debug, Default)]
pub(crate) struct Touched(BTreeMap<ObjectKind, BTreeSet<Uuid>>);

impl Touched {
    /// Notes that `cluster`'s rows of `kind` were written or pruned.
    pub(crate) fn add(&mut self, kind: ObjectKind, cluster: Uuid) {
        self.0.entry(kind).or_default().insert(cluster);
    }
}

/// Recounts what `touched` names: one statement per kind, whatever the number of clusters.
pub(crate) async fn refresh(db: &mut dyn Sql, touched: Touched) -> Result<(), StoreError> {
    let d = db.dialect();
    for (kind, clusters) in touched.0 {
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
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            assert!(
                recount(d, ObjectKind::Pod)
                    .unwrap()
                    .contains("FROM k8s_pods t")
            );
            assert!(recount(d, ObjectKind::Node).unwrap().contains("t.ready"));
            assert!(
                recount(d, ObjectKind::Deployment)
                    .unwrap()
                    .starts_with("deployment_count = ")
            );
            assert!(
                recount(d, ObjectKind::Namespace)
                    .unwrap()
                    .starts_with("namespace_count = ")
            );
            assert!(recount(d, ObjectKind::HelmRelease).is_none());
            assert!(recount(d, ObjectKind::PersistentVolumeClaim).is_none());
        }
        let sqlite = recount(Dialect::Sqlite, ObjectKind::Pod).unwrap();
        assert!(sqlite.contains("INDEXED BY k8s_pods_live_ns"), "{sqlite}");
        assert!(
            !recount(Dialect::Postgres, ObjectKind::Pod)
                .unwrap()
                .contains("INDEXED")
        );
    }
}
