use std::collections::BTreeMap;

use kubeworkz_shared::change::{ObjectKey, ObjectKind};
use kubeworkz_shared::model::namespace::{NamespacePhase, NamespaceProjection};

use super::*;

fn ns(name: &str, uid: &str) -> Object {
    Object::Namespace(NamespaceProjection {
        name: name.into(),
        uid: uid.into(),
        labels: BTreeMap::new(),
        phase: NamespacePhase::Active,
        created: None,
    })
}

fn delete(name: &str, uid: &str) -> Change {
    Change::Delete(ObjectKey {
        kind: ObjectKind::Namespace,
        namespace: String::new(),
        name: name.into(),
        uid: uid.into(),
    })
}

fn only_writes<'a>(steps: &'a [Step<'a>]) -> &'a KindWrites<'a> {
    let [Step::Writes(writes)] = steps else {
        panic!("expected one writes step, got {steps:?}")
    };
    &writes[&ObjectKind::Namespace]
}

#[test]
fn repeated_upserts_of_a_slot_write_once_with_the_last_state() {
    let changes = [
        Change::Upsert(ns("a", "1")),
        Change::Upsert(ns("b", "2")),
        Change::Upsert(ns("a", "1")),
    ];
    let steps = plan(&changes);
    let w = only_writes(&steps);
    assert_eq!(
        w.upserts,
        vec![&changes[2], &changes[1]]
            .into_iter()
            .map(|c| match c {
                Change::Upsert(o) => o,
                _ => unreachable!(),
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        w.slot_clears,
        vec![("", "a".into(), "1"), ("", "b".into(), "2")]
    );
    assert!(w.uid_deletes.is_empty());
}

#[test]
fn upsert_then_delete_of_the_same_uid_clears_the_whole_slot() {
    // Inventory: the upsert replaced whatever lived in the slot, then the delete removed it.
    let changes = [Change::Upsert(ns("a", "2")), delete("a", "2")];
    let steps = plan(&changes);
    let w = only_writes(&steps);
    assert!(w.upserts.is_empty());
    assert_eq!(w.slot_clears, vec![("", "a".into(), "")]);
}

#[test]
fn a_delete_alone_names_its_uid_and_a_stale_delete_spares_the_new_object() {
    let changes = [
        delete("a", "1"),
        Change::Upsert(ns("b", "new")),
        delete("b", "old"),
    ];
    let steps = plan(&changes);
    let w = only_writes(&steps);
    assert_eq!(w.uid_deletes, vec!["1"]);
    assert_eq!(
        w.uid_delete_namespaces,
        vec![""],
        "the deleted slot's namespace"
    );
    assert_eq!(w.upserts.len(), 1);
    assert_eq!(w.slot_clears, vec![("", "b".into(), "new")]);
}

#[test]
fn snapshot_markers_cut_segments_in_order() {
    let kinds = vec![ObjectKind::Namespace];
    let changes = [
        Change::Upsert(ns("a", "1")),
        Change::SnapshotBegin {
            kinds: kinds.clone(),
        },
        Change::Upsert(ns("a", "1")),
        Change::SnapshotEnd {
            kinds: kinds.clone(),
        },
    ];
    let steps = plan(&changes);
    assert_eq!(steps.len(), 4);
    assert!(matches!(steps[0], Step::Writes(_)));
    assert_eq!(steps[1], Step::Begin(&kinds));
    assert!(matches!(steps[2], Step::Writes(_)));
    assert_eq!(steps[3], Step::End(&kinds));
}

#[test]
fn an_empty_batch_plans_nothing() {
    assert!(plan(&[]).is_empty());
}
