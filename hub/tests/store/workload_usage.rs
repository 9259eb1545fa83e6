//! The daily workload usage rollup on the real store: an hour folded adds to its day, folding
//! it again (late usage) rebuilds the day so nothing counts twice, a Deployment's replicas are
//! one workload, the backfill folds what was never folded, and efficiency by workload prices
//! the rolled-up requests with hand-computed numbers.

use kubeworkz_hub::cost::EfficiencySort;
use kubeworkz_hub::cost::Window;
use kubeworkz_hub::cost::report::workload_efficiency_report;
use kubeworkz_hub::store::{DEFAULT_ORG, RightsizingScope, Store, WorkloadUsageDay};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::fixtures::*;
use crate::harness::TestStore;
use crate::rightsizing::{at, bucket, day_before, workload_pod};

const MIB: u64 = 1 << 20;

/// Cluster `prod`, namespace `shop`: Deployment `cart` (`cart-a`, `cart-b`: 500m, 256 MiB),
/// bare pod `batch` (200m, 128 MiB) and bare pod `free` (no requests). Hour 0 of yesterday:
/// cart-a 100m / 64 MiB, cart-b 300m / 128 MiB, batch 200m / 128 MiB, free 50m / 32 MiB;
/// hour 1: cart-a alone at 600m / 300 MiB, over its request.
async fn seeded(store: &Store) -> (OrgId, ClusterId, i64, Cursors) {
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(store, org, "prod").await;
    let mut cursors = Cursors::new(1);
    let objects = [
        namespace("shop", "uid-ns-shop", None),
        workload_pod("shop", "cart-a", Some("cart"), "h1", 500, 256 * MIB, 100),
        workload_pod("shop", "cart-b", Some("cart"), "h1", 500, 256 * MIB, 100),
        workload_pod("shop", "batch", None, "", 200, 128 * MIB, 100),
        workload_pod("shop", "free", None, "", 0, 0, 100),
    ];
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(snapshot(
                &[ObjectKind::Namespace, ObjectKind::Pod],
                &objects,
            )),
        )
        .await
        .unwrap();
    let day = day_before(1);
    let h1 = day + MILLIS_PER_HOUR;
    let buckets = vec![
        bucket("shop", "cart-a", day, 100, 64 * MIB),
        bucket("shop", "cart-b", day, 300, 128 * MIB),
        bucket("shop", "batch", day, 200, 128 * MIB),
        bucket("shop", "free", day, 50, 32 * MIB),
        bucket("shop", "cart-a", h1, 600, 300 * MIB),
    ];
    store
        .ingest_usage(org, cluster, cursors.next(), &buckets)
        .await
        .unwrap();
    (org, cluster, day, cursors)
}

/// The rolled-up usage of `name`'s container `app` in `shop` over yesterday and today.
async fn usage_of(store: &Store, org: OrgId, day: i64, name: &str) -> WorkloadUsageDay {
    let mut found = None;
    store
        .rightsizing_gather(
            org,
            &RightsizingScope::default(),
            at(day),
            at(UnixMillis::now().0 + MILLIS_PER_HOUR),
            &mut |_, containers| {
                for c in containers {
                    if c.workload_name == name {
                        found = Some(c.usage);
                    }
                }
            },
        )
        .await
        .unwrap();
    found.unwrap_or_else(|| panic!("{name} gathered"))
}

fn late(day: i64) -> UsageBucket {
    bucket("shop", "cart-b", day + MILLIS_PER_HOUR, 100, 64 * MIB)
}

pub async fn folding_an_hour_adds_it_once_and_again_rebuilds_its_day(t: TestStore) {
    let store = &t.store;
    let (org, cluster, day, mut cursors) = seeded(store).await;
    // Nothing folded: nothing to read.
    assert_eq!(usage_of(store, org, day, "cart").await.pod_hours, 0);

    store
        .fold_workload_usage(org, cluster, UnixMillis(day))
        .await
        .unwrap();
    // Hour 0: both replicas of the Deployment in one workload row.
    let cart = usage_of(store, org, day, "cart").await;
    assert_eq!((cart.hours, cart.pod_hours, cart.replicas_max), (1, 2, 2));
    assert_eq!(cart.cpu_requested_mcs, 2 * 500 * 3600);
    assert_eq!(cart.cpu_used_mcs, (100 + 300) * 3600);
    assert_eq!(cart.cpu_unused_mcs, (400 + 200) * 3600);
    assert_eq!(cart.memory_requested_bh, 2 * 256 * MIB);
    assert_eq!(cart.memory_used_bh, (64 + 128) * MIB);
    assert_eq!(cart.memory_unused_bh, (192 + 128) * MIB);
    assert_eq!(cart.memory_peak_bytes, 128 * MIB);

    // Hour 1 added: cart-a over its request offsets nothing. The fold writes only the rows
    // of containers with usage in the hour: batch's row of hour 0 stays as it was.
    let batch = usage_of(store, org, day, "batch").await;
    assert_eq!((batch.hours, batch.pod_hours), (1, 1));
    let h1 = UnixMillis(day + MILLIS_PER_HOUR);
    store.fold_workload_usage(org, cluster, h1).await.unwrap();
    assert_eq!(usage_of(store, org, day, "batch").await, batch);
    let cart = usage_of(store, org, day, "cart").await;
    assert_eq!((cart.hours, cart.pod_hours, cart.replicas_max), (2, 3, 2));
    assert_eq!(cart.cpu_requested_mcs, 3 * 500 * 3600);
    assert_eq!(cart.cpu_used_mcs, (100 + 300 + 600) * 3600);
    assert_eq!(cart.cpu_unused_mcs, (400 + 200) * 3600);
    assert_eq!(cart.memory_used_bh, (64 + 128 + 300) * MIB);
    assert_eq!(cart.memory_unused_bh, (192 + 128) * MIB);
    assert_eq!(cart.memory_peak_bytes, 300 * MIB);
    assert_eq!(cart.cpu.percentile(95), Some(600));

    // Folding hour 1 again is idempotent.
    store.fold_workload_usage(org, cluster, h1).await.unwrap();
    assert_eq!(usage_of(store, org, day, "cart").await, cart);

    // Late usage of hour 1, folded again: the day rebuilt with it, hour 0 kept once.
    store
        .ingest_usage(org, cluster, cursors.next(), &[late(day)])
        .await
        .unwrap();
    store.fold_workload_usage(org, cluster, h1).await.unwrap();
    let cart = usage_of(store, org, day, "cart").await;
    assert_eq!((cart.hours, cart.pod_hours, cart.replicas_max), (2, 4, 2));
    assert_eq!(cart.cpu_requested_mcs, 4 * 500 * 3600);
    assert_eq!(cart.cpu_unused_mcs, (400 + 200 + 400) * 3600);
    assert_eq!(cart.memory_unused_bh, (192 + 128 + 192) * MIB);
    // A container without requests has usage but no requested or used of efficiency.
    let free = usage_of(store, org, day, "free").await;
    assert_eq!(free.pod_hours, 1);
    assert_eq!((free.cpu_requested_mcs, free.cpu_used_mcs), (0, 0));
    assert_eq!(free.memory_peak_bytes, 32 * MIB);

    // Efficiency by workload at the seed prices ($0.04 a core-hour, $0.005 a GiB-hour).
    let window = Window {
        start: UnixMillis(day),
        end: UnixMillis(day + 24 * MILLIS_PER_HOUR),
    };
    let lines = workload_efficiency_report(store, org, window, EfficiencySort::MostWaste)
        .await
        .unwrap();
    let keys: Vec<_> = lines.iter().map(|l| l.key.as_str()).collect();
    // cart wastes; batch and free waste nothing (ties by key).
    assert_eq!(
        keys,
        ["Deployment/shop/cart", "Pod/shop/batch", "Pod/shop/free"]
    );
    let cart = &lines[0];
    assert_eq!(cart.cluster.as_deref(), Some("prod"));
    // CPU: 4 pod-hours × 0.5 cores = 2 core-hours requested ($0.08), 1,000m-hours unused
    // = 1 core-hour ($0.04); used 1,100m-hours.
    assert_eq!(cart.cpu.requested_cost.0, 80_000_000);
    assert_eq!(cart.cpu.unused_cost.0, 40_000_000);
    assert_eq!(cart.cpu.efficiency(), Some(1100.0 / 2000.0));
    // Memory: 4 × 256 MiB = 1 GiB-hour ($0.005); 512 MiB-hours unused ($0.0025).
    assert_eq!(cart.memory.requested_cost.0, 5_000_000);
    assert_eq!(cart.memory.unused_cost.0, 2_500_000);
    assert_eq!(cart.unused_cost().0, 42_500_000);
    // batch used all it asked for; free asked nothing.
    assert_eq!(lines[1].unused_cost().0, 0);
    assert_eq!(lines[1].cpu.requested_cost.0, 8_000_000);
    assert_eq!(lines[2].efficiency(), None);
    // A window of an earlier day has none of it.
    let before = Window {
        start: UnixMillis(day - 24 * MILLIS_PER_HOUR),
        end: UnixMillis(day),
    };
    assert!(
        workload_efficiency_report(store, org, before, EfficiencySort::MostWaste)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn the_backfill_folds_each_unfolded_hour_once(t: TestStore) {
    let store = &t.store;
    let (org, cluster, day, _) = seeded(store).await;
    let until = UnixMillis(day + 3 * MILLIS_PER_HOUR);
    // Hour 1 folded already: the backfill folds hours 0 and 2 only.
    store
        .fold_workload_usage(org, cluster, UnixMillis(day + MILLIS_PER_HOUR))
        .await
        .unwrap();
    let folded = store
        .fold_unfolded_workload_usage(org, cluster, UnixMillis(day), until)
        .await
        .unwrap();
    assert_eq!(folded, 2);
    let cart = usage_of(store, org, day, "cart").await;
    assert_eq!((cart.hours, cart.pod_hours), (2, 3));
    assert_eq!(
        store
            .fold_unfolded_workload_usage(org, cluster, UnixMillis(day), until)
            .await
            .unwrap(),
        0
    );
    assert_eq!(usage_of(store, org, day, "cart").await, cart);
}
