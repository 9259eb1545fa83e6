//! The cost worker on two replicas: one computes while it holds `worker:cost`, the other
//! stands by; when the holder dies the other takes over at the cluster's mark, so every hour
//! is computed exactly once, and the dead holder's late writes are refused by the fence.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kubeworkz_hub::cost::{ClusterPrices, CostWorker, CostWorkerConfig, run_hour};
use kubeworkz_hub::replica::{Replica, SingleHolder};
use kubeworkz_hub::store::{CostPeriod, CostRowFilter, StoreError};
use kubeworkz_hub::workers::Worker;
use kubeworkz_shared::model::LabelKeys;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::cost_worker::{cluster_with_one_pod, test_clock};
use crate::harness::TestStore;

const HOUR: i64 = MILLIS_PER_HOUR;
const TTL: Duration = Duration::from_millis(600);

pub async fn every_cost_hour_is_computed_once_across_a_failover(t: TestStore) {
    let store = t.store.clone();
    let org = cluster_with_one_pod(&store).await;
    let registered = UnixMillis::now().0;
    let (now, clock) = test_clock(registered + 30 * HOUR);
    let config = CostWorkerConfig {
        grace: Duration::from_secs(600),
        lookback: Duration::from_secs(48 * 3600),
        ..CostWorkerConfig::default()
    };
    let replica = |id: &str| {
        let worker = CostWorker::new(store.clone(), config.clone(), None).with_clock(clock.clone());
        SingleHolder::new(worker, Replica::new(store.clone(), id, TTL), "worker:cost")
    };
    let mut a = replica("replica-a");
    let mut b = replica("replica-b");

    // A takes the lease and computes everything due; B stands by and computes nothing.
    a.tick().await.unwrap();
    let first = a.held().cloned().expect("a holds the cost lease");
    let first_hour = registered.div_euclid(HOUR) * HOUR;
    let due = |now: i64| (now - 600_000).div_euclid(HOUR) * HOUR;
    let due_a = due(now.load(Ordering::SeqCst));
    assert_eq!(
        a.inner().last_report().hours as i64,
        (due_a - first_hour) / HOUR
    );
    b.tick().await.unwrap();
    assert!(b.held().is_none());
    assert_eq!(b.inner().last_report().clusters, 0, "b never ran");

    // Five hours later A has died without a word; once its lease lapses B takes over,
    // resumes at the cluster's mark and computes only the five new hours.
    now.fetch_add(5 * HOUR, Ordering::SeqCst);
    b.tick().await.unwrap();
    assert!(b.held().is_none(), "not before the lease lapses");
    tokio::time::sleep(TTL + Duration::from_millis(300)).await;
    b.tick().await.unwrap();
    let second = b.held().cloned().expect("b took the lease over");
    assert!(second.token > first.token);
    assert_eq!(b.inner().last_report().hours, 5);
    let due_b = due(now.load(Ordering::SeqCst));

    // A wakes up: its late write of an hour is refused and changes nothing, and its worker
    // finds the lease taken and stands by.
    let hour = UnixMillis(due_b - HOUR);
    let filter = CostRowFilter {
        period: CostPeriod::Hour,
        start: UnixMillis(first_hour),
        end: UnixMillis(due_b + HOUR),
        cluster: None,
        namespace: None,
    };
    let before = store.cost_rows(org, &filter).await.unwrap();
    let cluster = before[0].cluster;
    let late = run_hour(
        &store.under_lease(first.fence()),
        org,
        cluster,
        hour,
        &ClusterPrices::uniform(Default::default()),
        &LabelKeys::default(),
    )
    .await;
    assert!(matches!(late, Err(StoreError::Fenced(_))), "{late:?}");
    a.tick().await.unwrap();
    assert!(a.held().is_none());

    // Every hour from the first to the last due is there once: the namespace's row and
    // the idle row, nothing missing, nothing twice.
    let rows = store.cost_rows(org, &filter).await.unwrap();
    assert_eq!(rows, before);
    let mut starts: Vec<i64> = rows.iter().map(|r| r.start.0).collect();
    starts.sort_unstable();
    let expected: Vec<i64> = (first_hour..due_b)
        .step_by(HOUR as usize)
        .flat_map(|h| [h, h])
        .collect();
    assert_eq!(starts, expected);
    let marks = store.cost_clusters().await.unwrap();
    assert_eq!(marks[0].hours_until, Some(UnixMillis(due_b)));
}
