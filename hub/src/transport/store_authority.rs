//! [`StoreAuthority`]: the [`AgentAuthority`] the hub runs, over the [`Store`], plus
//! [`load_or_create_ca`], the one way `serve` and `token create` get the hub CA.
//!
//! An agent's certificate names its cluster, not its organization, so every call first
//! resolves the cluster's organization with [`Store::agent_cluster`]; after that, the store's
//! ordinary organization-scoped calls apply. Ingest goes through the store's exactly-once
//! calls (`ingest_changes`, `ingest_usage`, `ingest_health`), which move the cluster's cursor
//! in the same transaction as the data, as the trait requires.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ChangeBatch;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::ClusterInfo;
use kubeworkz_shared::model::health::{HealthReport, HealthSignals};
use kubeworkz_shared::model::usage::UsageBucket;
use kubeworkz_shared::protocol::{SecretHash, StreamCursor};
use kubeworkz_shared::time::UnixMillis;

use super::{AgentAuthority, AuthorityError, EnrollError, EnrollmentGrant};
use crate::pki::{HubCa, IssuedCertificate, PkiError};
use crate::replica::Replica;
use crate::seal::Keyring;
use crate::store::{
    Cursor, Fence, IngestOutcome, NewIssuedCertificate, SessionCertificate, SessionLink, Store,
    StoreError, StoredCa,
};

/// The hub's [`AgentAuthority`]: tokens, certificates and agent data in the [`Store`].
#[derive(Debug, Clone)]
pub struct StoreAuthority {
    store: Store,
    replica: Option<Replica>,
}

/// The lease naming the connection that holds a cluster's agent session.
pub fn session_lease(cluster: ClusterId) -> String {
    format!("agent:{cluster}")
}

impl StoreAuthority {
    /// An authority over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            replica: None,
        }
    }

    /// The same authority recording each agent session as this replica's claim on the
    /// cluster's lease `agent:<cluster id>`: a newer session, on any replica, supersedes it.
    pub fn with_replica(mut self, replica: Replica) -> Self {
        self.replica = Some(replica);
        self
    }

    /// The organization of `cluster`; an unknown cluster is an error (the transport only asks
    /// about clusters it authenticated).
    async fn org_of(&self, cluster: ClusterId) -> Result<OrgId, AuthorityError> {
        self.store
            .agent_cluster(cluster)
            .await
            .map_err(AuthorityError::new)?
            .map(|found| found.org_id)
            .ok_or_else(|| AuthorityError::new(StoreError::ClusterNotFound))
    }

    /// The store to write a session's data with: fenced by its claim when it has one.
    fn under(&self, claim: Option<&Fence>) -> Store {
        match claim {
            Some(claim) => self.store.under_lease(claim.clone()),
            None => self.store.clone(),
        }
    }
}

/// A fenced write's refusal means a newer session holds the cluster (the transport closes
/// this one as replaced); anything else is a store failure.
fn ingest_error(err: StoreError) -> AuthorityError {
    match err {
        StoreError::Fenced(_) => AuthorityError::superseded(),
        other => AuthorityError::new(other),
    }
}

/// Applied and Duplicate are both success (a duplicate was stored before); a gap means the
/// transport and the store disagree about the cursor, which must not be acked.
fn settled(outcome: IngestOutcome) -> Result<(), AuthorityError> {
    match outcome {
        IngestOutcome::Applied | IngestOutcome::Duplicate => Ok(()),
        IngestOutcome::Gap { last } => Err(AuthorityError::new(format!(
            "message does not follow the stored cursor (last stored seq {last})"
        ))),
    }
}

fn to_datetime(at: UnixMillis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.0).unwrap_or_else(Utc::now)
}

#[async_trait]
impl AgentAuthority for StoreAuthority {
    async fn redeem_token(
        &self,
        token_id: &str,
        secret_hash: &SecretHash,
    ) -> Result<EnrollmentGrant, EnrollError> {
        match self
            .store
            .redeem_enrollment_token(token_id, secret_hash, Utc::now())
            .await
        {
            Ok(redemption) => {
                tracing::info!(
                    token = token_id,
                    cluster = %redemption.cluster_id,
                    created = redemption.created,
                    revoked_certificates = redemption.revoked_certificates,
                    "enrollment token redeemed"
                );
                Ok(EnrollmentGrant {
                    cluster_id: redemption.cluster_id,
                    validity: None,
                })
            }
            Err(StoreError::EnrollmentTokenUnknown) => Err(EnrollError::UnknownToken),
            Err(StoreError::EnrollmentTokenUsed) => Err(EnrollError::TokenUsed),
            Err(StoreError::EnrollmentTokenExpired) => Err(EnrollError::TokenExpired),
            Err(StoreError::EnrollmentTokenRevoked) => Err(EnrollError::TokenRevoked),
            Err(StoreError::ClusterDisabled) => Err(EnrollError::ClusterDisabled),
            Err(StoreError::ClusterNotAgentMode(_)) => Err(EnrollError::ClusterNotAgentMode),
            Err(err) => Err(EnrollError::Unavailable(AuthorityError::new(err))),
        }
    }

    async fn record_certificate(&self, issued: &IssuedCertificate) -> Result<(), AuthorityError> {
        let serial = crate::pki::serial_hex(&issued.serial);
        self.store
            .record_issued_certificate(&NewIssuedCertificate {
                cluster_id: issued.cluster_id,
                serial,
                not_before: to_datetime(issued.not_before),
                not_after: to_datetime(issued.not_after),
            })
            .await
            .map_err(AuthorityError::new)
    }

    async fn session_links(
        &self,
        sessions: &[SessionCertificate],
    ) -> Result<Vec<SessionLink>, AuthorityError> {
        self.store
            .session_links(sessions)
            .await
            .map_err(AuthorityError::new)
    }

    async fn resync_delivered(
        &self,
        cluster: ClusterId,
        requested_at: DateTime<Utc>,
    ) -> Result<(), AuthorityError> {
        self.store
            .clear_resync(cluster, requested_at)
            .await
            .map_err(AuthorityError::new)
    }

    async fn stream_cursor(
        &self,
        cluster: ClusterId,
    ) -> Result<Option<StreamCursor>, AuthorityError> {
        Ok(self
            .store
            .agent_cluster(cluster)
            .await
            .map_err(AuthorityError::new)?
            .and_then(|found| found.cursor))
    }

    async fn ingest_batch(
        &self,
        cluster: ClusterId,
        claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        batch: ChangeBatch,
    ) -> Result<(), AuthorityError> {
        let org = self.org_of(cluster).await?;
        let outcome = self
            .under(claim)
            .ingest_changes(org, cluster, Cursor { epoch, seq }, &batch)
            .await
            .map_err(ingest_error)?;
        settled(outcome)
    }

    async fn ingest_usage(
        &self,
        cluster: ClusterId,
        claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        buckets: Vec<UsageBucket>,
    ) -> Result<(), AuthorityError> {
        let org = self.org_of(cluster).await?;
        let outcome = self
            .under(claim)
            .ingest_usage(org, cluster, Cursor { epoch, seq }, &buckets)
            .await
            .map_err(ingest_error)?;
        settled(outcome)
    }

    async fn ingest_health(
        &self,
        cluster: ClusterId,
        claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        report: HealthReport,
        _signals: HealthSignals,
    ) -> Result<(), AuthorityError> {
        let org = self.org_of(cluster).await?;
        let outcome = self
            .under(claim)
            .ingest_health(org, cluster, Cursor { epoch, seq }, &report, Utc::now())
            .await
            .map_err(ingest_error)?;
        settled(outcome)
    }

    async fn claim_session(&self, cluster: ClusterId) -> Option<Fence> {
        let replica = self.replica.as_ref()?;
        let name = session_lease(cluster);
        match self
            .store
            .take_lease(&name, replica.id(), replica.ttl())
            .await
        {
            Ok(lease) => Some(lease.fence()),
            Err(err) => {
                tracing::warn!(%cluster, error = %err, "recording the agent session failed");
                None
            }
        }
    }

    async fn renew_claims(&self, claims: &[Fence]) -> Vec<bool> {
        let Some(replica) = &self.replica else {
            return vec![true; claims.len()];
        };
        let mut held = Vec::with_capacity(claims.len());
        for claim in claims {
            held.push(match self.store.renew_lease(claim, replica.ttl()).await {
                Ok(renewed) => renewed.is_some(),
                Err(err) => {
                    tracing::warn!(lease = %claim.lease, error = %err, "renewing an agent session failed");
                    true
                }
            });
        }
        held
    }

    async fn release_claim(&self, claim: &Fence) {
        if let Err(err) = self.store.release_lease(claim).await {
            tracing::warn!(lease = %claim.lease, error = %err, "releasing an agent session failed");
        }
    }

    async fn record_heartbeat(&self, cluster: ClusterId, at: UnixMillis) {
        let result = match self.org_of(cluster).await {
            Ok(org) => self
                .store
                .record_heartbeat(org, cluster, to_datetime(at))
                .await
                .map(drop)
                .map_err(AuthorityError::new),
            Err(err) => Err(err),
        };
        if let Err(err) = result {
            tracing::warn!(cluster = %cluster, error = %err, "recording a heartbeat failed");
        }
    }

    async fn cluster_info(&self, cluster: ClusterId, info: &ClusterInfo) {
        let result = match self.org_of(cluster).await {
            Ok(org) => {
                let actor = format!("agent:{cluster}");
                crate::cluster_info::record(&self.store, org, cluster, info, &actor)
                    .await
                    .map(drop)
                    .map_err(AuthorityError::new)
            }
            Err(err) => Err(err),
        };
        // The agent sends it again on its next connection.
        if let Err(err) = result {
            tracing::warn!(cluster = %cluster, error = %err, "recording cluster info failed");
        }
    }
}

/// Why the hub CA could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CaStoreError {
    /// The store failed.
    #[error("reading or storing the hub CA")]
    Store(#[from] StoreError),
    /// The stored CA does not open with this keyring, or generation failed.
    #[error("hub CA")]
    Pki(#[from] PkiError),
}

/// The hub CA from the store, created (and stored, sealed under the keyring's current key)
/// the first time. Concurrent first starts agree: the first insert wins and everyone reads
/// it back.
pub async fn load_or_create_ca(store: &Store, keyring: &Keyring) -> Result<HubCa, CaStoreError> {
    let stored = match store.hub_ca().await? {
        Some(stored) => stored,
        None => {
            let ca = HubCa::generate()?;
            let parts = ca.to_parts(keyring);
            let stored = store
                .insert_hub_ca(&StoredCa {
                    cert_der: parts.cert_der,
                    key_sealed: parts.sealed_key,
                    key_id: keyring.current_id().to_string(),
                })
                .await?;
            tracing::info!(ca_pin = %ca.ca_pin(), "hub CA ready");
            stored
        }
    };
    Ok(HubCa::from_parts(
        &stored.cert_der,
        &stored.key_sealed,
        keyring,
    )?)
}
