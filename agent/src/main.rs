//! `kubeworkz-agent`: the in-cluster agent binary.
//!
//! - `kubeworkz-agent check` — verify permissions, take one snapshot, print what it sees.
//! - `kubeworkz-agent` / `kubeworkz-agent run` — run the agent.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use kubeworkz_agent::config::{CollectorSettings, Config};
use kubeworkz_agent::{check, run};

/// `EX_CONFIG`-style exit code for a bad configuration, so a crash-looping pod tells the
/// operator "fix your values" rather than "the agent is broken".
const EXIT_BAD_CONFIG: u8 = 64;

/// mimalloc instead of glibc's malloc. The agent's allocations come in waves — a page of
/// listed objects, a full PodMetrics list every usage interval, a rollout's burst of pod
/// events — and glibc keeps what such a wave freed resident (fragmented heap, an mmap
/// threshold raised by the first large free), so RSS settles at the high-water mark. mimalloc
/// returns freed pages to the OS, but lazily (after its purge delay, and only pages it no
/// longer uses): at 10k pods it held a wave for 15-40 s, so the waves themselves are kept
/// small (the PodMetrics list is folded in as it is decoded); see `agent/benches/scale/`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") => {
            println!("kubeworkz-agent {}", kubeworkz_shared::VERSION);
            ExitCode::SUCCESS
        }
        Some("check") => run_check(),
        None | Some("run") => run_agent(),
        Some(other) => {
            eprintln!("kubeworkz-agent: unknown command {other:?}; use check, run or --version");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

fn run_check() -> ExitCode {
    let settings = match CollectorSettings::from_env() {
        Ok(settings) => settings,
        Err(err) => return bad_config(&err),
    };
    init_logging(false);
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = cluster_client().await?;
            check::run(client, &settings, Duration::from_secs(120))
                .await
                .context("running the check")
        })
    });
    match result {
        Ok(report) => {
            println!("{report}");
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("kubeworkz-agent: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_agent() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => return bad_config(&err),
    };
    init_logging(config.json_logs);
    tracing::info!(hub = %config.hub_addrs.join(","), version = kubeworkz_shared::VERSION, "starting");
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = cluster_client().await?;
            let shutdown = tokio_util::sync::CancellationToken::new();
            let signals = tokio::spawn(stop_on_signals(shutdown.clone()));
            let result = run::run(config, client, shutdown.clone()).await;
            shutdown.cancel();
            signals.await.context("joining the signal handler")??;
            result
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "agent failed");
            // Not enrolled and no token: the operator's values are incomplete.
            if matches!(
                err.downcast_ref::<kubeworkz_agent::link::LinkError>(),
                Some(kubeworkz_agent::link::LinkError::NeedsToken)
            ) {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Cancels `shutdown` on SIGTERM or SIGINT, or returns once it is cancelled otherwise.
async fn stop_on_signals(shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
    Ok(())
}

/// Exits with [`EXIT_BAD_CONFIG`] after naming what is wrong.
fn bad_config(err: &kubeworkz_agent::config::ConfigError) -> ExitCode {
    eprintln!("kubeworkz-agent: bad configuration: {err}");
    ExitCode::from(EXIT_BAD_CONFIG)
}

/// In-cluster configuration, or `KUBECONFIG` when run outside a cluster.
async fn cluster_client() -> anyhow::Result<kube::Client> {
    let config = kube::Config::infer()
        .await
        .context("loading the cluster configuration (in-cluster or KUBECONFIG)")?;
    kubeworkz_agent::kube_client::client(config).context("building the kube client")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Colour codes only go to a terminal: the kubelet stores container logs verbatim.
fn init_logging(json: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
