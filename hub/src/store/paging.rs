//! Pages of lists: the request (limit, offset), the answer (items and the filtered total),
//! and [`Filter`], which builds a `WHERE` clause of bound values for the listing queries.

use super::StoreError;
use super::sql::{Cells, Dialect, Sql, Ty, Value};

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

/// A `WHERE` clause under construction: conditions from constant fragments, values bound.
#[derive(Debug)]
pub(crate) struct Filter {
    d: Dialect,
    /// The bound values, in placeholder order.
    pub args: Vec<Value>,
    conditions: Vec<String>,
}

impl Filter {
    /// Starts with `column = <value>` (the organization every query is scoped by).
    pub(crate) fn new(d: Dialect, column: &str, value: Value) -> Self {
        let mut filter = Self {
            d,
            args: Vec::new(),
            conditions: Vec::new(),
        };
        filter.bind(value, |p| format!("{column} = {p}"));
        filter
    }

    /// Adds a condition on one bound value; `condition` gets its placeholder.
    pub(crate) fn bind(&mut self, value: Value, condition: impl FnOnce(&str) -> String) {
        self.args.push(value);
        let placeholder = self.d.ph(self.args.len());
        self.conditions.push(condition(&placeholder));
    }

    /// Adds a condition without values.
    pub(crate) fn raw(&mut self, condition: &str) {
        self.conditions.push(condition.to_owned());
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
    /// filtered total. The count runs only when the page cannot tell it (see
    /// [`total_from_page`]): most lists of a namespace or a deployment fit one page, and the
    /// count was a second statement per request.
    pub(crate) async fn fetch_page(
        &self,
        db: &mut dyn Sql,
        select: (&str, &str, &str),
        page: PageRequest,
        types: &[Ty],
    ) -> Result<(Vec<Vec<Value>>, u64), StoreError> {
        let (sql, args) = self.page_sql(select, page);
        let rows = db.fetch(&sql, args, types).await?;
        let total = self.total(db, select.0, page, rows.len()).await?;
        Ok((rows, total))
    }

    /// `SELECT {columns} FROM {table} WHERE … ORDER BY {order} LIMIT n OFFSET m` and its
    /// arguments, for callers that wrap the page in an outer query.
    ///
    /// The limit and offset are written into the text, not bound: SQLite plans a bound
    /// `LIMIT ?` with its value and so marks the statement to be recompiled whenever it is
    /// bound again — every execution, since sqlx binds on each one (`sqlite3Reprepare` was
    /// 7% of the hub's time serving the cluster list). Both are integers from
    /// [`PageRequest`], so the text stays free of caller input, and nearly every request
    /// asks for the first page, so one cached statement serves them.
    pub(crate) fn page_sql(
        &self,
        (table, columns, order): (&str, &str, &str),
        page: PageRequest,
    ) -> (String, Vec<Value>) {
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {} ORDER BY {order} LIMIT {} OFFSET {}",
            self.clause(),
            page.limit,
            page.offset.min(i64::MAX as u64)
        );
        (sql, self.args.clone())
    }

    /// The filtered total of `table`, given a page of `len` rows: counted only when the
    /// page cannot tell it.
    pub(crate) async fn total(
        &self,
        db: &mut dyn Sql,
        table: &str,
        page: PageRequest,
        len: usize,
    ) -> Result<u64, StoreError> {
        match total_from_page(page, len) {
            Some(total) => Ok(total),
            None => self.count(db, table).await,
        }
    }
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
