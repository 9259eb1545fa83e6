//! The cost worker's outputs: hourly allocation rows and their daily rollups (each save
//! replaces its period, so re-running is idempotent), the per-cluster progress marks saved
//! with them, and the rows read back for the API's reports.

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use tracing::instrument;

use super::{
    CostCluster, CostPeriod, CostRowFilter, MILLIS_PER_DAY, MS_PER_HOUR, MS_PER_SECOND, ids,
    millis, require_cluster,
};
use crate::cost::{
    Allocation, AllocationFlags, CostBreakdown, GpuAllocation, NanoDollars, NetworkAllocation,
    Pricing, PricingMode, ResourceAllocation, StorageAllocation,
};
use crate::store::schema::time;
use crate::store::sql::{Cast, Cells, Dialect, MAX_BIND_VALUES, Sql, Ty, Value, values_rows};
use crate::store::{Store, StoreError, in_tx, leases, on_conn};
use std::collections::BTreeMap;

/// The columns of a cost row, in insert order, with how each is bound.
const COLUMNS: [(&str, Cast); 33] = [
    ("cluster_id", Cast::None),
    ("org_id", Cast::None),
    ("period", Cast::None),
    ("period_start", Cast::None),
    ("namespace", Cast::None),
    ("part", Cast::None),
    ("team", Cast::None),
    ("cost_center", Cast::None),
    ("labels", Cast::Jsonb),
    ("cpu_requested_mcs", Cast::None),
    ("cpu_used_mcs", Cast::None),
    ("cpu_billed_mcs", Cast::None),
    ("cpu_measured_requested_mcs", Cast::None),
    ("cpu_measured_used_mcs", Cast::None),
    ("memory_requested_bh", Cast::None),
    ("memory_used_bh", Cast::None),
    ("memory_billed_bh", Cast::None),
    ("memory_measured_requested_bh", Cast::None),
    ("memory_measured_used_bh", Cast::None),
    ("storage_bh", Cast::None),
    ("network_egress_bytes", Cast::None),
    ("cpu_cost_nanos", Cast::None),
    ("memory_cost_nanos", Cast::None),
    ("storage_cost_nanos", Cast::None),
    ("network_cost_nanos", Cast::None),
    ("total_cost_nanos", Cast::None),
    ("usage_unknown", Cast::None),
    ("idle_clamped", Cast::None),
    ("computed_at", Cast::None),
    ("gpu_requested_gs", Cast::None),
    ("gpu_cost_nanos", Cast::None),
    ("pricing_mode", Cast::None),
    ("price_catalog_date", Cast::None),
];

/// A stored quantity: `exact / unit`, floored, saturating (far beyond any real row).
pub(super) fn stored(exact: u128, unit: u128) -> Value {
    Value::I64(i64::try_from(exact / unit).unwrap_or(i64::MAX))
}

pub(super) fn nanos(amount: NanoDollars) -> Value {
    Value::I64(i64::try_from(amount.0).unwrap_or(i64::MAX))
}

/// The egress bytes of a row: null when unknown.
pub(super) fn egress_value(network: Option<NetworkAllocation>) -> Value {
    Value::OptI64(network.map(|n| i64::try_from(n.egress_bytes).unwrap_or(i64::MAX)))
}

/// The network of a stored row: unknown without egress bytes.
pub(super) fn network_of(bytes: Option<i64>, cost: i64) -> Option<NetworkAllocation> {
    bytes.map(|bytes| NetworkAllocation {
        egress_bytes: u64::try_from(bytes).unwrap_or(0),
        cost: amount(cost),
    })
}

pub(super) fn resource_values(r: &ResourceAllocation, unit: u128) -> [Value; 5] {
    [
        stored(r.requested, unit),
        stored(r.used, unit),
        stored(r.billed, unit),
        stored(r.measured_requested, unit),
        stored(r.measured_used, unit),
    ]
}

fn row_values(
    org: OrgId,
    period: CostPeriod,
    part: i64,
    row: &Allocation,
    computed_at: DateTime<Utc>,
) -> Vec<Value> {
    let cost = &row.cost;
    let mut values = vec![
        Value::Id(*row.cluster.as_uuid()),
        Value::Id(*org.as_uuid()),
        Value::Text(period.as_str().to_owned()),
        Value::Time(time(row.start)),
        Value::Text(row.namespace.clone()),
        Value::I64(part),
        Value::Text(row.team.clone()),
        Value::Text(row.cost_center.clone()),
        Value::Text(serde_json::to_string(&row.labels).expect("labels serialize")),
    ];
    values.extend(resource_values(&cost.cpu, MS_PER_SECOND));
    values.extend(resource_values(&cost.memory, MS_PER_HOUR));
    values.push(stored(cost.storage.byte_millis, MS_PER_HOUR));
    values.push(egress_value(cost.network));
    values.extend([
        nanos(cost.cpu.cost),
        nanos(cost.memory.cost),
        nanos(cost.storage.cost),
        nanos(cost.network.map_or(NanoDollars::ZERO, |n| n.cost)),
        nanos(cost.total),
        Value::Bool(cost.flags.usage_unknown),
        Value::Bool(cost.flags.idle_clamped),
        Value::Time(computed_at),
        stored(cost.gpu.gpu_millis, MS_PER_SECOND),
        nanos(cost.gpu.cost),
        Value::OptText(row.pricing.as_ref().map(|p| p.mode.as_str().to_owned())),
        Value::OptText(row.pricing.as_ref().and_then(|p| p.catalog_date.clone())),
    ]);
    values
}

/// Replaces the rows of one cluster's period starting at `start` with `rows`.
async fn replace_period(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    period: CostPeriod,
    start: UnixMillis,
    rows: &[Allocation],
    computed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    require_cluster(db, org, cluster).await?;
    let d = db.dialect();
    let sql = format!(
        "DELETE FROM k8s_cost_attribution WHERE org_id = {} AND cluster_id = {} \
         AND period = {} AND period_start = {}",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4)
    );
    let mut args = ids(org, cluster);
    args.push(Value::Text(period.as_str().to_owned()));
    args.push(Value::Time(time(start)));
    db.execute(&sql, args).await?;

    // A namespace has several rows in a day when it was relabeled: number them.
    let mut parts: BTreeMap<&str, i64> = BTreeMap::new();
    let casts: Vec<Cast> = COLUMNS.iter().map(|(_, cast)| *cast).collect();
    let names: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    for chunk in rows.chunks(MAX_BIND_VALUES / COLUMNS.len()) {
        let mut args = Vec::with_capacity(chunk.len() * COLUMNS.len());
        for row in chunk {
            if row.cluster != cluster || row.start != start {
                return Err(StoreError::Conflict(format!(
                    "cost row of namespace {:?} is not of the cluster and period being saved",
                    row.namespace
                )));
            }
            let part = parts.entry(row.namespace.as_str()).or_insert(0);
            args.extend(row_values(org, period, *part, row, computed_at));
            *part += 1;
        }
        let sql = format!(
            "INSERT INTO k8s_cost_attribution ({}) VALUES {}",
            names.join(", "),
            values_rows(d, chunk.len(), &casts)
        );
        db.execute(&sql, args).await?;
    }
    Ok(())
}

pub(super) fn quantity(c: &mut Cells, unit: u128) -> Result<u128, sqlx::Error> {
    Ok(u128::try_from(c.i64()?).unwrap_or(0) * unit)
}

pub(super) fn resource(
    c: &mut Cells,
    unit: u128,
    cost: i64,
) -> Result<ResourceAllocation, sqlx::Error> {
    Ok(ResourceAllocation {
        requested: quantity(c, unit)?,
        used: quantity(c, unit)?,
        billed: quantity(c, unit)?,
        measured_requested: quantity(c, unit)?,
        measured_used: quantity(c, unit)?,
        cost: NanoDollars(u64::try_from(cost).unwrap_or(0)),
    })
}

pub(super) fn amount(value: i64) -> NanoDollars {
    NanoDollars(u64::try_from(value).unwrap_or(0))
}

/// `SELECT` of a cost row's columns (as [`decode_row`] reads them, `extra` appended) from the
/// rows of organization `$1`, period `$2`, starting in `[$3, $4)`.
pub(super) fn select_rows(d: Dialect, extra: &str) -> String {
    // Costs first so that each resource's cost is at hand when its quantities are read.
    format!(
        "SELECT {}, period_start, namespace, team, cost_center, {}, \
         cpu_cost_nanos, memory_cost_nanos, storage_cost_nanos, network_cost_nanos, \
         total_cost_nanos, usage_unknown, idle_clamped, {}, \
         gpu_requested_gs, gpu_cost_nanos, pricing_mode, price_catalog_date{extra} \
         FROM k8s_cost_attribution WHERE org_id = {} AND period = {} \
         AND period_start >= {} AND period_start < {}",
        d.text("cluster_id"),
        d.text("labels"),
        COLUMNS[9..21]
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", "),
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4)
    )
}

/// The cell types of [`select_rows`], with `part` last when `with_part`.
pub(super) fn row_types(with_part: bool) -> Vec<Ty> {
    let mut types = vec![Ty::Text, Ty::Time, Ty::Text, Ty::Text, Ty::Text, Ty::Text];
    types.extend([Ty::I64; 5]);
    types.extend([Ty::Bool; 2]);
    types.extend([Ty::I64; 11]);
    types.push(Ty::OptI64);
    types.extend([Ty::I64, Ty::I64, Ty::OptText, Ty::OptText]);
    if with_part {
        types.push(Ty::I64);
    }
    types
}

/// One row of [`select_rows`] as the allocation it stored.
pub(super) fn decode_row(c: &mut Cells, period: CostPeriod) -> Result<Allocation, sqlx::Error> {
    let length = match period {
        CostPeriod::Hour => MILLIS_PER_HOUR,
        CostPeriod::Day => MILLIS_PER_DAY,
    };
    let cluster = ClusterId::from_uuid(c.uuid()?);
    let start = millis(c.time()?);
    let namespace = c.text()?;
    let team = c.text()?;
    let cost_center = c.text()?;
    let labels = c.json()?;
    let (cpu_cost, memory_cost, storage_cost, network_cost, total) =
        (c.i64()?, c.i64()?, c.i64()?, c.i64()?, c.i64()?);
    let flags = AllocationFlags {
        usage_unknown: c.bool()?,
        idle_clamped: c.bool()?,
    };
    let cpu = resource(c, MS_PER_SECOND, cpu_cost)?;
    let memory = resource(c, MS_PER_HOUR, memory_cost)?;
    let storage = StorageAllocation {
        byte_millis: quantity(c, MS_PER_HOUR)?,
        cost: amount(storage_cost),
    };
    let network = network_of(c.opt_i64()?, network_cost);
    let gpu = GpuAllocation {
        gpu_millis: quantity(c, MS_PER_SECOND)?,
        cost: amount(c.i64()?),
    };
    let mode = c.opt_text()?;
    let catalog_date = c.opt_text()?;
    let pricing = mode
        .and_then(|m| PricingMode::parse(&m))
        .map(|mode| Pricing { mode, catalog_date });
    Ok(Allocation {
        cluster,
        start,
        end: UnixMillis(start.0 + length),
        namespace,
        team,
        cost_center,
        labels,
        cost: CostBreakdown {
            cpu,
            memory,
            storage,
            network,
            gpu,
            total: amount(total),
            flags,
        },
        pricing,
    })
}

impl Store {
    /// Saves the rows of an hour that is not due yet, computed as far as it has happened
    /// (cost so far), replacing that hour, and leaves the cluster's marks alone, so the hour
    /// is still computed for good by [`Store::save_cost_hour`] once it is due.
    #[instrument(skip_all, fields(rows = rows.len()))]
    pub async fn save_cost_hour_so_far(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
        rows: &[Allocation],
        computed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            leases::check_own_fence(db, self).await?;
            replace_period(
                db,
                org,
                cluster,
                CostPeriod::Hour,
                hour_start,
                rows,
                computed_at,
            )
            .await
        })
    }

    /// Saves one hour's allocation rows (all of `cluster` and `hour_start`), replacing that
    /// hour, and in the same transaction moves the cluster's marks: hours computed up to this
    /// hour's end at least, and this hour's day due for rollup again.
    #[instrument(skip_all, fields(rows = rows.len()))]
    pub async fn save_cost_hour(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
        rows: &[Allocation],
        computed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            leases::check_own_fence(db, self).await?;
            replace_period(
                db,
                org,
                cluster,
                CostPeriod::Hour,
                hour_start,
                rows,
                computed_at,
            )
            .await?;
            let day = UnixMillis(hour_start.0.div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY);
            let hour_end = UnixMillis(hour_start.0 + MILLIS_PER_HOUR);
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO k8s_cost_progress (cluster_id, org_id, hours_until, days_until, updated_at) \
         VALUES ({}, {}, {}, {}, {}) ON CONFLICT (cluster_id) DO UPDATE SET \
         hours_until = CASE WHEN excluded.hours_until > k8s_cost_progress.hours_until \
         THEN excluded.hours_until ELSE k8s_cost_progress.hours_until END, \
         days_until = CASE WHEN excluded.days_until < k8s_cost_progress.days_until \
         THEN excluded.days_until ELSE k8s_cost_progress.days_until END, \
         updated_at = excluded.updated_at",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5)
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(*cluster.as_uuid()),
                    Value::Id(*org.as_uuid()),
                    Value::Time(time(hour_end)),
                    Value::Time(time(day)),
                    Value::Time(computed_at),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Saves one UTC day's rollup rows, replacing that day, and marks it rolled up.
    #[instrument(skip_all, fields(rows = rows.len()))]
    pub async fn save_cost_day(
        &self,
        org: OrgId,
        cluster: ClusterId,
        day_start: UnixMillis,
        rows: &[Allocation],
        computed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            leases::check_own_fence(db, self).await?;
            replace_period(
                db,
                org,
                cluster,
                CostPeriod::Day,
                day_start,
                rows,
                computed_at,
            )
            .await?;
            let d = db.dialect();
            let sql = format!(
                "UPDATE k8s_cost_progress SET days_until = {p1}, updated_at = {} \
         WHERE org_id = {} AND cluster_id = {} AND days_until < {p1}",
                d.ph(2),
                d.ph(3),
                d.ph(4),
                p1 = d.ph(1),
            );
            db.execute(
                &sql,
                vec![
                    Value::Time(time(UnixMillis(day_start.0 + MILLIS_PER_DAY))),
                    Value::Time(computed_at),
                    Value::Id(*org.as_uuid()),
                    Value::Id(*cluster.as_uuid()),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Stored cost rows of the organization (hourly or daily), by cluster, start, namespace.
    #[instrument(skip_all)]
    pub async fn cost_rows(
        &self,
        org: OrgId,
        filter: &CostRowFilter,
    ) -> Result<Vec<Allocation>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut sql = select_rows(d, "");
            let mut args = vec![
                Value::Id(*org.as_uuid()),
                Value::Text(filter.period.as_str().to_owned()),
                Value::Time(time(filter.start)),
                Value::Time(time(filter.end)),
            ];
            if let Some(cluster) = filter.cluster {
                args.push(Value::Id(*cluster.as_uuid()));
                sql.push_str(&format!(" AND cluster_id = {}", d.ph(args.len())));
            }
            if let Some(namespace) = &filter.namespace {
                args.push(Value::Text(namespace.clone()));
                sql.push_str(&format!(" AND namespace = {}", d.ph(args.len())));
            }
            sql.push_str(" ORDER BY cluster_id, period_start, namespace, part");
            let rows = db.fetch(&sql, args, &row_types(false)).await?;
            rows.into_iter()
                .map(|row| decode_row(&mut Cells::new(row), filter.period))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::Query)
        })
    }

    /// Every enabled cluster of every organization with how far its costs are computed.
    #[instrument(skip_all)]
    pub async fn cost_clusters(&self) -> Result<Vec<CostCluster>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, {}, c.created_at, p.hours_until, p.days_until FROM k8s_clusters c \
         LEFT JOIN k8s_cost_progress p ON p.cluster_id = c.id WHERE c.enabled \
         ORDER BY c.created_at, c.id",
                d.text("c.org_id"),
                d.text("c.id")
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![],
                    &[Ty::Text, Ty::Text, Ty::Time, Ty::OptTime, Ty::OptTime],
                )
                .await?;
            rows.into_iter()
                .map(|row| {
                    let mut c = Cells::new(row);
                    Ok(CostCluster {
                        org: OrgId::from_uuid(c.uuid()?),
                        cluster: ClusterId::from_uuid(c.uuid()?),
                        created_at: millis(c.time()?),
                        hours_until: c.opt_time()?.map(millis),
                        days_until: c.opt_time()?.map(millis),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::Query)
        })
    }
}
