//! First log byte through the agent's tunnel: `cargo bench -p kubeworkz-hub --bench operations`.
//!
//! Every part real: a test cluster whose KWOK serves a 1,000-line container log from a file,
//! the real `kubeworkz-hub serve` (SQLite), the real agent installed from the chart on
//! loopback. `KW_SAMPLES` (default 200) times, one after another: `GET
//! /api/v1/k8s/pods/{id}/logs?tailLines=10` as a logged-in admin, timed from sending the
//! request to the first body byte (hub → agent stream → apiserver → KWOK and back), then the
//! rest is read. Reports p50/p90/p99/max (goal: p99 < 300 ms).
//!
//! Needs the control plane binaries: `KUBEWORKZ_KUBE_BIN=$(bash tests/kube-tools/build.sh
//! --print-bin-dir)`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use kubeworkz_testkit::chart;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster, append_log_lines};

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use support::operations::{Stack, pod_with_log};

fn main() -> Result<()> {
    let samples = common::env("KW_SAMPLES", 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cluster =
            TestCluster::start(ClusterSpec::new("ops-bench", vec![NodeSpec::new("node-a")]))
                .await?;
        cluster.create_namespace(chart::NAMESPACE).await?;
        cluster.create_namespace("apps").await?;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("app.log");
        let lines: Vec<String> = (0..1000)
            .map(|i| format!("line {i} of the app's log"))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        append_log_lines(&log, &lines)?;
        let uid = pod_with_log(&cluster, "apps", "web", &log, false).await?;
        let Stack {
            hub,
            agent,
            base,
            session,
        } = Stack::start(&cluster, dir.path(), "logs").await?;
        let http = reqwest::Client::new();
        let url = format!("{base}/api/v1/k8s/pods/{uid}/logs?tailLines=10");
        let get = || http.get(&url).header("cookie", &session).send();
        let deadline = Instant::now() + Duration::from_secs(60);
        while get().await?.status() != 200 {
            ensure!(Instant::now() < deadline, "the pod's log never answered");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let started = Instant::now();
            let mut response = get().await?;
            ensure!(response.status() == 200, "{}", response.status());
            let first = response.chunk().await?.context("an empty log")?;
            times.push(started.elapsed());
            ensure!(!first.is_empty());
            while response.chunk().await?.is_some() {}
        }
        times.sort();
        println!(
            "first log byte through the agent ({samples} requests, tailLines=10): \
             p50 {:?} p90 {:?} p99 {:?} max {:?}",
            common::percentile(&times, 0.50),
            common::percentile(&times, 0.90),
            common::percentile(&times, 0.99),
            times[times.len() - 1],
        );
        agent.stop().await?;
        hub.stop()?;
        Ok(())
    })
}
