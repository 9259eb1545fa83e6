//! What the agent transport re-reads about its live connections every few seconds: whether
//! each cluster may stay connected, and whether someone asked it to resync.
//!
//! Both live in the store rather than in one hub process because an API request, the CLI or
//! another replica may change them while this process holds the connection. One query covers
//! every connected cluster (chunked), so a hub with a thousand agents does a handful of
//! queries per check, not a thousand.
//!
//! [`session_links`] also answers, in the same query, whether the certificate each session
//! presented is still good: joined by serial (the primary key of `issued_certificates`)
//! with the cluster it was issued to, so a certificate revoked by a disable or a
//! re-enrollment closes the session holding it at the next check.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};

use tracing::instrument;

use crate::store::sql::{Cells, Dialect, Sql, Ty, Value};
use crate::store::{Store, StoreError, in_tx, on_conn};

/// Clusters per `IN (...)` list: far below SQLite's and PostgreSQL's bind limits.
const CHUNK: usize = 500;

/// A connected cluster's standing, as the transport sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLink {
    /// The cluster.
    pub cluster: ClusterId,
    /// Whether it may stay connected.
    pub enabled: bool,
    /// When a resync was requested and not yet delivered.
    pub resync_requested_at: Option<DateTime<Utc>>,
}

/// A session's client certificate: the cluster it names and its serial
/// (`crate::pki::certificate_serial`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCertificate {
    /// The cluster.
    pub cluster: ClusterId,
    /// The presented certificate's serial.
    pub serial: String,
}

/// Where a presented certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStanding {
    /// Issued to this cluster, not revoked, not expired.
    Valid,
    /// Revoked (the cluster was disabled, or enrolled again since it was issued).
    Revoked,
    /// Past its end of validity.
    Expired,
    /// Not a certificate recorded for this cluster.
    Unknown,
}

impl CertificateStanding {
    /// The standing of a recorded certificate at `now`; revocation wins over expiry.
    pub fn of(
        revoked_at: Option<DateTime<Utc>>,
        not_after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        match revoked_at {
            Some(_) => Self::Revoked,
            None if not_after <= now => Self::Expired,
            None => Self::Valid,
        }
    }
}

/// A connected cluster's standing together with that of the certificate its session
/// presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLink {
    /// The cluster's standing.
    pub link: AgentLink,
    /// The session's certificate.
    pub certificate: CertificateStanding,
}

/// `(id, enabled, resync_requested_at)` of a cluster row.
fn link_from(c: &mut Cells) -> Result<AgentLink, StoreError> {
    Ok(AgentLink {
        cluster: ClusterId::from_uuid(c.uuid()?),
        enabled: c.bool()?,
        resync_requested_at: c.opt_time()?,
    })
}

/// Placeholders `first`…`first + n - 1`, comma-separated.
fn placeholders(d: Dialect, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| d.ph(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The links of the sessions' clusters that still exist, each with the standing at `now` of
/// the certificate the session presented; a cluster missing from the answer was deleted.
/// One session per cluster (the transport keeps one).
async fn session_links(
    db: &mut dyn Sql,
    sessions: &[SessionCertificate],
    now: DateTime<Utc>,
) -> Result<Vec<SessionLink>, StoreError> {
    let d = db.dialect();
    let mut out = Vec::with_capacity(sessions.len());
    for chunk in sessions.chunks(CHUNK) {
        let sql = format!(
            "SELECT {}, c.enabled, c.resync_requested_at, ic.serial, ic.revoked_at, ic.not_after \
             FROM k8s_clusters c LEFT JOIN issued_certificates ic \
             ON ic.cluster_id = c.id AND ic.serial IN ({}) WHERE c.id IN ({})",
            d.text("c.id"),
            placeholders(d, 1, chunk.len()),
            placeholders(d, chunk.len() + 1, chunk.len()),
        );
        let serials = chunk.iter().map(|s| Value::Text(s.serial.clone()));
        let ids = chunk.iter().map(|s| Value::Id(*s.cluster.as_uuid()));
        let rows = db
            .fetch(
                &sql,
                serials.chain(ids).collect(),
                &[
                    Ty::Text,
                    Ty::Bool,
                    Ty::OptTime,
                    Ty::OptText,
                    Ty::OptTime,
                    Ty::OptTime,
                ],
            )
            .await?;
        let presented: HashMap<ClusterId, &str> = chunk
            .iter()
            .map(|s| (s.cluster, s.serial.as_str()))
            .collect();
        let mut found: HashMap<ClusterId, SessionLink> = HashMap::with_capacity(chunk.len());
        for row in rows {
            let mut c = Cells::new(row);
            let link = link_from(&mut c)?;
            let (serial, revoked_at, not_after) = (c.opt_text()?, c.opt_time()?, c.opt_time()?);
            let entry = found.entry(link.cluster).or_insert(SessionLink {
                link,
                certificate: CertificateStanding::Unknown,
            });
            // The join may also match another session's serial recorded for this cluster.
            if let (Some(serial), Some(not_after)) = (serial, not_after)
                && presented.get(&link.cluster) == Some(&serial.as_str())
            {
                entry.certificate = CertificateStanding::of(revoked_at, not_after, now);
            }
        }
        out.extend(found.into_values());
    }
    Ok(out)
}

impl Store {
    /// [`Store::agent_links`] of the sessions' clusters, each with the standing now of the
    /// certificate its session presented (one query per chunk of sessions).
    #[instrument(skip_all)]
    pub async fn session_links(
        &self,
        sessions: &[SessionCertificate],
    ) -> Result<Vec<SessionLink>, StoreError> {
        on_conn!(self, |db| session_links(db, sessions, Utc::now()))
    }

    /// The standing of the given (connected) clusters: enabled, and any pending resync
    /// request. Deleted clusters are absent from the answer.
    #[instrument(skip_all)]
    pub async fn agent_links(&self, clusters: &[ClusterId]) -> Result<Vec<AgentLink>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut out = Vec::with_capacity(clusters.len());
            for chunk in clusters.chunks(CHUNK) {
                let sql = format!(
                    "SELECT {}, enabled, resync_requested_at FROM k8s_clusters WHERE id IN ({})",
                    d.text("id"),
                    placeholders(d, 1, chunk.len())
                );
                let args = chunk.iter().map(|id| Value::Id(*id.as_uuid())).collect();
                let rows = db
                    .fetch(&sql, args, &[Ty::Text, Ty::Bool, Ty::OptTime])
                    .await?;
                for row in rows {
                    out.push(link_from(&mut Cells::new(row))?);
                }
            }
            Ok(out)
        })
    }

    /// Asks a cluster of `org` for a full resync, whichever replica serves it: the one holding
    /// an agent's connection sends it `ResyncNow`, the one collecting a pull-mode cluster
    /// relists it. False when `org` has no such cluster.
    #[instrument(skip_all)]
    pub async fn request_resync(&self, org: OrgId, id: ClusterId) -> Result<bool, StoreError> {
        let at = Utc::now();
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE k8s_clusters SET resync_requested_at = {} \
         WHERE org_id = {} AND id = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3)
            );
            let n = db
                .execute(
                    &sql,
                    vec![
                        Value::Time(at),
                        Value::Id(*org.as_uuid()),
                        Value::Id(*id.as_uuid()),
                    ],
                )
                .await?;
            Ok(n > 0)
        })
    }

    /// Clears the cluster's resync request once `delivered` (the request's time) was sent.
    #[instrument(skip_all)]
    pub async fn clear_resync(
        &self,
        id: ClusterId,
        delivered: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE k8s_clusters SET resync_requested_at = NULL \
         WHERE id = {} AND resync_requested_at <= {}",
                d.ph(1),
                d.ph(2)
            );
            db.execute(&sql, vec![Value::Id(*id.as_uuid()), Value::Time(delivered)])
                .await?;
            Ok(())
        })
    }
}
