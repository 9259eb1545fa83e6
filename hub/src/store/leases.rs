//! Leases and replicas: how several hub processes on one PostgreSQL database share work
//! without a consensus layer of their own.
//!
//! A lease names one piece of work (`worker:cost`, `pull:<cluster id>`). Acquiring it is one
//! atomic upsert: granted when the lease is free, lapsed, or already the caller's; its
//! **fencing token** grows every time it changes hands (a release counts), so a write that
//! carries a [`Fence`] is refused once another replica has taken the lease, even if the old
//! holder has not noticed yet ([`check_fences`], run inside the write's own transaction;
//! PostgreSQL locks the lease rows `FOR SHARE` there, so a takeover cannot commit between the
//! check and the write). Expiries and heartbeats are judged by the database's clock, so the
//! replicas' clocks do not matter. On SQLite there is one process, which holds every lease
//! through the same code.
//!
//! A replica is one running hub process: it writes a heartbeat row, and the live set is the
//! replicas heard from within the lease TTL (what pull-mode sharding hashes over).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::sql::{Cells, Sql, Ty, Value};
use super::{Store, StoreError, in_tx, on_conn};

/// Replicas silent this long lose their row (they are long out of the live set).
const FORGET_REPLICAS_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A lease as granted or renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What it is for, e.g. `worker:cost`.
    pub name: String,
    /// The replica holding it.
    pub holder: String,
    /// Grows every time the lease changes hands.
    pub token: i64,
    /// When it lapses unless renewed (the database's clock).
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// What a write made under this lease carries so it is refused once the lease moved.
    pub fn fence(&self) -> Fence {
        Fence {
            lease: self.name.clone(),
            holder: self.holder.clone(),
            token: self.token,
        }
    }
}

/// A lease's holder and token at the time it was granted: the proof a fenced write carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The lease's name.
    pub lease: String,
    /// The replica that holds it.
    pub holder: String,
    /// Its token when granted.
    pub token: i64,
}

/// A hub process as its heartbeat row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRecord {
    /// The replica's id (random per process start).
    pub id: String,
    /// When it first beat.
    pub started_at: DateTime<Utc>,
    /// When it last beat.
    pub heartbeat_at: DateTime<Utc>,
}

fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4)
}

fn instant(ms: i64) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| sqlx::Error::Decode("lease time out of range".into()))
}

/// The cells [`LEASE_COLUMNS`] selects.
const LEASE_TYPES: [Ty; 4] = [Ty::Text, Ty::Text, Ty::I64, Ty::I64];
const LEASE_COLUMNS: &str = "name, holder, token, expires_ms";

fn lease_row(row: Vec<Value>) -> Result<Lease, StoreError> {
    let mut cells = Cells::new(row);
    Ok(Lease {
        name: cells.text()?,
        holder: cells.text()?,
        token: cells.i64()?,
        expires_at: instant(cells.i64()?)?,
    })
}

impl Store {
    /// Takes lease `name` for `holder` until `ttl` from now when it is free, lapsed or
    /// already `holder`'s; `None` while another replica holds it. The token grows whenever
    /// the holder changes, and stays when the holder keeps it.
    #[instrument(skip_all, fields(lease = name))]
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        // Granted when free, lapsed or the caller's; the token moves only with the holder.
        let on_conflict = |now: &str| {
            format!(
                "token = CASE WHEN hub_leases.holder = excluded.holder THEN hub_leases.token \
                 ELSE hub_leases.token + 1 END, \
                 acquired_ms = CASE WHEN hub_leases.holder = excluded.holder \
                 THEN hub_leases.acquired_ms ELSE excluded.acquired_ms END, \
                 holder = excluded.holder, expires_ms = excluded.expires_ms \
                 WHERE hub_leases.holder = excluded.holder OR hub_leases.expires_ms <= {now}"
            )
        };
        in_tx!(self, |db| upsert_lease(db, name, holder, ttl, on_conflict))
    }

    /// Takes lease `name` for `holder` whoever holds it, with a greater token: the newest
    /// claimant wins (an agent's newest session, wherever it connected). Renewals of the
    /// superseded holder are refused from then on.
    #[instrument(skip_all, fields(lease = name))]
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let on_conflict = |_: &str| {
            "token = hub_leases.token + 1, holder = excluded.holder, \
             acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms"
                .to_owned()
        };
        in_tx!(self, |db| async {
            upsert_lease(db, name, holder, ttl, on_conflict)
                .await?
                .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
        })
    }

    /// Extends the lease `fence` names by `ttl` from now, only while its holder and token
    /// are still the fence's (even if it lapsed meanwhile and nobody took it); `None` when
    /// it was lost.
    #[instrument(skip_all, fields(lease = %fence.lease))]
    pub async fn renew_lease(
        &self,
        fence: &Fence,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE hub_leases SET expires_ms = {now} + {p4} \
                 WHERE name = {p1} AND holder = {p2} AND token = {p3} \
                 RETURNING {LEASE_COLUMNS}",
                now = d.now_millis(),
                p1 = d.ph(1),
                p2 = d.ph(2),
                p3 = d.ph(3),
                p4 = d.ph(4),
            );
            let mut args = fence_args(fence);
            args.push(Value::I64(ttl_millis(ttl)));
            let rows = db.fetch(&sql, args, &LEASE_TYPES).await?;
            rows.into_iter().next().map(lease_row).transpose()
        })
    }

    /// Gives the lease back so another replica may take it at once; false when it was no
    /// longer the fence's. The row stays (without a holder), so the token never goes back.
    #[instrument(skip_all, fields(lease = %fence.lease))]
    pub async fn release_lease(&self, fence: &Fence) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE hub_leases SET holder = '', expires_ms = {now} \
                 WHERE name = {p1} AND holder = {p2} AND token = {p3}",
                now = d.now_millis(),
                p1 = d.ph(1),
                p2 = d.ph(2),
                p3 = d.ph(3),
            );
            Ok(db.execute(&sql, fence_args(fence)).await? == 1)
        })
    }

    /// The leases whose name starts with `prefix` that someone holds now (unlapsed), by
    /// name: who does what, for status pages and for a replica to find what it holds.
    #[instrument(skip_all)]
    pub async fn held_leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {LEASE_COLUMNS} FROM hub_leases \
                 WHERE holder <> '' AND expires_ms > {now} \
                 AND substr(name, 1, length({p1})) = {p1} ORDER BY name",
                now = d.now_millis(),
                p1 = d.ph(1),
            );
            let args = vec![Value::Text(prefix.to_owned())];
            let rows = db.fetch(&sql, args, &LEASE_TYPES).await?;
            rows.into_iter().map(lease_row).collect()
        })
    }

    /// Records that replica `id` is alive now (its first beat also records its start), and
    /// forgets replicas silent for a day.
    #[instrument(skip_all, fields(replica = id))]
    pub async fn replica_heartbeat(&self, id: &str) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let now = d.now_millis();
            let sql = format!(
                "INSERT INTO hub_replicas (id, started_ms, heartbeat_ms) \
                 VALUES ({p1}, {now}, {now}) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
                p1 = d.ph(1),
            );
            db.execute(&sql, vec![Value::Text(id.to_owned())]).await?;
            let sql = format!(
                "DELETE FROM hub_replicas WHERE heartbeat_ms < {now} - {p1}",
                p1 = d.ph(1)
            );
            db.execute(&sql, vec![Value::I64(ttl_millis(FORGET_REPLICAS_AFTER))])
                .await?;
            Ok(())
        })
    }

    /// The replicas heard from within `ttl`, by id.
    #[instrument(skip_all)]
    pub async fn live_replicas(&self, ttl: Duration) -> Result<Vec<ReplicaRecord>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT id, started_ms, heartbeat_ms FROM hub_replicas \
                 WHERE heartbeat_ms > {now} - {p1} ORDER BY id",
                now = d.now_millis(),
                p1 = d.ph(1),
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::I64(ttl_millis(ttl))],
                    &[Ty::Text, Ty::I64, Ty::I64],
                )
                .await?;
            rows.into_iter()
                .map(|row| {
                    let mut cells = Cells::new(row);
                    Ok(ReplicaRecord {
                        id: cells.text()?,
                        started_at: instant(cells.i64()?)?,
                        heartbeat_at: instant(cells.i64()?)?,
                    })
                })
                .collect()
        })
    }

    /// Removes replica `id` from the live set at once (a graceful stop), so the others
    /// rebalance without waiting for its heartbeat to lapse.
    #[instrument(skip_all, fields(replica = id))]
    pub async fn remove_replica(&self, id: &str) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!("DELETE FROM hub_replicas WHERE id = {}", d.ph(1));
            db.execute(&sql, vec![Value::Text(id.to_owned())]).await?;
            Ok(())
        })
    }

    /// Runs `fences`' check alone, in a transaction of its own: for tests and callers that
    /// want to know before doing work whether their leases still stand.
    #[instrument(skip_all)]
    pub async fn check_fence(&self, fence: &Fence) -> Result<(), StoreError> {
        in_tx!(self, |db| check_fences(db, &[fence]))
    }
}

/// Inserts lease `name` for `holder` until `ttl` from now, or on a conflict updates it as
/// `on_conflict` (given the database clock's expression) says; the lease as it stands after,
/// `None` when the update's condition refused it.
async fn upsert_lease(
    db: &mut dyn Sql,
    name: &str,
    holder: &str,
    ttl: Duration,
    on_conflict: impl FnOnce(&str) -> String,
) -> Result<Option<Lease>, StoreError> {
    let d = db.dialect();
    let now = d.now_millis();
    let sql = format!(
        "INSERT INTO hub_leases (name, holder, token, acquired_ms, expires_ms) \
         VALUES ({p1}, {p2}, 1, {now}, {now} + {p3}) \
         ON CONFLICT (name) DO UPDATE SET {set} RETURNING {LEASE_COLUMNS}",
        p1 = d.ph(1),
        p2 = d.ph(2),
        p3 = d.ph(3),
        set = on_conflict(now),
    );
    let args = vec![
        Value::Text(name.to_owned()),
        Value::Text(holder.to_owned()),
        Value::I64(ttl_millis(ttl)),
    ];
    let rows = db.fetch(&sql, args, &LEASE_TYPES).await?;
    rows.into_iter().next().map(lease_row).transpose()
}

fn fence_args(fence: &Fence) -> Vec<Value> {
    vec![
        Value::Text(fence.lease.clone()),
        Value::Text(fence.holder.clone()),
        Value::I64(fence.token),
    ]
}

/// Checks inside a write's transaction that every fence's lease still has the fence's
/// holder and token, locking those lease rows (PostgreSQL) until the transaction ends so no
/// takeover commits before the write does. A lease that lapsed but that nobody took still
/// admits its holder: nobody else wrote since. Refuses with [`StoreError::Fenced`] naming
/// the first lease that moved.
pub(crate) async fn check_fences(db: &mut dyn Sql, fences: &[&Fence]) -> Result<(), StoreError> {
    let unfenced = fenced_out(db, fences).await?;
    match unfenced.into_iter().next() {
        Some(lease) => Err(StoreError::Fenced(lease)),
        None => Ok(()),
    }
}

/// [`check_fences`] with the fence `store`'s handle writes under, if any.
pub(crate) async fn check_own_fence(db: &mut dyn Sql, store: &Store) -> Result<(), StoreError> {
    check_fences(db, &Vec::from_iter(store.fence())).await
}

/// The names of `fences`' leases that no longer have the fence's holder and token, locking
/// the rows read as [`check_fences`] does; the caller decides what a moved lease refuses.
pub(crate) async fn fenced_out(
    db: &mut dyn Sql,
    fences: &[&Fence],
) -> Result<Vec<String>, StoreError> {
    if fences.is_empty() {
        return Ok(Vec::new());
    }
    let d = db.dialect();
    let mut names: Vec<&str> = fences.iter().map(|f| f.lease.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let list: Vec<String> = (1..=names.len()).map(|n| d.ph(n)).collect();
    // In name order, so two transactions lock shared rows in one order.
    let sql = format!(
        "SELECT name, holder, token FROM hub_leases WHERE name IN ({}) ORDER BY name{}",
        list.join(", "),
        d.for_share()
    );
    let args = names.iter().map(|n| Value::Text((*n).to_owned())).collect();
    let rows = db.fetch(&sql, args, &[Ty::Text, Ty::Text, Ty::I64]).await?;
    let mut current = HashMap::with_capacity(rows.len());
    for row in rows {
        let mut cells = Cells::new(row);
        let name = cells.text()?;
        current.insert(name, (cells.text()?, cells.i64()?));
    }
    let mut out: Vec<String> = fences
        .iter()
        .filter(|f| current.get(&f.lease) != Some(&(f.holder.clone(), f.token)))
        .map(|f| f.lease.clone())
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
