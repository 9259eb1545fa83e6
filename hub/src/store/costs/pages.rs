//! The hourly cost rows of one cluster a page at a time, for downloads of any window (the
//! FOCUS export): each page continues after the last row of the one before (keyset on the
//! primary key's order), so a month of ten thousand namespaces is read in pages of a bounded
//! size instead of all at once.

use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::UnixMillis;
use tracing::instrument;

use super::CostPeriod;
use super::allocations::{decode_row, row_types, select_rows};
use crate::cost::Allocation;
use crate::store::schema::time;
use crate::store::sql::{Cells, Value};
use crate::store::{Store, StoreError, on_conn};

/// Where a page of [`Store::cost_hours_page`] continues: after the row with this hour,
/// namespace and part (a namespace relabeled within an hour has several parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRowKey {
    /// The row's hour.
    pub start: UnixMillis,
    /// The row's namespace.
    pub namespace: String,
    /// The row's part within its namespace and hour.
    pub part: i64,
}

/// One page of a cluster's hourly rows, and where the next begins (`None` after the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRowsPage {
    /// The rows, by hour, namespace and part.
    pub rows: Vec<Allocation>,
    /// The key of the last row when the page was full.
    pub next: Option<CostRowKey>,
}

impl Store {
    /// Up to `limit` hourly cost rows of `cluster` (of `org`) starting in `[start, end)`, by
    /// hour, namespace and part, after `after`. A cluster of another organization has none.
    #[instrument(skip_all, fields(limit = limit))]
    pub async fn cost_hours_page(
        &self,
        org: OrgId,
        cluster: ClusterId,
        (start, end): (UnixMillis, UnixMillis),
        after: Option<&CostRowKey>,
        limit: u32,
    ) -> Result<CostRowsPage, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut sql = select_rows(d, ", part");
            // The range starts at the key's hour, not the window's: SQLite seeks the primary
            // key to the lower bound of `period_start` and does not use the row value below
            // for the seek, so with the window's start every page scanned the rows of all
            // pages before it (a 30-day export of 10,000 namespaces never finished).
            let from = after.map_or(start, |key| key.start.max(start));
            let mut args = vec![
                Value::Id(*org.as_uuid()),
                Value::Text("hour".to_owned()),
                Value::Time(time(from)),
                Value::Time(time(end)),
                Value::Id(*cluster.as_uuid()),
            ];
            sql.push_str(&format!(" AND cluster_id = {}", d.ph(5)));
            if let Some(key) = after {
                args.push(Value::Time(time(key.start)));
                args.push(Value::Text(key.namespace.clone()));
                args.push(Value::I64(key.part));
                sql.push_str(&format!(
                    " AND (period_start, namespace, part) > ({}, {}, {})",
                    d.ph(6),
                    d.ph(7),
                    d.ph(8)
                ));
            }
            sql.push_str(&format!(
                " ORDER BY period_start, namespace, part LIMIT {}",
                limit.max(1)
            ));
            let fetched = db.fetch(&sql, args, &row_types(true)).await?;
            let full = fetched.len() >= limit.max(1) as usize;
            let mut rows = Vec::with_capacity(fetched.len());
            let mut last_part = 0;
            for row in fetched {
                let mut cells = Cells::new(row);
                rows.push(decode_row(&mut cells, CostPeriod::Hour).map_err(StoreError::Query)?);
                last_part = cells.i64().map_err(StoreError::Query)?;
            }
            let next = rows
                .last()
                .filter(|_| full)
                .map(|row: &Allocation| CostRowKey {
                    start: row.start,
                    namespace: row.namespace.clone(),
                    part: last_part,
                });
            Ok(CostRowsPage { rows, next })
        })
    }
}
