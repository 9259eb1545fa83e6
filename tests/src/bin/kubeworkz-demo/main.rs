//! `kubeworkz-demo`: a small fleet on this machine in one command, for newcomers, evaluators
//! and UI work. Everything is the real thing: three Kubernetes control planes built from the
//! Go modules (the testkit's clusters, KWOK playing the kubelets) with different providers and
//! versions, the real `kubeworkz-hub serve` on a SQLite file, two clusters enrolled with the
//! real agent through enrollment tokens and one registered by kubeconfig, and sample
//! workloads (labelled namespaces, Deployments with emulated usage, a crash-looping one, a
//! bound PVC, a Helm release installed by the real `helm`).
//!
//! It prints the URL and the admin login once the hub shows the whole fleet with costs, then
//! scales a Deployment up or down every minute so live updates show, until SIGINT or SIGTERM
//! stops everything (agents and hub with SIGTERM, as an operator would; the clusters with
//! them). Every child dies with the demo even if it is killed outright (`setpriv
//! --pdeathsig`). The directory (database, master key, agent identities, logs) is deleted on
//! exit unless `--keep`; a start in a kept directory is the same fleet to the hub.
//!
//! Machine-readable: the line `kubeworkz-demo ready: <url>` once ready.

mod api;
mod dir;
mod fleet;
mod processes;
mod ready;
mod workloads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use futures::future::try_join_all;
use kubeworkz_shared::time::UnixMillis;
use kubeworkz_testkit::child;
use kubeworkz_testkit::cluster::{self, TestCluster};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::api::Session;
use crate::dir::DemoDir;
use crate::fleet::{Join, Plan};
use crate::processes::{ADMIN_EMAIL, ADMIN_PASSWORD, Hub, Process};

/// A local demo fleet: three clusters, the hub, two agents, sample workloads.
#[derive(Debug, Parser)]
#[command(name = "kubeworkz-demo", version)]
struct Args {
    /// The demo's directory (database, master key, agent identities, logs). Default:
    /// `$XDG_DATA_HOME/kubeworkz/demo` or `~/.local/share/kubeworkz/demo`.
    #[arg(long, env = "KUBEWORKZ_DEMO_DIR")]
    dir: Option<PathBuf>,
    /// Keep the directory on exit: the next start shows the same clusters with their history.
    #[arg(long)]
    keep: bool,
    /// Address of the web UI and REST API (port 0: a free one, printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seconds between churn steps (one Deployment scaled up or down).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    churn_secs: u64,
    /// Seconds the fleet may take to show up complete in the hub once everything started.
    #[arg(long, default_value_t = 300)]
    ready_timeout_secs: u64,
}

fn say(text: impl std::fmt::Display) {
    println!("kubeworkz-demo: {text}");
}

fn main() -> ExitCode {
    let args = Args::parse();
    // One thread: children die with the thread that spawned them (`setpriv --pdeathsig`),
    // so every spawn happens on the thread that lives as long as the demo.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("kubeworkz-demo: error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kubeworkz-demo: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM, whichever comes first.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Everything that runs once the demo started.
struct Fleet {
    clusters: Vec<TestCluster>,
    hub: Hub,
    agents: Vec<Process>,
}

async fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let since = UnixMillis::now();
    let mut signals = Signals::install()?;
    let dir = DemoDir::open(args.dir.clone().unwrap_or_else(dir::default_path))?;
    say(format!(
        "{} {}",
        if dir.reused() { "reusing" } else { "using" },
        dir.path().display()
    ));
    let plans = fleet::fleet();
    let fleet = tokio::select! {
        fleet = start(&args, &dir, &plans, started, since) => fleet,
        () = signals.received() => Err(anyhow!("interrupted while starting")),
    };
    // A failed start has stopped whatever it had started (dropped); its logs stay.
    let mut fleet = fleet.with_context(|| {
        format!(
            "the logs are in {}; the next start reuses the directory",
            dir.path().join("logs").display()
        )
    })?;
    let ran = serve(&mut fleet, &plans, &args, &mut signals).await;
    say("stopping");
    let stopped = stop(fleet).await;
    ran?;
    stopped?;
    if args.keep {
        say(format!("kept {} for the next start", dir.path().display()));
    } else {
        dir.remove()?;
    }
    say("stopped");
    Ok(())
}

async fn start(
    args: &Args,
    dir: &DemoDir,
    plans: &[Plan],
    started: Instant,
    since: UnixMillis,
) -> Result<Fleet> {
    say("preparing the Kubernetes control plane (built once from the Go modules, then cached)");
    let helm = cluster::bin_dir().await?.join("helm");
    say(format!(
        "starting {} clusters, building the hub and the agent",
        plans.len()
    ));
    let clusters = try_join_all(
        plans
            .iter()
            .map(|plan| TestCluster::start(plan.spec.clone())),
    );
    let hub = async {
        let binaries = processes::build().await?;
        say("hub and agent built");
        let hub = Hub::start(&binaries.hub, dir, args.listen).await?;
        anyhow::Ok((binaries, hub))
    };
    let (clusters, (binaries, mut hub)) = tokio::try_join!(clusters, hub)?;
    say(format!(
        "clusters and hub up after {:.1} s; creating workloads and connecting the clusters",
        started.elapsed().as_secs_f64()
    ));
    let session = Session::login(&hub.url, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let workloads = try_join_all(
        plans
            .iter()
            .zip(&clusters)
            .map(|(plan, cluster)| workloads::create(plan, cluster, &helm, dir.path())),
    );
    let mut agents = Vec::new();
    let joins = async {
        for (plan, cluster) in plans.iter().zip(&clusters) {
            match plan.join {
                Join::Agent { helm_releases } => {
                    let token = if dir.agent_enrolled(plan.name)? {
                        None
                    } else {
                        Some(
                            session
                                .enrollment_token(plan.name, plan.environment, plan.tags)
                                .await?,
                        )
                    };
                    agents.push(processes::start_agent(
                        &binaries.agent,
                        dir,
                        cluster,
                        &hub,
                        token,
                        helm_releases,
                    )?);
                }
                Join::Pull => {
                    session
                        .register_or_update(
                            plan.name,
                            plan.environment,
                            plan.tags,
                            cluster.kubeconfig_yaml(),
                        )
                        .await?;
                }
            }
        }
        anyhow::Ok(())
    };
    tokio::try_join!(workloads, joins)?;
    let mut watched: Vec<&mut Process> = agents.iter_mut().collect();
    watched.push(&mut hub.process);
    let views = ready::wait(
        &session,
        plans,
        since,
        &mut watched,
        Duration::from_secs(args.ready_timeout_secs),
    )
    .await?;
    let ready_after = started.elapsed();
    let own = std::process::id();
    let tree = child::descendants(own);
    let rss_kib = tree
        .iter()
        .map(|p| p.pid)
        .chain([own])
        .filter_map(child::rss_kib)
        .sum();
    print!(
        "{}",
        ready::Banner {
            plans,
            clusters: &views,
            url: &hub.url,
            ready_after,
            processes: tree.len() + 1,
            rss_kib,
            dir: dir.path(),
            keep: args.keep,
            churn: Duration::from_secs(args.churn_secs),
        }
    );
    println!("kubeworkz-demo ready: {}", hub.url);
    Ok(Fleet {
        clusters,
        hub,
        agents,
    })
}

/// Keeps the fleet moving (one scale step per churn period, each plan's Deployment in turn)
/// until a signal, or until the hub or an agent dies.
async fn serve(
    fleet: &mut Fleet,
    plans: &[Plan],
    args: &Args,
    signals: &mut Signals,
) -> Result<()> {
    let mut churn = tokio::time::interval(Duration::from_secs(args.churn_secs));
    churn.tick().await;
    let mut watchdog = tokio::time::interval(Duration::from_secs(2));
    let mut step = 0usize;
    loop {
        tokio::select! {
            () = signals.received() => return Ok(()),
            _ = churn.tick() => {
                let i = step % plans.len();
                let (plan, cluster) = (&plans[i], &fleet.clusters[i]);
                let (namespace, name, sizes) = plan.churn;
                // Up on a plan's odd turns, back down on its even ones.
                let replicas = sizes[(step / plans.len() + 1) % 2];
                match workloads::scale(cluster, namespace, name, replicas).await {
                    Ok(()) => say(format!("churn: {} {namespace}/{name} scaled to {replicas}", plan.name)),
                    Err(err) => say(format!("churn: {err:#}")),
                }
                step += 1;
            }
            _ = watchdog.tick() => {
                for process in fleet.agents.iter_mut().chain([&mut fleet.hub.process]) {
                    process.check_running()?;
                }
            }
        }
    }
}

/// Agents first (they hand their last usage to the hub), then the hub, then the clusters.
async fn stop(fleet: Fleet) -> Result<()> {
    let Fleet {
        clusters,
        hub,
        agents,
    } = fleet;
    let mut failures = Vec::new();
    for agent in agents {
        let name = agent.name.clone();
        match agent.stop(Duration::from_secs(20)).await {
            Ok(status) if status.success() => {}
            Ok(status) => failures.push(format!("{name} exited with {status}")),
            Err(err) => failures.push(format!("{err:#}")),
        }
    }
    match hub.process.stop(Duration::from_secs(30)).await {
        Ok(status) if status.success() => {}
        Ok(status) => failures.push(format!("the hub exited with {status}")),
        Err(err) => failures.push(format!("{err:#}")),
    }
    drop(clusters);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", failures.join("; ")))
    }
}
