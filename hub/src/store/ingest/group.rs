//! Many clusters' change batches applied as one: every statement of applying a batch, each
//! run once for the whole group instead of once per batch.
//!
//! A churn batch is small (a thousand-pod cluster changes ~15 objects a minute), so applying
//! it alone costs a cursor read, a generation read, a slot clear, a delete, an upsert and a
//! cursor update — six statements for fifteen rows, and on SQLite the one writer waits on all
//! of them. Here a group of batches from *distinct* clusters reads every cursor and every
//! snapshot generation with one query each, writes each kind with one slot clear, one delete
//! and one multi-row upsert across all batches (every row carries its cluster and its
//! batch's time), prunes and closes snapshots with one statement per kind, and moves every
//! cursor with one update: a dozen statements for the group, whatever its size.
//!
//! The result is the same as applying the batches one after another, because batches of
//! distinct clusters touch disjoint rows, and each batch's own order is kept: its steps are
//! cut into stages of at most a snapshot begin, one segment of writes and a snapshot end (a
//! full sync or a delta batch is one stage), and stage *n* of every batch runs, merged, before
//! stage *n + 1*. A lone batch is a group of one, so this is the only code that writes
//! inventory. Group commit splits a group so a cluster appears at most once per run, and
//! when a run's statements fail it rolls them back and applies the run batch by batch, so
//! the one bad batch is rejected alone.

use std::collections::{BTreeMap, HashMap};

use kubeworkz_shared::change::ObjectKind;
use uuid::Uuid;

use super::cursor::{Cursor, IngestOutcome, advance_cursors, cursor_row, stored_cursor, verdict};
use super::prepare::{self, PreparedBatch, PreparedStep, SEEN_GEN};
use super::{cluster_counts, namespace_counts};
use crate::store::leases;
use crate::store::schema::{self as tables, Table, kind_named};
use crate::store::sql::{
    Cast, Cells, Dialect, Sql, Ty, Value, id_list, run_rows, statements, values_rows,
};
use crate::store::{Fence, StoreError};

/// `steps` cut into stages: each at most a snapshot begin, then writes, then an end.
fn stages(steps: &[PreparedStep]) -> Vec<&[PreparedStep]> {
    let rank = |step: &PreparedStep| match step {
        PreparedStep::Begin(_) => 0,
        PreparedStep::Writes(_) => 1,
        PreparedStep::End(_) => 2,
    };
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..steps.len() {
        if rank(&steps[i]) <= rank(&steps[i - 1]) {
            out.push(&steps[start..i]);
            start = i;
        }
    }
    if start < steps.len() {
        out.push(&steps[start..]);
    }
    out
}

/// The writes of every batch for one kind, as rows of the merged statements.
#[derive(Default)]
struct KindRows {
    /// `(cluster, namespace, name, keep_uid, at)`.
    clears: Vec<Vec<Value>>,
    /// `(cluster, uid, at)`.
    deletes: Vec<Vec<Value>>,
    /// Upsert rows with `seen_gen` filled in.
    upserts: Vec<Vec<Value>>,
    /// `(cluster, generation, at)`: prune what the snapshot did not see.
    prunes: Vec<Vec<Value>>,
}

/// Everything a run writes, gathered per statement.
#[derive(Default)]
struct Merged {
    /// `(cluster, kind, generation, open)` for snapshots that begin.
    begins: Vec<Vec<Value>>,
    kinds: BTreeMap<ObjectKind, KindRows>,
    /// `(cluster, kind)` for snapshots that end.
    closes: Vec<Vec<Value>>,
}

/// Applies `batches` (of distinct clusters) as one; see the module docs.
/// Answers per batch; an `Err` means a statement failed and nothing of the run may stand
/// (the caller rolls it back and applies the batches one by one).
pub(crate) async fn apply(
    db: &mut dyn Sql,
    batches: &[&PreparedBatch],
) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
    let ids: Vec<Value> = batches
        .iter()
        .map(|b| Value::Id(*b.cluster.as_uuid()))
        .collect();
    let stored = cursors(db, ids).await?;
    let fences: Vec<&Fence> = batches.iter().filter_map(|b| b.fence.as_ref()).collect();
    let moved = leases::fenced_out(db, &fences).await?;
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut go: Vec<&PreparedBatch> = Vec::with_capacity(batches.len());
    for batch in batches {
        let fenced = batch.fence.as_ref().filter(|f| moved.contains(&f.lease));
        let outcome = match (fenced, stored.get(batch.cluster.as_uuid())) {
            (Some(fence), _) => Err(StoreError::Fenced(fence.lease.clone())),
            (None, Some((org, cursor))) if org == batch.org.as_uuid() => {
                match verdict(*cursor, batch.cursor) {
                    Some(answer) => Ok(answer),
                    None => {
                        go.push(batch);
                        Ok(IngestOutcome::Applied)
                    }
                }
            }
            (None, _) => Err(StoreError::ClusterNotFound),
        };
        outcomes.push(outcome);
    }
    if go.is_empty() {
        return Ok(outcomes);
    }
    let ids = go.iter().map(|b| Value::Id(*b.cluster.as_uuid())).collect();
    let mut generations = generations(db, ids).await?;
    let staged: Vec<(&PreparedBatch, Vec<&[PreparedStep]>)> =
        go.iter().map(|b| (*b, stages(&b.steps))).collect();
    let touched = touched(db.dialect(), &go);
    let rounds = staged.iter().map(|s| s.1.len()).max().unwrap_or(0);
    for round in 0..rounds {
        let mut merged = Merged::default();
        for (batch, stages) in &staged {
            if let Some(stage) = stages.get(round) {
                merged.add(batch, stage, &mut generations);
            }
        }
        write(db, merged).await?;
    }
    let cursors = go
        .iter()
        .map(|b| cursor_row(b.cluster, b.cursor, b.now))
        .collect();
    advance_cursors(db, cursors).await?;
    // Namespaces first: SQLite's cluster counts of deployments and pods are their sums.
    let (clusters, namespaces) = touched;
    namespace_counts::refresh(db, namespaces).await?;
    cluster_counts::refresh(db, clusters).await?;
    Ok(outcomes)
}

/// The clusters, kinds and namespaces the batches write or prune, whose kept counts may
/// change (see [`cluster_counts::Touched`], [`namespace_counts::Touched`]).
fn touched(
    d: Dialect,
    batches: &[&PreparedBatch],
) -> (cluster_counts::Touched, namespace_counts::Touched) {
    let mut clusters = cluster_counts::Touched::new(d);
    let mut namespaces = namespace_counts::Touched::new(d);
    for batch in batches {
        let cluster = *batch.cluster.as_uuid();
        for step in &batch.steps {
            match step {
                PreparedStep::Begin(_) => {}
                PreparedStep::Writes(writes) => {
                    for (kind, writes) in writes {
                        clusters.touch(*kind, cluster);
                        namespaces.writes(*kind, cluster, writes);
                    }
                }
                PreparedStep::End(kinds) => {
                    for kind in kinds {
                        clusters.touch(*kind, cluster);
                        namespaces.relist(*kind, cluster);
                    }
                }
            }
        }
    }
    (clusters, namespaces)
}

/// Runs one round's merged statements: begins, then per kind clears, deletes and upserts,
/// then prunes and closes (the order one stage of a batch takes).
async fn write(db: &mut dyn Sql, merged: Merged) -> Result<(), StoreError> {
    let d = db.dialect();
    run_rows(db, 4, merged.begins, |n| {
        format!(
            "INSERT INTO k8s_snapshot_state (cluster_id, kind, generation, open) VALUES {} \
             ON CONFLICT (cluster_id, kind) \
             DO UPDATE SET generation = excluded.generation, open = excluded.open",
            values_rows(d, n, &[Cast::None; 4])
        )
    })
    .await?;
    let mut prunes = Vec::new();
    for (kind, rows) in merged.kinds {
        let table = tables::table(kind);
        write_kind(db, &table, rows.clears, rows.deletes, rows.upserts).await?;
        prunes.push((table, rows.prunes));
    }
    for (table, rows) in prunes {
        run_rows(db, 3, rows, |n| {
            format!(
                "WITH v (cluster_id, generation, at) AS (VALUES {}) \
                 UPDATE {t} SET deleted_at = v.at, updated_at = v.at FROM v \
                 WHERE {t}.cluster_id = v.cluster_id AND {t}.deleted_at IS NULL \
                 AND {t}.seen_gen < v.generation",
                values_rows(d, n, &[Cast::None; 3]),
                t = table.name,
            )
        })
        .await?;
    }
    run_rows(db, 2, merged.closes, |n| {
        format!(
            "WITH v (cluster_id, kind) AS (VALUES {}) \
             UPDATE k8s_snapshot_state SET open = FALSE FROM v \
             WHERE k8s_snapshot_state.cluster_id = v.cluster_id \
             AND k8s_snapshot_state.kind = v.kind",
            values_rows(d, n, &[Cast::None; 2])
        )
    })
    .await
}

/// Snapshot generation per cluster and kind, and whether a snapshot of it is open.
type Generations = HashMap<(Uuid, ObjectKind), (i64, bool)>;

impl Merged {
    /// Adds one stage of `batch`, moving `generations` as applying it alone would.
    fn add(
        &mut self,
        batch: &PreparedBatch,
        stage: &[PreparedStep],
        generations: &mut Generations,
    ) {
        let cluster = *batch.cluster.as_uuid();
        let at = Value::Time(batch.now);
        for step in stage {
            match step {
                PreparedStep::Begin(kinds) => {
                    for kind in kinds {
                        let next = generations.get(&(cluster, *kind)).map_or(1, |g| g.0 + 1);
                        generations.insert((cluster, *kind), (next, true));
                        self.begins.push(vec![
                            Value::Id(cluster),
                            Value::Text(tables::kind_name(*kind).to_owned()),
                            Value::I64(next),
                            Value::Bool(true),
                        ]);
                    }
                }
                PreparedStep::Writes(writes) => {
                    for (kind, writes) in writes {
                        let generation = generations.get(&(cluster, *kind)).map_or(0, |g| g.0);
                        let rows = self.kinds.entry(*kind).or_default();
                        rows.clears.extend(writes.slot_clears.iter().map(|slot| {
                            let mut row = vec![Value::Id(cluster)];
                            row.extend(slot.iter().cloned().map(Value::Text));
                            row.push(at.clone());
                            row
                        }));
                        rows.deletes.extend(writes.uid_deletes.iter().map(|uid| {
                            vec![Value::Id(cluster), Value::Text(uid.clone()), at.clone()]
                        }));
                        rows.upserts.extend(writes.upserts.iter().map(|row| {
                            let mut row = row.clone();
                            row[SEEN_GEN] = Value::I64(generation);
                            row
                        }));
                    }
                }
                PreparedStep::End(kinds) => {
                    for kind in kinds {
                        // An end without its begin prunes nothing: pruning on a partial view
                        // deletes live objects.
                        let Some((generation, true)) = generations.get(&(cluster, *kind)).copied()
                        else {
                            continue;
                        };
                        generations.insert((cluster, *kind), (generation, false));
                        self.kinds.entry(*kind).or_default().prunes.push(vec![
                            Value::Id(cluster),
                            Value::I64(generation),
                            at.clone(),
                        ]);
                        self.closes.push(vec![
                            Value::Id(cluster),
                            Value::Text(tables::kind_name(*kind).to_owned()),
                        ]);
                    }
                }
            }
        }
    }
}

/// Organization and stored cursor of each cluster in `ids`.
async fn cursors(
    db: &mut dyn Sql,
    ids: Vec<Value>,
) -> Result<HashMap<Uuid, (Uuid, Option<Cursor>)>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {}, {}, ingest_epoch, ingest_seq FROM k8s_clusters WHERE id IN ({})",
        d.text("id"),
        d.text("org_id"),
        id_list(d, ids.len())
    );
    let rows = db
        .fetch(&sql, ids, &[Ty::Text, Ty::Text, Ty::OptI64, Ty::OptI64])
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let mut cells = Cells::new(row);
        let (id, org) = (cells.uuid()?, cells.uuid()?);
        out.insert(id, (org, stored_cursor(&mut cells)?));
    }
    Ok(out)
}

/// Snapshot generations of every cluster in `ids`.
async fn generations(db: &mut dyn Sql, ids: Vec<Value>) -> Result<Generations, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {}, kind, generation, open FROM k8s_snapshot_state WHERE cluster_id IN ({})",
        d.text("cluster_id"),
        id_list(d, ids.len())
    );
    let rows = db
        .fetch(&sql, ids, &[Ty::Text, Ty::Text, Ty::I64, Ty::Bool])
        .await?;
    let mut out = Generations::with_capacity(rows.len());
    for row in rows {
        let mut cells = Cells::new(row);
        let (cluster, name) = (cells.uuid()?, cells.text()?);
        let (generation, open) = (cells.i64()?, cells.bool()?);
        if let Some(kind) = kind_named(&name) {
            out.insert((cluster, kind), (generation, open));
        }
    }
    Ok(out)
}

/// One kind's slot clears, uid deletes and upserts for the whole run, in that order (the
/// order one batch writes its kind in).
async fn write_kind(
    db: &mut dyn Sql,
    table: &Table,
    clears: Vec<Vec<Value>>,
    deletes: Vec<Vec<Value>>,
    upserts: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let t = table.name;
    run_rows(db, 5, clears, |n| {
        format!(
            "WITH v (cluster_id, namespace, name, keep, at) AS (VALUES {}) \
             UPDATE {t} SET deleted_at = v.at, updated_at = v.at FROM v \
             WHERE {t}.cluster_id = v.cluster_id AND {t}.deleted_at IS NULL \
             AND {t}.namespace = v.namespace AND {t}.name = v.name AND {t}.uid <> v.keep",
            values_rows(d, n, &[Cast::None; 5]),
        )
    })
    .await?;
    run_rows(db, 3, deletes, |n| {
        format!(
            "WITH v (cluster_id, uid, at) AS (VALUES {}) \
             UPDATE {t} SET deleted_at = v.at, updated_at = v.at FROM v \
             WHERE {t}.cluster_id = v.cluster_id AND {t}.uid = v.uid \
             AND {t}.deleted_at IS NULL",
            values_rows(d, n, &[Cast::None; 3]),
        )
    })
    .await?;
    let casts: Vec<Cast> = prepare::columns(table).map(|c| c.1).collect();
    let names: Vec<&str> = prepare::columns(table).map(|c| c.0).collect();
    let upsert = Upsert::new(table, &names);
    let insert = |n: usize| {
        format!(
            "INSERT INTO {t} ({}) VALUES {} ON CONFLICT (cluster_id, uid{}) DO UPDATE SET ",
            names.join(", "),
            values_rows(d, n, &casts),
            table.key_extra,
        )
    };
    match d {
        // PostgreSQL compares values: an update that changes no indexed column writes no
        // index entry (a HOT update), so one statement sets everything.
        Dialect::Postgres => {
            run_rows(db, names.len(), upserts, |n| {
                format!("{}{}", insert(n), upsert.set_all)
            })
            .await
        }
        // SQLite rewrites the entries of every index whose columns (or partial-index
        // predicate) the update assigns, changed or not: for a pod, its primary key, live and
        // owner indexes, several B-tree pages per row. Most upserts update a live row whose
        // indexed columns are as stored (a status change), so the first statement sets only
        // unindexed columns and updates only such rows. When it wrote fewer rows than it
        // was given, the others (revived or renamed rows) conflicted and were skipped; the
        // second statement sets everything on exactly those.
        Dialect::Sqlite => {
            for (n, chunk) in statements(names.len(), upserts) {
                let fast = format!(
                    "{}{} WHERE {}",
                    insert(n),
                    upsert.set_unindexed,
                    upsert.same
                );
                // The rows are kept for the second statement. sqlx copies bound text into
                // owned values for its worker thread anyway, so binding by reference would
                // cost the same as this copy.
                let written = db.execute(&fast, chunk.clone()).await?;
                if written < n as u64 {
                    let full = format!(
                        "{}{} WHERE NOT ({})",
                        insert(n),
                        upsert.set_all,
                        upsert.same
                    );
                    db.execute(&full, chunk).await?;
                }
            }
            Ok(())
        }
    }
}

/// The `DO UPDATE` parts of a kind's upsert (see [`write_kind`]).
struct Upsert {
    /// Everything but the key, `org_id` and `first_seen_at` follows the latest upsert, and
    /// `deleted_at` clears: the assignments of a full update.
    set_all: String,
    /// The assignments of the columns no index covers.
    set_unindexed: String,
    /// The stored row has the indexed values the upsert brings (NULL-safe), so setting only
    /// the unindexed columns gives the same row as setting everything.
    same: String,
}

impl Upsert {
    fn new(table: &Table, names: &[&str]) -> Self {
        let settable = settable_columns(table, names);
        let assign = |c: &&str| format!("{c} = excluded.{c}");
        let t = table.name;
        Self {
            set_all: settable.iter().map(assign).collect::<Vec<_>>().join(", "),
            set_unindexed: settable
                .iter()
                .filter(|c| unindexed(table, c))
                .map(assign)
                .collect::<Vec<_>>()
                .join(", "),
            same: settable
                .iter()
                .filter(|c| !unindexed(table, c))
                .map(|c| format!("{t}.{c} IS excluded.{c}"))
                .collect::<Vec<_>>()
                .join(" AND "),
        }
    }
}

/// The columns an update of a stored row sets: all of `names` but the key, `org_id` and
/// `first_seen_at`.
fn settable_columns<'a>(table: &Table, names: &[&'a str]) -> Vec<&'a str> {
    let key: Vec<&str> = table
        .key_extra
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    names
        .iter()
        .copied()
        .filter(|c| !matches!(*c, "cluster_id" | "org_id" | "uid" | "first_seen_at"))
        .filter(|c| !key.contains(c))
        .collect()
}

/// Whether no index of `table` covers `column` (as [`Table::indexed`] declares).
fn unindexed(table: &Table, column: &str) -> bool {
    !matches!(column, "namespace" | "name" | "deleted_at") && !table.indexed.contains(&column)
}

/// The columns the SQLite upsert of an unchanged live row sets. None should be in an index:
/// SQLite would then rewrite that index on every such update, the cost the statement is
/// there to avoid (a test holds this to the schema).
#[cfg(test)]
fn unindexed_update_columns(table: &Table) -> Vec<&'static str> {
    let names: Vec<&'static str> = prepare::columns(table).map(|c| c.0).collect();
    settable_columns(table, &names)
        .into_iter()
        .filter(|c| unindexed(table, c))
        .collect()
}

#[cfg(test)]
mod tests;
