//! The change stream: what collectors emit and what the store and the wire consume.
//!
//! Every watcher turns its events into [`Change`]s; changes travel in [`ChangeBatch`]es
//! (deltas batched within ~100 ms). A relist — at start, after a reconnect, after a watch
//! expired — is bracketed by [`Change::SnapshotBegin`] and [`Change::SnapshotEnd`] for the
//! kinds relisted: the consumer then deletes every object of those kinds that was not upserted
//! between the two, which is how deletions missed while disconnected are applied. Snapshots of
//! different kinds may interleave (each watcher relists on its own).
//!
//! Encoding: postcard, which is not self-describing. So: no `skip`, `flatten`,
//! `skip_serializing_if`, untagged enums or `serde_json::Value` anywhere below, enum variants
//! and struct fields are only ever appended, and the golden tests at the bottom pin the bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{
    CronJobProjection, DaemonSetProjection, DeploymentProjection, HelmReleaseProjection,
    JobProjection, LegacyPodProjection, LimitRangeProjection, NamespaceProjection, NodeProjection,
    PersistentVolumeProjection, PodProjection, PvcProjection, ReplicaSetProjection,
    ResourceQuotaProjection, StatefulSetProjection, StorageClassProjection,
};
use crate::time::UnixMillis;

/// The kinds of object the inventory holds. Append only: the index is the wire tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    /// Node.
    Node,
    /// Namespace.
    Namespace,
    /// apps/v1 Deployment.
    Deployment,
    /// Pod.
    Pod,
    /// PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// PersistentVolume.
    PersistentVolume,
    /// storage.k8s.io/v1 StorageClass.
    StorageClass,
    /// A Helm release revision (one `helm.sh/release.v1` Secret).
    HelmRelease,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet (its owner only: maps pods to their Deployment).
    ReplicaSet,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
    /// v1 ResourceQuota.
    ResourceQuota,
    /// v1 LimitRange.
    LimitRange,
}

impl ObjectKind {
    /// Every kind, in wire order.
    pub const ALL: [ObjectKind; 15] = [
        Self::Node,
        Self::Namespace,
        Self::Deployment,
        Self::Pod,
        Self::PersistentVolumeClaim,
        Self::PersistentVolume,
        Self::StorageClass,
        Self::HelmRelease,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::ReplicaSet,
        Self::Job,
        Self::CronJob,
        Self::ResourceQuota,
        Self::LimitRange,
    ];

    /// The workload kinds: controllers of pods (and, for ReplicaSets and Jobs, of each
    /// other), each of which the agent's configuration can switch off.
    pub const WORKLOADS: [ObjectKind; 5] = [
        Self::StatefulSet,
        Self::DaemonSet,
        Self::ReplicaSet,
        Self::Job,
        Self::CronJob,
    ];

    /// The kinds that bound what a namespace may use — quotas and limit ranges — each of
    /// which the agent's configuration can switch off.
    pub const QUOTAS: [ObjectKind; 2] = [Self::ResourceQuota, Self::LimitRange];

    /// Whether objects of this kind live in a namespace.
    pub const fn is_namespaced(self) -> bool {
        matches!(
            self,
            Self::Deployment
                | Self::Pod
                | Self::PersistentVolumeClaim
                | Self::HelmRelease
                | Self::StatefulSet
                | Self::DaemonSet
                | Self::ReplicaSet
                | Self::Job
                | Self::CronJob
                | Self::ResourceQuota
                | Self::LimitRange
        )
    }
}

/// Identifies one object. The uid distinguishes a re-created object from the one deleted
/// before it under the same name; `namespace` is empty for cluster-scoped kinds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// Kind.
    pub kind: ObjectKind,
    /// Namespace, or empty.
    pub namespace: String,
    /// Object name (for Helm releases, the storage Secret's name).
    pub name: String,
    /// Object uid (for Helm releases, the storage Secret's uid).
    #[serde(with = "crate::uid")]
    pub uid: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{:?} {} ({})", self.kind, self.name, self.uid)
        } else {
            write!(
                f,
                "{:?} {}/{} ({})",
                self.kind, self.namespace, self.name, self.uid
            )
        }
    }
}

/// One inventory object, as its projection. Variant order matches [`ObjectKind`] up to Helm
/// releases, then come projections that replaced an earlier layout (the earlier variant keeps
/// its index so that older agents' frames still decode; the hub upgrades them with
/// [`Object::upgraded`]), then kinds added later, in the order they were added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Object {
    /// A node.
    Node(NodeProjection),
    /// A namespace.
    Namespace(NamespaceProjection),
    /// A deployment.
    Deployment(DeploymentProjection),
    /// A pod as agents before labels, images and container states send it.
    LegacyPod(LegacyPodProjection),
    /// A claim.
    PersistentVolumeClaim(PvcProjection),
    /// A volume.
    PersistentVolume(PersistentVolumeProjection),
    /// A storage class.
    StorageClass(StorageClassProjection),
    /// A Helm release revision.
    HelmRelease(HelmReleaseProjection),
    /// A pod, with its labels, images and container states.
    Pod(PodProjection),
    /// A StatefulSet.
    StatefulSet(StatefulSetProjection),
    /// A DaemonSet.
    DaemonSet(DaemonSetProjection),
    /// A ReplicaSet's owner.
    ReplicaSet(ReplicaSetProjection),
    /// A Job.
    Job(JobProjection),
    /// A CronJob.
    CronJob(CronJobProjection),
    /// A ResourceQuota.
    ResourceQuota(ResourceQuotaProjection),
    /// A LimitRange.
    LimitRange(LimitRangeProjection),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Node(_) => ObjectKind::Node,
            Self::Namespace(_) => ObjectKind::Namespace,
            Self::Deployment(_) => ObjectKind::Deployment,
            Self::Pod(_) | Self::LegacyPod(_) => ObjectKind::Pod,
            Self::PersistentVolumeClaim(_) => ObjectKind::PersistentVolumeClaim,
            Self::PersistentVolume(_) => ObjectKind::PersistentVolume,
            Self::StorageClass(_) => ObjectKind::StorageClass,
            Self::HelmRelease(_) => ObjectKind::HelmRelease,
            Self::StatefulSet(_) => ObjectKind::StatefulSet,
            Self::DaemonSet(_) => ObjectKind::DaemonSet,
            Self::ReplicaSet(_) => ObjectKind::ReplicaSet,
            Self::Job(_) => ObjectKind::Job,
            Self::CronJob(_) => ObjectKind::CronJob,
            Self::ResourceQuota(_) => ObjectKind::ResourceQuota,
            Self::LimitRange(_) => ObjectKind::LimitRange,
        }
    }

    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        let (namespace, name, uid) = match self {
            Self::Node(o) => ("", o.name.clone(), &o.uid),
            Self::Namespace(o) => ("", o.name.clone(), &o.uid),
            Self::Deployment(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::Pod(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::LegacyPod(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::PersistentVolumeClaim(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::PersistentVolume(o) => ("", o.name.clone(), &o.uid),
            Self::StorageClass(o) => ("", o.name.clone(), &o.uid),
            Self::HelmRelease(o) => (o.namespace.as_str(), o.secret_name(), &o.uid),
            Self::StatefulSet(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::DaemonSet(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::ReplicaSet(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::Job(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::CronJob(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::ResourceQuota(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
            Self::LimitRange(o) => (o.namespace.as_str(), o.name.clone(), &o.uid),
        };
        ObjectKey {
            kind: self.kind(),
            namespace: namespace.to_owned(),
            name,
            uid: uid.clone(),
        }
    }
}

impl Object {
    /// The object in the current projection of its kind: what an older agent sent in a
    /// superseded layout is converted (what it did not send stays empty).
    pub fn upgraded(self) -> Object {
        match self {
            Self::LegacyPod(pod) => Self::Pod(pod.into()),
            current => current,
        }
    }
}

/// One step of the change stream. Append only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A full listing of these kinds follows.
    SnapshotBegin {
        /// The kinds being relisted.
        kinds: Vec<ObjectKind>,
    },
    /// The object was created or changed (or is part of a snapshot).
    Upsert(Object),
    /// The object was deleted.
    Delete(ObjectKey),
    /// The listing of these kinds is complete: objects of these kinds not upserted since the
    /// matching `SnapshotBegin` are gone.
    SnapshotEnd {
        /// The kinds whose listing ended.
        kinds: Vec<ObjectKind>,
    },
}

/// Changes sent together. Sequence numbers and acknowledgements belong to the transport
/// envelope, not here, so that the same batch can be stored or replayed unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBatch {
    /// When the collector closed the batch (freshness measurements start here).
    pub produced_at: UnixMillis,
    /// The changes, in the order they happened.
    pub changes: Vec<Change>,
}

impl Change {
    /// The change with its object in the current projection ([`Object::upgraded`]).
    pub fn upgraded(self) -> Change {
        match self {
            Self::Upsert(object) => Self::Upsert(object.upgraded()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
