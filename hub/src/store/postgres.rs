//! The PostgreSQL store: for production and for several hub replicas sharing one database.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, FromRow, PgPool};
use tracing::instrument;
use uuid::Uuid;

use super::{Backend, Organization, Store, StoreError};

/// Migrations embedded at build time, so the binary needs no files beside it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// [`Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and migrates. Concurrent hubs are safe: sqlx takes an advisory lock around
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connect_err = |source| StoreError::Connect {
            backend: "postgres",
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(connect_err)?;
        // One direct connection first: a pool hides the cause ("connection refused", "password
        // authentication failed") behind "pool timed out", which tells an operator nothing.
        let probe = tokio::time::timeout(Duration::from_secs(10), options.connect())
            .await
            .map_err(|_| connect_err(sqlx::Error::PoolTimedOut))?
            .map_err(connect_err)?;
        probe.close().await.map_err(connect_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self { pool })
    }
}

#[derive(FromRow)]
struct OrgRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<OrgRow> for Organization {
    fn from(row: OrgRow) -> Self {
        Organization {
            id: OrgId::from_uuid(row.id),
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    #[instrument(skip_all)]
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn organization_by_name(&self, name: &str) -> Result<Option<Organization>, StoreError> {
        Ok(sqlx::query_as::<_, OrgRow>(
            "SELECT id, name, created_at FROM organizations WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .map(Organization::from))
    }

    #[instrument(skip_all)]
    async fn ensure_organization(&self, name: &str) -> Result<Organization, StoreError> {
        let row = sqlx::query_as::<_, OrgRow>(
            "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name \
             RETURNING id, name, created_at",
        )
        .bind(OrgId::new().as_uuid())
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
