//! The FOCUS export's memory: `KW_DAYS` (30) days of hourly cost rows for `KW_NAMESPACES`
//! (10,000) namespaces saved as the cost run saves them, then `GET /api/v1/k8s/costs/focus`
//! over the whole window through the real router on a loopback port, the body read as it
//! streams. Measured: the process's resident memory (`VmRSS` of `/proc/self/status`, sampled
//! every 5 ms) above what it was before the export; goal under 50 MB. The client (reading and
//! counting) runs in the same process, so its buffers count too. An export of the window's
//! last `KW_WARMUP_DAYS` days (default: all of them, the same export) runs once first, so the
//! database's page caches are warm; `KW_COLD=1` is `KW_WARMUP_DAYS=1`, so at small sizes the
//! caches filling count too. A 30-day run at 10,000 namespaces exports 8 GB: its full
//! warm-up doubles the run for caches that two days' rows fill already.
//!
//! A plain binary: `cargo bench -p kubeworkz-hub --bench focus_export` (`KW_BACKENDS=sqlite`
//! by default, `postgres` needs `DATABASE_URL`; `KW_RUNS` (3) exports per backend). Prints
//! the fill time, then per run the bytes, lines, time and RSS growth, and the median growth.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kubeworkz_hub::auth::{self, Secret};
use kubeworkz_hub::config::ApiRateLimit;
use kubeworkz_hub::cost::{Allocation, CostBreakdown, NanoDollars};
use kubeworkz_hub::pull::supervisor::PullHandle;
use kubeworkz_hub::seal::{Keyring, MasterKey};
use kubeworkz_hub::state::AppState;
use kubeworkz_hub::workers::Workers;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

const ADMIN_EMAIL: &str = "admin@bench.example";
const ADMIN_PASSWORD: &str = "bench-admin-password";

/// Resident memory now, in bytes.
fn rss() -> u64 {
    (common::status_mib("VmRSS:") * 1024.0 * 1024.0) as u64
}

/// One namespace's hour: CPU and memory billed, two labels, as the engine writes them.
fn allocation(cluster: kubeworkz_shared::ids::ClusterId, hour: i64, n: usize) -> Allocation {
    let mut cost = CostBreakdown::default();
    cost.cpu.requested = 250 * MILLIS_PER_HOUR as u128;
    cost.cpu.billed = cost.cpu.requested;
    cost.cpu.measured_requested = cost.cpu.requested;
    cost.cpu.used = cost.cpu.requested / 3;
    cost.cpu.measured_used = cost.cpu.used;
    cost.cpu.cost = NanoDollars(10_000_000 + n as u64);
    cost.memory.requested = (512u128 << 20) * MILLIS_PER_HOUR as u128;
    cost.memory.billed = cost.memory.requested;
    cost.memory.cost = NanoDollars(2_500_000);
    cost.total = cost.cpu.cost + cost.memory.cost;
    Allocation {
        cluster,
        start: UnixMillis(hour),
        end: UnixMillis(hour + MILLIS_PER_HOUR),
        namespace: format!("ns-{n:05}"),
        team: format!("team-{}", n % 40),
        cost_center: format!("cc-{}", n % 7),
        labels: [
            ("team".to_owned(), format!("team-{}", n % 40)),
            ("cost-center".to_owned(), format!("cc-{}", n % 7)),
        ]
        .into(),
        cost,
        pricing: None,
    }
}

/// Streams `path`, counting bytes and lines: what was read, and how long it took.
async fn export(client: &reqwest::Client, url: &str, token: &str) -> (u64, u64, Duration) {
    let started = Instant::now();
    let mut response = client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await.expect("the stream ends cleanly") {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    (bytes, lines, started.elapsed())
}

async fn bench(backend: &str) {
    let days = common::env("KW_DAYS", 30) as i64;
    let namespaces = common::env("KW_NAMESPACES", 10_000);
    let runs = common::env("KW_RUNS", 3);
    let b = common::fresh_store(backend).await;
    let cluster = common::agent_clusters(&b.store, b.org, 1).await[0];
    let end = UnixMillis::now().0.div_euclid(24 * MILLIS_PER_HOUR) * 24 * MILLIS_PER_HOUR;
    let start = end - days * 24 * MILLIS_PER_HOUR;
    let filled = Instant::now();
    for h in 0..days * 24 {
        let hour = start + h * MILLIS_PER_HOUR;
        let rows: Vec<Allocation> = (0..namespaces)
            .map(|n| allocation(cluster, hour, n))
            .collect();
        b.store
            .save_cost_hour(b.org, cluster, UnixMillis(hour), &rows, chrono::Utc::now())
            .await
            .unwrap();
    }
    println!(
        "{backend}: saved {} hourly rows ({days} days × {namespaces} namespaces) in {:.1} s",
        days as usize * 24 * namespaces,
        filled.elapsed().as_secs_f64()
    );

    let mut state = AppState::new(
        b.store.clone(),
        Workers::new(),
        PullHandle::default(),
        Keyring::new(MasterKey::generate().0, vec![]),
    );
    let unlimited: ApiRateLimit = "0".parse().expect("no per-token limit");
    state.limits = Arc::new(auth::ratelimit::RateLimits::with_api_limit(unlimited));
    auth::bootstrap_admin(
        &b.store,
        Some(ADMIN_EMAIL),
        Some(&Secret::new(ADMIN_PASSWORD.into())),
    )
    .await
    .expect("bootstrap admin");
    let base = common::serve(state).await;
    let client = reqwest::Client::new();
    let token = common::api_token(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let window = |from: i64| {
        let at = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        format!(
            "{base}/api/v1/k8s/costs/focus?window={},{}",
            at(from),
            at(end)
        )
    };
    // Warm-up: the window's last days exported once, so the pools, SQLite's page caches (up
    // to 32 MiB per read connection, whatever reads them) and the allocator are in their
    // steady state and what is measured is the export's own memory.
    let cold = common::env("KW_COLD", 0) == 1;
    let warm_days = common::env("KW_WARMUP_DAYS", if cold { 1 } else { days as usize });
    let warm_days = (warm_days as i64).clamp(1, days);
    let warmed = Instant::now();
    let (warm_bytes, _, _) = export(
        &client,
        &window(end - warm_days * 24 * MILLIS_PER_HOUR),
        &token,
    )
    .await;
    println!(
        "{backend}: warm-up of {warm_days} days exported {:.0} MB in {:.1} s",
        warm_bytes as f64 / 1e6,
        warmed.elapsed().as_secs_f64()
    );

    let mut growths = Vec::new();
    for run in 0..runs {
        let baseline = rss();
        let peak = Arc::new(AtomicU64::new(baseline));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let (bytes, lines, took) = export(&client, &window(start), &token).await;
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
        let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
        // Header + one line per row and resource (CPU and memory).
        assert_eq!(lines, 1 + 2 * days as u64 * 24 * namespaces as u64);
        println!(
            "{backend} run {run}: {:.0} MB, {lines} lines in {:.1} s ({:.0} MB/s); RSS {:.1} MB before, +{:.1} MB at peak",
            bytes as f64 / 1e6,
            took.as_secs_f64(),
            bytes as f64 / 1e6 / took.as_secs_f64(),
            baseline as f64 / 1e6,
            growth as f64 / 1e6
        );
        growths.push(growth);
    }
    growths.sort_unstable();
    println!(
        "{backend}: median RSS growth {:.1} MB over {runs} runs (goal < 50 MB)",
        growths[growths.len() / 2] as f64 / 1e6
    );
}

fn main() {
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for backend in backends.split(',') {
        runtime.block_on(bench(backend.trim()));
    }
}
