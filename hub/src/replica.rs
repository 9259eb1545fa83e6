//! This process as one of several hub replicas sharing one database.
//!
//! A [`Replica`] has an id (random at each start unless `--replica-id` names it), beats its
//! heartbeat row through [`Heartbeat`] and holds leases in the store. [`SingleHolder`] runs
//! a periodic [`Worker`] (the cost run, store maintenance) only while this replica holds the
//! worker's lease, renews the lease while the work runs, and hands the worker a store handle
//! fenced by the lease, so a replica that lost it cannot write. On SQLite the one process
//! holds every lease through the same code.
//!
//! Timing: the lease TTL (`--lease-ttl-secs`, 15 s) bounds how long a dead replica's work
//! waits for a new holder; leases and heartbeats are renewed every third of it, so a replica
//! must miss two renewals in a row before it loses anything.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::store::{Fence, Lease, Store, StoreError};
use crate::workers::{Worker, WorkerError};

/// The default lease TTL: a dead replica's work is taken over within it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// This process's identity among the replicas, and its way to hold leases; cheap to clone.
#[derive(Debug, Clone)]
pub struct Replica {
    store: Store,
    id: Arc<str>,
    ttl: Duration,
}

impl Replica {
    /// A replica named `id` whose leases and heartbeat last `ttl`.
    pub fn new(store: Store, id: &str, ttl: Duration) -> Self {
        Self {
            store,
            id: id.into(),
            ttl,
        }
    }

    /// A fresh id for a process that was not given one: unique per start, so a restarted
    /// process never inherits a dead one's leases by name.
    pub fn random_id() -> String {
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        format!("hub-{}", &uuid[..12])
    }

    /// The replica's id (what leases name as holder).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long a lease or heartbeat lasts unless renewed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often leases and the heartbeat are renewed: a third of the TTL, so one missed
    /// renewal costs nothing.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// The store (unfenced).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Keeps or takes lease `name`: renews `held` when given (this replica's last grant),
    /// otherwise, or when that was lost, tries to acquire it. `None`: another replica holds it.
    pub async fn hold(
        &self,
        name: &str,
        held: Option<&Lease>,
    ) -> Result<Option<Lease>, StoreError> {
        if let Some(lease) = held
            && let Some(renewed) = self.store.renew_lease(&lease.fence(), self.ttl).await?
        {
            return Ok(Some(renewed));
        }
        self.store.acquire_lease(name, &self.id, self.ttl).await
    }

    /// Renews `fence`'s lease every [`Replica::renew_every`] until it is lost (returned as
    /// the error); a database error is retried at the next renewal, since the lease may
    /// still stand.
    pub async fn keep_renewed(&self, fence: &Fence) -> WorkerError {
        loop {
            tokio::time::sleep(self.renew_every()).await;
            match self.store.renew_lease(fence, self.ttl).await {
                Ok(Some(_)) => {}
                Ok(None) => return format!("lease {:?} was lost", fence.lease).into(),
                Err(err) => {
                    tracing::warn!(lease = %fence.lease, error = %err, "renewing a lease failed");
                }
            }
        }
    }

    /// The ids of the replicas heard from within the TTL.
    pub async fn live_ids(&self) -> Result<Vec<String>, StoreError> {
        let live = self.store.live_replicas(self.ttl).await?;
        Ok(live.into_iter().map(|r| r.id).collect())
    }
}

/// Beats the replica's heartbeat every [`Replica::renew_every`]; on stop it leaves the live
/// set at once, so the others rebalance without waiting for the TTL.
#[derive(Debug)]
pub struct Heartbeat(pub Replica);

#[async_trait]
impl Worker for Heartbeat {
    fn name(&self) -> String {
        "replica-heartbeat".into()
    }

    fn interval(&self) -> Duration {
        self.0.renew_every()
    }

    async fn tick(&mut self) -> Result<(), WorkerError> {
        self.0.store.replica_heartbeat(&self.0.id).await?;
        Ok(())
    }

    async fn stop(&mut self) {
        if let Err(err) = self.0.store.remove_replica(&self.0.id).await {
            tracing::warn!(error = %err, "leaving the replica set failed");
        }
    }
}

/// A worker that runs on one replica at a time: see the module docs.
///
/// It ticks every [`Replica::renew_every`] to keep or take the lease, and runs the inner
/// worker's tick when its interval has passed, at once when the lease was just taken (a
/// takeover resumes the work without waiting a whole interval).
pub struct SingleHolder<W> {
    inner: W,
    replica: Replica,
    lease: String,
    held: Option<Lease>,
    next_run: Option<Instant>,
}

impl<W: Worker> SingleHolder<W> {
    /// `inner` under lease `lease` (e.g. `worker:cost`).
    pub fn new(inner: W, replica: Replica, lease: &str) -> Self {
        Self {
            inner,
            replica,
            lease: lease.to_owned(),
            held: None,
            next_run: None,
        }
    }

    /// The inner worker.
    pub fn inner(&self) -> &W {
        &self.inner
    }

    /// The lease while this replica holds it.
    pub fn held(&self) -> Option<&Lease> {
        self.held.as_ref()
    }
}

impl<W> std::fmt::Debug for SingleHolder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleHolder")
            .field("lease", &self.lease)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<W: Worker> Worker for SingleHolder<W> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn interval(&self) -> Duration {
        self.replica.renew_every()
    }

    async fn tick(&mut self) -> Result<(), WorkerError> {
        let granted = self.replica.hold(&self.lease, self.held.as_ref()).await?;
        let token = |lease: &Option<Lease>| lease.as_ref().map(|l| l.token);
        let changed = token(&granted) != token(&self.held);
        self.held = granted;
        let Some(lease) = self.held.clone() else {
            if changed {
                tracing::info!(lease = %self.lease, "lease lost: another replica runs the worker");
            }
            self.next_run = None;
            return Ok(());
        };
        if changed {
            tracing::info!(lease = %self.lease, token = lease.token, "lease taken: this replica runs the worker");
            self.inner.under_lease(lease.fence());
            self.next_run = None;
        }
        if self.next_run.is_some_and(|at| Instant::now() < at) {
            return Ok(());
        }
        let fence = lease.fence();
        let result = tokio::select! {
            result = self.inner.tick() => result,
            lost = self.replica.keep_renewed(&fence) => {
                self.held = None;
                Err(lost)
            }
        };
        self.next_run = Some(Instant::now() + self.inner.interval());
        result
    }

    async fn stop(&mut self) {
        self.inner.stop().await;
        if let Some(lease) = self.held.take() {
            let _ = self.replica.store.release_lease(&lease.fence()).await;
        }
    }
}
