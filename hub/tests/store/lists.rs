//! Inventory lists paged by keyset: a page continues after the last object of the one
//! before, in either order, with a name filter, and the total stays the whole list's.

use kubeworkz_hub::store::{
    DEFAULT_ORG, InventoryKey, InventoryQuery, InventorySort, PageRequest, Store,
};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::{ContainerState, PodPhase};
use kubeworkz_shared::time::UnixMillis;

use crate::fixtures::{Cursors, agent_cluster, batch, deployment, namespace, pod, snapshot};
use crate::harness::TestStore;

/// Every page of `query` walked by keyset (`limit` each): the names per page and the total
/// each page reported.
pub(crate) async fn walk(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    mut query: InventoryQuery,
) -> (Vec<Vec<String>>, Vec<u64>) {
    let (mut pages, mut totals) = (Vec::new(), Vec::new());
    loop {
        let (names, total, last): (Vec<String>, u64, Option<InventoryKey>) =
            if query.kind == ObjectKind::Namespace {
                let page = store.namespace_list(org, cluster, &query).await.unwrap();
                let last = page.items.last().map(|n| n.item.key());
                let names = page.items.into_iter().map(|n| n.item.name).collect();
                (names, page.total, last)
            } else {
                let page = store.inventory_page(org, &query).await.unwrap();
                let last = page.items.last().map(|i| i.key());
                let names = page.items.into_iter().map(|i| i.name).collect();
                (names, page.total, last)
            };
        let full = names.len() == query.page.limit as usize;
        if !names.is_empty() {
            pages.push(names);
            totals.push(total);
        }
        match last {
            Some(key) if full => {
                query.page.offset += u64::from(query.page.limit);
                query.after = Some(key);
            }
            _ => return (pages, totals),
        }
    }
}

pub(crate) fn query(kind: ObjectKind, cluster: ClusterId, limit: u32) -> InventoryQuery {
    InventoryQuery::new(kind, Some(cluster), PageRequest { limit, offset: 0 })
}

pub async fn inventory_lists_page_by_keyset_both_ways_with_a_name_filter(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let a = agent_cluster(store, org, "alpha").await;
    let names = ["api", "billing", "cache", "db", "edge", "pay-eu", "pay-us"];
    let mut objects: Vec<_> = names
        .iter()
        .map(|n| namespace(n, &format!("ns-{n}"), None))
        .collect();
    for p in 0..5 {
        let name = format!("web-{p}");
        objects.push(pod("api", &name, &format!("pod-{p}"), PodPhase::Running));
    }
    store
        .ingest_changes(
            org,
            a,
            Cursors::new(1).next(),
            &batch(snapshot(&ObjectKind::ALL, &objects)),
        )
        .await
        .unwrap();

    let (pages, totals) = walk(store, org, a, query(ObjectKind::Namespace, a, 3)).await;
    assert_eq!(
        pages,
        [
            vec!["api", "billing", "cache"],
            vec!["db", "edge", "pay-eu"],
            vec!["pay-us"]
        ]
    );
    assert_eq!(
        totals,
        [7, 7, 7],
        "keyset pages report the whole list's total"
    );
    let down = InventoryQuery {
        descending: true,
        ..query(ObjectKind::Namespace, a, 4)
    };
    let (pages, _) = walk(store, org, a, down).await;
    assert_eq!(
        pages,
        [
            vec!["pay-us", "pay-eu", "edge", "db"],
            vec!["cache", "billing", "api"]
        ]
    );
    let pay = InventoryQuery {
        search: Some("PAY".into()),
        ..query(ObjectKind::Namespace, a, 1)
    };
    let (pages, totals) = walk(store, org, a, pay).await;
    assert_eq!(pages, [vec!["pay-eu"], vec!["pay-us"]]);
    assert_eq!(totals, [2, 2], "a name filter is counted");
    let literal = InventoryQuery {
        search: Some("pay_".into()),
        ..query(ObjectKind::Namespace, a, 10)
    };
    assert!(
        walk(store, org, a, literal).await.0.is_empty(),
        "_ is literal"
    );

    let pods = InventoryQuery {
        namespace: Some("api".into()),
        ..query(ObjectKind::Pod, a, 2)
    };
    let (pages, totals) = walk(store, org, a, pods.clone()).await;
    assert_eq!(
        pages,
        [
            vec!["web-0", "web-1"],
            vec!["web-2", "web-3"],
            vec!["web-4"]
        ]
    );
    assert_eq!(totals, [5, 5, 5]);
    let (theirs, _) = walk(store, other, a, pods).await;
    assert!(theirs.is_empty(), "another organization's list is empty");
}

/// A pod of namespace `api` with `restarts`, on `node`, created `minutes` after a fixed time.
fn pod_with(name: &str, restarts: u32, node: Option<&str>, minutes: i64) -> Object {
    let Object::Pod(mut p) = pod("api", name, &format!("uid-{name}"), PodPhase::Running) else {
        unreachable!("pod builds a pod")
    };
    p.containers[0].restarts = restarts;
    p.node = node.map(str::to_owned);
    p.created = Some(UnixMillis(1_700_000_000_000 + minutes * 60_000));
    Object::Pod(p)
}

/// Names of every page of `query` sorted by `sort`, walked by keyset, `limit` a page.
async fn sorted(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    base: &InventoryQuery,
    sort: InventorySort,
    descending: bool,
) -> Vec<Vec<String>> {
    let query = InventoryQuery {
        sort,
        descending,
        ..base.clone()
    };
    walk(store, org, cluster, query).await.0
}

pub async fn inventory_lists_sort_by_columns_both_ways_across_pages_with_ties(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let a = agent_cluster(store, org, "alpha").await;
    let mut objects = vec![namespace("api", "ns-api", None)];
    // name, restarts, node, minutes after the base time of creation
    let pods = [
        ("p0", 2, Some("n2"), 5),
        ("p1", 0, Some("n1"), 3),
        ("p2", 5, None, 6),
        ("p3", 0, Some("n2"), 1),
        ("p4", 2, Some("n1"), 0),
        ("p5", 0, None, 4),
        ("p6", 1, Some("n1"), 2),
    ];
    for (name, restarts, node, minutes) in pods {
        let mut pod = pod_with(name, restarts, node, minutes);
        if let (Object::Pod(p), "p2" | "p5") = (&mut pod, name) {
            p.containers[0].state = Some(ContainerState::Waiting {
                reason: Some("CrashLoopBackOff".into()),
            });
        }
        objects.push(pod);
    }
    for (name, replicas) in [("d-a", 3), ("d-b", 1), ("d-c", 3), ("d-d", 0)] {
        objects.push(deployment("api", name, &format!("uid-{name}"), replicas));
    }
    store
        .ingest_changes(
            org,
            a,
            Cursors::new(1).next(),
            &batch(snapshot(&ObjectKind::ALL, &objects)),
        )
        .await
        .unwrap();
    let pods = InventoryQuery {
        namespace: Some("api".into()),
        ..query(ObjectKind::Pod, a, 3)
    };
    // sort, descending, the names page by page; pages of three cut through ties
    let cases: [(InventorySort, bool, [&[&str]; 3]); 9] = [
        (
            InventorySort::Restarts,
            false,
            [&["p1", "p3", "p5"], &["p6", "p0", "p4"], &["p2"]],
        ),
        (
            InventorySort::Restarts,
            true,
            [&["p2", "p4", "p0"], &["p6", "p5", "p3"], &["p1"]],
        ),
        // unscheduled pods first
        (
            InventorySort::Node,
            false,
            [&["p2", "p5", "p1"], &["p4", "p6", "p0"], &["p3"]],
        ),
        (
            InventorySort::Node,
            true,
            [&["p3", "p0", "p6"], &["p4", "p1", "p5"], &["p2"]],
        ),
        // youngest first
        (
            InventorySort::Age,
            false,
            [&["p2", "p0", "p5"], &["p1", "p6", "p3"], &["p4"]],
        ),
        (
            InventorySort::Age,
            true,
            [&["p4", "p3", "p6"], &["p1", "p5", "p0"], &["p2"]],
        ),
        // one phase: all ties, by name
        (
            InventorySort::Phase,
            false,
            [&["p0", "p1", "p2"], &["p3", "p4", "p5"], &["p6"]],
        ),
        // the kubectl status: p2 and p5 wait in CrashLoopBackOff, the rest are Running
        (
            InventorySort::Status,
            false,
            [&["p2", "p5", "p0"], &["p1", "p3", "p4"], &["p6"]],
        ),
        (
            InventorySort::Status,
            true,
            [&["p6", "p4", "p3"], &["p1", "p0", "p5"], &["p2"]],
        ),
    ];
    for (sort, descending, want) in cases {
        let got = sorted(store, org, a, &pods, sort, descending).await;
        assert_eq!(got, want, "{sort:?}, descending {descending}");
        let last = InventoryQuery {
            sort,
            descending,
            from_end: true,
            ..pods.clone()
        };
        let page = store.inventory_page(org, &last).await.unwrap();
        let names: Vec<&str> = page.items.iter().map(|i| i.name.as_str()).collect();
        let all = want.concat();
        assert_eq!(
            names,
            all[4..],
            "{sort:?}, descending {descending}: the last 3"
        );
        assert_eq!(page.total, 7);
    }
    let last_namespace = InventoryQuery {
        from_end: true,
        ..query(ObjectKind::Namespace, a, 1)
    };
    let page = store.namespace_list(org, a, &last_namespace).await.unwrap();
    assert_eq!(
        (
            page.items[0].item.name.as_str(),
            page.total,
            page.items[0].counts.pods
        ),
        ("api", 1, 7)
    );

    let named = InventoryQuery {
        search: Some("p".into()),
        ..pods.clone()
    };
    let (_, totals) = walk(
        store,
        org,
        a,
        InventoryQuery {
            sort: InventorySort::Restarts,
            ..named
        },
    )
    .await;
    assert_eq!(
        totals,
        [7, 7, 7],
        "sorted keyset pages report the whole total"
    );

    let deployments = InventoryQuery {
        namespace: Some("api".into()),
        ..query(ObjectKind::Deployment, a, 2)
    };
    let by = |sort, descending| sorted(store, org, a, &deployments, sort, descending);
    assert_eq!(
        by(InventorySort::Ready, false).await,
        [vec!["d-d", "d-b"], vec!["d-a", "d-c"]]
    );
    assert_eq!(
        by(InventorySort::Replicas, true).await,
        [vec!["d-c", "d-a"], vec!["d-b", "d-d"]]
    );
}
