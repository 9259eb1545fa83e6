//! StatefulSet, DaemonSet and ReplicaSet projections: what the workload pages show (replica
//! counts, update strategy, images) and, for ReplicaSets, only the owner reference that maps
//! their pods to a Deployment.

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use serde::{Deserialize, Serialize};

use super::pod::{PodOwner, controller_of};
use super::{Labels, non_negative};
use crate::time::UnixMillis;

/// Replica counts as the StatefulSet controller reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatefulSetReplicas {
    /// `spec.replicas` (Kubernetes defaults it to 1).
    pub desired: u32,
    /// Pods created by the controller.
    pub current: u32,
    /// Pods passing readiness.
    pub ready: u32,
    /// Pods ready for at least `minReadySeconds`.
    pub available: u32,
    /// Pods at the update revision.
    pub updated: u32,
}

/// How a StatefulSet replaces its pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatefulSetUpdateStrategy {
    /// Pods are replaced one ordinal at a time, from the highest down to `partition`.
    RollingUpdate {
        /// Ordinals below this keep the old revision; `None` when not set (0).
        partition: Option<u32>,
        /// Pods allowed unavailable during an update, as written; `None` when defaulted.
        max_unavailable: Option<String>,
    },
    /// Pods are replaced only when deleted by hand.
    OnDelete,
}

/// The kept part of a `StatefulSet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatefulSetProjection {
    /// StatefulSet name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Replica counts.
    pub replicas: StatefulSetReplicas,
    /// The headless Service that gives the pods their stable names (`spec.serviceName`).
    pub service_name: Option<String>,
    /// Update strategy.
    pub update_strategy: StatefulSetUpdateStrategy,
    /// Images of the pod template: containers first, then init containers, without repeats.
    pub images: Vec<String>,
    /// Labels.
    pub labels: Labels,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&StatefulSet> for StatefulSetProjection {
    fn from(set: &StatefulSet) -> Self {
        let meta = &set.metadata;
        let spec = set.spec.as_ref();
        let status = set.status.as_ref();
        let update_strategy = match spec.and_then(|s| s.update_strategy.as_ref()) {
            Some(s) if s.type_.as_deref() == Some("OnDelete") => {
                StatefulSetUpdateStrategy::OnDelete
            }
            s => {
                let rolling = s.and_then(|s| s.rolling_update.as_ref());
                StatefulSetUpdateStrategy::RollingUpdate {
                    partition: rolling
                        .and_then(|r| r.partition)
                        .map(|p| non_negative(Some(p))),
                    max_unavailable: rolling
                        .and_then(|r| r.max_unavailable.as_ref())
                        .map(super::int_or_string),
                }
            }
        };
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            replicas: StatefulSetReplicas {
                desired: spec
                    .and_then(|s| s.replicas)
                    .map_or(1, |r| non_negative(Some(r))),
                current: non_negative(status.and_then(|s| s.current_replicas)),
                ready: non_negative(status.and_then(|s| s.ready_replicas)),
                available: non_negative(status.and_then(|s| s.available_replicas)),
                updated: non_negative(status.and_then(|s| s.updated_replicas)),
            },
            service_name: spec
                .and_then(|s| s.service_name.clone())
                .filter(|s| !s.is_empty()),
            update_strategy,
            images: super::template_images(spec.and_then(|s| s.template.spec.as_ref())),
            labels: super::labels_of(meta),
            generation: meta.generation.unwrap_or(0),
            observed_generation: status.and_then(|s| s.observed_generation),
            created: super::created_of(meta),
        }
    }
}

/// Scheduling counts as the DaemonSet controller reports them: one pod per eligible node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonSetCounts {
    /// Nodes that should run the pod.
    pub desired: u32,
    /// Nodes running at least one of its pods and supposed to.
    pub current: u32,
    /// Nodes whose pod is ready.
    pub ready: u32,
    /// Nodes whose pod has been ready for at least `minReadySeconds`.
    pub available: u32,
    /// Nodes running the current template.
    pub updated: u32,
    /// Nodes running the pod that are not supposed to.
    pub misscheduled: u32,
}

/// The kept part of a `DaemonSet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonSetProjection {
    /// DaemonSet name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Scheduling counts.
    pub counts: DaemonSetCounts,
    /// `RollingUpdate` or `OnDelete`.
    pub update_strategy: String,
    /// Images of the pod template: containers first, then init containers, without repeats.
    pub images: Vec<String>,
    /// Labels.
    pub labels: Labels,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&DaemonSet> for DaemonSetProjection {
    fn from(set: &DaemonSet) -> Self {
        let meta = &set.metadata;
        let spec = set.spec.as_ref();
        let status = set.status.as_ref();
        let count = |f: fn(&k8s_openapi::api::apps::v1::DaemonSetStatus) -> Option<i32>| {
            non_negative(status.and_then(f))
        };
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            counts: DaemonSetCounts {
                desired: count(|s| Some(s.desired_number_scheduled)),
                current: count(|s| Some(s.current_number_scheduled)),
                ready: count(|s| Some(s.number_ready)),
                available: count(|s| s.number_available),
                updated: count(|s| s.updated_number_scheduled),
                misscheduled: count(|s| Some(s.number_misscheduled)),
            },
            update_strategy: spec
                .and_then(|s| s.update_strategy.as_ref())
                .and_then(|s| s.type_.clone())
                .unwrap_or_else(|| "RollingUpdate".to_owned()),
            images: super::template_images(spec.and_then(|s| s.template.spec.as_ref())),
            labels: super::labels_of(meta),
            generation: meta.generation.unwrap_or(0),
            observed_generation: status.and_then(|s| s.observed_generation),
            created: super::created_of(meta),
        }
    }
}

/// The kept part of a `ReplicaSet`: only what maps its pods to their Deployment. The pods
/// already name a Deployment when the ReplicaSet follows the Deployment controller's naming
/// (see [`super::pod::resolve_owner`]); this covers the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSetProjection {
    /// ReplicaSet name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Controlling owner (a Deployment, or an operator's resource); `None` for a bare one.
    pub owner: Option<PodOwner>,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&ReplicaSet> for ReplicaSetProjection {
    fn from(set: &ReplicaSet) -> Self {
        let meta = &set.metadata;
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            owner: controller_of(meta.owner_references.as_deref().unwrap_or_default()),
            created: super::created_of(meta),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OwnerKind;

    /// A database mid-update: 2 of 3 ready, partitioned at ordinal 1.
    const POSTGRES: &str = r#"{
      "apiVersion": "apps/v1", "kind": "StatefulSet",
      "metadata": {"name": "postgres", "namespace": "data", "uid": "s-1", "generation": 3,
        "creationTimestamp": "2024-03-02T12:00:00Z", "labels": {"app": "postgres"}},
      "spec": {
        "replicas": 3, "serviceName": "postgres-headless",
        "selector": {"matchLabels": {"app": "postgres"}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1, "maxUnavailable": "50%"}},
        "template": {"metadata": {"labels": {"app": "postgres"}}, "spec": {
          "initContainers": [{"name": "init", "image": "busybox:1.36"}],
          "containers": [{"name": "db", "image": "postgres:16"}, {"name": "exporter", "image": "busybox:1.36"}]}}
      },
      "status": {"observedGeneration": 3, "replicas": 3, "currentReplicas": 2, "readyReplicas": 2,
        "availableReplicas": 2, "updatedReplicas": 1}
    }"#;

    const NODE_EXPORTER: &str = r#"{
      "apiVersion": "apps/v1", "kind": "DaemonSet",
      "metadata": {"name": "node-exporter", "namespace": "monitoring", "uid": "d-1", "generation": 2},
      "spec": {"selector": {"matchLabels": {"app": "ne"}},
        "updateStrategy": {"type": "OnDelete"},
        "template": {"metadata": {"labels": {"app": "ne"}}, "spec": {
          "containers": [{"name": "ne", "image": "prom/node-exporter:v1.8.0"}]}}},
      "status": {"currentNumberScheduled": 4, "desiredNumberScheduled": 5, "numberMisscheduled": 1,
        "numberReady": 3, "numberAvailable": 3, "updatedNumberScheduled": 4, "observedGeneration": 2}
    }"#;

    #[test]
    fn statefulset_projects_replicas_service_strategy_and_images() {
        let set: StatefulSet = serde_json::from_str(POSTGRES).unwrap();
        let p = StatefulSetProjection::from(&set);
        assert_eq!(
            (p.name.as_str(), p.namespace.as_str()),
            ("postgres", "data")
        );
        assert_eq!(
            p.replicas,
            StatefulSetReplicas {
                desired: 3,
                current: 2,
                ready: 2,
                available: 2,
                updated: 1
            }
        );
        assert_eq!(p.service_name.as_deref(), Some("postgres-headless"));
        assert_eq!(
            p.update_strategy,
            StatefulSetUpdateStrategy::RollingUpdate {
                partition: Some(1),
                max_unavailable: Some("50%".into())
            }
        );
        assert_eq!(p.images, ["postgres:16", "busybox:1.36"]);
        assert_eq!((p.generation, p.observed_generation), (3, Some(3)));
    }

    #[test]
    fn statefulset_defaults_when_spec_and_status_are_sparse() {
        let mut set: StatefulSet = serde_json::from_str(POSTGRES).unwrap();
        let spec = set.spec.as_mut().unwrap();
        spec.replicas = None;
        spec.service_name = None;
        spec.update_strategy = None;
        set.status = None;
        let p = StatefulSetProjection::from(&set);
        assert_eq!(p.replicas.desired, 1);
        assert_eq!(p.replicas.ready, 0);
        assert_eq!(p.service_name, None);
        assert_eq!(
            p.update_strategy,
            StatefulSetUpdateStrategy::RollingUpdate {
                partition: None,
                max_unavailable: None
            }
        );
        set.spec.as_mut().unwrap().update_strategy = Some(Default::default());
        set.spec
            .as_mut()
            .unwrap()
            .update_strategy
            .as_mut()
            .unwrap()
            .type_ = Some("OnDelete".into());
        let p = StatefulSetProjection::from(&set);
        assert_eq!(p.update_strategy, StatefulSetUpdateStrategy::OnDelete);
    }

    #[test]
    fn daemonset_projects_every_count_and_its_strategy() {
        let set: DaemonSet = serde_json::from_str(NODE_EXPORTER).unwrap();
        let p = DaemonSetProjection::from(&set);
        assert_eq!(
            p.counts,
            DaemonSetCounts {
                desired: 5,
                current: 4,
                ready: 3,
                available: 3,
                updated: 4,
                misscheduled: 1
            }
        );
        assert_eq!(p.update_strategy, "OnDelete");
        assert_eq!(p.images, ["prom/node-exporter:v1.8.0"]);
        let mut bare = set.clone();
        bare.status = None;
        bare.spec.as_mut().unwrap().update_strategy = None;
        let p = DaemonSetProjection::from(&bare);
        assert_eq!(p.counts, DaemonSetCounts::default());
        assert_eq!(p.update_strategy, "RollingUpdate");
    }

    #[test]
    fn replicaset_keeps_its_controller_only() {
        let set: ReplicaSet = serde_json::from_str(
            r#"{"metadata": {"name": "web-7c9d", "namespace": "shop", "uid": "r-1",
                 "ownerReferences": [
                   {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "c"},
                   {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d",
                    "controller": true}]}}"#,
        )
        .unwrap();
        let p = ReplicaSetProjection::from(&set);
        assert_eq!(
            p.owner,
            Some(PodOwner {
                kind: OwnerKind::Deployment,
                name: "web".into()
            })
        );
        let mut bare = set;
        bare.metadata.owner_references = None;
        assert_eq!(ReplicaSetProjection::from(&bare).owner, None);
    }
}
