//! Search across clusters and kinds: each operator of the query language, AND, negation,
//! wildcards, relevance order, keyset pages, facets, and organization scoping.

use chrono::Utc;
use kubeworkz_hub::search::parse;
use kubeworkz_hub::store::{DEFAULT_ORG, SearchFacets, Store};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{HealthReport, HealthStatus};

use crate::fixtures::{
    Cursors, agent_cluster, batch, delete_of, deployment, helm_release, namespace, node, pod,
    pull_cluster, snapshot,
};
use crate::harness::TestStore;

/// Every hit of `q` as `(kind, cluster name, name)`, walking pages of `limit` by cursor.
pub(crate) async fn found(
    store: &Store,
    org: OrgId,
    q: &str,
    limit: u32,
) -> Vec<(String, String, String)> {
    let query = parse(q).unwrap();
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search(org, &query, after.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.hits.len() <= limit as usize);
        for hit in &page.hits {
            out.push((
                hit.key.kind.as_str().to_owned(),
                hit.cluster_name.clone(),
                hit.key.name.clone(),
            ));
        }
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.hits.len(),
                    limit as usize,
                    "only a full page has a next"
                );
                after = Some(next);
            }
            None => return out,
        }
    }
}

/// The names `q` finds, in order.
async fn names(store: &Store, org: OrgId, q: &str) -> Vec<String> {
    found(store, org, q, 50)
        .await
        .into_iter()
        .map(|(_, _, name)| name)
        .collect()
}

fn labelled(mut object: Object, labels: &[(&str, &str)], images: &[&str]) -> Object {
    let map = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match &mut object {
        Object::Deployment(d) => {
            d.labels = map;
            d.images = images.iter().map(|i| i.to_string()).collect();
        }
        Object::Node(n) => n.labels = map,
        _ => unreachable!("only deployments and nodes are relabelled here"),
    }
    object
}

fn on_node(mut object: Object, node: &str) -> Object {
    if let Object::Pod(p) = &mut object {
        p.node = Some(node.into());
    }
    object
}

async fn ingest(store: &Store, org: OrgId, cluster: ClusterId, objects: &[Object]) {
    store
        .ingest_changes(
            org,
            cluster,
            Cursors::new(1).next(),
            &batch(snapshot(&ObjectKind::ALL, objects)),
        )
        .await
        .unwrap();
}

/// Two clusters of the default organization and one of another, all with a `payments`
/// namespace: `prod-eu` (production, eks, degraded) and `dev-us` (development, never judged).
async fn fleet(store: &Store) -> (OrgId, OrgId, ClusterId) {
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let prod = agent_cluster(store, org, "prod-eu").await;
    store
        .record_identity(org, prod, Some("eks"), Some("v1.31.0"))
        .await
        .unwrap();
    let degraded = HealthReport {
        status: HealthStatus::Degraded,
        reasons: vec![],
    };
    store
        .record_health(org, prod, &degraded, Utc::now())
        .await
        .unwrap();
    let dev = pull_cluster(store, org, "dev-us").await;
    let theirs = agent_cluster(store, other, "prod-eu-other").await;
    let prod_objects = vec![
        labelled(node("ip-10-0-1-5", "pe-node"), &[("zone", "a")], &[]),
        namespace("payments", "pe-ns-pay", Some("pay")),
        namespace("web", "pe-ns-web", None),
        labelled(
            deployment("payments", "payments-api", "pe-dep-api", 2),
            &[("app", "payments-api"), ("tier", "web")],
            &["registry.example/nginx:1.25"],
        ),
        labelled(
            deployment("payments", "batch-runner", "pe-dep-batch", 1),
            &[("tier", "batch")],
            &["busybox:1"],
        ),
        on_node(
            pod("payments", "payments-api-1", "pe-pod-1", PodPhase::Running),
            "ip-10-0-1-5",
        ),
        pod("payments", "payments-api-2", "pe-pod-2", PodPhase::Pending),
        pod("web", "web-payments", "pe-pod-3", PodPhase::Running),
        helm_release("payments", "payments", 3, "pe-helm"),
    ];
    ingest(store, org, prod, &prod_objects).await;
    let dev_objects = vec![
        namespace("payments", "du-ns-pay", None),
        pod("payments", "payments-worker", "du-pod", PodPhase::Pending),
    ];
    ingest(store, org, dev, &dev_objects).await;
    let their_objects = vec![
        namespace("payments", "ot-ns-pay", None),
        pod("payments", "payments-api-9", "ot-pod", PodPhase::Pending),
    ];
    ingest(store, other, theirs, &their_objects).await;
    (org, other, prod)
}

pub async fn free_text_ranks_exact_then_prefix_then_substring_across_clusters(t: TestStore) {
    let store = &t.store;
    let (org, other, _) = fleet(store).await;
    let all = found(store, org, "payments", 50).await;
    let expected = [
        ("helm_release", "prod-eu", "payments"),
        ("namespace", "prod-eu", "payments"),
        ("namespace", "dev-us", "payments"),
        ("deployment", "prod-eu", "payments-api"),
        ("pod", "prod-eu", "payments-api-1"),
        ("pod", "prod-eu", "payments-api-2"),
        ("pod", "dev-us", "payments-worker"),
        ("pod", "prod-eu", "web-payments"),
    ]
    .map(|(k, c, n)| (k.to_owned(), c.to_owned(), n.to_owned()));
    assert_eq!(all, expected, "exact, then prefix, then anywhere; by name");
    for limit in [1, 3, 7, 8] {
        assert_eq!(
            found(store, org, "payments", limit).await,
            expected,
            "pages of {limit} by cursor"
        );
    }
    assert_eq!(
        names(store, org, "PAY*API").await,
        ["payments-api", "payments-api-1", "payments-api-2"],
        "case-insensitive, `*` inside free text"
    );
    assert_eq!(
        names(store, other, "payments").await,
        ["payments", "payments-api-9"],
        "another organization's search sees only its own"
    );
    assert!(
        !found(store, org, "", 500)
            .await
            .iter()
            .any(|(_, c, _)| c == "prod-eu-other"),
        "an empty query matches everything of the organization only"
    );
}

pub async fn each_key_filters_and_terms_combine(t: TestStore) {
    let store = &t.store;
    let (org, _, _) = fleet(store).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "kind:pod payments",
            &[
                "payments-api-1",
                "payments-api-2",
                "payments-worker",
                "web-payments",
            ],
        ),
        (
            "kind:pods status:pending",
            &["payments-api-2", "payments-worker"],
        ),
        (
            "-kind:pod -kind:cluster ns:payments -kind:helm",
            &["batch-runner", "payments", "payments", "payments-api"],
        ),
        ("cluster:prod-* kind:namespace", &["payments", "web"]),
        ("-cluster:prod-* kind:ns", &["payments"]),
        (
            "namespace:payments kind:deploy",
            &["batch-runner", "payments-api"],
        ),
        ("label:tier=batch", &["batch-runner"]),
        ("label:tier", &["batch-runner", "payments-api"]),
        ("label:tier=b*", &["batch-runner"]),
        ("-label:tier=batch kind:deployment", &["payments-api"]),
        ("label:team=pay", &["payments"]),
        ("label:zone=a", &["ip-10-0-1-5"]),
        ("status:Deployed", &["payments"]),
        ("status:NotReady kind:node", &["ip-10-0-1-5"]),
        ("health:degraded kind:cluster", &["prod-eu"]),
        ("health:unknown kind:cluster", &["dev-us"]),
        (
            "health:degraded kind:pod",
            &["payments-api-1", "payments-api-2", "web-payments"],
        ),
        ("node:ip-10-0-*", &["ip-10-0-1-5", "payments-api-1"]),
        ("image:nginx:1.25", &["payments-api"]),
        ("image:nginx", &["payments-api"]),
        ("env:production kind:cluster", &["prod-eu"]),
        ("env:development kind:namespace", &["payments"]),
        ("provider:eks kind:cluster", &["prod-eu"]),
        ("provider:eks -kind:cluster kind:ns", &["payments", "web"]),
        ("kind:cluster", &["dev-us", "prod-eu"]),
        ("kind:pod kind:node", &[]),
        ("payments -payments", &[]),
        ("\"web payments\"", &[]),
        ("web -kind:namespace", &["web-payments"]),
    ];
    for (q, expected) in cases {
        assert_eq!(names(store, org, q).await, *expected, "{q}");
    }
}

pub async fn facets_count_the_whole_match_and_deleted_objects_leave_it(t: TestStore) {
    let store = &t.store;
    let (org, other, prod) = fleet(store).await;
    let query = parse("payments").unwrap();
    let facets = store.search_facets(org, &query).await.unwrap();
    let counts = |list: &[kubeworkz_hub::store::FacetCount]| -> Vec<(String, u64)> {
        list.iter().map(|c| (c.label.clone(), c.count)).collect()
    };
    assert_eq!(facets.total, 8);
    assert_eq!(
        counts(&facets.kind),
        [
            ("pod", 4),
            ("namespace", 2),
            ("deployment", 1),
            ("helm_release", 1)
        ]
        .map(|(k, n)| (k.to_owned(), n))
    );
    assert_eq!(
        counts(&facets.cluster),
        [("prod-eu".to_owned(), 6), ("dev-us".to_owned(), 2)]
    );
    assert_eq!(facets.cluster[0].value, prod.to_string());
    assert_eq!(
        counts(&facets.namespace),
        [("payments".to_owned(), 5), ("web".to_owned(), 1)],
        "namespaces themselves have none"
    );
    assert_eq!(
        counts(&facets.status),
        [
            ("Active", 2),
            ("Pending", 2),
            ("Running", 2),
            ("Available", 1),
            ("Deployed", 1)
        ]
        .map(|(k, n)| (k.to_owned(), n))
    );
    let theirs = store.search_facets(other, &query).await.unwrap();
    assert_eq!(theirs.total, 2);
    let none = store
        .search_facets(org, &parse("kind:pod kind:node").unwrap())
        .await
        .unwrap();
    assert_eq!(none, SearchFacets::default());

    let gone = pod("payments", "payments-api-2", "pe-pod-2", PodPhase::Pending);
    let mut cursors = Cursors::new(1);
    cursors.next();
    store
        .ingest_changes(org, prod, cursors.next(), &batch(vec![delete_of(&gone)]))
        .await
        .unwrap();
    assert_eq!(
        names(store, org, "kind:pod payments-api").await,
        ["payments-api-1"],
        "a deleted pod is not found"
    );
    assert_eq!(store.search_facets(org, &query).await.unwrap().total, 7);
}

pub async fn the_pod_name_index_follows_upserts_deletes_and_purges(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let c = agent_cluster(store, org, "alpha").await;
    let mut cursors = Cursors::new(1);
    let first = pod("web", "checkout-7f9-a", "uid-a", PodPhase::Pending);
    let mut send = |changes| {
        let cursor = cursors.next();
        async move {
            store
                .ingest_changes(org, c, cursor, &batch(changes))
                .await
                .unwrap();
        }
    };
    send(snapshot(&[ObjectKind::Pod], std::slice::from_ref(&first))).await;
    let running = pod("web", "checkout-7f9-a", "uid-a", PodPhase::Running);
    send(vec![kubeworkz_shared::change::Change::Upsert(
        running.clone(),
    )])
    .await;
    assert_eq!(
        names(store, org, "kout-7f9").await,
        ["checkout-7f9-a"],
        "once"
    );
    assert_eq!(
        names(store, org, "status:running kout").await,
        ["checkout-7f9-a"]
    );
    send(vec![delete_of(&running)]).await;
    assert!(names(store, org, "kout-7f9").await.is_empty(), "deleted");
    store
        .maintain(
            Utc::now() + chrono::Duration::days(400),
            std::time::Duration::from_secs(86_400),
        )
        .await
        .unwrap();
    let again = pod("web", "checkout-7f9-a", "uid-b", PodPhase::Running);
    send(vec![kubeworkz_shared::change::Change::Upsert(again)]).await;
    let hits = store
        .search(org, &parse("kout-7f9").unwrap(), None, 10)
        .await
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 1, "purged, then added under a new uid");
    assert_eq!(hits[0].key.id, "uid-b");
}
