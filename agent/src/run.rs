//! `kubeworkz-agent run`: the collector, the admin endpoints and the link to the hub.
//!
//! The collector starts at once, whatever the hub is doing, so `/healthz` and `/metrics` work
//! during enrollment and outages; its output is counted for `/metrics` and goes to the hub
//! through [`crate::link`] (which queues it while the hub is away). When the hub needs a full
//! sync, the collector is restarted: its watchers relist, so a snapshot (begin … end of every
//! kind) follows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::Client;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::collect::{CollectError, Collector, CollectorConfig, CollectorOutput, Kept};
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::{ClusterInfo, HealthStatus};
use kubeworkz_shared::protocol::Payload;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::credentials::CredentialStore;
use crate::link::{self, LinkSettings};
use crate::operations::OperationServer;
use crate::transport::backoff::{BASE, Backoff};
use crate::transport::{HubTargets, UplinkGauges};

/// Collector output waiting for the uplink, per channel (collector → counter → uplink). Small
/// on purpose: when the uplink's in-flight window is full, the collector waits here instead
/// of a large cluster's snapshot piling up decoded in channels.
const PAYLOAD_BUFFER: usize = 4;

/// Most changes per batch: a frame of ~150 KB on the wire for pods, small enough that a few
/// of them in the channels and the in-flight window stay a few MB decoded.
const MAX_BATCH_CHANGES: usize = 500;

/// How long after SIGTERM the uplink may still wait for the hub's last acks (the collector's
/// final usage buckets) before it is stopped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Counters behind `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    batches: AtomicU64,
    changes: AtomicU64,
    usage_buckets: AtomicU64,
    /// 0 unknown, 1 healthy, 2 degraded, 3 critical.
    health: AtomicU64,
}

/// Where a collector output goes: the uplink's sequenced queue, or its latest-value slot.
enum Routed {
    /// Queued, numbered and acked (inventory, usage, health).
    Payload(Payload),
    /// Replaces the cluster info the uplink sends after each `Welcome` (not sequenced: see
    /// `AgentMessage::ClusterInfo`).
    ClusterInfo(ClusterInfo),
}

impl Stats {
    /// Counts `output` and turns it into what the uplink sends.
    fn count(&self, output: CollectorOutput) -> Routed {
        Routed::Payload(match output {
            CollectorOutput::Changes(batch) => {
                self.batches.fetch_add(1, Ordering::Relaxed);
                self.changes
                    .fetch_add(batch.changes.len() as u64, Ordering::Relaxed);
                Payload::Batch(batch)
            }
            CollectorOutput::Usage(buckets) => {
                self.usage_buckets
                    .fetch_add(buckets.len() as u64, Ordering::Relaxed);
                Payload::Usage(buckets)
            }
            CollectorOutput::Health { report, signals } => {
                let code = match report.status {
                    HealthStatus::Healthy => 1,
                    HealthStatus::Degraded => 2,
                    HealthStatus::Critical => 3,
                };
                self.health.store(code, Ordering::Relaxed);
                Payload::Health(Box::new((report, signals)))
            }
            CollectorOutput::ClusterInfo(info) => {
                tracing::info!(
                    version = info.git_version,
                    provider = ?info.provider,
                    evidence = info.evidence,
                    "cluster info"
                );
                return Routed::ClusterInfo(info);
            }
        })
    }
}

#[derive(Clone)]
struct AdminState {
    stats: Arc<Stats>,
    uplink: Arc<UplinkGauges>,
    inventory: Arc<std::sync::Mutex<Inventory<Kept>>>,
}

/// Runs until `shutdown` fires, or until the hub refuses the enrollment token (an error).
pub async fn run(
    config: Config,
    client: Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let credentials = CredentialStore::new(&config.credentials, client.clone())?;
    let operations = Arc::new(OperationServer::new(
        client.clone(),
        config.operations.clone(),
    ));
    tracing::info!(operations = ?config.operations.names(), "operations the hub may run");
    let collector = Collector::new(
        client,
        CollectorConfig {
            max_batch_changes: MAX_BATCH_CHANGES,
            ..config.collector.collector_config()
        },
    );
    let state = AdminState {
        stats: Arc::default(),
        uplink: Arc::default(),
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
    let uplink_gauges = state.uplink.clone();
    let admin =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());

    let (outputs, mut outputs_rx) = mpsc::channel(PAYLOAD_BUFFER);
    let (payloads, payloads_rx) = mpsc::channel(PAYLOAD_BUFFER);
    let (cluster_info, cluster_info_rx) = watch::channel(None);
    let resync = Arc::new(Notify::new());
    let collect = collect_with_resync(collector, outputs, resync.clone(), shutdown.clone());
    let forward = async move {
        while let Some(output) = outputs_rx.recv().await {
            match state.stats.count(output) {
                Routed::Payload(payload) => {
                    if payloads.send(payload).await.is_err() {
                        break;
                    }
                }
                Routed::ClusterInfo(info) => {
                    cluster_info.send_replace(Some(info));
                }
            }
        }
    };
    let uplink_stop = CancellationToken::new();
    let grace = {
        let (shutdown, uplink_stop) = (shutdown.clone(), uplink_stop.clone());
        async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = uplink_stop.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(SHUTDOWN_GRACE) => uplink_stop.cancel(),
                () = uplink_stop.cancelled() => {}
            }
        }
    };
    let settings = LinkSettings {
        gauges: uplink_gauges,
        hub: HubTargets::from_names(&config.hub_addrs),
        token: config.token.clone(),
        ca_pin: config.ca_pin,
        backoff: Backoff::new(BASE, config.reconnect_max),
        cluster_info: cluster_info_rx,
        operations: Some(operations),
    };
    let link = async {
        let result = link::run(
            settings,
            credentials,
            payloads_rx,
            resync,
            shutdown.clone(),
            uplink_stop.clone(),
        )
        .await;
        // The link ends on shutdown, or with an error that must stop the agent too.
        uplink_stop.cancel();
        shutdown.cancel();
        result
    };
    let (admin, collect, (), link, ()) = tokio::join!(admin, collect, forward, link, grace);
    link?;
    admin.context("serving the admin endpoints")?;
    collect.context("collecting")?;
    tracing::info!("agent stopped cleanly");
    Ok(())
}

/// Runs the collector until `shutdown`, restarting it (a full relist) whenever `resync` is
/// notified. An output channel closed by a link that gave up is not an error of its own.
async fn collect_with_resync(
    collector: Collector,
    outputs: mpsc::Sender<CollectorOutput>,
    resync: Arc<Notify>,
    shutdown: CancellationToken,
) -> Result<(), CollectError> {
    loop {
        let this_run = shutdown.child_token();
        let run = collector.clone().run(outputs.clone(), this_run.clone());
        tokio::pin!(run);
        let result = tokio::select! {
            result = &mut run => result,
            () = resync.notified() => {
                this_run.cancel();
                run.await
            }
        };
        if shutdown.is_cancelled() {
            return Ok(());
        }
        result?;
    }
}

/// Prometheus text format.
async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let stats = &state.stats;
    let load = |value: &AtomicU64| value.load(Ordering::Relaxed);
    // (name, type, help, value) of every single-sample metric.
    let samples = [
        (
            "kubeworkz_agent_batches_total",
            "counter",
            "Change batches produced.",
            load(&stats.batches),
        ),
        (
            "kubeworkz_agent_changes_total",
            "counter",
            "Inventory changes produced.",
            load(&stats.changes),
        ),
        (
            "kubeworkz_agent_usage_buckets_total",
            "counter",
            "Hourly usage buckets produced.",
            load(&stats.usage_buckets),
        ),
        (
            "kubeworkz_agent_health_status",
            "gauge",
            "Cluster health: 0 unknown, 1 healthy, 2 degraded, 3 critical.",
            load(&stats.health),
        ),
        (
            "kubeworkz_agent_uplink_connected",
            "gauge",
            "1 while a session with the hub is open.",
            u64::from(state.uplink.connected()),
        ),
        (
            "kubeworkz_agent_uplink_unacked_bytes",
            "gauge",
            "Encoded bytes sent or queued that the hub has not acknowledged.",
            state.uplink.unacked_bytes(),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in samples {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
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
