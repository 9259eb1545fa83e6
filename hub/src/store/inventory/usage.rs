//! Usage reads: one hour's buckets per container (the cost engine's input) and hourly
//! series of a cluster, a namespace or a pod (the API's charts).

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::time::UnixMillis;
use tracing::instrument;

use crate::store::sql::{Cells, Sql, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

/// Usage of one hour, summed over the selected containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageHour {
    /// Start of the hour.
    pub hour_start: DateTime<Utc>,
    /// CPU used, millicore-seconds.
    pub cpu_millicore_seconds: u64,
    /// Memory used, byte-seconds.
    pub memory_byte_seconds: u64,
    /// Largest memory sample of any one container.
    pub memory_max_bytes: u64,
}

/// Usage per hour in `[from, to)` of a cluster, or of one of its namespaces, or of one pod
/// of that namespace (`pod` is only read with `namespace`).
async fn usage_series(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    namespace: Option<&str>,
    pod: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageHour>, StoreError> {
    let d = db.dialect();
    let mut args = vec![
        Value::Id(*org.as_uuid()),
        Value::Id(*cluster.as_uuid()),
        Value::Time(from),
        Value::Time(to),
    ];
    let mut sql = format!(
        "SELECT hour_start, CAST(sum(cpu_millicore_seconds) AS BIGINT), \
         CAST(sum(memory_byte_seconds) AS BIGINT), max(memory_max_bytes) \
         FROM k8s_resource_metrics WHERE org_id = {} AND cluster_id = {} \
         AND hour_start >= {} AND hour_start < {}",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4)
    );
    if let Some(namespace) = namespace {
        args.push(Value::Text(namespace.to_owned()));
        sql.push_str(&format!(" AND namespace = {}", d.ph(5)));
        if let Some(pod) = pod {
            args.push(Value::Text(pod.to_owned()));
            sql.push_str(&format!(" AND pod = {}", d.ph(6)));
        }
    }
    sql.push_str(" GROUP BY hour_start ORDER BY hour_start");
    db.fetch(&sql, args, &[Ty::Time, Ty::I64, Ty::I64, Ty::I64])
        .await?
        .into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            Ok(UsageHour {
                hour_start: c.time()?,
                cpu_millicore_seconds: c.i64()?.max(0) as u64,
                memory_byte_seconds: c.i64()?.max(0) as u64,
                memory_max_bytes: c.i64()?.max(0) as u64,
            })
        })
        .collect()
}

/// Usage of one hour, summed per container over every delivering message.
pub(crate) async fn usage(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hour_start: DateTime<Utc>,
) -> Result<Vec<UsageBucket>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT namespace, pod, container, CAST(sum(cpu_millicore_seconds) AS BIGINT), \
         CAST(sum(memory_byte_seconds) AS BIGINT), max(memory_max_bytes), \
         CAST(sum(samples) AS BIGINT), CAST(sum(covered_millis) AS BIGINT) \
         FROM k8s_resource_metrics WHERE org_id = {} AND cluster_id = {} AND hour_start = {} \
         GROUP BY namespace, pod, container ORDER BY namespace, pod, container",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let rows = db
        .fetch(
            &sql,
            vec![
                Value::Id(*org.as_uuid()),
                Value::Id(*cluster.as_uuid()),
                Value::Time(hour_start),
            ],
            &[
                Ty::Text,
                Ty::Text,
                Ty::Text,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
            ],
        )
        .await?;
    let hour = UnixMillis(hour_start.timestamp_millis());
    rows.into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            let clamp_u32 = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
            Ok(UsageBucket {
                namespace: c.text()?,
                pod: c.text()?,
                container: c.text()?,
                hour_start: hour,
                cpu_millicore_seconds: c.i64()?.max(0) as u64,
                memory_byte_seconds: c.i64()?.max(0) as u64,
                memory_max_bytes: c.i64()?.max(0) as u64,
                samples: clamp_u32(c.i64()?),
                covered_millis: clamp_u32(c.i64()?),
            })
        })
        .collect()
}

impl Store {
    /// Usage per hour of a cluster or one of its namespaces.
    #[instrument(skip_all)]
    pub async fn usage_series(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageHour>, StoreError> {
        on_conn!(self, |db| usage_series(
            db, org, cluster, namespace, None, from, to
        ))
    }

    /// Usage per hour of one pod (all its containers), for the pod page.
    #[instrument(skip_all)]
    pub async fn pod_usage_series(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: &str,
        pod: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageHour>, StoreError> {
        on_conn!(self, |db| usage_series(
            db,
            org,
            cluster,
            Some(namespace),
            Some(pod),
            from,
            to
        ))
    }

    /// Usage of a cluster for one hour, summed per container over every delivering message.
    #[instrument(skip_all)]
    pub async fn usage(
        &self,
        org: OrgId,
        cluster: ClusterId,
        hour_start: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        on_conn!(self, |db| usage(db, org, cluster, hour_start))
    }
}
