//! Live inventory counts per cluster (nodes, ready nodes, namespaces, deployments, pods),
//! kept in `k8s_clusters` by ingest and read by the cluster list and detail.
//!
//! Why kept rather than counted on read: the cluster list is the hub's most requested page,
//! and counting on read costs every live pod of the page's clusters per request (~65k index
//! entries for 50 clusters of 1,000 pods), which alone breaks the API's latency budget under
//! concurrent load. How they are kept: an upsert cannot tell portably whether it inserted,
//! revived or updated a row, so each run reads the live rows its writes can reach before
//! and after writing and adds the difference (see [`Touched`]); a snapshot end recounts the
//! cluster's kind in full. Both happen in the run's own transaction, so the counts are
//! exactly as current as the rows they count.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kubeworkz_shared::change::ObjectKind;
use uuid::Uuid;

use super::StoreError;
use super::api_queries::ClusterCounts;
use super::ingest_group::{id_list, run_rows};
use super::prepare::{PreparedWrites, UID};
use super::sql::{Cast, Cells, Dialect, MAX_BIND_VALUES, Sql, Ty, Value, values_rows};

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

/// The assignments that recount `kind` for the row of `k8s_clusters` being updated; `None`
/// for kinds the counts do not cover.
///
/// Each count reads the kind's partial index of live rows, which holds `cluster_id` first
/// and only live rows, so it is answered from the index alone. SQLite's planner, without
/// statistics, prefers the pods' `(cluster_id, uid)` index and fetches every row to test
/// `deleted_at` (under churn that made the recount most of the writer's time), so on SQLite
/// the index is named; PostgreSQL plans partial indexes by itself.
fn recount(d: Dialect, kind: ObjectKind) -> Option<String> {
    let c = counted(kind)?;
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

/// The rows whose liveness a run's writes can change, per counted kind, and the clusters
/// whose counts of a kind are recounted in full instead.
///
/// A delta batch changes a handful of a cluster's rows, and recounting its thousand live
/// pods for that cost more than the writes (on PostgreSQL the count fetched heap pages, as
/// churn keeps them from being all-visible: a third of the server's time under churn). So
/// the run counts only the rows its writes can reach — those its upserts and deletes name
/// by uid and those in the slots it clears — before and after its writes, and adds the
/// difference. That is exact because no other row changes liveness, except through a
/// snapshot end's prune, which can reach any row: a cluster whose run ends a snapshot of the
/// kind is recounted in full, which also corrects any drift once per full sync.
///
/// On SQLite every touched cluster is recounted in full: there the count reads contiguous
/// entries of the partial index alone (about a millisecond for 64 clusters of 1,000 pods),
/// while the keyed reads probe the index and fetch the row for each key, twice — under
/// churn that made the writer 20% slower (ingest bench, 64 batches per group).
#[derive(Debug)]
pub(crate) struct Touched {
    /// Whether writes are counted by keyed deltas (else their clusters are recounted).
    keyed: bool,
    /// The rows each counted kind's writes can reach, outside the clusters recounted.
    keys: BTreeMap<ObjectKind, Keys>,
    /// Clusters recounted in full.
    recount: BTreeMap<ObjectKind, BTreeSet<Uuid>>,
}

/// Keys of the rows a run's writes of one kind can reach, as the lookups bind them.
#[derive(Debug, Default)]
struct Keys {
    /// `(cluster, uid)` named by upserts and deletes.
    uids: Vec<Vec<Value>>,
    /// `(cluster, namespace, name)` of cleared slots.
    slots: Vec<Vec<Value>>,
}

impl Touched {
    /// Nothing touched yet, for a run on `d`.
    pub(crate) fn new(d: Dialect) -> Self {
        Self {
            keyed: d == Dialect::Postgres,
            keys: BTreeMap::new(),
            recount: BTreeMap::new(),
        }
    }

    /// Notes the writes of `writes` to `cluster`'s rows of `kind`.
    pub(crate) fn write(&mut self, kind: ObjectKind, cluster: Uuid, writes: &PreparedWrites) {
        if counted(kind).is_none()
            || self
                .recount
                .get(&kind)
                .is_some_and(|c| c.contains(&cluster))
        {
            return;
        }
        if !self.keyed {
            self.recount(kind, cluster);
            return;
        }
        let id = Value::Id(cluster);
        let keys = self.keys.entry(kind).or_default();
        let upserted = writes.upserts.iter().map(|row| row[UID].clone());
        let deleted = writes.uid_deletes.iter().cloned().map(Value::Text);
        keys.uids
            .extend(upserted.chain(deleted).map(|uid| vec![id.clone(), uid]));
        keys.slots
            .extend(writes.slot_clears.iter().map(|[namespace, name, _]| {
                vec![
                    id.clone(),
                    Value::Text(namespace.clone()),
                    Value::Text(name.clone()),
                ]
            }));
    }

    /// Notes that a snapshot of `kind` ends for `cluster` (its prune may reach any row).
    pub(crate) fn prune(&mut self, kind: ObjectKind, cluster: Uuid) {
        self.recount(kind, cluster);
    }

    /// Counts `cluster`'s live rows of `kind` in full after the run, instead of by keys.
    fn recount(&mut self, kind: ObjectKind, cluster: Uuid) {
        if counted(kind).is_none() {
            return;
        }
        self.recount.entry(kind).or_default().insert(cluster);
        if let Some(keys) = self.keys.get_mut(&kind) {
            let other = |row: &Vec<Value>| row[0] != Value::Id(cluster);
            keys.uids.retain(other);
            keys.slots.retain(other);
        }
    }
}

/// A live row: `(cluster, uid, partition key)`, and whether it is ready (nodes).
type LiveRows = BTreeMap<ObjectKind, HashMap<(Uuid, String, String), bool>>;

/// The live rows among those `touched` names (outside the clusters recounted in full).
/// Read before a run's writes and again after them; see [`Touched`].
pub(crate) async fn live(db: &mut dyn Sql, touched: &Touched) -> Result<LiveRows, StoreError> {
    let d = db.dialect();
    let mut out = LiveRows::new();
    for (kind, keys) in &touched.keys {
        let Some(c) = counted(*kind) else { continue };
        let mut rows = HashMap::new();
        // Keys first, each looking up its rows: SQLite's `CROSS JOIN` keeps that order
        // (without statistics it could scan the table and probe the keys).
        let select = |keys: &str| {
            format!(
                "SELECT {}, t.uid, {}, {} FROM {keys} {} {} t",
                d.text("t.cluster_id"),
                match kind {
                    ObjectKind::Pod => d.text("t.created_at"),
                    _ => "''".to_owned(),
                },
                if c.ready.is_some() {
                    "t.ready"
                } else {
                    "FALSE"
                },
                match d {
                    Dialect::Sqlite => "CROSS JOIN",
                    Dialect::Postgres => "JOIN",
                },
                c.table
            )
        };
        fetch_rows(db, &mut rows, &keys.uids, |n| {
            format!(
                "WITH k (cluster_id, uid) AS (VALUES {}) {} \
                 ON t.cluster_id = k.cluster_id AND t.uid = k.uid WHERE t.deleted_at IS NULL",
                values_rows(d, n, &[Cast::None; 2]),
                select("k")
            )
        })
        .await?;
        fetch_rows(db, &mut rows, &keys.slots, |n| {
            format!(
                "WITH s (cluster_id, namespace, name) AS (VALUES {}) {} \
                 ON t.cluster_id = s.cluster_id AND t.namespace = s.namespace \
                 AND t.name = s.name WHERE t.deleted_at IS NULL",
                values_rows(d, n, &[Cast::None; 3]),
                select("s")
            )
        })
        .await?;
        out.insert(*kind, rows);
    }
    Ok(out)
}

/// Runs `sql` over `keys` in chunks under the bind limit, collecting the live rows (a row
/// found by two keys is one row).
async fn fetch_rows(
    db: &mut dyn Sql,
    rows: &mut HashMap<(Uuid, String, String), bool>,
    keys: &[Vec<Value>],
    sql: impl Fn(usize) -> String,
) -> Result<(), StoreError> {
    let columns = keys.first().map_or(1, Vec::len);
    for chunk in keys.chunks((MAX_BIND_VALUES / columns).max(1)) {
        let found = db
            .fetch(
                &sql(chunk.len()),
                chunk.iter().flatten().cloned().collect(),
                &[Ty::Text, Ty::Text, Ty::Text, Ty::Bool],
            )
            .await?;
        for row in found {
            let mut cells = Cells::new(row);
            let key = (cells.uuid()?, cells.text()?, cells.text()?);
            rows.insert(key, cells.bool()?);
        }
    }
    Ok(())
}

/// Brings the counts up to date after a run's writes: adds the difference between the live
/// rows `before` the writes and now, and recounts in full what `touched` says to.
pub(crate) async fn refresh(
    db: &mut dyn Sql,
    touched: Touched,
    before: LiveRows,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let after = live(db, &touched).await?;
    for (kind, now) in &after {
        let Some(c) = counted(*kind) else { continue };
        // (count, ready) difference per cluster.
        let mut deltas: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
        let then = before.get(kind);
        let mut add = |rows: &HashMap<(Uuid, String, String), bool>, sign: i64| {
            for ((cluster, ..), ready) in rows {
                let delta = deltas.entry(*cluster).or_default();
                delta.0 += sign;
                delta.1 += sign * i64::from(*ready);
            }
        };
        add(now, 1);
        if let Some(then) = then {
            add(then, -1);
        }
        let rows: Vec<Vec<Value>> = deltas
            .into_iter()
            .filter(|(_, delta)| *delta != (0, 0))
            .map(|(id, (count, ready))| vec![Value::Id(id), Value::I64(count), Value::I64(ready)])
            .collect();
        let ready = c
            .ready
            .map(|r| format!(", {r} = {r} + v.ready"))
            .unwrap_or_default();
        run_rows(db, 3, rows, |n| {
            format!(
                "WITH v (id, count, ready) AS (VALUES {}) UPDATE k8s_clusters \
                 SET {count} = {count} + v.count{ready} FROM v WHERE k8s_clusters.id = v.id",
                values_rows(d, n, &[Cast::None; 3]),
                count = c.count,
            )
        })
        .await?;
    }
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
