//! Scale benchmark: the collector on a 100-node, 10,000-pod cluster.
//!
//! Run on demand: `cargo bench -p kubeworkz-shared --bench scale` (needs the test control
//! plane, see `tests/run.sh`; takes a few minutes). Reports the collector's steady RSS (this
//! process: collector + its inventory, no test cluster — that runs in other processes) and the
//! postcard bytes per pod change during a rollout of every deployment. Goals: RSS < 40 MB,
//! ≤ 150 bytes per pod delta on average. `KW_PODS` / `KW_NODES` override the sizes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DEPLOYMENTS: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    pod_changes: u64,
    pod_bytes: u64,
    running: std::collections::HashSet<String>,
}

impl Tally {
    fn record(&mut self, batch: &[Change]) {
        for change in batch {
            let is_pod = match change {
                Change::Upsert(Object::Pod(pod)) => {
                    if pod.phase == kubeworkz_shared::model::PodPhase::Running
                        && pod.deleted.is_none()
                    {
                        self.running.insert(pod.uid.clone());
                    } else {
                        self.running.remove(&pod.uid);
                    }
                    true
                }
                Change::Delete(key) if key.kind == ObjectKind::Pod => {
                    self.running.remove(&key.uid);
                    true
                }
                _ => false,
            };
            if is_pod {
                self.pod_changes += 1;
                self.pod_bytes += postcard::to_allocvec(change).map_or(0, |b| b.len() as u64);
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let pods = env_usize("KW_PODS", 10_000);
    let nodes = env_usize("KW_NODES", 100);
    let replicas = pods / DEPLOYMENTS;
    let node_specs = (0..nodes)
        .map(|i| NodeSpec::new(format!("node-{i:03}")).capacity("64", "256Gi"))
        .map(|mut n| {
            n.capacity.insert("pods".into(), "250".into());
            n
        })
        .collect();
    let mut spec = ClusterSpec::new("scale", node_specs);
    spec.start_timeout = Duration::from_secs(600);
    let cluster = TestCluster::start(spec).await?;
    cluster.create_namespace("load").await?;
    let rss_before = rss_kib();

    let (tx, mut rx) = mpsc::channel(4096);
    let shutdown = CancellationToken::new();
    let collector = Collector::new(cluster.client(), CollectorConfig::default());
    let inventory = collector.inventory();
    let task = tokio::spawn(collector.run(tx, shutdown.clone()));

    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "load");
    let started = Instant::now();
    for i in 0..DEPLOYMENTS {
        deployments
            .create(
                &PostParams::default(),
                &deployment(&format!("app-{i:03}"), replicas, "v1"),
            )
            .await?;
    }
    let mut tally = Tally::default();
    wait_running(
        &mut rx,
        &mut tally,
        DEPLOYMENTS * replicas,
        Duration::from_secs(900),
    )
    .await?;
    println!(
        "{} pods Running on {nodes} nodes after {:?}",
        tally.running.len(),
        started.elapsed()
    );

    // Steady state: let the watchers and the allocator settle, then measure.
    let settle = Instant::now() + Duration::from_secs(20);
    while Instant::now() < settle {
        if let Ok(Some(CollectorOutput::Changes(b))) =
            tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
        {
            tally.record(&b.changes);
        }
    }
    let steady = rss_kib();
    let objects = inventory.lock().expect("inventory").len();

    // Churn: roll out every deployment, replacing every pod.
    let (changes_before, bytes_before) = (tally.pod_changes, tally.pod_bytes);
    for i in 0..DEPLOYMENTS {
        deployments
            .patch(
                &format!("app-{i:03}"),
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"template": {"metadata": {"annotations": {"rev": "v2"}}}}}),
                ),
            )
            .await?;
    }
    // Wait until the rollout's deltas stop.
    let mut quiet_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(900);
    while quiet_since.elapsed() < Duration::from_secs(10) && Instant::now() < deadline {
        if let Ok(Some(CollectorOutput::Changes(b))) =
            tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
        {
            tally.record(&b.changes);
            quiet_since = Instant::now();
        }
    }
    let churn_changes = tally.pod_changes - changes_before;
    let churn_bytes = tally.pod_bytes - bytes_before;
    let peak = rss_kib();
    shutdown.cancel();
    task.await?.context("collector")?;

    println!("inventory objects held by the collector: {objects}");
    println!(
        "collector RSS: before {:.1} MiB, steady {:.1} MiB, after churn {:.1} MiB",
        rss_before as f64 / 1024.0,
        steady as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "rollout churn: {churn_changes} pod changes, {churn_bytes} bytes, {:.1} bytes per pod delta",
        churn_bytes as f64 / churn_changes.max(1) as f64
    );
    println!(
        "test cluster RSS (all components): {:.0} MiB",
        cluster.rss_kib().values().sum::<u64>() as f64 / 1024.0
    );
    Ok(())
}

/// Waits until `want` pods run, or until none has started for a minute (then the report says
/// how many ran: KWOK occasionally fails a pod's ready stage under load).
async fn wait_running(
    rx: &mut mpsc::Receiver<CollectorOutput>,
    tally: &mut Tally,
    want: usize,
    timeout: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let (mut best, mut progressed) = (0, Instant::now());
    while tally.running.len() < want {
        if progressed.elapsed() > Duration::from_secs(60) {
            println!("stalled at {} of {want} pods running", tally.running.len());
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(CollectorOutput::Changes(b))) => tally.record(&b.changes),
            Ok(Some(_)) => {}
            Ok(None) => bail!("collector stopped"),
            Err(_) => bail!(
                "only {} of {want} pods running in time",
                tally.running.len()
            ),
        }
        if tally.running.len() > best {
            (best, progressed) = (tally.running.len(), Instant::now());
        }
    }
    Ok(())
}

fn deployment(name: &str, replicas: usize, rev: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "50%"}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"rev": rev}},
                "spec": {"containers": [
                    {"name": "app", "image": "registry.example.com/app:1",
                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                   "limits": {"memory": "256Mi"}}},
                    {"name": "sidecar", "image": "registry.example.com/proxy:1",
                     "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}},
                ]},
            },
        },
    }))
    .expect("valid deployment")
}
