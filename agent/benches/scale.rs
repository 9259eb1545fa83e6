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

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput};
use kubeworkz_shared::model::PodPhase;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const AGENT: &str = env!("CARGO_BIN_EXE_kubeworkz-agent");
const DEPLOYMENTS: usize = 100;
/// How long the agents get to settle (watchers idle, allocator trimmed) before a measurement.
const SETTLE: Duration = Duration::from_secs(20);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A running agent binary; killed on drop.
struct Agent {
    label: String,
    child: Child,
    port: u16,
}

/// The real hub: `serve` on a SQLite file, and its CLI for tokens. Killed on drop.
struct Hub {
    binary: PathBuf,
    dir: tempfile::TempDir,
    child: Child,
    quic: String,
}

impl Hub {
    fn start() -> Result<Self> {
        let binary = build_hub()?;
        let dir = tempfile::tempdir()?;
        let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
        let mut child = Command::new(&binary)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--quic-listen",
                "127.0.0.1:0",
            ])
            .env("KUBEWORKZ_DATABASE_URL", &db)
            .env("KUBEWORKZ_LOG_JSON", "true")
            .env("RUST_LOG", "info")
            .env_remove("KUBEWORKZ_MASTER_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting kubeworkz-hub serve")?;
        // The hub logs to stderr.
        let logs = child.stderr.take().context("hub stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(logs).lines().map_while(Result::ok) {
                if line.contains("agent endpoint listening") {
                    let _ = tx.send(line);
                }
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the hub never reported its agent endpoint");
        };
        let json: serde_json::Value = serde_json::from_str(&line)?;
        let quic = json["quic_listen"]
            .as_str()
            .context("no quic_listen field")?
            .to_owned();
        Ok(Self {
            binary,
            dir,
            child,
            quic,
        })
    }

    /// A one-time token for a new cluster called `name`.
    fn token(&self, name: &str) -> Result<String> {
        let db = format!(
            "sqlite://{}",
            self.dir.path().join("kubeworkz.db").display()
        );
        let out = Command::new(&self.binary)
            .args(["token", "create", "--name", name, "--output", "json"])
            .env("KUBEWORKZ_DATABASE_URL", db)
            .env_remove("KUBEWORKZ_MASTER_KEY")
            .output()?;
        if !out.status.success() {
            bail!("token create: {}", String::from_utf8_lossy(&out.stderr));
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        Ok(json["token"].as_str().context("no token")?.to_owned())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the hub binary into this bench's target directory and profile (a no-op when it is
/// up to date).
fn build_hub() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("bench binary outside a target directory")?;
    let target_dir = profile_dir.parent().context("no target directory")?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some("release") => "bench",
        Some(other) => other,
        None => bail!("no profile directory"),
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "kubeworkz-hub",
            "--bin",
            "kubeworkz-hub",
        ])
        .args(["--profile", profile])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .context("running cargo build for the hub")?;
    if !status.success() {
        bail!("building kubeworkz-hub failed: {status}");
    }
    Ok(profile_dir.join("kubeworkz-hub"))
}

impl Agent {
    fn spawn(label: &str, binary: &str, cluster: &TestCluster, hub: &Hub) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(binary)
            .arg("run")
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("KUBEWORKZ_HUB_ADDR", &hub.quic)
            .env("KUBEWORKZ_TOKEN", hub.token(&format!("scale-{port}"))?)
            .env(
                "KUBEWORKZ_CREDENTIALS_FILE",
                hub.dir.path().join(format!("agent-{port}.json")),
            )
            .env("KUBEWORKZ_ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        Ok(Self {
            label: label.to_owned(),
            child,
            port,
        })
    }

    /// `(VmRSS, VmHWM)` in KiB: resident now, and the most it has been.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The agent's own count of `kind` from its `/metrics`.
    async fn count(&self, http: &reqwest::Client, kind: ObjectKind) -> Option<usize> {
        let text = http
            .get(format!("http://127.0.0.1:{}/metrics", self.port))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let prefix = format!("kubeworkz_agent_inventory_objects{{kind=\"{kind:?}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Waits until the agent holds `want` objects of `kind` (it has caught up with the cluster).
    async fn caught_up(&self, http: &reqwest::Client, kind: ObjectKind, want: usize) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let got = self.count(http, kind).await;
            if got == Some(want) {
                return;
            }
            if Instant::now() > deadline {
                println!(
                    "{}: holds {got:?} of {want} {kind:?}, measuring anyway",
                    self.label
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// One row of the report: `(VmRSS, VmHWM)` at each measurement point.
#[derive(Default)]
struct Row {
    before: Option<u64>,
    steady: Option<u64>,
    after: Option<u64>,
    peak: u64,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
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
    let mut agents = Vec::new();
    for (label, path) in &binaries {
        agents.push(Agent::spawn(label, path, &cluster, &hub)?);
    }
    let mut rows: Vec<Row> = agents.iter().map(|_| Row::default()).collect();
    for agent in &agents {
        agent.caught_up(&http, ObjectKind::Node, nodes).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (agent, row) in agents.iter().zip(&mut rows) {
        row.before = Some(agent.rss_kib().0);
    }

    let (tx, mut rx) = mpsc::channel(256);
    let shutdown = CancellationToken::new();
    let collector = Collector::new(cluster.client(), CollectorConfig::default());
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

    // Steady state: every agent holds every pod, then watchers and allocators settle.
    tally.drain_for(&mut rx, Duration::from_secs(2)).await;
    settle(&agents, &http, &mut tally, &mut rx).await;
    for (agent, row) in agents.iter().zip(&mut rows) {
        row.steady = Some(agent.rss_kib().0);
    }

    // An agent started on the populated cluster lists every pod at once.
    let early = agents.len();
    for (label, path) in &binaries {
        let late = Agent::spawn(
            &format!("{label}, started on the loaded cluster"),
            path,
            &cluster,
            &hub,
        )?;
        agents.push(late);
    }
    settle(&agents[early..], &http, &mut tally, &mut rx).await;
    for agent in &agents[early..] {
        rows.push(Row {
            steady: Some(agent.rss_kib().0),
            ..Row::default()
        });
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
    settle(&agents, &http, &mut tally, &mut rx).await;
    for (agent, row) in agents.iter().zip(&mut rows) {
        let (rss, peak) = agent.rss_kib();
        row.after = Some(rss);
        row.peak = peak;
    }
    shutdown.cancel();
    task.await?.context("collector")?;

    println!("agent RSS in MiB (VmRSS; peak is VmHWM):");
    println!(
        "  {:<48} {:>7} {:>7} {:>14} {:>7}",
        "", "before", "steady", "after rollout", "peak"
    );
    for (agent, row) in agents.iter().zip(&rows) {
        println!(
            "  {:<48} {:>7} {:>7} {:>14} {:>7}",
            agent.label,
            mib(row.before),
            mib(row.steady),
            mib(row.after),
            mib(Some(row.peak)),
        );
    }
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

/// Waits until every agent holds the pods the bench's collector holds, then [`SETTLE`].
async fn settle(
    agents: &[Agent],
    http: &reqwest::Client,
    tally: &mut Tally,
    rx: &mut mpsc::Receiver<CollectorOutput>,
) {
    for agent in agents {
        agent
            .caught_up(http, ObjectKind::Pod, tally.pods.len())
            .await;
    }
    tally.drain_for(rx, SETTLE).await;
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
