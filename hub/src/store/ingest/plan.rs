//! Turns a [`ChangeBatch`](kubeworkz_shared::change::ChangeBatch)'s changes into a few
//! set-based writes per kind, with the meaning [`Inventory::apply`] gives them.
//!
//! A batch is cut at its snapshot markers into segments. Inside a segment only upserts and
//! deletes remain, and those are compacted per object slot (kind, namespace, name): what
//! matters is the slot's final state, so a pod updated five times in 100 ms is written once.
//! Each segment becomes, per kind:
//!
//! - `upserts`: the final object of every slot that ends live;
//! - `slot_clears`: `(namespace, name, keep_uid)` — soft-delete every live row in the slot
//!   except `keep_uid` (an upsert with a new uid replaces the re-created object's
//!   predecessor; `keep_uid = ""` clears the slot, since real uids are never empty);
//! - `uid_deletes`: uids deleted from slots the segment never upserted (a delete applies only
//!   to the uid it names, so a late delete cannot remove a re-created object).
//!
//! The conformance suite checks the store against [`Inventory`] on the same streams.
//!
//! [`Inventory`]: kubeworkz_shared::inventory::Inventory
//! [`Inventory::apply`]: kubeworkz_shared::inventory::Inventory::apply

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use kubeworkz_shared::change::{Change, Object, ObjectKind};

/// One step of applying a batch, in order.
#[derive(Debug, PartialEq)]
pub(crate) enum Step<'a> {
    /// A relist of these kinds starts.
    Begin(&'a [ObjectKind]),
    /// Compacted writes, per kind.
    Writes(BTreeMap<ObjectKind, KindWrites<'a>>),
    /// The relist of these kinds is complete.
    End(&'a [ObjectKind]),
}

/// The writes of one segment for one kind.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct KindWrites<'a> {
    /// Objects that end the segment live.
    pub upserts: Vec<&'a Object>,
    /// `(namespace, name, keep_uid)`: soft-delete live rows of the slot but `keep_uid`.
    pub slot_clears: Vec<(&'a str, Cow<'a, str>, &'a str)>,
    /// Uids to soft-delete.
    pub uid_deletes: Vec<&'a str>,
    /// The namespaces of the slots of `uid_deletes` (once per slot): with `slot_clears`'
    /// they are every namespace whose live rows the segment may change, which SQLite's
    /// kept namespace counts recount (see `namespace_counts`).
    pub uid_delete_namespaces: Vec<&'a str>,
}

#[derive(Default)]
struct Slot<'a> {
    upserted: bool,
    live: Option<&'a Object>,
    deleted_uids: Vec<&'a str>,
}

type SlotKey<'a> = (ObjectKind, &'a str, Cow<'a, str>);

/// Plans `changes`; see the module docs.
pub(crate) fn plan(changes: &[Change]) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    let mut order: Vec<SlotKey<'_>> = Vec::new();
    let mut slots: HashMap<SlotKey<'_>, Slot<'_>> = HashMap::new();
    for change in changes {
        match change {
            Change::SnapshotBegin { kinds } => {
                flush(&mut steps, &mut order, &mut slots);
                steps.push(Step::Begin(kinds));
            }
            Change::SnapshotEnd { kinds } => {
                flush(&mut steps, &mut order, &mut slots);
                steps.push(Step::End(kinds));
            }
            Change::Upsert(object) => {
                let (namespace, name, _) = parts(object);
                let slot = slot(&mut order, &mut slots, (object.kind(), namespace, name));
                slot.upserted = true;
                slot.live = Some(object);
            }
            Change::Delete(key) => {
                let slot = slot(
                    &mut order,
                    &mut slots,
                    (
                        key.kind,
                        key.namespace.as_str(),
                        Cow::Borrowed(key.name.as_str()),
                    ),
                );
                match slot.live {
                    Some(live) if parts(live).2 == key.uid => slot.live = None,
                    Some(_) => {} // names another uid than the live one: no effect
                    None if !slot.upserted => slot.deleted_uids.push(&key.uid),
                    None => {} // the slot is cleared entirely already
                }
            }
        }
    }
    flush(&mut steps, &mut order, &mut slots);
    steps
}

fn slot<'s, 'a>(
    order: &mut Vec<SlotKey<'a>>,
    slots: &'s mut HashMap<SlotKey<'a>, Slot<'a>>,
    key: SlotKey<'a>,
) -> &'s mut Slot<'a> {
    if !slots.contains_key(&key) {
        order.push(key.clone());
    }
    slots.entry(key).or_default()
}

fn flush<'a>(
    steps: &mut Vec<Step<'a>>,
    order: &mut Vec<SlotKey<'a>>,
    slots: &mut HashMap<SlotKey<'a>, Slot<'a>>,
) {
    if order.is_empty() {
        return;
    }
    let mut writes: BTreeMap<ObjectKind, KindWrites<'a>> = BTreeMap::new();
    for key in order.drain(..) {
        let slot = slots
            .remove(&key)
            .expect("every ordered slot is in the map");
        let (kind, namespace, name) = key;
        let out = writes.entry(kind).or_default();
        match slot.live {
            Some(object) => {
                out.upserts.push(object);
                out.slot_clears.push((namespace, name, parts(object).2));
            }
            None if slot.upserted => out.slot_clears.push((namespace, name, "")),
            None => {
                out.uid_deletes.extend(slot.deleted_uids);
                out.uid_delete_namespaces.push(namespace);
            }
        }
    }
    steps.push(Step::Writes(writes));
}

/// Namespace, name and uid of an object, as in [`Object::key`] but borrowed where possible:
/// a Helm release revision's name is its storage Secret's, which is derived.
pub(crate) fn parts(object: &Object) -> (&str, Cow<'_, str>, &str) {
    match object {
        Object::Node(o) => ("", Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::Namespace(o) => ("", Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::Deployment(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::Pod(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::LegacyPod(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::PersistentVolumeClaim(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::PersistentVolume(o) => ("", Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::StorageClass(o) => ("", Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::HelmRelease(o) => (&o.namespace, Cow::Owned(o.secret_name()), &o.uid),
        Object::StatefulSet(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::DaemonSet(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::ReplicaSet(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::Job(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::CronJob(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::ResourceQuota(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
        Object::LimitRange(o) => (&o.namespace, Cow::Borrowed(o.name.as_str()), &o.uid),
    }
}

#[cfg(test)]
mod tests;
