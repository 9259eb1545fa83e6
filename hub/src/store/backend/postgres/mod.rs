//! The PostgreSQL backend: for production and for several hub replicas sharing one database.
//!
//! The tables the business side names as partitioned are range-partitioned by month; their
//! partitions are kept by [`partitions`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool, Postgres, Row, Transaction};

mod partitions;
mod wire;

use super::SqlBackend;
use super::group_commit::{Begin, GroupLimits};
use crate::store::sql::{Dialect, PartitionedTable, Sql, Tx, Ty, Value};
use crate::store::{Backend, PoolOptions, StoreError};
use wire::Columns;

/// Migrations embedded at build time, so the binary needs no files beside it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A pooled connection idle this long is pinged before use (see `connect`).
const STALE_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Group commit on PostgreSQL: a few transactions in flight (the server works on them in
/// parallel), each at most 64 savepoints (see [`GroupLimits::max_batches`]).
const GROUP_LIMITS: GroupLimits = GroupLimits {
    writers: 4,
    max_items: 64,
    max_weight: 20_000,
    queue: 256,
};

/// The store's database on PostgreSQL.
#[derive(Debug)]
pub(super) struct PostgresBackend {
    /// Reads, and every write but group commit's.
    pool: PgPool,
    /// Group commit's writers.
    writers: PgPool,
}

/// What the group-commit writers open transactions from.
struct Writer(PgPool);

#[async_trait]
impl Begin for Writer {
    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error> {
        Ok(Box::new(Conn(self.0.begin().await?)))
    }
}

impl PostgresBackend {
    /// Connects and migrates. Concurrent hubs are safe: sqlx takes an advisory lock around
    /// migrations.
    pub(super) async fn connect(url: &str, pools: PoolOptions) -> Result<Self, StoreError> {
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
        // sqlx pings every connection it hands out by default: a server round trip per store
        // call, doubling the round trips of an API request. A connection that was in use
        // moments ago is alive; only one idle for a while (a server restart or a proxy's idle
        // cut may have closed it) is pinged, and dropped if the ping fails.
        let pool_of = |size: u32| {
            PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for < STALE_AFTER_IDLE {
                            return Ok(true);
                        }
                        Ok(conn.ping().await.is_ok())
                    })
                })
        };
        let pool = pool_of(pools.read_connections)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        // The group-commit writers' own connections, one each (see `PoolOptions`).
        let writers = pool_of(GROUP_LIMITS.writers as u32)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(Self { pool, writers })
    }
}

struct Conn<C>(C);

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn bind(query: PgQuery<'_>, value: Value) -> PgQuery<'_> {
    match value {
        Value::Id(v) => query.bind(v),
        Value::Text(v) => query.bind(v),
        Value::OptText(v) => query.bind(v),
        Value::I64(v) => query.bind(v),
        Value::OptI64(v) => query.bind(v),
        Value::Bool(v) => query.bind(v),
        Value::Time(v) => query.bind(v),
        Value::OptTime(v) => query.bind(v),
        Value::Bytes(v) => query.bind(v),
        Value::OptBytes(v) => query.bind(v),
    }
}

/// One row as `columns` says: each cell from its wire bytes where [`Columns::cell`] reads
/// them (nearly all of them), else through sqlx. Written as a loop into a vector of the
/// row's size: collected from an iterator of `Result`s, the vector would start small and
/// grow (and move) several times for a wide row such as a cluster's.
fn decode(row: &PgRow, wire: &Columns, columns: &[Ty]) -> Result<Vec<Value>, sqlx::Error> {
    let mut cells = Vec::with_capacity(columns.len());
    for (i, ty) in columns.iter().enumerate() {
        cells.push(match wire.cell(row, i, *ty) {
            Some(cell) => cell,
            None => slow_cell(row, i, *ty)?,
        });
    }
    Ok(cells)
}

/// A cell through sqlx's decode: what [`Columns::cell`] leaves (other types, text format,
/// NULL in a column that allows none, which this reports).
fn slow_cell(row: &PgRow, i: usize, ty: Ty) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        Ty::Id => Value::Id(row.try_get(i)?),
        Ty::Text => Value::Text(row.try_get(i)?),
        Ty::OptText => Value::OptText(row.try_get(i)?),
        // Counts and sums are int8; small integer columns are int4.
        Ty::I64 => Value::I64(
            row.try_get::<i64, _>(i)
                .or_else(|_| row.try_get::<i32, _>(i).map(i64::from))?,
        ),
        Ty::OptI64 => Value::OptI64(
            row.try_get::<Option<i64>, _>(i)
                .or_else(|_| row.try_get::<Option<i32>, _>(i).map(|v| v.map(i64::from)))?,
        ),
        Ty::Bool => Value::Bool(row.try_get(i)?),
        Ty::Time => Value::Time(row.try_get(i)?),
        Ty::OptTime => Value::OptTime(row.try_get(i)?),
        Ty::OptBytes => Value::OptBytes(row.try_get(i)?),
    })
}

#[async_trait]
impl<C> Sql for Conn<C>
where
    C: std::ops::DerefMut<Target = sqlx::PgConnection> + Send,
{
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error> {
        let query = args
            .into_iter()
            .fold(sqlx::query(AssertSqlSafe(sql.to_owned())), bind);
        Ok(query.execute(&mut *self.0).await?.rows_affected())
    }

    async fn fetch(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        columns: &[Ty],
    ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        let query = args
            .into_iter()
            .fold(sqlx::query(AssertSqlSafe(sql.to_owned())), bind);
        let rows = query.fetch_all(&mut *self.0).await?;
        let mut decoded = Vec::with_capacity(rows.len());
        let Some(first) = rows.first() else {
            return Ok(decoded);
        };
        let wire = Columns::of(first);
        for row in &rows {
            decoded.push(decode(row, &wire, columns)?);
        }
        Ok(decoded)
    }
}

#[async_trait]
impl Tx for Conn<Transaction<'static, Postgres>> {
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }
}

#[async_trait]
impl SqlBackend for PostgresBackend {
    fn kind(&self) -> Backend {
        Backend::Postgres
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error> {
        Writer(self.pool.clone()).begin().await
    }

    async fn read(&self) -> Result<Box<dyn Sql>, sqlx::Error> {
        let conn: PoolConnection<Postgres> = self.pool.acquire().await?;
        Ok(Box::new(Conn(conn)))
    }

    fn group_writers(&self) -> (Arc<dyn Begin>, GroupLimits) {
        (Arc::new(Writer(self.writers.clone())), GROUP_LIMITS)
    }

    async fn serialize_maintenance(&self, tx: &mut dyn Sql) -> Result<(), sqlx::Error> {
        // One maintainer at a time across hub replicas; others wait, then find work done.
        tx.execute("SELECT pg_advisory_xact_lock(7239001)", vec![])
            .await?;
        Ok(())
    }

    async fn maintain_partitions(
        &self,
        tx: &mut dyn Sql,
        tables: &[PartitionedTable],
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let (mut created, mut dropped) = (Vec::new(), Vec::new());
        for table in tables {
            created.extend(partitions::create_ahead(tx, table, now).await?);
            dropped.extend(partitions::drop_expired(tx, table, cutoff).await?);
        }
        Ok((created, dropped))
    }

    async fn refresh_statistics(&self, tables: &[&str]) -> Result<(), sqlx::Error> {
        if tables.is_empty() {
            return Ok(());
        }
        // Table names come from the store's constants, never from input.
        sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE {}", tables.join(", "))))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
        self.writers.close().await;
    }
}
