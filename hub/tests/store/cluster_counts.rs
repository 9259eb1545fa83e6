//! The live counts ingest keeps on each cluster row (nodes, ready nodes, namespaces,
//! deployments, pods): they follow every ingest path — snapshot, delta upsert and delete,
//! readiness changes, snapshot pruning, replays, batches of many clusters merged into one
//! group — and always equal a recount of the live rows.

use kubeworkz_hub::store::{ClusterCounts, DEFAULT_ORG, IngestOutcome, Store};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{Condition, ConditionStatus};

use crate::fixtures::{
    Cursors, agent_cluster, batch, delete_of, deployment, namespace, node, pod, snapshot,
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

async fn kept(store: &dyn Store, org: OrgId, cluster: ClusterId) -> ClusterCounts {
    store
        .cluster_summary(org, cluster)
        .await
        .unwrap()
        .expect("the cluster")
        .counts
}

/// The kept counts equal a recount of the live rows.
async fn assert_recount(store: &dyn Store, org: OrgId, cluster: ClusterId) {
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
    let store = &*t.store;
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
