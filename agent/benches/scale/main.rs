//! Scale benchmark: the real `kubeworkz-agent` binary on a 100-node, 10,000-pod cluster.
//!
//! Run on demand: `cargo bench -p kubeworkz-agent --bench scale` (needs the test control plane,
//! see `tests/run.sh`; takes a few minutes). Goals: agent RSS < 40 MB, ≤ 150 bytes per pod
//! delta on average. `KW_PODS` / `KW_NODES` override the sizes.
//!
//! RSS is the agent's own: `kubeworkz-agent run` is spawned as a child process exactly as it
//! runs in a cluster (its allocator, runtime, channel and admin endpoints included) and read
//! from `/proc/<pid>/status` — not this process, which also holds the test cluster's client
//! and the bench's bookkeeping. Two agents are measured: one started before the load (it sees
//! every pod arrive as a delta) and one started once the pods run (it lists them all at once,
//! as after an upgrade or restart). The bytes per pod delta are postcard sizes of the changes
//! an in-process collector (the same code the agent runs) emits during a rollout of every
//! deployment. `KW_COMPARE_AGENTS` (colon-separated paths of other agent builds) measures those
//! the same way alongside, to compare builds on one cluster.
//!
//! Every agent is connected: the bench runs the real `kubeworkz-hub serve` (SQLite in a
//! tempdir; built here with `cargo build -p kubeworkz-hub` into this bench's target directory
//! and profile, since cargo gives a bench only its own package's binaries) and enrolls each
//! agent with its own token from the real CLI, so the uplink's connection and queue are part
//! of what is measured.
//!
//! Each measurement point waits until every agent holds every pod and the hub has acked all
//! it sent (the agent's `/metrics`: connected, 0 unacked bytes, no new change), then reports
//! the *steady* RSS: sampled until it stops moving (`steady`), not read after a fixed pause.
//!
//! kube-state-metrics runs on the same cluster from before the load when `KW_KSM` names its
//! binary or `tests/kube-tools/ksm.sh` can build it (`KW_KSM=off` skips it), watching
//! nodes, namespaces, deployments, pods and PVCs, scraped once per measurement point as
//! Prometheus would; its RSS is reported in the same table.

mod procs;
mod steady;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput};
use kubeworkz_shared::model::PodPhase;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use procs::{Agent, Hub, Ksm, Proc};
use serde_json::json;
use steady::Steady;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const AGENT: &str = env!("CARGO_BIN_EXE_kubeworkz-agent");
const DEPLOYMENTS: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    pod_changes: u64,
    pod_bytes: u64,
    pods: HashSet<String>,
    running: HashSet<String>,
}

impl Tally {
    fn record(&mut self, batch: &[Change]) {
        for change in batch {
            let is_pod = match change {
                Change::Upsert(Object::Pod(pod)) => {
                    self.pods.insert(pod.uid.clone());
                    if pod.phase == PodPhase::Running && pod.deleted.is_none() {
                        self.running.insert(pod.uid.clone());
                    } else {
                        self.running.remove(&pod.uid);
                    }
                    true
                }
                Change::Delete(key) if key.kind == ObjectKind::Pod => {
                    self.pods.remove(&key.uid);
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

    /// Records whatever arrives for `period`.
    async fn drain_for(&mut self, rx: &mut mpsc::Receiver<CollectorOutput>, period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            if let Ok(Some(CollectorOutput::Changes(b))) =
                tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
            {
                self.record(&b.changes);
            }
        }
    }
}

/// One row of the report: steady VmRSS at each measurement point, and VmHWM at the end.
#[derive(Default)]
struct Row {
    label: String,
    before: Option<Steady>,
    steady: Option<Steady>,
    after: Option<Steady>,
    peak: u64,
}

/// A cell of the report in `unit` bytes; `*` marks a value that never settled.
fn cell(steady: Option<Steady>, unit: f64) -> String {
    steady.map_or_else(
        || "-".into(),
        |s| {
            let mark = if s.settled_after.is_some() { "" } else { "*" };
            format!("{:.1}{mark}", s.kib as f64 * 1024.0 / unit)
        },
    )
}

fn print_table(rows: &[Row], unit: f64, name: &str) {
    println!("RSS in {name} (steady VmRSS, see above; peak is VmHWM; * = did not settle):");
    println!(
        "  {:<48} {:>7} {:>7} {:>14} {:>7}",
        "", "before", "steady", "after rollout", "peak"
    );
    for row in rows {
        println!(
            "  {:<48} {:>7} {:>7} {:>14} {:>7.1}",
            row.label,
            cell(row.before, unit),
            cell(row.steady, unit),
            cell(row.after, unit),
            row.peak as f64 * 1024.0 / unit,
        );
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
    let hub = Hub::start()?;
    let http = reqwest::Client::new();

    let mut binaries = vec![("kubeworkz-agent".to_owned(), AGENT.to_owned())];
    for path in std::env::var("KW_COMPARE_AGENTS")
        .unwrap_or_default()
        .split(':')
        .filter(|p| !p.is_empty())
    {
        let label = PathBuf::from(path)
            .file_name()
            .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
        binaries.push((label, path.to_owned()));
    }
    let ksm = match Ksm::binary() {
        Some(binary) => Some(Ksm::spawn(&binary, &cluster)?),
        None => None,
    };
    let mut agents = Vec::new();
    for (label, path) in &binaries {
        agents.push(Agent::spawn(label, path, &cluster, &hub)?);
    }
    for agent in &agents {
        agent.holds(&http, ObjectKind::Node, nodes).await;
    }

    let (tx, mut rx) = mpsc::channel(256);
    let shutdown = CancellationToken::new();
    let collector = Collector::new(cluster.client(), CollectorConfig::default());
    let task = tokio::spawn(collector.run(tx, shutdown.clone()));
    let mut tally = Tally::default();
    tally.drain_for(&mut rx, Duration::from_secs(2)).await;

    let mut rows: Vec<Row> = agents
        .iter()
        .map(|a| &a.proc)
        .chain(ksm.as_ref().map(|k| &k.proc))
        .map(|p| Row {
            label: p.label.clone(),
            ..Row::default()
        })
        .collect();
    let before = settle(
        "before the load",
        &agents,
        ksm.as_ref(),
        &http,
        &mut tally,
        &mut rx,
    )
    .await;
    for (row, steady) in rows.iter_mut().zip(before) {
        row.before = Some(steady);
    }

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
    tally.drain_for(&mut rx, Duration::from_secs(2)).await;
    let steady = settle("loaded", &agents, ksm.as_ref(), &http, &mut tally, &mut rx).await;
    for (row, steady) in rows.iter_mut().zip(steady) {
        row.steady = Some(steady);
    }

    // An agent started on the populated cluster lists every pod at once.
    let early = agents.len();
    for (label, path) in &binaries {
        let label = format!("{label}, started on the loaded cluster");
        agents.push(Agent::spawn(&label, path, &cluster, &hub)?);
        rows.push(Row {
            label,
            ..Row::default()
        });
    }
    let late = settle(
        "started loaded",
        &agents[early..],
        None,
        &http,
        &mut tally,
        &mut rx,
    )
    .await;
    let first_late = rows.len() - late.len();
    for (row, steady) in rows[first_late..].iter_mut().zip(late) {
        row.steady = Some(steady);
    }

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
    // Report order: the early agents, kube-state-metrics, the late agents.
    let (early_agents, late_agents) = agents.split_at(early);
    let mut after = settle(
        "after the rollout",
        early_agents,
        ksm.as_ref(),
        &http,
        &mut tally,
        &mut rx,
    )
    .await;
    after.extend(
        settle(
            "after the rollout",
            late_agents,
            None,
            &http,
            &mut tally,
            &mut rx,
        )
        .await,
    );
    let procs = early_agents
        .iter()
        .map(|a| &a.proc)
        .chain(ksm.as_ref().map(|k| &k.proc))
        .chain(late_agents.iter().map(|a| &a.proc));
    for ((row, steady), proc) in rows.iter_mut().zip(after).zip(procs) {
        row.after = Some(steady);
        row.peak = proc.rss_kib().1;
    }
    shutdown.cancel();
    task.await?.context("collector")?;

    print_table(&rows, 1024.0 * 1024.0, "MiB (2^20 bytes)");
    print_table(&rows, 1e6, "MB (10^6 bytes)");
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

/// Waits until every agent holds the pods the bench's collector holds and the hub has acked
/// all it sent, and `ksm` (if any) shows them too, then measures the steady RSS of each
/// (agents first) under `point`.
async fn settle(
    point: &str,
    agents: &[Agent],
    ksm: Option<&Ksm>,
    http: &reqwest::Client,
    tally: &mut Tally,
    rx: &mut mpsc::Receiver<CollectorOutput>,
) -> Vec<Steady> {
    let want = tally.pods.len();
    let caught_up = async {
        for agent in agents {
            agent.delivered(http, want).await;
        }
        if let Some(ksm) = ksm {
            ksm.holds_pods(http, want).await;
        }
    };
    tokio::pin!(caught_up);
    loop {
        tokio::select! {
            () = &mut caught_up => break,
            () = tally.drain_for(rx, Duration::from_secs(1)) => {}
        }
    }
    let procs: Vec<&Proc> = agents
        .iter()
        .map(|a| &a.proc)
        .chain(ksm.map(|k| &k.proc))
        .collect();
    steady::measure(point, &procs, async |pause| {
        tally.drain_for(rx, pause).await
    })
    .await
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
