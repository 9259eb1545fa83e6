//! The backend-neutral SQL toolkit every store query is written against.
//!
//! Store behaviour is written once against [`Sql`]: "run this statement with these values"
//! and "fetch rows of these types". Each backend implements [`Sql`] for its connection type
//! and only decides how a [`Value`] is bound and a cell decoded (UUIDs are native in
//! PostgreSQL and text in SQLite; JSON is `jsonb` in one and text in the other). SQL text
//! differs only where [`Dialect`] says so: placeholders and a few casts. This module names
//! no table: it is what both the business modules and the backends may import.
//!
//! Statements are assembled from constant fragments in this crate; every value is bound, never
//! formatted into the text, which is what makes the `AssertSqlSafe` in the backends sound.

pub(crate) mod paging;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The SQL flavour a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?N` placeholders, UUIDs and JSON stored as text.
    Sqlite,
    /// PostgreSQL: `$N` placeholders, native `uuid` and `jsonb`.
    Postgres,
}

impl Dialect {
    /// The placeholder for the `n`th (1-based) bound value.
    pub(crate) fn ph(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// The placeholder for the `n`th value of a long list (a multi-row `VALUES`). On SQLite it
    /// is a bare `?`, and sqlx binds the k-th bare placeholder to the k-th value, so such a
    /// list must be numbered from 1, stand first in the statement text, and its values come
    /// first among the arguments (numbered placeholders for the rest follow it). Why: sqlx
    /// looks up every parameter's name, and SQLite finds a name by scanning all named
    /// parameters, so binding N numbered parameters costs N² (most of a large full sync's
    /// time); bare ones have no name to scan.
    pub(crate) fn list_ph(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// The placeholder for a JSON value bound as text.
    pub(crate) fn json_ph(self, n: usize) -> String {
        match (self, Cast::Jsonb.postgres_type()) {
            (Dialect::Postgres, Some(ty)) => format!("CAST(${n} AS {ty})"),
            _ => self.ph(n),
        }
    }

    /// A column read as text: UUID and JSON columns are text already in SQLite.
    pub(crate) fn text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }

    /// The database's clock in milliseconds since the Unix epoch, read when the statement
    /// runs: what lease expiries and replica heartbeats are judged by, so the replicas'
    /// own clocks never matter.
    pub(crate) fn now_millis(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
            }
            Dialect::Postgres => {
                "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)"
            }
        }
    }

    /// An aggregate joining a text column's values of a group with single spaces, in no
    /// particular order: for encodings whose parts add up in any order (a CPU histogram's
    /// `index:count` pairs), so a group's rows come back as one cell.
    pub(crate) fn space_joined(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("group_concat({column}, ' ')"),
            Dialect::Postgres => format!("string_agg({column}, ' ')"),
        }
    }

    /// The clause that makes a `SELECT` hold its rows against updates until the transaction
    /// ends (PostgreSQL's `FOR SHARE`); SQLite's one writer already excludes them.
    pub(crate) fn for_share(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR SHARE",
        }
    }
}

/// A value to bind, or a decoded cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A UUID (native in PostgreSQL, hyphenated text in SQLite).
    Id(Uuid),
    /// Text.
    Text(String),
    /// Nullable text.
    OptText(Option<String>),
    /// 64-bit integer.
    I64(i64),
    /// Nullable 64-bit integer.
    OptI64(Option<i64>),
    /// Boolean.
    Bool(bool),
    /// Timestamp.
    Time(DateTime<Utc>),
    /// Nullable timestamp.
    OptTime(Option<DateTime<Utc>>),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Nullable bytes.
    OptBytes(Option<Vec<u8>>),
}

/// The type of a cell to decode; JSON columns are selected as text, and so are UUID columns
/// except where [`Ty::Id`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A UUID column selected as it is (PostgreSQL's `uuid`, SQLite's text): decoded into a
    /// [`Value::Id`] without a `String` in between. Used by the hottest pages (the cluster
    /// list's two ids per row); [`Cells::uuid`] reads either form.
    Id,
    Text,
    OptText,
    I64,
    OptI64,
    Bool,
    Time,
    OptTime,
    OptBytes,
}

/// Runs statements on one connection (a transaction, or a pooled connection).
#[async_trait]
pub trait Sql: Send {
    /// The flavour of SQL this connection speaks.
    fn dialect(&self) -> Dialect;

    /// Executes a statement; returns the number of rows affected.
    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error>;

    /// Fetches rows, decoding each column as the matching entry of `columns`.
    async fn fetch(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        columns: &[Ty],
    ) -> Result<Vec<Vec<Value>>, sqlx::Error>;
}

/// A transaction: statements, then commit (dropping it rolls back).
#[async_trait]
pub trait Tx: Sql {
    /// Commits.
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error>;
}

/// Work that group commit applies for many callers inside one shared write transaction.
///
/// Defined here, not beside the queue, so the business side that knows what the work writes
/// implements it and the backend that runs the queue never learns a table.
#[async_trait]
pub(crate) trait GroupWork: Send + Sync + 'static {
    /// One caller's unit of work.
    type Item: Send + Sync + 'static;
    /// What its caller is told.
    type Outcome: Send + 'static;

    /// Items with the same key are applied in queue order and never merged together.
    fn key(item: &Self::Item) -> Uuid;

    /// How much the item writes, so one group does not hold the writer for long.
    fn weight(item: &Self::Item) -> usize;

    /// Applies one item on its own.
    async fn apply(
        &self,
        db: &mut dyn Sql,
        item: Self::Item,
    ) -> Result<Self::Outcome, crate::store::StoreError>;

    /// Applies items of distinct keys as one, answering per item; an outer `Err` means a
    /// statement failed and nothing of the run may stand (the queue rolls it back and
    /// applies the items one by one).
    async fn apply_merged(
        &self,
        db: &mut dyn Sql,
        items: &[&Self::Item],
    ) -> Result<Vec<Result<Self::Outcome, crate::store::StoreError>>, crate::store::StoreError>;
}

/// A range-partitioned table, as the business side describes it to the backend that keeps
/// its partitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartitionedTable {
    /// The parent table.
    pub name: &'static str,
    /// The timestamp column it is partitioned by (by month).
    pub column: &'static str,
    /// A condition that keeps a partition past retention while any of its rows meets it
    /// (a long-running pod keeps its month).
    pub keep_while: Option<&'static str>,
}

/// Takes the cells of one fetched row in order, with typed accessors. A type mismatch is a bug
/// in the query that fetched the row, reported as a decode error rather than a panic.
pub(crate) struct Cells(std::vec::IntoIter<Value>);

impl Cells {
    pub(crate) fn new(row: Vec<Value>) -> Self {
        Self(row.into_iter())
    }

    fn next(&mut self) -> Result<Value, sqlx::Error> {
        self.0
            .next()
            .ok_or_else(|| decode_error("row has fewer columns than expected"))
    }

    pub(crate) fn text(&mut self) -> Result<String, sqlx::Error> {
        match self.next()? {
            Value::Text(v) => Ok(v),
            other => Err(mismatch("text", &other)),
        }
    }

    pub(crate) fn opt_text(&mut self) -> Result<Option<String>, sqlx::Error> {
        match self.next()? {
            Value::OptText(v) => Ok(v),
            other => Err(mismatch("optional text", &other)),
        }
    }

    pub(crate) fn i64(&mut self) -> Result<i64, sqlx::Error> {
        match self.next()? {
            Value::I64(v) => Ok(v),
            other => Err(mismatch("integer", &other)),
        }
    }

    pub(crate) fn opt_i64(&mut self) -> Result<Option<i64>, sqlx::Error> {
        match self.next()? {
            Value::OptI64(v) => Ok(v),
            other => Err(mismatch("optional integer", &other)),
        }
    }

    pub(crate) fn bool(&mut self) -> Result<bool, sqlx::Error> {
        match self.next()? {
            Value::Bool(v) => Ok(v),
            other => Err(mismatch("boolean", &other)),
        }
    }

    pub(crate) fn time(&mut self) -> Result<DateTime<Utc>, sqlx::Error> {
        match self.next()? {
            Value::Time(v) => Ok(v),
            other => Err(mismatch("timestamp", &other)),
        }
    }

    pub(crate) fn opt_time(&mut self) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        match self.next()? {
            Value::OptTime(v) => Ok(v),
            other => Err(mismatch("optional timestamp", &other)),
        }
    }

    pub(crate) fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, sqlx::Error> {
        match self.next()? {
            Value::OptBytes(v) => Ok(v),
            other => Err(mismatch("optional bytes", &other)),
        }
    }

    /// A UUID, read as [`Ty::Id`] or selected as text.
    pub(crate) fn uuid(&mut self) -> Result<Uuid, sqlx::Error> {
        match self.next()? {
            Value::Id(id) => Ok(id),
            Value::Text(text) => parse_uuid(&text),
            other => Err(mismatch("uuid", &other)),
        }
    }

    /// A JSON column selected as text, decoded into `T`.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, sqlx::Error> {
        let text = self.text()?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

/// A UUID from its text.
pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub(crate) fn decode_error(message: &str) -> sqlx::Error {
    sqlx::Error::Decode(message.to_owned().into())
}

fn mismatch(wanted: &str, got: &Value) -> sqlx::Error {
    let got = match got {
        Value::Id(_) => "uuid",
        Value::Text(_) => "text",
        Value::OptText(_) => "optional text",
        Value::I64(_) => "integer",
        Value::OptI64(_) => "optional integer",
        Value::Bool(_) => "boolean",
        Value::Time(_) => "timestamp",
        Value::OptTime(_) => "optional timestamp",
        Value::Bytes(_) => "bytes",
        Value::OptBytes(_) => "optional bytes",
    };
    decode_error(&format!("expected {wanted}, got {got}"))
}

/// How a column's value is bound in a multi-row `VALUES`: JSON is text in SQLite, and
/// PostgreSQL casts it to the column's type (`json` is checked and stored as it is; `jsonb`
/// is parsed into its binary form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cast {
    /// Bound as it is.
    None,
    /// A `json` column.
    Json,
    /// A `jsonb` column.
    Jsonb,
}

impl Cast {
    /// The type PostgreSQL casts the bound text to (SQLite binds JSON as text, uncast).
    fn postgres_type(self) -> Option<&'static str> {
        match self {
            Cast::None => None,
            Cast::Json => Some("json"),
            Cast::Jsonb => Some("jsonb"),
        }
    }
}

/// Placeholders for a multi-row `VALUES` numbered from 1, one per entry of `columns` per
/// row, each cast as its entry says; see [`Dialect::list_ph`] for where it must stand.
pub(crate) fn values_rows(dialect: Dialect, rows: usize, columns: &[Cast]) -> String {
    let mut out = String::with_capacity(rows * columns.len() * 6);
    let mut n = 1;
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for (i, cast) in columns.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&match (dialect, cast.postgres_type()) {
                (Dialect::Postgres, Some(ty)) => format!("CAST(${n} AS {ty})"),
                _ => dialect.list_ph(n),
            });
            n += 1;
        }
        out.push(')');
    }
    out
}

/// The most values one statement may bind on either backend (SQLite's default limit is
/// 32,766; PostgreSQL's 65,535), with room to spare.
pub(crate) const MAX_BIND_VALUES: usize = 30_000;

/// `, `-separated list placeholders for `n` values (see [`Dialect::list_ph`]).
pub(crate) fn id_list(d: Dialect, n: usize) -> String {
    (1..=n).map(|i| d.list_ph(i)).collect::<Vec<_>>().join(", ")
}

/// Runs the statement `sql(rows)` over `rows` (each `columns` values, bound in order), in
/// chunks that stay under the bind limit; nothing when there are no rows.
pub(crate) async fn run_rows(
    db: &mut dyn Sql,
    columns: usize,
    rows: Vec<Vec<Value>>,
    sql: impl Fn(usize) -> String,
) -> Result<(), crate::store::StoreError> {
    for (n, args) in statements(columns, rows) {
        db.execute(&sql(n), args).await?;
    }
    Ok(())
}

/// `rows` (each `columns` values) cut into statements that stay under the bind limit: each
/// its row count and its values in binding order.
pub(crate) fn statements(
    columns: usize,
    rows: Vec<Vec<Value>>,
) -> impl Iterator<Item = (usize, Vec<Value>)> + Send {
    let per_statement = (MAX_BIND_VALUES / columns.max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        Some((chunk.len(), chunk.into_iter().flatten().collect()))
    })
}

/// Stamps `revoked_at` on the organization's unrevoked rows of `table` whose `key_column`
/// equals `key`; returns how many were revoked. The one revocation statement shared by API
/// tokens, enrollment tokens and issued certificates (revoking twice changes nothing).
pub(crate) async fn revoke_rows(
    db: &mut dyn Sql,
    table: &'static str,
    key_column: &'static str,
    org: Uuid,
    key: Value,
) -> Result<u64, sqlx::Error> {
    let d = db.dialect();
    let sql = format!(
        "UPDATE {table} SET revoked_at = {} WHERE org_id = {} AND {key_column} = {} \
         AND revoked_at IS NULL",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    db.execute(&sql, vec![Value::Time(Utc::now()), Value::Id(org), key])
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_dialect() {
        assert_eq!(
            values_rows(Dialect::Sqlite, 2, &[Cast::None, Cast::Jsonb]),
            "(?, ?), (?, ?)"
        );
        assert_eq!(
            values_rows(Dialect::Postgres, 2, &[Cast::None, Cast::Jsonb]),
            "($1, CAST($2 AS jsonb)), ($3, CAST($4 AS jsonb))"
        );
    }

    #[test]
    fn cells_report_type_mismatches_as_decode_errors() {
        let mut cells = Cells::new(vec![Value::I64(1)]);
        assert!(matches!(cells.text(), Err(sqlx::Error::Decode(_))));
        let mut cells = Cells::new(vec![]);
        assert!(cells.i64().is_err());
    }
}
