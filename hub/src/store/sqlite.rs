//! The SQLite store: embedded, zero set-up, one file (WAL mode, foreign keys on).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};
use tracing::instrument;
use uuid::Uuid;

use super::{Backend, Organization, Store, StoreError};

/// Migrations embedded at build time, so the binary needs no files beside it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// [`Store`] on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connect_err = |source| StoreError::Connect {
            backend: "sqlite",
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self { pool })
    }
}

/// SQLite stores UUIDs as text and times as RFC 3339 text; this is the row as stored.
#[derive(FromRow)]
struct OrgRow {
    id: String,
    name: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<OrgRow> for Organization {
    type Error = StoreError;

    fn try_from(row: OrgRow) -> Result<Self, StoreError> {
        let id = Uuid::parse_str(&row.id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(Organization {
            id: OrgId::from_uuid(id),
            name: row.name,
            created_at: row.created_at,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    #[instrument(skip_all)]
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn organization_by_name(&self, name: &str) -> Result<Option<Organization>, StoreError> {
        sqlx::query_as::<_, OrgRow>(
            "SELECT id, name, created_at FROM organizations WHERE name = ?1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .map(Organization::try_from)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn ensure_organization(&self, name: &str) -> Result<Organization, StoreError> {
        let row = sqlx::query_as::<_, OrgRow>(
            "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET name = excluded.name \
             RETURNING id, name, created_at",
        )
        .bind(OrgId::new().to_string())
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await?;
        row.try_into()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
