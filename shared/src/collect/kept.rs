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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::change::{Change, ObjectKey};
    use crate::model::namespace::{NamespacePhase, NamespaceProjection};

    fn ns(name: &str, uid: &str) -> Object {
        Object::Namespace(NamespaceProjection {
            name: name.into(),
            uid: uid.into(),
            labels: BTreeMap::new(),
            phase: NamespacePhase::Active,
            created: None,
        })
    }

    #[test]
    fn the_collector_view_follows_the_reference_inventory() {
        let kinds = vec![ObjectKind::Namespace];
        let stream = [
            Change::Upsert(ns("a", "1")),
            Change::Upsert(ns("b", "2")),
            Change::Upsert(ns("a", "3")), // re-created under the same name
            Change::Delete(ObjectKey {
                kind: ObjectKind::Namespace,
                namespace: String::new(),
                name: "a".into(),
                uid: "1".into(), // late delete of the old one: keeps the new one
            }),
            Change::SnapshotBegin {
                kinds: kinds.clone(),
            },
            Change::Upsert(ns("a", "3")),
            Change::Upsert(ns("c", "4")),
            Change::SnapshotEnd { kinds },
        ];
        let mut reference = Inventory::new();
        let mut kept: Inventory<Kept> = Inventory::default();
        reference.apply_all(&stream);
        kept.apply_all(&stream);
        assert_eq!(kept.count(ObjectKind::Namespace), 2);
        for object in reference.objects() {
            let key = object.key();
            let got = kept.get(key.kind, &key.namespace, &key.name);
            assert_eq!(got.map(Keep::uid), Some(key.uid.as_str()));
        }
        assert_eq!(kept.len(), reference.len());
    }
}
