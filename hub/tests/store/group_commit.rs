//! Group commit: concurrent batches share transactions, yet each keeps its own contract —
//! atomic, exactly once per cursor, its own outcome — and closing the store drains the queue.

use futures::future::join_all;
use kubeworkz_hub::store::{Cursor, DEFAULT_ORG, IngestOutcome, StoreError};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::pod::PodPhase;

use crate::fixtures::*;
use crate::harness::TestStore;

pub async fn clusters(t: &TestStore, n: usize) -> (OrgId, Vec<ClusterId>) {
    let org = t.store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(agent_cluster(&t.store, org, &format!("group-{i:02}")).await);
    }
    (org, ids)
}

/// The batches one cluster sends: a snapshot, then deltas (updates, a delete, a new pod).
fn stream_of(cluster: usize) -> Vec<Vec<Change>> {
    let pod_n = |n: usize, phase| {
        pod(
            "web",
            &format!("web-{n}"),
            &format!("c{cluster}-p{n}"),
            phase,
        )
    };
    let first: Vec<Object> = std::iter::once(namespace("web", &format!("c{cluster}-ns"), None))
        .chain((0..20).map(|n| pod_n(n, PodPhase::Pending)))
        .collect();
    vec![
        snapshot(&[ObjectKind::Namespace, ObjectKind::Pod], &first),
        (0..10)
            .map(|n| Change::Upsert(pod_n(n, PodPhase::Running)))
            .collect(),
        vec![
            delete_of(&pod_n(3, PodPhase::Running)),
            Change::Upsert(pod_n(20, PodPhase::Running)),
        ],
    ]
}

pub fn reference(batches: &[Vec<Change>]) -> Vec<Object> {
    let mut inventory = Inventory::new();
    for changes in batches {
        inventory.apply_all(changes);
    }
    inventory.objects().cloned().collect()
}

pub async fn concurrent_batches_of_many_clusters_each_apply_once(t: TestStore) {
    let (org, ids) = clusters(&t, 12).await;
    let store = &t.store;
    // Every cluster's stream at once (each cluster in order, as one agent sends), then every
    // batch again: replays in the same groups as fresh work must be recognised one by one.
    for round in 0..2 {
        let outcomes = join_all(ids.iter().enumerate().map(|(i, id)| async move {
            let mut cursors = Cursors::new(40 + i as u64);
            let mut outcomes = Vec::new();
            for changes in stream_of(i) {
                let outcome = store
                    .ingest_changes(org, *id, cursors.next(), &batch(changes))
                    .await
                    .unwrap();
                outcomes.push(outcome);
            }
            outcomes
        }))
        .await;
        let want = if round == 0 {
            IngestOutcome::Applied
        } else {
            IngestOutcome::Duplicate
        };
        for outcomes in outcomes {
            assert_eq!(outcomes, vec![want; 3], "round {round}");
        }
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(live(store, org, *id).await, reference(&stream_of(i)));
    }
    // A batch past a hole is refused without touching anything.
    let gap = store
        .ingest_changes(
            org,
            ids[0],
            Cursor { epoch: 40, seq: 9 },
            &batch(vec![Change::Upsert(node("late", "n-late"))]),
        )
        .await
        .unwrap();
    assert_eq!(gap, IngestOutcome::Gap { last: 3 });
    assert_eq!(live(store, org, ids[0]).await, reference(&stream_of(0)));
}

/// A namespace named `poison` is refused by the database itself (a trigger), so the batch
/// carrying it fails after it has already written a node.
pub async fn install_poison_trigger(t: &TestStore) {
    t.execute_raw(
        &[
            "CREATE TRIGGER poison BEFORE INSERT ON k8s_namespaces WHEN NEW.name = 'poison' \
           BEGIN SELECT RAISE(ABORT, 'poisoned namespace'); END",
        ],
        &[
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poisoned namespace'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON k8s_namespaces \
             FOR EACH ROW EXECUTE FUNCTION poison()",
        ],
    )
    .await;
}

pub async fn a_failing_batch_amid_good_ones_rolls_back_only_itself(t: TestStore) {
    let (org, ids) = clusters(&t, 9).await;
    let store = &t.store;
    install_poison_trigger(&t).await;
    let bad = 4;
    let results = join_all(ids.iter().enumerate().map(|(i, id)| async move {
        let mut changes = vec![Change::Upsert(node(
            &format!("node-{i}"),
            &format!("n-{i}"),
        ))];
        let name = if i == bad { "poison" } else { "web" };
        changes.push(Change::Upsert(namespace(name, &format!("ns-{i}"), None)));
        store
            .ingest_changes(org, *id, Cursor { epoch: 1, seq: 1 }, &batch(changes))
            .await
    }))
    .await;
    for (i, result) in results.into_iter().enumerate() {
        let counts = store.inventory_counts(org, ids[i]).await.unwrap();
        if i == bad {
            assert!(
                matches!(result, Err(StoreError::Query(_))),
                "the poisoned batch fails with its own database error: {result:?}"
            );
            // Rolled back whole: the node written before the failure is gone, and the cursor
            // did not move, so the corrected batch is accepted at the same position.
            assert_eq!(counts.get(&ObjectKind::Node).copied().unwrap_or(0), 0);
        } else {
            assert_eq!(result.unwrap(), IngestOutcome::Applied, "cluster {i}");
            assert_eq!(counts[&ObjectKind::Node], 1, "cluster {i}");
            assert_eq!(counts[&ObjectKind::Namespace], 1, "cluster {i}");
        }
    }
    let fixed = vec![
        Change::Upsert(node("node-fixed", "n-fixed")),
        Change::Upsert(namespace("web", "ns-fixed", None)),
    ];
    let outcome = store
        .ingest_changes(
            org,
            ids[bad],
            Cursor { epoch: 1, seq: 1 },
            &batch(fixed.clone()),
        )
        .await
        .unwrap();
    assert_eq!(outcome, IngestOutcome::Applied);
    assert_eq!(live(store, org, ids[bad]).await, reference(&[fixed]));
}

pub async fn closing_the_store_applies_every_queued_batch(t: TestStore) {
    let (org, ids) = clusters(&t, 10).await;
    let store = t.store.clone();
    let sends = join_all(ids.iter().enumerate().map(|(i, id)| {
        let store = store.clone();
        async move {
            let changes = snapshot(
                &[ObjectKind::Pod],
                &[pod("web", "web-0", &format!("p-{i}"), PodPhase::Running)],
            );
            store
                .ingest_changes(org, *id, Cursor { epoch: 1, seq: 1 }, &batch(changes))
                .await
        }
    }));
    // The sends queue their batches before the close begins; the close must wait for them.
    let close = async {
        tokio::task::yield_now().await;
        store.close().await;
    };
    let (outcomes, ()) = tokio::join!(sends, close);
    for outcome in outcomes {
        assert_eq!(outcome.unwrap(), IngestOutcome::Applied);
    }
    let late = store
        .ingest_changes(
            org,
            ids[0],
            Cursor { epoch: 1, seq: 2 },
            &batch(vec![Change::Upsert(node("late", "n-late"))]),
        )
        .await;
    assert!(late.is_err(), "a closed store refuses new batches");

    let reopened = t.reopen().await;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            live(&reopened, org, *id).await,
            vec![pod("web", "web-0", &format!("p-{i}"), PodPhase::Running)]
        );
    }
}
