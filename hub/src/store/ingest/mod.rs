//! The only code that writes inventory: collector output (change batches, usage buckets,
//! health verdicts) applied exactly once per [`Cursor`] ([`cursor`]).
//!
//! A change batch is planned ([`plan`]) and encoded ([`prepare`]) on the caller's task, then
//! queued for group commit, whose writers apply many callers' batches in one transaction
//! ([`ChangeBatches`]); the statements are set-based and written by [`group`] for one batch
//! or many, one statement per stage, kind and chunk of rows, so a large batch costs a
//! handful of round trips. The same transaction keeps the cluster and namespace counts the
//! API reads ([`cluster_counts`], [`namespace_counts`]).

pub(crate) mod cluster_counts;
mod cursor;
mod group;
pub(crate) mod namespace_counts;
mod plan;
mod prepare;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::borrow::Cow;

use kubeworkz_shared::change::{Change, ChangeBatch, Object};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{HealthReport, UsageBucket};
use tracing::instrument;
use uuid::Uuid;

use crate::store::schema;
use crate::store::sql::{Cast, GroupWork, Sql, Value, run_rows, values_rows};
use crate::store::{Store, StoreError, in_tx, leases};
pub use cursor::{Cursor, IngestOutcome};
use cursor::{advance_cursor, check_cursor};
pub(crate) use prepare::PreparedBatch;

/// Change batches as group commit's work: a lone batch is a group of one, so [`group`] is
/// the only code that writes inventory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChangeBatches;

#[async_trait]
impl GroupWork for ChangeBatches {
    type Item = PreparedBatch;
    type Outcome = IngestOutcome;

    fn key(batch: &PreparedBatch) -> Uuid {
        *batch.cluster.as_uuid()
    }

    fn weight(batch: &PreparedBatch) -> usize {
        batch.changes
    }

    async fn apply(
        &self,
        db: &mut dyn Sql,
        batch: PreparedBatch,
    ) -> Result<IngestOutcome, StoreError> {
        group::apply(db, &[&batch])
            .await?
            .pop()
            .expect("one outcome per batch")
    }

    async fn apply_merged(
        &self,
        db: &mut dyn Sql,
        batches: &[&PreparedBatch],
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
        group::apply(db, batches).await
    }
}

/// `batch` with every object in its current projection; borrowed unless it holds a legacy one.
fn upgraded(batch: &ChangeBatch) -> Cow<'_, ChangeBatch> {
    let legacy = |c: &Change| matches!(c, Change::Upsert(Object::LegacyPod(_)));
    if !batch.changes.iter().any(legacy) {
        return Cow::Borrowed(batch);
    }
    Cow::Owned(ChangeBatch {
        produced_at: batch.produced_at,
        changes: batch
            .changes
            .iter()
            .cloned()
            .map(Change::upgraded)
            .collect(),
    })
}

impl Store {
    /// Applies a change batch in one transaction, exactly once per cursor (and refused
    /// with [`StoreError::Fenced`] when this handle's lease moved: [`Store::under_lease`]).
    ///
    /// Every batch, from an agent or the pull collector, enters the store here; objects an
    /// older agent sent in a superseded layout (`Object::LegacyPod`) are upgraded here, so
    /// nothing past this point sees them.
    #[instrument(skip_all, fields(changes = batch.changes.len()))]
    pub async fn ingest_changes(
        &self,
        org: OrgId,
        cluster: ClusterId,
        cursor: Cursor,
        batch: &ChangeBatch,
    ) -> Result<IngestOutcome, StoreError> {
        let batch = upgraded(batch);
        let mut prepared = prepare::prepare(org, cluster, cursor, &batch, self.label_keys());
        prepared.fence = self.fence().cloned();
        self.commit_changes(prepared).await
    }

    /// Records usage buckets in one transaction, exactly once per cursor: additive rows
    /// keyed by the delivering cursor (fenced like [`Store::ingest_changes`]).
    #[instrument(skip_all, fields(buckets = buckets.len()))]
    pub async fn ingest_usage(
        &self,
        org: OrgId,
        cluster: ClusterId,
        cursor: Cursor,
        buckets: &[UsageBucket],
    ) -> Result<IngestOutcome, StoreError> {
        in_tx!(self, |db| async {
            leases::check_own_fence(db, self).await?;
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
                        Value::Time(schema::time(b.hour_start)),
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
        })
    }

    /// Records a health verdict delivered by an agent at `cursor`, exactly once per cursor,
    /// moving the cursor in the same transaction (like the two ingest calls).
    #[instrument(skip_all)]
    pub async fn ingest_health(
        &self,
        org: OrgId,
        cluster: ClusterId,
        cursor: Cursor,
        report: &HealthReport,
        at: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        in_tx!(self, |db| async {
            if let Some(outcome) = check_cursor(db, org, cluster, cursor).await? {
                return Ok(outcome);
            }
            crate::store::clusters::record_health(db, org, cluster, report, at).await?;
            advance_cursor(db, cluster, cursor, Utc::now()).await?;
            Ok(IngestOutcome::Applied)
        })
    }
}
