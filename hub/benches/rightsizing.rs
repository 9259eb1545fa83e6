//! Right-sizing at scale. Goal: recommendations for 100k containers over 30 days of hourly
//! usage in under 5 s and 500 MB.
//!
//! - `engine`: 100k containers (`KW_CONTAINERS`), each with 720 hourly samples (30 days),
//!   generated into one reused buffer and recommended one container at a time, as the list
//!   does per namespace. The time of the `recommend_samples` calls alone and of the whole pass
//!   (generation included) are reported, and the peak RSS (`VmHWM`, reset first).
//! - `store`: the same through the store on each backend (`KW_BACKENDS=sqlite,postgres`,
//!   `DATABASE_URL` for PostgreSQL): `KW_STORE_CONTAINERS` containers (default 2,000: the
//!   30 days of 100k are 72M usage rows, more than a bench can ingest here) as Deployments of
//!   two replicas in 100 namespaces, with 30 days of hourly usage ingested (set-up, not
//!   measured); then `cost::recommendations` is timed end to end, with the peak RSS of the
//!   pass.
//!
//! A plain binary: `cargo bench -p kubeworkz-hub --bench rightsizing`. Prints the median,
//! fastest and slowest of `KW_RUNS` runs (default 5).

use std::time::{Duration, Instant};

use kubeworkz_hub::cost::{Prices, UsageSample, Window, recommend_samples, recommendations};
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

async fn store_pass(backend: &str, containers: usize, runs: usize) {
    let bench = common::fresh_store(backend).await;
    let (store, org) = (bench.store.clone(), bench.org);
    let cluster = common::agent_clusters(&store, org, 1).await[0];
    let now_hour = UnixMillis::now().hour_start().0;
    let first = now_hour - HOURS as i64 * MILLIS_PER_HOUR;
    let created = UnixMillis(UnixMillis::now().0 - 60_000);
    let setup = Instant::now();
    let mut seq = 0;
    let mut cursor = || {
        seq += 1;
        Cursor { epoch: 1, seq }
    };
    let pods: Vec<Object> = (0..containers).map(|p| pod(p, created)).collect();
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
    let mut buckets = Vec::with_capacity(10_000);
    for h in 0..HOURS {
        for (p, object) in pods.iter().enumerate() {
            let Object::Pod(pod) = object else {
                unreachable!("the bench makes pods")
            };
            buckets.push(UsageBucket {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                container: "app".into(),
                hour_start: UnixMillis(first + h as i64 * MILLIS_PER_HOUR),
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
    }
    if !buckets.is_empty() {
        store
            .ingest_usage(org, cluster, cursor(), &buckets)
            .await
            .unwrap();
    }
    println!(
        "{backend:>8} set-up: {containers} containers × {HOURS} hours ingested in {:.1}s",
        setup.elapsed().as_secs_f64()
    );
    let window = Window {
        start: UnixMillis(first),
        end: UnixMillis(now_hour),
    };
    let (mut times, mut peaks) = (vec![], vec![]);
    let mut lines = 0;
    for _ in 0..runs {
        reset_peak();
        let before = common::status_mib("VmRSS:");
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
        peaks.push(common::status_mib("VmHWM:") - before);
        lines = list.len();
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{backend:>8} {lines} lines ({} deployments of {REPLICAS}), peak RSS growth {:.0} MiB; \
         {:.1} µs per container → {:.1}s for 100k at this rate",
        containers / REPLICAS,
        peaks.iter().cloned().fold(0.0, f64::max),
        median.as_secs_f64() * 1e6 / containers as f64,
        median.as_secs_f64() * 100_000.0 / containers as f64
    );
    common::summary(&format!("{backend}: recommendations (store)"), &mut times);
    store.close().await;
}

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let runs = common::env("KW_RUNS", 5);
    let containers = common::env("KW_CONTAINERS", 100_000);
    engine(containers, runs);
    let store_containers = common::env("KW_STORE_CONTAINERS", 2_000);
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in backends.split(',').filter(|b| !b.trim().is_empty()) {
        runtime.block_on(store_pass(backend.trim(), store_containers, runs));
    }
}
