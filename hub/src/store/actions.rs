//! Idempotency keys of workload actions (scale, restart, delete): a client that retries an
//! action after a timeout or a dropped connection sends the same `Idempotency-Key`, and the
//! hub answers the first attempt's result instead of acting on the cluster twice.
//!
//! A key is claimed before the action runs and holds its answer once it finished. Keys belong
//! to the user who sent them (two people never collide on a key) and last
//! [`ACTION_KEY_TTL`]; a claim whose action never finished (the hub stopped mid-action) may be
//! claimed again after [`ACTION_RUNNING_TTL`]. Expiry is judged in Rust by the caller's clock.

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;
use uuid::Uuid;

use super::sql::{Cells, Sql, Ty, Value};
use super::{Store, StoreError, in_tx};

/// How long an idempotency key is remembered.
pub const ACTION_KEY_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How long a claimed key whose action never finished blocks a retry.
pub const ACTION_RUNNING_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// One action request's key: who sent it, the key, and a hash of what was asked (the
/// action, its object and its body), so the same key with another request is told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionKey {
    /// Organization.
    pub org_id: OrgId,
    /// The user who sent the request (for a token, its user).
    pub user_id: Uuid,
    /// The client's `Idempotency-Key`.
    pub key: String,
    /// SHA-256 of the request.
    pub request_hash: Vec<u8>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionClaim {
    /// The key is new (or expired): run the action, then [`Store::finish_action`].
    Claimed,
    /// The action already ran: its answer.
    Finished {
        /// HTTP status it answered.
        status: u16,
        /// The JSON body it answered.
        body: String,
    },
    /// The first request with this key is still running.
    Running,
    /// The key was used for another request.
    OtherRequest,
}

impl Store {
    /// Claims `key` at `now`, or reports what an earlier request with it left.
    #[instrument(skip_all)]
    pub async fn claim_action(
        &self,
        key: &ActionKey,
        now: DateTime<Utc>,
    ) -> Result<ActionClaim, StoreError> {
        let now = now.trunc_subsecs(6);
        in_tx!(self, |db| async {
            let d = db.dialect();
            let pk = format!(
                "org_id = {} AND user_id = {} AND idempotency_key = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3)
            );
            let sql = format!(
                "SELECT request_hash, status, body, created_at FROM action_requests WHERE {pk}"
            );
            let rows = db
                .fetch(
                    &sql,
                    pk_values(key),
                    &[Ty::OptBytes, Ty::OptI64, Ty::OptText, Ty::Time],
                )
                .await?;
            if let Some(row) = rows.into_iter().next() {
                let mut c = Cells::new(row);
                let hash = c.opt_bytes()?.unwrap_or_default();
                let status = c.opt_i64()?;
                let body = c.opt_text()?;
                let created = c.time()?;
                let expired = match status {
                    Some(_) => created + ACTION_KEY_TTL <= now,
                    None => created + ACTION_RUNNING_TTL <= now,
                };
                if !expired {
                    return Ok(if hash != key.request_hash {
                        ActionClaim::OtherRequest
                    } else if let Some(status) = status {
                        ActionClaim::Finished {
                            status: u16::try_from(status).unwrap_or(500),
                            body: body.unwrap_or_default(),
                        }
                    } else {
                        ActionClaim::Running
                    });
                }
                db.execute(
                    &format!("DELETE FROM action_requests WHERE {pk}"),
                    pk_values(key),
                )
                .await?;
            }
            purge_expired(db, key.org_id, now).await?;
            let sql = format!(
                "INSERT INTO action_requests (org_id, user_id, idempotency_key, request_hash, \
                 created_at) VALUES ({}, {}, {}, {}, {}) ON CONFLICT DO NOTHING",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5)
            );
            let mut values = pk_values(key);
            values.push(Value::Bytes(key.request_hash.clone()));
            values.push(Value::Time(now));
            let inserted = db.execute(&sql, values).await?;
            // Another request claimed the key between the read and the insert.
            Ok(if inserted == 1 {
                ActionClaim::Claimed
            } else {
                ActionClaim::Running
            })
        })
    }

    /// Keeps the answer of the action `key` claimed, for its retries.
    #[instrument(skip_all)]
    pub async fn finish_action(
        &self,
        key: &ActionKey,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE action_requests SET status = {}, body = {} WHERE org_id = {} AND \
                 user_id = {} AND idempotency_key = {}",
                d.ph(4),
                d.ph(5),
                d.ph(1),
                d.ph(2),
                d.ph(3)
            );
            let mut values = pk_values(key);
            values.push(Value::I64(i64::from(status)));
            values.push(Value::Text(body.to_owned()));
            db.execute(&sql, values).await?;
            Ok(())
        })
    }

    /// Forgets the claim of `key`: its action failed before it reached the cluster (the
    /// agent was away), so a retry must run it.
    #[instrument(skip_all)]
    pub async fn release_action(&self, key: &ActionKey) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "DELETE FROM action_requests WHERE org_id = {} AND user_id = {} AND \
                 idempotency_key = {} AND status IS NULL",
                d.ph(1),
                d.ph(2),
                d.ph(3)
            );
            db.execute(&sql, pk_values(key)).await?;
            Ok(())
        })
    }
}

fn pk_values(key: &ActionKey) -> Vec<Value> {
    vec![
        Value::Id(*key.org_id.as_uuid()),
        Value::Id(key.user_id),
        Value::Text(key.key.clone()),
    ]
}

/// Deletes the organization's keys older than [`ACTION_KEY_TTL`], so the table holds about a
/// day of actions. Every row's time was bound by this module, so they compare in SQL alike.
async fn purge_expired(db: &mut dyn Sql, org: OrgId, now: DateTime<Utc>) -> Result<(), StoreError> {
    let d = db.dialect();
    let sql = format!(
        "DELETE FROM action_requests WHERE org_id = {} AND created_at < {}",
        d.ph(1),
        d.ph(2)
    );
    db.execute(
        &sql,
        vec![Value::Id(*org.as_uuid()), Value::Time(now - ACTION_KEY_TTL)],
    )
    .await?;
    Ok(())
}
