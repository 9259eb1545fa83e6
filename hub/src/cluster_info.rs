//! What a collector reports about a cluster (server version, detected provider), recorded the
//! same way for both modes: agents' `ClusterInfo` messages (through
//! [`crate::transport::StoreAuthority`]) and pull collectors' output (through
//! [`crate::pull::supervisor`]).
//!
//! The stored provider and version are those the cluster list and detail show and filter by,
//! exactly as registration records them for pull clusters. A report equal to what is stored
//! writes nothing (agents resend theirs on every connection); a different version is also
//! an audit entry (`cluster.version_changed`, result `from X to Y`), so an upgrade appears in
//! the cluster's history.

use chrono::Utc;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::ClusterInfo;
use uuid::Uuid;

use crate::pull::provider_name;
use crate::store::{AuditEntry, Store, StoreError};

/// The audit action of a version change.
pub const VERSION_CHANGED: &str = "cluster.version_changed";

/// What [`record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The cluster is gone (deleted meanwhile); nothing was written.
    NoCluster,
    /// Provider and version were already stored as reported.
    Unchanged,
    /// Provider or version was written; `from` is the version stored before, when the version
    /// changed from a known one (then audited).
    Updated {
        /// The previous version, if one was stored and it differs.
        from: Option<String>,
    },
}

/// Records `info` as the cluster's provider and version; `actor` names who reported it in
/// the audit log (`agent:<cluster id>`, or `system` for a pull collector).
#[tracing::instrument(skip_all, fields(cluster = %id))]
pub async fn record(
    store: &Store,
    org: OrgId,
    id: ClusterId,
    info: &ClusterInfo,
    actor: &str,
) -> Result<Recorded, StoreError> {
    let Some(cluster) = store.cluster(org, id).await? else {
        return Ok(Recorded::NoCluster);
    };
    let provider = provider_name(info.provider);
    let version = info.git_version.as_str();
    if cluster.provider.as_deref() == Some(provider.as_str())
        && cluster.version.as_deref() == Some(version)
    {
        return Ok(Recorded::Unchanged);
    }
    store
        .record_identity(org, id, Some(&provider), Some(version))
        .await?;
    tracing::info!(
        provider = %provider,
        evidence = %info.evidence,
        version,
        previous_version = cluster.version.as_deref().unwrap_or_default(),
        "cluster info recorded"
    );
    let from = cluster.version.filter(|before| before != version);
    if let Some(before) = &from {
        let entry = AuditEntry {
            id: Uuid::now_v7(),
            org_id: org,
            at: Utc::now(),
            actor: actor.to_owned(),
            action: VERSION_CHANGED.to_owned(),
            target: format!("cluster:{id}"),
            result: format!("from {before} to {version}"),
            source_ip: None,
            request_id: None,
            detail: None,
        };
        // Like the API's audit writes: the change is stored, a failed entry is logged.
        if let Err(err) = store.record_audit(&entry).await {
            tracing::error!(error = %err, "audit write of a version change failed");
        }
    }
    Ok(Recorded::Updated { from })
}
