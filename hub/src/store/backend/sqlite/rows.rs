//! SQLite result sets packed into one cell, so a read crosses the driver's thread once.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each row to the calling
//! task over a channel: one send, usually one futex wake and one task switch per row, and a
//! copy of every cell (`sqlite3_value_dup`); serving a page of the cluster list, the
//! scheduler's wake-ups and task switches dominate a profile. So a `SELECT` runs wrapped:
//! SQLite writes each row as its cells, each cell as
//! `<byte length>:<text>` (`-1:` for NULL), and concatenates the rows into one text cell
//! (`concat` and `group_concat` copy by length, so text holding a NUL packs whole);
//! [`unpack`] cuts it by the lengths and decodes each cell by the same column types as the
//! row-by-row path.
//!
//! Length prefixes rather than JSON (`json_group_array(json_array(…))`): a pod's `data` is a
//! JSON document, and JSON would escape every quote in it in SQLite and unescape them again
//! here, which makes the pod pages slower than reading row by row (api_latency bench).
//!
//! Every [`Ty`] but bytes packs exactly (an integer's text is its decimal rendering, and
//! SQLite's `octet_length` is the byte length of a value's text). A read with a bytes column
//! goes row by row, as do statements that are not a plain `SELECT` (`WITH … UPDATE`,
//! `RETURNING`): only a query can be a common table expression. Row order is kept: SQLite
//! never flattens a subquery with an `ORDER BY` into an aggregate query (the query
//! flattener's rule 16), so the aggregate steps through the rows in the subquery's order.
//! A packed result is bounded by SQLite's longest string (1 GB by default), orders of
//! magnitude above a page of the API or one cluster's inventory (about 1 KB per pod).

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

use crate::store::sql::{Ty, Value, parse_uuid};

/// `sql` wrapped to return its rows as one text cell (NULL for no rows), or `None` when it
/// must run row by row (not a `SELECT`, or a bytes column).
pub(super) fn packed_sql(sql: &str, columns: &[Ty]) -> Option<String> {
    let body = sql.trim().trim_end_matches(';');
    let is_select = body
        .get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case("select"));
    if !is_select || columns.is_empty() || columns.contains(&Ty::OptBytes) {
        return None;
    }
    let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
    let cells: Vec<String> = names
        .iter()
        .map(|c| format!("ifnull(octet_length({c}), -1), ':', {c}"))
        .collect();
    Some(format!(
        "WITH kw_rows ({}) AS ({body}) SELECT group_concat(concat({}), '') FROM kw_rows",
        names.join(", "),
        cells.join(", "),
    ))
}

/// The rows of a packed result (see [`packed_sql`]), each cell decoded as its column's type.
pub(super) fn unpack(packed: Option<&str>, columns: &[Ty]) -> Result<Vec<Vec<Value>>, sqlx::Error> {
    let mut rest = packed.unwrap_or_default();
    let mut rows = Vec::new();
    while !rest.is_empty() {
        // A loop into a row of its final size (see the PostgreSQL backend's `decode`).
        let mut row = Vec::with_capacity(columns.len());
        for ty in columns {
            let (cell, after) = next_cell(rest)?;
            rest = after;
            row.push(cell_value(cell, *ty)?);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The first cell of `packed` (`None` for NULL) and what follows it.
fn next_cell(packed: &str) -> Result<(Option<&str>, &str), sqlx::Error> {
    let (length, rest) = packed
        .split_once(':')
        .ok_or_else(|| decode_error("packed rows end inside a cell"))?;
    if length == "-1" {
        return Ok((None, rest));
    }
    let length: usize = length
        .parse()
        .map_err(|_| decode_error("packed cell has no length"))?;
    match (rest.get(..length), rest.get(length..)) {
        (Some(cell), Some(after)) => Ok((Some(cell), after)),
        _ => Err(decode_error("packed cell is longer than the rows")),
    }
}

/// One cell as a [`Value`] of `ty`, with the conversions the row-by-row path makes.
fn cell_value<'a>(cell: Option<&'a str>, ty: Ty) -> Result<Value, sqlx::Error> {
    let some = |cell: Option<&'a str>| cell.ok_or_else(|| mismatch(ty, "unexpected null"));
    Ok(match ty {
        Ty::Id => Value::Id(parse_uuid(some(cell)?)?),
        Ty::Text => Value::Text(some(cell)?.to_owned()),
        Ty::OptText => Value::OptText(cell.map(str::to_owned)),
        Ty::I64 => Value::I64(integer(some(cell)?, ty)?),
        Ty::OptI64 => Value::OptI64(cell.map(|c| integer(c, ty)).transpose()?),
        Ty::Bool => Value::Bool(integer(some(cell)?, ty)? != 0),
        Ty::Time => Value::Time(time(some(cell)?, ty)?),
        Ty::OptTime => Value::OptTime(cell.map(|c| time(c, ty)).transpose()?),
        Ty::OptBytes => return Err(decode_error("bytes are never packed")),
    })
}

fn integer(cell: &str, ty: Ty) -> Result<i64, sqlx::Error> {
    cell.parse().map_err(|_| mismatch(ty, "not an integer"))
}

/// A timestamp as sqlx's SQLite decoding reads text: RFC 3339, or one of SQLite's date and
/// time formats. (Every timestamp the hub stores is bound as RFC 3339 text.)
fn time(cell: &str, ty: Ty) -> Result<DateTime<Utc>, sqlx::Error> {
    if let Ok(at) = DateTime::parse_from_rfc3339(cell) {
        return Ok(at.with_timezone(&Utc));
    }
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    FORMATS
        .iter()
        .find_map(|format| {
            DateTime::<FixedOffset>::parse_from_str(cell, format)
                .map(|at| at.with_timezone(&Utc))
                .or_else(|_| NaiveDateTime::parse_from_str(cell, format).map(|at| at.and_utc()))
                .ok()
        })
        .ok_or_else(|| mismatch(ty, "not a timestamp"))
}

/// The cell itself is left out of the message: it may be any column's value.
fn mismatch(ty: Ty, why: &str) -> sqlx::Error {
    decode_error(&format!("packed cell does not decode as {ty:?}: {why}"))
}

fn decode_error(message: &str) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY_PACKABLE_TYPE: [Ty; 7] = [
        Ty::Text,
        Ty::OptText,
        Ty::I64,
        Ty::OptI64,
        Ty::Bool,
        Ty::Time,
        Ty::OptTime,
    ];

    #[test]
    fn only_plain_selects_without_bytes_are_packed() {
        let cols = [Ty::Text, Ty::I64];
        let packed = packed_sql(" select a, b FROM t ORDER BY a LIMIT 5; ", &cols).unwrap();
        assert_eq!(
            packed,
            "WITH kw_rows (c0, c1) AS (select a, b FROM t ORDER BY a LIMIT 5) \
             SELECT group_concat(concat(ifnull(octet_length(c0), -1), ':', c0, \
             ifnull(octet_length(c1), -1), ':', c1), '') FROM kw_rows"
        );
        assert!(packed_sql("WITH v (a) AS (VALUES (1)) UPDATE t SET a = 1", &cols).is_none());
        assert!(packed_sql("INSERT INTO t VALUES (1) RETURNING a, b", &cols).is_none());
        assert!(packed_sql("SELECT a, k FROM t", &[Ty::Text, Ty::OptBytes]).is_none());
        assert!(packed_sql("SELECT 1", &[]).is_none());
    }

    #[test]
    fn cells_decode_as_the_row_by_row_path_decodes_them() {
        let cols = EVERY_PACKABLE_TYPE;
        let cell = |text: &str| format!("{}:{text}", text.len());
        let null = "-1:";
        let first = [
            cell("a:\"q\" é 1"),
            null.into(),
            cell("-9007199254740993"),
            cell("7"),
            cell("1"),
            cell("2026-11-27T03:04:05.123456789+00:00"),
            null.into(),
        ]
        .concat();
        let second = [
            cell(""),
            cell("-1"),
            cell("0"),
            null.into(),
            cell("0"),
            cell("2026-11-27 03:04:05"),
            cell("2026-11-27 03:04:05"),
        ]
        .concat();
        let rows = unpack(Some(&format!("{first}{second}")), &cols).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            rows[0],
            vec![
                Value::Text("a:\"q\" é 1".into()),
                Value::OptText(None),
                Value::I64(-9_007_199_254_740_993),
                Value::OptI64(Some(7)),
                Value::Bool(true),
                Value::Time(at("2026-11-27T03:04:05.123456789Z")),
                Value::OptTime(None),
            ]
        );
        assert_eq!(rows[1][1], Value::OptText(Some("-1".into())));
        assert_eq!(rows[1][4], Value::Bool(false));
        assert_eq!(rows[1][6], Value::OptTime(Some(at("2026-11-27T03:04:05Z"))));
        assert_eq!(rows.len(), 2);
        assert!(unpack(None, &cols).unwrap().is_empty());
    }

    #[test]
    fn a_cell_of_the_wrong_type_or_a_cut_pack_is_a_decode_error_not_a_panic() {
        for (packed, ty) in [
            ("1:x", Ty::I64),
            ("3:1.5", Ty::I64),
            ("-1:", Ty::Text),
            ("9:yesterday", Ty::Time),
            ("4:abc", Ty::Text),
            ("abc", Ty::Text),
            ("x:abc", Ty::Text),
            ("1:é", Ty::Text),
            ("1:1", Ty::OptBytes),
        ] {
            let err = unpack(Some(packed), &[ty]).unwrap_err();
            assert!(matches!(err, sqlx::Error::Decode(_)), "{packed}: {err}");
        }
    }

    /// The packed and the row-by-row path agree on a real SQLite, in order, for every packable
    /// type: NULLs, empty text, text holding a NUL and multi-byte characters, extreme integers.
    #[tokio::test]
    async fn a_packed_select_reads_what_the_row_by_row_path_reads() {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, s TEXT, o TEXT, b INTEGER, at TEXT);
             INSERT INTO t VALUES
               (1, 'plain', NULL, 1, '2026-11-27T03:04:05.5+00:00'),
               (2, '', 'x' || char(0) || 'y', 0, '2026-11-27 03:04:05'),
               (3, 'é:\"q\"-1:', '-1:', 1, '2026-01-01T00:00:00Z'),
               (-9223372036854775808, '12:ab', '', 0, '1999-12-31T23:59:59.999999999Z');",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let sql = "SELECT s, o, k, CASE WHEN k > 2 THEN NULL ELSE k END, b, at, \
                   CASE WHEN b THEN at END FROM t ORDER BY s DESC";
        let cols = EVERY_PACKABLE_TYPE;
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
        let expected: Vec<Vec<Value>> = rows
            .iter()
            .map(|row| super::super::decode(row, &cols).unwrap())
            .collect();
        let packed: Option<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(packed_sql(sql, &cols).unwrap()))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(unpack(packed.as_deref(), &cols).unwrap(), expected);
        assert_eq!(expected.len(), 4);
        assert_eq!(expected[3][1], Value::OptText(Some("x\0y".into())));

        let none = "SELECT s, o, k, k, b, at, at FROM t WHERE k = 42";
        let packed: Option<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(packed_sql(none, &cols).unwrap()))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(
            unpack(packed.as_deref(), &cols).unwrap(),
            Vec::<Vec<Value>>::new()
        );
    }

    #[test]
    fn an_id_cell_is_read_as_a_uuid_and_a_malformed_one_is_a_decode_error() {
        let id = "0190c9a4-7a2b-7c3d-8e4f-5a6b7c8d9e0f";
        let packed = format!("{}:{id}", id.len());
        assert_eq!(
            unpack(Some(&packed), &[Ty::Id]).unwrap(),
            vec![vec![Value::Id(uuid::Uuid::parse_str(id).unwrap())]]
        );
        assert!(unpack(Some("3:abc"), &[Ty::Id]).is_err());
        assert!(unpack(Some("-1:"), &[Ty::Id]).is_err());
    }
}
