//! Alert evaluation for one hour on each backend: 10k namespace budgets over 10k namespaces
//! of one cluster, mid-month (14 days rolled up, 10 hours of the 15th computed, and the
//! evaluated hour on each of the 7 previous days for the anomaly baseline: 310k cost rows),
//! one webhook endpoint. Timed: `alerts::evaluate_org` (the spend query, the engine, the
//! anomaly rows, recording what fires with its deliveries): the first run (a tenth of the
//! budgets fire: 4,000 alerts and as many deliveries) and the steady runs after it
//! (nothing new). Goal: under 1 s.
//!
//! A plain binary: `cargo bench -p kubeworkz-hub --bench alerts` (needs `DATABASE_URL` for
//! PostgreSQL; `KW_BACKENDS=sqlite,postgres`, `KW_BUDGETS`, `KW_RUNS` to change). Prints
//! median, fastest and slowest per backend.

use std::time::Instant;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use kubeworkz_hub::alerts::evaluate_org;
use kubeworkz_hub::cost::{Allocation, CostBreakdown, NanoDollars};
use kubeworkz_hub::store::{Budget, BudgetScope, WebhookEndpoint, WebhookFormat};
use kubeworkz_shared::time::UnixMillis;
use uuid::Uuid;

const DOLLAR: u64 = 1_000_000_000;

fn ms(t: DateTime<Utc>) -> UnixMillis {
    UnixMillis(t.timestamp_millis())
}

/// Namespace `n` costs $0.10 + n mod 50 cents an hour.
fn hourly(n: usize) -> u64 {
    DOLLAR / 10 + (n as u64 % 50) * DOLLAR / 100
}

fn rows(
    cluster: kubeworkz_shared::ids::ClusterId,
    start: DateTime<Utc>,
    hours: i64,
    namespaces: usize,
) -> Vec<Allocation> {
    (0..namespaces)
        .map(|n| Allocation {
            cluster,
            start: ms(start),
            end: ms(start + TimeDelta::hours(hours)),
            namespace: format!("ns-{n}"),
            team: format!("team-{}", n % 40),
            cost_center: format!("cc-{}", n % 7),
            labels: Default::default(),
            cost: CostBreakdown {
                total: NanoDollars(hourly(n) * hours as u64),
                ..CostBreakdown::default()
            },
            pricing: None,
        })
        .collect()
}

async fn bench(backend: &str, budgets: usize, runs: usize) {
    let bench = common::fresh_store(backend).await;
    let (store, org) = (bench.store.clone(), bench.org);
    let cluster = common::agent_clusters(&store, org, 1).await[0];
    let month = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let hour = month + TimeDelta::days(14) + TimeDelta::hours(9);
    let setup = Instant::now();
    // The evaluated hour on the 7 days before (hourly rows), then the month.
    for d in (1..=7).rev() {
        let h = hour - TimeDelta::days(d);
        store
            .save_cost_hour(
                org,
                cluster,
                ms(h),
                &rows(cluster, h, 1, budgets),
                Utc::now(),
            )
            .await
            .unwrap();
    }
    for d in 0..14 {
        let day = month + TimeDelta::days(d);
        store
            .save_cost_day(
                org,
                cluster,
                ms(day),
                &rows(cluster, day, 24, budgets),
                Utc::now(),
            )
            .await
            .unwrap();
    }
    for h in 0..10 {
        let at = month + TimeDelta::days(14) + TimeDelta::hours(h);
        store
            .save_cost_hour(
                org,
                cluster,
                ms(at),
                &rows(cluster, at, 1, budgets),
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let now = Utc::now();
    for n in 0..budgets {
        // 344 hours at the namespace's rate; a tenth of the budgets at 90 % of that.
        let month_cost = hourly(n) * 344;
        let amount = if n % 10 == 0 {
            month_cost * 9 / 10
        } else {
            month_cost * 100
        };
        store
            .create_budget(&Budget {
                id: Uuid::now_v7(),
                org_id: org,
                name: format!("budget-{n}"),
                scope: BudgetScope::Namespace,
                scope_key: format!("ns-{n}"),
                amount: NanoDollars(amount),
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
    }
    store
        .create_webhook(&WebhookEndpoint {
            id: Uuid::now_v7(),
            org_id: org,
            name: "bench".into(),
            url: "http://127.0.0.1:9/hook".into(),
            format: WebhookFormat::Json,
            secret_sealed: vec![0; 64],
            enabled: true,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    println!(
        "{backend:>8} set-up: {budgets} budgets and {} cost rows in {:.1}s",
        budgets * 31,
        setup.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (looked, fired) = evaluate_org(&store, org, Utc::now()).await.unwrap();
    let mut first = vec![t.elapsed()];
    println!(
        "{backend:>8} first run: {looked} budgets, {} alerts fired",
        fired.len()
    );
    let mut steady = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let (_, fired) = evaluate_org(&store, org, Utc::now()).await.unwrap();
        steady.push(t.elapsed());
        assert!(fired.is_empty());
    }
    common::summary(&format!("{backend:>8} evaluate (first, fires)"), &mut first);
    common::summary(&format!("{backend:>8} evaluate (steady)"), &mut steady);
    store.close().await;
}

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let budgets = common::env("KW_BUDGETS", 10_000);
    let runs = common::env("KW_RUNS", 5);
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in backends.split(',') {
        runtime.block_on(bench(backend.trim(), budgets, runs));
    }
}
