//! A change batch turned into bound values before any transaction starts.
//!
//! Planning (see [`super::plan`]) and encoding rows (the projection's JSON and typed columns)
//! are pure CPU work. Doing them here, on the caller's task, keeps them out of the write
//! transaction: on SQLite that transaction holds the only writer, and with group commit
//! one writer applies many callers' batches, so everything it does not
//! have to do runs in parallel on the callers' tasks instead.
//!
//! What can only be known inside the transaction (the cursor verdict and each kind's snapshot
//! generation, which upserts record as `seen_gen`) is left to [`super::group::apply`].

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::{ChangeBatch, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::LabelKeys;

use super::cursor::Cursor;
use super::plan::{self, Step};
use crate::store::Fence;
use crate::store::schema::{self as tables, CORE_COLUMNS, Table};
use crate::store::sql::{Cast, Value};

/// Position of `seen_gen` in an upsert row ([`CORE_COLUMNS`] order); filled in at apply time.
pub(crate) const SEEN_GEN: usize = 6;

/// A batch ready to apply: owned, so it can be queued for a writer task.
#[derive(Debug)]
pub(crate) struct PreparedBatch {
    /// Organization of the cluster.
    pub org: OrgId,
    /// The cluster the batch came from.
    pub cluster: ClusterId,
    /// Where the batch sits in the cluster's stream.
    pub cursor: Cursor,
    /// The time written as `updated_at`, `deleted_at` and the cluster's `last_sync_at`.
    pub now: DateTime<Utc>,
    /// The steps, in order.
    pub steps: Vec<PreparedStep>,
    /// How many changes the batch held (group commit bounds a transaction by this).
    pub changes: usize,
    /// The lease the batch was collected under (a pull collector's), checked in the
    /// batch's transaction: a batch whose lease moved is refused and writes nothing.
    pub fence: Option<Fence>,
}

/// One step of a [`PreparedBatch`], as [`Step`] but owned and encoded.
#[derive(Debug, PartialEq)]
pub(crate) enum PreparedStep {
    /// A relist of these kinds starts.
    Begin(Vec<ObjectKind>),
    /// Writes, per kind.
    Writes(Vec<(ObjectKind, PreparedWrites)>),
    /// The relist of these kinds is complete.
    End(Vec<ObjectKind>),
}

/// The writes of one segment for one kind, as bound values.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct PreparedWrites {
    /// Full rows in [`columns`] order; `seen_gen` ([`SEEN_GEN`]) is a placeholder.
    pub upserts: Vec<Vec<Value>>,
    /// `(namespace, name, keep_uid)`; see [`plan::KindWrites::slot_clears`].
    pub slot_clears: Vec<[String; 3]>,
    /// Uids to soft-delete.
    pub uid_deletes: Vec<String>,
    /// See [`plan::KindWrites::uid_delete_namespaces`].
    pub uid_delete_namespaces: Vec<String>,
}

/// The columns of `table`'s upsert rows, with how each is bound.
pub(crate) fn columns(table: &Table) -> impl Iterator<Item = (&'static str, Cast)> + '_ {
    CORE_COLUMNS.iter().chain(table.extra.iter()).copied()
}

/// Plans and encodes `batch`; see the module docs.
pub(crate) fn prepare(
    org: OrgId,
    cluster: ClusterId,
    cursor: Cursor,
    batch: &ChangeBatch,
    label_keys: &LabelKeys,
) -> PreparedBatch {
    let now = Utc::now();
    let steps = plan::plan(&batch.changes)
        .into_iter()
        .map(|step| match step {
            Step::Begin(kinds) => PreparedStep::Begin(kinds.to_vec()),
            Step::End(kinds) => PreparedStep::End(kinds.to_vec()),
            Step::Writes(writes) => PreparedStep::Writes(
                writes
                    .into_iter()
                    .map(|(kind, writes)| {
                        let upserts = writes
                            .upserts
                            .iter()
                            .map(|object| {
                                let (namespace, name, uid) = plan::parts(object);
                                let mut row = Vec::with_capacity(
                                    CORE_COLUMNS.len() + tables::table(kind).extra.len(),
                                );
                                row.extend([
                                    Value::Id(*cluster.as_uuid()),
                                    Value::Id(*org.as_uuid()),
                                    Value::Text(uid.to_owned()),
                                    Value::Text(namespace.to_owned()),
                                    Value::Text(name.into_owned()),
                                    Value::Text(tables::data_json(object)),
                                    Value::I64(0), // SEEN_GEN
                                    Value::Time(now),
                                    Value::Time(now),
                                    Value::OptTime(None),
                                ]);
                                row.extend(tables::extra_values(object, label_keys));
                                row
                            })
                            .collect();
                        let slot_clears = writes
                            .slot_clears
                            .into_iter()
                            .map(|(namespace, name, keep)| {
                                [namespace.to_owned(), name.into_owned(), keep.to_owned()]
                            })
                            .collect();
                        let uid_deletes =
                            writes.uid_deletes.into_iter().map(str::to_owned).collect();
                        let uid_delete_namespaces = writes
                            .uid_delete_namespaces
                            .into_iter()
                            .map(str::to_owned)
                            .collect();
                        let prepared = PreparedWrites {
                            upserts,
                            slot_clears,
                            uid_deletes,
                            uid_delete_namespaces,
                        };
                        (kind, prepared)
                    })
                    .collect(),
            ),
        })
        .collect();
    PreparedBatch {
        org,
        cluster,
        cursor,
        now,
        steps,
        changes: batch.changes.len(),
        fence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubeworkz_shared::change::{Change, Object};
    use kubeworkz_shared::model::{NamespacePhase, NamespaceProjection};
    use kubeworkz_shared::time::UnixMillis;

    fn namespace(name: &str, uid: &str) -> Object {
        Object::Namespace(NamespaceProjection {
            name: name.into(),
            uid: uid.into(),
            labels: Default::default(),
            phase: NamespacePhase::Active,
            created: None,
        })
    }

    #[test]
    fn rows_follow_the_column_order_and_leave_seen_gen_to_apply() {
        let (org, cluster) = (OrgId::new(), ClusterId::new());
        let batch = ChangeBatch {
            produced_at: UnixMillis(0),
            changes: vec![
                Change::SnapshotBegin {
                    kinds: vec![ObjectKind::Namespace],
                },
                Change::Upsert(namespace("a", "u-a")),
                Change::Delete(namespace("b", "u-b").key()),
                Change::SnapshotEnd {
                    kinds: vec![ObjectKind::Namespace],
                },
            ],
        };
        let cursor = Cursor { epoch: 3, seq: 9 };
        let prepared = prepare(org, cluster, cursor, &batch, &LabelKeys::default());
        assert_eq!(prepared.changes, 4);
        assert_eq!(prepared.cursor, cursor);
        assert_eq!(prepared.steps.len(), 3);
        assert_eq!(
            prepared.steps[0],
            PreparedStep::Begin(vec![ObjectKind::Namespace])
        );
        assert_eq!(
            prepared.steps[2],
            PreparedStep::End(vec![ObjectKind::Namespace])
        );
        let PreparedStep::Writes(writes) = &prepared.steps[1] else {
            panic!("writes in the middle: {:?}", prepared.steps[1]);
        };
        let (kind, writes) = &writes[0];
        assert_eq!(*kind, ObjectKind::Namespace);
        let table = tables::table(ObjectKind::Namespace);
        let names: Vec<&str> = columns(&table).map(|c| c.0).collect();
        assert_eq!(names[SEEN_GEN], "seen_gen");
        let row = &writes.upserts[0];
        assert_eq!(row.len(), names.len());
        assert_eq!(row[0], Value::Id(*cluster.as_uuid()));
        assert_eq!(row[2], Value::Text("u-a".into()));
        assert_eq!(
            writes.slot_clears,
            vec![["".to_owned(), "a".to_owned(), "u-a".to_owned()]]
        );
        assert_eq!(writes.uid_deletes, vec!["u-b".to_owned()]);
        assert_eq!(writes.uid_delete_namespaces, vec!["".to_owned()]);
    }
}
