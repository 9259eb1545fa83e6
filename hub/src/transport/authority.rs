//! [`AgentAuthority`]: what the transport needs from the rest of the hub (the store).
//!
//! The transport decides nothing about tokens, clusters or data: it authenticates, frames,
//! orders and acks, and asks this trait. The integrator implements it over `Store`; tests use
//! an in-memory implementation.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ChangeBatch;
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::ClusterInfo;
use kubeworkz_shared::model::health::{HealthReport, HealthSignals};
use kubeworkz_shared::model::usage::UsageBucket;
use kubeworkz_shared::protocol::{Hello, SecretHash, StreamCursor};
use kubeworkz_shared::time::UnixMillis;

use crate::pki::IssuedCertificate;
use crate::store::{Fence, SessionCertificate, SessionLink};

/// A redeemed token: the cluster the agent now speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollmentGrant {
    /// The cluster (created by the redemption, or pre-registered with the token).
    pub cluster_id: ClusterId,
    /// Client certificate lifetime for this cluster; `None` = the transport default.
    pub validity: Option<Duration>,
}

/// Why a token was not redeemed. The text is sent to the agent as `Refused{reason}`, so it
/// names the token's state only (the public id is in the log line, the secret nowhere).
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// No token with that public id, or the secret's hash does not match (indistinguishable
    /// on purpose).
    #[error("enrollment token is unknown")]
    UnknownToken,
    /// A single-use token that was already redeemed.
    #[error("enrollment token was already used")]
    TokenUsed,
    /// Past its TTL.
    #[error("enrollment token has expired")]
    TokenExpired,
    /// Revoked by an operator.
    #[error("enrollment token was revoked")]
    TokenRevoked,
    /// The token's cluster is disabled.
    #[error("cluster is disabled")]
    ClusterDisabled,
    /// The token names a cluster that exists but is not an agent-mode cluster (registered
    /// by kubeconfig): retrying will not help, an operator must rename or remove one.
    #[error("a cluster of that name is registered in pull mode")]
    ClusterNotAgentMode,
    /// The store failed; the agent should retry later.
    #[error("enrollment is unavailable, retry later")]
    Unavailable(#[source] AuthorityError),
}

/// The store failed. Logged by the transport; the agent sees only "unavailable".
#[derive(Debug, thiserror::Error)]
#[error("agent authority failed: {0}")]
pub struct AuthorityError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl AuthorityError {
    /// Wraps any error.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(err.into())
    }

    /// A write refused because the session's claim on its cluster was taken by a newer
    /// session (on another replica, or a newer connection here).
    pub fn superseded() -> Self {
        Self::new(Superseded)
    }

    /// Whether this is [`AuthorityError::superseded`]: the transport then closes the
    /// session as replaced rather than as a store failure.
    pub fn is_superseded(&self) -> bool {
        self.0.is::<Superseded>()
    }
}

/// See [`AuthorityError::superseded`].
#[derive(Debug, thiserror::Error)]
#[error("the agent session was superseded by a newer one")]
struct Superseded;

/// The hub side of the agent protocol. Every `ingest_*` must store the data *and* move the
/// cluster's [`StreamCursor`] to `(epoch, seq)` in one transaction: the transport relies on
/// [`AgentAuthority::stream_cursor`] to never ingest a resent message twice.
#[async_trait]
pub trait AgentAuthority: Send + Sync + 'static {
    /// Looks up the token by public id, compares the hash in constant time
    /// ([`SecretHash`]'s `==`), checks TTL/revocation/use, marks a single-use token used and
    /// returns the cluster — atomically, so two agents cannot redeem one token.
    async fn redeem_token(
        &self,
        token_id: &str,
        secret_hash: &SecretHash,
    ) -> Result<EnrollmentGrant, EnrollError>;

    /// Records an issued client certificate (serial, validity): a session is admitted only
    /// with a certificate recorded for its cluster ([`AgentAuthority::session_links`]).
    async fn record_certificate(&self, issued: &IssuedCertificate) -> Result<(), AuthorityError>;

    /// The standing of each session's cluster (whether it may stay connected, any pending
    /// resync request) and of the certificate the session presented (issued to that cluster,
    /// revoked, expired); a cluster absent from the answer no longer exists. The transport
    /// asks this at `Hello` and at renewal about one session, and every few seconds about
    /// all its live ones, so it must answer many in one round trip.
    async fn session_links(
        &self,
        sessions: &[SessionCertificate],
    ) -> Result<Vec<SessionLink>, AuthorityError>;

    /// The resync requested at `requested_at` was sent to the cluster's agent. Default: no-op.
    async fn resync_delivered(
        &self,
        cluster: ClusterId,
        requested_at: DateTime<Utc>,
    ) -> Result<(), AuthorityError> {
        let _ = (cluster, requested_at);
        Ok(())
    }

    /// The last stored `(epoch, seq)` of the cluster's stream.
    async fn stream_cursor(
        &self,
        cluster: ClusterId,
    ) -> Result<Option<StreamCursor>, AuthorityError>;

    /// Stores a change batch and moves the cursor, under `claim` — the session's hold on its
    /// cluster from [`AgentAuthority::claim_session`], if it has one: once a newer session
    /// took it, nothing is written and the answer is [`AuthorityError::superseded`], so a
    /// session about to be closed as replaced cannot write behind its successor's back. The
    /// same for the two below.
    async fn ingest_batch(
        &self,
        cluster: ClusterId,
        claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        batch: ChangeBatch,
    ) -> Result<(), AuthorityError>;

    /// Stores usage buckets (additive) and moves the cursor.
    async fn ingest_usage(
        &self,
        cluster: ClusterId,
        claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        buckets: Vec<UsageBucket>,
    ) -> Result<(), AuthorityError>;

    /// Stores a health verdict and moves the cursor.
    async fn ingest_health(
        &self,
        cluster: ClusterId,
        claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        report: HealthReport,
        signals: HealthSignals,
    ) -> Result<(), AuthorityError>;

    /// An agent said hello (version, for the UI). Default: nothing.
    async fn agent_connected(&self, _cluster: ClusterId, _hello: &Hello) {}

    /// This hub takes the cluster's agent session over from wherever it was (another replica,
    /// or an older connection here), recorded in the store so the old holder closes its
    /// connection. `None` where sessions are not shared between processes (the default).
    async fn claim_session(&self, _cluster: ClusterId) -> Option<Fence> {
        None
    }

    /// Renews `claims` (one per live session that has one), answering for each whether
    /// this hub still holds it: a lost claim was taken by a newer session. A store failure
    /// answers true, so an outage closes nobody. Default: all held.
    async fn renew_claims(&self, claims: &[Fence]) -> Vec<bool> {
        vec![true; claims.len()]
    }

    /// A session ended: its claim is given back. Default: nothing.
    async fn release_claim(&self, _claim: &Fence) {}

    /// An agent heartbeat ("last seen"). Default: nothing.
    async fn record_heartbeat(&self, _cluster: ClusterId, _at: UnixMillis) {}

    /// The agent's cluster info (server version, provider): sent after every `Welcome` and
    /// on change, not sequenced, so recording it must be idempotent. Default: nothing.
    async fn cluster_info(&self, _cluster: ClusterId, _info: &ClusterInfo) {}
}
