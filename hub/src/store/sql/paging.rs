//! Pages of lists: the request (limit, offset), the answer (items and the filtered total),
//! and [`Filter`], which builds a `WHERE` clause of bound values for the listing queries.

use super::{Cells, Dialect, Sql, Ty, Value};
use crate::store::StoreError;

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items.
    pub limit: u32,
    /// Skip this many.
    pub offset: u64,
}

impl Default for PageRequest {
    /// The API's default page: the first 50.
    fn default() -> Self {
        Self {
            limit: 50,
            offset: 0,
        }
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// The page.
    pub items: Vec<T>,
    /// Items in the whole (filtered) list.
    pub total: u64,
}

impl<T> Paged<T> {
    /// The page, turned around when `from_end`: a last page is read as the first page of
    /// the reverse order, so a jump to the end seeks like the first page instead of skipping
    /// every row before it, and its rows are put back in the list's order.
    pub(crate) fn turned(mut self, from_end: bool) -> Self {
        if from_end {
            self.items.reverse();
        }
        self
    }
}

/// Where a page's total comes from: the choice is by how often the list's pages are full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Total {
    /// A column of the page's own statement ([`Filter::total_column`]): for lists whose
    /// first page is usually full and so needs a count anyway (the cluster list, the audit
    /// log) — one statement instead of two.
    InPage,
    /// Counted by a second statement only when the page cannot tell it
    /// ([`total_from_page`]): for lists that usually fit one page (a namespace's or a
    /// deployment's pods), where counting every time is slower on PostgreSQL: the count
    /// has no partition key to prune by, so it plans and probes every monthly partition of
    /// pods.
    AfterPage,
}

/// A `WHERE` clause under construction: conditions from constant fragments, values bound.
#[derive(Debug)]
pub(crate) struct Filter {
    d: Dialect,
    /// The bound values, in placeholder order.
    pub args: Vec<Value>,
    conditions: Vec<String>,
    /// Where a keyset page starts ([`Filter::seek`]).
    seek: Option<Seek>,
}

/// A page that continues after a row: a condition on the list's sort key (its values bound
/// after the filter's). It narrows the page's statement only, never the total.
#[derive(Debug)]
struct Seek {
    condition: String,
    values: Vec<Value>,
}

impl Filter {
    /// Starts with `column = <value>` (the organization every query is scoped by).
    pub(crate) fn new(d: Dialect, column: &str, value: Value) -> Self {
        let mut filter = Self {
            d,
            args: Vec::new(),
            conditions: Vec::new(),
            seek: None,
        };
        filter.bind(value, |p| format!("{column} = {p}"));
        filter
    }

    /// Adds a condition on one bound value; `condition` gets its placeholder.
    pub(crate) fn bind(&mut self, value: Value, condition: impl FnOnce(&str) -> String) {
        debug_assert!(
            self.seek.is_none(),
            "a seek's placeholders follow every condition's"
        );
        self.args.push(value);
        let placeholder = self.d.ph(self.args.len());
        self.conditions.push(condition(&placeholder));
    }

    /// Adds a condition without values.
    pub(crate) fn raw(&mut self, condition: &str) {
        self.conditions.push(condition.to_owned());
    }

    /// Starts the page after the row whose sort key (`columns`, the leading columns of the
    /// list's order, all in one direction) is `values`: a seek in the order's index rather
    /// than an offset's skipped rows, so a deep page costs what the first does. The total
    /// still counts the whole filtered list.
    pub(crate) fn seek(&mut self, columns: &str, values: Vec<Value>, descending: bool) {
        let op = if descending { "<" } else { ">" };
        self.seek_where(values, |phs| {
            format!("({columns}) {op} ({})", phs.join(", "))
        });
    }

    /// Starts the page where `condition` (given the placeholders of `values`) holds: for
    /// orders one row comparison cannot continue, such as a column whose NULLs sort last
    /// either way. Called after every condition of the filter, so the placeholders follow
    /// the filter's.
    pub(crate) fn seek_where(
        &mut self,
        values: Vec<Value>,
        condition: impl FnOnce(&[String]) -> String,
    ) {
        let first = self.args.len() + 1;
        let phs: Vec<String> = (first..first + values.len())
            .map(|n| self.d.ph(n))
            .collect();
        self.seek = Some(Seek {
            condition: condition(&phs),
            values,
        });
    }

    /// Whether the page starts after a row rather than at an offset.
    pub(crate) fn seeks(&self) -> bool {
        self.seek.is_some()
    }

    /// The conditions joined with `AND`.
    pub(crate) fn clause(&self) -> String {
        self.conditions.join(" AND ")
    }

    /// The total of `FROM table WHERE clause`.
    pub(crate) async fn count(&self, db: &mut dyn Sql, table: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM {table} WHERE {}", self.clause());
        let rows = db.fetch(&sql, self.args.clone(), &[Ty::I64]).await?;
        let mut c = Cells::new(rows.into_iter().next().unwrap_or_default());
        Ok(c.i64()?.max(0) as u64)
    }

    /// One page of `SELECT {columns} FROM {table} WHERE … ORDER BY {order}` and the
    /// filtered total, counted as `total` says.
    pub(crate) async fn fetch_page(
        &self,
        db: &mut dyn Sql,
        (table, columns, order): (&str, &str, &str),
        page: PageRequest,
        types: &[Ty],
        total: Total,
    ) -> Result<(Vec<Vec<Value>>, u64), StoreError> {
        let (columns, types) = match total {
            Total::InPage => (
                format!("{columns}, {}", self.total_column(table)),
                [types, &[Ty::I64]].concat(),
            ),
            Total::AfterPage => (columns.to_owned(), types.to_vec()),
        };
        let (sql, args) = self.page_sql((table, &columns, order), page);
        let mut rows = db.fetch(&sql, args, &types).await?;
        let total = match total {
            Total::InPage => self.take_total(db, table, page, &mut rows).await?,
            Total::AfterPage => self.total(db, table, page, rows.len()).await?,
        };
        Ok((rows, total))
    }

    /// `(SELECT count(*) FROM {table} WHERE …)`, the filtered total, for the last column of a
    /// page's own statement. It is not correlated with the row, so both backends count once
    /// per statement (SQLite's once-only subquery, PostgreSQL's InitPlan), and it reuses the
    /// page's numbered placeholders. A full page (the first page of the cluster list, of a
    /// cluster's namespaces) so needs no second statement for its total, which would be
    /// another trip to the server on PostgreSQL, another round of thread hops on SQLite.
    pub(crate) fn total_column(&self, table: &str) -> String {
        format!("(SELECT count(*) FROM {table} WHERE {})", self.clause())
    }

    /// Takes the total (the last cell, see [`Self::total_column`]) off every row of a page and
    /// returns it. An empty page has no cell to read; it is the list's end at offset 0, and
    /// past the end otherwise, which counts on its own.
    pub(crate) async fn take_total(
        &self,
        db: &mut dyn Sql,
        table: &str,
        page: PageRequest,
        rows: &mut [Vec<Value>],
    ) -> Result<u64, StoreError> {
        let mut total = None;
        for row in rows.iter_mut() {
            let mut cell = Cells::new(row.pop().into_iter().collect());
            total = Some(cell.i64()?.max(0) as u64);
        }
        match total {
            Some(total) => Ok(total),
            None => self.total(db, table, page, 0).await,
        }
    }

    /// The filtered total of `table`, given a page of `len` rows: counted only when the
    /// page cannot tell it.
    async fn total(
        &self,
        db: &mut dyn Sql,
        table: &str,
        page: PageRequest,
        len: usize,
    ) -> Result<u64, StoreError> {
        match total_from_page(page, len).filter(|_| !self.seeks()) {
            Some(total) => Ok(total),
            None => self.count(db, table).await,
        }
    }

    /// `SELECT {columns} FROM {table} WHERE … ORDER BY {order} LIMIT n OFFSET m` and its
    /// arguments, for callers that wrap the page in an outer query.
    ///
    /// The limit and offset are written into the text, not bound: SQLite plans a bound
    /// `LIMIT ?` with its value and so marks the statement to be recompiled whenever it is
    /// bound again — every execution, since sqlx binds on each one (`sqlite3Reprepare`
    /// shows in a profile of the cluster list). Both are integers from
    /// [`PageRequest`], so the text stays free of caller input, and nearly every request
    /// asks for the first page, so one cached statement serves them.
    ///
    /// A seeking page ([`Self::seek`]) adds its condition, with its values bound after the
    /// filter's, and skips nothing: its offset is only where the page stands in the list.
    pub(crate) fn page_sql(
        &self,
        (table, columns, order): (&str, &str, &str),
        page: PageRequest,
    ) -> (String, Vec<Value>) {
        let mut args = self.args.clone();
        let mut clause = self.clause();
        let mut offset = page.offset.min(i64::MAX as u64);
        if let Some(seek) = &self.seek {
            args.extend(seek.values.iter().cloned());
            clause.push_str(&format!(" AND {}", seek.condition));
            offset = 0;
        }
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {clause} ORDER BY {order} LIMIT {} OFFSET {offset}",
            page.limit,
        );
        (sql, args)
    }
}

/// `text` with `LIKE`'s own characters escaped by `\`, for `LIKE … ESCAPE '\'`.
pub(crate) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The list's total when a page of `len` items shows it: a page shorter than its limit is
/// the list's end, unless it is empty past the start (the list may end before the offset).
pub(crate) fn total_from_page(page: PageRequest, len: usize) -> Option<u64> {
    let short = (len as u64) < u64::from(page.limit);
    (short && (len > 0 || page.offset == 0)).then_some(page.offset + len as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: u32, offset: u64) -> PageRequest {
        PageRequest { limit, offset }
    }

    #[test]
    fn a_short_page_tells_the_total_and_a_full_or_empty_one_does_not() {
        assert_eq!(total_from_page(page(50, 0), 7), Some(7));
        assert_eq!(total_from_page(page(50, 0), 0), Some(0));
        assert_eq!(total_from_page(page(50, 100), 3), Some(103));
        assert_eq!(total_from_page(page(50, 0), 50), None, "more may follow");
        assert_eq!(
            total_from_page(page(50, 100), 0),
            None,
            "the list may be shorter"
        );
        assert_eq!(
            total_from_page(page(0, 0), 0),
            None,
            "a zero limit shows nothing"
        );
    }
}
