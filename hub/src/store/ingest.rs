//! Applying collector output to the store: change batches and usage buckets, each in the
//! caller's transaction, exactly once per [`Cursor`].
//!
//! Idempotency comes from the cursor: the cluster row holds the last `(epoch, seq)` applied,
//! and it is advanced in the same transaction as the writes, so a replayed message is
//! recognised and skipped, and a crash between the writes and the ack cannot double-apply.
//! The writes themselves are set-based (see [`super::plan`]) and written by
//! [`super::ingest_group`] for one batch or many: per stage and kind, one statement per
//! chunk of rows, so a 2,000-change batch costs a handful of round trips.

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::protocol::Disposition;

use super::StoreError;
use super::ingest_group::{self, run_rows};
use super::prepare::PreparedBatch;
use super::sql::{Cast, Cells, Sql, Ty, Value, values_rows};
use super::tables;
use super::types::{Cursor, IngestOutcome};

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
    Ok(verdict(stored_cursor(&mut cells)?, cursor))
}

/// The cursor stored in a cluster row's `ingest_epoch, ingest_seq` cells (read next).
pub(crate) fn stored_cursor(cells: &mut Cells) -> Result<Option<Cursor>, sqlx::Error> {
    // Stored as i64 bit patterns: epochs are random u64s.
    Ok(match (cells.opt_i64()?, cells.opt_i64()?) {
        (Some(epoch), Some(seq)) => Some(Cursor {
            epoch: epoch as u64,
            seq: seq as u64,
        }),
        _ => None,
    })
}

/// What to do with a batch at `cursor` when the cluster stands at `stored`: `None` means
/// apply it, otherwise the outcome to answer without touching anything.
pub(crate) fn verdict(stored: Option<Cursor>, cursor: Cursor) -> Option<IngestOutcome> {
    match Cursor::dispose(stored, cursor.epoch, cursor.seq) {
        Disposition::Ingest => None,
        Disposition::Duplicate => Some(IngestOutcome::Duplicate),
        Disposition::Gap => Some(IngestOutcome::Gap {
            last: stored
                .filter(|s| s.epoch == cursor.epoch)
                .map_or(0, |s| s.seq),
        }),
    }
}

/// The kind stored under `name` in `k8s_snapshot_state`.
pub(crate) fn kind_named(name: &str) -> Option<ObjectKind> {
    ObjectKind::ALL
        .into_iter()
        .find(|k| tables::kind_name(*k) == name)
}

async fn advance_cursor(
    db: &mut dyn Sql,
    cluster: ClusterId,
    cursor: Cursor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    ingest_group::advance_cursors(db, vec![ingest_group::cursor_row(cluster, cursor, now)]).await
}

/// Applies a prepared change batch: a group of one (see [`super::ingest_group`]).
pub(crate) async fn apply(
    db: &mut dyn Sql,
    batch: PreparedBatch,
) -> Result<IngestOutcome, StoreError> {
    ingest_group::apply(db, &[&batch])
        .await?
        .pop()
        .expect("one outcome per batch")
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
    let rows = buckets
        .iter()
        .map(|b| {
            vec![
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
            ]
        })
        .collect();
    run_rows(db, COLUMNS.len(), rows, |n| {
        format!(
            "INSERT INTO k8s_resource_metrics ({}) VALUES {} ON CONFLICT DO NOTHING",
            COLUMNS.join(", "),
            values_rows(d, n, &[Cast::None; COLUMNS.len()])
        )
    })
    .await?;
    advance_cursor(db, cluster, cursor, Utc::now()).await?;
    Ok(IngestOutcome::Applied)
}
