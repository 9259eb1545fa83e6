//! Persistence: one concrete [`Store`] over SQLite or PostgreSQL.
//!
//! The store is split by what it is about, so a reader finds a behaviour where its business
//! lives and the database mechanics stay out of sight:
//!
//! - [`sql`] is the backend-neutral toolkit every query is written against (statements,
//!   values, cells, pages); it names no table.
//! - `backend` is how each database is reached (pools, transactions, row decoding, WAL
//!   checkpoints, partitions, group commit); it names no business table, and only this file
//!   imports it.
//! - The business modules (`accounts`, `agents`, `alerts`, `audit`, `clusters`, `costs`, `ingest`,
//!   `inventory`, `leases`, `maintenance`, `search`) each add an `impl Store` block with their calls, written
//!   once against [`sql::Sql`], so SQLite and PostgreSQL run the same code and the
//!   conformance suite (`hub/tests/store/`) tests it on both.
//!
//! Queries are built at run time (`query_as`, not the `query!` macros) so the build needs no
//! database; each backend has its own migrations under `migrations/{sqlite,postgres}`.

mod accounts;
mod actions;
mod agents;
mod alerts;
mod audit;
mod backend;
mod clusters;
mod costs;
mod ingest;
mod inventory;
mod leases;
mod maintenance;
mod schema;
mod search;
mod sql;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;
use kubeworkz_shared::model::LabelKeys;
use tracing::instrument;

use crate::config::DatabaseUrl;
use backend::SqlBackend;
use backend::group_commit::GroupCommit;
use sql::{Sql, Tx, Ty};

pub use accounts::{
    ApiTokenInfo, GroupRole, LAST_ADMIN, NO_PASSWORD, NewApiToken, NewSession, NewUser, OidcLogin,
    OidcProvider, OidcSessionRecord, OidcSignIn, OperationSwitches, Role, SessionRecord,
    SignInRefused, SignedIn, User, UserChange, UserCredentials,
};
pub use actions::{ACTION_KEY_TTL, ACTION_RUNNING_TTL, ActionClaim, ActionKey};
pub use agents::{
    AgentCluster, AgentLink, CertificateStanding, EnrollmentTokenInfo, NewEnrollmentToken,
    NewIssuedCertificate, Redemption, SessionCertificate, SessionLink, StoredCa,
};
pub use alerts::{
    Alert, AlertFilter, AlertKind, Budget, BudgetScope, Delivery, DeliveryAttempt, DeliveryOutcome,
    DeliveryStatus, DueDelivery, LastDelivery, NewAlert, ScopeSpend, SpendWindow, WebhookEndpoint,
    WebhookFormat,
};
pub use audit::{AuditEntry, AuditFilter, AuditKey};
pub use clusters::{
    Cluster, ClusterCounts, ClusterHealth, ClusterKey, ClusterMode, ClusterPatch, ClusterQuery,
    ClusterSort, ClusterSummary, Environment, FleetGroup, FleetGrouping, NewCluster, PullTarget,
    SealedKubeconfig, UnknownEnvironment,
};
pub use costs::{
    CostCluster, CostPeriod, CostRowFilter, CostRowKey, CostRowsPage, PriceScope,
    RightsizingNamespace, RightsizingScope, RightsizingVisit, WorkloadContainerKey,
    WorkloadContainerUsage, WorkloadTotals, WorkloadUsageDay,
};
pub use ingest::{Cursor, IngestOutcome};
pub use inventory::{
    InventoryItem, InventoryKey, InventoryQuery, InventoryRecord, InventorySort, NamespaceCounts,
    NamespaceItem, NamespaceQuotas, SortValue, TopOwner, UsageHour,
};
pub use leases::{Fence, Lease, ReplicaRecord};
pub use maintenance::MaintenanceReport;
pub use search::{
    FACET_SCAN, FACET_VALUES, FacetCount, SearchFacets, SearchHit, SearchKey, SearchPage,
};
pub use sql::paging::{PageRequest, Paged};

/// Name of the organization every new database starts with.
pub const DEFAULT_ORG: &str = "default";

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite: the zero-setup default.
    Sqlite,
    /// PostgreSQL: production and several hub replicas.
    Postgres,
}

impl Backend {
    /// Lowercase name, as shown in `/readyz` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Errors of the store. Messages never contain the database URL's credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names a database this hub does not support.
    #[error("unsupported database scheme {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedScheme(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the {backend} database")]
    Connect {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed; the database is left as the failed migration found it.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    /// The cluster does not exist in the organization (or at all).
    #[error("cluster not found")]
    ClusterNotFound,
    /// A uniqueness rule would be broken (e.g. a cluster name taken in the organization).
    #[error("{0}")]
    Conflict(String),
    /// No enrollment token with that id, or the secret does not match (indistinguishable on
    /// purpose).
    #[error("enrollment token is unknown")]
    EnrollmentTokenUnknown,
    /// A single-use enrollment token that was already redeemed.
    #[error("enrollment token was already used")]
    EnrollmentTokenUsed,
    /// An enrollment token past its expiry.
    #[error("enrollment token has expired")]
    EnrollmentTokenExpired,
    /// A revoked enrollment token.
    #[error("enrollment token was revoked")]
    EnrollmentTokenRevoked,
    /// The cluster exists but is disabled.
    #[error("cluster is disabled")]
    ClusterDisabled,
    /// An enrollment token names a cluster registered in pull mode.
    #[error("cluster {0:?} is registered in pull mode")]
    ClusterNotAgentMode(String),
    /// A write failed for a whole group of batches committed together (group commit): every
    /// caller in the group gets this error, and none of the group's batches was stored.
    #[error("database write of a batch group failed")]
    Group(#[source] Arc<sqlx::Error>),
    /// A write made under a lease that has since changed hands (or was released): nothing
    /// was written, and the writer must stop the work the lease was for.
    #[error("lease {0:?} is no longer held with this fencing token")]
    Fenced(String),
}

/// An organization: the unit of isolation that every other row belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Stable id.
    pub id: OrgId,
    /// Unique, human-chosen name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Everything the hub persists, on whichever database the URL named.
///
/// Cheap to clone (one `Arc`), so every task that needs the store holds its own handle
/// instead of a trait object: the calls are the `impl Store` blocks of the business modules,
/// one signature each.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// The lease this handle writes under ([`Store::under_lease`]), if any.
    fence: Option<Arc<leases::Fence>>,
}

struct Inner {
    backend: Box<dyn SqlBackend>,
    /// The queue that change batches are committed through (see `ingest`).
    changes: GroupCommit<ingest::ChangeBatches>,
    /// Namespace label keys for team and cost center.
    label_keys: LabelKeys,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// How a store sizes its connection pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Connections that serve reads and every write but ingest's (API requests, workers).
    ///
    /// Why bounded by the CPUs rather than by the load: a read is CPU work (SQLite's runs on
    /// its connection's own thread, PostgreSQL's on a server process, often on the same
    /// host), so connections beyond what the CPUs run at once only move the queue from the
    /// pool, which is first come first served, into the OS scheduler, which is not; the API
    /// bench's tail latencies show it. Ingest's writers have connections of their own, so
    /// reads cannot starve them and they cannot starve reads.
    pub read_connections: u32,
}

impl PoolOptions {
    /// Two read connections per CPU the hub may use (its cgroup quota counts), at least two.
    pub fn for_this_machine() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            read_connections: (2 * cpus).clamp(2, 64) as u32,
        }
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self::for_this_machine()
    }
}

/// Opens the database the URL names, runs its migrations, and makes sure the `default`
/// organization exists, with pools sized for this machine ([`PoolOptions::default`]).
pub async fn connect(url: &DatabaseUrl) -> Result<Store, StoreError> {
    connect_with(url, PoolOptions::default()).await
}

/// [`connect`] with pools sized by `pools`. This is the one way the hub gets a store.
#[instrument(skip_all, fields(database = %url, read_connections = pools.read_connections))]
pub async fn connect_with(url: &DatabaseUrl, pools: PoolOptions) -> Result<Store, StoreError> {
    let backend = backend::open(url.scheme(), url.expose(), pools).await?;
    let (writers, limits) = backend.group_writers();
    let store = Store {
        inner: Arc::new(Inner {
            backend,
            changes: GroupCommit::start(writers, limits, ingest::ChangeBatches),
            label_keys: LabelKeys::default(),
        }),
        fence: None,
    };
    store.ensure_organization(DEFAULT_ORG).await?;
    tracing::info!(backend = store.backend().as_str(), "store ready");
    Ok(store)
}

/// Runs `$body` (an async block) with `$db` bound to a fresh write transaction, committing
/// when it succeeds; an error drops the transaction, which rolls it back.
macro_rules! in_tx {
    ($store:expr, |$db:ident| $body:expr) => {{
        let mut tx = $store.begin().await?;
        let $db: &mut dyn $crate::store::sql::Sql = &mut *tx;
        let out: Result<_, $crate::store::StoreError> = $body.await;
        let out = out?;
        tx.commit().await?;
        Ok(out)
    }};
}

/// Runs `$body` (an async block) with `$db` bound to a pooled read connection.
macro_rules! on_conn {
    ($store:expr, |$db:ident| $body:expr) => {{
        let mut conn = $store.read().await?;
        let $db: &mut dyn $crate::store::sql::Sql = &mut *conn;
        $body.await
    }};
}

pub(crate) use {in_tx, on_conn};

impl Store {
    /// This store as a handle whose work-of-a-lease writes carry `fence`: ingest (changes
    /// and usage) and the cost saves check it in their own transaction and fail with
    /// [`StoreError::Fenced`], writing nothing, once the lease has changed hands. Why a
    /// handle: the pull collector and the cost worker keep calling the store as they always
    /// did, and whatever they write is fenced without a fenced twin of every call.
    pub fn under_lease(&self, fence: leases::Fence) -> Store {
        Store {
            inner: self.inner.clone(),
            fence: Some(Arc::new(fence)),
        }
    }

    /// The fence this handle's writes carry ([`Store::under_lease`]).
    pub fn fence(&self) -> Option<&leases::Fence> {
        self.fence.as_deref()
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.inner.backend.kind()
    }

    /// Checks that the database answers (for `/readyz`).
    #[instrument(skip_all)]
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_conn!(self, |db| async {
            db.fetch("SELECT 1", vec![], &[Ty::I64]).await?;
            Ok(())
        })
    }

    /// Closes the connection pools, waiting for queries in flight; queued change batches
    /// are applied first, before the pool closes under them.
    #[instrument(skip_all)]
    pub async fn close(&self) {
        self.inner.changes.close().await;
        self.inner.backend.close().await;
    }

    /// A write transaction (SQLite serializes writers here; it has only one anyway).
    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error> {
        self.inner.backend.begin().await
    }

    /// A pooled connection for reads.
    async fn read(&self) -> Result<Box<dyn Sql>, sqlx::Error> {
        self.inner.backend.read().await
    }

    /// Namespace label keys for team and cost center.
    fn label_keys(&self) -> &LabelKeys {
        &self.inner.label_keys
    }

    /// Queues change batches for group commit and waits for their outcome.
    async fn commit_changes(
        &self,
        batch: ingest::PreparedBatch,
    ) -> Result<IngestOutcome, StoreError> {
        self.inner.changes.submit(batch).await
    }

    /// Backend-specific maintenance: what `maintenance` asks of the database it cannot say
    /// in portable SQL.
    fn maintenance(&self) -> &dyn SqlBackend {
        &*self.inner.backend
    }
}
