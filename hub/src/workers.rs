//! Background work: one [`Worker`] trait, one runner, one status registry.
//!
//! Every periodic job of the hub (the pull-mode supervisor, store maintenance, later the cost
//! runs) is a [`Worker`]: a name, an interval and a `tick`. [`spawn`] runs it until the hub's
//! [`Shutdown`] fires, and records each outcome in [`Workers`], which is what the API's
//! workers endpoint shows. Long-running per-cluster collectors report into the same registry
//! through a [`WorkerHandle`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;
use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;
use crate::store::Store;

/// The error a worker tick may fail with; its message is recorded (and must hold no secret).
pub type WorkerError = Box<dyn std::error::Error + Send + Sync>;

/// A periodic job.
#[async_trait]
pub trait Worker: Send + 'static {
    /// Stable name, shown in the workers status.
    fn name(&self) -> String;

    /// Time between the end of one tick and the start of the next.
    fn interval(&self) -> Duration;

    /// One round of work.
    async fn tick(&mut self) -> Result<(), WorkerError>;

    /// Called once when the hub shuts down, after the last tick.
    async fn stop(&mut self) {}

    /// Its replica has taken the worker's lease ([`crate::replica::SingleHolder`]): from now
    /// on its writes should go through a store handle fenced by it
    /// ([`Store::under_lease`]), so they are refused once another replica takes over.
    fn under_lease(&mut self, _fence: crate::store::Fence) {}
}

/// What the workers endpoint shows for one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// Name.
    pub name: String,
    /// False once it has stopped.
    pub running: bool,
    /// Its interval, for periodic workers.
    pub interval: Option<Duration>,
    /// Completed rounds (ticks, or ingested messages for collectors).
    pub runs: u64,
    /// Rounds that succeeded.
    pub successes: u64,
    /// Rounds that failed.
    pub failures: u64,
    /// End of the last round.
    pub last_run: Option<DateTime<Utc>>,
    /// The last failure's message, cleared by the next success.
    pub last_error: Option<String>,
    /// What the worker says about its progress (e.g. the cost run's last report).
    pub detail: Option<String>,
    /// The organization the worker works for (a pull collector's cluster's), `None` for
    /// the hub's own workers. Decides who may see it.
    pub org_id: Option<OrgId>,
}

/// The status of every worker; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Workers(Arc<Mutex<BTreeMap<String, WorkerStatus>>>);

impl Workers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or re-registers) one of the hub's own workers as running.
    pub fn register(&self, name: &str, interval: Option<Duration>) -> WorkerHandle {
        self.register_owned(name, interval, None)
    }

    /// Registers (or re-registers) a worker of organization `org` (`None`: the hub's own)
    /// as running.
    pub fn register_owned(
        &self,
        name: &str,
        interval: Option<Duration>,
        org: Option<OrgId>,
    ) -> WorkerHandle {
        self.0.lock().expect("workers lock").insert(
            name.to_owned(),
            WorkerStatus {
                name: name.to_owned(),
                running: true,
                interval,
                runs: 0,
                successes: 0,
                failures: 0,
                last_run: None,
                last_error: None,
                detail: None,
                org_id: org,
            },
        );
        WorkerHandle {
            workers: self.clone(),
            name: name.to_owned(),
        }
    }

    /// Every worker's status, by name.
    pub fn snapshot(&self) -> Vec<WorkerStatus> {
        self.0
            .lock()
            .expect("workers lock")
            .values()
            .cloned()
            .collect()
    }

    /// One worker's status.
    pub fn get(&self, name: &str) -> Option<WorkerStatus> {
        self.0.lock().expect("workers lock").get(name).cloned()
    }

    /// Sets a worker's progress detail, shown beside its counters.
    pub fn set_detail(&self, name: &str, detail: &str) {
        self.update(name, |s| s.detail = Some(detail.to_owned()));
    }

    /// Forgets a worker (a removed cluster's collector).
    pub fn remove(&self, name: &str) {
        self.0.lock().expect("workers lock").remove(name);
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut WorkerStatus)) {
        if let Some(status) = self.0.lock().expect("workers lock").get_mut(name) {
            f(status);
        }
    }
}

/// Reports one worker's outcomes.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    workers: Workers,
    name: String,
}

impl WorkerHandle {
    /// A round succeeded.
    pub fn success(&self) {
        self.workers.update(&self.name, |s| {
            s.runs += 1;
            s.successes += 1;
            s.last_run = Some(Utc::now());
            s.last_error = None;
        });
    }

    /// A round failed with `error`.
    pub fn failure(&self, error: &str) {
        self.workers.update(&self.name, |s| {
            s.runs += 1;
            s.failures += 1;
            s.last_run = Some(Utc::now());
            s.last_error = Some(error.to_owned());
        });
    }

    /// The worker stopped.
    pub fn stopped(&self) {
        self.workers.update(&self.name, |s| s.running = false);
    }
}

/// Runs `worker` every interval until `shutdown`, recording outcomes in `workers`. The first
/// tick runs at once.
pub fn spawn(mut worker: impl Worker, workers: &Workers, shutdown: Shutdown) -> JoinHandle<()> {
    let handle = workers.register(&worker.name(), Some(worker.interval()));
    tokio::spawn(async move {
        loop {
            let result = tokio::select! {
                () = shutdown.wait() => break,
                result = worker.tick() => result,
            };
            match result {
                Ok(()) => handle.success(),
                Err(err) => {
                    tracing::warn!(worker = %worker.name(), error = %err, "worker round failed");
                    handle.failure(&err.to_string());
                }
            }
            tokio::select! {
                () = shutdown.wait() => break,
                () = tokio::time::sleep(worker.interval()) => {}
            }
        }
        worker.stop().await;
        handle.stopped();
    })
}

/// Store housekeeping: partitions ahead, retention behind (see [`Store::maintain`]).
#[derive(Debug)]
pub struct StoreMaintenance {
    /// The store.
    pub store: Store,
    /// How long ended inventory rows and usage are kept.
    pub retention: Duration,
    /// How often it runs.
    pub every: Duration,
}

#[async_trait]
impl Worker for StoreMaintenance {
    fn name(&self) -> String {
        "store-maintenance".into()
    }

    fn interval(&self) -> Duration {
        self.every
    }

    fn under_lease(&mut self, fence: crate::store::Fence) {
        self.store = self.store.under_lease(fence);
    }

    async fn tick(&mut self) -> Result<(), WorkerError> {
        let report = self.store.maintain(Utc::now(), self.retention).await?;
        tracing::info!(
            created = ?report.partitions_created,
            dropped = ?report.partitions_dropped,
            purged = report.rows_purged,
            "store maintenance done"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky(u32);

    #[async_trait]
    impl Worker for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }
        fn interval(&self) -> Duration {
            Duration::from_millis(10)
        }
        async fn tick(&mut self) -> Result<(), WorkerError> {
            self.0 += 1;
            if self.0.is_multiple_of(2) {
                Err(format!("round {} failed", self.0).into())
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_are_recorded_and_shutdown_stops_the_worker() {
        let workers = Workers::new();
        let shutdown = Shutdown::new();
        let task = spawn(Flaky(0), &workers, shutdown.clone());
        tokio::time::sleep(Duration::from_millis(35)).await;
        shutdown.trigger();
        task.await.unwrap();
        let status = workers.get("flaky").unwrap();
        assert!(!status.running);
        assert_eq!(status.runs, status.successes + status.failures);
        assert!(status.successes >= 2 && status.failures >= 1, "{status:?}");
        assert_eq!(status.interval, Some(Duration::from_millis(10)));
    }
}
