//! Leases and replicas: one holder at a time, takeover of a lapsed lease with a greater
//! token, renewal and release only by the holder, fenced writes refused once the lease
//! moved, and the live set of replicas.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use kubeworkz_hub::store::{DEFAULT_ORG, Fence, IngestOutcome, StoreError};
use kubeworkz_shared::change::{Change, ObjectKind};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::time::UnixMillis;

use crate::fixtures::*;
use crate::harness::TestStore;

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(300);

/// Sleeps past a [`SHORT`] lease's expiry.
async fn past_short_expiry() {
    tokio::time::sleep(SHORT + Duration::from_millis(300)).await;
}

pub async fn a_contended_lease_has_one_holder(t: TestStore) {
    let store = &t.store;
    let holders: Vec<String> = (0..8).map(|i| format!("replica-{i}")).collect();
    let grants = join_all(
        holders
            .iter()
            .map(|h| store.acquire_lease("worker:cost", h, LONG)),
    )
    .await;
    let granted: Vec<_> = grants.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(
        granted.len(),
        1,
        "exactly one of the racers wins: {granted:?}"
    );
    let winner = &granted[0];
    assert_eq!(winner.name, "worker:cost");
    assert!(winner.expires_at > Utc::now() + chrono::Duration::seconds(30));

    // The holder asking again keeps its token; anyone else is still refused.
    let again = store
        .acquire_lease("worker:cost", &winner.holder, LONG)
        .await
        .unwrap()
        .expect("the holder gets its own lease again");
    assert_eq!(again.token, winner.token);
    let other = holders.iter().find(|h| **h != winner.holder).unwrap();
    assert!(
        store
            .acquire_lease("worker:cost", other, LONG)
            .await
            .unwrap()
            .is_none()
    );
    let held = store.held_leases("worker:").await.unwrap();
    assert_eq!(held, vec![again.clone()]);
    assert!(store.held_leases("pull:").await.unwrap().is_empty());
}

pub async fn a_lapsed_lease_is_taken_over_with_a_greater_token(t: TestStore) {
    let store = &t.store;
    let first = store
        .acquire_lease("pull:a", "replica-a", SHORT)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .acquire_lease("pull:a", "replica-b", SHORT)
            .await
            .unwrap()
            .is_none(),
        "not before it lapses"
    );
    past_short_expiry().await;
    assert!(
        store.held_leases("pull:").await.unwrap().is_empty(),
        "a lapsed lease is held by nobody"
    );
    let second = store
        .acquire_lease("pull:a", "replica-b", LONG)
        .await
        .unwrap()
        .expect("a lapsed lease is free");
    assert_eq!(second.holder, "replica-b");
    assert!(second.token > first.token, "{second:?} after {first:?}");

    // The old holder has lost it: it cannot renew, release or take it back.
    assert_eq!(store.renew_lease(&first.fence(), LONG).await.unwrap(), None);
    assert!(!store.release_lease(&first.fence()).await.unwrap());
    assert!(
        store
            .acquire_lease("pull:a", "replica-a", LONG)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.check_fence(&first.fence()).await,
        Err(StoreError::Fenced(name)) if name == "pull:a"
    ));
    store.check_fence(&second.fence()).await.unwrap();
}

pub async fn only_the_holder_renews_and_a_release_frees_the_lease(t: TestStore) {
    let store = &t.store;
    let lease = store
        .acquire_lease("worker:maintenance", "replica-a", SHORT)
        .await
        .unwrap()
        .unwrap();
    let forged = Fence {
        holder: "replica-b".into(),
        ..lease.fence()
    };
    assert_eq!(store.renew_lease(&forged, LONG).await.unwrap(), None);
    assert!(!store.release_lease(&forged).await.unwrap());
    let stale_token = Fence {
        token: lease.token - 1,
        ..lease.fence()
    };
    assert_eq!(store.renew_lease(&stale_token, LONG).await.unwrap(), None);

    // Renewed past its first expiry, it is still the holder's.
    let renewed = store
        .renew_lease(&lease.fence(), LONG)
        .await
        .unwrap()
        .expect("the holder renews");
    assert_eq!(renewed.token, lease.token);
    assert!(renewed.expires_at > lease.expires_at);
    past_short_expiry().await;
    assert!(
        store
            .acquire_lease("worker:maintenance", "replica-b", LONG)
            .await
            .unwrap()
            .is_none()
    );

    // Released, another replica takes it at once with a greater token, and the released
    // fence admits nothing any more (not even its own holder's writes).
    assert!(store.release_lease(&lease.fence()).await.unwrap());
    assert!(store.held_leases("worker:").await.unwrap().is_empty());
    assert!(store.check_fence(&lease.fence()).await.is_err());
    let taken = store
        .acquire_lease("worker:maintenance", "replica-b", LONG)
        .await
        .unwrap()
        .expect("a released lease is free");
    assert!(taken.token > lease.token);
    // The first holder coming back also gets a new token.
    assert!(store.release_lease(&taken.fence()).await.unwrap());
    let back = store
        .acquire_lease("worker:maintenance", "replica-a", LONG)
        .await
        .unwrap()
        .unwrap();
    assert!(back.token > taken.token);
}

pub async fn a_write_under_a_moved_lease_is_refused_and_changes_nothing(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = pull_cluster(store, org, "fenced").await;
    let other = pull_cluster(store, org, "bystander").await;
    let lease_name = format!("pull:{cluster}");
    let old = store
        .acquire_lease(&lease_name, "replica-a", SHORT)
        .await
        .unwrap()
        .unwrap();
    let first = [
        namespace("web", "uid-ns", None),
        pod("web", "web-1", "uid-1", PodPhase::Running),
    ];
    let kinds = [ObjectKind::Namespace, ObjectKind::Pod];
    let mut a = Cursors::new(11);
    let applied = store
        .under_lease(old.fence())
        .ingest_changes(org, cluster, a.next(), &batch(snapshot(&kinds, &first)))
        .await
        .unwrap();
    assert_eq!(applied, IngestOutcome::Applied);
    let before = live(store, org, cluster).await;
    assert_eq!(before.len(), 2);

    past_short_expiry().await;
    let new = store
        .acquire_lease(&lease_name, "replica-b", LONG)
        .await
        .unwrap()
        .unwrap();

    // Replica A has not noticed: its next batches, alone or merged with others' in one
    // group, are refused; the bystander's batch in the same group is applied.
    let stale = batch(vec![Change::Upsert(pod(
        "web",
        "web-2",
        "uid-2",
        PodPhase::Pending,
    ))]);
    let mut bystander = Cursors::new(5);
    let bystander_objects = [namespace("db", "uid-ns-db", None)];
    let stale_store = store.under_lease(old.fence());
    let bystander_batch = batch(snapshot(&[ObjectKind::Namespace], &bystander_objects));
    let (stale_outcome, bystander_outcome) = tokio::join!(
        stale_store.ingest_changes(org, cluster, a.next(), &stale),
        store.ingest_changes(org, other, bystander.next(), &bystander_batch),
    );
    assert!(
        matches!(&stale_outcome, Err(StoreError::Fenced(name)) if *name == lease_name),
        "{stale_outcome:?}"
    );
    assert_eq!(bystander_outcome.unwrap(), IngestOutcome::Applied);
    let hour: DateTime<Utc> = "2026-11-26T08:00:00Z".parse().unwrap();
    let usage = UsageBucket {
        namespace: "web".into(),
        pod: "web-1".into(),
        container: "app".into(),
        hour_start: UnixMillis(hour.timestamp_millis()),
        cpu_millicore_seconds: 1_000,
        memory_byte_seconds: 1 << 30,
        memory_max_bytes: 1 << 20,
        samples: 10,
        covered_millis: 300_000,
    };
    let refused = stale_store
        .ingest_usage(org, cluster, a.next(), std::slice::from_ref(&usage))
        .await;
    assert!(matches!(refused, Err(StoreError::Fenced(_))), "{refused:?}");
    assert_eq!(live(store, org, cluster).await, before, "nothing changed");
    assert!(store.usage(org, cluster, hour).await.unwrap().is_empty());

    // The new holder's collector starts its own epoch and its writes land.
    let mut b = Cursors::new(22);
    let second = [namespace("web", "uid-ns", None)];
    let outcome = store
        .under_lease(new.fence())
        .ingest_changes(org, cluster, b.next(), &batch(snapshot(&kinds, &second)))
        .await
        .unwrap();
    assert_eq!(outcome, IngestOutcome::Applied);
    store
        .under_lease(new.fence())
        .ingest_usage(org, cluster, b.next(), &[usage])
        .await
        .unwrap();
    assert_eq!(live(store, org, cluster).await.len(), 1);
    assert_eq!(store.usage(org, cluster, hour).await.unwrap().len(), 1);
}

pub async fn replicas_are_live_while_they_beat(t: TestStore) {
    let store = &t.store;
    store.replica_heartbeat("replica-b").await.unwrap();
    store.replica_heartbeat("replica-a").await.unwrap();
    let live = store.live_replicas(LONG).await.unwrap();
    let ids: Vec<&str> = live.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["replica-a", "replica-b"]);
    assert!(live.iter().all(|r| r.heartbeat_at >= r.started_at));

    past_short_expiry().await;
    store.replica_heartbeat("replica-a").await.unwrap();
    let live = store.live_replicas(SHORT).await.unwrap();
    let ids: Vec<&str> = live.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["replica-a"], "b was not heard from within the TTL");
    assert!(live[0].heartbeat_at > live[0].started_at);

    store.remove_replica("replica-a").await.unwrap();
    let ids: Vec<String> = store
        .live_replicas(LONG)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["replica-b"]);
}

pub async fn a_taken_lease_supersedes_its_holder(t: TestStore) {
    let store = &t.store;
    let first = store
        .take_lease("agent:a", "replica-a", LONG)
        .await
        .unwrap();
    assert_eq!(first.holder, "replica-a");
    // A newer session on another replica takes it while it is held; so does a newer one on
    // the same replica, each with a greater token.
    let second = store
        .take_lease("agent:a", "replica-b", LONG)
        .await
        .unwrap();
    assert_eq!(second.holder, "replica-b");
    assert!(second.token > first.token);
    let third = store
        .take_lease("agent:a", "replica-b", LONG)
        .await
        .unwrap();
    assert!(third.token > second.token);
    assert_eq!(store.renew_lease(&first.fence(), LONG).await.unwrap(), None);
    assert_eq!(
        store.renew_lease(&second.fence(), LONG).await.unwrap(),
        None
    );
    let renewed = store.renew_lease(&third.fence(), LONG).await.unwrap();
    assert_eq!(renewed.as_ref().map(|l| l.token), Some(third.token));
    assert_eq!(
        store.held_leases("agent:").await.unwrap(),
        Vec::from_iter(renewed)
    );
    assert!(store.release_lease(&third.fence()).await.unwrap());
    assert!(store.held_leases("agent:").await.unwrap().is_empty());
}
