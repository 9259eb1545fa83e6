//! A cluster's namespaces sorted by their live pods (`sort=pods`), read from the counts
//! ingest keeps: both directions walked by keyset with ties by name, namespaces nothing ever
//! ran in, counts that fell to zero, the last page read from the end, and another cluster's
//! namespace of the same name kept apart.

use kubeworkz_hub::store::{DEFAULT_ORG, InventorySort};
use kubeworkz_shared::change::{Change, Object, ObjectKind};

use crate::fixtures::{
    Cursors, agent_cluster, batch, delete_of, deployment, namespace, pod, snapshot,
};
use crate::harness::TestStore;
use crate::lists::{query, walk};
use kubeworkz_shared::model::pod::PodPhase;

/// `n` running pods in namespace `ns`, uids prefixed by `cluster`.
fn pods(cluster: &str, ns: &str, n: usize) -> Vec<Object> {
    (0..n)
        .map(|i| {
            let name = format!("{ns}-{i}");
            pod(ns, &name, &format!("{cluster}-{name}"), PodPhase::Running)
        })
        .collect()
}

pub async fn namespaces_sort_by_their_live_pods_across_pages(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let alpha = agent_cluster(store, org, "alpha").await;
    let bravo = agent_cluster(store, org, "bravo").await;
    let mut cursors = Cursors::new(1);
    // b never had anything; f has a deployment and no pods; g's pods are deleted below.
    let mut objects: Vec<Object> = ["a", "b", "c", "d", "e", "f", "g"]
        .iter()
        .map(|n| namespace(n, &format!("alpha-ns-{n}"), None))
        .collect();
    objects.push(deployment("f", "web", "alpha-dep-f", 1));
    for (ns, n) in [("a", 3), ("c", 3), ("d", 1), ("e", 5), ("g", 2)] {
        objects.extend(pods("alpha", ns, n));
    }
    store
        .ingest_changes(
            org,
            alpha,
            cursors.next(),
            &batch(snapshot(&ObjectKind::ALL, &objects)),
        )
        .await
        .unwrap();
    let gone: Vec<Change> = pods("alpha", "g", 2).iter().map(delete_of).collect();
    store
        .ingest_changes(org, alpha, cursors.next(), &batch(gone))
        .await
        .unwrap();
    // The same namespace name in another cluster, with more pods than any of alpha's.
    let mut theirs = vec![namespace("a", "bravo-ns-a", None)];
    theirs.extend(pods("bravo", "a", 9));
    store
        .ingest_changes(
            org,
            bravo,
            Cursors::new(1).next(),
            &batch(snapshot(&ObjectKind::ALL, &theirs)),
        )
        .await
        .unwrap();

    let by_pods = |limit, descending| {
        let mut q = query(ObjectKind::Namespace, alpha, limit);
        q.sort = InventorySort::Pods;
        q.descending = descending;
        q
    };
    let (pages, totals) = walk(store, org, alpha, by_pods(2, true)).await;
    assert_eq!(
        pages,
        [["e", "c"], ["a", "d"], ["g", "f"], ["b", ""]]
            .map(|p| p.into_iter().filter(|n| !n.is_empty()).collect::<Vec<_>>())
            .to_vec(),
        "most pods first, ties by name the same way; no pods at all last"
    );
    assert!(totals.iter().all(|t| *t == 7), "{totals:?}");
    let (pages, _) = walk(store, org, alpha, by_pods(3, false)).await;
    assert_eq!(pages, [vec!["b", "f", "g"], vec!["d", "a", "c"], vec!["e"]]);

    let page = store
        .namespace_list(org, alpha, &by_pods(7, true))
        .await
        .unwrap();
    let counts: Vec<(String, u64)> = page
        .items
        .iter()
        .map(|n| (n.item.name.clone(), n.counts.pods))
        .collect();
    let want = [
        ("e", 5),
        ("c", 3),
        ("a", 3),
        ("d", 1),
        ("g", 0),
        ("f", 0),
        ("b", 0),
    ];
    assert_eq!(
        counts,
        want.map(|(n, c)| (n.to_owned(), c)).to_vec(),
        "each row shows the count it sorted by"
    );

    let mut last = by_pods(3, true);
    last.from_end = true;
    let page = store.namespace_list(org, alpha, &last).await.unwrap();
    let names: Vec<&str> = page.items.iter().map(|n| n.item.name.as_str()).collect();
    assert_eq!(
        names,
        ["g", "f", "b"],
        "the last page, read from the end, in order"
    );

    // A pod more in d moves it ahead of a and c.
    store
        .ingest_changes(
            org,
            alpha,
            cursors.next(),
            &batch(
                pods("alpha-more", "d", 3)
                    .into_iter()
                    .map(Change::Upsert)
                    .collect(),
            ),
        )
        .await
        .unwrap();
    let (pages, _) = walk(store, org, alpha, by_pods(3, true)).await;
    assert_eq!(pages[0], ["e", "d", "c"]);
}
