//! Persistence: one [`Store`] trait with a SQLite and a PostgreSQL implementation.
//!
//! The rest of the hub sees only the trait, so every behaviour is written once against it and
//! tested once by the shared conformance suite (`hub/tests/store/`), run on both backends.
//! Queries are built at run time (`query_as`, not the `query!` macros) so the build needs no
//! database; each backend has its own migrations under `migrations/{sqlite,postgres}`.

mod postgres;
mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;

use crate::config::DatabaseUrl;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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

/// Everything the hub persists. Implemented once per backend; see the module docs.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Looks an organization up by its unique name.
    async fn organization_by_name(&self, name: &str) -> Result<Option<Organization>, StoreError>;

    /// Creates an organization, or returns the existing one of that name.
    async fn ensure_organization(&self, name: &str) -> Result<Organization, StoreError>;

    /// Closes the connection pool, waiting for queries in flight.
    async fn close(&self);
}

/// Opens the database the URL names, runs its migrations, and makes sure the `default`
/// organization exists. This is the one way the hub gets a store.
#[tracing::instrument(skip_all, fields(database = %url))]
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match url.scheme() {
        "sqlite" => Arc::new(SqliteStore::connect(url.expose()).await?),
        "postgres" | "postgresql" => Arc::new(PostgresStore::connect(url.expose()).await?),
        other => return Err(StoreError::UnsupportedScheme(other.to_owned())),
    };
    store.ensure_organization(DEFAULT_ORG).await?;
    tracing::info!(backend = store.backend().as_str(), "store ready");
    Ok(store)
}
