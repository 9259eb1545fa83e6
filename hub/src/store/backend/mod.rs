//! How the store talks to each database: pools, transactions, decoding rows, and the little
//! that is truly different between them (WAL checkpoints, time partitions, statistics).
//!
//! Nothing here knows a business table: the business modules hand in what a backend must
//! act on (the partitioned tables, the tables to analyze, the work group commit applies),
//! so a new table or query never touches this folder. Only `store/mod.rs` imports it.

pub(super) mod group_commit;
mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{PartitionedTable, Sql, Tx};
use super::{Backend, PoolOptions, StoreError};
use group_commit::{Begin, GroupLimits};

/// What a database must provide for the [`Store`](super::Store).
#[async_trait]
pub(super) trait SqlBackend: Send + Sync {
    /// Which database this is.
    fn kind(&self) -> Backend;

    /// A transaction for writes.
    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error>;

    /// A pooled connection for reads.
    async fn read(&self) -> Result<Box<dyn Sql>, sqlx::Error>;

    /// Where group commit's writers open their transactions, and how big their groups grow.
    fn group_writers(&self) -> (Arc<dyn Begin>, GroupLimits);

    /// Makes concurrent maintenance runs (other hub replicas) wait for this one, for the
    /// rest of `tx`.
    async fn serialize_maintenance(&self, tx: &mut dyn Sql) -> Result<(), sqlx::Error>;

    /// Keeps `tables`' time partitions ready ahead of `now` and drops those wholly before
    /// `cutoff`; returns the partitions created and dropped. Nothing where the database
    /// does not partition.
    async fn maintain_partitions(
        &self,
        tx: &mut dyn Sql,
        tables: &[PartitionedTable],
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<String>), StoreError>;

    /// Refreshes the planner's statistics, of `tables` where the database analyzes by table.
    async fn refresh_statistics(&self, tables: &[&str]) -> Result<(), sqlx::Error>;

    /// Closes the pools.
    async fn close(&self);
}

/// Opens and migrates the database `url` names (its `scheme` already parsed out).
pub(super) async fn open(
    scheme: &str,
    url: &str,
    pools: PoolOptions,
) -> Result<Box<dyn SqlBackend>, StoreError> {
    Ok(match scheme {
        "sqlite" => Box::new(sqlite::SqliteBackend::connect(url, pools).await?),
        "postgres" | "postgresql" => {
            Box::new(postgres::PostgresBackend::connect(url, pools).await?)
        }
        other => return Err(StoreError::UnsupportedScheme(other.to_owned())),
    })
}
