//! Cost by workload (`k8s_workload_costs`, migration 0028): each hour's namespace rows split
//! over their workloads by the engine ([`crate::cost::allocate_workloads`]), saved per
//! cluster-hour (replacing it, so a recomputed hour is idempotent) and read back over a
//! window for `aggregate=workload`.
//!
//! The worker saves an hour's workload rows before its namespace rows and progress mark: a
//! failure between the two leaves the hour unmarked, and the re-run replaces both.

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use tracing::instrument;

use super::allocations::{
    amount, egress_value, nanos, network_of, quantity, resource, resource_values, stored,
};
use super::{MS_PER_HOUR, MS_PER_SECOND, ids, millis, require_cluster};
use crate::cost::{AllocationFlags, CostBreakdown, GpuAllocation, WorkloadAllocation};
use crate::store::schema::time;
use crate::store::sql::{Cast, Cells, MAX_BIND_VALUES, Sql, Ty, Value, values_rows};
use crate::store::{Store, StoreError, in_tx, leases, on_conn};

/// The columns of a workload cost row, in insert order.
const COLUMNS: [&str; 27] = [
    "cluster_id",
    "org_id",
    "hour_start",
    "namespace",
    "workload_kind",
    "workload_name",
    "pods",
    "nodes",
    "cpu_requested_mcs",
    "cpu_used_mcs",
    "cpu_billed_mcs",
    "cpu_measured_requested_mcs",
    "cpu_measured_used_mcs",
    "memory_requested_bh",
    "memory_used_bh",
    "memory_billed_bh",
    "memory_measured_requested_bh",
    "memory_measured_used_bh",
    "gpu_requested_gs",
    "network_egress_bytes",
    "cpu_cost_nanos",
    "memory_cost_nanos",
    "gpu_cost_nanos",
    "network_cost_nanos",
    "total_cost_nanos",
    "usage_unknown",
    "computed_at",
];

fn row_values(org: OrgId, row: &WorkloadAllocation, computed_at: DateTime<Utc>) -> Vec<Value> {
    let cost = &row.cost;
    let mut values = vec![
        Value::Id(*row.cluster.as_uuid()),
        Value::Id(*org.as_uuid()),
        Value::Time(time(row.start)),
        Value::Text(row.namespace.clone()),
        Value::Text(row.kind.clone()),
        Value::Text(row.name.clone()),
        Value::I64(i64::from(row.pods)),
        Value::I64(i64::from(row.nodes)),
    ];
    values.extend(resource_values(&cost.cpu, MS_PER_SECOND));
    values.extend(resource_values(&cost.memory, MS_PER_HOUR));
    values.push(stored(cost.gpu.gpu_millis, MS_PER_SECOND));
    values.push(egress_value(cost.network));
    values.extend([
        nanos(cost.cpu.cost),
        nanos(cost.memory.cost),
        nanos(cost.gpu.cost),
        nanos(cost.network.map_or(Default::default(), |n| n.cost)),
        nanos(cost.total),
        Value::Bool(cost.flags.usage_unknown),
        Value::Time(computed_at),
    ]);
    values
}

async fn replace_hour(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
    rows: &[WorkloadAllocation],
    computed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    require_cluster(db, org, cluster).await?;
    let d = db.dialect();
    let sql = format!(
        "DELETE FROM k8s_workload_costs WHERE org_id = {} AND cluster_id = {} \
         AND hour_start = {}",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let mut args = ids(org, cluster);
    args.push(Value::Time(time(hour_start)));
    db.execute(&sql, args).await?;
    let casts = [Cast::None; COLUMNS.len()];
    for chunk in rows.chunks(MAX_BIND_VALUES / COLUMNS.len()) {
        let mut args = Vec::with_capacity(chunk.len() * COLUMNS.len());
        for row in chunk {
            if row.cluster != cluster || row.start != hour_start {
                return Err(StoreError::Conflict(format!(
                    "workload cost row of {}/{} is not of the cluster and hour being saved",
                    row.kind, row.name
                )));
            }
            args.extend(row_values(org, row, computed_at));
        }
        let sql = format!(
            "INSERT INTO k8s_workload_costs ({}) VALUES {}",
            COLUMNS.join(", "),
            values_rows(d, chunk.len(), &casts)
        );
        db.execute(&sql, args).await?;
    }
    Ok(())
}

fn decode(c: &mut Cells) -> Result<WorkloadAllocation, sqlx::Error> {
    let cluster = ClusterId::from_uuid(c.uuid()?);
    let start = millis(c.time()?);
    let namespace = c.text()?;
    let kind = c.text()?;
    let name = c.text()?;
    let count = |c: &mut Cells| -> Result<u32, sqlx::Error> {
        Ok(u32::try_from(c.i64()?.max(0)).unwrap_or(u32::MAX))
    };
    let pods = count(c)?;
    let nodes = count(c)?;
    let (cpu_cost, memory_cost, gpu_cost, network_cost, total) =
        (c.i64()?, c.i64()?, c.i64()?, c.i64()?, c.i64()?);
    let usage_unknown = c.bool()?;
    let cpu = resource(c, MS_PER_SECOND, cpu_cost)?;
    let memory = resource(c, MS_PER_HOUR, memory_cost)?;
    let gpu = GpuAllocation {
        gpu_millis: quantity(c, MS_PER_SECOND)?,
        cost: amount(gpu_cost),
    };
    let network = network_of(c.opt_i64()?, network_cost);
    Ok(WorkloadAllocation {
        cluster,
        start,
        end: UnixMillis(start.0 + MILLIS_PER_HOUR),
        namespace,
        kind,
        name,
        pods,
        nodes,
        cost: CostBreakdown {
            cpu,
            memory,
            gpu,
            network,
            total: amount(total),
            flags: AllocationFlags {
                usage_unknown,
                idle_clamped: false,
            },
            ..CostBreakdown::default()
        },
    })
}

impl Store {
    /// Saves one cluster-hour's workload cost rows, replacing that hour's. Rows of another
    /// cluster or hour are refused ([`StoreError::Conflict`]), nothing saved.
    #[instrument(skip_all, fields(rows = rows.len()))]
    pub async fn save_workload_cost_hour(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
        rows: &[WorkloadAllocation],
        computed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            leases::check_own_fence(db, self).await?;
            replace_hour(db, org, cluster, hour_start, rows, computed_at).await
        })
    }

    /// The organization's workload cost rows of the hours starting in `[start, end)`, by
    /// cluster, hour, namespace, kind and name.
    #[instrument(skip_all)]
    pub async fn workload_cost_rows(
        &self,
        org: OrgId,
        start: UnixMillis,
        end: UnixMillis,
    ) -> Result<Vec<WorkloadAllocation>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            // Costs before quantities, as `decode` reads them.
            let sql = format!(
                "SELECT {}, hour_start, namespace, workload_kind, workload_name, pods, nodes, \
                 cpu_cost_nanos, memory_cost_nanos, gpu_cost_nanos, network_cost_nanos, \
                 total_cost_nanos, usage_unknown, {}, gpu_requested_gs, network_egress_bytes \
                 FROM k8s_workload_costs WHERE org_id = {} AND hour_start >= {} \
                 AND hour_start < {} \
                 ORDER BY cluster_id, hour_start, namespace, workload_kind, workload_name",
                d.text("cluster_id"),
                COLUMNS[8..18].join(", "),
                d.ph(1),
                d.ph(2),
                d.ph(3)
            );
            let mut types = vec![Ty::Text, Ty::Time, Ty::Text, Ty::Text, Ty::Text];
            types.extend([Ty::I64; 7]);
            types.push(Ty::Bool);
            types.extend([Ty::I64; 11]);
            types.push(Ty::OptI64);
            let args = vec![
                Value::Id(*org.as_uuid()),
                Value::Time(time(start)),
                Value::Time(time(end)),
            ];
            let rows = db.fetch(&sql, args, &types).await?;
            rows.into_iter()
                .map(|row| decode(&mut Cells::new(row)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::Query)
        })
    }
}
