//! Inventory lists paged by keyset: a page continues after the last object of the one
//! before, in either order, with a name filter, and the total stays the whole list's.

use kubeworkz_hub::store::{DEFAULT_ORG, InventoryKey, InventoryQuery, PageRequest, Store};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;

use crate::fixtures::{Cursors, agent_cluster, batch, namespace, pod, snapshot};
use crate::harness::TestStore;

/// Every page of `query` walked by keyset (`limit` each): the names per page and the total
/// each page reported.
async fn walk(
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

fn query(kind: ObjectKind, cluster: ClusterId, limit: u32) -> InventoryQuery {
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
