//! Group commit: concurrent callers' work shares one write transaction.
//!
//! Each caller prepares its item on its own task and queues it here. Writer tasks take the
//! queue's head plus whatever else is already waiting (up to [`GroupLimits`]) and apply the
//! group in one transaction, each run of items inside its own `SAVEPOINT`: an item that fails
//! is rolled back to its savepoint and reported to its caller alone, while the others commit.
//! So the contract stays per item (atomic, with its own outcome), but a thousand agents'
//! small change batches cost a few transactions instead of a thousand: on SQLite (one writer)
//! that is the difference between a commit per batch and a commit per group, and on
//! PostgreSQL it saves the `BEGIN`/`COMMIT` round trips and WAL flushes.
//!
//! What an item writes is the business side's ([`GroupWork`]): this queue only orders,
//! groups and commits.
//!
//! The queue is bounded (callers wait for room: backpressure, not memory growth) and FIFO, so
//! no caller is passed over. [`GroupCommit::close`] stops taking new items, lets the writers
//! drain what is queued, and waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::store::StoreError;
use crate::store::sql::{GroupWork, Sql, Tx};

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
    /// Items per transaction. PostgreSQL keeps 64 subtransactions per backend in memory;
    /// more would overflow to disk and slow every other session's snapshots.
    pub max_items: usize,
    /// Item weight ([`GroupWork::weight`]) per transaction, so one group does not hold the
    /// writer for long.
    pub max_weight: usize,
    /// Items waiting; callers beyond it wait for room.
    pub queue: usize,
}

type Outcome<W> = Result<<W as GroupWork>::Outcome, StoreError>;
type Reply<W> = oneshot::Sender<Outcome<W>>;

struct Job<W: GroupWork> {
    item: W::Item,
    reply: Reply<W>,
}

/// The queue and its writers; see the module docs.
pub(crate) struct GroupCommit<W: GroupWork> {
    queue: SyncMutex<Option<mpsc::Sender<Job<W>>>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
}

impl<W: GroupWork> std::fmt::Debug for GroupCommit<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<W: GroupWork> GroupCommit<W> {
    /// Starts the writer tasks (on the current Tokio runtime), applying items as `work` says.
    pub(crate) fn start(source: Arc<dyn Begin>, limits: GroupLimits, work: W) -> Self {
        let (tx, rx) = mpsc::channel(limits.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let work = Arc::new(work);
        let writers = (0..limits.writers.max(1))
            .map(|_| {
                tokio::spawn(write_groups(
                    source.clone(),
                    work.clone(),
                    rx.clone(),
                    limits,
                ))
            })
            .collect();
        Self {
            queue: SyncMutex::new(Some(tx)),
            writers: Mutex::new(writers),
        }
    }

    /// Queues `item` and waits for its outcome. After [`GroupCommit::close`] this is
    /// `PoolClosed`, like any other query on a closed store.
    pub(crate) async fn submit(&self, item: W::Item) -> Outcome<W> {
        let queue = self
            .queue
            .lock()
            .expect("group commit queue lock")
            .clone()
            .ok_or(sqlx::Error::PoolClosed)?;
        let (reply, outcome) = oneshot::channel();
        queue
            .send(Job { item, reply })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        drop(queue);
        // A writer always replies; a dropped reply means its task died (a panic).
        outcome.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    /// Takes no new items, applies the queued ones, and waits for the writers to finish.
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
async fn write_groups<W: GroupWork>(
    source: Arc<dyn Begin>,
    work: Arc<W>,
    queue: Arc<Mutex<mpsc::Receiver<Job<W>>>>,
    limits: GroupLimits,
) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut weight = W::weight(&first.item);
            let mut group = vec![first];
            while group.len() < limits.max_items && weight < limits.max_weight {
                match queue.try_recv() {
                    Ok(job) => {
                        weight += W::weight(&job.item);
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        commit_group(&*source, &*work, group).await;
    }
}

/// Applies `group` in one transaction, one savepoint per run, and answers every caller.
#[tracing::instrument(skip_all, fields(items = group.len()))]
async fn commit_group<W: GroupWork>(source: &dyn Begin, work: &W, group: Vec<Job<W>>) {
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
    // Alone, the transaction is the item's boundary: no savepoint, and a failure rolls the
    // whole transaction back (dropping it) instead of committing what came before it.
    if group.len() == 1 {
        let Job { item, reply } = group.into_iter().next().expect("one job");
        let outcome = match work.apply(&mut *tx, item).await {
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
    let mut answers: Vec<(Reply<W>, Outcome<W>)> = Vec::with_capacity(group.len());
    let mut broken: Option<Arc<sqlx::Error>> = None;
    for run in runs(group) {
        let (items, replies): (Vec<W::Item>, Vec<Reply<W>>) =
            run.into_iter().map(|job| (job.item, job.reply)).unzip();
        if let Some(err) = &broken {
            answers.extend(
                replies
                    .into_iter()
                    .map(|reply| (reply, Err(StoreError::Group(err.clone())))),
            );
            continue;
        }
        match run_in_savepoint(&mut *tx, work, items).await {
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
            // An item that failed on its own keeps its own error; the others were not stored.
            (Err(_), Err(own)) => Err(own),
            (Err(err), Ok(_)) => Err(StoreError::Group(err.clone())),
        };
        let _ = reply.send(outcome);
    }
}

/// Cuts `group` into runs in which no key appears twice: a key's n-th item of the group goes
/// to run n, so each key's items are applied in queue order, and items of different keys
/// (which touch disjoint rows, e.g. change batches of different clusters) merge as much as
/// they can.
fn runs<W: GroupWork>(group: Vec<Job<W>>) -> Vec<Vec<Job<W>>> {
    let mut runs: Vec<Vec<Job<W>>> = Vec::new();
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for job in group {
        let n = seen.entry(W::key(&job.item)).or_default();
        if *n == runs.len() {
            runs.push(Vec::new());
        }
        runs[*n].push(job);
        *n += 1;
    }
    runs
}

/// Applies a run merged ([`GroupWork::apply_merged`]) inside a savepoint, one outcome per
/// item. If the merged statements fail, rolls them back and applies the items one by one,
/// each in its own savepoint, so only the failing item is refused. The outer error is a
/// failure of the savepoint statements themselves (the transaction is lost).
async fn run_in_savepoint<W: GroupWork>(
    tx: &mut dyn Sql,
    work: &W,
    items: Vec<W::Item>,
) -> Result<Vec<Outcome<W>>, sqlx::Error> {
    if items.len() > 1 {
        tx.execute("SAVEPOINT group_run", vec![]).await?;
        let run: Vec<&W::Item> = items.iter().collect();
        if let Ok(outcomes) = work.apply_merged(tx, &run).await {
            tx.execute("RELEASE SAVEPOINT group_run", vec![]).await?;
            return Ok(outcomes);
        }
        tracing::debug!(
            items = items.len(),
            "merged items failed; applying them one by one"
        );
        tx.execute("ROLLBACK TO SAVEPOINT group_run", vec![])
            .await?;
        tx.execute("RELEASE SAVEPOINT group_run", vec![]).await?;
    }
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        outcomes.push(in_savepoint(tx, work, item).await?);
    }
    Ok(outcomes)
}

/// Applies one item inside a savepoint, rolling back to it if the item fails. The outer
/// error is a failure of the savepoint statements themselves (the transaction is lost).
async fn in_savepoint<W: GroupWork>(
    tx: &mut dyn Sql,
    work: &W,
    item: W::Item,
) -> Result<Outcome<W>, sqlx::Error> {
    tx.execute("SAVEPOINT group_item", vec![]).await?;
    let outcome = work.apply(tx, item).await;
    if outcome.is_err() {
        tx.execute("ROLLBACK TO SAVEPOINT group_item", vec![])
            .await?;
    }
    tx.execute("RELEASE SAVEPOINT group_item", vec![]).await?;
    Ok(outcome)
}
