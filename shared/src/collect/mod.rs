//! The collector: watches a cluster and emits its inventory, usage and health.
//!
//! The same code runs in the agent (in-cluster) and in the hub's pull mode (kubeconfig): it
//! needs only a `kube::Client`. Inventory comes from kube-rs watchers (watch, never poll) and
//! leaves as [`ChangeBatch`]es: deltas gathered for at most [`CollectorConfig::batch_window`],
//! and a full snapshot (begin … end, per kind) whenever a watcher (re)lists — on start, after
//! a reconnect, or after the apiserver expired its watch — so deletions missed meanwhile are
//! applied downstream. Usage is sampled from metrics.k8s.io and leaves as hourly buckets;
//! health is probed on a timer and whenever nodes change, and judged by
//! [`crate::model::health::evaluate`]; the server version and the detected provider leave as
//! [`ClusterInfo`] when first known and whenever they change (`observer`).
//!
//! Each watched object is projected as soon as it is decoded and the original dropped. What
//! the collector keeps of what it sent is an [`Inventory`] of [`Kept`]: whole projections of
//! nodes and deployments (health and `agent check` read them), uids for everything else (to
//! count per kind and apply deletes), so its memory barely grows with the number of pods.
//!
//! Workloads beyond Deployments — StatefulSets, DaemonSets, ReplicaSets (for their owner
//! only), Jobs and CronJobs — are watched the same way, each switchable off
//! ([`CollectorConfig::workloads`]) for clusters whose RBAC does not grant it. So are
//! ResourceQuotas and LimitRanges ([`CollectorConfig::quotas`]); a quota with a resource used
//! up is kept with its exhausted resources, which health reports.

mod batch;
mod health;
mod kept;
mod observer;
mod usage;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::change::{ChangeBatch, ObjectKind};
use crate::inventory::Inventory;
use crate::model::usage::UsageBucket;
use crate::model::{ClusterInfo, HealthReport, HealthSignals};

pub use health::ControlPlaneProbes;
pub use kept::Kept;
pub use observer::NODE_DEBOUNCE;

/// Encoded bytes of changes after which the collector closes a batch: a batch is larger only
/// when a single change is (it then travels alone), so the wire's largest frame
/// ([`crate::protocol::frame::MAX_BULK_FRAME`]) is set by Kubernetes' object size rather than
/// by how many large objects happen to change at once. 1 MiB is 3,000 typical pods, well past
/// the agent's 500 changes per batch, so it cuts only batches of unusually large objects.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Usage buckets per output: an hour of a large cluster's containers leaves in several
/// outputs of at most this many (each under a megabyte on the wire even with the longest
/// names Kubernetes allows), not in one that grows with the cluster.
pub const MAX_USAGE_BUCKETS: usize = 2_000;

/// Collector settings. Defaults suit production; tests shorten the intervals.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// How long changes are gathered into one batch after the first one arrives.
    pub batch_window: Duration,
    /// Most changes in one batch (a snapshot of 10k pods leaves in several).
    pub max_batch_changes: usize,
    /// Encoded bytes of changes after which a batch is closed ([`MAX_BATCH_BYTES`]).
    pub max_batch_bytes: usize,
    /// Watch `helm.sh/release.v1` Secrets (needs RBAC on secrets; off means never asked).
    pub helm_releases: bool,
    /// The workload kinds ([`ObjectKind::WORKLOADS`]) watched, each needing its own RBAC
    /// (get/list/watch); a kind left out is never asked for. All of them by default.
    pub workloads: Vec<ObjectKind>,
    /// The quota kinds ([`ObjectKind::QUOTAS`]) watched, each needing its own RBAC
    /// (list/watch); a kind left out is never asked for. Both by default.
    pub quotas: Vec<ObjectKind>,
    /// metrics.k8s.io sampling interval.
    pub usage_interval: Duration,
    /// Health probe interval; `/version` is re-read on the same timer.
    pub health_interval: Duration,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            batch_window: Duration::from_millis(100),
            max_batch_changes: 2_000,
            max_batch_bytes: MAX_BATCH_BYTES,
            helm_releases: true,
            workloads: ObjectKind::WORKLOADS.to_vec(),
            quotas: ObjectKind::QUOTAS.to_vec(),
            usage_interval: Duration::from_secs(30),
            health_interval: Duration::from_secs(15),
        }
    }
}

impl CollectorConfig {
    /// The kinds this configuration collects, in wire order: what a snapshot of everything
    /// waits for.
    pub fn kinds(&self) -> Vec<ObjectKind> {
        ObjectKind::ALL
            .into_iter()
            .filter(|kind| match kind {
                ObjectKind::HelmRelease => self.helm_releases,
                kind if ObjectKind::WORKLOADS.contains(kind) => self.workloads.contains(kind),
                kind if ObjectKind::QUOTAS.contains(kind) => self.quotas.contains(kind),
                _ => true,
            })
            .collect()
    }
}

/// What the collector emits, in order per kind of output.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectorOutput {
    /// Inventory changes.
    Changes(ChangeBatch),
    /// Hourly usage buckets whose hour has ended.
    Usage(Vec<UsageBucket>),
    /// A fresh health verdict with the signals it was judged from.
    Health {
        /// The signals.
        signals: HealthSignals,
        /// The verdict.
        report: HealthReport,
    },
    /// The server version and the detected provider, when first known and on every change.
    ClusterInfo(ClusterInfo),
}

/// Errors that stop the collector (watch errors are retried with backoff, not returned).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The receiver of the output went away.
    #[error("collector output channel closed")]
    OutputClosed,
}

/// Runs against one cluster until `shutdown` fires or the output receiver is dropped.
#[derive(Clone)]
pub struct Collector {
    client: Client,
    config: CollectorConfig,
    inventory: Arc<Mutex<Inventory<Kept>>>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// A collector for the cluster `client` talks to.
    pub fn new(client: Client, config: CollectorConfig) -> Self {
        Self {
            client,
            config,
            inventory: Arc::default(),
        }
    }

    /// What the collector keeps of the objects sent downstream so far (see [`Kept`]).
    pub fn inventory(&self) -> Arc<Mutex<Inventory<Kept>>> {
        self.inventory.clone()
    }

    /// Runs the watchers, the usage sampler and the prober (health and cluster info), sending
    /// their output to `out`. Returns when `shutdown` fires (`Ok`) or `out` closes (`Err`).
    pub async fn run(
        self,
        out: mpsc::Sender<CollectorOutput>,
        shutdown: CancellationToken,
    ) -> Result<(), CollectError> {
        let changes = watch::inventory_changes(self.client.clone(), &self.config);
        let (node_events, node_events_rx) =
            tokio::sync::watch::channel(batch::NodeEvents::default());
        let batches = batch::run(
            changes,
            self.config.batch_window,
            batch::Limits {
                changes: self.config.max_batch_changes,
                bytes: self.config.max_batch_bytes,
            },
            self.inventory.clone(),
            out.clone(),
            node_events,
            shutdown.clone(),
        );
        let usage = usage::run(
            self.client.clone(),
            self.config.usage_interval,
            out.clone(),
            shutdown.clone(),
        );
        let health = observer::run(
            self.client.clone(),
            self.config.health_interval,
            self.inventory.clone(),
            node_events_rx,
            out,
            shutdown.clone(),
        );
        // All three run to their end: on shutdown the usage sampler still hands over its open
        // hour. If one fails (output closed), the others are told to stop too.
        let stop_all = |result: Result<(), CollectError>| {
            shutdown.cancel();
            result
        };
        let (batches, usage, health) = tokio::join!(
            async { stop_all(batches.await) },
            async { stop_all(usage.await) },
            async { stop_all(health.await) },
        );
        batches.and(usage).and(health)
    }
}
