//! What the collector keeps of the objects it has sent.

use crate::change::{Object, ObjectKind};
use crate::inventory::{Inventory, Keep};
use crate::model::{DeploymentProjection, NodeProjection};

/// The collector's view of one object it has sent downstream: the projection only where the
/// collector reads it back (node readiness and deployments short of replicas for health, nodes
/// for `agent check`'s provider detection), the uid for every other kind. Counting per kind
/// and applying deletes need nothing more, and pods — most of a cluster's objects — are
/// thereby kept in a few hundred bytes each instead of their full projections.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// A node, whole.
    Node(Box<NodeProjection>),
    /// A deployment, whole.
    Deployment(Box<DeploymentProjection>),
    /// Any other kind: its uid.
    Uid(Box<str>),
}

impl Keep for Kept {
    fn keep(object: &Object) -> Self {
        match object {
            Object::Node(node) => Self::Node(Box::new(node.clone())),
            Object::Deployment(deployment) => Self::Deployment(Box::new(deployment.clone())),
            other => Self::Uid(other.uid().into()),
        }
    }

    fn uid(&self) -> &str {
        match self {
            Self::Node(node) => &node.uid,
            Self::Deployment(deployment) => &deployment.uid,
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
}
