//! Budgets: create, update, delete and list per organization, and what each scope spent in
//! a month.
//!
//! A month's spend is read from the rows the cost worker saved: the daily rollups of the days
//! each cluster has rolled up (its `days_until`), then the hourly rows after them up to the
//! hours it has computed for good (`hours_until`), so an hour is counted once and rows "so
//! far" of an hour still in progress never are.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;
use uuid::Uuid;

use super::super::sql::{Cells, Sql, Ty, Value};
use super::super::{Store, StoreError, in_tx, on_conn};
use super::{Budget, BudgetScope, delete_owned, from_nanos, nanos};
use crate::cost::NanoDollars;

/// The month a spend is read for, and how far the organization's costs are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendWindow {
    /// First instant of the month.
    pub start: DateTime<Utc>,
    /// First instant of the next month.
    pub end: DateTime<Utc>,
}

/// What one scope key spent in a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSpend(pub HashMap<String, NanoDollars>);

const COLUMNS: &str = "name, scope_kind, scope_key, amount_nanos, created_at, updated_at";

fn budget_from(db_id: Uuid, org: OrgId, c: &mut Cells) -> Result<Budget, StoreError> {
    let name = c.text()?;
    let kind = c.text()?;
    Ok(Budget {
        id: db_id,
        org_id: org,
        name,
        scope: BudgetScope::parse(&kind)
            .ok_or_else(|| super::super::sql::decode_error("unknown budget scope"))?,
        scope_key: c.text()?,
        amount: from_nanos(c.i64()?),
        created_at: c.time()?,
        updated_at: c.time()?,
    })
}

const TYPES: [Ty; 7] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::I64,
    Ty::Time,
    Ty::Time,
];

fn taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a budget named {name:?} already exists"))
}

async fn name_taken(db: &mut dyn Sql, b: &Budget) -> Result<bool, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT 1 FROM cost_budgets WHERE org_id = {} AND name = {} AND id <> {}",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let rows = db
        .fetch(
            &sql,
            vec![
                Value::Id(*b.org_id.as_uuid()),
                Value::Text(b.name.clone()),
                Value::Id(b.id),
            ],
            &[Ty::I64],
        )
        .await?;
    Ok(!rows.is_empty())
}

impl Store {
    /// Adds a budget; [`StoreError::Conflict`] when its name is taken in the organization.
    #[instrument(skip_all)]
    pub async fn create_budget(&self, budget: &Budget) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            if name_taken(db, budget).await? {
                return Err(taken(&budget.name));
            }
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO cost_budgets (id, org_id, {COLUMNS}) VALUES ({})",
                (1..=8).map(|n| d.ph(n)).collect::<Vec<_>>().join(", ")
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(budget.id),
                    Value::Id(*budget.org_id.as_uuid()),
                    Value::Text(budget.name.clone()),
                    Value::Text(budget.scope.as_str().into()),
                    Value::Text(budget.scope_key.clone()),
                    Value::I64(nanos(budget.amount)),
                    Value::Time(budget.created_at.trunc_subsecs(6)),
                    Value::Time(budget.updated_at.trunc_subsecs(6)),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Replaces a budget's name, scope and amount; false when the organization has no such
    /// budget; [`StoreError::Conflict`] when the new name is taken.
    #[instrument(skip_all)]
    pub async fn update_budget(&self, budget: &Budget) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            if name_taken(db, budget).await? {
                return Err(taken(&budget.name));
            }
            let d = db.dialect();
            let sql = format!(
                "UPDATE cost_budgets SET name = {}, scope_kind = {}, scope_key = {}, \
                 amount_nanos = {}, updated_at = {} WHERE org_id = {} AND id = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6),
                d.ph(7)
            );
            let n = db
                .execute(
                    &sql,
                    vec![
                        Value::Text(budget.name.clone()),
                        Value::Text(budget.scope.as_str().into()),
                        Value::Text(budget.scope_key.clone()),
                        Value::I64(nanos(budget.amount)),
                        Value::Time(budget.updated_at.trunc_subsecs(6)),
                        Value::Id(*budget.org_id.as_uuid()),
                        Value::Id(budget.id),
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    /// Deletes a budget (its alerts stay in the history); false when the organization has
    /// no such budget.
    #[instrument(skip_all)]
    pub async fn delete_budget(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            delete_owned(db, "cost_budgets", org, id).await
        })
    }

    /// One budget of the organization.
    #[instrument(skip_all)]
    pub async fn budget(&self, org: OrgId, id: Uuid) -> Result<Option<Budget>, StoreError> {
        let all = self.budgets_where(org, Some(id)).await?;
        Ok(all.into_iter().next())
    }

    /// The organization's budgets, by name.
    #[instrument(skip_all)]
    pub async fn budgets(&self, org: OrgId) -> Result<Vec<Budget>, StoreError> {
        self.budgets_where(org, None).await
    }

    async fn budgets_where(&self, org: OrgId, id: Option<Uuid>) -> Result<Vec<Budget>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut args = vec![Value::Id(*org.as_uuid())];
            let mut sql = format!(
                "SELECT {}, {COLUMNS} FROM cost_budgets WHERE org_id = {}",
                d.text("id"),
                d.ph(1)
            );
            if let Some(id) = id {
                sql.push_str(&format!(" AND id = {}", d.ph(2)));
                args.push(Value::Id(id));
            }
            sql.push_str(" ORDER BY name");
            let rows = db.fetch(&sql, args, &TYPES).await?;
            rows.into_iter()
                .map(|row| {
                    let mut c = Cells::new(row);
                    let id = c.uuid()?;
                    budget_from(id, org, &mut c)
                })
                .collect()
        })
    }

    /// The organizations the alert evaluation looks at: those with a budget or a computed
    /// cost hour.
    #[instrument(skip_all)]
    pub async fn alert_organizations(&self) -> Result<Vec<OrgId>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT DISTINCT {} FROM cost_budgets UNION SELECT DISTINCT {} FROM \
                 k8s_cost_progress",
                d.text("org_id"),
                d.text("org_id")
            );
            let rows = db.fetch(&sql, vec![], &[Ty::Text]).await?;
            rows.into_iter()
                .map(|row| Ok(OrgId::from_uuid(Cells::new(row).uuid()?)))
                .collect()
        })
    }

    /// Where the organization's costs are computed up to: the latest `hours_until` of its
    /// clusters; `None` before any hour.
    #[instrument(skip_all)]
    pub async fn costs_computed_until(
        &self,
        org: OrgId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT max(hours_until) FROM k8s_cost_progress WHERE org_id = {}",
                d.ph(1)
            );
            let rows = db
                .fetch(&sql, vec![Value::Id(*org.as_uuid())], &[Ty::OptTime])
                .await?;
            match rows.into_iter().next() {
                Some(row) => Ok(Cells::new(row).opt_time()?),
                None => Ok(None),
            }
        })
    }

    /// What each key of `scope` spent in `window` (see the module docs for which rows).
    #[instrument(skip_all)]
    pub async fn scope_spend(
        &self,
        org: OrgId,
        scope: BudgetScope,
        window: SpendWindow,
    ) -> Result<ScopeSpend, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let key = d.text(scope.column());
            let sql = format!(
                "SELECT {key}, CAST(sum(a.total_cost_nanos) AS BIGINT) FROM k8s_cost_attribution a \
                 JOIN k8s_cost_progress p ON p.cluster_id = a.cluster_id \
                 WHERE a.org_id = {p1} AND a.period_start >= {p2} AND a.period_start < {p3} \
                 AND ((a.period = 'day' AND a.period_start < p.days_until) \
                 OR (a.period = 'hour' AND a.period_start >= p.days_until \
                 AND a.period_start < p.hours_until)) GROUP BY {key}",
                p1 = d.ph(1),
                p2 = d.ph(2),
                p3 = d.ph(3),
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![
                        Value::Id(*org.as_uuid()),
                        Value::Time(window.start),
                        Value::Time(window.end),
                    ],
                    &[Ty::Text, Ty::I64],
                )
                .await?;
            let mut spend = HashMap::with_capacity(rows.len());
            for row in rows {
                let mut c = Cells::new(row);
                let key = c.text()?;
                spend.insert(key, from_nanos(c.i64()?));
            }
            Ok(ScopeSpend(spend))
        })
    }
}
