//! The CSV columns of each list's download: the columns its table in the UI shows, with a
//! header row, so a spreadsheet of pods reads like the pods table (status, phase, node, restarts)
//! rather than like the stored rows. JSON downloads keep the API's items.
//!
//! Values are the data, not the table's formatting: counts and bytes as numbers, times in
//! RFC 3339, lists joined by `;`.

use chrono::SecondsFormat;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::model::deployment::DeploymentProjection;
use kubeworkz_shared::model::helm::HelmReleaseProjection;
use kubeworkz_shared::model::namespace::NamespaceProjection;
use kubeworkz_shared::model::node::NodeProjection;
use kubeworkz_shared::model::pod::PodProjection;
use kubeworkz_shared::model::storage::PvcProjection;
use kubeworkz_shared::model::{
    CronJobProjection, DaemonSetProjection, JobProjection, OwnerKind, StatefulSetProjection,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::audit::AuditView;
use super::views::{ClusterView, NamespaceView, ObjectView};

/// A download's row writer: one row's fields, in its header's order.
pub(super) type Fields<T> = fn(&T) -> Vec<String>;

/// The label the namespaces table shows as the team.
const TEAM_LABEL: &str = "team";
/// The label the namespaces table shows as the cost center.
const COST_CENTER_LABEL: &str = "cost-center";

/// A value's serialized name (an enum's variant as the API spells it), or empty.
fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// An optional value as text, empty when absent.
fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The projection of `object`. The store writes only projections it serialized, so one that
/// does not read back gives a row with its names and empty columns.
fn projection<T: DeserializeOwned>(object: &ObjectView) -> Option<T> {
    serde_json::from_str(object.data.get()).ok()
}

/// `fields` of `object`'s projection after its name columns `names`, or empty columns.
fn row<T: DeserializeOwned>(
    object: &ObjectView,
    mut names: Vec<String>,
    width: usize,
    fields: impl FnOnce(T) -> Vec<String>,
) -> Vec<String> {
    match projection::<T>(object) {
        Some(p) => names.extend(fields(p)),
        None => names.resize(width, String::new()),
    }
    names
}

const POD_HEADER: &str = "namespace,name,status,phase,ready,node,restarts";

fn pod_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![
        o.namespace.clone(),
        o.name.clone(),
        o.status.clone().unwrap_or_default(),
    ];
    row(o, names, 7, |p: PodProjection| {
        vec![
            name_of(&p.phase),
            p.ready.to_string(),
            p.node.clone().unwrap_or_default(),
            p.restarts().to_string(),
        ]
    })
}

const DEPLOYMENT_HEADER: &str = "namespace,name,ready,desired,images";

fn deployment_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![o.namespace.clone(), o.name.clone()];
    row(o, names, 5, |d: DeploymentProjection| {
        vec![
            d.replicas.ready.to_string(),
            d.replicas.desired.to_string(),
            d.images.join(";"),
        ]
    })
}

const STATEFULSET_HEADER: &str = "namespace,name,ready,desired,service,images";

fn statefulset_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![o.namespace.clone(), o.name.clone()];
    row(o, names, 6, |s: StatefulSetProjection| {
        vec![
            s.replicas.ready.to_string(),
            s.replicas.desired.to_string(),
            s.service_name.unwrap_or_default(),
            s.images.join(";"),
        ]
    })
}

const DAEMONSET_HEADER: &str = "namespace,name,desired,current,ready,available,misscheduled,images";

fn daemonset_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![o.namespace.clone(), o.name.clone()];
    row(o, names, 8, |d: DaemonSetProjection| {
        let c = d.counts;
        let mut fields: Vec<String> = [c.desired, c.current, c.ready, c.available, c.misscheduled]
            .iter()
            .map(u32::to_string)
            .collect();
        fields.push(d.images.join(";"));
        fields
    })
}

const JOB_HEADER: &str = "namespace,name,status,succeeded,failed,active,completions,cronjob";

fn job_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![
        o.namespace.clone(),
        o.name.clone(),
        o.status.clone().unwrap_or_default(),
    ];
    row(o, names, 8, |j: JobProjection| {
        let cron = j
            .owner
            .filter(|o| o.kind == OwnerKind::CronJob)
            .map(|o| o.name);
        vec![
            j.succeeded.to_string(),
            j.failed.to_string(),
            j.active.to_string(),
            opt(j.completions),
            cron.unwrap_or_default(),
        ]
    })
}

const CRONJOB_HEADER: &str = "namespace,name,schedule,suspend,last_schedule,active";

fn cronjob_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![o.namespace.clone(), o.name.clone()];
    row(o, names, 6, |c: CronJobProjection| {
        let last = c.last_schedule.and_then(|t| {
            chrono::DateTime::from_timestamp_millis(t.0)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        });
        vec![
            c.schedule,
            c.suspend.to_string(),
            last.unwrap_or_default(),
            c.active.to_string(),
        ]
    })
}

const NODE_HEADER: &str =
    "name,role,instance_type,cpu_capacity_millis,memory_capacity_bytes,pods_capacity,status";

fn node_fields(o: &ObjectView) -> Vec<String> {
    row(o, vec![o.name.clone()], 7, |n: NodeProjection| {
        let mut status = if n.is_ready() { "Ready" } else { "NotReady" }.to_owned();
        if n.unschedulable {
            status.push_str(";cordoned");
        }
        vec![
            name_of(&n.role),
            n.instance_type.clone().unwrap_or_default(),
            n.capacity.cpu_millis.to_string(),
            n.capacity.memory_bytes.to_string(),
            n.capacity.pods.to_string(),
            status,
        ]
    })
}

const HELM_HEADER: &str = "name,namespace,chart,chart_version,app_version,revision,status";

fn helm_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![o.name.clone(), o.namespace.clone()];
    row(o, names, 7, |h: HelmReleaseProjection| {
        vec![
            h.chart_name,
            h.chart_version,
            h.app_version.unwrap_or_default(),
            h.revision.to_string(),
            name_of(&h.status),
        ]
    })
}

const PVC_HEADER: &str = "namespace,name,phase,requested_bytes,capacity_bytes,storage_class,volume";

fn pvc_fields(o: &ObjectView) -> Vec<String> {
    let names = vec![o.namespace.clone(), o.name.clone()];
    row(o, names, 7, |p: PvcProjection| {
        vec![
            name_of(&p.phase),
            opt(p.requested_bytes),
            opt(p.capacity_bytes),
            p.storage_class.unwrap_or_default(),
            p.volume_name.unwrap_or_default(),
        ]
    })
}

const OBJECT_HEADER: &str = "namespace,name,cluster_id,id,first_seen_at,updated_at";

/// The columns of a kind no table shows on its own: the object's names and times.
fn object_fields(o: &ObjectView) -> Vec<String> {
    vec![
        o.namespace.clone(),
        o.name.clone(),
        o.cluster_id.to_string(),
        o.id.clone(),
        o.first_seen_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        o.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    ]
}

/// The header and row writer of a download of `kind`'s list.
pub(super) fn object_columns(kind: ObjectKind) -> (&'static str, Fields<ObjectView>) {
    match kind {
        ObjectKind::Pod => (POD_HEADER, pod_fields),
        ObjectKind::Deployment => (DEPLOYMENT_HEADER, deployment_fields),
        ObjectKind::Node => (NODE_HEADER, node_fields),
        ObjectKind::HelmRelease => (HELM_HEADER, helm_fields),
        ObjectKind::PersistentVolumeClaim => (PVC_HEADER, pvc_fields),
        ObjectKind::StatefulSet => (STATEFULSET_HEADER, statefulset_fields),
        ObjectKind::DaemonSet => (DAEMONSET_HEADER, daemonset_fields),
        ObjectKind::Job => (JOB_HEADER, job_fields),
        ObjectKind::CronJob => (CRONJOB_HEADER, cronjob_fields),
        _ => (OBJECT_HEADER, object_fields),
    }
}

/// The namespaces table's columns.
pub(super) const NAMESPACE_HEADER: &str = "name,team,cost_center,deployments,pods,phase";

/// A namespace's row (see [`NAMESPACE_HEADER`]).
pub(super) fn namespace_fields(n: &NamespaceView) -> Vec<String> {
    let names = vec![n.object.name.clone()];
    let counts = [n.deployments.to_string(), n.pods.to_string()];
    row(&n.object, names, 6, |p: NamespaceProjection| {
        let label = |key: &str| p.labels.get(key).cloned().unwrap_or_default();
        let mut fields = vec![label(TEAM_LABEL), label(COST_CENTER_LABEL)];
        fields.extend(counts);
        fields.push(name_of(&p.phase));
        fields
    })
}

/// The cluster list's columns.
pub(super) const CLUSTER_HEADER: &str = "name,health,provider,environment,version,nodes,\
    nodes_ready,namespaces,deployments,pods,last_sync_at,tags,id";

/// A cluster's row (see [`CLUSTER_HEADER`]); a cluster never judged has the health
/// `unknown`.
pub(super) fn cluster_fields(c: &ClusterView) -> Vec<String> {
    vec![
        c.name.clone(),
        c.health.as_ref().map_or("unknown", |h| h.status).to_owned(),
        c.provider.clone().unwrap_or_default(),
        c.environment.to_owned(),
        c.version.clone().unwrap_or_default(),
        c.counts.nodes.to_string(),
        c.counts.nodes_ready.to_string(),
        c.counts.namespaces.to_string(),
        c.counts.deployments.to_string(),
        c.counts.pods.to_string(),
        opt(c
            .last_sync_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))),
        c.tags.join(";"),
        c.id.to_string(),
    ]
}

/// The audit log's columns.
pub(super) const AUDIT_HEADER: &str =
    "at,actor,action,target,result,source_ip,request_id,id,detail";

/// An audit entry's row (see [`AUDIT_HEADER`]).
pub(super) fn audit_fields(e: &AuditView) -> Vec<String> {
    vec![
        e.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        e.actor.clone(),
        e.action.clone(),
        e.target.clone(),
        e.result.clone(),
        e.source_ip.clone().unwrap_or_default(),
        e.request_id.clone().unwrap_or_default(),
        e.id.to_string(),
        e.detail.clone().unwrap_or_default(),
    ]
}

#[cfg(test)]
mod tests;
