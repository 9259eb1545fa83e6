//! The cursor gate: every ingest call is applied exactly once per [`Cursor`].
//!
//! Idempotency comes from the cursor: the cluster row holds the last `(epoch, seq)` applied,
//! and it is advanced in the same transaction as the writes, so a replayed message is
//! recognised and skipped, and a crash between the writes and the ack cannot double-apply.
//! The verdict is [`Cursor::dispose`], the same rule the transport applies.

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::protocol::Disposition;

use crate::store::StoreError;
use crate::store::sql::{Cast, Cells, Sql, Ty, Value, run_rows, values_rows};

/// Where a delivering stream stands: `epoch` identifies one run of a collector (an agent
/// process, or one pull-mode collector task), `seq` counts its messages from 1. The wire
/// protocol's type, so the store and the transport judge messages by one rule
/// ([`StreamCursor::dispose`](kubeworkz_shared::protocol::StreamCursor::dispose)).
pub use kubeworkz_shared::protocol::StreamCursor as Cursor;

/// What an ingest call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Applied, and the cluster's cursor advanced to it.
    Applied,
    /// Already applied (a replay after a reconnect): nothing changed.
    Duplicate,
    /// Messages between the stored cursor and this one are missing; nothing was applied.
    /// The sender must resume from `last` or start a full sync (a new epoch).
    Gap {
        /// The last message applied in this epoch.
        last: u64,
    },
}

/// Checks `cursor` against the cluster's stored one. `Ok(None)` means apply.
pub(super) async fn check_cursor(
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

pub(super) async fn advance_cursor(
    db: &mut dyn Sql,
    cluster: ClusterId,
    cursor: Cursor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    advance_cursors(db, vec![cursor_row(cluster, cursor, now)]).await
}

/// A row for [`advance_cursors`].
pub(crate) fn cursor_row(cluster: ClusterId, cursor: Cursor, at: DateTime<Utc>) -> Vec<Value> {
    vec![
        Value::Id(*cluster.as_uuid()),
        Value::I64(cursor.epoch as i64),
        Value::I64(cursor.seq as i64),
        Value::Time(at),
    ]
}

/// Moves each cluster's cursor (and last sync time) as [`cursor_row`]s say, in one statement.
pub(crate) async fn advance_cursors(
    db: &mut dyn Sql,
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let d = db.dialect();
    run_rows(db, 4, rows, |n| {
        format!(
            "WITH v (id, epoch, seq, at) AS (VALUES {}) \
             UPDATE k8s_clusters SET ingest_epoch = v.epoch, ingest_seq = v.seq, \
             last_sync_at = v.at, updated_at = v.at FROM v WHERE k8s_clusters.id = v.id",
            values_rows(d, n, &[Cast::None; 4])
        )
    })
    .await
}
