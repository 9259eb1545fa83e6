//! The live counts ingest keeps on each cluster row (nodes, ready nodes, namespaces,
//! deployments, pods): they follow every ingest path — snapshot, delta upsert and delete,
//! readiness changes, snapshot pruning, replays, batches of many clusters merged into one
//! group — and always equal a recount of the live rows. So do the namespaces page's
//! deployment and pod counts, whichever arrives first, the namespace or what lives in it.

use kubeworkz_hub::store::{ClusterCounts, DEFAULT_ORG, IngestOutcome, Store};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{Condition, ConditionStatus};

use crate::fixtures::{
    Cursors, agent_cluster, batch, delete_of, deployment, live, namespace, namespace_counts_of,
    node, page_namespace_counts, pod, snapshot,
};
use crate::harness::TestStore;

/// A node whose `Ready` condition is `status`.
fn node_with(name: &str, uid: &str, status: ConditionStatus) -> Object {
    let Object::Node(mut n) = node(name, uid) else {
        unreachable!("node() builds a node")
    };
    n.conditions = vec![Condition {
        type_: "Ready".into(),
        status,
        reason: None,
        last_transition: None,
    }];
    Object::Node(n)
}

async fn kept(store: &Store, org: OrgId, cluster: ClusterId) -> ClusterCounts {
    store
        .cluster_summary(org, cluster)
        .await
        .unwrap()
        .expect("the cluster")
        .counts
}

/// The kept counts equal a recount of the live rows.
async fn assert_recount(store: &Store, org: OrgId, cluster: ClusterId) {
    let live = store.inventory_counts(org, cluster).await.unwrap();
    let of = |kind| live.get(&kind).copied().unwrap_or(0);
    let counts = kept(store, org, cluster).await;
    assert_eq!(
        (
            counts.nodes,
            counts.namespaces,
            counts.deployments,
            counts.pods
        ),
        (
            of(ObjectKind::Node),
            of(ObjectKind::Namespace),
            of(ObjectKind::Deployment),
            of(ObjectKind::Pod)
        ),
        "kept counts of {cluster} equal the live rows"
    );
}

pub async fn kept_cluster_counts_follow_every_ingest_path(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let a = agent_cluster(store, org, "alpha").await;
    let b = agent_cluster(store, org, "bravo").await;
    assert_eq!(kept(store, org, a).await, ClusterCounts::default());

    let gone = pod("web", "web-3", "a-p3", PodPhase::Running);
    let objects = vec![
        node_with("n1", "a-n1", ConditionStatus::True),
        node_with("n2", "a-n2", ConditionStatus::False),
        namespace("web", "a-ns", None),
        deployment("web", "web", "a-dep", 3),
        pod("web", "web-1", "a-p1", PodPhase::Running),
        pod("web", "web-2", "a-p2", PodPhase::Running),
        gone.clone(),
    ];
    let mut cursors = Cursors::new(1);
    let full = batch(snapshot(&ObjectKind::ALL, &objects));
    let first = cursors.next();
    store.ingest_changes(org, a, first, &full).await.unwrap();
    store
        .ingest_changes(
            org,
            b,
            Cursors::new(1).next(),
            &batch(snapshot(
                &[ObjectKind::Pod],
                &[pod("db", "db-0", "b-p1", PodPhase::Running)],
            )),
        )
        .await
        .unwrap();
    let want = ClusterCounts {
        nodes: 2,
        nodes_ready: 1,
        namespaces: 1,
        deployments: 1,
        pods: 3,
    };
    assert_eq!(kept(store, org, a).await, want);
    assert_eq!(kept(store, org, b).await.pods, 1, "the other cluster");

    // Deltas: a node turns Ready, a pod goes, another arrives under a reused name (slot clear).
    let delta = batch(vec![
        Change::Upsert(node_with("n2", "a-n2", ConditionStatus::True)),
        delete_of(&gone),
        Change::Upsert(pod("web", "web-1", "a-p1-new", PodPhase::Pending)),
    ]);
    store
        .ingest_changes(org, a, cursors.next(), &delta)
        .await
        .unwrap();
    let want = ClusterCounts {
        nodes_ready: 2,
        pods: 2,
        ..want
    };
    assert_eq!(kept(store, org, a).await, want);
    assert_recount(store, org, a).await;

    // A replayed batch changes nothing, counts included.
    assert_eq!(
        store.ingest_changes(org, a, first, &full).await.unwrap(),
        IngestOutcome::Duplicate
    );
    assert_eq!(kept(store, org, a).await, want);

    // A relist that lacks the deployment and a pod prunes both.
    let relist = batch(snapshot(
        &[ObjectKind::Deployment, ObjectKind::Pod],
        &[pod("web", "web-2", "a-p2", PodPhase::Running)],
    ));
    store
        .ingest_changes(org, a, cursors.next(), &relist)
        .await
        .unwrap();
    let want = ClusterCounts {
        deployments: 0,
        pods: 1,
        ..want
    };
    assert_eq!(kept(store, org, a).await, want);
    assert_recount(store, org, a).await;
    assert_eq!(
        kept(store, org, b).await.pods,
        1,
        "the other cluster kept its count"
    );

    // Many clusters at once: their batches are merged into shared groups by the writer.
    let mut many = Vec::new();
    for i in 0..12 {
        many.push(agent_cluster(store, org, &format!("many-{i}")).await);
    }
    let fills = many.iter().enumerate().map(|(i, cluster)| async move {
        let pods: Vec<Object> = (0..=i)
            .map(|p| {
                pod(
                    "ns",
                    &format!("p{p}"),
                    &format!("{i}-{p}"),
                    PodPhase::Running,
                )
            })
            .collect();
        let mut cursors = Cursors::new(1);
        store
            .ingest_changes(
                org,
                *cluster,
                cursors.next(),
                &batch(snapshot(&[ObjectKind::Pod], &pods)),
            )
            .await
            .unwrap();
        store
            .ingest_changes(
                org,
                *cluster,
                cursors.next(),
                &batch(vec![delete_of(&pods[0])]),
            )
            .await
            .unwrap();
    });
    futures::future::join_all(fills).await;
    for (i, cluster) in many.iter().enumerate() {
        assert_eq!(kept(store, org, *cluster).await.pods, i as u64, "many-{i}");
        assert_recount(store, org, *cluster).await;
    }

    // Another organization reads nothing of them.
    let other = store.ensure_organization("other").await.unwrap().id;
    assert!(store.cluster_summary(other, a).await.unwrap().is_none());
}

/// The namespaces page's counts equal a recount of the live rows, and are `want`.
async fn assert_namespaces(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    want: &[(&str, u64, u64)],
    after: &str,
) {
    let paged = page_namespace_counts(store, org, cluster).await;
    let recounted = namespace_counts_of(&live(store, org, cluster).await);
    assert_eq!(
        paged, recounted,
        "the page's counts equal a recount after {after}"
    );
    let want: std::collections::BTreeMap<String, (u64, u64)> = want
        .iter()
        .map(|(name, deployments, pods)| (name.to_string(), (*deployments, *pods)))
        .collect();
    assert_eq!(paged, want, "after {after}");
}

pub async fn namespace_counts_follow_every_ingest_path(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let a = agent_cluster(store, org, "alpha").await;
    let b = agent_cluster(store, org, "bravo").await;
    let mut cursors = Cursors::new(1);
    let mut ingest = |changes: Vec<Change>| {
        let cursor = cursors.next();
        async move {
            let outcome = store.ingest_changes(org, a, cursor, &batch(changes)).await;
            assert_eq!(outcome.unwrap(), IngestOutcome::Applied);
        }
    };

    // What lives in a namespace can arrive before it, and is counted when it comes.
    let early = pod("web", "web-0", "p-early", PodPhase::Running);
    ingest(vec![
        Change::Upsert(early.clone()),
        Change::Upsert(deployment("web", "web", "d-web", 2)),
    ])
    .await;
    assert_namespaces(store, org, a, &[], "objects without their namespace").await;
    ingest(vec![Change::Upsert(namespace("web", "ns-web", None))]).await;
    assert_namespaces(store, org, a, &[("web", 1, 1)], "the namespace came").await;

    // A snapshot of everything; another cluster's namespace of the same name stays apart.
    let gone = pod("web", "web-3", "p-gone", PodPhase::Running);
    let objects = vec![
        namespace("web", "ns-web", None),
        namespace("db", "ns-db", None),
        namespace("empty", "ns-empty", None),
        deployment("web", "web", "d-web", 2),
        deployment("web", "api", "d-api", 1),
        deployment("db", "db", "d-db", 1),
        early.clone(),
        pod("web", "web-1", "p-1", PodPhase::Running),
        gone.clone(),
        pod("db", "db-0", "p-db", PodPhase::Running),
    ];
    ingest(snapshot(&ObjectKind::ALL, &objects)).await;
    store
        .ingest_changes(
            org,
            b,
            Cursors::new(1).next(),
            &batch(snapshot(
                &[ObjectKind::Namespace, ObjectKind::Pod],
                &[
                    namespace("web", "b-ns", None),
                    pod("web", "web-0", "b-p", PodPhase::Running),
                ],
            )),
        )
        .await
        .unwrap();
    let full = [("db", 1, 1), ("empty", 0, 0), ("web", 2, 3)];
    assert_namespaces(store, org, a, &full, "the snapshot").await;
    assert_namespaces(store, org, b, &[("web", 0, 1)], "the other cluster").await;

    // Deltas: a delete, a reused name (slot clear), a new pod, a status-only update.
    ingest(vec![
        delete_of(&gone),
        Change::Upsert(pod("web", "web-1", "p-1-new", PodPhase::Pending)),
        Change::Upsert(pod("empty", "e-0", "p-e", PodPhase::Running)),
        Change::Upsert(pod("db", "db-0", "p-db", PodPhase::Succeeded)),
    ])
    .await;
    let deltas = [("db", 1, 1), ("empty", 0, 1), ("web", 2, 2)];
    assert_namespaces(store, org, a, &deltas, "deltas").await;

    // The namespace goes while its pods stay (they are deleted after it, as the API server
    // does), then comes back under a new uid: what is live in it counts again.
    ingest(vec![delete_of(&namespace("web", "ns-web", None))]).await;
    assert_namespaces(
        store,
        org,
        a,
        &[("db", 1, 1), ("empty", 0, 1)],
        "ns deleted",
    )
    .await;
    ingest(vec![delete_of(&early)]).await;
    ingest(vec![Change::Upsert(namespace("web", "ns-web-2", None))]).await;
    let recreated = [("db", 1, 1), ("empty", 0, 1), ("web", 2, 1)];
    assert_namespaces(store, org, a, &recreated, "ns recreated").await;

    // A deleted namespace revived under its own uid counts what is live in it.
    ingest(vec![delete_of(&namespace("db", "ns-db", None))]).await;
    ingest(vec![delete_of(&deployment("db", "db", "d-db", 1))]).await;
    ingest(vec![Change::Upsert(namespace("db", "ns-db", None))]).await;
    let revived = [("db", 0, 1), ("empty", 0, 1), ("web", 2, 1)];
    assert_namespaces(store, org, a, &revived, "ns revived").await;

    // A relist prunes what it lacks.
    ingest(snapshot(
        &[ObjectKind::Deployment, ObjectKind::Pod],
        &[
            deployment("web", "web", "d-web", 2),
            pod("db", "db-0", "p-db", PodPhase::Running),
        ],
    ))
    .await;
    let pruned = [("db", 0, 1), ("empty", 0, 0), ("web", 1, 0)];
    assert_namespaces(store, org, a, &pruned, "relist").await;

    // Purging ended rows changes no live count; deleting a cluster leaves the other's.
    store
        .maintain(chrono::Utc::now(), std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_namespaces(store, org, a, &pruned, "purge").await;
    // A namespace emptied before maintenance (its kept counts at zero, which maintenance
    // deletes) counts what comes back into it.
    ingest(vec![Change::Upsert(pod(
        "empty",
        "e-1",
        "p-e-1",
        PodPhase::Running,
    ))])
    .await;
    let refilled = [("db", 0, 1), ("empty", 0, 1), ("web", 1, 0)];
    assert_namespaces(store, org, a, &refilled, "refilled after maintenance").await;
    assert!(store.delete_cluster(org, a).await.unwrap());
    assert_namespaces(
        store,
        org,
        b,
        &[("web", 0, 1)],
        "the other cluster's delete",
    )
    .await;
}
