//! Runs one collector task per enabled pull-mode cluster this replica collects.
//!
//! The supervisor is a [`Worker`]: each tick reloads the pull targets from the store and the
//! live replicas, keeps the clusters rendezvous hashing gives this replica ([`shard`]), starts
//! a task for a new one once it holds the cluster's lease (`pull:<cluster id>`), stops the
//! task of a removed, disabled or no longer hashed one and gives its lease back, and
//! restarts a task whose kubeconfig was replaced. A task renews its lease while it runs,
//! writes through a store handle fenced by it, and stops when the lease is lost; a dead
//! replica's clusters are taken once its heartbeat and leases lapse (module
//! [`crate::replica`] on timing). Each task runs [`Collector`] (the agent's code) in-process
//! and feeds its output through the same store ingest agents use, with a fresh epoch per run;
//! its cluster info (server version, provider: re-read on the probe timer and re-detected
//! when nodes change) is recorded by [`crate::cluster_info::record`], as agents' is.
//!
//! Isolation: a task owns its cluster's client and errors. An unreachable apiserver shows up
//! as a Critical health verdict and the cluster's `last_error`; the watchers retry with
//! backoff and the next successful batch clears the error. A task that fails outright is
//! restarted after a pause; no cluster can stop another.
//!
//! Every run connects through the pull-mode client (`pull::connector`) under
//! [`PullConfig::egress`], the policy registration tested the kubeconfig with: an address
//! the policy refuses ends the run with that rule as the cluster's error, and is checked
//! again on each restart and each connection the watchers open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::HealthReason;
use kubeworkz_shared::model::health::ProbeResult;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::egress::{ConnectError, EgressPolicy};
use super::shard;
use crate::keys::kubeconfig_context;
use crate::kubeconfig;
use crate::replica::{DEFAULT_LEASE_TTL, Replica};
use crate::seal::Keyring;
use crate::store::{Cursor, IngestOutcome, Lease, PullTarget, Store};
use crate::workers::{Worker, WorkerError, WorkerHandle, Workers};

/// Pull-mode settings.
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// How often the list of pull clusters is reloaded.
    pub refresh: Duration,
    /// Pause before restarting a failed collector task.
    pub restart_after: Duration,
    /// The collector's own settings.
    pub collector: CollectorConfig,
    /// Where collectors may connect: checked before each run and on every connection.
    pub egress: Arc<EgressPolicy>,
}

impl Default for PullConfig {
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(10),
            restart_after: Duration::from_secs(5),
            collector: CollectorConfig::default(),
            egress: Arc::new(EgressPolicy::default()),
        }
    }
}

/// Asks running collectors for a full resync; cheap to clone (the API holds one).
#[derive(Debug, Clone, Default)]
pub struct PullHandle(Arc<Mutex<HashMap<ClusterId, Arc<Notify>>>>);

impl PullHandle {
    /// Restarts the cluster's collector with a full relist. False if it is not running here.
    pub fn sync_now(&self, cluster: ClusterId) -> bool {
        match self.0.lock().expect("pull handle lock").get(&cluster) {
            Some(notify) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }
}

struct Running {
    blob: Vec<u8>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    lease: Lease,
}

/// The prefix of every pull-mode cluster's lease name.
pub const PULL_LEASES: &str = "pull:";

/// The lease a pull-mode cluster's collector runs under.
pub fn lease_name(cluster: ClusterId) -> String {
    format!("{PULL_LEASES}{cluster}")
}

/// See the module docs.
pub struct PullSupervisor {
    store: Store,
    keyring: Keyring,
    config: PullConfig,
    workers: Workers,
    handle: PullHandle,
    running: HashMap<ClusterId, Running>,
    replica: Replica,
}

impl std::fmt::Debug for PullSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSupervisor")
            .field("config", &self.config)
            .field("clusters", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl PullSupervisor {
    /// A supervisor; run it with [`crate::workers::spawn`]. It collects as a replica of its
    /// own (every cluster is its) until [`PullSupervisor::with_replica`] names the process's.
    pub fn new(store: Store, keyring: Keyring, config: PullConfig, workers: Workers) -> Self {
        let replica = Replica::new(store.clone(), &Replica::random_id(), DEFAULT_LEASE_TTL);
        Self {
            store,
            keyring,
            config,
            workers,
            handle: PullHandle::default(),
            running: HashMap::new(),
            replica,
        }
    }

    /// The same supervisor collecting as `replica`: the clusters hashed to it among the live
    /// replicas, under its leases.
    pub fn with_replica(mut self, replica: Replica) -> Self {
        self.replica = replica;
        self
    }

    /// The handle for "sync now".
    pub fn handle(&self) -> PullHandle {
        self.handle.clone()
    }

    fn start(&mut self, target: PullTarget, lease: Lease) {
        let cancel = CancellationToken::new();
        let resync = Arc::new(Notify::new());
        self.handle
            .0
            .lock()
            .expect("pull handle lock")
            .insert(target.id, resync.clone());
        let status = self
            .workers
            .register_owned(&worker_name(&target), None, Some(target.org_id));
        let blob = target.kubeconfig.blob.clone();
        let task = tokio::spawn(run_cluster(
            target.clone(),
            self.store.under_lease(lease.fence()),
            self.keyring.clone(),
            self.config.clone(),
            status,
            cancel.clone(),
            resync,
            self.replica.clone(),
            lease.clone(),
        ));
        self.running.insert(
            target.id,
            Running {
                blob,
                cancel,
                task,
                lease,
            },
        );
    }

    /// Stops the clusters' collectors (each hands over its open usage hour first), then gives
    /// their leases back so the replicas the clusters now hash to take them at once.
    ///
    /// All at once: a collector may take its full drain time to stop, and stopping them one
    /// after another would hold every later cluster's handover (and this worker's next tick)
    /// behind it — with a dozen clusters to give back, past a lease's lifetime.
    async fn stop_clusters(&mut self, ids: &[ClusterId]) {
        let mut stopping = Vec::with_capacity(ids.len());
        {
            let mut handles = self.handle.0.lock().expect("pull handle lock");
            for id in ids {
                handles.remove(id);
                if let Some(running) = self.running.remove(id) {
                    running.cancel.cancel();
                    stopping.push((*id, running));
                }
            }
        }
        let store = &self.store;
        futures::future::join_all(stopping.into_iter().map(|(id, running)| async move {
            let Running { task, lease, .. } = running;
            let _ = task.await;
            if let Err(err) = store.release_lease(&lease.fence()).await {
                tracing::warn!(cluster_id = %id, error = %err, "releasing a pull lease failed");
            }
        }))
        .await;
    }

    /// Relists the running clusters someone asked to sync (`Store::request_resync`, from the
    /// API of whichever replica served the request), then clears each request. A collector
    /// that has just started lists everything anyway, so its request is cleared all the same.
    async fn deliver_resyncs(&self) -> Result<(), WorkerError> {
        let ids: Vec<ClusterId> = self.running.keys().copied().collect();
        if ids.is_empty() {
            return Ok(());
        }
        for link in self.store.agent_links(&ids).await? {
            let Some(requested_at) = link.resync_requested_at else {
                continue;
            };
            tracing::info!(cluster_id = %link.cluster, "sync requested: relisting");
            self.handle.sync_now(link.cluster);
            self.store.clear_resync(link.cluster, requested_at).await?;
        }
        Ok(())
    }

    /// The pull targets this replica should collect: those hashed to it among the live
    /// replicas (itself counted live even before its first heartbeat lands).
    async fn mine(&self) -> Result<HashMap<ClusterId, PullTarget>, WorkerError> {
        let targets = self.store.pull_targets(true).await?;
        let me = self.replica.id();
        let mut live = self.replica.live_ids().await?;
        if !live.iter().any(|id| id == me) {
            live.push(me.to_owned());
        }
        Ok(targets
            .into_iter()
            .filter(|t| shard::owner(t.id, &live) == Some(me))
            .map(|t| (t.id, t))
            .collect())
    }
}

fn worker_name(target: &PullTarget) -> String {
    format!("collector:{}", target.id)
}

#[async_trait]
impl Worker for PullSupervisor {
    fn name(&self) -> String {
        "pull-supervisor".into()
    }

    fn interval(&self) -> Duration {
        // Often enough that a lapsed replica's clusters are taken within a renewal round.
        self.config.refresh.min(self.replica.renew_every())
    }

    async fn tick(&mut self) -> Result<(), WorkerError> {
        let wanted = self.mine().await?;
        let stale: Vec<ClusterId> = self
            .running
            .iter()
            .filter(|(id, running)| {
                running.task.is_finished()
                    || wanted
                        .get(id)
                        .is_none_or(|t| t.kubeconfig.blob != running.blob)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &stale {
            tracing::info!(cluster_id = %id, "stopping pull collector");
        }
        self.stop_clusters(&stale).await;
        for id in &stale {
            self.workers.remove(&format!("collector:{id}"));
        }
        for (id, target) in wanted {
            if self.running.contains_key(&id) {
                continue;
            }
            let ttl = self.replica.ttl();
            match self
                .store
                .acquire_lease(&lease_name(id), self.replica.id(), ttl)
                .await?
            {
                Some(lease) => {
                    tracing::info!(cluster_id = %id, cluster = %target.name, token = lease.token, "starting pull collector");
                    self.start(target, lease);
                }
                None => {
                    tracing::debug!(cluster_id = %id, "pull cluster still held by another replica");
                }
            }
        }
        self.deliver_resyncs().await
    }

    async fn stop(&mut self) {
        let ids: Vec<ClusterId> = self.running.keys().copied().collect();
        self.stop_clusters(&ids).await;
    }
}

/// How one collector run ended.
enum RunEnd {
    /// The supervisor stopped the cluster (or the hub is shutting down).
    Stopped,
    /// "Sync now": start over with a full relist.
    Resync,
}

/// Errors of one collector run: logged and recorded with the cluster name, never secrets.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error("cannot open the sealed kubeconfig: {0}")]
    Unseal(#[from] crate::seal::SealError),
    #[error("stored kubeconfig is unusable: {0}")]
    Kubeconfig(#[from] kubeconfig::KubeconfigError),
    #[error("{0}")]
    Egress(#[from] ConnectError),
    #[error("storing collected data failed: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the store refused message {seq}: messages since {last} are missing")]
    Gap { seq: u64, last: u64 },
    #[error("the collector stopped unexpectedly")]
    CollectorEnded,
}

/// Runs a cluster's collector until cancelled, restarting failed runs, while renewing its
/// lease; losing the lease cancels it (its writes were refused from that moment anyway).
#[allow(clippy::too_many_arguments)]
async fn run_cluster(
    target: PullTarget,
    store: Store,
    keyring: Keyring,
    config: PullConfig,
    status: WorkerHandle,
    cancel: CancellationToken,
    resync: Arc<Notify>,
    replica: Replica,
    lease: Lease,
) {
    let renewal = {
        let (cancel, status, cluster) = (cancel.clone(), status.clone(), target.id);
        tokio::spawn(async move {
            let lost = replica.keep_renewed(&lease.fence()).await;
            tracing::warn!(cluster_id = %cluster, error = %lost, "pull collector stops: its lease moved");
            status.failure(&lost.to_string());
            cancel.cancel();
        })
    };
    loop {
        match collect(
            &target, &store, &keyring, &config, &status, &cancel, &resync,
        )
        .await
        {
            Ok(RunEnd::Stopped) => break,
            Ok(RunEnd::Resync) => {
                tracing::info!(cluster_id = %target.id, "full resync requested");
            }
            Err(err) => {
                let message = err.to_string();
                tracing::warn!(cluster_id = %target.id, error = %message, "pull collector failed");
                status.failure(&message);
                let _ = store
                    .record_sync_error(target.org_id, target.id, Some(&message))
                    .await;
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(config.restart_after) => {}
                }
            }
        }
    }
    renewal.abort();
    status.stopped();
}

/// The cluster's kube client from its sealed kubeconfig, under `egress`: the collector's and
/// the API's operations' one way in.
pub(crate) async fn open_client(
    target: &PullTarget,
    keyring: &Keyring,
    egress: &Arc<EgressPolicy>,
) -> Result<kube::Client, RunError> {
    let plaintext = keyring.open(&target.kubeconfig.blob, &kubeconfig_context(&target.id))?;
    // Sealed text is what `validate` produced, so it is UTF-8; treat anything else as corrupt.
    let yaml = String::from_utf8(plaintext).map_err(|_| crate::seal::SealError::Malformed)?;
    let validated = kubeconfig::validate(&yaml, None)?;
    drop(yaml);
    let pull = validated.pull_client(egress.clone(), None).await?;
    // The connector refuses forbidden addresses on every connection; checking once here
    // too ends the run with the rule as the cluster's error, instead of watchers retrying
    // a refused connection behind a vague "unreachable".
    egress.resolve(&pull.endpoint).await?;
    Ok(pull.client)
}

/// One collector run: from opening the kubeconfig to a stop, a resync or an error.
async fn collect(
    target: &PullTarget,
    store: &Store,
    keyring: &Keyring,
    config: &PullConfig,
    status: &WorkerHandle,
    cancel: &CancellationToken,
    resync: &Notify,
) -> Result<RunEnd, RunError> {
    let client = open_client(target, keyring, &config.egress).await?;

    let mut ingest = Ingest {
        target,
        store,
        status,
        epoch: rand::random(),
        seq: 0,
        error_shown: true, // clear any error left by an earlier run on first success
    };
    let (tx, mut rx) = mpsc::channel(64);
    let stop = cancel.child_token();
    let collector =
        tokio::spawn(Collector::new(client, config.collector.clone()).run(tx, stop.clone()));
    let end = loop {
        tokio::select! {
            () = cancel.cancelled() => break RunEnd::Stopped,
            () = resync.notified() => break RunEnd::Resync,
            output = rx.recv() => match output {
                Some(output) => ingest.apply(output).await?,
                None => return Err(RunError::CollectorEnded),
            },
        }
    };
    // The collector hands over its open usage hour on stop: store it before returning.
    stop.cancel();
    let drain = async {
        while let Some(output) = rx.recv().await {
            ingest.apply(output).await?;
        }
        Ok::<_, RunError>(())
    };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!(cluster_id = %target.id, "collector did not stop within 10s");
    }
    collector.abort();
    Ok(end)
}

/// Applies collector output for one run, numbering messages within the run's epoch.
struct Ingest<'a> {
    target: &'a PullTarget,
    store: &'a Store,
    status: &'a WorkerHandle,
    epoch: u64,
    seq: u64,
    error_shown: bool,
}

impl Ingest<'_> {
    fn cursor(&mut self) -> Cursor {
        self.seq += 1;
        Cursor {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    async fn apply(&mut self, output: CollectorOutput) -> Result<(), RunError> {
        let (org, id) = (self.target.org_id, self.target.id);
        match output {
            CollectorOutput::Changes(batch) => {
                let cursor = self.cursor();
                let outcome = self.store.ingest_changes(org, id, cursor, &batch).await?;
                self.check(outcome)?;
                self.status.success();
                if self.error_shown {
                    self.store.record_sync_error(org, id, None).await?;
                    self.error_shown = false;
                }
            }
            CollectorOutput::Usage(buckets) => {
                let cursor = self.cursor();
                let outcome = self.store.ingest_usage(org, id, cursor, &buckets).await?;
                self.check(outcome)?;
            }
            CollectorOutput::Health { report, .. } => {
                self.store
                    .record_health(org, id, &report, Utc::now())
                    .await?;
                if let Some(problem) = api_problem(&report.reasons) {
                    self.status.failure(&problem);
                    self.store
                        .record_sync_error(org, id, Some(&problem))
                        .await?;
                    self.error_shown = true;
                } else if self.error_shown {
                    self.store.record_sync_error(org, id, None).await?;
                    self.error_shown = false;
                }
            }
            CollectorOutput::ClusterInfo(info) => {
                crate::cluster_info::record(self.store, org, id, &info, "system").await?;
            }
        }
        Ok(())
    }

    fn check(&self, outcome: IngestOutcome) -> Result<(), RunError> {
        match outcome {
            IngestOutcome::Applied | IngestOutcome::Duplicate => Ok(()),
            IngestOutcome::Gap { last } => Err(RunError::Gap {
                seq: self.seq,
                last,
            }),
        }
    }
}

/// The apiserver failing or out of reach is the pull-mode sync error worth showing.
fn api_problem(reasons: &[HealthReason]) -> Option<String> {
    reasons.iter().find_map(|reason| match reason {
        HealthReason::ApiNotReady(
            ProbeResult::Unreachable { .. } | ProbeResult::Failing { .. },
        ) => Some(reason.to_string()),
        _ => None,
    })
}
