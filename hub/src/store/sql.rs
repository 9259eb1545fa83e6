//! The seam between the shared store logic and the two backends.
//!
//! Store behaviour (ingest, clusters, inventory reads) is written once, in `queries` and
//! `ingest`, against [`Sql`]: "run this statement with these values" and "fetch rows of these
//! types". Each backend implements [`Sql`] for its connection type and only decides how a
//! [`Value`] is bound and a cell decoded (UUIDs are native in PostgreSQL and text in SQLite;
//! JSON is `jsonb` in one and text in the other). SQL text differs only where [`Dialect`]
//! says so: placeholders and a few casts.
//!
//! Statements are assembled from constant fragments in this crate; every value is bound, never
//! formatted into the text, which is what makes the `AssertSqlSafe` in the backends sound.

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
    /// parameters, so binding N numbered parameters costs N² (90% of the time of a
    /// 1,000-pod full sync); bare ones have no name to scan.
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
