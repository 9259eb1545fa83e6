//! The PostgreSQL backend: for production and for several hub replicas sharing one database.
//!
//! `k8s_pods` (by creation month) and `k8s_resource_metrics` (by hour) are range-partitioned
//! by month. [`SqlBackend::maintain`] creates the current and next months' partitions (moving
//! any rows the default partition caught for that range, so it also heals after downtime),
//! drops partitions past retention (a pods partition only once none of its pods is live: a
//! long-running pod keeps its month), and purges ended rows past retention.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use kubeworkz_shared::model::LabelKeys;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool, Postgres, Row, Transaction};

use super::backend::{SqlBackend, Tx};
use super::commit::{Begin, GroupCommit, GroupLimits};
use super::pg_wire::Columns;
use super::sql::{Dialect, Sql, Ty, Value};
use super::{Backend, MaintenanceReport, StoreError, namespace_counts, queries};

/// Migrations embedded at build time, so the binary needs no files beside it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Partitioned tables and the column they are partitioned by.
const PARTITIONED: [(&str, &str); 2] = [
    ("k8s_pods", "created_at"),
    ("k8s_resource_metrics", "hour_start"),
];

/// Months of partitions kept ready ahead of the current one.
const MONTHS_AHEAD: u32 = 2;
/// A pooled connection idle this long is pinged before use (see `connect`).
const STALE_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Group commit on PostgreSQL: a few transactions in flight (the server works on them in
/// parallel), each at most 64 savepoints (see [`GroupLimits::max_batches`]).
const GROUP_LIMITS: GroupLimits = GroupLimits {
    writers: 4,
    max_batches: 64,
    max_changes: 20_000,
    queue: 256,
};

/// [`Store`](super::Store) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// Reads, and every write but ingest's.
    pool: PgPool,
    /// Ingest's group-commit writers.
    writers: PgPool,
    label_keys: LabelKeys,
    commits: Arc<GroupCommit>,
}

/// What the group-commit writers open transactions from.
struct Writer(PgPool);

#[async_trait]
impl Begin for Writer {
    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error> {
        Ok(Box::new(Conn(self.0.begin().await?)))
    }
}

impl PostgresStore {
    /// Connects and migrates. Concurrent hubs are safe: sqlx takes an advisory lock around
    /// migrations.
    pub async fn connect(url: &str, pools: super::PoolOptions) -> Result<Self, StoreError> {
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
        let commits = GroupCommit::start(Arc::new(Writer(writers.clone())), GROUP_LIMITS);
        Ok(Self {
            pool,
            writers,
            label_keys: LabelKeys::default(),
            commits: Arc::new(commits),
        })
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
/// row's size: collected from an iterator of `Result`s, the vector started at four cells
/// and grew (and moved) three times for a cluster's 26, which showed in the cluster list's
/// profile.
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

/// First instant of the month `offset` months after the month of `at`.
fn month_start(at: DateTime<Utc>, offset: i32) -> DateTime<Utc> {
    let months = at.year() * 12 + at.month0() as i32 + offset;
    let date = NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)
        .expect("first of a month is a valid date");
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight is valid"))
}

/// `k8s_pods_y2026m11`: the partition of `table` for the month starting at `start`.
fn partition_name(table: &str, start: DateTime<Utc>) -> String {
    format!("{table}_y{:04}m{:02}", start.year(), start.month())
}

/// The month a partition name stands for, if it is one of ours.
fn partition_month(table: &str, name: &str) -> Option<DateTime<Utc>> {
    let suffix = name.strip_prefix(table)?.strip_prefix("_y")?;
    let (year, month) = suffix.split_once('m')?;
    let date = NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

async fn create_partition(
    db: &mut dyn Sql,
    table: &str,
    column: &str,
    start: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let name = partition_name(table, start);
    let exists = db
        .fetch(
            "SELECT to_regclass($1) IS NOT NULL",
            vec![Value::Text(name.clone())],
            &[Ty::Bool],
        )
        .await?;
    if exists
        .first()
        .is_some_and(|row| row[0] == Value::Bool(true))
    {
        return Ok(None);
    }
    let end = month_start(start, 1);
    let (lo, hi) = (start.to_rfc3339(), end.to_rfc3339());
    // Identifiers and bounds are derived from constants and dates, never from input.
    let statements = [
        format!("CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
        format!(
            "INSERT INTO {name} SELECT * FROM {table}_default \
             WHERE {column} >= '{lo}' AND {column} < '{hi}'"
        ),
        format!("DELETE FROM {table}_default WHERE {column} >= '{lo}' AND {column} < '{hi}'"),
        format!("ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')"),
    ];
    for statement in statements {
        db.execute(&statement, vec![]).await?;
    }
    Ok(Some(name))
}

async fn drop_expired_partitions(
    db: &mut dyn Sql,
    table: &str,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let rows = db
        .fetch(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass($1) ORDER BY 1",
            vec![Value::Text(table.to_owned())],
            &[Ty::Text],
        )
        .await?;
    let mut dropped = Vec::new();
    for row in rows {
        let Some(Value::Text(name)) = row.into_iter().next() else {
            continue;
        };
        let Some(start) = partition_month(table, &name) else {
            continue; // the default partition, or not ours
        };
        if month_start(start, 1) > cutoff {
            continue;
        }
        if table == "k8s_pods" {
            let live = db
                .fetch(
                    &format!("SELECT count(*) FROM {name} WHERE deleted_at IS NULL"),
                    vec![],
                    &[Ty::I64],
                )
                .await?;
            if live.first().is_some_and(|row| row[0] != Value::I64(0)) {
                continue; // long-running pods keep their month; ended ones are purged
            }
        }
        db.execute(&format!("DROP TABLE {name}"), vec![]).await?;
        dropped.push(name);
    }
    Ok(dropped)
}

#[async_trait]
impl SqlBackend for PostgresStore {
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

    fn label_keys(&self) -> &LabelKeys {
        &self.label_keys
    }

    fn group_commit(&self) -> &GroupCommit {
        &self.commits
    }

    async fn maintain(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<MaintenanceReport, StoreError> {
        let cutoff = queries::cutoff(now, retention);
        let mut report = MaintenanceReport::default();
        let mut tx = self.begin().await?;
        // One maintainer at a time across hub replicas; others wait, then find work done.
        tx.execute("SELECT pg_advisory_xact_lock(7239001)", vec![])
            .await?;
        for (table, column) in PARTITIONED {
            for offset in 0..=MONTHS_AHEAD as i32 {
                let start = month_start(now, offset);
                if let Some(name) = create_partition(&mut *tx, table, column, start).await? {
                    report.partitions_created.push(name);
                }
            }
            report
                .partitions_dropped
                .extend(drop_expired_partitions(&mut *tx, table, cutoff).await?);
        }
        report.rows_purged = queries::purge(&mut *tx, cutoff).await?;
        namespace_counts::drop_empty(&mut *tx).await?;
        tx.commit().await?;
        // Planner statistics of the small inventory tables, which autovacuum may not have
        // gathered yet after a first sync: without them a cluster's namespaces are read
        // through `k8s_namespaces_team (org_id, …)`, every namespace of the organization.
        // (The large partitioned pods table is left to autovacuum.)
        sqlx::raw_sql(
            "ANALYZE k8s_clusters, k8s_nodes, k8s_namespaces, k8s_namespace_counts, k8s_deployments",
        )
            .execute(&self.pool)
            .await?;
        Ok(report)
    }

    async fn close(&self) {
        self.pool.close().await;
        self.writers.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic_crosses_years() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        assert_eq!(
            month_start(at, 0),
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            month_start(at, 2),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            month_start(at, -11),
            Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn partition_names_round_trip() {
        let start = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let name = partition_name("k8s_pods", start);
        assert_eq!(name, "k8s_pods_y2027m01");
        assert_eq!(partition_month("k8s_pods", &name), Some(start));
        assert_eq!(partition_month("k8s_pods", "k8s_pods_default"), None);
    }
}
