//! The one [`Store`] implementation, over any [`SqlBackend`].
//!
//! A backend supplies connections and transactions that speak [`Sql`], plus the little that
//! is truly different (partition maintenance). Every behaviour is here or in the modules it
//! calls, once, so SQLite and PostgreSQL cannot drift apart: the conformance suite tests the
//! same code on both.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::change::{ChangeBatch, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{HealthReport, LabelKeys, UsageBucket};
use tracing::instrument;

use super::sql::Sql;
use kubeworkz_shared::protocol::SecretHash;

use super::agents::{
    AgentCluster, EnrollmentTokenInfo, NewEnrollmentToken, NewIssuedCertificate, Redemption,
    StoredCa,
};
use super::commit::GroupCommit;
use super::costs::{CostCluster, CostRowFilter, PriceScope};
use super::types::{
    Cluster, Cursor, IngestOutcome, InventoryRecord, MaintenanceReport, NewCluster, PullTarget,
    SealedKubeconfig,
};
use super::{
    AgentLink, Backend, Organization, Store, StoreError, agent_links, agents, clusters, costs,
    ingest, prepare, queries,
};
use crate::cost::{Allocation, HourInput, PriceBook, PriceOverride};
use kubeworkz_shared::time::UnixMillis;

/// A transaction: statements, then commit (dropping it rolls back).
#[async_trait]
pub trait Tx: Sql {
    /// Commits.
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error>;
}

/// What a database must provide for [`Store`]. Public only inside this private module.
#[async_trait]
pub trait SqlBackend: Send + Sync + fmt::Debug {
    /// Which database this is.
    fn kind(&self) -> Backend;

    /// A transaction for writes (SQLite serializes writers here; it has only one anyway).
    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error>;

    /// A pooled connection for reads.
    async fn read(&self) -> Result<Box<dyn Sql>, sqlx::Error>;

    /// Namespace label keys for team and cost center.
    fn label_keys(&self) -> &LabelKeys;

    /// The queue that change batches are committed through (see [`super::commit`]).
    fn group_commit(&self) -> &GroupCommit;

    /// See [`Store::maintain`].
    async fn maintain(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<MaintenanceReport, StoreError>;

    /// Closes the pool.
    async fn close(&self);
}

/// Runs `$body` with `$db` bound to a fresh write transaction, committing on success.
macro_rules! in_tx {
    ($self:ident, |$db:ident| $body:expr) => {{
        let mut tx = $self.begin().await?;
        let $db: &mut dyn Sql = &mut *tx;
        let out = $body.await?;
        tx.commit().await?;
        Ok(out)
    }};
}

/// Runs `$body` with `$db` bound to a pooled connection.
macro_rules! on_conn {
    ($self:ident, |$db:ident| $body:expr) => {{
        let mut conn = $self.read().await?;
        let $db: &mut dyn Sql = &mut *conn;
        $body.await
    }};
}

// The API's blanket impl (`api_store.rs`) runs its calls the same way.
pub(super) use {in_tx, on_conn};

#[async_trait]
impl<B: SqlBackend> Store for B {
    fn backend(&self) -> Backend {
        self.kind()
    }

    #[instrument(skip_all)]
    async fn ping(&self) -> Result<(), StoreError> {
        on_conn!(self, |db| async {
            db.fetch("SELECT 1", vec![], &[super::sql::Ty::I64]).await?;
            Ok(())
        })
    }

    #[instrument(skip_all)]
    async fn organization_by_name(&self, name: &str) -> Result<Option<Organization>, StoreError> {
        on_conn!(self, |db| queries::organization_by_name(db, name))
    }

    #[instrument(skip_all)]
    async fn ensure_organization(&self, name: &str) -> Result<Organization, StoreError> {
        in_tx!(self, |db| queries::ensure_organization(db, name))
    }

    #[instrument(skip_all)]
    async fn create_cluster(&self, new: &NewCluster) -> Result<Cluster, StoreError> {
        in_tx!(self, |db| clusters::create_cluster(db, new))
    }

    #[instrument(skip_all)]
    async fn cluster(&self, org: OrgId, id: ClusterId) -> Result<Option<Cluster>, StoreError> {
        on_conn!(self, |db| clusters::cluster(db, org, id))
    }

    #[instrument(skip_all)]
    async fn list_clusters(&self, org: OrgId) -> Result<Vec<Cluster>, StoreError> {
        on_conn!(self, |db| clusters::list_clusters(db, org))
    }

    #[instrument(skip_all)]
    async fn delete_cluster(&self, org: OrgId, id: ClusterId) -> Result<bool, StoreError> {
        in_tx!(self, |db| clusters::delete_cluster(db, org, id))
    }

    #[instrument(skip_all)]
    async fn set_cluster_enabled(
        &self,
        org: OrgId,
        id: ClusterId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let found = clusters::set_enabled(db, org, id, enabled).await?;
            if found && !enabled {
                // A disabled cluster's certificates are dead: the transport refuses them anyway,
                // and the listing should say so.
                agents::revoke_certificates(db, org, id).await?;
            }
            Ok::<_, StoreError>(found)
        })
    }

    #[instrument(skip_all)]
    async fn record_health(
        &self,
        org: OrgId,
        id: ClusterId,
        report: &HealthReport,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| clusters::record_health(db, org, id, report, at))
    }

    #[instrument(skip_all)]
    async fn record_sync_error(
        &self,
        org: OrgId,
        id: ClusterId,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| clusters::record_sync_error(db, org, id, error))
    }

    #[instrument(skip_all)]
    async fn record_identity(
        &self,
        org: OrgId,
        id: ClusterId,
        provider: Option<&str>,
        version: Option<&str>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| clusters::record_identity(
            db, org, id, provider, version
        ))
    }

    #[instrument(skip_all)]
    async fn record_heartbeat(
        &self,
        org: OrgId,
        id: ClusterId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| clusters::record_heartbeat(db, org, id, at))
    }

    #[instrument(skip_all)]
    async fn ingest_health(
        &self,
        org: OrgId,
        id: ClusterId,
        cursor: Cursor,
        report: &HealthReport,
        at: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        in_tx!(self, |db| ingest::ingest_health(
            db, org, id, cursor, report, at
        ))
    }

    #[instrument(skip_all)]
    async fn create_enrollment_token(
        &self,
        new: &NewEnrollmentToken,
    ) -> Result<EnrollmentTokenInfo, StoreError> {
        in_tx!(self, |db| agents::create_token(db, new))
    }

    #[instrument(skip_all)]
    async fn enrollment_tokens(&self, org: OrgId) -> Result<Vec<EnrollmentTokenInfo>, StoreError> {
        on_conn!(self, |db| agents::list_tokens(db, org))
    }

    #[instrument(skip_all)]
    async fn revoke_enrollment_token(&self, org: OrgId, id: &str) -> Result<bool, StoreError> {
        in_tx!(self, |db| agents::revoke_token(db, org, id))
    }

    #[instrument(skip_all)]
    async fn redeem_enrollment_token(
        &self,
        id: &str,
        secret_hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError> {
        in_tx!(self, |db| agents::redeem_token(db, id, secret_hash, now))
    }

    #[instrument(skip_all)]
    async fn record_issued_certificate(
        &self,
        cert: &NewIssuedCertificate,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| agents::record_certificate(db, cert))
    }

    #[instrument(skip_all)]
    async fn agent_cluster(&self, id: ClusterId) -> Result<Option<AgentCluster>, StoreError> {
        on_conn!(self, |db| agents::agent_cluster(db, id))
    }

    #[instrument(skip_all)]
    async fn agent_links(&self, clusters: &[ClusterId]) -> Result<Vec<AgentLink>, StoreError> {
        on_conn!(self, |db| agent_links::agent_links(db, clusters))
    }

    #[instrument(skip_all)]
    async fn request_agent_resync(&self, org: OrgId, id: ClusterId) -> Result<bool, StoreError> {
        in_tx!(self, |db| agent_links::request_agent_resync(
            db,
            org,
            id,
            Utc::now()
        ))
    }

    #[instrument(skip_all)]
    async fn clear_agent_resync(
        &self,
        id: ClusterId,
        delivered: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| agent_links::clear_agent_resync(
            db, id, delivered
        ))
    }

    #[instrument(skip_all)]
    async fn hub_ca(&self) -> Result<Option<StoredCa>, StoreError> {
        on_conn!(self, |db| agents::hub_ca(db))
    }

    #[instrument(skip_all)]
    async fn insert_hub_ca(&self, ca: &StoredCa) -> Result<StoredCa, StoreError> {
        in_tx!(self, |db| agents::insert_hub_ca(db, ca))
    }

    #[instrument(skip_all)]
    async fn pull_targets(&self, enabled_only: bool) -> Result<Vec<PullTarget>, StoreError> {
        on_conn!(self, |db| clusters::pull_targets(db, enabled_only))
    }

    #[instrument(skip_all)]
    async fn replace_kubeconfig(
        &self,
        org: OrgId,
        id: ClusterId,
        sealed: &SealedKubeconfig,
        api_server_url: Option<&str>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| clusters::replace_kubeconfig(
            db,
            org,
            id,
            sealed,
            api_server_url
        ))
    }

    #[instrument(skip_all, fields(changes = batch.changes.len()))]
    async fn ingest_changes(
        &self,
        org: OrgId,
        cluster: ClusterId,
        cursor: Cursor,
        batch: &ChangeBatch,
    ) -> Result<IngestOutcome, StoreError> {
        let prepared = prepare::prepare(org, cluster, cursor, batch, self.label_keys());
        self.group_commit().submit(prepared).await
    }

    #[instrument(skip_all, fields(buckets = buckets.len()))]
    async fn ingest_usage(
        &self,
        org: OrgId,
        cluster: ClusterId,
        cursor: Cursor,
        buckets: &[UsageBucket],
    ) -> Result<IngestOutcome, StoreError> {
        in_tx!(self, |db| ingest::ingest_usage(
            db, org, cluster, cursor, buckets
        ))
    }

    #[instrument(skip_all)]
    async fn inventory(
        &self,
        org: OrgId,
        cluster: ClusterId,
        kind: ObjectKind,
        live_only: bool,
    ) -> Result<Vec<InventoryRecord>, StoreError> {
        on_conn!(self, |db| queries::inventory(
            db, org, cluster, kind, live_only
        ))
    }

    #[instrument(skip_all)]
    async fn inventory_counts(
        &self,
        org: OrgId,
        cluster: ClusterId,
    ) -> Result<BTreeMap<ObjectKind, u64>, StoreError> {
        on_conn!(self, |db| queries::inventory_counts(db, org, cluster))
    }

    #[instrument(skip_all)]
    async fn usage(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        on_conn!(self, |db| queries::usage(db, org, cluster, hour_start))
    }

    #[instrument(skip_all)]
    async fn maintain(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<MaintenanceReport, StoreError> {
        SqlBackend::maintain(self, now, retention).await
    }

    async fn close(&self) {
        // Queued batches are applied before the pool closes under them.
        self.group_commit().close().await;
        SqlBackend::close(self).await;
    }

    #[instrument(skip_all)]
    async fn cost_hour_input(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
    ) -> Result<HourInput, StoreError> {
        on_conn!(self, |db| costs::hour_input(db, org, cluster, hour_start))
    }

    #[instrument(skip_all, fields(rows = rows.len()))]
    async fn save_cost_hour(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
        rows: &[Allocation],
        computed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| costs::save_hour(
            db,
            org,
            cluster,
            hour_start,
            rows,
            computed_at
        ))
    }

    #[instrument(skip_all, fields(rows = rows.len()))]
    async fn save_cost_hour_so_far(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
        rows: &[Allocation],
        computed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| costs::save_hour_so_far(
            db,
            org,
            cluster,
            hour_start,
            rows,
            computed_at
        ))
    }

    #[instrument(skip_all, fields(rows = rows.len()))]
    async fn save_cost_day(
        &self,
        org: OrgId,
        cluster: ClusterId,
        day_start: UnixMillis,
        rows: &[Allocation],
        computed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| costs::save_day(
            db,
            org,
            cluster,
            day_start,
            rows,
            computed_at
        ))
    }

    #[instrument(skip_all)]
    async fn cost_rows(
        &self,
        org: OrgId,
        filter: &CostRowFilter,
    ) -> Result<Vec<Allocation>, StoreError> {
        on_conn!(self, |db| costs::rows(db, org, filter))
    }

    #[instrument(skip_all)]
    async fn cost_clusters(&self) -> Result<Vec<CostCluster>, StoreError> {
        on_conn!(self, |db| costs::clusters(db))
    }

    #[instrument(skip_all)]
    async fn price_book(&self, org: OrgId) -> Result<PriceBook, StoreError> {
        on_conn!(self, |db| costs::price_book(db, org))
    }

    #[instrument(skip_all)]
    async fn set_price_override(
        &self,
        org: OrgId,
        scope: &PriceScope,
        prices: &PriceOverride,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| costs::set_price_override(
            db,
            org,
            scope,
            prices,
            Utc::now()
        ))
    }
}
