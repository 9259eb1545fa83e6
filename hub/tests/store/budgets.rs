//! Budgets, cost alerts and the webhook delivery queue: kept per organization, a month's
//! spend read once per hour from days and hours, alerts fired once with their deliveries,
//! and the queue moved on by each attempt.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use kubeworkz_hub::alerts::{AnomalyRule, budget_statuses, evaluate_org};
use kubeworkz_hub::cost::{Allocation, CostBreakdown, NanoDollars};
use kubeworkz_hub::store::{
    AlertFilter, AlertKind, Budget, BudgetScope, DeliveryOutcome, DeliveryStatus, PageRequest,
    SpendWindow, Store, StoreError, WebhookEndpoint, WebhookFormat,
};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::UnixMillis;
use uuid::Uuid;

use crate::fixtures::agent_cluster;
use crate::harness::TestStore;

const DOLLAR: u64 = 1_000_000_000;

fn at(m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap()
}

fn ms(t: DateTime<Utc>) -> UnixMillis {
    UnixMillis(t.timestamp_millis())
}

/// A cost row of `namespace` (team and cost center named after it) costing `nanos`.
fn row(
    cluster: ClusterId,
    start: DateTime<Utc>,
    hours: i64,
    namespace: &str,
    nanos: u64,
) -> Allocation {
    Allocation {
        cluster,
        start: ms(start),
        end: ms(start + TimeDelta::hours(hours)),
        namespace: namespace.into(),
        team: format!("team-{namespace}"),
        cost_center: format!("cc-{namespace}"),
        labels: Default::default(),
        cost: CostBreakdown {
            total: NanoDollars(nanos),
            ..CostBreakdown::default()
        },
        pricing: None,
    }
}

async fn save_hour(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    h: DateTime<Utc>,
    rows: &[(&str, u64)],
) {
    let rows: Vec<Allocation> = rows
        .iter()
        .map(|(ns, n)| row(cluster, h, 1, ns, *n))
        .collect();
    store
        .save_cost_hour(org, cluster, ms(h), &rows, Utc::now())
        .await
        .unwrap();
}

fn budget(org: OrgId, name: &str, scope: BudgetScope, key: &str, dollars: u64) -> Budget {
    let now = Utc::now().trunc_micros();
    Budget {
        id: Uuid::now_v7(),
        org_id: org,
        name: name.into(),
        scope,
        scope_key: key.into(),
        amount: NanoDollars(dollars * DOLLAR),
        created_at: now,
        updated_at: now,
    }
}

fn endpoint(org: OrgId, name: &str, enabled: bool) -> WebhookEndpoint {
    let now = Utc::now();
    WebhookEndpoint {
        id: Uuid::now_v7(),
        org_id: org,
        name: name.into(),
        url: format!("http://127.0.0.1:9/{name}"),
        format: WebhookFormat::Json,
        secret_sealed: vec![1, 2, 3],
        enabled,
        created_at: now,
        updated_at: now,
    }
}

pub async fn budgets_are_kept_per_organization_with_unique_names(t: TestStore) {
    let store = &t.store;
    let a = store.ensure_organization("a").await.unwrap().id;
    let b = store.ensure_organization("b").await.unwrap().id;
    let shop = budget(a, "shop", BudgetScope::Namespace, "shop", 100);
    store.create_budget(&shop).await.unwrap();
    store
        .create_budget(&budget(a, "payments", BudgetScope::Team, "payments", 500))
        .await
        .unwrap();
    // The name is taken in a, free in b.
    let again = budget(a, "shop", BudgetScope::Cluster, "x", 1);
    assert!(matches!(
        store.create_budget(&again).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .create_budget(&budget(b, "shop", BudgetScope::Namespace, "shop", 7))
        .await
        .unwrap();
    let names: Vec<String> = store
        .budgets(a)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["payments", "shop"]);
    assert_eq!(store.budget(a, shop.id).await.unwrap(), Some(shop.clone()));
    // Another organization neither sees, changes nor deletes it.
    assert_eq!(store.budget(b, shop.id).await.unwrap(), None);
    let mut theirs = shop.clone();
    theirs.org_id = b;
    theirs.name = "renamed".into();
    assert!(!store.update_budget(&theirs).await.unwrap());
    assert!(!store.delete_budget(b, shop.id).await.unwrap());
    // Its own admin does.
    let mut changed = shop.clone();
    changed.amount = NanoDollars(250 * DOLLAR);
    changed.name = "payments".into();
    assert!(matches!(
        store.update_budget(&changed).await,
        Err(StoreError::Conflict(_))
    ));
    changed.name = "shop-eu".into();
    assert!(store.update_budget(&changed).await.unwrap());
    let read = store.budget(a, shop.id).await.unwrap().unwrap();
    assert_eq!(
        (read.name.as_str(), read.amount),
        ("shop-eu", NanoDollars(250 * DOLLAR))
    );
    assert!(store.delete_budget(a, shop.id).await.unwrap());
    assert_eq!(store.budgets(a).await.unwrap().len(), 1);
    assert_eq!(store.budgets(b).await.unwrap().len(), 1);
}

trait TruncMicros {
    fn trunc_micros(self) -> Self;
}

impl TruncMicros for DateTime<Utc> {
    fn trunc_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}

/// March 2026: cluster A has Mar 1 rolled up ($1/h shop, $0.50/h blog) and two more hours,
/// plus an hour "so far" and a February hour that must not count; cluster B has three hours
/// of shop at $2; another organization spends on a namespace of the same name.
async fn march(store: &Store) -> (OrgId, ClusterId, ClusterId) {
    let org = store.ensure_organization("budgets").await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let a = agent_cluster(store, org, "a").await;
    let b = agent_cluster(store, org, "b").await;
    let c = agent_cluster(store, other, "c").await;
    save_hour(store, org, a, at(2, 28, 23), &[("shop", 50 * DOLLAR)]).await;
    for h in 0..26 {
        let hour = at(3, 1, 0) + TimeDelta::hours(h);
        save_hour(
            store,
            org,
            a,
            hour,
            &[("shop", DOLLAR), ("blog", DOLLAR / 2)],
        )
        .await;
        save_hour(store, other, c, hour, &[("shop", 1000 * DOLLAR)]).await;
    }
    let day = [
        row(a, at(3, 1, 0), 24, "shop", 24 * DOLLAR),
        row(a, at(3, 1, 0), 24, "blog", 12 * DOLLAR),
    ];
    store
        .save_cost_day(org, a, ms(at(3, 1, 0)), &day, Utc::now())
        .await
        .unwrap();
    let so_far = [row(a, at(3, 2, 2), 1, "shop", 100 * DOLLAR)];
    store
        .save_cost_hour_so_far(org, a, ms(at(3, 2, 2)), &so_far, Utc::now())
        .await
        .unwrap();
    for h in 0..3 {
        save_hour(store, org, b, at(3, 1, h), &[("shop", 2 * DOLLAR)]).await;
    }
    (org, a, b)
}

pub async fn a_months_spend_counts_each_hour_once_per_scope(t: TestStore) {
    let store = &t.store;
    let (org, a, b) = march(store).await;
    let window = SpendWindow {
        start: at(3, 1, 0),
        end: at(4, 1, 0),
    };
    let spend = |scope| async move { store.scope_spend(org, scope, window).await.unwrap().0 };
    // shop: A's day $24 + A's two hours $2 + B's three hours $6 = $32; blog: $12 + $1.
    let ns = spend(BudgetScope::Namespace).await;
    assert_eq!(ns.get("shop"), Some(&NanoDollars(32 * DOLLAR)));
    assert_eq!(ns.get("blog"), Some(&NanoDollars(13 * DOLLAR)));
    let teams = spend(BudgetScope::Team).await;
    assert_eq!(teams.get("team-shop"), Some(&NanoDollars(32 * DOLLAR)));
    let centers = spend(BudgetScope::CostCenter).await;
    assert_eq!(centers.get("cc-blog"), Some(&NanoDollars(13 * DOLLAR)));
    let clusters = spend(BudgetScope::Cluster).await;
    assert_eq!(
        clusters.get(&a.to_string()),
        Some(&NanoDollars(39 * DOLLAR))
    );
    assert_eq!(clusters.get(&b.to_string()), Some(&NanoDollars(6 * DOLLAR)));
    assert_eq!(
        clusters.len(),
        2,
        "another organization's cluster is not counted"
    );
    assert_eq!(
        store.costs_computed_until(org).await.unwrap(),
        Some(at(3, 2, 2))
    );

    // The statuses: 26 hours of March's 744; shop forecast 32 × 744 / 26 = 915.692307692…
    store
        .create_budget(&budget(org, "shop", BudgetScope::Namespace, "shop", 40))
        .await
        .unwrap();
    let statuses = budget_statuses(store, org, Utc::now()).await.unwrap();
    let f = statuses[0].forecast;
    assert_eq!((f.elapsed_hours, f.month_hours), (26, 744));
    assert_eq!(f.actual, NanoDollars(32 * DOLLAR));
    assert_eq!(f.forecast, NanoDollars(915_692_307_692));
    assert_eq!(statuses[0].month_start, at(3, 1, 0));
}

pub async fn budget_thresholds_fire_once_with_a_delivery_per_enabled_endpoint(t: TestStore) {
    let store = &t.store;
    let (org, _, _) = march(store).await;
    let shop = budget(org, "shop", BudgetScope::Namespace, "shop", 40);
    store.create_budget(&shop).await.unwrap();
    let quiet = budget(org, "blog", BudgetScope::Namespace, "blog", 1000);
    store.create_budget(&quiet).await.unwrap();
    let on = endpoint(org, "on", true);
    store.create_webhook(&on).await.unwrap();
    store
        .create_webhook(&endpoint(org, "off", false))
        .await
        .unwrap();

    // $32 of $40 is 80 % actual; the $915.69 forecast passes 80 and 100 %. blog's $13 of
    // $1000 forecasts $372: nothing.
    let (budgets, fired) = evaluate_org(store, org, Utc::now()).await.unwrap();
    assert_eq!(budgets, 2);
    let mut got: Vec<(AlertKind, Option<u32>)> =
        fired.iter().map(|a| (a.kind, a.threshold_pct)).collect();
    got.sort_by_key(|(k, p)| (k.as_str(), *p));
    assert_eq!(
        got,
        [
            (AlertKind::BudgetActual, Some(80)),
            (AlertKind::BudgetForecast, Some(80)),
            (AlertKind::BudgetForecast, Some(100)),
        ]
    );
    assert!(fired.iter().all(|a| a.budget_id == Some(shop.id)));
    let actual = fired
        .iter()
        .find(|a| a.kind == AlertKind::BudgetActual)
        .unwrap();
    assert_eq!(
        (actual.value, actual.reference),
        (NanoDollars(32 * DOLLAR), NanoDollars(40 * DOLLAR))
    );
    assert_eq!(
        actual.dedup_key,
        format!("budget:{}:2026-03:actual:80", shop.id)
    );

    // Evaluating again fires nothing more.
    let (_, again) = evaluate_org(store, org, Utc::now()).await.unwrap();
    assert!(again.is_empty(), "{again:?}");

    // One delivery per alert, to the enabled endpoint only, due now.
    let due = store.due_deliveries(Utc::now(), 100, None).await.unwrap();
    assert_eq!(due.len(), 3);
    assert!(
        due.iter()
            .all(|d| d.endpoint_id == on.id && d.attempts == 0 && d.enabled)
    );
    for alert in &fired {
        let deliveries = store.deliveries(org, Some(alert.id), None).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].endpoint_name, "on");
        assert_eq!(deliveries[0].status, DeliveryStatus::Pending);
        let body: serde_json::Value =
            serde_json::from_str(&due.iter().find(|d| d.id == deliveries[0].id).unwrap().body)
                .unwrap();
        assert_eq!(body["id"], alert.id.to_string());
        assert_eq!(body["kind"], alert.kind.as_str());
    }

    // The history: newest first, filtered by kind and budget, paged; other organizations
    // see none of it.
    let page = |filter: AlertFilter, limit| async move {
        store
            .alert_page(org, &filter, PageRequest { limit, offset: 0 })
            .await
            .unwrap()
    };
    let all = page(AlertFilter::default(), 2).await;
    assert_eq!((all.items.len(), all.total), (2, 3));
    let last = all.items.last().unwrap();
    let rest = page(
        AlertFilter {
            after: Some((last.created_at, last.id)),
            ..AlertFilter::default()
        },
        2,
    )
    .await;
    assert_eq!(rest.items.len(), 1);
    let mut walked: Vec<Uuid> = all.items.iter().chain(&rest.items).map(|a| a.id).collect();
    walked.sort();
    let mut ids: Vec<Uuid> = fired.iter().map(|a| a.id).collect();
    ids.sort();
    assert_eq!(walked, ids, "the pages walk every alert once");
    let forecasts = page(
        AlertFilter {
            kind: Some(AlertKind::BudgetForecast),
            ..AlertFilter::default()
        },
        50,
    )
    .await;
    assert_eq!(forecasts.total, 2);
    let of_blog = page(
        AlertFilter {
            budget_id: Some(quiet.id),
            ..AlertFilter::default()
        },
        50,
    )
    .await;
    assert_eq!(of_blog.total, 0);
    let other = store.ensure_organization("other").await.unwrap().id;
    let theirs = store
        .alert_page(other, &AlertFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(theirs.total, 0);
    assert_eq!(store.alert(other, fired[0].id).await.unwrap(), None);
    assert!(
        store
            .deliveries(other, Some(fired[0].id), None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn an_hour_over_its_weeks_median_fires_an_anomaly_once(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization("anomalies").await.unwrap().id;
    let c = agent_cluster(store, org, "d").await;
    let hour = at(4, 8, 10);
    let cents = |c: u64| c * DOLLAR / 100;
    // api: $2 $2 $3 $2 $4 $2 $3 on the seven days before (median $2), then $5: over 2×.
    // quiet: $0.10 a day, then $0.50: five times, but under the $1 minimum.
    let api = [200, 200, 300, 200, 400, 200, 300];
    for (d, cost) in api.iter().enumerate() {
        let h = hour - TimeDelta::days(d as i64 + 1);
        save_hour(
            store,
            org,
            c,
            h,
            &[("api", cents(*cost)), ("quiet", cents(10))],
        )
        .await;
        // Another hour of the day is not part of the baseline.
        save_hour(
            store,
            org,
            c,
            h + TimeDelta::hours(1),
            &[("api", cents(90_000))],
        )
        .await;
    }
    save_hour(
        store,
        org,
        c,
        hour,
        &[("api", cents(500)), ("quiet", cents(50))],
    )
    .await;
    // Another organization's spike is not this one's.
    let other = store.ensure_organization("calm").await.unwrap().id;
    let c2 = agent_cluster(store, other, "d2").await;
    save_hour(store, other, c2, hour, &[("api", cents(90_000))]).await;
    let (_, fired) = evaluate_org(store, org, Utc::now()).await.unwrap();
    let mut got: Vec<(String, String, NanoDollars, NanoDollars)> = fired
        .iter()
        .map(|a| {
            (
                a.scope_kind.clone(),
                a.scope_key.clone(),
                a.value,
                a.reference,
            )
        })
        .collect();
    got.sort();
    // The cluster: $5.50 over a median of $2.10 (2.1 2.1 3.1 2.1 4.1 2.1 3.1).
    assert_eq!(
        got,
        [
            (
                "cluster".into(),
                c.to_string(),
                NanoDollars(cents(550)),
                NanoDollars(cents(210))
            ),
            (
                "namespace".into(),
                format!("{c}/api"),
                NanoDollars(cents(500)),
                NanoDollars(cents(200))
            ),
        ]
    );
    assert!(
        fired
            .iter()
            .all(|a| a.kind == AlertKind::Anomaly && a.period_start == hour)
    );
    let (_, again) = evaluate_org(store, org, Utc::now()).await.unwrap();
    assert!(again.is_empty());

    // The organization's rule is kept per organization.
    assert_eq!(
        store.anomaly_rule(org).await.unwrap(),
        AnomalyRule::default()
    );
    let strict = AnomalyRule {
        factor_milli: 3000,
        min_cost: NanoDollars(DOLLAR),
    };
    store
        .set_anomaly_rule(org, &strict, Utc::now())
        .await
        .unwrap();
    assert_eq!(store.anomaly_rule(org).await.unwrap(), strict);
    assert_eq!(
        store.anomaly_rule(other).await.unwrap(),
        AnomalyRule::default()
    );
}

pub async fn each_delivery_attempt_is_recorded_and_moves_the_queue(t: TestStore) {
    let store = &t.store;
    let (org, _, _) = march(store).await;
    store
        .create_budget(&budget(org, "shop", BudgetScope::Namespace, "shop", 40))
        .await
        .unwrap();
    let hook = endpoint(org, "hook", true);
    store.create_webhook(&hook).await.unwrap();
    let (_, fired) = evaluate_org(store, org, Utc::now()).await.unwrap();
    let alert = &fired[0];
    let now = Utc::now();
    let queued = store.deliveries(org, Some(alert.id), None).await.unwrap();
    let due = store
        .due_deliveries(now, 100, Some(queued[0].id))
        .await
        .unwrap();
    let first = due[0].clone();
    // A failed attempt, retried in a minute: not due now, due then.
    let retry_at = now + TimeDelta::minutes(1);
    let failed = DeliveryOutcome {
        attempt: 1,
        at: now,
        status_code: Some(500),
        error: Some("receiver answered 500".into()),
        duration_ms: 12,
        status: DeliveryStatus::Pending,
        next_attempt_at: retry_at,
    };
    store
        .record_delivery_attempt(first.id, &failed)
        .await
        .unwrap();
    let due_now = store.due_deliveries(now, 100, None).await.unwrap();
    assert!(due_now.iter().all(|d| d.id != first.id));
    let due_then = store
        .due_deliveries(retry_at, 100, Some(first.id))
        .await
        .unwrap();
    assert_eq!(due_then.len(), 1);
    assert_eq!(due_then[0].attempts, 1);
    let delivered = DeliveryOutcome {
        attempt: 2,
        at: retry_at,
        status_code: Some(204),
        error: None,
        duration_ms: 3,
        status: DeliveryStatus::Delivered,
        next_attempt_at: retry_at,
    };
    store
        .record_delivery_attempt(first.id, &delivered)
        .await
        .unwrap();
    assert!(
        store
            .due_deliveries(retry_at, 100, Some(first.id))
            .await
            .unwrap()
            .is_empty()
    );
    let shown = store.deliveries(org, Some(alert.id), None).await.unwrap();
    assert_eq!(shown[0].status, DeliveryStatus::Delivered);
    assert_eq!(shown[0].attempts, 2);
    assert_eq!(shown[0].finished_at, Some(retry_at.trunc_micros()));
    let log: Vec<(u32, Option<u16>, Option<&str>)> = shown[0]
        .attempt_log
        .iter()
        .map(|a| (a.attempt, a.status_code, a.error.as_deref()))
        .collect();
    assert_eq!(
        log,
        [
            (1, Some(500), Some("receiver answered 500")),
            (2, Some(204), None)
        ]
    );

    // Endpoints are kept per organization; deleting one takes its deliveries along.
    let other = store.ensure_organization("other").await.unwrap().id;
    assert_eq!(store.webhook(other, hook.id).await.unwrap(), None);
    assert!(!store.delete_webhook(other, hook.id).await.unwrap());
    let mut renamed = hook.clone();
    renamed.org_id = other;
    assert!(!store.update_webhook(&renamed).await.unwrap());
    assert!(matches!(
        store.create_webhook(&endpoint(org, "hook", true)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.webhooks(org).await.unwrap()[0].secret_sealed,
        vec![1, 2, 3]
    );
    assert!(store.delete_webhook(org, hook.id).await.unwrap());
    assert!(
        store
            .deliveries(org, Some(alert.id), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .due_deliveries(retry_at, 100, None)
            .await
            .unwrap()
            .is_empty()
    );
}
