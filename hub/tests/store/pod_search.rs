//! Pods found by what `kubectl get pods` shows: status as kubectl prints it (a container's
//! waiting reason), labels and images; and pods of older agents, upgraded on ingest.

use kubeworkz_hub::search::parse;
use kubeworkz_hub::store::{DEFAULT_ORG, FACET_SCAN, Store};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::OrgId;
use kubeworkz_shared::model::pod::PodPhase;

use crate::fixtures::{Cursors, agent_cluster, batch, dressed_pod, legacy_pod, pod, snapshot};
use crate::harness::TestStore;

/// A running pod with labels and one container of `image`, waiting for `waiting` if given.
fn pod_with(name: &str, labels: &[(&str, &str)], image: &str, waiting: Option<&str>) -> Object {
    let running = pod("web", name, &format!("uid-{name}"), PodPhase::Running);
    dressed_pod(running, labels, image, waiting)
}

async fn names(store: &Store, org: OrgId, q: &str) -> Vec<String> {
    let page = store
        .search(org, &parse(q).unwrap(), None, 50)
        .await
        .unwrap();
    assert!(page.next.is_none(), "{q}: one page");
    page.hits.into_iter().map(|h| h.key.name).collect()
}

pub async fn pods_are_found_by_status_labels_and_images(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let cluster = agent_cluster(store, org, "prod-eu").await;
    let theirs = agent_cluster(store, other, "theirs").await;
    let objects = [
        pod_with(
            "web-crash",
            &[("app", "web"), ("tier", "front")],
            "nginx:1.25",
            Some("CrashLoopBackOff"),
        ),
        pod_with(
            "api-ok",
            &[("app", "api"), ("tier", "batch")],
            "redis:7",
            None,
        ),
        pod_with(
            "web-pull",
            &[("app", "web2")],
            "nginx:1.27",
            Some("ImagePullBackOff"),
        ),
        legacy_pod("web", "old-agent", "uid-old-agent", PodPhase::Failed),
    ];
    store
        .ingest_changes(
            org,
            cluster,
            Cursors::new(1).next(),
            &batch(snapshot(&[ObjectKind::Pod], &objects)),
        )
        .await
        .unwrap();
    let their_objects = [pod_with(
        "their-crash",
        &[("app", "web")],
        "nginx:1.25",
        Some("CrashLoopBackOff"),
    )];
    store
        .ingest_changes(
            other,
            theirs,
            Cursors::new(1).next(),
            &batch(snapshot(&[ObjectKind::Pod], &their_objects)),
        )
        .await
        .unwrap();

    let cases: &[(&str, &[&str])] = &[
        ("status:CrashLoopBackOff", &["web-crash"]),
        ("status:crashloopbackoff kind:pod", &["web-crash"]),
        ("status:*BackOff", &["web-crash", "web-pull"]),
        ("status:Failed", &["old-agent"]),
        ("status:Running", &["api-ok"]),
        (
            "-status:CrashLoopBackOff kind:pod",
            &["api-ok", "old-agent", "web-pull"],
        ),
        ("label:app=web", &["web-crash"]),
        ("label:app=web*", &["web-crash", "web-pull"]),
        ("label:tier kind:pod", &["api-ok", "web-crash"]),
        (
            "-label:tier=batch kind:pod",
            &["old-agent", "web-crash", "web-pull"],
        ),
        ("-label:app kind:pod", &["old-agent"]),
        ("image:nginx:1.25", &["web-crash"]),
        ("image:nginx", &["web-crash", "web-pull"]),
        ("-image:nginx kind:pod", &["api-ok", "old-agent"]),
        (
            "status:CrashLoopBackOff label:app=web image:nginx:1.25 web",
            &["web-crash"],
        ),
        ("old-agent", &["old-agent"]),
    ];
    for (q, expected) in cases {
        assert_eq!(names(store, org, q).await, *expected, "{q}");
    }
    assert_eq!(
        names(store, other, "status:CrashLoopBackOff").await,
        ["their-crash"]
    );

    let facets = store
        .search_facets(org, &parse("kind:pod").unwrap())
        .await
        .unwrap();
    let statuses: Vec<(String, u64)> = facets
        .status
        .iter()
        .map(|c| (c.label.clone(), c.count))
        .collect();
    assert_eq!(
        statuses,
        [
            ("CrashLoopBackOff", 1),
            ("Failed", 1),
            ("ImagePullBackOff", 1),
            ("Running", 1)
        ]
        .map(|(s, n)| (s.to_owned(), n))
    );

    let crash = store
        .inventory_item(org, ObjectKind::Pod, "uid-web-crash")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(crash.status.as_deref(), Some("CrashLoopBackOff"));
    let old = store
        .inventory_item(org, ObjectKind::Pod, "uid-old-agent")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.status.as_deref(), Some("Failed"));
    let stored: kubeworkz_shared::model::PodProjection = serde_json::from_str(&old.data).unwrap();
    assert!(stored.labels.is_empty(), "a legacy pod is stored upgraded");
    assert_eq!(stored.containers[0].image, "");
    let running = store
        .inventory_item(org, ObjectKind::Pod, "uid-api-ok")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.status.as_deref(), Some("Running"));
}

/// A match larger than the scan limit is counted only that far, and says so; a smaller one
/// is counted exactly. Pages read the whole match either way.
pub async fn broad_matches_are_counted_up_to_the_scan_limit(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(store, org, "prod-eu").await;
    let many = FACET_SCAN + 5;
    let objects: Vec<Object> = (0..many)
        .map(|i| {
            pod(
                "web",
                &format!("bulk-{i:05}"),
                &format!("uid-{i}"),
                PodPhase::Running,
            )
        })
        .collect();
    store
        .ingest_changes(
            org,
            cluster,
            Cursors::new(1).next(),
            &batch(snapshot(&[ObjectKind::Pod], &objects)),
        )
        .await
        .unwrap();
    let broad = parse("bulk kind:pod").unwrap();
    let facets = store.search_facets(org, &broad).await.unwrap();
    assert!(facets.total_is_estimate);
    assert_eq!(
        facets.total,
        FACET_SCAN as u64 + 1,
        "counted one past the limit"
    );
    assert_eq!(facets.kind[0].count, FACET_SCAN as u64 + 1);
    let page = store.search(org, &broad, None, 50).await.unwrap();
    assert_eq!(
        page.hits[0].key.name, "bulk-00000",
        "the page still sorts the whole match"
    );
    let last = store
        .search(org, &parse("bulk-01004").unwrap(), None, 50)
        .await
        .unwrap();
    assert_eq!(last.hits.len(), 1);

    let narrow = store
        .search_facets(org, &parse("bulk-0099*").unwrap())
        .await
        .unwrap();
    assert!(!narrow.total_is_estimate);
    assert_eq!(narrow.total, 10);
}
