//! The cost worker on the real store: every complete hour after the grace period, backfill
//! after downtime bounded by the lookback, daily rollups of complete days, idempotent re-runs,
//! and its report in the workers status.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use kubeworkz_hub::cost::{COST_WORKER, Clock, CostWorker, CostWorkerConfig, NanoDollars};
use kubeworkz_hub::shutdown::Shutdown;
use kubeworkz_hub::store::{CostPeriod, CostRowFilter, DEFAULT_ORG, Store};
use kubeworkz_hub::workers::{self, Workers};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::OrgId;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::fixtures::*;
use crate::harness::TestStore;

const HOUR: i64 = MILLIS_PER_HOUR;
const DAY: i64 = 24 * HOUR;

fn floor(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit
}

fn rows_filter(period: CostPeriod, start: i64, end: i64) -> CostRowFilter {
    CostRowFilter {
        period,
        start: UnixMillis(start),
        end: UnixMillis(end),
        cluster: None,
        namespace: None,
    }
}

/// The cluster both cases cost: one node, namespace `web` of team `platform`, one running pod;
/// returns its organization.
pub async fn cluster_with_one_pod(store: &Store) -> OrgId {
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(store, org, "prod-eu-1").await;
    let objects = [
        node("node-a", "uid-node-a"),
        namespace("web", "uid-ns-web", Some("platform")),
        pod("web", "web-1", "uid-web-1", PodPhase::Running),
    ];
    let kinds = [ObjectKind::Node, ObjectKind::Namespace, ObjectKind::Pod];
    store
        .ingest_changes(
            org,
            cluster,
            Cursors::new(1).next(),
            &batch(snapshot(&kinds, &objects)),
        )
        .await
        .unwrap();
    org
}

/// A clock the test moves: the instant it reads, and the worker's clock over it.
pub fn test_clock(start: i64) -> (Arc<AtomicI64>, Clock) {
    let now = Arc::new(AtomicI64::new(start));
    let clock = {
        let now = now.clone();
        Arc::new(move || UnixMillis(now.load(Ordering::SeqCst)))
    };
    (now, clock)
}

pub async fn the_worker_computes_backfills_and_rolls_up(t: TestStore) {
    let store = t.store.clone();
    let org = cluster_with_one_pod(&store).await;

    // Thirty hours after the cluster was registered.
    let registered = UnixMillis::now().0;
    let (now, clock) = test_clock(registered + 30 * HOUR);
    let config = CostWorkerConfig {
        every: Duration::from_millis(50),
        grace: Duration::from_secs(600),
        lookback: Duration::from_secs(48 * 3600),
        ..CostWorkerConfig::default()
    };
    let mut worker = CostWorker::new(store.clone(), config.clone(), None).with_clock(clock.clone());
    let report = worker.run_once().await.unwrap();
    let first_hour = floor(registered, HOUR);
    let due = floor(now.load(Ordering::SeqCst) - 600_000, HOUR);
    assert_eq!(report.hours as i64, (due - first_hour) / HOUR, "{report:?}");
    let complete_days = (floor(first_hour, DAY)..due)
        .step_by(DAY as usize)
        .filter(|d| d + DAY <= due)
        .count();
    assert!(complete_days >= 1);
    assert_eq!(report.days, complete_days, "{report:?}");
    assert_eq!(report.computed_until, Some(UnixMillis(due)));

    // Every hour has the namespace's row and the idle row; each day sums its hours.
    let hours = store
        .cost_rows(org, &rows_filter(CostPeriod::Hour, 0, due + DAY))
        .await
        .unwrap();
    assert_eq!(hours.len(), 2 * report.hours);
    // The latest hour: the pod ran all of it.
    let web_hour = hours.iter().rev().find(|r| r.namespace == "web").unwrap();
    // 250m and 256Mi requested, no usage data: $0.01 + $0.00125 per hour, flagged.
    assert_eq!(web_hour.cost.total, NanoDollars(11_250_000));
    assert!(web_hour.cost.flags.usage_unknown);
    assert_eq!(web_hour.team, "platform");
    let days = store
        .cost_rows(org, &rows_filter(CostPeriod::Day, 0, due + DAY))
        .await
        .unwrap();
    assert_eq!(days.len(), 2 * complete_days);
    for day in &days {
        let sum: NanoDollars = hours
            .iter()
            .filter(|h| h.namespace == day.namespace && h.start >= day.start && h.start < day.end)
            .map(|h| h.cost.total)
            .sum();
        assert_eq!(day.cost.total, sum, "{}", day.namespace);
    }
    let marks = store.cost_clusters().await.unwrap();
    assert_eq!(marks[0].hours_until, Some(UnixMillis(due)));

    // Nothing new is due: a re-run does nothing.
    let again = worker.run_once().await.unwrap();
    assert_eq!((again.hours, again.days), (0, 0));

    // Five hours of downtime are backfilled on the next run.
    now.fetch_add(5 * HOUR, Ordering::SeqCst);
    assert_eq!(worker.run_once().await.unwrap().hours, 5);

    // A long outage is backfilled only as far as the lookback.
    now.fetch_add(100 * HOUR, Ordering::SeqCst);
    let after_outage = worker.run_once().await.unwrap();
    let t_now = now.load(Ordering::SeqCst);
    let lookback_hours = (floor(t_now - 600_000, HOUR) - floor(t_now - 48 * HOUR, HOUR)) / HOUR;
    assert!((47..=48).contains(&lookback_hours));
    assert_eq!(after_outage.hours as i64, lookback_hours);
    assert!(after_outage.days >= 1);

    // Spawned like `serve` does, its report shows in the workers status.
    now.fetch_add(HOUR, Ordering::SeqCst);
    let registry = Workers::new();
    let shutdown = Shutdown::new();
    let spawned = CostWorker::new(store.clone(), config, Some(registry.clone())).with_clock(clock);
    let task = workers::spawn(spawned, &registry, shutdown.clone());
    let status = loop {
        let status = registry.get(COST_WORKER).unwrap();
        if status.successes > 0 {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.trigger();
    task.await.unwrap();
    // Later ticks find nothing due; each reports how far the cluster is computed.
    let due = floor(now.load(Ordering::SeqCst) - 600_000, HOUR);
    let detail = status.detail.expect("detail");
    assert!(detail.starts_with("1 clusters: "), "{detail}");
    assert!(
        detail.contains(&format!("up to {}", UnixMillis(due))),
        "{detail}"
    );
    let marks = store.cost_clusters().await.unwrap();
    assert_eq!(marks[0].hours_until, Some(UnixMillis(due)));
    assert_eq!(status.last_error, None);
}

/// The rows of one cluster-hour, by namespace.
async fn hour_rows(
    t: &TestStore,
    org: kubeworkz_shared::ids::OrgId,
    hour: i64,
) -> Vec<(String, NanoDollars)> {
    let rows = t
        .store
        .cost_rows(org, &rows_filter(CostPeriod::Hour, hour, hour + HOUR))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| (r.namespace, r.cost.total))
        .collect()
}

fn cost_of(rows: &[(String, NanoDollars)], namespace: &str) -> NanoDollars {
    let matching: Vec<_> = rows.iter().filter(|(ns, _)| ns == namespace).collect();
    assert_eq!(matching.len(), 1, "one row of {namespace}: {rows:?}");
    matching[0].1
}

pub async fn the_hour_in_progress_is_costed_so_far_then_for_good(t: TestStore) {
    let store = t.store.clone();
    let org = cluster_with_one_pod(&store).await;

    // The hour after the registration's, from five minutes into it: the pod runs all of it.
    let registered = floor(UnixMillis::now().0, HOUR);
    let current = registered + HOUR;
    let (now, clock) = test_clock(current + 5 * 60_000);
    let config = CostWorkerConfig {
        grace: Duration::from_secs(600),
        current_hour: true,
        ..CostWorkerConfig::default()
    };
    let mut worker = CostWorker::new(store.clone(), config.clone(), None).with_clock(clock.clone());

    // Nothing is due yet (the registration hour is in its grace period): both hours are
    // computed so far, and the cluster's mark does not move.
    let report = worker.run_once().await.unwrap();
    assert_eq!((report.hours, report.hours_so_far), (0, 2), "{report:?}");
    assert!(report.to_string().contains(", 2 hours so far"), "{report}");
    // 250m and 256Mi requested for 5 of 60 minutes: $0.01 and $0.00125 per hour, each
    // rounded once: 833,333 + 104,167 nano-dollars.
    let so_far = hour_rows(&t, org, current).await;
    assert_eq!(cost_of(&so_far, "web"), NanoDollars(937_500));
    assert!(cost_of(&so_far, "__idle__") > NanoDollars(0));
    assert_eq!(store.cost_clusters().await.unwrap()[0].hours_until, None);

    // Ten minutes later the registration hour is due and computed for good; the current
    // hour's rows are replaced by fifteen minutes' worth, not added to.
    now.fetch_add(10 * 60_000, Ordering::SeqCst);
    let report = worker.run_once().await.unwrap();
    assert_eq!((report.hours, report.hours_so_far), (1, 1), "{report:?}");
    assert_eq!(
        store.cost_clusters().await.unwrap()[0].hours_until,
        Some(UnixMillis(current))
    );
    let so_far = hour_rows(&t, org, current).await;
    assert_eq!(so_far.len(), 2, "{so_far:?}");
    assert_eq!(cost_of(&so_far, "web"), NanoDollars(2_812_500));

    // Into the next hour but within the grace: the whole current hour so far, the next one's
    // first minutes.
    now.store(current + HOUR + 5 * 60_000, Ordering::SeqCst);
    let report = worker.run_once().await.unwrap();
    assert_eq!((report.hours, report.hours_so_far), (0, 2), "{report:?}");
    assert_eq!(
        cost_of(&hour_rows(&t, org, current).await, "web"),
        NanoDollars(11_250_000)
    );

    // Once due, a worker without the option (a restarted hub that turned it off) still
    // computes it for good: the mark never passed it.
    now.store(current + HOUR + 15 * 60_000, Ordering::SeqCst);
    let plain = CostWorkerConfig {
        current_hour: false,
        ..config
    };
    let mut restarted = CostWorker::new(store.clone(), plain, None).with_clock(clock);
    let report = restarted.run_once().await.unwrap();
    assert_eq!((report.hours, report.hours_so_far), (1, 0), "{report:?}");
    let done = hour_rows(&t, org, current).await;
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(cost_of(&done, "web"), NanoDollars(11_250_000));
    assert_eq!(
        store.cost_clusters().await.unwrap()[0].hours_until,
        Some(UnixMillis(current + HOUR))
    );
    // The next hour keeps the rows computed so far until it is due in turn.
    assert_eq!(hour_rows(&t, org, current + HOUR).await.len(), 2);
}
