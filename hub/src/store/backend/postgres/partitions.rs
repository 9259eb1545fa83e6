//! Monthly range partitions of the tables the business side names (`maintenance`): the
//! current and next months' partitions are created ahead (moving any rows the default
//! partition caught for that range, so maintenance also heals after downtime), and
//! partitions wholly past retention are dropped, unless a row of theirs still meets the
//! table's `keep_while`.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

use crate::store::StoreError;
use crate::store::sql::{PartitionedTable, Sql, Ty, Value};

/// Months of partitions kept ready ahead of the current one.
const MONTHS_AHEAD: i32 = 2;

/// Creates the partitions of `table` for the month of `now` and [`MONTHS_AHEAD`] after it
/// that do not exist yet; returns their names.
pub(super) async fn create_ahead(
    db: &mut dyn Sql,
    table: &PartitionedTable,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let mut created = Vec::new();
    for offset in 0..=MONTHS_AHEAD {
        let start = month_start(now, offset);
        if let Some(name) = create_partition(db, table.name, table.column, start).await? {
            created.push(name);
        }
    }
    Ok(created)
}

/// First instant of the month `offset` months after the month of `at`.
fn month_start(at: DateTime<Utc>, offset: i32) -> DateTime<Utc> {
    let months = at.year() * 12 + at.month0() as i32 + offset;
    let date = NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)
        .expect("first of a month is a valid date");
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight is valid"))
}

/// `events_y2026m11`: the partition of `table` for the month starting at `start`.
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

/// Creates the partition of `table` for the month starting at `start` unless it exists,
/// moving the rows the default partition caught for that month into it.
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

/// Drops the partitions of `table` whose month ended before `cutoff`, unless a row of theirs
/// meets `table.keep_while`; returns their names.
pub(super) async fn drop_expired(
    db: &mut dyn Sql,
    table: &PartitionedTable,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let parent = table.name;
    let rows = db
        .fetch(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass($1) ORDER BY 1",
            vec![Value::Text(parent.to_owned())],
            &[Ty::Text],
        )
        .await?;
    let mut dropped = Vec::new();
    for row in rows {
        let Some(Value::Text(name)) = row.into_iter().next() else {
            continue;
        };
        let Some(start) = partition_month(parent, &name) else {
            continue; // the default partition, or not ours
        };
        if month_start(start, 1) > cutoff {
            continue;
        }
        if let Some(condition) = table.keep_while {
            let kept = db
                .fetch(
                    &format!("SELECT count(*) FROM {name} WHERE {condition}"),
                    vec![],
                    &[Ty::I64],
                )
                .await?;
            if kept.first().is_some_and(|row| row[0] != Value::I64(0)) {
                continue; // e.g. long-running pods keep their month; ended ones are purged
            }
        }
        db.execute(&format!("DROP TABLE {name}"), vec![]).await?;
        dropped.push(name);
    }
    Ok(dropped)
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
        let name = partition_name("events", start);
        assert_eq!(name, "events_y2027m01");
        assert_eq!(partition_month("events", &name), Some(start));
        assert_eq!(partition_month("events", "events_default"), None);
    }
}
