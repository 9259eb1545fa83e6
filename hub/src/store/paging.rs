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

    /// Binds the page and returns ` LIMIT … OFFSET …`.
    pub(crate) fn page(&mut self, page: PageRequest) -> String {
        self.args.push(Value::I64(i64::from(page.limit)));
        self.args
            .push(Value::I64(page.offset.min(i64::MAX as u64) as i64));
        let n = self.args.len();
        format!(" LIMIT {} OFFSET {}", self.d.ph(n - 1), self.d.ph(n))
    }
}
