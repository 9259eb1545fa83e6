//! The cost queries behind the API on stored rows: grouping, filters, idle, the namespace
//! series with efficiency, and the view `v_k8s_namespace_costs` agreeing with them. Their
//! JSON and CSV presentation is the API's (`hub/tests/api/cost_json.rs`).

use std::collections::BTreeMap;

use kubeworkz_hub::cost::{AggregateBy, CostQuery, Window, costs, namespace_costs, roll_up_day};
use kubeworkz_hub::store::{Backend, DEFAULT_ORG};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::costs::row;
use crate::fixtures::agent_cluster;
use crate::harness::TestStore;

const HOUR: i64 = MILLIS_PER_HOUR;
const DAY: i64 = 24 * HOUR;

/// Saves hours 9, 10 and 11 of two days for `cluster`: web (platform), api (platform), batch
/// (data) and idle, with costs that differ per hour; then rolls both days up.
async fn two_days(t: &TestStore, org: OrgId, cluster: ClusterId, day: i64, scale: u64) {
    for d in 0..2 {
        for h in 9..12 {
            let start = UnixMillis(day + d * DAY + h * HOUR);
            let n = scale * (1 + (d * 24 + h) as u64);
            let mut web = row(cluster, start, "web", "platform", 3 * n);
            // Half of the requested CPU used: efficiency 0.5.
            web.cost.cpu.requested = 1_000_000;
            web.cost.cpu.measured_requested = 1_000_000;
            web.cost.cpu.used = 500_000;
            web.cost.cpu.measured_used = 500_000;
            let mut api = row(cluster, start, "api", "platform", 2 * n);
            api.labels.insert("app".into(), "shop".into());
            let rows = [
                api,
                row(cluster, start, "batch", "data", 5 * n),
                web,
                row(cluster, start, "__idle__", "__idle__", 7 * n),
            ];
            t.store
                .save_cost_hour(org, cluster, start, &rows, chrono::Utc::now())
                .await
                .unwrap();
        }
        roll_up_day(&t.store, org, cluster, UnixMillis(day + d * DAY))
            .await
            .unwrap();
    }
}

/// `(org, group) → total nanos` from the view, read with plain SQL.
async fn view_totals(t: &TestStore, group: &str) -> BTreeMap<(String, String), i64> {
    let sql = format!(
        "SELECT CAST(org_id AS TEXT), {group}, CAST(sum(total_cost_nanos) AS BIGINT) \
         FROM v_k8s_namespace_costs GROUP BY org_id, {group}"
    );
    let rows: Vec<(String, String, i64)> = match t.store.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(t.url.expose()).await.unwrap();
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(t.url.expose()).await.unwrap();
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    rows.into_iter().map(|(o, g, n)| ((o, g), n)).collect()
}

pub async fn reports_group_filter_and_match_the_view(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let a = agent_cluster(store, org, "prod-eu-1").await;
    let b = agent_cluster(store, org, "prod-us-1").await;
    let other = store.ensure_organization("other").await.unwrap().id;
    let c = agent_cluster(store, other, "theirs").await;
    let day = (UnixMillis::now().0.div_euclid(DAY) - 3) * DAY;
    two_days(&t, org, a, day, 1).await;
    two_days(&t, org, b, day, 10).await;
    two_days(&t, other, c, day, 100).await;
    let window = Window {
        start: UnixMillis(day),
        end: UnixMillis(day + 2 * DAY),
    };

    let query = |aggregate: AggregateBy| CostQuery {
        window,
        aggregate,
        filter: None,
        include_idle: true,
    };
    let org_text = org.to_string();
    for (aggregate, column) in [
        (AggregateBy::Namespace, "namespace"),
        (AggregateBy::Team, "team"),
    ] {
        let report = costs(store, org, &query(aggregate)).await.unwrap();
        let from_report: BTreeMap<String, i64> = report
            .lines
            .iter()
            .map(|l| (l.key.clone(), l.cost.total.0 as i64))
            .collect();
        let from_view: BTreeMap<String, i64> = view_totals(&t, column)
            .await
            .into_iter()
            .filter(|((o, _), _)| *o == org_text)
            .map(|((_, g), n)| (g, n))
            .collect();
        assert_eq!(from_report, from_view, "{column}");
    }

    // Hours 9–11 of two days: Σ n = (10+11+12) + (34+35+36) = 138 per unit; web is 3 units
    // in cluster a (scale 1) and b (scale 10).
    let by_namespace = costs(store, org, &query(AggregateBy::Namespace))
        .await
        .unwrap();
    let web = by_namespace.lines.iter().find(|l| l.key == "web").unwrap();
    assert_eq!(web.cost.total.0, 3 * 138 * 11);
    // Most expensive first; the total is the sum of the lines.
    assert_eq!(by_namespace.lines[0].key, "__idle__");
    let sum: u64 = by_namespace.lines.iter().map(|l| l.cost.total.0).sum();
    assert_eq!(by_namespace.total.cost.total.0, sum);

    let by_cluster = costs(store, org, &query(AggregateBy::Cluster))
        .await
        .unwrap();
    assert_eq!(by_cluster.lines.len(), 2);
    assert_eq!(by_cluster.lines[0].key, b.to_string());
    assert_eq!(by_cluster.lines[0].cost.total.0, 17 * 138 * 10);

    // Idle only on request; filters narrow; labels group.
    let no_idle = CostQuery {
        include_idle: false,
        ..query(AggregateBy::Team)
    };
    let teams = costs(store, org, &no_idle).await.unwrap();
    let keys: Vec<&str> = teams.lines.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, ["data", "platform"]);
    let platform_only = CostQuery {
        filter: Some("team:platform+cluster:".to_owned() + &a.to_string())
            .map(|f| f.parse().unwrap()),
        ..query(AggregateBy::Namespace)
    };
    let filtered = costs(store, org, &platform_only).await.unwrap();
    let keys: Vec<(&str, u64)> = filtered
        .lines
        .iter()
        .map(|l| (l.key.as_str(), l.cost.total.0))
        .collect();
    assert_eq!(keys, [("web", 3 * 138), ("api", 2 * 138)]);
    let by_app = costs(store, org, &query(AggregateBy::Label("app".into())))
        .await
        .unwrap();
    let shop = by_app.lines.iter().find(|l| l.key == "shop").unwrap();
    assert_eq!(shop.cost.total.0, 2 * 138 * 11);
    assert!(by_app.lines.iter().any(|l| l.key == "unallocated"));

    // Another organization's report sees only its own cluster.
    let theirs = costs(store, other, &query(AggregateBy::Cluster))
        .await
        .unwrap();
    assert_eq!(theirs.lines.len(), 1);
    assert_eq!(theirs.lines[0].key, c.to_string());
}

pub async fn the_namespace_series_matches_the_daily_view(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let a = agent_cluster(store, org, "prod-eu-1").await;
    let day = (UnixMillis::now().0.div_euclid(DAY) - 3) * DAY;
    two_days(&t, org, a, day, 1).await;
    let window = Window {
        start: UnixMillis(day - DAY),
        end: UnixMillis(day + 3 * DAY),
    };
    let series = namespace_costs(store, org, a, "web", window, "1d".parse().unwrap())
        .await
        .unwrap();
    // Days without cost have no step.
    assert_eq!(series.steps.len(), 2);
    assert_eq!(series.steps[0].start, UnixMillis(day));
    assert_eq!(series.steps[1].end, UnixMillis(day + 2 * DAY));
    assert_eq!(series.steps[0].cost.total.0, 3 * (10 + 11 + 12));
    assert_eq!(series.steps[1].cost.total.0, 3 * (34 + 35 + 36));
    assert_eq!(series.total.cost.total.0, 3 * 138);
    assert_eq!(series.steps[0].cost.cpu.efficiency(), Some(0.5));

    let view = view_totals(&t, "CAST(day AS TEXT)").await;
    let web_days: Vec<i64> = view
        .into_iter()
        .filter(|((o, _), _)| *o == org.to_string())
        .map(|(_, n)| n)
        .collect();
    // The view sums all namespaces per day: idle 7 + batch 5 + web 3 + api 2 = 17 units.
    assert_eq!(web_days, [17 * 33, 17 * 105]);

    let hourly = namespace_costs(store, org, a, "web", window, "1h".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(hourly.steps.len(), 6);
    assert_eq!(hourly.total, series.total);

    // Another organization asking for this cluster's namespace gets nothing.
    let other = store.ensure_organization("other").await.unwrap().id;
    let none = namespace_costs(store, other, a, "web", window, "1d".parse().unwrap())
        .await
        .unwrap();
    assert!(none.steps.is_empty());
    assert_eq!(none.total.cost.total.0, 0);
}
