//! ResourceQuotas and LimitRanges are ingested from snapshots and deltas like every kind
//! (matching the reference inventory), changed, deleted, pruned by a relist, read per
//! namespace, scoped by organization and removed with their cluster; a namespace's failing
//! pods are found through the pods' kubectl status and judged like the cluster's.

use kubeworkz_hub::store::{DEFAULT_ORG, Store};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::health::PodFailure;
use kubeworkz_shared::model::pod::PodPhase;

use crate::fixtures::*;
use crate::harness::TestStore;
use crate::support::quotas::*;

const QUOTAS: [ObjectKind; 2] = ObjectKind::QUOTAS;
const CPU: u64 = 1000;

/// The live objects of the quota kinds the store holds, in `Inventory` order.
async fn live_quotas(store: &Store, org: OrgId, cluster: ClusterId) -> Vec<Object> {
    live(store, org, cluster)
        .await
        .into_iter()
        .filter(|o| QUOTAS.contains(&o.kind()))
        .collect()
}

/// Names of the quotas and of the limit ranges `namespace` has.
async fn in_namespace(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    namespace: &str,
) -> (Vec<String>, Vec<String>) {
    let found = store
        .namespace_quotas(org, cluster, namespace)
        .await
        .unwrap();
    (
        found.quotas.into_iter().map(|q| q.name).collect(),
        found.limit_ranges.into_iter().map(|r| r.name).collect(),
    )
}

pub async fn quotas_and_limit_ranges_are_ingested_changed_pruned_and_scoped(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let cluster = agent_cluster(store, org, "quotas-eu").await;
    let compute = |used: u64| {
        quota(
            "payments",
            "compute-resources",
            "q-1",
            &[
                ("pods", 10 * CPU, Some(3 * CPU)),
                ("requests.cpu", 4 * CPU, Some(used)),
            ],
        )
    };
    let objects = quota(
        "payments",
        "object-counts",
        "q-2",
        &[("count/jobs.batch", 5 * CPU, None)],
    );
    let shop = quota(
        "shop",
        "compute",
        "q-3",
        &[("limits.memory", (8 << 30) * CPU, Some(0))],
    );
    let defaults = limit_range("payments", "defaults", "l-1", 2 * CPU);
    let mut cursors = Cursors::new(3);
    let mut reference = Inventory::new();
    let batches = vec![
        snapshot(
            &QUOTAS,
            &[
                compute(CPU),
                objects.clone(),
                shop.clone(),
                defaults.clone(),
            ],
        ),
        // The quota controller counts more CPU; the limit range is raised, then deleted.
        vec![
            Change::Upsert(compute(4 * CPU)),
            Change::Upsert(limit_range("payments", "defaults", "l-1", 4 * CPU)),
            delete_of(&defaults),
        ],
        // A relist of quotas only: object-counts is gone since; the limit ranges are
        // untouched (there are none left).
        snapshot(
            &[ObjectKind::ResourceQuota],
            &[compute(4 * CPU), shop.clone()],
        ),
    ];
    let mut seen = Vec::new();
    for changes in batches {
        reference.apply_all(&changes);
        store
            .ingest_changes(org, cluster, cursors.next(), &batch(changes))
            .await
            .unwrap();
        assert_eq!(
            live_quotas(store, org, cluster).await,
            reference
                .objects()
                .filter(|o| QUOTAS.contains(&o.kind()))
                .cloned()
                .collect::<Vec<_>>()
        );
        seen.push(in_namespace(store, org, cluster, "payments").await);
    }
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [
            (
                names(&["compute-resources", "object-counts"]),
                names(&["defaults"])
            ),
            (names(&["compute-resources", "object-counts"]), names(&[])),
            (names(&["compute-resources"]), names(&[])),
        ]
    );
    // The used-up quotas are found by their fullest resource: CPU at 100 % here, nothing in
    // shop (used 0), and a quota not counted yet never.
    let full_at = |namespace: &'static str, percent: u64| async move {
        store
            .namespace_quotas_full_at(org, cluster, namespace, percent)
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(full_at("payments", 100).await, ["compute-resources"]);
    assert!(full_at("payments", 101).await.is_empty());
    assert_eq!(full_at("payments", 30).await, ["compute-resources"]);
    assert!(full_at("shop", 100).await.is_empty());
    assert_eq!(full_at("shop", 0).await, ["compute"]);
    assert!(full_at("elsewhere", 0).await.is_empty());
    // What a namespace reads is its own, with the change applied.
    let payments = store
        .namespace_quotas(org, cluster, "payments")
        .await
        .unwrap();
    assert_eq!(payments.quotas[0].resources[1].resource, "requests.cpu");
    assert_eq!(payments.quotas[0].resources[1].used_milli, Some(4 * CPU));
    assert_eq!(
        in_namespace(store, org, cluster, "shop").await,
        (names(&["compute"]), names(&[]))
    );
    let counts = store.inventory_counts(org, cluster).await.unwrap();
    assert_eq!(counts[&ObjectKind::ResourceQuota], 2);
    assert_eq!(counts[&ObjectKind::LimitRange], 0);
    let history = store
        .inventory(org, cluster, ObjectKind::LimitRange, false)
        .await
        .unwrap();
    assert!(
        history[0].deleted_at.is_some(),
        "a deleted range keeps its history"
    );

    // Another organization sees none of it; deleting the cluster removes every row.
    assert_eq!(
        in_namespace(store, other, cluster, "payments").await,
        (names(&[]), names(&[]))
    );
    assert_hidden_then_cascaded(store, (org, other), cluster, &QUOTAS, "q-1").await;
}

pub async fn a_namespaces_failing_pods_are_found_by_status_and_judged(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let cluster = agent_cluster(store, org, "failing").await;
    let other_cluster = agent_cluster(store, other, "failing").await;
    let pods = vec![
        waiting_pod("payments", "api-0", "p-1", "CrashLoopBackOff", false),
        waiting_pod("payments", "api-1", "p-2", "CrashLoopBackOff", true),
        waiting_pod("payments", "worker-0", "p-3", "ImagePullBackOff", false),
        waiting_pod("payments", "starting-0", "p-4", "ContainerCreating", false),
        pod("payments", "fine-0", "p-5", PodPhase::Running),
        waiting_pod("shop", "web-0", "p-6", "CrashLoopBackOff", false),
    ];
    for (org, cluster) in [(org, cluster), (other, other_cluster)] {
        store
            .ingest_changes(
                org,
                cluster,
                Cursors::new(1).next(),
                &batch(snapshot(&[ObjectKind::Pod], &pods)),
            )
            .await
            .unwrap();
    }
    let failing = |org, cluster, namespace: &'static str| async move {
        store
            .namespace_failing_pods(org, cluster, namespace)
            .await
            .unwrap()
            .into_iter()
            .map(|(pod, failure)| (pod.name, failure))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        failing(org, cluster, "payments").await,
        [
            ("api-0".to_owned(), PodFailure::CrashLoopBackOff),
            ("api-1".to_owned(), PodFailure::OomKilled),
            ("worker-0".to_owned(), PodFailure::ImagePull),
        ]
    );
    assert_eq!(
        failing(org, cluster, "shop").await,
        [("web-0".to_owned(), PodFailure::CrashLoopBackOff)]
    );
    // Another organization's cluster of the same pods answers for itself only, and asking
    // this organization's cluster as another organization finds nothing.
    assert_eq!(failing(other, other_cluster, "shop").await.len(), 1);
    assert!(failing(other, cluster, "payments").await.is_empty());

    // The pod recovers and another is deleted: neither fails any more.
    let mut cursors = Cursors::new(1);
    cursors.next();
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(vec![
                Change::Upsert(pod("payments", "api-0", "p-1", PodPhase::Running)),
                delete_of(&pods[2]),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        failing(org, cluster, "payments").await,
        [("api-1".to_owned(), PodFailure::OomKilled)]
    );
}
