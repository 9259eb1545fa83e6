//! Ingest: the store reaches the same state as the reference `Inventory` from the same change
//! stream, exactly once per cursor, keeping the history cost needs.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kubeworkz_hub::store::{Cursor, DEFAULT_ORG, IngestOutcome};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::time::UnixMillis;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::fixtures::*;
use crate::harness::TestStore;

async fn setup(t: &TestStore) -> (OrgId, ClusterId) {
    let org = t.store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(&t.store, org, "prod-eu-1").await;
    (org, cluster)
}

fn expected(inventory: &Inventory) -> Vec<Object> {
    inventory.objects().cloned().collect()
}

pub async fn a_snapshot_then_deltas_match_the_reference_inventory(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let mut reference = Inventory::new();
    let mut cursors = Cursors::new(7);
    let kinds = [
        ObjectKind::Node,
        ObjectKind::Namespace,
        ObjectKind::Deployment,
        ObjectKind::Pod,
    ];
    let batches = vec![
        snapshot(
            &kinds,
            &[
                node("node-a", "n-1"),
                namespace("web", "ns-1", Some("platform")),
                deployment("web", "web", "d-1", 2),
                pod("web", "web-1", "p-1", PodPhase::Running),
                pod("web", "web-2", "p-2", PodPhase::Running),
            ],
        ),
        vec![
            Change::Upsert(deployment("web", "web", "d-1", 3)),
            Change::Upsert(pod("web", "web-3", "p-3", PodPhase::Pending)),
            Change::Upsert(pod("web", "web-3", "p-3", PodPhase::Running)),
            delete_of(&pod("web", "web-1", "p-1", PodPhase::Running)),
        ],
        vec![
            Change::Upsert(helm_release("web", "nginx", 1, "h-1")),
            Change::Upsert(helm_release("web", "nginx", 2, "h-2")),
        ],
    ];
    for changes in batches {
        reference.apply_all(&changes);
        let outcome = store
            .ingest_changes(org, cluster, cursors.next(), &batch(changes))
            .await
            .unwrap();
        assert_eq!(outcome, IngestOutcome::Applied);
    }
    assert_eq!(live(store, org, cluster).await, expected(&reference));
    let counts = store.inventory_counts(org, cluster).await.unwrap();
    assert_eq!(counts[&ObjectKind::Pod], 2);
    assert_eq!(
        counts[&ObjectKind::HelmRelease],
        2,
        "each revision is its own row"
    );
    let cluster_row = store.cluster(org, cluster).await.unwrap().unwrap();
    assert!(cluster_row.last_sync_at.is_some());
}

pub async fn a_replayed_batch_changes_nothing_and_a_gap_is_refused(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let first = batch(snapshot(
        &[ObjectKind::Namespace],
        &[namespace("a", "1", None)],
    ));
    let cursor = Cursor { epoch: 1, seq: 1 };
    assert_eq!(
        store
            .ingest_changes(org, cluster, cursor, &first)
            .await
            .unwrap(),
        IngestOutcome::Applied
    );
    let second = batch(vec![delete_of(&namespace("a", "1", None))]);
    let cursor2 = Cursor { epoch: 1, seq: 2 };
    store
        .ingest_changes(org, cluster, cursor2, &second)
        .await
        .unwrap();
    // Replaying the first batch (a reconnect resending unacked work) must not resurrect `a`.
    assert_eq!(
        store
            .ingest_changes(org, cluster, cursor, &first)
            .await
            .unwrap(),
        IngestOutcome::Duplicate
    );
    assert!(live(store, org, cluster).await.is_empty());
    // Seq 4 after 2: something was lost in between; nothing is applied.
    let later = batch(vec![Change::Upsert(namespace("b", "2", None))]);
    assert_eq!(
        store
            .ingest_changes(org, cluster, Cursor { epoch: 1, seq: 4 }, &later)
            .await
            .unwrap(),
        IngestOutcome::Gap { last: 2 }
    );
    assert!(live(store, org, cluster).await.is_empty());
    // A new epoch (restarted agent) starts over with a full sync, from any seq.
    let resync = batch(snapshot(
        &[ObjectKind::Namespace],
        &[namespace("b", "2", None)],
    ));
    assert_eq!(
        store
            .ingest_changes(org, cluster, Cursor { epoch: 2, seq: 1 }, &resync)
            .await
            .unwrap(),
        IngestOutcome::Applied
    );
    assert_eq!(
        live(store, org, cluster).await,
        vec![namespace("b", "2", None)]
    );
}

pub async fn a_relist_removes_what_was_deleted_while_disconnected(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let mut cursors = Cursors::new(1);
    let kinds = [ObjectKind::Namespace, ObjectKind::Pod];
    let before = [
        namespace("a", "ns-a", None),
        namespace("b", "ns-b", None),
        pod("a", "p1", "p-1", PodPhase::Running),
        pod("b", "p2", "p-2", PodPhase::Running),
    ];
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(snapshot(&kinds, &before)),
        )
        .await
        .unwrap();
    // Disconnected: namespace b and its pod were deleted, a pod was added. The relist arrives
    // split over several batches, as a large one would.
    let mut relist = snapshot(
        &kinds,
        &[
            namespace("a", "ns-a", None),
            pod("a", "p1", "p-1", PodPhase::Running),
            pod("a", "p3", "p-3", PodPhase::Running),
        ],
    );
    let tail = relist.split_off(2);
    store
        .ingest_changes(org, cluster, cursors.next(), &batch(relist))
        .await
        .unwrap();
    // A delta for another kind arriving mid-snapshot is applied and survives the prune.
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(vec![Change::Upsert(node("node-a", "n-1"))]),
        )
        .await
        .unwrap();
    store
        .ingest_changes(org, cluster, cursors.next(), &batch(tail))
        .await
        .unwrap();
    let names: BTreeSet<String> = live(store, org, cluster)
        .await
        .iter()
        .map(|o| o.key().name)
        .collect();
    assert_eq!(names, ["a", "node-a", "p1", "p3"].map(String::from).into());
}

pub async fn deleted_pods_keep_their_history(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let mut cursors = Cursors::new(1);
    let old = pod("web", "web-0", "uid-old", PodPhase::Running);
    let new = pod("web", "web-0", "uid-new", PodPhase::Running);
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(vec![Change::Upsert(old.clone())]),
        )
        .await
        .unwrap();
    // A StatefulSet pod re-created under the same name: the new uid replaces the old in the
    // live view, and the old one's row stays, ended, for the cost of the hours it ran.
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(vec![Change::Upsert(new.clone())]),
        )
        .await
        .unwrap();
    // A late delete of the old uid does not touch the new pod.
    store
        .ingest_changes(org, cluster, cursors.next(), &batch(vec![delete_of(&old)]))
        .await
        .unwrap();
    let live_pods = store
        .inventory(org, cluster, ObjectKind::Pod, true)
        .await
        .unwrap();
    assert_eq!(live_pods.len(), 1);
    assert_eq!(live_pods[0].object, new);
    let all = store
        .inventory(org, cluster, ObjectKind::Pod, false)
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "history kept: {all:?}");
    let ended: Vec<_> = all.iter().filter(|r| r.deleted_at.is_some()).collect();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].object, old);
    assert!(ended[0].deleted_at.unwrap() >= ended[0].first_seen_at);
}

/// Random streams over a few names and uids, cut into random batches, compared after every
/// batch with the reference. Seeds are fixed so a failure reproduces.
pub async fn random_streams_match_the_reference_inventory(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let mut rng = StdRng::seed_from_u64(0x6b77);
    let mut reference = Inventory::new();
    let mut cursors = Cursors::new(42);
    let kinds = [
        ObjectKind::Namespace,
        ObjectKind::Pod,
        ObjectKind::Deployment,
    ];
    for round in 0..40 {
        let mut changes = Vec::new();
        for _ in 0..rng.random_range(1..30) {
            let name = format!("n{}", rng.random_range(0..6));
            let uid = format!("u{}", rng.random_range(0..3));
            // Pods and deployments live in namespaces the stream also creates and deletes.
            let ns = format!("n{}", rng.random_range(0..4));
            let object = match rng.random_range(0..3) {
                0 => namespace(&name, &format!("{name}-{uid}"), Some("t")),
                1 => pod(&ns, &name, &format!("{ns}-{name}-{uid}"), PodPhase::Running),
                _ => deployment(
                    &ns,
                    &name,
                    &format!("{ns}-{name}-{uid}"),
                    rng.random_range(0..4),
                ),
            };
            match rng.random_range(0..10) {
                0 => {
                    let kind = kinds[rng.random_range(0..kinds.len())];
                    changes.push(Change::SnapshotBegin { kinds: vec![kind] });
                }
                1 => {
                    let kind = kinds[rng.random_range(0..kinds.len())];
                    changes.push(Change::SnapshotEnd { kinds: vec![kind] });
                }
                2..=4 => changes.push(delete_of(&object)),
                _ => changes.push(Change::Upsert(object)),
            }
        }
        reference.apply_all(&changes);
        store
            .ingest_changes(org, cluster, cursors.next(), &batch(changes))
            .await
            .unwrap();
        let (got, want) = (live(store, org, cluster).await, expected(&reference));
        let keys = |objects: &[Object]| objects.iter().map(Object::key).collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(&want), "after round {round}");
        assert_eq!(got, want, "after round {round}");
        let counts = store
            .cluster_summary(org, cluster)
            .await
            .unwrap()
            .unwrap()
            .counts;
        let n = |kind| got.iter().filter(|o| o.kind() == kind).count() as u64;
        assert_eq!(
            (counts.namespaces, counts.deployments, counts.pods),
            (
                n(ObjectKind::Namespace),
                n(ObjectKind::Deployment),
                n(ObjectKind::Pod)
            ),
            "kept counts after round {round}"
        );
        assert_eq!(
            page_namespace_counts(store, org, cluster).await,
            namespace_counts_of(&got),
            "namespace page counts after round {round}"
        );
    }
}

pub async fn usage_is_additive_and_exactly_once(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let hour: DateTime<Utc> = "2026-11-26T08:00:00Z".parse().unwrap();
    let bucket = |cpu: u64, max: u64| UsageBucket {
        namespace: "web".into(),
        pod: "web-1".into(),
        container: "app".into(),
        hour_start: UnixMillis(hour.timestamp_millis()),
        cpu_millicore_seconds: cpu,
        memory_byte_seconds: 1 << 40,
        memory_max_bytes: max,
        samples: 10,
        covered_millis: 300_000,
    };
    let first = Cursor { epoch: 1, seq: 1 };
    store
        .ingest_usage(org, cluster, first, &[bucket(1_000, 5)])
        .await
        .unwrap();
    // Replayed: ignored. A restarted collector's second bucket for the hour: added.
    assert_eq!(
        store
            .ingest_usage(org, cluster, first, &[bucket(1_000, 5)])
            .await
            .unwrap(),
        IngestOutcome::Duplicate
    );
    store
        .ingest_usage(org, cluster, Cursor { epoch: 2, seq: 1 }, &[bucket(500, 9)])
        .await
        .unwrap();
    let usage = store.usage(org, cluster, hour).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].cpu_millicore_seconds, 1_500);
    assert_eq!(usage[0].memory_byte_seconds, 2 << 40);
    assert_eq!(usage[0].memory_max_bytes, 9);
    assert_eq!(usage[0].samples, 20);
    assert_eq!(usage[0].covered_millis, 600_000);
}

pub async fn maintenance_purges_ended_rows_past_retention(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let mut cursors = Cursors::new(1);
    let p = pod("web", "gone", "uid-gone", PodPhase::Running);
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(vec![Change::Upsert(p.clone())]),
        )
        .await
        .unwrap();
    store
        .ingest_changes(org, cluster, cursors.next(), &batch(vec![delete_of(&p)]))
        .await
        .unwrap();
    let keep = pod("web", "live", "uid-live", PodPhase::Running);
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(vec![Change::Upsert(keep)]),
        )
        .await
        .unwrap();
    let report = store
        .maintain(Utc::now(), std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.rows_purged, 0, "ended within retention: kept");
    if t.store.backend() == kubeworkz_hub::store::Backend::Postgres {
        // Three months of pods, usage and the workload usage rollup.
        assert_eq!(report.partitions_created.len(), 9, "{report:?}");
        // Running again is a no-op for partitions.
        let again = store
            .maintain(Utc::now(), std::time::Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(again.partitions_created.is_empty());
    }
    // Pretend a day passed with one hour of retention.
    let later = Utc::now() + chrono::Duration::days(1);
    let report = store
        .maintain(later, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.rows_purged, 1);
    let all = store
        .inventory(org, cluster, ObjectKind::Pod, false)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "the live pod stays");
}
