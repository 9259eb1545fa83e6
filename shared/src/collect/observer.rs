//! The prober: health verdicts and cluster info, on the probe timer and when nodes change.
//!
//! A verdict follows the inventory rather than only the timer. The first one waits until this
//! run's node listing has ended (at most one probe interval: a cluster whose nodes cannot be
//! listed still gets a verdict, with "no nodes" left out because zero then means unknown), so
//! downstream never reads "cluster has no nodes" next to the nodes the snapshot counted. After
//! that, a batch that changed nodes triggers a round once the burst settles
//! ([`NODE_DEBOUNCE`]): a new verdict when the node count or the set of nodes not Ready
//! changed, and new cluster info when the nodes change the provider's evidence.
//!
//! Cluster info (`/version` plus [`detect_provider`]) is sent once the nodes are listed and
//! then whenever it differs from the last one sent: `/version` is re-read on every probe
//! round (one small GET), so an upgraded apiserver is reported within one interval.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::batch::NodeEvents;
use super::health::{ControlPlaneProbes, node_readiness};
use super::{CollectError, CollectorOutput, Kept};
use crate::inventory::Inventory;
use crate::model::health::failing::group_failing;
use crate::model::health::{ExhaustedQuotas, evaluate};
use crate::model::provider::detect_provider;
use crate::model::{ClusterInfo, NodeProjection};

/// How long the prober lets node changes settle before it judges them: a snapshot or a
/// rollout touches nodes in several batches, which then cost one round instead of one each.
pub const NODE_DEBOUNCE: Duration = Duration::from_millis(500);

/// How long a `/version` request may take before the round goes on without it.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until `shutdown` fires or `out` closes; see the module docs.
pub(super) async fn run(
    client: Client,
    interval: Duration,
    inventory: Arc<Mutex<Inventory<Kept>>>,
    mut nodes: watch::Receiver<NodeEvents>,
    out: mpsc::Sender<CollectorOutput>,
    shutdown: CancellationToken,
) -> Result<(), CollectError> {
    // An ended batcher (sender dropped) also ends the wait: the timer takes over.
    tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        _ = async { nodes.wait_for(|events| events.listed).await.is_ok() } => {}
        () = tokio::time::sleep(interval) => {}
    }
    let mut observer = Observer {
        client,
        inventory,
        out,
        version: None,
        judged_nodes: None,
        sent_info: None,
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut nodes_open = true;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {
                let listed = nodes.borrow_and_update().listed;
                observer.probe_round(listed).await?;
            }
            changed = nodes.changed(), if nodes_open => {
                if changed.is_err() {
                    nodes_open = false;
                    continue;
                }
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(NODE_DEBOUNCE) => {}
                }
                let listed = nodes.borrow_and_update().listed;
                observer.node_round(listed).await?;
            }
        }
    }
}

/// What the prober remembers between rounds.
struct Observer {
    client: Client,
    inventory: Arc<Mutex<Inventory<Kept>>>,
    out: mpsc::Sender<CollectorOutput>,
    /// The last `/version` read: `gitVersion` and `platform`.
    version: Option<(String, String)>,
    /// The node part of the last verdict sent: listed, count, names not Ready.
    judged_nodes: Option<(bool, u32, Vec<String>)>,
    /// The last cluster info sent.
    sent_info: Option<ClusterInfo>,
}

impl Observer {
    /// The timer's round: every probe, `/version`, a verdict, and the info if it changed.
    async fn probe_round(&mut self, listed: bool) -> Result<(), CollectError> {
        let (probes, version) = tokio::join!(
            ControlPlaneProbes::gather(&self.client),
            read_version(&self.client)
        );
        if let Some(version) = version {
            self.version = Some(version);
        }
        self.send_verdict(&probes, listed).await?;
        self.send_info_if_changed().await
    }

    /// A node change's round: a verdict when the nodes' part of it changed, and the info if
    /// the nodes changed the provider's evidence.
    async fn node_round(&mut self, listed: bool) -> Result<(), CollectError> {
        let (total, not_ready) = node_readiness(&self.lock());
        if self.judged_nodes.as_ref() != Some(&(listed, total, not_ready)) {
            let probes = ControlPlaneProbes::gather(&self.client).await;
            self.send_verdict(&probes, listed).await?;
        }
        self.send_info_if_changed().await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inventory<Kept>> {
        self.inventory.lock().expect("inventory lock poisoned")
    }

    async fn send_verdict(
        &mut self,
        probes: &ControlPlaneProbes,
        listed: bool,
    ) -> Result<(), CollectError> {
        let (signals, failing, exhausted) = {
            let inventory = self.lock();
            let failing = group_failing(
                inventory
                    .failing_pods()
                    .map(|p| (p.namespace.as_str(), p.name.as_str(), p.failure)),
            );
            let exhausted = ExhaustedQuotas::gather(inventory.exhausted_quotas());
            (probes.signals(&inventory), failing, exhausted)
        };
        let mut report = evaluate(&signals)
            .with_failing_pods(failing)
            .with_exhausted_quotas(exhausted);
        if !listed {
            report = report.with_nodes_unknown();
        }
        self.judged_nodes = Some((listed, signals.nodes_total, signals.nodes_not_ready.clone()));
        self.out
            .send(CollectorOutput::Health { signals, report })
            .await
            .map_err(|_| CollectError::OutputClosed)
    }

    async fn send_info_if_changed(&mut self) -> Result<(), CollectError> {
        let Some((git_version, platform)) = &self.version else {
            return Ok(());
        };
        let info = {
            let inventory = self.lock();
            let nodes: Vec<&NodeProjection> = inventory.nodes().collect();
            let detection = detect_provider(Some(git_version), nodes.iter().copied());
            ClusterInfo::new(git_version, platform, detection)
        };
        if self.sent_info.as_ref() == Some(&info) {
            return Ok(());
        }
        self.sent_info = Some(info.clone());
        self.out
            .send(CollectorOutput::ClusterInfo(info))
            .await
            .map_err(|_| CollectError::OutputClosed)
    }
}

/// `/version`'s `gitVersion` and `platform`, or `None` when it did not answer (the last one
/// read stands until it does).
async fn read_version(client: &Client) -> Option<(String, String)> {
    match tokio::time::timeout(VERSION_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(info)) => Some((info.git_version, info.platform)),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "reading /version failed");
            None
        }
        Err(_) => {
            tracing::debug!("no answer from /version within 10s");
            None
        }
    }
}
