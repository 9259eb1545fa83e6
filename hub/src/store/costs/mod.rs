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

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{
    NamespaceProjection, NodeProjection, OwnerKind, PodOwner, PodPhase, PodProjection, PvcPhase,
    PvcProjection,
};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use std::collections::HashMap;

mod allocations;
mod pages;
mod pod_requests;

pub use pages::{CostRowKey, CostRowsPage};
mod prices;
mod rightsizing;
mod workload_costs;
mod workload_totals;
mod workload_usage;

pub use rightsizing::{
    RightsizingNamespace, RightsizingScope, RightsizingVisit, WorkloadContainerUsage,
};
pub use workload_totals::WorkloadTotals;
pub use workload_usage::{WorkloadContainerKey, WorkloadUsageDay};

use tracing::instrument;

use super::inventory::usage;
use super::schema::time;
use super::sql::{Cells, Sql, Ty, Value};
use super::{Store, StoreError, on_conn};
use crate::cost::{HourInput, Interval, NodeHour, PodHour, VolumeHour};

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

pub(super) fn millis(t: DateTime<Utc>) -> UnixMillis {
    UnixMillis(t.timestamp_millis())
}

pub(super) fn decode(error: serde_json::Error) -> StoreError {
    StoreError::Query(sqlx::Error::Decode(Box::new(error)))
}

pub(super) async fn require_cluster(
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

pub(super) fn ids(org: OrgId, cluster: ClusterId) -> Vec<Value> {
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

/// Moves the pods of Jobs a CronJob created under that CronJob, their workload for cost by
/// workload (the pod names only its Job). Jobs the hub saw deleted count too: a CronJob's
/// finished Jobs are pruned by its history limit, and an hour computed later still belongs
/// to the CronJob.
async fn resolve_cron_jobs(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    pods: &mut [PodHour],
) -> Result<(), StoreError> {
    let is_job = |pod: &PodHour| pod.owner.as_ref().is_some_and(|o| o.kind == OwnerKind::Job);
    if !pods.iter().any(is_job) {
        return Ok(());
    }
    let d = db.dialect();
    let sql = format!(
        "SELECT namespace, name, owner_name FROM k8s_jobs WHERE org_id = {} AND cluster_id = {} \
         AND owner_kind = 'CronJob' AND owner_name IS NOT NULL",
        d.ph(1),
        d.ph(2)
    );
    let rows = db
        .fetch(&sql, ids(org, cluster), &[Ty::Text, Ty::Text, Ty::Text])
        .await?;
    let mut cron_jobs: HashMap<(String, String), String> = HashMap::with_capacity(rows.len());
    for row in rows {
        let mut c = Cells::new(row);
        cron_jobs.insert((c.text()?, c.text()?), c.text()?);
    }
    for pod in pods.iter_mut().filter(|pod| is_job(pod)) {
        let Some(owner) = pod.owner.as_mut() else {
            continue;
        };
        if let Some(cron_job) = cron_jobs.get(&(pod.namespace.clone(), owner.name.clone())) {
            *owner = PodOwner {
                kind: OwnerKind::CronJob,
                name: cron_job.clone(),
            };
        }
    }
    Ok(())
}

impl Store {
    /// One cluster-hour of engine input: pods that ran in `[hour_start, +1h)` with their
    /// running intervals (ended pods included), nodes, bound claims, namespaces (labels as the
    /// hub holds them) and the hour's usage. [`StoreError::ClusterNotFound`] outside `org`.
    #[instrument(skip_all)]
    pub async fn cost_hour_input(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: UnixMillis,
    ) -> Result<HourInput, StoreError> {
        on_conn!(self, |db| async {
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

            resolve_cron_jobs(db, org, cluster, &mut pods).await?;

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

            let usage = usage(db, org, cluster, time(hour.start)).await?;
            Ok(HourInput {
                cluster,
                hour_start: hour.start,
                pods,
                nodes,
                volumes,
                namespaces,
                usage,
            })
        })
    }
}
