//! Freshness benchmark: time from an apiserver write to the collector's output.
//!
//! Run on demand: `cargo bench -p kubeworkz-shared --bench freshness` (needs the test control
//! plane; `tests/run.sh` builds it, or set `KUBEWORKZ_KUBE_BIN`). Each round patches a label
//! on a namespace and waits for the batch that carries it; the clock starts before the patch
//! request is sent, so apiserver latency is included. Goal: p99 < 200 ms.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kubeworkz_shared::change::{Change, Object};
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const ROUNDS: usize = 300;

#[tokio::main]
async fn main() -> Result<()> {
    let cluster = TestCluster::start(ClusterSpec::new("fresh", vec![NodeSpec::new("n1")])).await?;
    cluster.create_namespace("fresh").await?;
    let (tx, mut rx) = mpsc::channel(1024);
    let shutdown = CancellationToken::new();
    let collector = Collector::new(cluster.client(), CollectorConfig::default());
    let task = tokio::spawn(collector.run(tx, shutdown.clone()));
    let namespaces: Api<Namespace> = Api::all(cluster.client());

    // Let the initial snapshot pass.
    wait_for_seq(&mut rx, None).await?;

    let mut samples = Vec::with_capacity(ROUNDS);
    for seq in 0..ROUNDS {
        let started = Instant::now();
        namespaces
            .patch(
                "fresh",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"seq": seq.to_string()}}})),
            )
            .await?;
        wait_for_seq(&mut rx, Some(seq)).await?;
        samples.push(started.elapsed());
    }
    shutdown.cancel();
    task.await?.context("collector")?;

    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).min(samples.len()) - 1];
    println!(
        "freshness apiserver write -> collector output, {} rounds: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        samples.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[samples.len() - 1]
    );
    Ok(())
}

/// Waits for a batch holding namespace `fresh` with label `seq` (any upsert of it when `None`).
async fn wait_for_seq(rx: &mut mpsc::Receiver<CollectorOutput>, seq: Option<usize>) -> Result<()> {
    let wanted = seq.map(|s| s.to_string());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let output = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .context("timed out waiting for the collector")?;
        let Some(output) = output else {
            bail!("collector stopped")
        };
        if let CollectorOutput::Changes(batch) = output {
            let found = batch.changes.iter().any(|change| match change {
                Change::Upsert(Object::Namespace(ns)) if ns.name == "fresh" => {
                    wanted.is_none() || ns.labels.get("seq") == wanted.as_ref()
                }
                _ => false,
            });
            if found {
                return Ok(());
            }
        }
    }
}
