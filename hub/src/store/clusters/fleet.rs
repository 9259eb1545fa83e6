//! The fleet roll-up: an organization's clusters grouped by environment, provider or tag,
//! with health, kept counts and month-to-date cost per group, in one grouped statement.
//!
//! It reads the counts ingest keeps on each cluster row and the daily cost roll-ups, so it
//! costs the same whatever the clusters hold: a pass over the organization's cluster rows
//! and its days of cost this month.

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;

use crate::store::sql::{Cells, Dialect, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

/// What the fleet is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetGrouping {
    /// `production`, `staging`, `development`.
    Environment,
    /// The detected provider; `""` for none detected.
    Provider,
    /// Each tag: a cluster with two tags counts in both groups; `""` for none.
    Tag,
}

/// One group of clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetGroup {
    /// The environment, provider or tag; `""` for clusters without one.
    pub key: String,
    /// Clusters.
    pub clusters: u64,
    /// Judged healthy.
    pub healthy: u64,
    /// Judged degraded.
    pub degraded: u64,
    /// Judged critical.
    pub critical: u64,
    /// Never judged.
    pub unknown: u64,
    /// Live nodes.
    pub nodes: u64,
    /// Live pods.
    pub pods: u64,
    /// Cost since `since`, in nano-dollars, from the daily roll-ups.
    pub cost_nanos: i64,
}

impl Store {
    /// The organization's clusters grouped by `by`, ordered by key, with the cost of the
    /// days from `since` (the month's first).
    #[instrument(skip_all)]
    pub async fn fleet(
        &self,
        org: OrgId,
        by: FleetGrouping,
        since: DateTime<Utc>,
    ) -> Result<Vec<FleetGroup>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let (key, join) = match (by, d) {
                (FleetGrouping::Environment, _) => ("c.environment", ""),
                (FleetGrouping::Provider, _) => ("coalesce(c.provider, '')", ""),
                (FleetGrouping::Tag, Dialect::Sqlite) => {
                    ("coalesce(g.value, '')", " LEFT JOIN json_each(c.tags) g")
                }
                (FleetGrouping::Tag, Dialect::Postgres) => (
                    "coalesce(g.value, '')",
                    " LEFT JOIN LATERAL jsonb_array_elements_text(c.tags) AS g (value) ON TRUE",
                ),
            };
            let health = |status: &str| {
                format!(
                    "CAST(sum(CASE WHEN c.health_status = '{status}' THEN 1 ELSE 0 END) AS BIGINT)"
                )
            };
            let sql = format!(
                "SELECT {key}, count(*), {}, {}, {}, \
                 CAST(sum(CASE WHEN c.health_status IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
                 CAST(coalesce(sum(c.node_count), 0) AS BIGINT), \
                 CAST(coalesce(sum(c.pod_count), 0) AS BIGINT), \
                 CAST(coalesce(sum(m.cost), 0) AS BIGINT) \
                 FROM k8s_clusters c{join} \
                 LEFT JOIN (SELECT cluster_id, sum(total_cost_nanos) AS cost \
                 FROM k8s_cost_attribution WHERE org_id = {org} AND period = 'day' \
                 AND period_start >= {since} GROUP BY cluster_id) m ON m.cluster_id = c.id \
                 WHERE c.org_id = {org} GROUP BY {key} ORDER BY {key}",
                health("healthy"),
                health("degraded"),
                health("critical"),
                org = d.ph(1),
                since = d.ph(2),
            );
            let args = vec![Value::Id(*org.as_uuid()), Value::Time(since)];
            let types = [
                Ty::Text,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
            ];
            let rows = db.fetch(&sql, args, &types).await?;
            rows.into_iter()
                .map(|row| {
                    let mut c = Cells::new(row);
                    let key = c.text()?;
                    let mut n = || -> Result<u64, StoreError> { Ok(c.i64()?.max(0) as u64) };
                    Ok(FleetGroup {
                        key,
                        clusters: n()?,
                        healthy: n()?,
                        degraded: n()?,
                        critical: n()?,
                        unknown: n()?,
                        nodes: n()?,
                        pods: n()?,
                        cost_nanos: c.i64()?,
                    })
                })
                .collect()
        })
    }
}
