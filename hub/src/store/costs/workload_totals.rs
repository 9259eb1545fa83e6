//! What efficiency by workload reads: per workload (all its containers) of an organization,
//! the daily rollup's requested, used and unused CPU and memory summed over a window of whole
//! UTC days, in the database (one row per workload comes back, not one per container-day).

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

use crate::store::sql::{Cells, Sql, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

/// One workload's totals over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadTotals {
    /// The cluster.
    pub cluster: ClusterId,
    /// Its name.
    pub cluster_name: String,
    /// The namespace.
    pub namespace: String,
    /// Owner kind, or `Pod` for a pod without one.
    pub workload_kind: String,
    /// Owner name, or the pod's.
    pub workload_name: String,
    /// CPU requested, used and unused (per pod-hour), millicore-seconds, of the pod-hours
    /// with a CPU request.
    pub cpu_requested_mcs: u64,
    /// See `cpu_requested_mcs`.
    pub cpu_used_mcs: u64,
    /// See `cpu_requested_mcs`.
    pub cpu_unused_mcs: u64,
    /// Memory requested, used and unused (per pod-hour), byte-hours, of the pod-hours with a
    /// memory request.
    pub memory_requested_bh: u64,
    /// See `memory_requested_bh`.
    pub memory_used_bh: u64,
    /// See `memory_requested_bh`.
    pub memory_unused_bh: u64,
}

async fn totals(
    db: &mut dyn Sql,
    org: OrgId,
    from_day: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<WorkloadTotals>, StoreError> {
    let d = db.dialect();
    let sum = |c: &str| format!("CAST(sum(u.{c}) AS BIGINT)");
    let sql = format!(
        "SELECT u.cluster_id, c.name, u.namespace, u.workload_kind, u.workload_name, \
         {}, {}, {}, {}, {}, {} FROM k8s_workload_usage u \
         JOIN k8s_clusters c ON c.id = u.cluster_id \
         WHERE u.org_id = {} AND c.org_id = {} AND u.day >= {} AND u.day < {} \
         GROUP BY u.cluster_id, c.name, u.namespace, u.workload_kind, u.workload_name",
        sum("cpu_requested_mcs"),
        sum("cpu_used_mcs"),
        sum("cpu_unused_mcs"),
        sum("memory_requested_bh"),
        sum("memory_used_bh"),
        sum("memory_unused_bh"),
        d.ph(1),
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let args = vec![
        Value::Id(*org.as_uuid()),
        Value::Time(from_day),
        Value::Time(to),
    ];
    let mut types = vec![Ty::Id, Ty::Text, Ty::Text, Ty::Text, Ty::Text];
    types.extend([Ty::I64; 6]);
    let n = |c: &mut Cells| -> Result<u64, sqlx::Error> { Ok(c.i64()?.max(0) as u64) };
    db.fetch(&sql, args, &types)
        .await?
        .into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            Ok(WorkloadTotals {
                cluster: ClusterId::from_uuid(c.uuid()?),
                cluster_name: c.text()?,
                namespace: c.text()?,
                workload_kind: c.text()?,
                workload_name: c.text()?,
                cpu_requested_mcs: n(&mut c)?,
                cpu_used_mcs: n(&mut c)?,
                cpu_unused_mcs: n(&mut c)?,
                memory_requested_bh: n(&mut c)?,
                memory_used_bh: n(&mut c)?,
                memory_unused_bh: n(&mut c)?,
            })
        })
        .collect()
}

impl Store {
    /// Every workload of `org` with rolled-up usage in the whole UTC days from `from_day` to
    /// before `to`, its containers' requested, used and unused CPU and memory summed: what
    /// efficiency by workload prices. Workloads whose pods are gone still count (their
    /// requests cost while they ran).
    #[instrument(skip_all)]
    pub async fn workload_totals(
        &self,
        org: OrgId,
        from_day: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<WorkloadTotals>, StoreError> {
        on_conn!(self, |db| totals(db, org, from_day, to))
    }
}
