use super::*;

#[test]
fn cursors_round_trip_and_garbage_is_a_bad_request() {
    let key = SearchKey {
        rank: 1,
        name: "web-1".into(),
        kind: SearchKind::HelmRelease,
        cluster_id: "c".into(),
        id: "u".into(),
    };
    assert_eq!(decode_cursor(&encode_cursor(&key)).unwrap(), key);
    for bad in [
        "",
        "!!",
        "e30",
        &URL_SAFE_NO_PAD.encode(r#"[0,"a","widget","c","u"]"#),
    ] {
        assert!(
            matches!(decode_cursor(bad), Err(ApiError::BadRequest(_))),
            "{bad}"
        );
    }
}

#[test]
fn key_labels_come_first_and_are_few() {
    let labels = ["z", "team", "a", "b", "app", "c"]
        .into_iter()
        .map(|k| (k.to_owned(), "v".to_owned()))
        .collect();
    let shown: Vec<String> = key_labels(labels).into_keys().collect();
    assert_eq!(
        shown,
        ["a", "app", "team", "z"],
        "app and team, then the first others"
    );
}

#[test]
fn kinds_without_a_page_link_to_their_cluster() {
    let c = Uuid::nil();
    assert_eq!(
        link(SearchKind::Pod, "u", "web-1", &c),
        "/admin/kubernetes/pods/u"
    );
    assert_eq!(
        link(SearchKind::Node, "u", "node-a", &c),
        format!("/admin/kubernetes/clusters/{c}#nodes")
    );
    assert_eq!(
        link(SearchKind::Pvc, "u", "data-0", &c),
        format!("/admin/kubernetes/clusters/{c}?pvcs.q=data-0#pvcs")
    );
}
