//! Where each kind of inventory object is stored, and the typed columns it adds.
//!
//! Every inventory table has the same core: `cluster_id, org_id, uid, namespace, name, data`
//! (the projection as JSON, which is what reads return), `seen_gen` (the snapshot generation
//! that last saw the row, for pruning), `first_seen_at, updated_at, deleted_at` (soft delete,
//! so cost keeps history). The extra columns are what the API filters, sorts and sums on;
//! they are derived from the projection here, in one place, for both backends.

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::model::{LabelKeys, Labels, PodOwner, PodProjection, pod_status};
use kubeworkz_shared::time::UnixMillis;

use super::sql::{Cast, Value};

/// Storage of one [`ObjectKind`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    /// Table name.
    pub name: &'static str,
    /// Kind-specific columns, in the order [`extra_values`] produces them, with how each is
    /// bound.
    pub extra: &'static [(&'static str, Cast)],
    /// Extra primary-key columns beyond `(cluster_id, uid)` (the partition key of pods).
    pub key_extra: &'static str,
    /// Kind-specific columns that an index covers (every table's `namespace, name` and
    /// `deleted_at` are in its live index). SQLite rewrites an index on every update that
    /// assigns one of its columns, changed or not, so an upsert of an unchanged live row
    /// sets none of these (see `ingest::group::write_kind`); a test holds this list to the
    /// SQLite schema.
    pub indexed: &'static [&'static str],
}

/// The core columns every inventory table starts with, with how each is bound (`data` is
/// `json` on PostgreSQL, migration 0010: nothing queries inside it).
pub(crate) const CORE_COLUMNS: [(&str, Cast); 10] = [
    ("cluster_id", Cast::None),
    ("org_id", Cast::None),
    ("uid", Cast::None),
    ("namespace", Cast::None),
    ("name", Cast::None),
    ("data", Cast::Json),
    ("seen_gen", Cast::None),
    ("first_seen_at", Cast::None),
    ("updated_at", Cast::None),
    ("deleted_at", Cast::None),
];

/// The table of `kind`.
pub(crate) fn table(kind: ObjectKind) -> Table {
    match kind {
        ObjectKind::Node => Table {
            name: "k8s_nodes",
            extra: &[
                ("role", Cast::None),
                ("instance_type", Cast::None),
                ("zone", Cast::None),
                ("ready", Cast::None),
                ("cpu_capacity_millis", Cast::None),
                ("memory_capacity_bytes", Cast::None),
                ("cpu_allocatable_millis", Cast::None),
                ("memory_allocatable_bytes", Cast::None),
                ("kubelet_version", Cast::None),
                ("search_labels", Cast::None),
            ],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::Namespace => Table {
            name: "k8s_namespaces",
            extra: &[
                ("team", Cast::None),
                ("cost_center", Cast::None),
                ("labels", Cast::Jsonb),
                ("phase", Cast::None),
                ("search_labels", Cast::None),
            ],
            key_extra: "",
            indexed: &["team"],
        },
        ObjectKind::Deployment => Table {
            name: "k8s_deployments",
            extra: &[
                ("replicas_desired", Cast::None),
                ("replicas_ready", Cast::None),
                ("replicas_available", Cast::None),
                ("replicas_updated", Cast::None),
                ("search_labels", Cast::None),
                ("search_images", Cast::None),
            ],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::Pod => Table {
            name: "k8s_pods",
            extra: &[
                ("created_at", Cast::None),
                ("node_name", Cast::None),
                ("phase", Cast::None),
                ("owner_kind", Cast::None),
                ("owner_name", Cast::None),
                ("cpu_request_millis", Cast::None),
                ("memory_request_bytes", Cast::None),
                ("restarts", Cast::None),
                ("ready", Cast::None),
                ("start_time", Cast::None),
                ("status", Cast::None),
                ("search_labels", Cast::None),
                ("search_images", Cast::None),
            ],
            key_extra: ", created_at",
            indexed: &["owner_kind", "owner_name", "phase", "status", "restarts"],
        },
        ObjectKind::PersistentVolumeClaim => Table {
            name: "k8s_pvcs",
            extra: &[
                ("requested_bytes", Cast::None),
                ("storage_class", Cast::None),
                ("volume_name", Cast::None),
                ("phase", Cast::None),
                ("capacity_bytes", Cast::None),
            ],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::PersistentVolume => Table {
            name: "k8s_persistent_volumes",
            extra: &[
                ("capacity_bytes", Cast::None),
                ("storage_class", Cast::None),
            ],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::StorageClass => Table {
            name: "k8s_storage_classes",
            extra: &[],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::HelmRelease => Table {
            name: "k8s_helm_releases",
            extra: &[
                ("release_name", Cast::None),
                ("revision", Cast::None),
                ("status", Cast::None),
                ("chart_name", Cast::None),
                ("chart_version", Cast::None),
                ("app_version", Cast::None),
            ],
            key_extra: "",
            indexed: &["chart_name"],
        },
        ObjectKind::StatefulSet => Table {
            name: "k8s_statefulsets",
            extra: &[
                ("replicas_desired", Cast::None),
                ("replicas_ready", Cast::None),
                ("replicas_updated", Cast::None),
                ("service_name", Cast::None),
            ],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::DaemonSet => Table {
            name: "k8s_daemonsets",
            extra: &[
                ("replicas_desired", Cast::None),
                ("replicas_ready", Cast::None),
                ("replicas_available", Cast::None),
                ("misscheduled", Cast::None),
            ],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::ReplicaSet => Table {
            name: "k8s_replicasets",
            extra: &[("owner_kind", Cast::None), ("owner_name", Cast::None)],
            key_extra: "",
            indexed: &["owner_kind", "owner_name"],
        },
        ObjectKind::Job => Table {
            name: "k8s_jobs",
            extra: &[
                ("owner_kind", Cast::None),
                ("owner_name", Cast::None),
                ("status", Cast::None),
                ("succeeded", Cast::None),
                ("failed", Cast::None),
                ("active", Cast::None),
                ("start_time", Cast::None),
            ],
            key_extra: "",
            indexed: &["owner_kind", "owner_name"],
        },
        ObjectKind::CronJob => Table {
            name: "k8s_cronjobs",
            extra: &[
                ("schedule", Cast::None),
                ("suspend", Cast::None),
                ("last_schedule_at", Cast::None),
                ("active", Cast::None),
            ],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::ResourceQuota => Table {
            name: "k8s_resourcequotas",
            extra: &[("max_percent_used", Cast::None)],
            key_extra: "",
            indexed: &[],
        },
        ObjectKind::LimitRange => Table {
            name: "k8s_limitranges",
            extra: &[("limit_count", Cast::None)],
            key_extra: "",
            indexed: &[],
        },
    }
}

/// The stable name of a kind in the database (`k8s_snapshot_state.kind`).
pub(crate) fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Node => "node",
        ObjectKind::Namespace => "namespace",
        ObjectKind::Deployment => "deployment",
        ObjectKind::Pod => "pod",
        ObjectKind::PersistentVolumeClaim => "pvc",
        ObjectKind::PersistentVolume => "pv",
        ObjectKind::StorageClass => "storageclass",
        ObjectKind::HelmRelease => "helmrelease",
        ObjectKind::StatefulSet => "statefulset",
        ObjectKind::DaemonSet => "daemonset",
        ObjectKind::ReplicaSet => "replicaset",
        ObjectKind::Job => "job",
        ObjectKind::CronJob => "cronjob",
        ObjectKind::ResourceQuota => "resourcequota",
        ObjectKind::LimitRange => "limitrange",
    }
}

/// Store-side integers are signed; quantities never come near `i64::MAX`, and saturate if so.
/// The kind stored under `name` in `k8s_snapshot_state`.
pub(crate) fn kind_named(name: &str) -> Option<ObjectKind> {
    ObjectKind::ALL.into_iter().find(|k| kind_name(*k) == name)
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn opt_int(value: Option<u64>) -> Value {
    Value::OptI64(value.map(int))
}

/// A timestamp from the wire type; out-of-range values (never produced by the apiserver)
/// become the epoch rather than failing an ingest.
pub(crate) fn time(millis: UnixMillis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis.0).unwrap_or(DateTime::UNIX_EPOCH)
}

fn opt_time(millis: Option<UnixMillis>) -> Value {
    Value::OptTime(millis.map(time))
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn opt_text(value: Option<&str>) -> Value {
    Value::OptText(value.map(str::to_owned))
}

/// Debug names of field-less enums are their stable API names (`Running`, `ControlPlane`).
fn name_of(value: impl std::fmt::Debug) -> Value {
    Value::Text(format!("{value:?}"))
}

/// Labels as the `search_labels` column holds them: `"\nkey=value"` per label and a final
/// `"\n"` (empty for none), so a label is a `LIKE '%\nkey=value\n%'` away without parsing
/// JSON per row (migration 0014). Kubernetes refuses newlines in label keys and values.
pub(crate) fn search_labels(labels: &Labels) -> String {
    search_lines(labels.iter().map(|(k, v)| format!("{k}={v}")))
}

/// Values as the `search_*` columns hold them: `"\nvalue"` each and a final `"\n"`, empty
/// for none.
pub(crate) fn search_lines<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> String {
    let mut out = String::new();
    for value in values {
        out.push('\n');
        out.push_str(value.as_ref());
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Why no row is ever made of a legacy object.
const LEGACY: &str = "Store::ingest_changes upgrades legacy objects before they become rows";

/// A pod's distinct images, in container order.
fn pod_images(pod: &PodProjection) -> Vec<&str> {
    let mut images: Vec<&str> = Vec::with_capacity(pod.containers.len());
    for container in &pod.containers {
        let image = container.image.as_str();
        if !image.is_empty() && !images.contains(&image) {
            images.push(image);
        }
    }
    images
}

/// The kind-specific column values of `object`, matching [`Table::extra`].
pub(crate) fn extra_values(object: &Object, label_keys: &LabelKeys) -> Vec<Value> {
    match object {
        Object::Node(node) => vec![
            name_of(node.role),
            opt_text(node.instance_type.as_deref()),
            opt_text(node.zone.as_deref()),
            Value::Bool(node.is_ready()),
            Value::OptI64(Some(int(node.capacity.cpu_millis))),
            Value::OptI64(Some(int(node.capacity.memory_bytes))),
            Value::OptI64(Some(int(node.allocatable.cpu_millis))),
            Value::OptI64(Some(int(node.allocatable.memory_bytes))),
            text(&node.kubelet_version),
            Value::Text(search_labels(&node.labels)),
        ],
        Object::Namespace(namespace) => vec![
            opt_text(namespace.team(label_keys)),
            opt_text(namespace.cost_center(label_keys)),
            Value::Text(serde_json::to_string(&namespace.labels).expect("labels serialize")),
            name_of(namespace.phase),
            Value::Text(search_labels(&namespace.labels)),
        ],
        Object::Deployment(deployment) => {
            let r = &deployment.replicas;
            let mut values = counts([r.desired, r.ready, r.available, r.updated]);
            values.push(Value::Text(search_labels(&deployment.labels)));
            values.push(Value::Text(search_lines(&deployment.images)));
            values
        }
        Object::Pod(pod) => {
            let requests = pod.effective_requests();
            let [owner_kind, owner_name] = owner_values(pod.owner.as_ref());
            vec![
                Value::Time(time(pod.created.unwrap_or(UnixMillis(0)))),
                opt_text(pod.node.as_deref()),
                name_of(pod.phase),
                owner_kind,
                owner_name,
                opt_int(requests.cpu_millis),
                opt_int(requests.memory_bytes),
                Value::I64(i64::from(pod.restarts())),
                Value::Bool(pod.ready),
                opt_time(pod.start_time),
                Value::Text(pod_status(pod)),
                Value::Text(search_labels(&pod.labels)),
                Value::Text(search_lines(pod_images(pod))),
            ]
        }
        Object::LegacyPod(_) => unreachable!("{LEGACY}"),
        Object::PersistentVolumeClaim(claim) => vec![
            opt_int(claim.requested_bytes),
            opt_text(claim.storage_class.as_deref()),
            opt_text(claim.volume_name.as_deref()),
            name_of(claim.phase),
            opt_int(claim.capacity_bytes),
        ],
        Object::PersistentVolume(volume) => vec![
            opt_int(volume.capacity_bytes),
            opt_text(volume.storage_class.as_deref()),
        ],
        Object::StorageClass(_) => vec![],
        Object::HelmRelease(release) => vec![
            text(&release.name),
            Value::I64(i64::from(release.revision)),
            name_of(release.status),
            text(&release.chart_name),
            text(&release.chart_version),
            opt_text(release.app_version.as_deref()),
        ],
        Object::StatefulSet(set) => {
            let r = &set.replicas;
            let mut values = counts([r.desired, r.ready, r.updated]);
            values.push(opt_text(set.service_name.as_deref()));
            values
        }
        Object::DaemonSet(set) => {
            let c = &set.counts;
            counts([c.desired, c.ready, c.available, c.misscheduled])
        }
        Object::ReplicaSet(set) => owner_values(set.owner.as_ref()).into(),
        Object::Job(job) => {
            let mut values: Vec<Value> = owner_values(job.owner.as_ref()).into();
            values.push(name_of(job.state));
            values.extend(counts([job.succeeded, job.failed, job.active]));
            values.push(opt_time(job.start_time));
            values
        }
        Object::CronJob(cron) => vec![
            text(&cron.schedule),
            Value::Bool(cron.suspend),
            opt_time(cron.last_schedule),
            Value::I64(i64::from(cron.active)),
        ],
        Object::ResourceQuota(quota) => vec![Value::OptI64(
            quota
                .resources
                .iter()
                .filter_map(|r| r.percent_used())
                .max()
                .map(int),
        )],
        Object::LimitRange(range) => vec![Value::I64(int(range.limits.len() as u64))],
    }
}

/// Counts as integer columns.
fn counts<const N: usize>(values: [u32; N]) -> Vec<Value> {
    values
        .into_iter()
        .map(|n| Value::I64(i64::from(n)))
        .collect()
}

/// The `owner_kind, owner_name` columns of a pod, ReplicaSet or Job: the controller's
/// Kubernetes kind name (`CronJob`, or an operator's kind as written) and name.
fn owner_values(owner: Option<&PodOwner>) -> [Value; 2] {
    [
        Value::OptText(owner.map(|o| o.kind.as_api().to_owned())),
        Value::OptText(owner.map(|o| o.name.clone())),
    ]
}

/// The projection inside `object`, as the JSON stored in `data`.
pub(crate) fn data_json(object: &Object) -> String {
    let json = match object {
        Object::Node(o) => serde_json::to_string(o),
        Object::Namespace(o) => serde_json::to_string(o),
        Object::Deployment(o) => serde_json::to_string(o),
        Object::Pod(o) => serde_json::to_string(o),
        Object::LegacyPod(_) => unreachable!("{LEGACY}"),
        Object::PersistentVolumeClaim(o) => serde_json::to_string(o),
        Object::PersistentVolume(o) => serde_json::to_string(o),
        Object::StorageClass(o) => serde_json::to_string(o),
        Object::HelmRelease(o) => serde_json::to_string(o),
        Object::StatefulSet(o) => serde_json::to_string(o),
        Object::DaemonSet(o) => serde_json::to_string(o),
        Object::ReplicaSet(o) => serde_json::to_string(o),
        Object::Job(o) => serde_json::to_string(o),
        Object::CronJob(o) => serde_json::to_string(o),
        Object::ResourceQuota(o) => serde_json::to_string(o),
        Object::LimitRange(o) => serde_json::to_string(o),
    };
    json.expect("projections serialize to JSON")
}

/// Decodes a stored `data` column back into an [`Object`] of `kind`.
pub(crate) fn object_from_json(kind: ObjectKind, json: &str) -> Result<Object, serde_json::Error> {
    Ok(match kind {
        ObjectKind::Node => Object::Node(serde_json::from_str(json)?),
        ObjectKind::Namespace => Object::Namespace(serde_json::from_str(json)?),
        ObjectKind::Deployment => Object::Deployment(serde_json::from_str(json)?),
        ObjectKind::Pod => Object::Pod(serde_json::from_str(json)?),
        ObjectKind::PersistentVolumeClaim => {
            Object::PersistentVolumeClaim(serde_json::from_str(json)?)
        }
        ObjectKind::PersistentVolume => Object::PersistentVolume(serde_json::from_str(json)?),
        ObjectKind::StorageClass => Object::StorageClass(serde_json::from_str(json)?),
        ObjectKind::HelmRelease => Object::HelmRelease(serde_json::from_str(json)?),
        ObjectKind::StatefulSet => Object::StatefulSet(serde_json::from_str(json)?),
        ObjectKind::DaemonSet => Object::DaemonSet(serde_json::from_str(json)?),
        ObjectKind::ReplicaSet => Object::ReplicaSet(serde_json::from_str(json)?),
        ObjectKind::Job => Object::Job(serde_json::from_str(json)?),
        ObjectKind::CronJob => Object::CronJob(serde_json::from_str(json)?),
        ObjectKind::ResourceQuota => Object::ResourceQuota(serde_json::from_str(json)?),
        ObjectKind::LimitRange => Object::LimitRange(serde_json::from_str(json)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_values_for_each_extra_column() {
        use kubeworkz_shared::model::namespace::{NamespacePhase, NamespaceProjection};
        let ns = Object::Namespace(NamespaceProjection {
            name: "a".into(),
            uid: "u".into(),
            labels: [("team".to_owned(), "platform".to_owned())].into(),
            phase: NamespacePhase::Active,
            created: None,
        });
        let values = extra_values(&ns, &LabelKeys::default());
        assert_eq!(values.len(), table(ObjectKind::Namespace).extra.len());
        assert_eq!(values[0], Value::OptText(Some("platform".into())));
        assert_eq!(values[4], Value::Text("\nteam=platform\n".into()));
        let back = object_from_json(ObjectKind::Namespace, &data_json(&ns)).unwrap();
        assert_eq!(back, ns);
    }

    #[test]
    fn search_columns_delimit_every_value() {
        assert_eq!(
            search_lines(["nginx:1.25", "redis"]),
            "\nnginx:1.25\nredis\n"
        );
        assert_eq!(search_lines(Vec::<String>::new()), "");
    }

    #[test]
    fn kind_names_are_distinct() {
        let names: std::collections::BTreeSet<_> =
            ObjectKind::ALL.iter().map(|k| kind_name(*k)).collect();
        assert_eq!(names.len(), ObjectKind::ALL.len());
    }
}
