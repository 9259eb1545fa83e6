//! The SQLite backend: embedded, zero set-up, one file (WAL mode, foreign keys on).
//!
//! SQLite has one writer at a time; writes are serialized in-process by a mutex taken before
//! `BEGIN IMMEDIATE`, which also takes the database write lock up front (waiting up to the busy
//! timeout), so a transaction that reads before it writes never fails to upgrade its lock —
//! not even against another process, such as a `kubeworkz-hub token create` run beside
//! `serve`. One hub process per database file (several hub replicas need PostgreSQL).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

mod rows;
mod wal;

use super::SqlBackend;
use super::group_commit::{Begin, GroupLimits};
use crate::store::sql::{Dialect, PartitionedTable, Sql, Tx, Ty, Value, parse_uuid};
use crate::store::{Backend, PoolOptions, StoreError};
use wal::{Checkpointer, WalPolicy};

/// Migrations embedded at build time, so the binary needs no files beside it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Group commit on SQLite: one writer task (SQLite has one writer), large groups.
const GROUP_LIMITS: GroupLimits = GroupLimits {
    writers: 1,
    max_items: 256,
    max_weight: 20_000,
    queue: 256,
};

/// Page cache of the one writer connection, in KiB: it holds the indexes' hot pages.
const WRITER_CACHE_KIB: u32 = 128 * 1024;

/// The store's database on SQLite.
#[derive(Debug)]
pub(super) struct SqliteBackend {
    /// Read connections.
    pool: SqlitePool,
    writer: Writer,
    checkpoints: Checkpointer,
}

/// The one write connection and the in-process writer lock: what opens a write transaction.
#[derive(Debug, Clone)]
struct Writer {
    pool: SqlitePool,
    lock: Arc<Mutex<()>>,
}

#[async_trait]
impl Begin for Writer {
    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error> {
        let writer = self.lock.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(WriteTx {
            conn: Conn(tx),
            _writer: writer,
        }))
    }
}

impl SqliteBackend {
    /// Opens (creating if missing) the database file and migrates it.
    pub(super) async fn connect(url: &str, pools: PoolOptions) -> Result<Self, StoreError> {
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
        // Writes go through one dedicated connection. SQLite drops a connection's whole page
        // cache when another connection wrote since its last transaction, so writes spread
        // over a pool start cold every time; a single writer keeps its B-tree pages hot.
        // Neither pool pings a connection before handing it out (sqlx's default): a SQLite
        // connection is a handle on a local file and cannot go stale like a socket, and the
        // ping is a round trip to the connection's worker thread on every store call.
        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
                    // Savepoint and statement journals in memory: by default each group commit
                    // would create, write and delete temporary files.
                    .pragma("temp_store", "memory")
                    // Commits never checkpoint: `wal` does, on its own connection.
                    .pragma("wal_autocheckpoint", "0"),
            )
            .await
            .map_err(connect_err)?;
        MIGRATOR
            .run(&write_pool)
            .await
            .map_err(StoreError::Migrate)?;
        // Readers: 32 MiB of page cache each instead of SQLite's 2 MiB (inventory tables of a
        // thousand clusters are gigabytes); as many as `PoolOptions` says, since each runs its
        // queries on a thread of its own.
        let pool = SqlitePoolOptions::new()
            .max_connections(pools.read_connections)
            .test_before_acquire(false)
            .connect_with(options.clone().pragma("cache_size", "-32768"))
            .await
            .map_err(connect_err)?;
        let writer = Writer {
            pool: write_pool,
            lock: Arc::default(),
        };
        let checkpoints = Checkpointer::start(
            options,
            writer.pool.clone(),
            writer.lock.clone(),
            WalPolicy::HUB,
        )
        .await
        .map_err(connect_err)?;
        Ok(Self {
            pool,
            writer,
            checkpoints,
        })
    }
}

/// A connection (pooled, or a transaction) speaking [`Sql`].
struct Conn<C>(C);

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// `sql` with `args` bound in order.
fn bound(sql: String, args: Vec<Value>) -> SqliteQuery<'static> {
    args.into_iter().fold(sqlx::query(AssertSqlSafe(sql)), bind)
}

fn bind(query: SqliteQuery<'_>, value: Value) -> SqliteQuery<'_> {
    match value {
        // UUIDs are stored as canonical hyphenated text.
        Value::Id(v) => query.bind(v.hyphenated().to_string()),
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

pub(super) fn decode(row: &SqliteRow, columns: &[Ty]) -> Result<Vec<Value>, sqlx::Error> {
    // A loop into a row of its final size (see the PostgreSQL backend's `decode`).
    let mut cells = Vec::with_capacity(columns.len());
    for (i, ty) in columns.iter().enumerate() {
        cells.push(match ty {
            Ty::Id => Value::Id(parse_uuid(row.try_get::<&str, _>(i)?)?),
            Ty::Text => Value::Text(row.try_get(i)?),
            Ty::OptText => Value::OptText(row.try_get(i)?),
            Ty::I64 => Value::I64(row.try_get(i)?),
            Ty::OptI64 => Value::OptI64(row.try_get(i)?),
            Ty::Bool => Value::Bool(row.try_get(i)?),
            Ty::Time => Value::Time(row.try_get(i)?),
            Ty::OptTime => Value::OptTime(row.try_get::<Option<DateTime<Utc>>, _>(i)?),
            Ty::OptBytes => Value::OptBytes(row.try_get(i)?),
        });
    }
    Ok(cells)
}

#[async_trait]
impl<C> Sql for Conn<C>
where
    C: std::ops::DerefMut<Target = sqlx::SqliteConnection> + Send,
{
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error> {
        let query = bound(sql.to_owned(), args);
        Ok(query.execute(&mut *self.0).await?.rows_affected())
    }

    async fn fetch(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        columns: &[Ty],
    ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        if let Some(packed) = rows::packed_sql(sql, columns) {
            let row = bound(packed, args).fetch_one(&mut *self.0).await?;
            return rows::unpack(row.try_get::<Option<&str>, _>(0)?, columns);
        }
        let rows = bound(sql.to_owned(), args).fetch_all(&mut *self.0).await?;
        rows.iter().map(|row| decode(row, columns)).collect()
    }
}

/// A write transaction holding the writer lock until it ends.
struct WriteTx {
    conn: Conn<Transaction<'static, Sqlite>>,
    _writer: OwnedMutexGuard<()>,
}

#[async_trait]
impl Sql for WriteTx {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error> {
        self.conn.execute(sql, args).await
    }

    async fn fetch(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        columns: &[Ty],
    ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        self.conn.fetch(sql, args, columns).await
    }
}

#[async_trait]
impl Tx for WriteTx {
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.conn.0.commit().await
    }
}

#[async_trait]
impl SqlBackend for SqliteBackend {
    fn kind(&self) -> Backend {
        Backend::Sqlite
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error> {
        self.writer.begin().await
    }

    async fn read(&self) -> Result<Box<dyn Sql>, sqlx::Error> {
        let conn: PoolConnection<Sqlite> = self.pool.acquire().await?;
        Ok(Box::new(Conn(conn)))
    }

    fn group_writers(&self) -> (Arc<dyn Begin>, GroupLimits) {
        (Arc::new(self.writer.clone()), GROUP_LIMITS)
    }

    async fn serialize_maintenance(&self, _tx: &mut dyn Sql) -> Result<(), sqlx::Error> {
        // A write transaction already holds the one writer lock.
        Ok(())
    }

    async fn maintain_partitions(
        &self,
        _tx: &mut dyn Sql,
        _tables: &[PartitionedTable],
        _now: DateTime<Utc>,
        _cutoff: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        // SQLite has no partitions: retention purges rows.
        Ok((Vec::new(), Vec::new()))
    }

    async fn refresh_statistics(&self, _tables: &[&str]) -> Result<(), sqlx::Error> {
        // SQLite (unlike PostgreSQL's autovacuum) never gathers planner statistics by itself,
        // and `PRAGMA optimize` picks the tables that need them: 0x10002 analyzes every
        // table whose size changed tenfold since its last analysis, and the limit keeps each
        // analysis to a sample.
        sqlx::raw_sql("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002")
            .execute(&self.writer.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.checkpoints.stop().await;
        self.pool.close().await;
        self.writer.pool.close().await;
    }
}
