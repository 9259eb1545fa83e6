use super::*;

#[test]
fn each_kind_offers_its_own_sorts_and_name() {
    let keys = |kind| -> Vec<&str> {
        InventorySort::of_kind(kind)
            .into_iter()
            .map(InventorySort::key)
            .collect()
    };
    assert_eq!(
        keys(ObjectKind::Pod),
        ["name", "age", "node", "restarts", "phase", "status"]
    );
    assert_eq!(
        keys(ObjectKind::Deployment),
        ["name", "age", "ready", "replicas"]
    );
    assert_eq!(keys(ObjectKind::Node), ["name", "age"]);
    assert_eq!(keys(ObjectKind::Namespace), ["name", "age", "pods"]);
    assert_eq!(
        keys(ObjectKind::HelmRelease),
        ["name", "age", "status", "chart"]
    );
    assert_eq!(
        keys(ObjectKind::PersistentVolumeClaim),
        ["name", "age", "phase", "capacity", "storage_class"]
    );
    assert_eq!(
        InventorySort::parse(ObjectKind::Pod, "namespace"),
        Some(InventorySort::Name),
        "namespace is the default order of namespaced kinds"
    );
    assert_eq!(InventorySort::parse(ObjectKind::Node, "namespace"), None);
    assert_eq!(InventorySort::parse(ObjectKind::Node, "restarts"), None);
    assert_eq!(InventorySort::parse(ObjectKind::Pod, "bogus"), None);
}

#[test]
fn a_cursor_value_reads_back_as_it_was_written() {
    let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    let cases = [
        (InventorySort::Restarts, SortValue::Int(-3)),
        (InventorySort::Age, SortValue::Time(at)),
        (InventorySort::Node, SortValue::Text("node, a".into())),
    ];
    for (sort, value) in cases {
        let back = sort.value_from_text(ObjectKind::Pod, &value.to_text());
        assert_eq!(back, Some(value));
    }
    assert_eq!(
        InventorySort::Restarts.value_from_text(ObjectKind::Pod, "many"),
        None
    );
    assert_eq!(
        InventorySort::Name.value_from_text(ObjectKind::Pod, "x"),
        None
    );
}

#[test]
fn age_ascending_is_the_latest_time_first() {
    assert!(InventorySort::Age.columns_descending(false));
    assert!(!InventorySort::Age.columns_descending(true));
    assert!(InventorySort::Restarts.columns_descending(true));
    assert!(!InventorySort::Name.columns_descending(false));
}
