//! Probes the control plane and turns the probes plus inventory into health signals (the
//! `observer` decides when).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::ListParams;
use kube::{Api, Client};

use super::Kept;
use crate::inventory::Inventory;
use crate::model::HealthSignals;
use crate::model::health::{LeaseFreshness, ProbeResult, deployments_short, failing_checks};
use crate::model::usage::NodeMetrics;
use crate::time::UnixMillis;

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
        let (nodes_total, nodes_not_ready) = node_readiness(inventory);
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

/// How many nodes `inventory` holds, and the names of those not Ready (sorted): the node part
/// of [`HealthSignals`], which the prober also compares to tell whether a node change matters.
pub(super) fn node_readiness(inventory: &Inventory<Kept>) -> (u32, Vec<String>) {
    let mut total = 0;
    let mut not_ready = Vec::new();
    for node in inventory.nodes() {
        total += 1;
        if !node.is_ready() {
            not_ready.push(node.name.clone());
        }
    }
    not_ready.sort();
    (total, not_ready)
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
