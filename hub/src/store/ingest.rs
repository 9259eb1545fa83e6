//! Applying collector output to the store: change batches and usage buckets, each in the
//! caller's transaction, exactly once per [`Cursor`].
//!
//! Idempotency comes from the cursor: the cluster row holds the last `(epoch, seq)` applied,
//! and it is advanced in the same transaction as the writes, so a replayed message is
//! recognised and skipped, and a crash between the writes and the ack cannot double-apply.
//! The writes themselves are set-based (see [`super::plan`]): per segment and kind, one
//! statement per chunk of rows, so a 2,000-change batch costs a handful of round trips.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::protocol::Disposition;

use super::StoreError;
use super::prepare::{self, PreparedBatch, PreparedStep, PreparedWrites, SEEN_GEN};
use super::sql::{Cells, Dialect, MAX_BIND_VALUES, Sql, Ty, Value, values_rows};
use super::tables::{self, Table};
use super::types::{Cursor, IngestOutcome};

/// Snapshot generation per kind, and whether a snapshot of it is open.
type Generations = HashMap<ObjectKind, (i64, bool)>;

/// Checks `cursor` against the cluster's stored one. `Ok(None)` means apply.
async fn check_cursor(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    cursor: Cursor,
) -> Result<Option<IngestOutcome>, StoreError> {
    let d = db.dialect();
    let rows = db
        .fetch(
            &format!(
                "SELECT ingest_epoch, ingest_seq FROM k8s_clusters WHERE id = {} AND org_id = {}",
                d.ph(1),
                d.ph(2)
            ),
            vec![Value::Id(*cluster.as_uuid()), Value::Id(*org.as_uuid())],
            &[Ty::OptI64, Ty::OptI64],
        )
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Err(StoreError::ClusterNotFound);
    };
    let mut cells = Cells::new(row);
    // Stored as i64 bit patterns: epochs are random u64s.
    let stored = match (cells.opt_i64()?, cells.opt_i64()?) {
        (Some(epoch), Some(seq)) => Some(Cursor {
            epoch: epoch as u64,
            seq: seq as u64,
        }),
        _ => None,
    };
    Ok(match Cursor::dispose(stored, cursor.epoch, cursor.seq) {
        Disposition::Ingest => None,
        Disposition::Duplicate => Some(IngestOutcome::Duplicate),
        Disposition::Gap => Some(IngestOutcome::Gap {
            last: stored
                .filter(|s| s.epoch == cursor.epoch)
                .map_or(0, |s| s.seq),
        }),
    })
}

async fn advance_cursor(
    db: &mut dyn Sql,
    cluster: ClusterId,
    cursor: Cursor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let d = db.dialect();
    db.execute(
        &format!(
            "UPDATE k8s_clusters SET ingest_epoch = {}, ingest_seq = {}, last_sync_at = {}, \
             updated_at = {} WHERE id = {}",
            d.ph(1),
            d.ph(2),
            d.ph(3),
            d.ph(3),
            d.ph(4)
        ),
        vec![
            Value::I64(cursor.epoch as i64),
            Value::I64(cursor.seq as i64),
            Value::Time(now),
            Value::Id(*cluster.as_uuid()),
        ],
    )
    .await?;
    Ok(())
}

/// Applies a prepared change batch; see the module docs.
pub(crate) async fn apply(
    db: &mut dyn Sql,
    batch: PreparedBatch,
) -> Result<IngestOutcome, StoreError> {
    let PreparedBatch {
        org,
        cluster,
        cursor,
        now,
        steps,
        ..
    } = batch;
    if let Some(outcome) = check_cursor(db, org, cluster, cursor).await? {
        return Ok(outcome);
    }
    let mut generations = load_generations(db, cluster).await?;
    let target = Target { cluster, now };
    for step in steps {
        match step {
            PreparedStep::Begin(kinds) => {
                for kind in kinds {
                    begin_snapshot(db, cluster, kind, &mut generations).await?;
                }
            }
            PreparedStep::End(kinds) => {
                for kind in kinds {
                    end_snapshot(db, &target, kind, &mut generations).await?;
                }
            }
            PreparedStep::Writes(writes) => {
                for (kind, writes) in writes {
                    let generation = generations.get(&kind).map_or(0, |g| g.0);
                    write_kind(db, &target, kind, generation, writes).await?;
                }
            }
        }
    }
    advance_cursor(db, cluster, cursor, now).await?;
    Ok(IngestOutcome::Applied)
}

/// Records a health verdict delivered at `cursor`, exactly once, like the two above.
pub(crate) async fn ingest_health(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    cursor: Cursor,
    report: &kubeworkz_shared::model::HealthReport,
    at: DateTime<Utc>,
) -> Result<IngestOutcome, StoreError> {
    if let Some(outcome) = check_cursor(db, org, cluster, cursor).await? {
        return Ok(outcome);
    }
    super::clusters::record_health(db, org, cluster, report, at).await?;
    advance_cursor(db, cluster, cursor, Utc::now()).await?;
    Ok(IngestOutcome::Applied)
}

/// Records usage buckets (additive rows keyed by the delivering cursor).
pub(crate) async fn ingest_usage(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    cursor: Cursor,
    buckets: &[UsageBucket],
) -> Result<IngestOutcome, StoreError> {
    if let Some(outcome) = check_cursor(db, org, cluster, cursor).await? {
        return Ok(outcome);
    }
    let d = db.dialect();
    const COLUMNS: [&str; 13] = [
        "cluster_id",
        "org_id",
        "namespace",
        "pod",
        "container",
        "hour_start",
        "epoch",
        "seq",
        "cpu_millicore_seconds",
        "memory_byte_seconds",
        "memory_max_bytes",
        "samples",
        "covered_millis",
    ];
    let rows_per_statement = MAX_BIND_VALUES / COLUMNS.len();
    for chunk in buckets.chunks(rows_per_statement) {
        let sql = format!(
            "INSERT INTO k8s_resource_metrics ({}) VALUES {} ON CONFLICT DO NOTHING",
            COLUMNS.join(", "),
            values_rows(d, chunk.len(), &[false; COLUMNS.len()])
        );
        let mut args = Vec::with_capacity(chunk.len() * COLUMNS.len());
        for b in chunk {
            args.extend([
                Value::Id(*cluster.as_uuid()),
                Value::Id(*org.as_uuid()),
                Value::Text(b.namespace.clone()),
                Value::Text(b.pod.clone()),
                Value::Text(b.container.clone()),
                Value::Time(tables::time(b.hour_start)),
                Value::I64(cursor.epoch as i64),
                Value::I64(cursor.seq as i64),
                Value::I64(i64::try_from(b.cpu_millicore_seconds).unwrap_or(i64::MAX)),
                Value::I64(i64::try_from(b.memory_byte_seconds).unwrap_or(i64::MAX)),
                Value::I64(i64::try_from(b.memory_max_bytes).unwrap_or(i64::MAX)),
                Value::I64(i64::from(b.samples)),
                Value::I64(i64::from(b.covered_millis)),
            ]);
        }
        db.execute(&sql, args).await?;
    }
    advance_cursor(db, cluster, cursor, Utc::now()).await?;
    Ok(IngestOutcome::Applied)
}

struct Target {
    cluster: ClusterId,
    now: DateTime<Utc>,
}

async fn load_generations(db: &mut dyn Sql, cluster: ClusterId) -> Result<Generations, StoreError> {
    let d = db.dialect();
    let rows = db
        .fetch(
            &format!(
                "SELECT kind, generation, open FROM k8s_snapshot_state WHERE cluster_id = {}",
                d.ph(1)
            ),
            vec![Value::Id(*cluster.as_uuid())],
            &[Ty::Text, Ty::I64, Ty::Bool],
        )
        .await?;
    let mut generations = Generations::new();
    for row in rows {
        let mut cells = Cells::new(row);
        let (name, generation, open) = (cells.text()?, cells.i64()?, cells.bool()?);
        if let Some(kind) = ObjectKind::ALL
            .into_iter()
            .find(|k| tables::kind_name(*k) == name)
        {
            generations.insert(kind, (generation, open));
        }
    }
    Ok(generations)
}

async fn begin_snapshot(
    db: &mut dyn Sql,
    cluster: ClusterId,
    kind: ObjectKind,
    generations: &mut Generations,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let next = generations.get(&kind).map_or(1, |g| g.0 + 1);
    db.execute(
        &format!(
            "INSERT INTO k8s_snapshot_state (cluster_id, kind, generation, open) \
             VALUES ({}, {}, {}, TRUE) ON CONFLICT (cluster_id, kind) \
             DO UPDATE SET generation = excluded.generation, open = TRUE",
            d.ph(1),
            d.ph(2),
            d.ph(3)
        ),
        vec![
            Value::Id(*cluster.as_uuid()),
            Value::Text(tables::kind_name(kind).to_owned()),
            Value::I64(next),
        ],
    )
    .await?;
    generations.insert(kind, (next, true));
    Ok(())
}

async fn end_snapshot(
    db: &mut dyn Sql,
    target: &Target,
    kind: ObjectKind,
    generations: &mut Generations,
) -> Result<(), StoreError> {
    // An end without its begin prunes nothing: pruning on a partial view deletes live objects.
    let Some((generation, true)) = generations.get(&kind).copied() else {
        return Ok(());
    };
    let d = db.dialect();
    let table = tables::table(kind);
    db.execute(
        &format!(
            "UPDATE {} SET deleted_at = {p1}, updated_at = {p1} \
             WHERE cluster_id = {} AND deleted_at IS NULL AND seen_gen < {}",
            table.name,
            d.ph(2),
            d.ph(3),
            p1 = d.ph(1),
        ),
        vec![
            Value::Time(target.now),
            Value::Id(*target.cluster.as_uuid()),
            Value::I64(generation),
        ],
    )
    .await?;
    db.execute(
        &format!(
            "UPDATE k8s_snapshot_state SET open = FALSE WHERE cluster_id = {} AND kind = {}",
            d.ph(1),
            d.ph(2)
        ),
        vec![
            Value::Id(*target.cluster.as_uuid()),
            Value::Text(tables::kind_name(kind).to_owned()),
        ],
    )
    .await?;
    generations.insert(kind, (generation, false));
    Ok(())
}

async fn write_kind(
    db: &mut dyn Sql,
    target: &Target,
    kind: ObjectKind,
    generation: i64,
    writes: PreparedWrites,
) -> Result<(), StoreError> {
    let table = tables::table(kind);
    clear_slots(db, target, &table, writes.slot_clears).await?;
    delete_uids(db, target, &table, writes.uid_deletes).await?;
    upsert(db, &table, generation, writes.upserts).await
}

/// Soft-deletes live rows of each `(namespace, name)` slot whose uid is not the kept one.
async fn clear_slots(
    db: &mut dyn Sql,
    target: &Target,
    table: &Table,
    slots: Vec<[String; 3]>,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let mut slots = slots.into_iter().peekable();
    while slots.peek().is_some() {
        let chunk: Vec<[String; 3]> = slots.by_ref().take(MAX_BIND_VALUES / 3).collect();
        // The slots come first (so they can be bare placeholders), then time and cluster.
        let n = chunk.len() * 3;
        let sql = format!(
            "WITH v (namespace, name, keep) AS (VALUES {}) \
             UPDATE {t} SET deleted_at = {time}, updated_at = {time} FROM v \
             WHERE {t}.cluster_id = {cluster} AND {t}.deleted_at IS NULL \
             AND {t}.namespace = v.namespace AND {t}.name = v.name AND {t}.uid <> v.keep",
            values_rows(d, chunk.len(), &[false; 3]),
            t = table.name,
            time = d.ph(n + 1),
            cluster = d.ph(n + 2),
        );
        let mut args: Vec<Value> = chunk.into_iter().flatten().map(Value::Text).collect();
        args.extend([
            Value::Time(target.now),
            Value::Id(*target.cluster.as_uuid()),
        ]);
        db.execute(&sql, args).await?;
    }
    Ok(())
}

async fn delete_uids(
    db: &mut dyn Sql,
    target: &Target,
    table: &Table,
    uids: Vec<String>,
) -> Result<(), StoreError> {
    let d = db.dialect();
    for chunk in uids.chunks(MAX_BIND_VALUES) {
        // The uids come first (so they can be bare placeholders), then time and cluster.
        let n = chunk.len();
        let sql = format!(
            "WITH d (uid) AS (VALUES {}) \
             UPDATE {} SET deleted_at = {time}, updated_at = {time} WHERE cluster_id = {} \
             AND deleted_at IS NULL AND uid IN (SELECT uid FROM d)",
            values_rows(d, n, &[false]),
            table.name,
            d.ph(n + 2),
            time = d.ph(n + 1),
        );
        let mut args: Vec<Value> = chunk.iter().cloned().map(Value::Text).collect();
        args.extend([
            Value::Time(target.now),
            Value::Id(*target.cluster.as_uuid()),
        ]);
        db.execute(&sql, args).await?;
    }
    Ok(())
}

async fn upsert(
    db: &mut dyn Sql,
    table: &Table,
    generation: i64,
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let d: Dialect = db.dialect();
    let json_flags: Vec<bool> = prepare::columns(table).map(|c| c.1).collect();
    let names: Vec<&str> = prepare::columns(table).map(|c| c.0).collect();
    // Everything but the key and first_seen_at follows the latest upsert; deleted_at clears.
    let updates: Vec<String> = names
        .iter()
        .filter(|c| !matches!(**c, "cluster_id" | "org_id" | "uid" | "first_seen_at"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let rows_per_statement = MAX_BIND_VALUES / names.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(rows_per_statement).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT (cluster_id, uid{}) DO UPDATE SET {}",
            table.name,
            names.join(", "),
            values_rows(d, chunk.len(), &json_flags),
            table.key_extra,
            updates.join(", "),
        );
        let mut args = Vec::with_capacity(chunk.len() * names.len());
        for mut row in chunk {
            row[SEEN_GEN] = Value::I64(generation);
            args.extend(row);
        }
        db.execute(&sql, args).await?;
    }
    Ok(())
}
