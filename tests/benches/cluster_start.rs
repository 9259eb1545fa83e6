//! Numbers for the test clusters, not a check: start time and memory of one cluster.
//! Run on demand: `cargo bench -p kubeworkz-testkit --bench cluster_start`
//! (`KUBEWORKZ_MEASURE_RUNS` sets the number of starts, default 5).

use std::time::{Duration, Instant};

use anyhow::Result;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};

#[tokio::main]
async fn main() -> Result<()> {
    let runs: usize = std::env::var("KUBEWORKZ_MEASURE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let nodes = || {
        (0..3)
            .map(|i| NodeSpec::new(format!("worker-{i}")))
            .collect::<Vec<_>>()
    };
    let mut times = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let cluster = TestCluster::start(ClusterSpec::new(format!("measure{i}"), nodes())).await?;
        times.push(t.elapsed().as_secs_f64());
        if i == runs - 1 {
            // Let every component settle (metrics-server has scraped a few times).
            tokio::time::sleep(Duration::from_secs(30)).await;
            let rss = cluster.rss_kib();
            let total: u64 = rss.values().sum();
            for (k, v) in &rss {
                eprintln!("rss {:<24} {:>8} KiB", k.name(), v);
            }
            eprintln!("rss total {total} KiB ({:.0} MiB)", total as f64 / 1024.0);
            let pids: Vec<String> = cluster.pids().values().map(|p| p.to_string()).collect();
            eprintln!("cross-check: ps -o rss=,comm= -p {}", pids.join(","));
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "start times (s): {times:.2?}; median {:.2}",
        sorted[sorted.len() / 2]
    );
    Ok(())
}
