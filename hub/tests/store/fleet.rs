//! The fleet roll-up: clusters grouped by environment, provider or tag with health, kept
//! counts and the month's cost, scoped by organization.

use chrono::{Datelike, TimeZone, Utc};
use kubeworkz_hub::store::{ClusterPatch, DEFAULT_ORG, FleetGroup, FleetGrouping};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{HealthReport, HealthStatus};
use kubeworkz_shared::time::UnixMillis;

use crate::costs::row;
use crate::fixtures::{Cursors, agent_cluster, batch, node, pod, pull_cluster, snapshot};
use crate::harness::TestStore;

/// A group as (key, clusters, [healthy, degraded, critical, unknown], nodes, pods, cost).
type Row<'a> = (&'a str, u64, [u64; 4], u64, u64, i64);

fn keyed(groups: &[FleetGroup]) -> Vec<Row<'_>> {
    groups
        .iter()
        .map(|g| {
            (
                g.key.as_str(),
                g.clusters,
                [g.healthy, g.degraded, g.critical, g.unknown],
                g.nodes,
                g.pods,
                g.cost_nanos,
            )
        })
        .collect()
}

pub async fn the_fleet_groups_health_counts_and_month_cost(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let eu = agent_cluster(store, org, "eu").await; // production, tag eu
    let gpu = agent_cluster(store, org, "gpu").await;
    pull_cluster(store, org, "dev").await; // development, no tags
    agent_cluster(store, other, "theirs").await;
    store
        .update_cluster(
            org,
            gpu,
            &ClusterPatch {
                tags: Some(vec!["eu".into(), "gpu".into()]),
                ..ClusterPatch::default()
            },
        )
        .await
        .unwrap();
    store
        .record_identity(org, eu, Some("eks"), None)
        .await
        .unwrap();
    store
        .record_identity(org, gpu, Some("eks"), None)
        .await
        .unwrap();
    let judge = |status| HealthReport {
        status,
        reasons: vec![],
    };
    store
        .record_health(org, eu, &judge(HealthStatus::Healthy), Utc::now())
        .await
        .unwrap();
    store
        .record_health(org, gpu, &judge(HealthStatus::Critical), Utc::now())
        .await
        .unwrap();
    let objects = vec![
        node("n1", "eu-n1"),
        pod("web", "web-1", "eu-p1", PodPhase::Running),
        pod("web", "web-2", "eu-p2", PodPhase::Running),
    ];
    store
        .ingest_changes(
            org,
            eu,
            Cursors::new(1).next(),
            &batch(snapshot(&ObjectKind::ALL, &objects)),
        )
        .await
        .unwrap();
    let now = Utc::now();
    let month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .unwrap();
    let day = UnixMillis(month.timestamp_millis());
    let before = UnixMillis(day.0 - 86_400_000);
    for (start, nanos) in [(day, 1_500_000_000), (before, 7_000_000_000)] {
        store
            .save_cost_day(org, eu, start, &[row(eu, start, "web", "shop", nanos)], now)
            .await
            .unwrap();
    }

    let by_env = store
        .fleet(org, FleetGrouping::Environment, month)
        .await
        .unwrap();
    assert_eq!(
        keyed(&by_env),
        [
            ("development", 1, [0, 0, 0, 1], 0, 0, 0),
            ("production", 2, [1, 0, 1, 0], 1, 2, 1_500_000_000),
        ],
        "last month's day is not in the month"
    );
    let by_provider = store
        .fleet(org, FleetGrouping::Provider, month)
        .await
        .unwrap();
    assert_eq!(
        by_provider
            .iter()
            .map(|g| (g.key.as_str(), g.clusters))
            .collect::<Vec<_>>(),
        [("", 1), ("eks", 2)]
    );
    let by_tag = store.fleet(org, FleetGrouping::Tag, month).await.unwrap();
    assert_eq!(
        by_tag
            .iter()
            .map(|g| (g.key.as_str(), g.clusters))
            .collect::<Vec<_>>(),
        [("", 1), ("eu", 2), ("gpu", 1)],
        "a cluster is in each of its tags' groups"
    );
    let theirs = store
        .fleet(other, FleetGrouping::Environment, month)
        .await
        .unwrap();
    assert_eq!(keyed(&theirs), [("production", 1, [0, 0, 0, 1], 0, 0, 0)]);
}
