//! Merged groups: one group's batches are applied with one statement per kind for all of them,
//! yet each batch keeps its contract. The batches here are all sent before the writer runs
//! (the test runtime is single-threaded and every send finds room in the queue), so each
//! case's batches land in one group: several batches of one cluster, batches of several
//! stages (a delta, then a relist, then more deltas), and a failure inside the merged
//! statements that must be pinned on its own batch.

use futures::future::join_all;
use kubeworkz_hub::store::{Cursor, IngestOutcome, StoreError};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;

use crate::fixtures::*;
use crate::group_commit::{clusters, install_poison_trigger, reference};
use crate::harness::TestStore;

fn web_pod(cluster: usize, n: usize, phase: PodPhase) -> Object {
    pod(
        "web",
        &format!("web-{n}"),
        &format!("c{cluster}-p{n}"),
        phase,
    )
}

/// One cluster's stream, sent all at once: a full sync; updates; a batch that deletes a pod,
/// relists (the relist lacks pod 1, so it is pruned) and then re-creates pod 2 under a new
/// uid; and a last delta.
fn stream_of(cluster: usize) -> Vec<Vec<Change>> {
    let first: Vec<Object> = (0..6)
        .map(|n| web_pod(cluster, n, PodPhase::Pending))
        .collect();
    let relisted: Vec<Object> = [0, 2, 3, 4, 5]
        .into_iter()
        .map(|n| web_pod(cluster, n, PodPhase::Running))
        .collect();
    let mut staged = vec![delete_of(&web_pod(cluster, 5, PodPhase::Running))];
    staged.extend(snapshot(&[ObjectKind::Pod], &relisted));
    staged.push(delete_of(&web_pod(cluster, 2, PodPhase::Running)));
    staged.push(Change::Upsert(pod(
        "web",
        "web-2",
        &format!("c{cluster}-p2-again"),
        PodPhase::Pending,
    )));
    vec![
        snapshot(&[ObjectKind::Pod], &first),
        (0..3)
            .map(|n| Change::Upsert(web_pod(cluster, n, PodPhase::Running)))
            .collect(),
        staged,
        vec![Change::Upsert(web_pod(cluster, 7, PodPhase::Running))],
    ]
}

/// Sends every cluster's stream (`epoch`, seqs from 1) at once; outcomes per cluster, in
/// stream order.
async fn send_all(
    t: &TestStore,
    org: OrgId,
    ids: &[ClusterId],
    epoch: u64,
    streams: &[Vec<Vec<Change>>],
) -> Vec<Vec<Result<IngestOutcome, StoreError>>> {
    let store = &t.store;
    let mut sends = Vec::new();
    // Interleaved, as agents send: every cluster's first batch, then every second one, …
    let longest = streams.iter().map(Vec::len).max().unwrap_or(0);
    for position in 0..longest {
        for (i, id) in ids.iter().enumerate() {
            let Some(changes) = streams[i].get(position) else {
                continue;
            };
            let cursor = Cursor {
                epoch,
                seq: position as u64 + 1,
            };
            sends.push(async move {
                let result = store
                    .ingest_changes(org, *id, cursor, &batch(changes.clone()))
                    .await;
                (i, result)
            });
        }
    }
    let mut out: Vec<Vec<_>> = ids.iter().map(|_| Vec::new()).collect();
    for (i, result) in join_all(sends).await {
        out[i].push(result);
    }
    out
}

pub async fn a_clusters_consecutive_batches_in_one_group_apply_in_order(t: TestStore) {
    let (org, ids) = clusters(&t, 5).await;
    let streams: Vec<_> = (0..ids.len()).map(stream_of).collect();
    for round in 0..2 {
        let want = if round == 0 {
            IngestOutcome::Applied
        } else {
            IngestOutcome::Duplicate
        };
        for outcomes in send_all(&t, org, &ids, 7, &streams).await {
            let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
            assert_eq!(outcomes, vec![want; 4], "round {round}");
        }
    }
    for (i, id) in ids.iter().enumerate() {
        let live = live(&t.store, org, *id).await;
        assert_eq!(live, reference(&streams[i]), "cluster {i}");
        assert!(
            !live.contains(&web_pod(i, 1, PodPhase::Running)),
            "the relist pruned pod 1"
        );
    }
    // Within one group, a batch past a hole is refused while its cluster's next batch in
    // order is applied, and replays of the same position are duplicates.
    let store = &t.store;
    let late = |seq, n| {
        let id = ids[0];
        async move {
            store
                .ingest_changes(
                    org,
                    id,
                    Cursor { epoch: 7, seq },
                    &batch(vec![Change::Upsert(web_pod(0, n, PodPhase::Running))]),
                )
                .await
                .unwrap()
        }
    };
    let outcomes = join_all([late(7, 20), late(5, 21), late(5, 22), late(4, 23)]).await;
    assert_eq!(
        outcomes,
        vec![
            IngestOutcome::Gap { last: 4 },
            IngestOutcome::Applied,
            IngestOutcome::Duplicate,
            IngestOutcome::Duplicate,
        ]
    );
    let mut want = streams[0].clone();
    want.push(vec![Change::Upsert(web_pod(0, 21, PodPhase::Running))]);
    assert_eq!(live(store, org, ids[0]).await, reference(&want));
}

pub async fn a_failing_batch_in_a_merged_group_is_refused_alone_in_sequence(t: TestStore) {
    let (org, ids) = clusters(&t, 4).await;
    install_poison_trigger(&t).await;
    let good = |i: usize| -> Vec<Vec<Change>> {
        vec![
            vec![Change::Upsert(node(
                &format!("node-{i}"),
                &format!("n-{i}"),
            ))],
            vec![Change::Upsert(namespace("web", &format!("ns-{i}"), None))],
            vec![Change::Upsert(web_pod(i, 0, PodPhase::Running))],
        ]
    };
    // Cluster 2's second batch is poisoned: its first batch stands, the poisoned one is
    // refused with its own error, and the third (now past a hole) is a gap.
    let bad = 2;
    let mut streams: Vec<_> = (0..ids.len()).map(good).collect();
    streams[bad][1] = vec![
        Change::Upsert(node("node-extra", "n-extra")),
        Change::Upsert(namespace("poison", "ns-poison", None)),
    ];
    let outcomes = send_all(&t, org, &ids, 3, &streams).await;
    for (i, outcomes) in outcomes.into_iter().enumerate() {
        if i == bad {
            let [first, second, third]: [_; 3] = outcomes.try_into().unwrap();
            assert_eq!(first.unwrap(), IngestOutcome::Applied);
            assert!(
                matches!(second, Err(StoreError::Query(_))),
                "the poisoned batch fails with its own database error: {second:?}"
            );
            assert_eq!(third.unwrap(), IngestOutcome::Gap { last: 1 });
            assert_eq!(
                live(&t.store, org, ids[i]).await,
                reference(&streams[i][..1]),
                "only the first batch is stored"
            );
        } else {
            let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
            assert_eq!(outcomes, vec![IngestOutcome::Applied; 3], "cluster {i}");
            assert_eq!(live(&t.store, org, ids[i]).await, reference(&streams[i]));
        }
    }
}
