//! What the agent transport re-reads about its live connections every few seconds: whether
//! each cluster may stay connected, and whether someone asked it to resync.
//!
//! Both live in the store rather than in one hub process because an API request, the CLI or
//! another replica may change them while this process holds the connection. One query covers
//! every connected cluster (chunked), so a hub with a thousand agents does a handful of
//! queries per check, not a thousand.

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};

use super::StoreError;
use super::sql::{Cells, Sql, Ty, Value};

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

/// The links of `clusters` that still exist; a cluster missing from the answer was deleted.
pub(crate) async fn agent_links(
    db: &mut dyn Sql,
    clusters: &[ClusterId],
) -> Result<Vec<AgentLink>, StoreError> {
    let d = db.dialect();
    let mut out = Vec::with_capacity(clusters.len());
    for chunk in clusters.chunks(CHUNK) {
        let list = (1..=chunk.len())
            .map(|n| d.ph(n))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {}, enabled, resync_requested_at FROM k8s_clusters WHERE id IN ({list})",
            d.text("id")
        );
        let args = chunk.iter().map(|id| Value::Id(*id.as_uuid())).collect();
        let rows = db
            .fetch(&sql, args, &[Ty::Text, Ty::Bool, Ty::OptTime])
            .await?;
        for row in rows {
            let mut c = Cells::new(row);
            out.push(AgentLink {
                cluster: ClusterId::from_uuid(c.uuid()?),
                enabled: c.bool()?,
                resync_requested_at: c.opt_time()?,
            });
        }
    }
    Ok(out)
}

/// Records a resync request for an agent-mode cluster of `org`. False when there is no such
/// cluster (or it is a pull-mode one, which the caller resyncs in-process).
pub(crate) async fn request_agent_resync(
    db: &mut dyn Sql,
    org: OrgId,
    id: ClusterId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "UPDATE k8s_clusters SET resync_requested_at = {} \
         WHERE org_id = {} AND id = {} AND mode = 'agent'",
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
}

/// Clears a delivered request, unless a newer one arrived after `delivered` (that one is
/// sent at the next check).
pub(crate) async fn clear_agent_resync(
    db: &mut dyn Sql,
    id: ClusterId,
    delivered: DateTime<Utc>,
) -> Result<(), StoreError> {
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
}
