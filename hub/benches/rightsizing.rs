//! Right-sizing at scale. Goal: recommendations for 100k containers over 30 days of hourly
//! usage in under 5 s and 500 MB.
//!
//! - `engine`: 100k containers (`KW_CONTAINERS`), each with 720 hourly samples (30 days),
//!   generated into one reused buffer and recommended one container at a time, as the list
//!   does per namespace. The time of the `recommend_samples` calls alone and of the whole pass
//!   (generation included) are reported, and the peak RSS (`VmHWM`, reset first).
//! - `store`: the same through the store on each backend (`KW_BACKENDS=sqlite,postgres`,
//!   `DATABASE_URL` for PostgreSQL): `KW_STORE_CONTAINERS` workload containers (default
//!   100k) as Deployments of two replicas (200k live pods) in 100 namespaces. Set-up: the
//!   pods, then `KW_FOLD_HOURS` (default 3) hours of raw usage of every pod ingested and
//!   folded into the daily workload rollup one hour at a time, the fold timed (the
//!   rollup's maintenance cost per hour at that size); then the day's rows are given a full
//!   day's figures (24 hours, 48 pod-hours, a 20-bucket CPU histogram) and copied in bulk
//!   to the 29 days before it, 3M rollup rows in all (the 72M raw rows behind them are more
//!   than a bench can ingest here, and the request no longer reads them). Then
//!   `cost::recommendations` over the 30 days is timed end to end, with the peak RSS of the
//!   pass.
//!
//! A plain binary: `cargo bench -p kubeworkz-hub --bench rightsizing`. Prints the median,
//! fastest and slowest of `KW_RUNS` runs (default 5), of the store pass also the CPU time the
//! bench's process used in it (SQLite's work included, a PostgreSQL server's not).

use std::time::{Duration, Instant};

use kubeworkz_hub::cost::{
    CpuHistogram, Prices, UsageSample, Window, recommend_samples, recommendations,
};
use kubeworkz_hub::store::{Cursor, RightsizingScope};
use kubeworkz_shared::change::{Change, ChangeBatch, Object};
use kubeworkz_shared::model::pod::{ContainerKind, ContainerProjection, PodPhase, QosClass};
use kubeworkz_shared::model::{OwnerKind, PodOwner, PodProjection, ResourceAmounts, UsageBucket};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

const HOURS: usize = 30 * 24;
const NAMESPACES: usize = 100;
const REPLICAS: usize = 2;

/// Resets the peak RSS to the current RSS, so `VmHWM` is the peak of what follows.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Hour `h` of container `c`: a daily wave between 50 and 450 millicores, memory up to 1 GiB.
fn cpu_millis(c: usize, h: usize) -> u64 {
    50 + ((c * 31 + h * 17) % 400) as u64
}

fn memory_bytes(c: usize, h: usize) -> u64 {
    (256 << 20) + (((c * 13 + h * 7) % 768) as u64) * (1 << 20)
}

fn engine(containers: usize, runs: usize) {
    let prices = Prices::default();
    let start = UnixMillis::now().hour_start().0 - HOURS as i64 * MILLIS_PER_HOUR;
    let (mut calls, mut total, mut peaks) = (vec![], vec![], vec![]);
    let mut saving = 0i64;
    for _ in 0..runs {
        reset_peak();
        let t = Instant::now();
        let mut in_engine = Duration::ZERO;
        let mut samples = Vec::with_capacity(HOURS);
        for c in 0..containers {
            samples.clear();
            samples.extend((0..HOURS).map(|h| UsageSample {
                hour_start: UnixMillis(start + h as i64 * MILLIS_PER_HOUR),
                cpu_millicore_seconds: cpu_millis(c, h) * 3600,
                memory_max_bytes: memory_bytes(c, h),
                covered_millis: 3_600_000,
            }));
            let e = Instant::now();
            let r = recommend_samples(&samples, Some(1000), Some(2 << 30), &prices)
                .expect("30 days is enough data");
            in_engine += e.elapsed();
            saving = saving.wrapping_add(r.monthly_saving_nanos);
        }
        total.push(t.elapsed());
        calls.push(in_engine);
        peaks.push(common::status_mib("VmHWM:"));
    }
    println!(
        "engine: {containers} containers × {HOURS} hours (checksum {saving}), peak RSS {:.0} MiB",
        peaks.iter().cloned().fold(0.0, f64::max)
    );
    common::summary("engine: recommend_samples calls", &mut calls);
    common::summary("engine: pass incl. generating", &mut total);
}

fn pod(p: usize, created: UnixMillis) -> Object {
    let deployment = p / REPLICAS;
    Object::Pod(PodProjection {
        name: format!("d-{deployment}-{}", p % REPLICAS),
        namespace: format!("ns-{}", deployment % NAMESPACES),
        uid: format!("pod-uid-{p}"),
        node: Some("node-a".into()),
        phase: PodPhase::Running,
        owner: Some(PodOwner {
            kind: OwnerKind::Deployment,
            name: format!("d-{deployment}"),
        }),
        containers: vec![ContainerProjection {
            name: "app".into(),
            kind: ContainerKind::App,
            requests: ResourceAmounts {
                cpu_millis: Some(1000),
                memory_bytes: Some(2 << 30),
                ..ResourceAmounts::default()
            },
            limits: ResourceAmounts::default(),
            restarts: 0,
            ready: true,
            image: "app:1".into(),
            state: None,
            last_termination_reason: None,
        }],
        overhead: ResourceAmounts::default(),
        ready: true,
        start_time: Some(created),
        qos_class: QosClass::Burstable,
        pvc_claims: vec![],
        created: Some(created),
        deleted: None,
        labels: [("pod-template-hash".to_owned(), "abc".to_owned())].into(),
        reason: None,
    })
}

/// A full day of one workload container of two replicas: 48 pod-hours over 20 buckets.
fn day_histogram() -> String {
    let mut h = CpuHistogram::default();
    for i in 0..48u64 {
        h.add(50 + (i % 20) * 20);
    }
    h.encode()
}

/// Gives the rollup's rows of `day` on `$conn` a full day's figures and copies them to the
/// `$days − 1` days before it, then refreshes the planner's statistics with `$analyze`: one
/// body for both databases' connection types.
macro_rules! spread_days_on {
    ($conn:expr, $day:expr, $days:expr, $analyze:expr) => {{
        let conn = $conn;
        let at = |t: i64| chrono::DateTime::from_timestamp_millis(t).unwrap();
        let columns = "cluster_id, org_id, namespace, workload_kind, workload_name, container, \
            hours, pod_hours, replicas_max, cpu_requested_mcs, cpu_used_mcs, cpu_unused_mcs, \
            memory_requested_bh, memory_used_bh, memory_unused_bh, memory_peak_bytes, \
            cpu_histogram";
        sqlx::query("UPDATE k8s_workload_usage SET hours = 24, pod_hours = 48, cpu_histogram = $1")
            .bind(day_histogram())
            .execute(&mut *conn)
            .await
            .unwrap();
        let copy = format!(
            "INSERT INTO k8s_workload_usage (day, {columns}) SELECT $1, {columns} \
             FROM k8s_workload_usage WHERE day = $2"
        );
        for d in 1..$days {
            sqlx::query(sqlx::AssertSqlSafe(copy.as_str()))
                .bind(at($day - d * DAY))
                .bind(at($day))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        sqlx::raw_sql($analyze).execute(&mut *conn).await.unwrap();
    }};
}

/// The rollup of `day` spread over `days` days in the database (the fastest bulk seeding;
/// the store has no bulk writer).
async fn spread_days(url: &str, day: i64, days: i64) {
    use sqlx::Connection as _;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        spread_days_on!(&mut conn, day, days, "ANALYZE");
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        spread_days_on!(&mut conn, day, days, "VACUUM ANALYZE k8s_workload_usage");
    }
}

const DAY: i64 = 24 * MILLIS_PER_HOUR;

async fn store_pass(backend: &str, containers: usize, fold_hours: usize, runs: usize) {
    let bench = common::fresh_store(backend).await;
    let (store, org) = (bench.store.clone(), bench.org);
    let cluster = common::agent_clusters(&store, org, 1).await[0];
    let now = UnixMillis::now().0;
    // The rollup's last day is yesterday; the window its 30 days up to now.
    let last_day = now.div_euclid(DAY) * DAY - DAY;
    let first_day = last_day - 29 * DAY;
    let created = UnixMillis(now - 60_000);
    let setup = Instant::now();
    let mut seq = 0;
    let mut cursor = || {
        seq += 1;
        Cursor { epoch: 1, seq }
    };
    let pods: Vec<Object> = (0..containers * REPLICAS)
        .map(|p| pod(p, created))
        .collect();
    for chunk in pods.chunks(5_000) {
        let batch = ChangeBatch {
            produced_at: UnixMillis::now(),
            changes: chunk.iter().cloned().map(Change::Upsert).collect(),
        };
        store
            .ingest_changes(org, cluster, cursor(), &batch)
            .await
            .unwrap();
    }
    let (mut folds, mut fold_cpu) = (vec![], vec![]);
    for h in 0..fold_hours {
        let hour = last_day + h as i64 * MILLIS_PER_HOUR;
        let mut buckets = Vec::with_capacity(10_000);
        for (p, object) in pods.iter().enumerate() {
            let Object::Pod(pod) = object else {
                unreachable!("the bench makes pods")
            };
            buckets.push(UsageBucket {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                container: "app".into(),
                hour_start: UnixMillis(hour),
                cpu_millicore_seconds: cpu_millis(p, h) * 3600,
                memory_byte_seconds: memory_bytes(p, h) * 3600,
                memory_max_bytes: memory_bytes(p, h),
                samples: 120,
                covered_millis: 3_600_000,
            });
            if buckets.len() == 10_000 {
                store
                    .ingest_usage(org, cluster, cursor(), &buckets)
                    .await
                    .unwrap();
                buckets.clear();
            }
        }
        if !buckets.is_empty() {
            store
                .ingest_usage(org, cluster, cursor(), &buckets)
                .await
                .unwrap();
        }
        let (t, cpu) = (Instant::now(), common::cpu_time());
        store
            .fold_workload_usage(org, cluster, UnixMillis(hour))
            .await
            .unwrap();
        folds.push(t.elapsed());
        fold_cpu.push(common::cpu_time().saturating_sub(cpu));
    }
    println!(
        "{backend:>8} fold: {} pods' hour into {containers} workload containers' day, times in \
         fold order: {:?}",
        pods.len(),
        folds
    );
    common::summary(&format!("{backend}: rollup fold of one hour"), &mut folds);
    common::summary(
        &format!("{backend}: its CPU time in the bench"),
        &mut fold_cpu,
    );
    spread_days(&bench.url, last_day, 30).await;
    println!(
        "{backend:>8} set-up: {} pods, {containers} workload containers × 30 days of rollup \
         in {:.1}s",
        pods.len(),
        setup.elapsed().as_secs_f64()
    );
    let window = Window {
        start: UnixMillis(first_day),
        end: UnixMillis(now),
    };
    let (mut times, mut cpu, mut peaks) = (vec![], vec![], vec![]);
    let mut lines = 0;
    for _ in 0..runs {
        reset_peak();
        let before = common::status_mib("VmRSS:");
        let cpu_before = common::cpu_time();
        let t = Instant::now();
        let list = recommendations(
            &store,
            org,
            window,
            &RightsizingScope::default(),
            Default::default(),
        )
        .await
        .unwrap();
        times.push(t.elapsed());
        cpu.push(common::cpu_time().saturating_sub(cpu_before));
        peaks.push(common::status_mib("VmHWM:") - before);
        lines = list.len();
    }
    assert_eq!(
        lines, containers,
        "one recommendation per workload container"
    );
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{backend:>8} {lines} lines ({containers} deployments of {REPLICAS}), peak RSS growth \
         {:.0} MiB, peak RSS {:.0} MiB; {:.1} µs per container",
        peaks.iter().cloned().fold(0.0, f64::max),
        common::status_mib("VmHWM:"),
        median.as_secs_f64() * 1e6 / containers as f64,
    );
    common::summary(&format!("{backend}: recommendations (store)"), &mut times);
    common::summary(&format!("{backend}: its CPU time in the bench"), &mut cpu);
    store.close().await;
}

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let runs = common::env("KW_RUNS", 5);
    let containers = common::env("KW_CONTAINERS", 100_000);
    engine(containers, runs);
    let store_containers = common::env("KW_STORE_CONTAINERS", 100_000);
    let fold_hours = common::env("KW_FOLD_HOURS", 3);
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in backends.split(',').filter(|b| !b.trim().is_empty()) {
        runtime.block_on(store_pass(
            backend.trim(),
            store_containers,
            fold_hours,
            runs,
        ));
    }
}
