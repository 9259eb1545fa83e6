//! The daily usage rollup per workload container (`k8s_workload_usage`, migration 0026): what
//! right-sizing and efficiency by workload read instead of every pod's every hour.
//!
//! The invariant: a row of (cluster, day, namespace, workload, container) folds exactly the
//! pod-hours of the day's hours whose bit is set in the cluster-day's `hours_mask`
//! (`k8s_workload_usage_days`), each hour once. Folding an hour not yet folded adds it to the
//! rows; folding one already folded (a recomputed hour, late usage) rebuilds the day's rows
//! from the raw usage of every folded hour, so any fold is idempotent. The cost run folds each
//! hour it completes, in the transaction that saves the hour, and folds every unfolded hour of
//! its lookback (a first-run backfill of the usage held before the rollup existed).
//!
//! A pod's workload is its controlling owner as stored on the pod (a ReplicaSet's pods under
//! their Deployment, as the agent resolves it), or the pod itself; usage of a pod the hub no
//! longer holds is left out. Requested quantities are the pod's requests over the covered
//! time of each of its hours.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use tracing::instrument;

use super::ids;
use super::pod_requests::PodRequests;
use crate::cost::{CpuHistogram, average_millicores};
use crate::store::leases;
use crate::store::schema::time;
use crate::store::sql::{Cast, Cells, Dialect, Sql, Ty, Value, run_rows, values_rows};
use crate::store::{Store, StoreError, in_tx, on_conn};

const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;

/// A workload container of a namespace: (namespace, kind, name, container).
pub type WorkloadContainerKey = (String, String, String, String);

/// One workload container's usage over one day (or, merged, over several).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadUsageDay {
    /// Hours with usage of the container (an hour counts once however many replicas ran).
    pub hours: u64,
    /// Pod-hours of usage: the samples of the CPU histogram.
    pub pod_hours: u64,
    /// Most pods with usage in one hour.
    pub replicas_max: u64,
    /// CPU requested over the covered time, millicore-seconds, of the pod-hours with a CPU
    /// request (what efficiency compares; a container without a request is not efficient).
    pub cpu_requested_mcs: u64,
    /// CPU used in those pod-hours, millicore-seconds.
    pub cpu_used_mcs: u64,
    /// The unused CPU request, `max(0, requested − used)` per pod-hour, millicore-seconds:
    /// usage over the request in one hour does not offset waste in another.
    pub cpu_unused_mcs: u64,
    /// Memory requested over the covered time, byte-hours, of the pod-hours with a memory
    /// request.
    pub memory_requested_bh: u64,
    /// Memory used in those pod-hours, byte-hours.
    pub memory_used_bh: u64,
    /// The unused memory request per pod-hour summed, byte-hours.
    pub memory_unused_bh: u64,
    /// Largest hourly memory maximum, bytes.
    pub memory_peak_bytes: u64,
    /// Each pod-hour's average millicores.
    pub cpu: CpuHistogram,
}

impl WorkloadUsageDay {
    /// Adds `other` (another day, or the same day's other hours).
    pub fn merge(&mut self, other: &Self) {
        self.hours += other.hours;
        self.pod_hours += other.pod_hours;
        self.replicas_max = self.replicas_max.max(other.replicas_max);
        for (mine, theirs) in [
            (&mut self.cpu_requested_mcs, other.cpu_requested_mcs),
            (&mut self.cpu_used_mcs, other.cpu_used_mcs),
            (&mut self.cpu_unused_mcs, other.cpu_unused_mcs),
            (&mut self.memory_requested_bh, other.memory_requested_bh),
            (&mut self.memory_used_bh, other.memory_used_bh),
            (&mut self.memory_unused_bh, other.memory_unused_bh),
        ] {
            *mine = mine.saturating_add(theirs);
        }
        self.memory_peak_bytes = self.memory_peak_bytes.max(other.memory_peak_bytes);
        self.cpu.merge(&other.cpu);
    }
}

/// The columns of a rollup row after its key, in table order.
pub(super) const VALUE_COLUMNS: [&str; 11] = [
    "hours",
    "pod_hours",
    "replicas_max",
    "cpu_requested_mcs",
    "cpu_used_mcs",
    "cpu_unused_mcs",
    "memory_requested_bh",
    "memory_used_bh",
    "memory_unused_bh",
    "memory_peak_bytes",
    "cpu_histogram",
];

/// Their types, to fetch them.
pub(super) const VALUE_TYPES: [Ty; 11] = [
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::Text,
];

/// [`VALUE_COLUMNS`] of the rows of a group merged as [`WorkloadUsageDay::merge`] merges
/// days: counts and quantities summed, the replica and memory maxima taken, the histograms'
/// encodings joined by spaces (which [`CpuHistogram::decode`] reads as their sum). Read back
/// by [`read_values`].
pub(super) fn merged_values(d: Dialect) -> String {
    VALUE_COLUMNS
        .iter()
        .map(|column| match *column {
            "replicas_max" | "memory_peak_bytes" => format!("max({column})"),
            "cpu_histogram" => d.space_joined(column),
            _ => format!("CAST(sum({column}) AS BIGINT)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn count(c: &mut Cells) -> Result<u64, sqlx::Error> {
    Ok(c.i64()?.max(0) as u64)
}

/// Reads a row's [`VALUE_COLUMNS`].
pub(super) fn read_values(c: &mut Cells) -> Result<WorkloadUsageDay, StoreError> {
    Ok(WorkloadUsageDay {
        hours: count(c)?,
        pod_hours: count(c)?,
        replicas_max: count(c)?,
        cpu_requested_mcs: count(c)?,
        cpu_used_mcs: count(c)?,
        cpu_unused_mcs: count(c)?,
        memory_requested_bh: count(c)?,
        memory_used_bh: count(c)?,
        memory_unused_bh: count(c)?,
        memory_peak_bytes: count(c)?,
        cpu: CpuHistogram::decode(&c.text()?)
            .map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e))))?,
    })
}

fn int(v: u64) -> Value {
    Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
}

/// What a pod contributes: its workload and each container's requests.
struct PodInfo {
    workload: (String, String),
    /// (container, CPU millicores, memory bytes).
    requests: Vec<(String, u64, u64)>,
}

/// The pods of `cluster` that may have usage at or after `from`: live ones and those deleted
/// since, by (namespace, name); a name held by a deleted and a live pod is the live one's.
async fn pods(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    from: DateTime<Utc>,
) -> Result<HashMap<(String, String), PodInfo>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT namespace, name, owner_kind, owner_name, {} FROM k8s_pods \
         WHERE org_id = {} AND cluster_id = {} AND (deleted_at IS NULL OR deleted_at >= {}) \
         ORDER BY CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END",
        d.text("data"),
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let mut args = ids(org, cluster);
    args.push(Value::Time(from));
    let rows = db
        .fetch(
            &sql,
            args,
            &[Ty::Text, Ty::Text, Ty::OptText, Ty::OptText, Ty::Text],
        )
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let mut c = Cells::new(row);
        let namespace = c.text()?;
        let name = c.text()?;
        let workload = match (c.opt_text()?, c.opt_text()?) {
            (Some(kind), Some(owner)) => (kind, owner),
            _ => ("Pod".to_owned(), name.clone()),
        };
        let data = c.text()?;
        let requests = PodRequests::parse(&data)?
            .running()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.cpu_millis().unwrap_or(0),
                    c.memory_bytes().unwrap_or(0),
                )
            })
            .collect();
        out.insert((namespace, name), PodInfo { workload, requests });
    }
    Ok(out)
}

/// The rollup of the raw usage of `hours` (hour starts) of `cluster`, per workload container.
async fn from_raw(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hours: &[i64],
) -> Result<BTreeMap<WorkloadContainerKey, WorkloadUsageDay>, StoreError> {
    let mut out: BTreeMap<WorkloadContainerKey, WorkloadUsageDay> = BTreeMap::new();
    let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
        return Ok(out);
    };
    let owners = pods(db, org, cluster, time(UnixMillis(*first))).await?;
    let d = db.dialect();
    // Several rows of one container and hour (a restarted collector's second bucket) sum.
    let sql = format!(
        "SELECT namespace, pod, container, hour_start, CAST(sum(cpu_millicore_seconds) AS BIGINT), \
         CAST(sum(memory_byte_seconds) AS BIGINT), max(memory_max_bytes), \
         CAST(sum(covered_millis) AS BIGINT) \
         FROM k8s_resource_metrics WHERE org_id = {} AND cluster_id = {} \
         AND hour_start >= {} AND hour_start <= {} \
         GROUP BY namespace, pod, container, hour_start",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4)
    );
    let mut args = ids(org, cluster);
    args.extend([
        Value::Time(time(UnixMillis(*first))),
        Value::Time(time(UnixMillis(*last))),
    ]);
    let rows = db
        .fetch(
            &sql,
            args,
            &[
                Ty::Text,
                Ty::Text,
                Ty::Text,
                Ty::Time,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
            ],
        )
        .await?;
    // Pods per workload container and hour: the hours and the replicas of each.
    let mut per_hour: HashMap<(WorkloadContainerKey, i64), u64> = HashMap::new();
    let mut lookup = (String::new(), String::new());
    for row in rows {
        let mut c = Cells::new(row);
        lookup.0 = c.text()?;
        lookup.1 = c.text()?;
        let container = c.text()?;
        let hour = c.time()?.timestamp_millis();
        if hours.binary_search(&hour).is_err() {
            continue;
        }
        let Some(pod) = owners.get(&lookup) else {
            continue;
        };
        let cpu_mcs = count(&mut c)?;
        let memory_bs = count(&mut c)?;
        let memory_max = count(&mut c)?;
        let covered = u32::try_from(count(&mut c)?).unwrap_or(u32::MAX);
        if covered == 0 {
            continue;
        }
        let (cpu_request, memory_request) = pod
            .requests
            .iter()
            .find(|(name, _, _)| *name == container)
            .map_or((0, 0), |(_, cpu, memory)| (*cpu, *memory));
        let key = (
            lookup.0.clone(),
            pod.workload.0.clone(),
            pod.workload.1.clone(),
            container,
        );
        let entry = out.entry(key.clone()).or_default();
        entry.pod_hours += 1;
        entry.memory_peak_bytes = entry.memory_peak_bytes.max(memory_max);
        entry.cpu.add(average_millicores(cpu_mcs, covered));
        let covered = u64::from(covered);
        if cpu_request > 0 {
            // Millicores × covered seconds.
            let requested = cpu_request.saturating_mul(covered) / 1000;
            entry.cpu_requested_mcs = entry.cpu_requested_mcs.saturating_add(requested);
            entry.cpu_used_mcs = entry.cpu_used_mcs.saturating_add(cpu_mcs);
            entry.cpu_unused_mcs = entry
                .cpu_unused_mcs
                .saturating_add(requested.saturating_sub(cpu_mcs));
        }
        if memory_request > 0 {
            // Bytes × covered hours; usage from byte-seconds.
            let requested = u128::from(memory_request) * u128::from(covered) / 3_600_000;
            let requested = u64::try_from(requested).unwrap_or(u64::MAX);
            let used = memory_bs / 3600;
            entry.memory_requested_bh = entry.memory_requested_bh.saturating_add(requested);
            entry.memory_used_bh = entry.memory_used_bh.saturating_add(used);
            entry.memory_unused_bh = entry
                .memory_unused_bh
                .saturating_add(requested.saturating_sub(used));
        }
        *per_hour.entry((key, hour)).or_default() += 1;
    }
    for ((key, _), pods) in per_hour {
        if let Some(entry) = out.get_mut(&key) {
            entry.hours += 1;
            entry.replicas_max = entry.replicas_max.max(pods);
        }
    }
    Ok(out)
}

/// The folded-hours mask of a cluster-day (0 when none is folded).
async fn mask(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    day: i64,
) -> Result<u64, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT hours_mask FROM k8s_workload_usage_days \
         WHERE org_id = {} AND cluster_id = {} AND day = {}",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let mut args = ids(org, cluster);
    args.push(Value::Time(time(UnixMillis(day))));
    let rows = db.fetch(&sql, args, &[Ty::I64]).await?;
    match rows.into_iter().next() {
        Some(row) => Ok(count(&mut Cells::new(row))?),
        None => Ok(0),
    }
}

/// The stored rows of a cluster-day of the workload containers in `of`, each merged with
/// what `of` holds for it (the rows of the others are left as they are).
async fn add_to_day_rows(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    day: i64,
    mut of: BTreeMap<WorkloadContainerKey, WorkloadUsageDay>,
) -> Result<BTreeMap<WorkloadContainerKey, WorkloadUsageDay>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT namespace, workload_kind, workload_name, container, {} FROM k8s_workload_usage \
         WHERE org_id = {} AND cluster_id = {} AND day = {}",
        VALUE_COLUMNS.join(", "),
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let mut args = ids(org, cluster);
    args.push(Value::Time(time(UnixMillis(day))));
    let mut types = vec![Ty::Text; 4];
    types.extend(VALUE_TYPES);
    for row in db.fetch(&sql, args, &types).await? {
        let mut c = Cells::new(row);
        let key = (c.text()?, c.text()?, c.text()?, c.text()?);
        if let Some(usage) = of.get_mut(&key) {
            usage.merge(&read_values(&mut c)?);
        }
    }
    Ok(of)
}

/// Writes `rows` of a cluster-day, replacing the stored ones of the same keys.
async fn write_rows(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    day: i64,
    rows: &BTreeMap<WorkloadContainerKey, WorkloadUsageDay>,
) -> Result<(), StoreError> {
    const KEY: [&str; 7] = [
        "cluster_id",
        "org_id",
        "namespace",
        "day",
        "workload_kind",
        "workload_name",
        "container",
    ];
    let columns: Vec<&str> = KEY.iter().chain(VALUE_COLUMNS.iter()).copied().collect();
    let updates: Vec<String> = VALUE_COLUMNS
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let d = db.dialect();
    let values = rows
        .iter()
        .map(|((namespace, kind, name, container), u)| {
            vec![
                Value::Id(*cluster.as_uuid()),
                Value::Id(*org.as_uuid()),
                Value::Text(namespace.clone()),
                Value::Time(time(UnixMillis(day))),
                Value::Text(kind.clone()),
                Value::Text(name.clone()),
                Value::Text(container.clone()),
                int(u.hours),
                int(u.pod_hours),
                int(u.replicas_max),
                int(u.cpu_requested_mcs),
                int(u.cpu_used_mcs),
                int(u.cpu_unused_mcs),
                int(u.memory_requested_bh),
                int(u.memory_used_bh),
                int(u.memory_unused_bh),
                int(u.memory_peak_bytes),
                Value::Text(u.cpu.encode()),
            ]
        })
        .collect();
    let casts = vec![Cast::None; columns.len()];
    run_rows(db, columns.len(), values, |n| {
        format!(
            "INSERT INTO k8s_workload_usage ({}) VALUES {} ON CONFLICT \
             (cluster_id, namespace, day, workload_kind, workload_name, container) \
             DO UPDATE SET {}",
            columns.join(", "),
            values_rows(d, n, &casts),
            updates.join(", ")
        )
    })
    .await
}

/// The UTC day of an hour start and the hour's bit in the day's `hours_mask`.
fn day_and_bit(hour: i64) -> (i64, u64) {
    let day = hour.div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY;
    (day, 1u64 << ((hour - day) / MILLIS_PER_HOUR))
}

/// Folds `hour_start` of `cluster` into its day's rollup (see the module's invariant).
pub(super) async fn fold_hour(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
) -> Result<(), StoreError> {
    let hour = hour_start.0.div_euclid(MILLIS_PER_HOUR) * MILLIS_PER_HOUR;
    let (day, bit) = day_and_bit(hour);
    let folded = mask(db, org, cluster, day).await?;
    let rows = if folded & bit == 0 {
        // A new hour: added to the day's rows of the containers with usage in it; the rows
        // of the others stay as they are.
        let hour_rows = from_raw(db, org, cluster, &[hour]).await?;
        add_to_day_rows(db, org, cluster, day, hour_rows).await?
    } else {
        // An hour folded before: the day again from the raw usage of its folded hours.
        let d = db.dialect();
        let sql = format!(
            "DELETE FROM k8s_workload_usage WHERE org_id = {} AND cluster_id = {} AND day = {}",
            d.ph(1),
            d.ph(2),
            d.ph(3)
        );
        let mut args = ids(org, cluster);
        args.push(Value::Time(time(UnixMillis(day))));
        db.execute(&sql, args).await?;
        let hours: Vec<i64> = (0..24)
            .filter(|h| folded & (1 << h) != 0)
            .map(|h| day + h * MILLIS_PER_HOUR)
            .collect();
        from_raw(db, org, cluster, &hours).await?
    };
    write_rows(db, org, cluster, day, &rows).await?;
    let d = db.dialect();
    let sql = format!(
        "INSERT INTO k8s_workload_usage_days (org_id, cluster_id, day, hours_mask, updated_at) \
         VALUES ({}, {}, {}, {}, {}) ON CONFLICT (cluster_id, day) DO UPDATE SET \
         hours_mask = excluded.hours_mask, updated_at = excluded.updated_at",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4),
        d.ph(5)
    );
    let mut args = ids(org, cluster);
    args.extend([
        Value::Time(time(UnixMillis(day))),
        int(folded | bit),
        Value::Time(Utc::now()),
    ]);
    db.execute(&sql, args).await?;
    Ok(())
}

/// The hours in `[from, until)` of `cluster` not folded yet.
async fn unfolded(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    from: UnixMillis,
    until: UnixMillis,
) -> Result<Vec<UnixMillis>, StoreError> {
    let first_day = from.0.div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY;
    let d = db.dialect();
    let sql = format!(
        "SELECT day, hours_mask FROM k8s_workload_usage_days \
         WHERE org_id = {} AND cluster_id = {} AND day >= {} AND day < {}",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4)
    );
    let mut args = ids(org, cluster);
    args.extend([
        Value::Time(time(UnixMillis(first_day))),
        Value::Time(time(until)),
    ]);
    let mut masks = HashMap::new();
    for row in db.fetch(&sql, args, &[Ty::Time, Ty::I64]).await? {
        let mut c = Cells::new(row);
        let day = c.time()?.timestamp_millis();
        masks.insert(day, count(&mut c)?);
    }
    let first_hour = from.0.div_euclid(MILLIS_PER_HOUR) * MILLIS_PER_HOUR;
    Ok((first_hour..until.0)
        .step_by(MILLIS_PER_HOUR as usize)
        .filter(|hour| {
            let (day, bit) = day_and_bit(*hour);
            masks.get(&day).is_none_or(|mask| mask & bit == 0)
        })
        .map(UnixMillis)
        .collect())
}

impl Store {
    /// Folds one complete hour of `cluster`'s usage into the daily workload rollup, each hour
    /// once: folding it again (after late usage, or a recomputed hour) rebuilds its day from
    /// the raw usage. Fenced like the cost saves.
    #[instrument(skip_all)]
    pub async fn fold_workload_usage(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            leases::check_own_fence(db, self).await?;
            fold_hour(db, org, cluster, hour_start).await
        })
    }

    /// Folds every hour of `[from, until)` of `cluster` not folded yet, one transaction per
    /// hour, and answers how many: the first-run backfill of usage held before the rollup,
    /// and what catches up hours a failed run left out.
    #[instrument(skip_all)]
    pub async fn fold_unfolded_workload_usage(
        &self,
        org: OrgId,
        cluster: ClusterId,
        from: UnixMillis,
        until: UnixMillis,
    ) -> Result<usize, StoreError> {
        let hours = on_conn!(self, |db| unfolded(db, org, cluster, from, until))?;
        for hour in &hours {
            self.fold_workload_usage(org, cluster, *hour).await?;
        }
        Ok(hours.len())
    }
}
