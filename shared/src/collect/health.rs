//! Probes the control plane on a timer and judges health from the probes plus inventory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::ListParams;
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CollectError, CollectorOutput, Kept};
use crate::inventory::Inventory;
use crate::model::HealthSignals;
use crate::model::health::{
    LeaseFreshness, ProbeResult, deployments_short, evaluate, failing_checks,
};
use crate::model::usage::NodeMetrics;
use crate::time::UnixMillis;

/// Probes and reports every `interval`.
pub(super) async fn run(
    client: Client,
    interval: Duration,
    inventory: Arc<Mutex<Inventory<Kept>>>,
    out: mpsc::Sender<CollectorOutput>,
    shutdown: CancellationToken,
) -> Result<(), CollectError> {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let probes = ControlPlaneProbes::gather(&client).await;
        let signals = probes.signals(&inventory.lock().expect("inventory lock poisoned"));
        let report = evaluate(&signals);
        out.send(CollectorOutput::Health { signals, report })
            .await
            .map_err(|_| CollectError::OutputClosed)?;
    }
}

/// What the collector learns by asking the control plane: apiserver `/readyz` and `/livez`,
/// the scheduler's and controller-manager's leader Leases, and whether metrics.k8s.io answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneProbes {
    /// `/readyz?verbose`.
    pub ready: ProbeResult,
    /// `/livez?verbose`.
    pub live: ProbeResult,
    /// `kube-system/kube-scheduler` Lease.
    pub scheduler_lease: LeaseFreshness,
    /// `kube-system/kube-controller-manager` Lease.
    pub controller_manager_lease: LeaseFreshness,
    /// metrics.k8s.io answered a NodeMetrics list.
    pub metrics_available: bool,
}

impl ControlPlaneProbes {
    /// Runs every probe concurrently.
    pub async fn gather(client: &Client) -> Self {
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let node_metrics: Api<NodeMetrics> = Api::all(client.clone());
        let one = ListParams::default().limit(1);
        let (ready, live, scheduler, controller_manager, metrics) = tokio::join!(
            probe(client, "/readyz?verbose"),
            probe(client, "/livez?verbose"),
            leases.get_opt("kube-scheduler"),
            leases.get_opt("kube-controller-manager"),
            node_metrics.list(&one),
        );
        let now = UnixMillis::now();
        let freshness = |lease: kube::Result<Option<Lease>>| match lease {
            Ok(lease) => LeaseFreshness::of(lease.as_ref(), now),
            Err(_) => LeaseFreshness::Absent, // not readable: unknown, not unhealthy
        };
        Self {
            ready,
            live,
            scheduler_lease: freshness(scheduler),
            controller_manager_lease: freshness(controller_manager),
            // The API answering is the signal: a fresh metrics-server, or a cluster with no
            // usage yet, legitimately lists nothing.
            metrics_available: metrics.is_ok(),
        }
    }

    /// Every health signal: these probes plus node and deployment state from `inventory`.
    /// Heartbeat age is the hub's to add.
    pub fn signals(&self, inventory: &Inventory<Kept>) -> HealthSignals {
        let mut nodes_total = 0;
        let mut nodes_not_ready = Vec::new();
        for node in inventory.nodes() {
            nodes_total += 1;
            if !node.is_ready() {
                nodes_not_ready.push(node.name.clone());
            }
        }
        nodes_not_ready.sort();
        HealthSignals {
            apiserver_ready: self.ready.clone(),
            apiserver_live: self.live.clone(),
            nodes_total,
            nodes_not_ready,
            scheduler_lease: self.scheduler_lease,
            controller_manager_lease: self.controller_manager_lease,
            metrics_available: self.metrics_available,
            deployments_short: deployments_short(inventory.deployments()),
            heartbeat_age_millis: None,
        }
    }
}

async fn probe(client: &Client, path: &str) -> ProbeResult {
    let request = match http::Request::get(path).body(Vec::new()) {
        Ok(request) => request,
        Err(err) => {
            return ProbeResult::Unreachable {
                error: err.to_string(),
            };
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), client.request_text(request)).await {
        Ok(Ok(_)) => ProbeResult::Ok,
        Ok(Err(kube::Error::Api(status))) => ProbeResult::Failing {
            checks: failing_checks(&status.message),
        },
        Ok(Err(err)) => ProbeResult::Unreachable {
            error: err.to_string(),
        },
        Err(_) => ProbeResult::Unreachable {
            error: "no answer within 10s".into(),
        },
    }
}
