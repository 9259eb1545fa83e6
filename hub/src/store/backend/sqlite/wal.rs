//! WAL checkpoints off the commit path (SQLite).
//!
//! In WAL mode every commit appends pages to the `-wal` file, and a checkpoint copies them
//! back into the database file and syncs it. By default the connection whose commit pushes
//! the WAL past `wal_autocheckpoint` pages runs that checkpoint inside its commit: here that
//! is the one writer, so every few thousand pages of WAL one group commit would stall for
//! the copy and the fsync, while the writer is ingest's bottleneck. So the writer runs with
//! `wal_autocheckpoint = 0`, and this task checkpoints from its own connection, on its own
//! thread, while the writer goes on:
//!
//! - every [`WalPolicy::every`] a `PASSIVE` checkpoint, which copies whatever frames no
//!   reader still needs and never waits for the writer or readers;
//! - a passive checkpoint cannot rewind the WAL while the writer keeps appending (SQLite
//!   restarts the log only when a write begins with every frame copied), so when the WAL
//!   has grown past [`WalPolicy::restart_pages`] the task takes the writer lock, between two
//!   transactions, and runs a `RESTART` checkpoint, which copies the few frames written since
//!   the passive one and makes the next commit write from the start of the file. That
//!   bounds the WAL file, and the writer waits only for the remainder.
//!
//! The same scheme as Litestream's (passive checkpoints, plus a blocking one past a size).

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, SqlitePool};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

/// When the background task checkpoints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalPolicy {
    /// How often a `PASSIVE` checkpoint runs.
    pub every: Duration,
    /// WAL length (pages) past which the writer pauses for a `RESTART` checkpoint.
    pub restart_pages: i64,
}

impl WalPolicy {
    /// The hub's: a passive checkpoint every 500 ms, a restart past 256 MiB of WAL (4 KiB
    /// pages; that keeps restarts rare, and the passive checkpoints before one leave it
    /// little to copy).
    pub(crate) const HUB: WalPolicy = WalPolicy {
        every: Duration::from_millis(500),
        restart_pages: 65_536,
    };
}

/// What one checkpoint found: `PRAGMA wal_checkpoint`'s row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalState {
    /// The checkpoint could not finish (a `RESTART` that waited out its busy timeout).
    pub busy: bool,
    /// Frames in the WAL.
    pub frames: i64,
    /// Frames copied into the database file.
    pub copied: i64,
}

/// The two checkpoints the task runs (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Copies what no reader needs; never waits.
    Passive,
    /// Copies everything, waits for readers, and rewinds the WAL (run under the writer lock).
    Restart,
}

/// Runs one checkpoint of `mode` on `conn`.
pub(crate) async fn checkpoint(
    conn: &mut SqliteConnection,
    mode: Mode,
) -> Result<WalState, sqlx::Error> {
    let sql = match mode {
        Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
        Mode::Restart => "PRAGMA wal_checkpoint(RESTART)",
    };
    let (busy, frames, copied): (i64, i64, i64) = sqlx::query_as(sql).fetch_one(&mut *conn).await?;
    Ok(WalState {
        busy: busy != 0,
        frames,
        copied,
    })
}

/// The background checkpoint task; see the module docs.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Opens the checkpoint connection and starts the task (on the current Tokio runtime).
    /// `writer` is the pool of the one write connection and `lock` the writer lock, taken
    /// for a restart so no transaction is open on it.
    pub(crate) async fn start(
        options: SqliteConnectOptions,
        writer: SqlitePool,
        lock: std::sync::Arc<Mutex<()>>,
        policy: WalPolicy,
    ) -> Result<Self, sqlx::Error> {
        let conn = SqliteConnection::connect_with(&options).await?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(conn, writer, lock, policy, stopped));
        Ok(Self {
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Stops the task and closes its connection.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().await.take()
            && let Err(err) = task.await
        {
            tracing::error!(error = %err, "wal checkpointer failed");
        }
    }
}

/// One round: a passive checkpoint, then a restart under the writer lock if the WAL is
/// still longer than the policy allows. Answers the passive checkpoint's state.
async fn tick(
    conn: &mut SqliteConnection,
    writer: &SqlitePool,
    lock: &Mutex<()>,
    policy: WalPolicy,
) -> Result<WalState, sqlx::Error> {
    let state = checkpoint(conn, Mode::Passive).await?;
    if state.frames < policy.restart_pages {
        return Ok(state);
    }
    let _writer = lock.lock().await;
    let after = checkpoint(&mut *writer.acquire().await?, Mode::Restart).await?;
    if after.busy {
        tracing::warn!(
            frames = state.frames,
            "wal restart checkpoint gave up waiting for readers; the wal keeps growing"
        );
    } else {
        tracing::debug!(frames = state.frames, "wal restarted");
    }
    Ok(state)
}

async fn run(
    mut conn: SqliteConnection,
    writer: SqlitePool,
    lock: std::sync::Arc<Mutex<()>>,
    policy: WalPolicy,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(policy.every) => {}
            _ = stopped.changed() => break,
        }
        if let Err(err) = tick(&mut conn, &writer, &lock, policy).await {
            tracing::warn!(error = %err, "wal checkpoint failed");
        }
    }
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::sync::Arc;

    use sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions};

    use super::*;

    /// A WAL database at `path` with a table `t (v BLOB)`, and a one-connection writer pool
    /// that never checkpoints in its commits, as the store's.
    async fn database(path: &std::path::Path) -> (SqliteConnectOptions, SqlitePool) {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v BLOB NOT NULL)")
            .execute(&writer)
            .await
            .unwrap();
        (options, writer)
    }

    /// A passive checkpoint cannot copy frames past a reader's snapshot, and the WAL is not
    /// rewound while such frames are uncopied; the restart waits for the reader, copies
    /// them, and the next commit writes from the start of the file again.
    #[tokio::test]
    async fn a_long_wal_is_restarted_under_the_writer_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (options, writer) = database(&dir.path().join("wal.db")).await;
        let write = |rows: i64| {
            let writer = writer.clone();
            async move {
                sqlx::query(
                    "INSERT INTO t (v) SELECT zeroblob(4096) FROM \
                     (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                     SELECT i FROM n)",
                )
                .bind(rows)
                .execute(&writer)
                .await
                .unwrap();
            }
        };
        write(200).await;
        // A reader's snapshot stops the passive checkpoint short of the next frames.
        let mut reader = SqliteConnection::connect_with(&options).await.unwrap();
        let mut read = reader.begin().await.unwrap();
        let _: (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&mut *read)
            .await
            .unwrap();
        write(200).await;
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let lock = Mutex::new(());
        let policy = WalPolicy {
            every: Duration::from_secs(1),
            restart_pages: 300,
        };
        // The reader finishes while the restart waits for it (the passive checkpoint before
        // does not wait).
        let finish_reading = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            read.commit().await.unwrap();
        };
        let (before, ()) = tokio::join!(tick(&mut conn, &writer, &lock, policy), finish_reading);
        let before = before.unwrap();
        assert!(before.copied < before.frames, "{before:?}");
        assert!(before.frames >= 400, "{before:?}");
        write(10).await;
        let after = checkpoint(&mut conn, Mode::Passive).await.unwrap();
        assert!(
            after.frames < 50,
            "the wal went on from frame {}: {after:?}",
            before.frames
        );
    }

    /// A writer that never checkpoints in its commits, as the store's: only the task keeps
    /// the WAL bounded and moves the rows into the database file.
    #[tokio::test]
    async fn the_task_bounds_the_wal_and_copies_it_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let (options, writer) = database(&path).await;
        let lock = Arc::new(Mutex::new(()));
        let policy = WalPolicy {
            every: Duration::from_millis(10),
            restart_pages: 64,
        };
        let task = Checkpointer::start(options.clone(), writer.clone(), lock.clone(), policy)
            .await
            .unwrap();
        // 6,000 rows of 4 KiB: 24 MiB of WAL if nothing checkpointed.
        let rows = 6_000;
        let mut largest_wal = 0;
        for i in 0..rows {
            {
                let _writer = lock.lock().await;
                sqlx::query("INSERT INTO t (v) VALUES (zeroblob(4096))")
                    .execute(&writer)
                    .await
                    .unwrap();
            }
            if i % 100 == 0 {
                tokio::task::yield_now().await;
                let wal = std::fs::metadata(dir.path().join("wal.db-wal")).map_or(0, |m| m.len());
                largest_wal = largest_wal.max(wal);
            }
        }
        task.stop().await;
        // Every row is there, and most of them are in the database file already.
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, rows);
        let db = std::fs::metadata(&path).unwrap().len();
        assert!(
            db > 12 << 20,
            "database file {db} bytes: the wal was not copied"
        );
        assert!(
            largest_wal < 12 << 20,
            "the wal reached {largest_wal} bytes: nothing restarted it"
        );
    }
}
