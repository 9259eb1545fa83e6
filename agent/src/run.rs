//! `kubeworkz-agent run`: the collector, the admin endpoints, and (with the transport issue)
//! the hub connection.
//!
//! Until the QUIC transport lands, the agent collects and exposes what it sees on `/metrics`,
//! so an installed agent is already observable; its output is counted, not sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::Client;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput, Kept};
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::HealthStatus;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Counters behind `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    batches: AtomicU64,
    changes: AtomicU64,
    usage_buckets: AtomicU64,
    /// 0 unknown, 1 healthy, 2 degraded, 3 critical.
    health: AtomicU64,
}

#[derive(Clone)]
struct AdminState {
    stats: Arc<Stats>,
    inventory: Arc<std::sync::Mutex<Inventory<Kept>>>,
}

/// Runs until `shutdown` fires.
pub async fn run(
    config: Config,
    client: Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let collector = Collector::new(
        client,
        CollectorConfig {
            helm_releases: config.collector.helm_releases,
            usage_interval: config.collector.usage_interval,
            ..CollectorConfig::default()
        },
    );
    let state = AdminState {
        stats: Arc::default(),
        inventory: collector.inventory(),
    };
    let listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("binding the admin listener on {}", config.admin_listen))?;
    tracing::info!(admin = %listener.local_addr()?, "agent admin endpoints listening");
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(state.clone());
    let admin =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());

    let (tx, mut rx) = mpsc::channel(256);
    let collect = collector.run(tx, shutdown.clone());
    let count = async {
        while let Some(output) = rx.recv().await {
            let stats = &state.stats;
            match output {
                CollectorOutput::Changes(batch) => {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats
                        .changes
                        .fetch_add(batch.changes.len() as u64, Ordering::Relaxed);
                }
                CollectorOutput::Usage(buckets) => {
                    stats
                        .usage_buckets
                        .fetch_add(buckets.len() as u64, Ordering::Relaxed);
                }
                CollectorOutput::Health { report, .. } => {
                    let code = match report.status {
                        HealthStatus::Healthy => 1,
                        HealthStatus::Degraded => 2,
                        HealthStatus::Critical => 3,
                    };
                    stats.health.store(code, Ordering::Relaxed);
                }
            }
        }
    };
    let (admin, collect, ()) = tokio::join!(admin, collect, count);
    admin.context("serving the admin endpoints")?;
    collect.context("collecting")?;
    tracing::info!("agent stopped cleanly");
    Ok(())
}

/// Prometheus text format.
async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let stats = &state.stats;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    };
    counter(
        "kubeworkz_agent_batches_total",
        "Change batches produced.",
        stats.batches.load(Ordering::Relaxed),
    );
    counter(
        "kubeworkz_agent_changes_total",
        "Inventory changes produced.",
        stats.changes.load(Ordering::Relaxed),
    );
    counter(
        "kubeworkz_agent_usage_buckets_total",
        "Hourly usage buckets produced.",
        stats.usage_buckets.load(Ordering::Relaxed),
    );
    out.push_str("# HELP kubeworkz_agent_health_status Cluster health: 0 unknown, 1 healthy, 2 degraded, 3 critical.\n# TYPE kubeworkz_agent_health_status gauge\n");
    out.push_str(&format!(
        "kubeworkz_agent_health_status {}\n",
        stats.health.load(Ordering::Relaxed)
    ));
    out.push_str("# HELP kubeworkz_agent_inventory_objects Objects held, by kind.\n# TYPE kubeworkz_agent_inventory_objects gauge\n");
    let inventory = state.inventory.lock().expect("inventory lock poisoned");
    for kind in ObjectKind::ALL {
        out.push_str(&format!(
            "kubeworkz_agent_inventory_objects{{kind=\"{kind:?}\"}} {}\n",
            inventory.count(kind)
        ));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
}
