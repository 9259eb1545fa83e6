//! Followed logs through the agent's tunnel, and what they cost the hub and the agent in
//! memory: `cargo bench -p kubeworkz-hub --bench log_follows`.
//!
//! Every part real, as in the `operations` bench: a KWOK test cluster serving `KW_FOLLOWS`
//! (100) pods' logs from files it follows, the real `kubeworkz-hub serve` (SQLite) and the
//! real agent installed from the chart, on loopback. Each of `KW_RUNS` (3) runs has two
//! phases, on the same hub and agent:
//!
//! 1. **Follows.** One `GET /api/v1/k8s/pods/{id}/logs?follow=true&tailLines=1` per pod, each
//!    read as fast as it comes, while a writer thread appends lines of `KW_LINE_BYTES` (200)
//!    bytes to the pods' files at `KW_RATE_MB` (20) MB/s in all for `KW_SECONDS` (60) s.
//!    Reports the bytes the clients received per second while the writer ran, how far behind
//!    they were when it stopped, the CPU each process used (what limits the throughput), and
//!    the hub's and the agent's RSS (`/proc/PID/status` `VmRSS`) before, at most during and
//!    after (goals: growth < 50 MB hub, < 30 MB agent). Then every client closes at once:
//!    when the agent dropped the first and the last Kubernetes stream (its log's
//!    timestamps) and when KWOK closed the last log file it served them from.
//! 2. **A stalled client.** One follow that reads its first bytes and then nothing for
//!    `KW_STALL_SECONDS` (60) s while its pod's file grows at `KW_STALL_RATE_MB` (2) MB/s
//!    (far more than the kernel's socket buffers take), beside `KW_PROBES` (10) follows that
//!    keep reading their pods at the same per-pod rate as phase 1 and one `tailLines=10`
//!    request halfway: neither may be held up by the stalled stream, which shares their QUIC
//!    connection. Reports the hub's and agent's RSS growth over the stall (goal: none beyond
//!    the transport's fixed windows), then the stalled client reads again for 2 s (its stream
//!    still works) and closes, and the agent must log that it dropped the Kubernetes stream.
//!
//! With `KW_DIRECT=1` the follows read the apiserver straight (the cluster's kube client in
//! the bench, no hub, no agent, no stall phase): what KWOK and the apiserver alone deliver,
//! the ceiling of the pipeline on the same machine.
//!
//! Prints each run and the medians over the runs. Needs the control plane binaries:
//! `KUBEWORKZ_KUBE_BIN=$(bash tests/kube-tools/build.sh --print-bin-dir)`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use kubeworkz_testkit::chart;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster, append_log_lines};

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use support::operations::{Stack, pod_with_log};
use support::real_agent;
/// Shortest line the writer makes: its sequence number, a space, one filler byte and the
/// newline.
const MIN_LINE: usize = 13;
/// The end of the agent's log line when it dropped a Kubernetes log stream because the hub
/// stopped reading (`agent::operations`).
const STREAM_CLOSED: &str = "log stream closed";

#[derive(Clone, Copy)]
struct Settings {
    follows: usize,
    rate: f64,
    seconds: u64,
    stall_seconds: u64,
    stall_rate: f64,
    probes: usize,
    runs: usize,
    /// Bytes of one written line as the clients receive it (the text and its newline).
    line: usize,
    /// Follow straight from the apiserver (`KW_DIRECT=1`), without the hub and the agent:
    /// what the control plane alone delivers on this machine.
    direct: bool,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            follows: common::env("KW_FOLLOWS", 100),
            rate: common::env("KW_RATE_MB", 20) as f64 * 1e6,
            seconds: common::env("KW_SECONDS", 60) as u64,
            stall_seconds: common::env("KW_STALL_SECONDS", 60) as u64,
            stall_rate: common::env("KW_STALL_RATE_MB", 2) as f64 * 1e6,
            probes: common::env("KW_PROBES", 10),
            runs: common::env("KW_RUNS", 3),
            line: common::env("KW_LINE_BYTES", 200).max(MIN_LINE),
            direct: common::env("KW_DIRECT", 0) == 1,
        }
    }
}

/// A process's resident set now, in MB (10^6 bytes, as the goals are stated).
fn rss_mb(pid: u32) -> f64 {
    common::process_status_mib(pid, "VmRSS:") * 1.048_576
}

/// CPU seconds (user + system) `pid` has used so far; 0 when it is gone.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// Appends lines to `files` at `rates` (bytes per second each, as received) from a thread of
/// its own (blocking file I/O) until stopped; joins to the bytes written.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<u64>>,
}

impl Writer {
    fn start(files: Vec<PathBuf>, rates: Vec<f64>, line: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut open = files
                .iter()
                .map(|f| std::fs::OpenOptions::new().append(true).open(f))
                .collect::<std::io::Result<Vec<_>>>()?;
            let mut written = vec![0u64; files.len()];
            let started = Instant::now();
            let filler = "x".repeat(line);
            let mut batch = String::new();
            while !stopping.load(Ordering::Relaxed) {
                let elapsed = started.elapsed().as_secs_f64();
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                for (i, file) in open.iter_mut().enumerate() {
                    batch.clear();
                    while (written[i] as f64) < rates[i] * elapsed {
                        let seq = written[i] / line as u64;
                        // The kubelet's CRI format; KWOK sends the text after `F `.
                        batch.push_str(&format!("{now} stdout F {seq:010} "));
                        batch.push_str(&filler[..line - 12]);
                        batch.push('\n');
                        written[i] += line as u64;
                    }
                    if !batch.is_empty() {
                        file.write_all(batch.as_bytes())?;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(written.iter().sum())
        });
        Self { stop, thread }
    }

    fn finish(self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the writer panicked")
    }
}

/// Requests with the admin's session.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Client {
    async fn logs(&self, uid: &str, query: &str) -> Result<reqwest::Response> {
        let response = self
            .http
            .get(format!("{}/api/v1/k8s/pods/{uid}/logs?{query}", self.base))
            .header("cookie", &self.session)
            .send()
            .await?;
        ensure!(response.status() == 200, "logs: {}", response.status());
        Ok(response)
    }

    /// Follows `uid`'s log, adding what arrives to `received`, until aborted.
    fn follow(&self, uid: &str, received: Arc<AtomicU64>) -> tokio::task::JoinHandle<Result<()>> {
        let (client, uid) = (self.clone(), uid.to_owned());
        tokio::spawn(async move {
            let mut response = client.logs(&uid, "follow=true&tailLines=1").await?;
            while let Some(chunk) = response.chunk().await? {
                received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        })
    }
}

/// When the first and the last of the agent's last `n` stream closes were logged (its JSON
/// `log`'s timestamps): whether they came together or trickled in.
fn last_closes(log: &str, n: usize) -> [chrono::DateTime<chrono::FixedOffset>; 2] {
    let times: Vec<_> = log
        .lines()
        .filter(|l| l.contains(STREAM_CLOSED))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str()?).ok())
        .collect();
    let last = &times[times.len().saturating_sub(n)..];
    let now = chrono::Utc::now().fixed_offset();
    [
        last.iter().min().copied().unwrap_or(now),
        last.iter().max().copied().unwrap_or(now),
    ]
}

/// The name of the `i`th pod.
fn pod_name(i: usize) -> String {
    format!("app-{i:03}")
}

/// Follows pod `name`'s log straight from the apiserver with `client`, adding what arrives to
/// `received`, until aborted: the `KW_DIRECT` baseline.
fn direct_follow(
    client: kube::Client,
    name: String,
    received: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Result<()>> {
    use futures::AsyncReadExt as _;
    tokio::spawn(async move {
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(client, "apps");
        let params = kube::api::LogParams {
            follow: true,
            tail_lines: Some(1),
            ..Default::default()
        };
        let stream = pods.log_stream(&name, &params).await?;
        tokio::pin!(stream);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            received.fetch_add(n as u64, Ordering::Relaxed);
        }
    })
}

/// Highest RSS (MB) of `pids` seen every 100 ms until `until`.
fn sample_max(pids: [u32; 2], until: Instant) -> tokio::task::JoinHandle<[f64; 2]> {
    tokio::spawn(async move {
        let mut max = [0.0f64; 2];
        while Instant::now() < until {
            for (m, pid) in max.iter_mut().zip(pids) {
                *m = m.max(rss_mb(pid));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        max
    })
}

fn sum(counters: &[Arc<AtomicU64>]) -> u64 {
    counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

/// One run's numbers, by name (MB, MB/s, s, %).
type Numbers = BTreeMap<&'static str, f64>;

struct Bench {
    cluster: TestCluster,
    settings: Settings,
    client: Client,
    pods: Vec<(String, PathBuf)>,
    hub: u32,
    agent: real_agent::Agent,
    components: Vec<(String, u32)>,
    /// Follows closed so far, each of which the agent logs once.
    closed: usize,
}

impl Bench {
    fn pids(&self) -> [u32; 2] {
        [self.hub, self.agent.pid()]
    }

    /// Waits until the agent has dropped the Kubernetes streams of `more` more follows,
    /// closed at `closed_at`, and KWOK has closed the log files of `pods`; returns how long
    /// after `closed_at` the agent's last drop was (by its log's timestamps) and KWOK's
    /// last file closed (polled every 10 ms).
    async fn upstream_closed(
        &mut self,
        more: usize,
        pods: &[usize],
        closed_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<[Duration; 2]> {
        if !self.settings.direct {
            self.closed += more;
            self.agent
                .wait_log(STREAM_CLOSED, self.closed, Duration::from_secs(60))
                .await
                .context("the agent did not drop the kubernetes streams of closed follows")?;
        }
        for &i in pods {
            self.cluster
                .wait_log_files_closed(&self.pods[i].1, Duration::from_secs(60))
                .await?;
        }
        let kwok = (chrono::Utc::now() - closed_at).to_std()?;
        let [first, last] = match self.settings.direct {
            true => [closed_at.fixed_offset(); 2],
            false => last_closes(&self.agent.log(), more),
        };
        let since = |t: chrono::DateTime<chrono::FixedOffset>| {
            (t.with_timezone(&chrono::Utc) - closed_at)
                .to_std()
                .unwrap_or_default()
        };
        println!(
            "  {more} closes: the agent dropped the first {:.0} ms and the last {:.0} ms after \
             the clients closed; KWOK's last file closed at {:.0} ms",
            since(first).as_secs_f64() * 1000.0,
            since(last).as_secs_f64() * 1000.0,
            kwok.as_secs_f64() * 1000.0,
        );
        Ok([since(last), kwok])
    }

    /// Phase 1: every pod followed while the writer runs at the full rate.
    async fn follows(&mut self, out: &mut Numbers) -> Result<()> {
        let s = self.settings;
        for (_, file) in &self.pods {
            std::fs::File::create(file)?;
            append_log_lines(file, &["the first line"])?;
        }
        let [hub_before, agent_before] = self.pids().map(rss_mb);
        let counters: Vec<_> = (0..s.follows)
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        let tasks: Vec<_> = self
            .pods
            .iter()
            .zip(&counters)
            .enumerate()
            .map(|(i, ((uid, _), c))| match s.direct {
                true => direct_follow(self.cluster.client(), pod_name(i), c.clone()),
                false => self.client.follow(uid, c.clone()),
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while counters.iter().any(|c| c.load(Ordering::Relaxed) == 0) {
            ensure!(Instant::now() < deadline, "not every follow started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut processes: Vec<(String, u32)> =
            vec![("hub".into(), self.hub), ("agent".into(), self.agent.pid())];
        processes.extend(self.components.iter().cloned());
        let cpu_before: Vec<f64> = processes.iter().map(|(_, p)| cpu_seconds(*p)).collect();
        let started = Instant::now();
        let sampler = sample_max(self.pids(), started + Duration::from_secs(s.seconds + 10));
        let received_before = sum(&counters);
        let files: Vec<PathBuf> = self.pods.iter().map(|(_, f)| f.clone()).collect();
        let writer = Writer::start(files, vec![s.rate / s.follows as f64; s.follows], s.line);
        tokio::time::sleep(Duration::from_secs(s.seconds)).await;
        let written = writer.finish()?;
        let elapsed = started.elapsed().as_secs_f64();
        let received = sum(&counters) - received_before;
        let cpu: Vec<f64> = processes
            .iter()
            .zip(&cpu_before)
            .map(|((_, p), before)| (cpu_seconds(*p) - before) / elapsed * 100.0)
            .collect();
        // The rest still on its way, for at most 10 s.
        let drain = Instant::now();
        while sum(&counters) - received_before < written && drain.elapsed().as_secs() < 10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let behind = written.saturating_sub(sum(&counters) - received_before);
        let [hub_max, agent_max] = sampler.await?;
        let closed_at = chrono::Utc::now();
        for task in &tasks {
            task.abort();
        }
        let all: Vec<usize> = (0..s.follows).collect();
        let [upstream, kwok] = self.upstream_closed(s.follows, &all, closed_at).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let [hub_after, agent_after] = self.pids().map(rss_mb);
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await {
                Err(err) if err.is_cancelled() => {}
                other => anyhow::bail!("follow {i} ended early: {other:?}"),
            }
        }
        println!(
            "  follows: written {:.1} MB/s, received {:.1} MB/s while writing, {:.1} MB behind \
             at the end; CPU% {}",
            written as f64 / elapsed / 1e6,
            received as f64 / elapsed / 1e6,
            behind as f64 / 1e6,
            processes
                .iter()
                .zip(&cpu)
                .map(|((name, _), c)| format!("{name} {c:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  follows: hub RSS {hub_before:.1} → max {hub_max:.1} → {hub_after:.1} MB; \
             agent RSS {agent_before:.1} → max {agent_max:.1} → {agent_after:.1} MB; every \
             upstream stream closed {:.0} ms after the clients",
            upstream.as_secs_f64() * 1000.0
        );
        out.insert("closed: agent ms", upstream.as_secs_f64() * 1000.0);
        out.insert("closed: KWOK ms", kwok.as_secs_f64() * 1000.0);
        out.insert("written MB/s", written as f64 / elapsed / 1e6);
        out.insert("received MB/s", received as f64 / elapsed / 1e6);
        out.insert("behind MB", behind as f64 / 1e6);
        out.insert("hub growth MB", hub_max - hub_before);
        out.insert("agent growth MB", agent_max - agent_before);
        out.insert("hub after MB", hub_after);
        out.insert("agent after MB", agent_after);
        out.insert("hub CPU %", cpu[0]);
        out.insert("agent CPU %", cpu[1]);
        Ok(())
    }

    /// Phase 2: one client stops reading; the others must not notice, memory must not grow.
    async fn stall(&mut self, out: &mut Numbers) -> Result<()> {
        let s = self.settings;
        let probes = s.probes.min(self.pods.len() - 1);
        let [hub_before, agent_before] = self.pids().map(rss_mb);
        let (stalled_uid, _) = &self.pods[0];
        let mut stalled = self
            .client
            .logs(stalled_uid, "follow=true&tailLines=1")
            .await?;
        stalled
            .chunk()
            .await?
            .context("the stalled follow's first line")?;
        let counters: Vec<_> = (0..probes).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let tasks: Vec<_> = self.pods[1..=probes]
            .iter()
            .zip(&counters)
            .map(|((uid, _), c)| self.client.follow(uid, c.clone()))
            .collect();
        let files: Vec<PathBuf> = self.pods[..=probes]
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        let mut rates = vec![s.rate / s.follows as f64; probes + 1];
        rates[0] = s.stall_rate;
        let started = Instant::now();
        let sampler = sample_max(self.pids(), started + Duration::from_secs(s.stall_seconds));
        let writer = Writer::start(files, rates, s.line);
        tokio::time::sleep(Duration::from_secs(s.stall_seconds / 2)).await;
        // A new request on the same connection, halfway through the stall.
        let asked = Instant::now();
        let tail = tokio::time::timeout(Duration::from_secs(20), async {
            let mut response = self
                .client
                .logs(&self.pods[probes + 1].0, "tailLines=10")
                .await?;
            response.chunk().await?.context("an empty tail")?;
            let took = asked.elapsed();
            // Read to its end, so it ends on the agent's side and not as a closed follow.
            while response.chunk().await?.is_some() {}
            anyhow::Ok(took)
        })
        .await;
        let tail_ms = match tail {
            Ok(Ok(took)) => took.as_secs_f64() * 1000.0,
            Ok(Err(err)) => return Err(err.context("a tail during the stall")),
            Err(_) => f64::INFINITY,
        };
        let until = started + Duration::from_secs(s.stall_seconds);
        tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
        let probe_rate = sum(&counters) as f64 / started.elapsed().as_secs_f64();
        let [hub_max, agent_max] = sampler.await?;
        // Resume for 2 s: the stalled stream still carries the log.
        let mut resumed = 0usize;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(Some(chunk)) = stalled.chunk().await {
                resumed += chunk.len();
            }
        })
        .await;
        ensure!(
            self.agent.log().matches(STREAM_CLOSED).count() == self.closed,
            "a follow closed early"
        );
        let closed_at = chrono::Utc::now();
        drop(stalled);
        let upstream_ms = self.upstream_closed(1, &[0], closed_at).await?[0].as_secs_f64() * 1000.0;
        writer.finish()?;
        let closed_at = chrono::Utc::now();
        for task in &tasks {
            task.abort();
        }
        let probed: Vec<usize> = (1..=probes).collect();
        self.upstream_closed(probes, &probed, closed_at).await?;
        println!(
            "  stall: hub RSS {hub_before:.1} → max {hub_max:.1} MB; agent RSS \
             {agent_before:.1} → max {agent_max:.1} MB; {probes} other follows received \
             {:.2} MB/s (written {:.2} MB/s); a tail answered in {tail_ms:.0} ms; resumed \
             {:.1} MB in 2 s; upstream closed {upstream_ms:.0} ms after the client",
            probe_rate / 1e6,
            s.rate / s.follows as f64 * probes as f64 / 1e6,
            resumed as f64 / 1e6,
        );
        ensure!(
            resumed > 0,
            "the stalled stream carried nothing after the stall"
        );
        out.insert("stall hub growth MB", hub_max - hub_before);
        out.insert("stall agent growth MB", agent_max - agent_before);
        out.insert("stall probes MB/s", probe_rate / 1e6);
        out.insert("stall tail ms", tail_ms);
        out.insert("stall upstream closed ms", upstream_ms);
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok(())
    }
}

async fn create_pods(
    cluster: &TestCluster,
    dir: &std::path::Path,
    n: usize,
) -> Result<Vec<(String, PathBuf)>> {
    let mut created = Vec::with_capacity(n);
    for i in 0..n {
        let name = pod_name(i);
        let file = dir.join(format!("{name}.log"));
        append_log_lines(&file, &["the first line"])?;
        created.push((
            pod_with_log(cluster, "apps", &name, &file, true).await?,
            file,
        ));
    }
    Ok(created)
}

fn main() -> Result<()> {
    let settings = Settings::from_env();
    ensure!(
        settings.follows > settings.probes + 1,
        "KW_FOLLOWS must exceed KW_PROBES + 1"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cluster = TestCluster::start(ClusterSpec::new(
            "follow-bench",
            vec![NodeSpec::new("node-a")],
        ))
        .await?;
        cluster.create_namespace(chart::NAMESPACE).await?;
        cluster.create_namespace("apps").await?;
        let dir = tempfile::tempdir()?;
        let pods = create_pods(&cluster, dir.path(), settings.follows).await?;

        let stack = Stack::start(&cluster, dir.path(), "logs").await?;
        let (hub, agent) = (stack.hub, stack.agent);
        let client = Client {
            http: reqwest::Client::new(),
            base: stack.base,
            session: stack.session,
        };
        // Every pod in the hub's inventory and its log served.
        let deadline = Instant::now() + Duration::from_secs(120);
        for (uid, _) in &pods {
            loop {
                if let Ok(mut response) = client.logs(uid, "tailLines=1").await {
                    // Read to its end, so it ends on the agent's side.
                    while response.chunk().await?.is_some() {}
                    break;
                }
                ensure!(Instant::now() < deadline, "pod {uid}'s log never answered");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let components = cluster
            .pids()
            .into_iter()
            .map(|(kind, pid)| (format!("{kind:?}"), pid))
            .collect();
        let closed = agent.log().matches(STREAM_CLOSED).count();
        let mut bench = Bench {
            cluster,
            client,
            pods,
            hub: hub.child.id(),
            agent,
            components,
            settings,
            closed,
        };
        let s = &bench.settings;
        println!(
            "{} follows of {}-byte lines, {} MB/s in all for {} s; then one client stalled for \
             {} s at {} MB/s beside {} follows; {} runs",
            s.follows,
            s.line,
            s.rate / 1e6,
            s.seconds,
            s.stall_seconds,
            s.stall_rate / 1e6,
            s.probes,
            s.runs
        );
        let mut runs = Vec::new();
        for run in 0..bench.settings.runs {
            println!("run {}:", run + 1);
            let mut numbers = Numbers::new();
            bench.follows(&mut numbers).await?;
            if !bench.settings.direct {
                bench.stall(&mut numbers).await?;
            }
            runs.push(numbers);
        }
        let median = |name: &str| {
            let mut values: Vec<f64> = runs.iter().map(|r| r[name]).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        println!("medians over {} runs:", runs.len());
        for name in runs[0].keys() {
            println!("  {name:<26} {:>9.2}", median(name));
        }
        for (name, goal) in [
            ("hub growth MB", 50.0),
            ("agent growth MB", 30.0),
            ("stall hub growth MB", 50.0),
            ("stall agent growth MB", 30.0),
        ] {
            if !runs[0].contains_key(name) {
                continue;
            }
            let value = median(name);
            let verdict = if value < goal { "met" } else { "MISSED" };
            println!("  goal {name} < {goal}: {value:.1} ({verdict})");
        }
        bench.agent.stop().await?;
        hub.stop()?;
        Ok(())
    })
}
