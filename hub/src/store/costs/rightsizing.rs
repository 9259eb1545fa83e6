//! What right-sizing reads: per live workload container, its usage over a window of whole
//! UTC days from the daily rollup (`workload_usage`), and the requests it runs with now.
//! Gathered one namespace at a time, so only the namespace at hand's rows are in memory.
//!
//! A pod belongs to its controlling owner as the agent resolved it (a ReplicaSet's pods to
//! their Deployment), so the replicas of a Deployment, StatefulSet or DaemonSet, and the pods of
//! earlier rollouts, are one workload; a pod without an owner is a workload of its own. The
//! rollup resolved each pod-hour's workload when it folded the hour. Only workloads with a
//! live pod are gathered: there is nothing to right-size in what no longer runs.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

use super::ids;
use super::pod_requests::PodRequests;
use super::workload_usage::{VALUE_TYPES, WorkloadUsageDay, merged_values, read_values};
use crate::store::sql::{Cells, Sql, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

/// Which containers right-sizing looks at: an organization's, optionally of one cluster and
/// one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RightsizingScope {
    /// Only this cluster.
    pub cluster: Option<ClusterId>,
    /// Only namespaces of this name.
    pub namespace: Option<String>,
}

/// A namespace with live pods: the unit [`Store::rightsizing_gather`] hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsizingNamespace {
    /// The cluster.
    pub cluster: ClusterId,
    /// Its name, for the answer.
    pub cluster_name: String,
    /// The namespace.
    pub namespace: String,
}

/// One container of one workload: its usage over the window and its requests now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadContainerUsage {
    /// The owner kind (`Deployment`, `StatefulSet`, …), or `Pod` for a pod without one.
    pub workload_kind: String,
    /// The owner's name, or the pod's.
    pub workload_name: String,
    /// The `pod-template-hash` of the newest live pod: the template whose requests are shown.
    pub pod_template: Option<String>,
    /// The container's name.
    pub container: String,
    /// Live pods of the workload running this container.
    pub replicas: u32,
    /// The newest live pod's CPU request for the container, in millicores.
    pub cpu_request_millis: Option<u64>,
    /// The newest live pod's memory request for the container, in bytes.
    pub memory_request_bytes: Option<u64>,
    /// The rollup's days in the window merged (every pod of the workload, live or not).
    pub usage: WorkloadUsageDay,
}

/// The workload a pod belongs to.
type WorkloadKey = (String, String);

fn workload_of(owner_kind: Option<String>, owner_name: Option<String>, pod: &str) -> WorkloadKey {
    match (owner_kind, owner_name) {
        (Some(kind), Some(name)) => (kind, name),
        _ => ("Pod".to_owned(), pod.to_owned()),
    }
}

/// What the live pods say about one workload container.
#[derive(Default)]
struct Current {
    replicas: u32,
    /// Creation time and name of the newest live pod seen so far.
    newest: Option<(i64, String)>,
    pod_template: Option<String>,
    cpu_request_millis: Option<u64>,
    memory_request_bytes: Option<u64>,
}

async fn namespaces(
    db: &mut dyn Sql,
    org: OrgId,
    scope: &RightsizingScope,
) -> Result<Vec<RightsizingNamespace>, StoreError> {
    let d = db.dialect();
    let mut args = vec![Value::Id(*org.as_uuid())];
    let mut sql = format!(
        "SELECT DISTINCT p.cluster_id, c.name, p.namespace FROM k8s_pods p \
         JOIN k8s_clusters c ON c.id = p.cluster_id \
         WHERE p.org_id = {} AND c.org_id = {} AND p.deleted_at IS NULL",
        d.ph(1),
        d.ph(1)
    );
    if let Some(cluster) = scope.cluster {
        args.push(Value::Id(*cluster.as_uuid()));
        sql.push_str(&format!(" AND p.cluster_id = {}", d.ph(args.len())));
    }
    if let Some(namespace) = &scope.namespace {
        args.push(Value::Text(namespace.clone()));
        sql.push_str(&format!(" AND p.namespace = {}", d.ph(args.len())));
    }
    sql.push_str(" ORDER BY c.name, p.cluster_id, p.namespace");
    db.fetch(&sql, args, &[Ty::Id, Ty::Text, Ty::Text])
        .await?
        .into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            Ok(RightsizingNamespace {
                cluster: ClusterId::from_uuid(c.uuid()?),
                cluster_name: c.text()?,
                namespace: c.text()?,
            })
        })
        .collect()
}

/// The live pods of `namespace`: each one's workload, and per workload container what they
/// run now.
async fn live(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    namespace: &str,
) -> Result<BTreeMap<(WorkloadKey, String), Current>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT name, owner_kind, owner_name, {} FROM k8s_pods \
         WHERE org_id = {} AND cluster_id = {} AND namespace = {} AND deleted_at IS NULL",
        d.text("data"),
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let mut args = ids(org, cluster);
    args.push(Value::Text(namespace.to_owned()));
    let rows = db
        .fetch(&sql, args, &[Ty::Text, Ty::OptText, Ty::OptText, Ty::Text])
        .await?;
    let mut current: BTreeMap<(WorkloadKey, String), Current> = BTreeMap::new();
    for row in rows {
        let mut c = Cells::new(row);
        let name = c.text()?;
        let workload = workload_of(c.opt_text()?, c.opt_text()?, &name);
        let data = c.text()?;
        let pod = PodRequests::parse(&data)?;
        let created = pod.created.map_or(i64::MIN, |t| t.0);
        for container in pod.running() {
            let entry = current
                .entry((workload.clone(), container.name.to_string()))
                .or_default();
            entry.replicas += 1;
            // The newest pod runs the current template; ties go to the later name so the
            // choice does not depend on the row order.
            if entry
                .newest
                .as_ref()
                .is_none_or(|(at, newest)| (created, name.as_str()) > (*at, newest.as_str()))
            {
                entry.newest = Some((created, name.clone()));
                entry.pod_template.clone_from(&pod.template);
                entry.cpu_request_millis = container.cpu_millis();
                entry.memory_request_bytes = container.memory_bytes();
            }
        }
    }
    Ok(current)
}

/// The live workload containers of one namespace with their usage over the rollup's days
/// from `from`'s day to before `to`.
///
/// The days are merged in the database, one row per workload container back (the sums and
/// maxima as [`WorkloadUsageDay::merge`] takes them, the days' histograms joined into one
/// text that decodes to their sum): a month is 30 rows per container, and reading them one
/// by one cost more than the rest of the pass.
async fn namespace_usage(
    db: &mut dyn Sql,
    org: OrgId,
    place: &RightsizingNamespace,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<WorkloadContainerUsage>, StoreError> {
    let current = live(db, org, place.cluster, &place.namespace).await?;
    let d = db.dialect();
    let sql = format!(
        "SELECT workload_kind, workload_name, container, {} FROM k8s_workload_usage \
         WHERE org_id = {} AND cluster_id = {} AND namespace = {} AND day >= {} AND day < {} \
         GROUP BY workload_kind, workload_name, container",
        merged_values(d),
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4),
        d.ph(5)
    );
    let mut args = ids(org, place.cluster);
    args.extend([
        Value::Text(place.namespace.clone()),
        Value::Time(day_of(from)),
        Value::Time(to),
    ]);
    let mut types = vec![Ty::Text; 3];
    types.extend(VALUE_TYPES);
    let rows = db.fetch(&sql, args, &types).await?;
    // Usage goes to the live workload containers by position; that of workloads with no
    // live pod is dropped as it is read.
    let entries: Vec<((WorkloadKey, String), Current)> = current.into_iter().collect();
    let mut usage: Vec<WorkloadUsageDay> = vec![WorkloadUsageDay::default(); entries.len()];
    let index: HashMap<(&str, &str, &str), usize> = entries
        .iter()
        .enumerate()
        .map(|(i, ((workload, container), _))| {
            (
                (workload.0.as_str(), workload.1.as_str(), container.as_str()),
                i,
            )
        })
        .collect();
    for row in rows {
        let mut c = Cells::new(row);
        let (kind, name, container) = (c.text()?, c.text()?, c.text()?);
        let Some(&i) = index.get(&(kind.as_str(), name.as_str(), container.as_str())) else {
            continue;
        };
        usage[i] = read_values(&mut c)?;
    }
    drop(index);
    Ok(entries
        .into_iter()
        .zip(usage)
        .map(
            |(((workload, container), now), usage)| WorkloadContainerUsage {
                workload_kind: workload.0,
                workload_name: workload.1,
                pod_template: now.pod_template,
                container,
                replicas: now.replicas,
                cpu_request_millis: now.cpu_request_millis,
                memory_request_bytes: now.memory_request_bytes,
                usage,
            },
        )
        .collect())
}

/// The start of the UTC day of `t`: the rollup's granularity.
fn day_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let millis = t.timestamp_millis();
    let day = millis.div_euclid(86_400_000) * 86_400_000;
    DateTime::from_timestamp_millis(day).unwrap_or(t)
}

/// What a right-sizing pass is handed per namespace.
pub type RightsizingVisit<'a> =
    dyn FnMut(&RightsizingNamespace, Vec<WorkloadContainerUsage>) + Send + 'a;

async fn gather(
    db: &mut dyn Sql,
    org: OrgId,
    scope: &RightsizingScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    visit: &mut RightsizingVisit<'_>,
) -> Result<(), StoreError> {
    let places = namespaces(db, org, scope).await?;
    for place in &places {
        let containers = namespace_usage(db, org, place, from, to).await?;
        visit(place, containers);
    }
    Ok(())
}

impl Store {
    /// Walks the namespaces with live pods in `scope` (by cluster name, then namespace) and
    /// hands `visit` each one's live workload containers, ordered by workload then
    /// container, with their usage over the whole UTC days from `from`'s day to before `to`
    /// (the daily rollup's granularity) and their current requests. One namespace's rows are
    /// in memory at a time.
    #[instrument(skip_all)]
    pub async fn rightsizing_gather(
        &self,
        org: OrgId,
        scope: &RightsizingScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        visit: &mut RightsizingVisit<'_>,
    ) -> Result<(), StoreError> {
        on_conn!(self, |db| gather(db, org, scope, from, to, visit))
    }
}
