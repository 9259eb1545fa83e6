//! Group commit: concurrent callers' change batches share one write transaction.
//!
//! Each [`Store::ingest_changes`](super::Store::ingest_changes) call prepares its batch on its
//! own task ([`super::prepare`]) and queues it here. Writer tasks take the queue's head plus
//! whatever else is already waiting (up to [`GroupLimits`]) and apply the group in one
//! transaction, each batch inside its own `SAVEPOINT`: a batch that fails is rolled back to
//! its savepoint and reported to its caller alone, while the others commit. So the contract
//! stays per batch (atomic, exactly once per cursor, `Applied | Duplicate | Gap`), but a
//! thousand agents' small batches cost a few transactions instead of a thousand: on SQLite
//! (one writer) that is the difference between a commit per batch and a commit per group,
//! and on PostgreSQL it saves the `BEGIN`/`COMMIT` round trips and WAL flushes.
//!
//! The queue is bounded (callers wait for room: backpressure, not memory growth) and FIFO, so
//! no caller is passed over. [`GroupCommit::close`] stops taking new batches, lets the writers
//! drain what is queued, and waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};

use async_trait::async_trait;
use kubeworkz_shared::ids::ClusterId;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::StoreError;
use super::backend::Tx;
use super::prepare::PreparedBatch;
use super::sql::Sql;
use super::types::IngestOutcome;
use super::{ingest, ingest_group};

/// Opens write transactions for the writer tasks (the backend's pool, without the store, so
/// a writer does not keep the queue it drains alive).
#[async_trait]
pub trait Begin: Send + Sync + 'static {
    /// A write transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>, sqlx::Error>;
}

/// How big a group may grow and how many run at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupLimits {
    /// Writer tasks (transactions in flight). SQLite has one writer anyway.
    pub writers: usize,
    /// Batches per transaction. PostgreSQL keeps 64 subtransactions per backend in memory;
    /// more would overflow to disk and slow every other session's snapshots.
    pub max_batches: usize,
    /// Changes per transaction, so one group does not hold the writer for long.
    pub max_changes: usize,
    /// Batches waiting; callers beyond it wait for room.
    pub queue: usize,
}

type Reply = oneshot::Sender<Result<IngestOutcome, StoreError>>;

struct Job {
    batch: PreparedBatch,
    reply: Reply,
}

/// The queue and its writers; see the module docs.
pub struct GroupCommit {
    queue: SyncMutex<Option<mpsc::Sender<Job>>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the writer tasks (on the current Tokio runtime).
    pub(crate) fn start(source: Arc<dyn Begin>, limits: GroupLimits) -> Self {
        let (tx, rx) = mpsc::channel(limits.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let writers = (0..limits.writers.max(1))
            .map(|_| tokio::spawn(write_groups(source.clone(), rx.clone(), limits)))
            .collect();
        Self {
            queue: SyncMutex::new(Some(tx)),
            writers: Mutex::new(writers),
        }
    }

    /// Queues `batch` and waits for its outcome. After [`GroupCommit::close`] this is
    /// `PoolClosed`, like any other query on a closed store.
    pub(crate) async fn submit(&self, batch: PreparedBatch) -> Result<IngestOutcome, StoreError> {
        let queue = self
            .queue
            .lock()
            .expect("group commit queue lock")
            .clone()
            .ok_or(sqlx::Error::PoolClosed)?;
        let (reply, outcome) = oneshot::channel();
        queue
            .send(Job { batch, reply })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        drop(queue);
        // A writer always replies; a dropped reply means its task died (a panic).
        outcome.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    /// Takes no new batches, applies the queued ones, and waits for the writers to finish.
    pub(crate) async fn close(&self) {
        self.queue.lock().expect("group commit queue lock").take();
        for writer in self.writers.lock().await.drain(..) {
            if let Err(err) = writer.await {
                tracing::error!(error = %err, "group commit writer failed");
            }
        }
    }
}

/// One writer: takes a group from the queue, applies it, until the queue closes and is empty.
async fn write_groups(
    source: Arc<dyn Begin>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    limits: GroupLimits,
) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut changes = first.batch.changes;
            let mut group = vec![first];
            while group.len() < limits.max_batches && changes < limits.max_changes {
                match queue.try_recv() {
                    Ok(job) => {
                        changes += job.batch.changes;
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        commit_group(&*source, group).await;
    }
}

/// Applies `group` in one transaction, one savepoint per batch, and answers every caller.
#[tracing::instrument(skip_all, fields(batches = group.len()))]
async fn commit_group(source: &dyn Begin, group: Vec<Job>) {
    let mut tx = match source.begin().await {
        Ok(tx) => tx,
        Err(err) => {
            let err = Arc::new(err);
            for job in group {
                let _ = job.reply.send(Err(StoreError::Group(err.clone())));
            }
            return;
        }
    };
    // Alone, the transaction is the batch's boundary: no savepoint, and a failure rolls the
    // whole transaction back (dropping it) instead of committing what came before it.
    if group.len() == 1 {
        let Job { batch, reply } = group.into_iter().next().expect("one job");
        let outcome = match ingest::apply(&mut *tx, batch).await {
            Ok(outcome) => tx
                .commit()
                .await
                .map(|()| outcome)
                .map_err(StoreError::Query),
            Err(err) => Err(err),
        };
        let _ = reply.send(outcome);
        return;
    }
    let mut answers: Vec<(Reply, Result<IngestOutcome, StoreError>)> =
        Vec::with_capacity(group.len());
    let mut broken: Option<Arc<sqlx::Error>> = None;
    for run in runs(group) {
        let (batches, replies): (Vec<PreparedBatch>, Vec<Reply>) =
            run.into_iter().map(|job| (job.batch, job.reply)).unzip();
        if let Some(err) = &broken {
            answers.extend(
                replies
                    .into_iter()
                    .map(|reply| (reply, Err(StoreError::Group(err.clone())))),
            );
            continue;
        }
        match run_in_savepoint(&mut *tx, batches).await {
            Ok(outcomes) => answers.extend(replies.into_iter().zip(outcomes)),
            Err(err) => {
                // A savepoint could not be released or rolled back: the transaction is
                // unusable, so nothing of it may commit.
                let err = Arc::new(err);
                answers.extend(
                    replies
                        .into_iter()
                        .map(|reply| (reply, Err(StoreError::Group(err.clone())))),
                );
                broken = Some(err);
            }
        }
    }
    let committed = match broken {
        Some(err) => Err(err),
        None => tx.commit().await.map_err(Arc::new),
    };
    for (reply, outcome) in answers {
        let outcome = match (&committed, outcome) {
            (Ok(()), outcome) => outcome,
            // A batch that failed on its own keeps its own error; the others were not stored.
            (Err(_), Err(own)) => Err(own),
            (Err(err), Ok(_)) => Err(StoreError::Group(err.clone())),
        };
        let _ = reply.send(outcome);
    }
}

/// Cuts `group` into runs in which no cluster appears twice: a cluster's n-th batch of the
/// group goes to run n, so each cluster's batches are applied in queue order, and batches
/// of different clusters (which touch disjoint rows) merge as much as they can.
fn runs(group: Vec<Job>) -> Vec<Vec<Job>> {
    let mut runs: Vec<Vec<Job>> = Vec::new();
    let mut seen: HashMap<ClusterId, usize> = HashMap::new();
    for job in group {
        let n = seen.entry(job.batch.cluster).or_default();
        if *n == runs.len() {
            runs.push(Vec::new());
        }
        runs[*n].push(job);
        *n += 1;
    }
    runs
}

/// Applies a run merged ([`ingest_group::apply`]) inside a savepoint, one outcome per batch.
/// If the merged statements fail, rolls them back and applies the batches one by one, each
/// in its own savepoint, so only the failing batch is refused. The outer error is a failure
/// of the savepoint statements themselves (the transaction is lost).
async fn run_in_savepoint(
    tx: &mut dyn Sql,
    batches: Vec<PreparedBatch>,
) -> Result<Vec<Result<IngestOutcome, StoreError>>, sqlx::Error> {
    if batches.len() > 1 {
        tx.execute("SAVEPOINT ingest_run", vec![]).await?;
        let run: Vec<&PreparedBatch> = batches.iter().collect();
        if let Ok(outcomes) = ingest_group::apply(tx, &run).await {
            tx.execute("RELEASE SAVEPOINT ingest_run", vec![]).await?;
            return Ok(outcomes);
        }
        tracing::debug!(
            batches = batches.len(),
            "merged batches failed; applying them one by one"
        );
        tx.execute("ROLLBACK TO SAVEPOINT ingest_run", vec![])
            .await?;
        tx.execute("RELEASE SAVEPOINT ingest_run", vec![]).await?;
    }
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        outcomes.push(in_savepoint(tx, batch).await?);
    }
    Ok(outcomes)
}

/// Applies one batch inside a savepoint, rolling back to it if the batch fails. The outer
/// error is a failure of the savepoint statements themselves (the transaction is lost).
async fn in_savepoint(
    tx: &mut dyn Sql,
    batch: PreparedBatch,
) -> Result<Result<IngestOutcome, StoreError>, sqlx::Error> {
    tx.execute("SAVEPOINT ingest_batch", vec![]).await?;
    let outcome = ingest::apply(tx, batch).await;
    if outcome.is_err() {
        tx.execute("ROLLBACK TO SAVEPOINT ingest_batch", vec![])
            .await?;
    }
    tx.execute("RELEASE SAVEPOINT ingest_batch", vec![]).await?;
    Ok(outcome)
}
