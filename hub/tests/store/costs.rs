//! Cost storage: the worker's hour input (pods that ran in the hour, ended ones included),
//! saved hours and days that replace their period, the progress marks, and price overrides.

use std::collections::BTreeMap;

use chrono::Utc;
use kubeworkz_hub::cost::{
    Allocation, ClusterPrices, CostBreakdown, NanoDollars, PriceBook, PriceOverride, allocate_hour,
    rollup_daily,
};
use kubeworkz_hub::store::{CostPeriod, CostRowFilter, DEFAULT_ORG, PriceScope, StoreError};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{LabelKeys, PvcPhase, PvcProjection, UsageBucket};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::fixtures::*;
use crate::harness::TestStore;

const MINUTE: i64 = 60_000;
const GIB: u64 = 1 << 30;

/// A complete past hour: three hours before the current one.
pub fn past_hour() -> UnixMillis {
    UnixMillis(UnixMillis::now().hour_start().0 - 3 * MILLIS_PER_HOUR)
}

fn plus(t: UnixMillis, millis: i64) -> UnixMillis {
    UnixMillis(t.0 + millis)
}

/// The fixture pod (250m / 256Mi, one container `app` on node-a), started at `start` and, when
/// `deleted` is set, with that deletion timestamp.
pub fn pod_at(
    namespace: &str,
    name: &str,
    start: Option<UnixMillis>,
    deleted: Option<UnixMillis>,
) -> Object {
    let Object::Pod(mut p) = pod(namespace, name, &format!("uid-{name}"), PodPhase::Running) else {
        unreachable!("the fixture is a pod")
    };
    p.created = Some(start.map_or(past_hour(), |s| plus(s, -MINUTE)));
    p.start_time = start;
    p.deleted = deleted;
    Object::Pod(p)
}

fn claim(namespace: &str, name: &str, bytes: u64, created: UnixMillis) -> Object {
    Object::PersistentVolumeClaim(PvcProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: format!("uid-{name}"),
        requested_bytes: Some(bytes),
        storage_class: Some("gp3".into()),
        volume_name: Some(format!("pv-{name}")),
        phase: PvcPhase::Bound,
        capacity_bytes: Some(bytes),
        created: Some(created),
    })
}

pub async fn setup(t: &TestStore) -> (OrgId, ClusterId) {
    let org = t.store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(&t.store, org, "prod-eu-1").await;
    (org, cluster)
}

fn hour_rows(store_rows: Vec<Allocation>) -> BTreeMap<String, Allocation> {
    store_rows
        .into_iter()
        .map(|r| (r.namespace.clone(), r))
        .collect()
}

fn filter(period: CostPeriod, start: UnixMillis, end: UnixMillis) -> CostRowFilter {
    CostRowFilter {
        period,
        start,
        end,
        cluster: None,
        namespace: None,
    }
}

pub async fn the_hour_input_holds_what_ran_in_the_hour(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let hour = past_hour();
    let whole = Some(plus(hour, -60 * MINUTE));
    let objects = vec![
        node("node-a", "uid-node-a"),
        namespace("web", "uid-ns-web", Some("platform")),
        namespace("batch", "uid-ns-batch", Some("data")),
        pod_at("web", "web-1", whole, None),
        pod_at("web", "web-2", Some(plus(hour, 20 * MINUTE)), None),
        pod_at("batch", "batch-1", whole, Some(plus(hour, 45 * MINUTE))),
        pod_at("batch", "never-started", None, None),
        pod_at(
            "batch",
            "starts-later",
            Some(plus(hour, 2 * 60 * MINUTE)),
            None,
        ),
        pod_at(
            "batch",
            "ended-before",
            Some(plus(hour, -5 * 60 * MINUTE)),
            Some(plus(hour, -2 * 60 * MINUTE)),
        ),
        claim("batch", "data", 10 * GIB, plus(hour, -24 * 60 * MINUTE)),
    ];
    let kinds = [
        ObjectKind::Node,
        ObjectKind::Namespace,
        ObjectKind::Pod,
        ObjectKind::PersistentVolumeClaim,
    ];
    let mut cursors = Cursors::new(1);
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(snapshot(&kinds, &objects)),
        )
        .await
        .unwrap();
    // The ended pods are gone from the cluster; their rows stay for cost.
    let gone: Vec<Change> = objects[5..]
        .iter()
        .filter(|o| matches!(o, Object::Pod(p) if p.deleted.is_some()))
        .map(delete_of)
        .collect();
    store
        .ingest_changes(org, cluster, cursors.next(), &batch(gone))
        .await
        .unwrap();
    let usage = UsageBucket {
        namespace: "web".into(),
        pod: "web-1".into(),
        container: "app".into(),
        hour_start: hour,
        cpu_millicore_seconds: 500 * 3600,
        memory_byte_seconds: (512 << 20) * 3600,
        memory_max_bytes: 512 << 20,
        samples: 120,
        covered_millis: 3_600_000,
    };
    store
        .ingest_usage(org, cluster, cursors.next(), &[usage])
        .await
        .unwrap();

    let input = store.cost_hour_input(org, cluster, hour).await.unwrap();
    assert_eq!(input.hour_start, hour);
    let mut pods: Vec<(String, i64, i64)> = input
        .pods
        .iter()
        .map(|p| {
            let run = p.running[0];
            (p.name.clone(), run.start.0 - hour.0, run.end.0 - hour.0)
        })
        .collect();
    pods.sort();
    // Open intervals end at the hour's end or later (the engine clamps).
    let open = |end: i64| end >= MILLIS_PER_HOUR;
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert_eq!(
        (pods[0].0.as_str(), pods[0].1, pods[0].2),
        ("batch-1", -60 * MINUTE, 45 * MINUTE)
    );
    assert_eq!((pods[1].0.as_str(), pods[1].1), ("web-1", -60 * MINUTE));
    assert!(open(pods[1].2));
    assert_eq!((pods[2].0.as_str(), pods[2].1), ("web-2", 20 * MINUTE));
    assert!(open(pods[2].2));
    assert_eq!(input.nodes.len(), 1);
    assert_eq!(input.nodes[0].instance_type.as_deref(), Some("m5.xlarge"));
    assert_eq!(input.volumes.len(), 1);
    assert_eq!(input.volumes[0].requested_bytes, 10 * GIB);
    let mut namespaces: Vec<&str> = input.namespaces.iter().map(|n| n.name.as_str()).collect();
    namespaces.sort();
    assert_eq!(namespaces, ["batch", "web"]);
    assert_eq!(input.usage.len(), 1);

    // The engine on the loaded input, saved and read back: costs exact.
    let rows = allocate_hour(
        &input,
        &ClusterPrices::uniform(Default::default()),
        &LabelKeys::default(),
    );
    let web = rows.iter().find(|r| r.namespace == "web").unwrap();
    // web-1 billed its usage 500m for the hour, web-2 its request 250m for 40 minutes:
    // (0.5 + 1/6) core-hours × $0.04, rounded once.
    assert_eq!(web.cost.cpu.cost, NanoDollars(26_666_667));
    assert_eq!(web.team, "platform");
    let batch_row = rows.iter().find(|r| r.namespace == "batch").unwrap();
    // 250m for the 45 minutes before its deletion; 10 GiB bound the whole hour at $0.0001/GiB-hour.
    assert_eq!(batch_row.cost.cpu.cost, NanoDollars(7_500_000));
    assert_eq!(batch_row.cost.storage.cost, NanoDollars(1_000_000));

    store
        .save_cost_hour(org, cluster, hour, &rows, Utc::now())
        .await
        .unwrap();
    let saved = store
        .cost_rows(
            org,
            &filter(CostPeriod::Hour, hour, plus(hour, MILLIS_PER_HOUR)),
        )
        .await
        .unwrap();
    assert_eq!(saved.len(), rows.len());
    for (stored, computed) in saved.iter().zip(hour_rows(rows.clone()).values()) {
        assert_eq!(stored.namespace, computed.namespace);
        assert_eq!(stored.team, computed.team);
        assert_eq!(stored.labels, computed.labels);
        assert_eq!(stored.end, computed.end);
        assert_eq!(stored.cost.total, computed.cost.total);
        assert_eq!(stored.cost.cpu.cost, computed.cost.cpu.cost);
        assert_eq!(stored.cost.memory.cost, computed.cost.memory.cost);
        assert_eq!(stored.cost.storage.cost, computed.cost.storage.cost);
        assert_eq!(stored.cost.flags, computed.cost.flags);
        // Quantities to the stored precision: millicore-seconds, byte-hours.
        assert_eq!(
            stored.cost.cpu.billed / 1000,
            computed.cost.cpu.billed / 1000
        );
        assert_eq!(
            stored.cost.memory.used / 3_600_000,
            computed.cost.memory.used / 3_600_000
        );
        assert_eq!(
            stored.cost.storage.byte_millis / 3_600_000,
            computed.cost.storage.byte_millis / 3_600_000
        );
    }
}

/// A row with only costs set, for the save/replace cases.
pub fn row(
    cluster: ClusterId,
    start: UnixMillis,
    namespace: &str,
    team: &str,
    nanos: u64,
) -> Allocation {
    let mut cost = CostBreakdown::default();
    cost.cpu.cost = NanoDollars(nanos);
    cost.cpu.billed = u128::from(nanos) * 1000;
    cost.total = NanoDollars(nanos);
    Allocation {
        cluster,
        start,
        end: plus(start, MILLIS_PER_HOUR),
        namespace: namespace.into(),
        team: team.into(),
        cost_center: "unallocated".into(),
        labels: [("team".to_owned(), team.to_owned())].into(),
        cost,
        pricing: None,
    }
}

pub async fn saving_replaces_the_period_and_moves_the_marks(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let day = UnixMillis(UnixMillis::now().0.div_euclid(86_400_000) * 86_400_000 - 2 * 86_400_000);
    let h0 = plus(day, 10 * MILLIS_PER_HOUR);
    let h1 = plus(h0, MILLIS_PER_HOUR);
    let marks = || async {
        let all = store.cost_clusters().await.unwrap();
        let mine = all.into_iter().find(|c| c.cluster == cluster).unwrap();
        (mine.hours_until, mine.days_until)
    };
    assert_eq!(marks().await, (None, None));

    let first = [
        row(cluster, h0, "web", "platform", 5),
        row(cluster, h0, "api", "platform", 7),
    ];
    store
        .save_cost_hour(org, cluster, h0, &first, Utc::now())
        .await
        .unwrap();
    assert_eq!(marks().await, (Some(h1), Some(day)));
    // A re-run replaces the hour: the namespace that is gone from it is gone from the store.
    let again = [row(cluster, h0, "web", "platform", 11)];
    store
        .save_cost_hour(org, cluster, h0, &again, Utc::now())
        .await
        .unwrap();
    let hour0 = store
        .cost_rows(org, &filter(CostPeriod::Hour, h0, h1))
        .await
        .unwrap();
    assert_eq!(hour0.len(), 1);
    assert_eq!(hour0[0].cost.total, NanoDollars(11));
    // The namespace is relabeled in the next hour.
    let second = [row(cluster, h1, "web", "search", 13)];
    store
        .save_cost_hour(org, cluster, h1, &second, Utc::now())
        .await
        .unwrap();
    assert_eq!(marks().await, (Some(plus(h1, MILLIS_PER_HOUR)), Some(day)));
    // Re-running an earlier hour does not move the hours mark back.
    store
        .save_cost_hour(org, cluster, h0, &again, Utc::now())
        .await
        .unwrap();
    assert_eq!(marks().await.0, Some(plus(h1, MILLIS_PER_HOUR)));

    // The day rollup keeps one row per attribution.
    let hours = store
        .cost_rows(org, &filter(CostPeriod::Hour, day, plus(day, 86_400_000)))
        .await
        .unwrap();
    let daily = rollup_daily(&hours);
    assert_eq!(daily.len(), 2);
    store
        .save_cost_day(org, cluster, day, &daily, Utc::now())
        .await
        .unwrap();
    store
        .save_cost_day(org, cluster, day, &daily, Utc::now())
        .await
        .unwrap();
    let next_day = plus(day, 86_400_000);
    assert_eq!(marks().await.1, Some(next_day));
    let stored = store
        .cost_rows(org, &filter(CostPeriod::Day, day, next_day))
        .await
        .unwrap();
    assert_eq!(stored, daily);
    let teams: Vec<(&str, u64)> = stored
        .iter()
        .map(|r| (r.team.as_str(), r.cost.total.0))
        .collect();
    assert_eq!(teams, [("platform", 11), ("search", 13)]);

    // Re-computing an hour of a rolled-up day makes the day due again.
    store
        .save_cost_hour(org, cluster, h1, &second, Utc::now())
        .await
        .unwrap();
    assert_eq!(marks().await.1, Some(day));

    // A row of another hour is refused and nothing of the hour is lost.
    let wrong = [row(cluster, h0, "web", "platform", 1)];
    let err = store
        .save_cost_hour(org, cluster, h1, &wrong, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let hour1 = store
        .cost_rows(
            org,
            &filter(CostPeriod::Hour, h1, plus(h1, MILLIS_PER_HOUR)),
        )
        .await
        .unwrap();
    assert_eq!(hour1.len(), 1);
}

pub async fn cost_rows_are_scoped_by_organization(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let other = store.ensure_organization("other").await.unwrap().id;
    let hour = past_hour();
    let rows = [row(cluster, hour, "web", "platform", 5)];
    let err = store
        .save_cost_hour(other, cluster, hour, &rows, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ClusterNotFound), "{err:?}");
    let err = store
        .cost_hour_input(other, cluster, hour)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ClusterNotFound), "{err:?}");
    store
        .save_cost_hour(org, cluster, hour, &rows, Utc::now())
        .await
        .unwrap();
    let window = filter(CostPeriod::Hour, hour, plus(hour, MILLIS_PER_HOUR));
    assert_eq!(store.cost_rows(org, &window).await.unwrap().len(), 1);
    assert!(store.cost_rows(other, &window).await.unwrap().is_empty());
    let only_api = CostRowFilter {
        namespace: Some("api".into()),
        cluster: Some(cluster),
        ..window
    };
    assert!(store.cost_rows(org, &only_api).await.unwrap().is_empty());
}

pub async fn price_overrides_resolve_per_scope(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    assert_eq!(store.price_book(org).await.unwrap(), PriceBook::default());
    let cpu = |nanos: u64| PriceOverride {
        cpu_core_hour: Some(NanoDollars(nanos)),
        ..PriceOverride::default()
    };
    let org_prices = PriceOverride {
        memory_gib_hour: Some(NanoDollars(4_000_000)),
        ..cpu(30_000_000)
    };
    store
        .set_price_override(org, &PriceScope::Organization, &org_prices)
        .await
        .unwrap();
    store
        .set_price_override(org, &PriceScope::Cluster(cluster), &cpu(20_000_000))
        .await
        .unwrap();
    let m5 = PriceScope::InstanceType("m5.xlarge".into());
    store.set_price_override(org, &m5, &cpu(1)).await.unwrap();
    // Setting again replaces.
    store
        .set_price_override(org, &m5, &cpu(10_000_000))
        .await
        .unwrap();

    let book = store.price_book(org).await.unwrap();
    let want = PriceBook {
        organization: org_prices,
        clusters: [(cluster, cpu(20_000_000))].into(),
        instance_types: [("m5.xlarge".to_owned(), cpu(10_000_000))].into(),
        ..PriceBook::default()
    };
    assert_eq!(book, want);
    let resolved = book.for_cluster(cluster);
    assert_eq!(
        resolved
            .for_instance_type(Some("m5.xlarge"))
            .memory_gib_hour,
        NanoDollars(4_000_000)
    );

    // Another organization sees none of it and cannot price this cluster.
    let other = store.ensure_organization("other").await.unwrap().id;
    assert_eq!(store.price_book(other).await.unwrap(), PriceBook::default());
    let err = store
        .set_price_override(other, &PriceScope::Cluster(cluster), &cpu(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ClusterNotFound), "{err:?}");

    // An override without prices removes the scope.
    store
        .set_price_override(org, &m5, &PriceOverride::default())
        .await
        .unwrap();
    assert!(
        store
            .price_book(org)
            .await
            .unwrap()
            .instance_types
            .is_empty()
    );
}
