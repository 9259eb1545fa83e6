//! What the collector keeps of the objects it has sent.

use crate::change::{Object, ObjectKind};
use crate::inventory::{Inventory, Keep};
use crate::model::health::failing::pod_failure;
use crate::model::health::{ExhaustedQuota, PodFailure};
use crate::model::{DeploymentProjection, NodeProjection};

/// The collector's view of one object it has sent downstream: the projection only where the
/// collector reads it back (node readiness and deployments short of replicas for health, nodes
/// for `agent check`'s provider detection), the uid for every other kind. Counting per kind
/// and applying deletes need nothing more, and pods — most of a cluster's objects — are
/// thereby kept in a few hundred bytes each instead of their full projections; a failing pod
/// keeps its names and why, which health reports, and so does a quota with a resource used up.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// A node, whole.
    Node(Box<NodeProjection>),
    /// A deployment, whole.
    Deployment(Box<DeploymentProjection>),
    /// A pod that crash-loops, cannot pull its image or was OOM-killed.
    FailingPod(Box<FailingPod>),
    /// A ResourceQuota with a resource used up: its uid, names and exhausted resources.
    ExhaustedQuota(Box<(String, ExhaustedQuota)>),
    /// Any other kind (and a pod that is not failing): its uid.
    Uid(Box<str>),
}

/// What is kept of a failing pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingPod {
    /// Object uid.
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// How it fails.
    pub failure: PodFailure,
}

impl Keep for Kept {
    fn keep(object: &Object) -> Self {
        match object {
            Object::Node(node) => Self::Node(Box::new(node.clone())),
            Object::Deployment(deployment) => Self::Deployment(Box::new(deployment.clone())),
            Object::Pod(pod) => match pod_failure(pod) {
                Some(failure) => Self::FailingPod(Box::new(FailingPod {
                    uid: pod.uid.clone(),
                    namespace: pod.namespace.clone(),
                    name: pod.name.clone(),
                    failure,
                })),
                None => Self::Uid(pod.uid.as_str().into()),
            },
            Object::ResourceQuota(quota) => match ExhaustedQuota::of(quota) {
                Some(exhausted) => Self::ExhaustedQuota(Box::new((quota.uid.clone(), exhausted))),
                None => Self::Uid(quota.uid.as_str().into()),
            },
            other => Self::Uid(other.uid().into()),
        }
    }

    fn uid(&self) -> &str {
        match self {
            Self::Node(node) => &node.uid,
            Self::Deployment(deployment) => &deployment.uid,
            Self::FailingPod(pod) => &pod.uid,
            Self::ExhaustedQuota(quota) => &quota.0,
            Self::Uid(uid) => uid,
        }
    }
}

impl Inventory<Kept> {
    /// Every node, ordered by name.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeProjection> {
        self.of_kind(ObjectKind::Node)
            .filter_map(|kept| match kept {
                Kept::Node(node) => Some(&**node),
                _ => None,
            })
    }

    /// Every deployment, ordered by namespace and name.
    pub fn deployments(&self) -> impl Iterator<Item = &DeploymentProjection> {
        self.of_kind(ObjectKind::Deployment)
            .filter_map(|kept| match kept {
                Kept::Deployment(deployment) => Some(&**deployment),
                _ => None,
            })
    }

    /// Every failing pod, ordered by namespace and name.
    pub fn failing_pods(&self) -> impl Iterator<Item = &FailingPod> {
        self.of_kind(ObjectKind::Pod).filter_map(|kept| match kept {
            Kept::FailingPod(pod) => Some(&**pod),
            _ => None,
        })
    }

    /// Every quota with a resource used up, ordered by namespace and name.
    pub fn exhausted_quotas(&self) -> impl Iterator<Item = &ExhaustedQuota> {
        self.of_kind(ObjectKind::ResourceQuota)
            .filter_map(|kept| match kept {
                Kept::ExhaustedQuota(quota) => Some(&quota.1),
                _ => None,
            })
    }
}
