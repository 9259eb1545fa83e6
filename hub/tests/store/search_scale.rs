//! What keeps search fast at a million pods must keep its answers: pages read in index order
//! per kind and merged walk every match in the answer's order by cursor; the trigram indexes
//! over labels and over namespace and deployment names follow every upsert, relabel, delete
//! and purge; a status no object of a kind can have skips that kind and finds the others.

use chrono::Utc;
use kubeworkz_hub::search::parse;
use kubeworkz_hub::store::{DEFAULT_ORG, Store};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;

use crate::fixtures::{
    Cursors, agent_cluster, batch, delete_of, deployment, dressed_pod, namespace, pod, snapshot,
};
use crate::harness::TestStore;

/// Every hit of `q` as `kind/cluster/name`, walking pages of `limit` by cursor.
async fn walk(store: &Store, org: OrgId, q: &str, limit: u32) -> Vec<String> {
    let hits = crate::search::found(store, org, q, limit).await;
    hits.into_iter()
        .map(|(kind, cluster, name)| format!("{kind}/{cluster}/{name}"))
        .collect()
}

async fn send(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    cursors: &mut Cursors,
    changes: Vec<Change>,
) {
    store
        .ingest_changes(org, cluster, cursors.next(), &batch(changes))
        .await
        .unwrap();
}

fn crashing(name: &str, uid: &str) -> Object {
    let running = pod("web", name, uid, PodPhase::Running);
    dressed_pod(
        running,
        &[("app", "web")],
        "nginx:1.25",
        Some("CrashLoopBackOff"),
    )
}

/// Pods crash-looping in two clusters, with names that tie across them and a namespace and a
/// deployment sharing a name with them: every page boundary falls somewhere new.
pub async fn pages_merged_from_each_kind_walk_every_match_in_order(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let mut expected = Vec::new();
    for cluster_name in ["alpha", "beta"] {
        let cluster = agent_cluster(store, org, cluster_name).await;
        let mut objects = vec![
            namespace("web", &format!("ns-{cluster_name}"), None),
            namespace("api-3", &format!("ns3-{cluster_name}"), None),
            deployment("web", "api-3", &format!("dep-{cluster_name}"), 1),
        ];
        for i in 0..7 {
            let name = format!("api-{i}");
            objects.push(crashing(&name, &format!("uid-{cluster_name}-{i}")));
            objects.push(pod(
                "web",
                &format!("calm-{i}"),
                &format!("calm-{cluster_name}-{i}"),
                PodPhase::Running,
            ));
        }
        store
            .ingest_changes(
                org,
                cluster,
                Cursors::new(1).next(),
                &batch(snapshot(
                    &[
                        ObjectKind::Namespace,
                        ObjectKind::Deployment,
                        ObjectKind::Pod,
                    ],
                    &objects,
                )),
            )
            .await
            .unwrap();
    }
    // Cluster ids are random: the order of a name's two clusters is whatever they sort as.
    let clusters = store
        .search(org, &parse("kind:cluster").unwrap(), None, 10)
        .await
        .unwrap();
    let mut ids: Vec<(String, String)> = clusters
        .hits
        .iter()
        .map(|h| (h.key.cluster_id.clone(), h.cluster_name.clone()))
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 2);
    for i in 0..7 {
        for (_, cluster) in &ids {
            expected.push(format!("pod/{cluster}/api-{i}"));
        }
    }
    for limit in [1, 3, 4, 50] {
        assert_eq!(
            walk(store, org, "status:CrashLoopBackOff", limit).await,
            expected,
            "pages of {limit}"
        );
    }
    // With free text the rank leads (every name here starts with `api`), then the name,
    // the kind and the cluster: `api-3` is a deployment, a namespace and pods.
    let mut ranked = Vec::new();
    for i in 0..7 {
        let kinds: &[&str] = if i == 3 {
            &["deployment", "namespace", "pod"]
        } else {
            &["pod"]
        };
        for kind in kinds {
            for (_, cluster) in &ids {
                ranked.push(format!("{kind}/{cluster}/api-{i}"));
            }
        }
    }
    for limit in [1, 2, 5, 50] {
        assert_eq!(
            walk(store, org, "api", limit).await,
            ranked,
            "pages of {limit}"
        );
    }
}

/// Labels and names found through the trigram indexes follow what ingest stores.
pub async fn label_and_name_indexes_follow_relabels_deletes_and_purges(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let c = agent_cluster(store, org, "alpha").await;
    let mut cursors = Cursors::new(1);
    let web = dressed_pod(
        pod("shop", "cart-1", "uid-cart", PodPhase::Running),
        &[("app", "cart"), ("tier", "front")],
        "cart:1",
        None,
    );
    let objects = vec![
        namespace("shop", "ns-shop", Some("payments")),
        deployment("shop", "cart-frontend", "dep-cart", 1),
        web.clone(),
    ];
    send(
        store,
        org,
        c,
        &mut cursors,
        snapshot(
            &[
                ObjectKind::Namespace,
                ObjectKind::Deployment,
                ObjectKind::Pod,
            ],
            &objects,
        ),
    )
    .await;
    let found = |q: &'static str| async move { walk(store, org, q, 50).await };
    assert_eq!(found("label:app=cart").await, ["pod/alpha/cart-1"]);
    assert_eq!(
        found("label:TIER=Front").await,
        ["pod/alpha/cart-1"],
        "any case"
    );
    assert_eq!(
        found("label:app=car").await,
        Vec::<String>::new(),
        "values match whole"
    );
    assert_eq!(found("label:app=c*").await, ["pod/alpha/cart-1"]);
    assert_eq!(found("label:team=payments").await, ["namespace/alpha/shop"]);
    assert_eq!(found("frontend").await, ["deployment/alpha/cart-frontend"]);
    assert_eq!(
        found("label:tier -label:app=cart").await,
        Vec::<String>::new(),
        "negation reads the row"
    );
    // Relabel the pod (an upsert that changes labels) and one that keeps them.
    let basket = |uid: &str| {
        let running = pod("shop", "cart-1", uid, PodPhase::Running);
        dressed_pod(running, &[("app", "basket")], "cart:2", None)
    };
    let relabelled = basket("uid-cart");
    send(
        store,
        org,
        c,
        &mut cursors,
        vec![Change::Upsert(relabelled.clone())],
    )
    .await;
    send(
        store,
        org,
        c,
        &mut cursors,
        vec![Change::Upsert(relabelled.clone())],
    )
    .await;
    assert!(found("label:app=cart").await.is_empty(), "old label gone");
    assert!(found("label:tier").await.is_empty());
    assert_eq!(found("label:app=basket").await, ["pod/alpha/cart-1"]);
    send(
        store,
        org,
        c,
        &mut cursors,
        vec![Change::Upsert(namespace(
            "shop",
            "ns-shop",
            Some("billing"),
        ))],
    )
    .await;
    assert!(found("label:team=payments").await.is_empty());
    assert_eq!(found("label:team=billing").await, ["namespace/alpha/shop"]);
    send(
        store,
        org,
        c,
        &mut cursors,
        vec![
            delete_of(&relabelled),
            delete_of(&deployment("shop", "cart-frontend", "dep-cart", 1)),
        ],
    )
    .await;
    assert!(found("label:app=basket").await.is_empty(), "deleted");
    assert!(found("frontend").await.is_empty(), "deleted");
    store
        .maintain(
            Utc::now() + chrono::Duration::days(400),
            std::time::Duration::from_secs(86_400),
        )
        .await
        .unwrap();
    let again = basket("uid-cart-2");
    send(
        store,
        org,
        c,
        &mut cursors,
        vec![
            Change::Upsert(again),
            Change::Upsert(deployment("shop", "cart-frontend", "dep-cart-2", 1)),
        ],
    )
    .await;
    assert_eq!(
        found("label:app=basket").await,
        ["pod/alpha/cart-1"],
        "purged, then added"
    );
    assert_eq!(found("frontend").await, ["deployment/alpha/cart-frontend"]);
    assert_eq!(
        found("ab").await,
        Vec::<String>::new(),
        "too short for trigrams, still answered"
    );
    assert_eq!(found("rt-fr").await, ["deployment/alpha/cart-frontend"]);
    let facets = store
        .search_facets(org, &parse("status:Available").unwrap())
        .await
        .unwrap();
    assert_eq!(facets.total, 1, "a deployment's status is still found");
    let facets = store
        .search_facets(org, &parse("status:CrashLoopBackOff").unwrap())
        .await
        .unwrap();
    assert_eq!(facets.total, 0, "no deployment or node is crash-looping");
}
