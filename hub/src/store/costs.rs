//! Cost storage, written once against [`Sql`]: what the cost worker loads for one
//! cluster-hour (the engine's [`HourInput`]), the hourly and daily rows it saves (each save
//! replaces its period, so re-running is idempotent), its per-cluster progress marks, and the
//! organization's price overrides.
//!
//! When things ran comes from the objects themselves where Kubernetes says so (a pod's
//! `startTime` and `deletionTimestamp`, creation times), and from the hub's observations
//! otherwise (`deleted_at`: when the hub saw an object go; `updated_at` of a finished pod: when
//! the hub saw it finish). A namespace's labels are those the hub holds when the hour is
//! computed, which is within the grace period of the hour's end while the worker keeps up.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{
    NamespaceProjection, NodeProjection, PodPhase, PodProjection, PvcPhase, PvcProjection,
};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use super::sql::{Cast, Cells, MAX_BIND_VALUES, Sql, Ty, Value, values_rows};
use super::tables::time;
use super::{StoreError, queries};
use crate::cost::{
    Allocation, AllocationFlags, CostBreakdown, HourInput, Interval, NanoDollars,
    NetworkAllocation, NodeHour, PodHour, PriceBook, PriceOverride, ResourceAllocation,
    StorageAllocation, VolumeHour,
};

/// Milliseconds per second and per hour, as the divisors of the stored units.
const MS_PER_SECOND: u128 = 1000;
const MS_PER_HOUR: u128 = MILLIS_PER_HOUR as u128;
const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;

/// Which rows: the worker's hourly allocations or their daily rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostPeriod {
    /// One row per namespace and hour.
    Hour,
    /// One row per namespace attribution and UTC day.
    Day,
}

impl CostPeriod {
    fn as_str(self) -> &'static str {
        match self {
            CostPeriod::Hour => "hour",
            CostPeriod::Day => "day",
        }
    }
}

/// Which cost rows to read: rows of `period` starting in `[start, end)`, optionally of one
/// cluster or namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRowFilter {
    /// Hourly or daily rows.
    pub period: CostPeriod,
    /// First period start included.
    pub start: UnixMillis,
    /// First period start excluded.
    pub end: UnixMillis,
    /// Only this cluster.
    pub cluster: Option<ClusterId>,
    /// Only this namespace.
    pub namespace: Option<String>,
}

/// A cluster the cost worker computes, with how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostCluster {
    /// Organization.
    pub org: OrgId,
    /// Cluster.
    pub cluster: ClusterId,
    /// When the cluster was registered: there is nothing to cost before.
    pub created_at: UnixMillis,
    /// Every hour before this is computed; `None` before the first.
    pub hours_until: Option<UnixMillis>,
    /// Every day before this is rolled up; `None` before the first hour.
    pub days_until: Option<UnixMillis>,
}

/// Where a price override applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceScope {
    /// Every cluster of the organization.
    Organization,
    /// One cluster.
    Cluster(ClusterId),
    /// Nodes of one instance type (`node.kubernetes.io/instance-type`), in every cluster.
    InstanceType(String),
}

/// The time an object ended by the hub's observation, or the end of the hour.
fn end_or(hour_end: UnixMillis, ended: Option<DateTime<Utc>>) -> UnixMillis {
    ended.map_or(hour_end, |t| UnixMillis(t.timestamp_millis()))
}

fn millis(t: DateTime<Utc>) -> UnixMillis {
    UnixMillis(t.timestamp_millis())
}

fn decode(error: serde_json::Error) -> StoreError {
    StoreError::Query(sqlx::Error::Decode(Box::new(error)))
}

async fn require_cluster(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT 1 FROM k8s_clusters WHERE org_id = {} AND id = {}",
        d.ph(1),
        d.ph(2)
    );
    let rows = db.fetch(&sql, ids(org, cluster), &[Ty::I64]).await?;
    if rows.is_empty() {
        return Err(StoreError::ClusterNotFound);
    }
    Ok(())
}

fn ids(org: OrgId, cluster: ClusterId) -> Vec<Value> {
    vec![Value::Id(*org.as_uuid()), Value::Id(*cluster.as_uuid())]
}

/// `data, first_seen_at, deleted_at` of the rows of `table` not gone before `hour_start`.
async fn rows_alive_after(
    db: &mut dyn Sql,
    table: &str,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
) -> Result<Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {}, first_seen_at, deleted_at FROM {table} WHERE org_id = {} AND cluster_id = {} \
         AND (deleted_at IS NULL OR deleted_at > {})",
        d.text("data"),
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let mut args = ids(org, cluster);
    args.push(Value::Time(time(hour_start)));
    let rows = db
        .fetch(&sql, args, &[Ty::Text, Ty::Time, Ty::OptTime])
        .await?;
    rows.into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            Ok((c.text()?, c.time()?, c.opt_time()?))
        })
        .collect()
}

/// Everything the engine needs for one hour of one cluster: pods that ran in it (ended ones
/// included), nodes, bound claims, namespaces and the hour's usage.
pub(crate) async fn hour_input(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
) -> Result<HourInput, StoreError> {
    require_cluster(db, org, cluster).await?;
    let hour = Interval::hour(hour_start);
    let d = db.dialect();
    // created_at bounds the partitions PostgreSQL scans; start_time is when the kubelet
    // accepted the pod (a pod never started costs nothing); finished pods stop at the update
    // that recorded their end.
    let sql = format!(
        "SELECT {}, updated_at, deleted_at FROM k8s_pods WHERE org_id = {} AND cluster_id = {} \
         AND created_at < {p4} AND start_time IS NOT NULL AND start_time < {p4} \
         AND (deleted_at IS NULL OR deleted_at > {p3}) \
         AND NOT (phase IN ('Succeeded', 'Failed') AND updated_at <= {p3})",
        d.text("data"),
        d.ph(1),
        d.ph(2),
        p3 = d.ph(3),
        p4 = d.ph(4),
    );
    let mut args = ids(org, cluster);
    args.push(Value::Time(time(hour.start)));
    args.push(Value::Time(time(hour.end)));
    let rows = db
        .fetch(&sql, args, &[Ty::Text, Ty::Time, Ty::OptTime])
        .await?;
    let mut pods = Vec::with_capacity(rows.len());
    for row in rows {
        let mut c = Cells::new(row);
        let pod: PodProjection = serde_json::from_str(&c.text()?).map_err(decode)?;
        let updated_at = c.time()?;
        let deleted_at = c.opt_time()?;
        let Some(start) = pod.start_time else {
            continue;
        };
        let finished = matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed);
        let end = [
            pod.deleted,
            deleted_at.map(millis),
            finished.then(|| millis(updated_at)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(hour.end);
        let running = Interval::new(start, end);
        if running.overlap_millis(&hour) > 0 {
            pods.push(PodHour::from_projection(&pod, vec![running]));
        }
    }

    let mut nodes = Vec::new();
    for (json, first_seen, deleted) in
        rows_alive_after(db, "k8s_nodes", org, cluster, hour.start).await?
    {
        let node: NodeProjection = serde_json::from_str(&json).map_err(decode)?;
        let start = node.created.unwrap_or(millis(first_seen));
        let present = Interval::new(start, end_or(hour.end, deleted));
        if present.overlap_millis(&hour) > 0 {
            nodes.push(NodeHour::from_projection(&node, vec![present]));
        }
    }

    let mut volumes = Vec::new();
    for (json, first_seen, deleted) in
        rows_alive_after(db, "k8s_pvcs", org, cluster, hour.start).await?
    {
        let claim: PvcProjection = serde_json::from_str(&json).map_err(decode)?;
        if claim.phase != PvcPhase::Bound {
            continue;
        }
        let start = claim.created.unwrap_or(millis(first_seen));
        let bound = Interval::new(start, end_or(hour.end, deleted));
        if bound.overlap_millis(&hour) > 0 {
            volumes.push(VolumeHour::from_projection(&claim, vec![bound]));
        }
    }

    let mut namespaces = Vec::new();
    for (json, first_seen, _) in
        rows_alive_after(db, "k8s_namespaces", org, cluster, hour.start).await?
    {
        let namespace: NamespaceProjection = serde_json::from_str(&json).map_err(decode)?;
        if namespace.created.unwrap_or(millis(first_seen)) < hour.end {
            namespaces.push(namespace);
        }
    }

    let usage = queries::usage(db, org, cluster, time(hour.start)).await?;
    Ok(HourInput {
        cluster,
        hour_start: hour.start,
        pods,
        nodes,
        volumes,
        namespaces,
        usage,
    })
}

/// The columns of a cost row, in insert order, with how each is bound.
const COLUMNS: [(&str, Cast); 29] = [
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
];

/// A stored quantity: `exact / unit`, floored, saturating (far beyond any real row).
fn stored(exact: u128, unit: u128) -> Value {
    Value::I64(i64::try_from(exact / unit).unwrap_or(i64::MAX))
}

fn nanos(amount: NanoDollars) -> Value {
    Value::I64(i64::try_from(amount.0).unwrap_or(i64::MAX))
}

fn resource_values(r: &ResourceAllocation, unit: u128) -> [Value; 5] {
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
    values.push(Value::OptI64(
        cost.network
            .map(|n| i64::try_from(n.egress_bytes).unwrap_or(i64::MAX)),
    ));
    values.extend([
        nanos(cost.cpu.cost),
        nanos(cost.memory.cost),
        nanos(cost.storage.cost),
        nanos(cost.network.map_or(NanoDollars::ZERO, |n| n.cost)),
        nanos(cost.total),
        Value::Bool(cost.flags.usage_unknown),
        Value::Bool(cost.flags.idle_clamped),
        Value::Time(computed_at),
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

/// Saves one hour's allocations, replacing that hour, and moves the cluster's marks: hours
/// computed up to at least this hour's end, and its day due for (re-)rollup.
pub(crate) async fn save_hour(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
    rows: &[Allocation],
    computed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
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
}

/// Saves the allocations of an hour not due yet (cost so far), replacing that hour, without
/// moving the cluster's marks: the hour is computed for good when it is due.
pub(crate) async fn save_hour_so_far(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
    rows: &[Allocation],
    computed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
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
}

/// Saves one day's rollup rows, replacing that day, and marks the day rolled up.
pub(crate) async fn save_day(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    day_start: UnixMillis,
    rows: &[Allocation],
    computed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
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
}

fn quantity(c: &mut Cells, unit: u128) -> Result<u128, sqlx::Error> {
    Ok(u128::try_from(c.i64()?).unwrap_or(0) * unit)
}

fn resource(c: &mut Cells, unit: u128, cost: i64) -> Result<ResourceAllocation, sqlx::Error> {
    Ok(ResourceAllocation {
        requested: quantity(c, unit)?,
        used: quantity(c, unit)?,
        billed: quantity(c, unit)?,
        measured_requested: quantity(c, unit)?,
        measured_used: quantity(c, unit)?,
        cost: NanoDollars(u64::try_from(cost).unwrap_or(0)),
    })
}

fn amount(value: i64) -> NanoDollars {
    NanoDollars(u64::try_from(value).unwrap_or(0))
}

/// Cost rows of the organization matching `filter`, ordered by cluster, start, namespace.
/// Quantities come back in the engine's units (to the stored precision); costs exactly.
pub(crate) async fn rows(
    db: &mut dyn Sql,
    org: OrgId,
    filter: &CostRowFilter,
) -> Result<Vec<Allocation>, StoreError> {
    let d = db.dialect();
    // Costs first so that each resource's cost is at hand when its quantities are read.
    let mut sql = format!(
        "SELECT {}, period_start, namespace, team, cost_center, {}, \
         cpu_cost_nanos, memory_cost_nanos, storage_cost_nanos, network_cost_nanos, \
         total_cost_nanos, usage_unknown, idle_clamped, {} \
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
    );
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
    let mut types = vec![Ty::Text, Ty::Time, Ty::Text, Ty::Text, Ty::Text, Ty::Text];
    types.extend([Ty::I64; 5]);
    types.extend([Ty::Bool; 2]);
    types.extend([Ty::I64; 11]);
    types.push(Ty::OptI64);
    let length = match filter.period {
        CostPeriod::Hour => MILLIS_PER_HOUR,
        CostPeriod::Day => MILLIS_PER_DAY,
    };
    let rows = db.fetch(&sql, args, &types).await?;
    rows.into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
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
            let cpu = resource(&mut c, MS_PER_SECOND, cpu_cost)?;
            let memory = resource(&mut c, MS_PER_HOUR, memory_cost)?;
            let storage = StorageAllocation {
                byte_millis: quantity(&mut c, MS_PER_HOUR)?,
                cost: amount(storage_cost),
            };
            let network = c.opt_i64()?.map(|bytes| NetworkAllocation {
                egress_bytes: u64::try_from(bytes).unwrap_or(0),
                cost: amount(network_cost),
            });
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
                    total: amount(total),
                    flags,
                },
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::Query)
}

/// Every enabled cluster of every organization with its cost progress, oldest first.
pub(crate) async fn clusters(db: &mut dyn Sql) -> Result<Vec<CostCluster>, StoreError> {
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
}

fn scope_parts(scope: &PriceScope) -> (&'static str, String) {
    match scope {
        PriceScope::Organization => ("organization", String::new()),
        PriceScope::Cluster(id) => ("cluster", id.to_string()),
        PriceScope::InstanceType(name) => ("instance_type", name.clone()),
    }
}

fn price(value: Option<NanoDollars>) -> Value {
    Value::OptI64(value.map(|p| i64::try_from(p.0).unwrap_or(i64::MAX)))
}

/// Sets (replaces) the price override of one scope; an override with no price removes it.
pub(crate) async fn set_price_override(
    db: &mut dyn Sql,
    org: OrgId,
    scope: &PriceScope,
    prices: &PriceOverride,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let PriceScope::Cluster(cluster) = scope {
        require_cluster(db, org, *cluster).await?;
    }
    let (scope, key) = scope_parts(scope);
    let d = db.dialect();
    if *prices == PriceOverride::default() {
        let sql = format!(
            "DELETE FROM cost_price_overrides WHERE org_id = {} AND scope = {} AND scope_key = {}",
            d.ph(1),
            d.ph(2),
            d.ph(3)
        );
        let args = vec![
            Value::Id(*org.as_uuid()),
            Value::Text(scope.to_owned()),
            Value::Text(key),
        ];
        db.execute(&sql, args).await?;
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO cost_price_overrides (org_id, scope, scope_key, cpu_core_hour_nanos, \
         memory_gib_hour_nanos, storage_gib_hour_nanos, network_egress_gib_nanos, updated_at) \
         VALUES {} ON CONFLICT (org_id, scope, scope_key) DO UPDATE SET \
         cpu_core_hour_nanos = excluded.cpu_core_hour_nanos, \
         memory_gib_hour_nanos = excluded.memory_gib_hour_nanos, \
         storage_gib_hour_nanos = excluded.storage_gib_hour_nanos, \
         network_egress_gib_nanos = excluded.network_egress_gib_nanos, \
         updated_at = excluded.updated_at",
        values_rows(d, 1, &[Cast::None; 8])
    );
    let args = vec![
        Value::Id(*org.as_uuid()),
        Value::Text(scope.to_owned()),
        Value::Text(key),
        price(prices.cpu_core_hour),
        price(prices.memory_gib_hour),
        price(prices.storage_gib_hour),
        price(prices.network_egress_gib),
        Value::Time(now),
    ];
    db.execute(&sql, args).await?;
    Ok(())
}

/// The organization's prices: seed defaults under its overrides.
pub(crate) async fn price_book(db: &mut dyn Sql, org: OrgId) -> Result<PriceBook, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT scope, scope_key, cpu_core_hour_nanos, memory_gib_hour_nanos, \
         storage_gib_hour_nanos, network_egress_gib_nanos FROM cost_price_overrides \
         WHERE org_id = {}",
        d.ph(1)
    );
    let rows = db
        .fetch(
            &sql,
            vec![Value::Id(*org.as_uuid())],
            &[
                Ty::Text,
                Ty::Text,
                Ty::OptI64,
                Ty::OptI64,
                Ty::OptI64,
                Ty::OptI64,
            ],
        )
        .await?;
    let mut book = PriceBook::default();
    for row in rows {
        let mut c = Cells::new(row);
        let scope = c.text()?;
        let key = c.text()?;
        let mut next =
            || -> Result<Option<NanoDollars>, sqlx::Error> { Ok(c.opt_i64()?.map(amount)) };
        let layer = PriceOverride {
            cpu_core_hour: next()?,
            memory_gib_hour: next()?,
            storage_gib_hour: next()?,
            network_egress_gib: next()?,
        };
        match scope.as_str() {
            "organization" => book.organization = layer,
            "cluster" => {
                let id = uuid::Uuid::parse_str(&key)
                    .map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e))))?;
                book.clusters.insert(ClusterId::from_uuid(id), layer);
            }
            _ => {
                book.instance_types.insert(key, layer);
            }
        }
    }
    Ok(book)
}
