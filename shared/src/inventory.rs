//! The reference materialization of a change stream: objects by key, with snapshot pruning.
//!
//! This pins down what the [`Change`] messages mean, in one place both sides can test against:
//! the collector keeps its own view with it, and the hub's store must reach the same state
//! from the same stream.
//!
//! - `Upsert` replaces the object with the same kind, namespace and name (a new uid means the
//!   object was re-created).
//! - `Delete` removes the object only if its uid matches, so a late delete of a deleted
//!   object cannot remove the re-created one.
//! - `SnapshotBegin{kinds}` starts tracking which objects of those kinds are upserted;
//!   `SnapshotEnd{kinds}` removes those of each kind that were not. An end without a begin
//!   removes nothing: pruning on a partial view would delete live objects.
//!
//! What is kept per object is a type parameter ([`Keep`]): the reference keeps whole
//! [`Object`]s, while the collector keeps only what it reads back (`collect::Kept`), so that
//! 10k pods cost it a few hundred bytes each instead of their projections — and both follow
//! the rules above, because the rules need nothing but a kept object's uid.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::{Change, Object, ObjectKey, ObjectKind};

type Slot = (ObjectKind, String, String);

/// What an [`Inventory`] keeps of each upserted object.
pub trait Keep {
    /// What to keep of `object`.
    fn keep(object: &Object) -> Self;
    /// The uid of the object this was kept from (deletes apply only when it matches).
    fn uid(&self) -> &str;
}

impl Keep for Object {
    fn keep(object: &Object) -> Self {
        object.clone()
    }

    fn uid(&self) -> &str {
        match self {
            Self::Node(o) => &o.uid,
            Self::Namespace(o) => &o.uid,
            Self::Deployment(o) => &o.uid,
            Self::Pod(o) => &o.uid,
            Self::LegacyPod(o) => &o.uid,
            Self::PersistentVolumeClaim(o) => &o.uid,
            Self::PersistentVolume(o) => &o.uid,
            Self::StorageClass(o) => &o.uid,
            Self::HelmRelease(o) => &o.uid,
            Self::StatefulSet(o) => &o.uid,
            Self::DaemonSet(o) => &o.uid,
            Self::ReplicaSet(o) => &o.uid,
            Self::Job(o) => &o.uid,
            Self::CronJob(o) => &o.uid,
            Self::ResourceQuota(o) => &o.uid,
            Self::LimitRange(o) => &o.uid,
        }
    }
}

/// Objects as the change stream describes them; `V` is what is kept of each (by default the
/// whole object).
#[derive(Debug, Clone)]
pub struct Inventory<V = Object> {
    objects: BTreeMap<Slot, V>,
    snapshots: BTreeMap<ObjectKind, BTreeSet<(String, String)>>,
}

impl<V> Default for Inventory<V> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            snapshots: BTreeMap::new(),
        }
    }
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// All objects, ordered by kind, namespace and name.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.objects.values()
    }

    /// Keys of all objects, in the same order as [`Inventory::objects`].
    pub fn keys(&self) -> impl Iterator<Item = ObjectKey> + '_ {
        self.objects.values().map(Object::key)
    }
}

impl<V: Keep> Inventory<V> {
    /// Applies one change.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::SnapshotBegin { kinds } => {
                for kind in kinds {
                    self.snapshots.insert(*kind, BTreeSet::new());
                }
            }
            Change::Upsert(object) => {
                let key = object.key();
                if let Some(seen) = self.snapshots.get_mut(&key.kind) {
                    seen.insert((key.namespace.clone(), key.name.clone()));
                }
                self.objects
                    .insert((key.kind, key.namespace, key.name), V::keep(object));
            }
            Change::Delete(key) => {
                let slot = (key.kind, key.namespace.clone(), key.name.clone());
                if self.objects.get(&slot).is_some_and(|o| o.uid() == key.uid) {
                    self.objects.remove(&slot);
                }
            }
            Change::SnapshotEnd { kinds } => {
                for kind in kinds {
                    if let Some(seen) = self.snapshots.remove(kind) {
                        self.objects.retain(|(k, namespace, name), _| {
                            k != kind || seen.contains(&(namespace.clone(), name.clone()))
                        });
                    }
                }
            }
        }
    }

    /// Applies changes in order.
    pub fn apply_all<'a>(&mut self, changes: impl IntoIterator<Item = &'a Change>) {
        for change in changes {
            self.apply(change);
        }
    }
}

impl<V> Inventory<V> {
    /// What is kept of the object of `kind` named `name` in `namespace` (empty for
    /// cluster-scoped kinds).
    pub fn get(&self, kind: ObjectKind, namespace: &str, name: &str) -> Option<&V> {
        self.objects
            .get(&(kind, namespace.to_owned(), name.to_owned()))
    }

    /// What is kept of every object of `kind`, ordered by namespace and name.
    pub fn of_kind(&self, kind: ObjectKind) -> impl Iterator<Item = &V> {
        let from = (kind, String::new(), String::new());
        self.objects
            .range(from..)
            .take_while(move |((k, _, _), _)| *k == kind)
            .map(|(_, kept)| kept)
    }

    /// How many objects of `kind` there are.
    pub fn count(&self, kind: ObjectKind) -> usize {
        self.of_kind(kind).count()
    }

    /// Total number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when there are no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn names(inventory: &Inventory) -> Vec<String> {
        inventory
            .keys()
            .map(|k| format!("{}:{}", k.name, k.uid))
            .collect()
    }

    fn snapshot(kinds: &[ObjectKind], objects: Vec<Object>) -> Vec<Change> {
        let mut changes = vec![Change::SnapshotBegin {
            kinds: kinds.to_vec(),
        }];
        changes.extend(objects.into_iter().map(Change::Upsert));
        changes.push(Change::SnapshotEnd {
            kinds: kinds.to_vec(),
        });
        changes
    }

    fn delete(name: &str, uid: &str) -> Change {
        Change::Delete(ObjectKey {
            kind: ObjectKind::Namespace,
            namespace: String::new(),
            name: name.into(),
            uid: uid.into(),
        })
    }

    #[test]
    fn upserts_replace_and_deletes_remove() {
        let mut inv = Inventory::new();
        inv.apply_all(&[Change::Upsert(ns("a", "1")), Change::Upsert(ns("b", "2"))]);
        inv.apply(&Change::Upsert(ns("a", "3"))); // re-created under the same name
        assert_eq!(names(&inv), ["a:3", "b:2"]);
        inv.apply(&delete("b", "2"));
        assert_eq!(names(&inv), ["a:3"]);
        assert_eq!(inv.count(ObjectKind::Namespace), 1);
        assert!(inv.get(ObjectKind::Namespace, "", "a").is_some());
    }

    #[test]
    fn a_late_delete_of_an_older_uid_keeps_the_recreated_object() {
        let mut inv = Inventory::new();
        inv.apply_all(&[Change::Upsert(ns("a", "new")), delete("a", "old")]);
        assert_eq!(names(&inv), ["a:new"]);
    }

    #[test]
    fn a_snapshot_removes_what_was_deleted_while_disconnected() {
        let mut inv = Inventory::new();
        inv.apply_all(&snapshot(
            &[ObjectKind::Namespace],
            vec![ns("a", "1"), ns("b", "2"), ns("c", "3")],
        ));
        assert_eq!(inv.len(), 3);
        // Reconnect: b was deleted and d created while the watch was down.
        inv.apply_all(&snapshot(
            &[ObjectKind::Namespace],
            vec![ns("a", "1"), ns("c", "3"), ns("d", "4")],
        ));
        assert_eq!(names(&inv), ["a:1", "c:3", "d:4"]);
    }

    #[test]
    fn a_snapshot_prunes_only_its_own_kinds() {
        let mut inv = Inventory::new();
        inv.apply(&Change::Upsert(ns("a", "1")));
        inv.apply_all(&snapshot(&[ObjectKind::Pod], vec![]));
        assert_eq!(names(&inv), ["a:1"]);
        // An empty snapshot of namespaces means there are none.
        inv.apply_all(&snapshot(&[ObjectKind::Namespace], vec![]));
        assert!(inv.is_empty());
    }

    #[test]
    fn an_end_without_a_begin_prunes_nothing() {
        let mut inv = Inventory::new();
        inv.apply_all(&[
            Change::Upsert(ns("a", "1")),
            Change::SnapshotEnd {
                kinds: vec![ObjectKind::Namespace],
            },
        ]);
        assert_eq!(names(&inv), ["a:1"]);
    }

    #[test]
    fn the_collectors_view_follows_the_reference() {
        use crate::collect::Kept;
        let mut stream = vec![
            Change::Upsert(ns("a", "1")),
            Change::Upsert(ns("b", "2")),
            Change::Upsert(ns("a", "3")), // re-created under the same name
            delete("a", "1"),             // late delete of the old one: keeps the new one
        ];
        stream.extend(snapshot(
            &[ObjectKind::Namespace],
            vec![ns("a", "3"), ns("c", "4")],
        ));
        let mut reference = Inventory::new();
        let mut kept: Inventory<Kept> = Inventory::default();
        reference.apply_all(&stream);
        kept.apply_all(&stream);
        assert_eq!(names(&reference), ["a:3", "c:4"]);
        assert_eq!(kept.count(ObjectKind::Namespace), 2);
        assert_eq!(kept.len(), reference.len());
        for key in reference.keys() {
            let got = kept.get(key.kind, &key.namespace, &key.name);
            assert_eq!(got.map(Keep::uid), Some(key.uid.as_str()));
        }
    }
}
