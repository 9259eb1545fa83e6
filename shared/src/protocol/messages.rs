//! The two envelopes: everything an agent sends is one [`AgentMessage`], everything the hub
//! sends is one [`HubMessage`].
//!
//! postcard is not self-describing: an enum is its variant index, a struct its fields in
//! order. So variants and fields are only ever appended, nothing below uses `skip`,
//! `flatten`, `skip_serializing_if`, untagged enums or `serde_json::Value`, and the golden
//! tests in `messages/tests.rs` pin the bytes of every variant.

use serde::{Deserialize, Serialize};

use crate::change::ChangeBatch;
use crate::ids::ClusterId;
use crate::model::ClusterInfo;
use crate::model::health::{HealthReport, HealthSignals};
use crate::model::usage::UsageBucket;
use crate::protocol::token::TokenSecret;
use crate::time::UnixMillis;

/// The first message on an authenticated connection: who is talking and where its stream
/// stands, so the hub can decide between resuming and a full sync (see the module docs of
/// [`crate::protocol`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`crate::PROTOCOL_MAJOR`] of the agent; the ALPN already matched, this is a check.
    pub protocol: u16,
    /// The agent's build version, for the operator.
    pub agent_version: String,
    /// The agent's current stream epoch: random, new per process start and per full sync.
    pub epoch: u64,
    /// The highest sequence number of `epoch` the hub acknowledged, if any.
    pub last_acked_seq: Option<u64>,
}

/// Agent → hub. Append only: the variant index is the wire tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentMessage {
    /// Opens an authenticated connection.
    Hello(Hello),
    /// Inventory changes. A full sync is the collector's `SnapshotBegin` … `SnapshotEnd`
    /// changes carried in ordinary batches at the start of an epoch.
    Batch {
        /// Stream epoch.
        epoch: u64,
        /// Sequence number within the epoch, from 1, shared by batches, usage and health.
        seq: u64,
        /// The changes, exactly as the collector produced them.
        batch: ChangeBatch,
    },
    /// Completed hourly usage buckets (additive: the hub must ingest each seq once).
    Usage {
        /// Stream epoch.
        epoch: u64,
        /// Sequence number within the epoch.
        seq: u64,
        /// The buckets.
        buckets: Vec<UsageBucket>,
    },
    /// A health verdict and the signals it was computed from.
    Health {
        /// Stream epoch.
        epoch: u64,
        /// Sequence number within the epoch.
        seq: u64,
        /// The verdict.
        report: HealthReport,
        /// The inputs, so the hub can show why.
        signals: HealthSignals,
    },
    /// Liveness for the hub's "last seen"; QUIC keep-alives keep the path open.
    Heartbeat {
        /// Agent clock when sent.
        at: UnixMillis,
    },
    /// A CSR for a fresh key, sent at ~70% of the current certificate's lifetime.
    RenewCertificate {
        /// PKCS#10 DER; the hub only takes its public key.
        csr_der: Vec<u8>,
    },
    /// The only message accepted on a connection without a client certificate.
    Enroll {
        /// The token's public id (not secret; names the token row).
        token_id: String,
        /// The token's secret; the hub hashes it and never stores it.
        secret: TokenSecret,
        /// PKCS#10 DER for the agent's own key; the key never leaves the cluster.
        csr_der: Vec<u8>,
    },
    /// The cluster's server version and detected provider, sent after every `Welcome` and
    /// whenever either changes (an upgrade, nodes that change the evidence).
    ///
    /// Not sequenced, like `Heartbeat`: it is state, not an event, so the latest value is
    /// all that matters and the agent holds only that one (never queued behind a large
    /// snapshot, never dropped with an overflowing queue); a message lost with a connection
    /// is sent again on the next one, and the hub records it idempotently (it writes, and
    /// audits a version change, only when the value differs from what it stored).
    ClusterInfo {
        /// What the collector reports.
        info: ClusterInfo,
    },
}

/// Hub → agent. Append only: the variant index is the wire tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HubMessage {
    /// Answer to [`Hello`].
    Welcome {
        /// `true`: resend everything after `last_acked_seq` in the same epoch. `false`: start
        /// a new epoch at seq 1 with a full sync.
        resume: bool,
        /// The hub's build version.
        hub_version: String,
    },
    /// Everything up to and including `seq` of `epoch` is stored (cumulative).
    Ack {
        /// Stream epoch.
        epoch: u64,
        /// Highest stored sequence number.
        seq: u64,
    },
    /// Something the hub asks the agent to do.
    Command(Command),
    /// Answer to [`AgentMessage::RenewCertificate`].
    Certificate {
        /// The new client certificate (DER).
        cert_der: Vec<u8>,
        /// The hub CA certificate (DER).
        ca_der: Vec<u8>,
        /// End of the new certificate's validity.
        not_after: UnixMillis,
    },
    /// The hub will not serve this agent; the connection closes next.
    Refused {
        /// Human-readable, safe to log (never contains a secret).
        reason: String,
    },
    /// Answer to [`AgentMessage::Enroll`]: the agent's identity.
    Enrolled {
        /// The cluster this agent now speaks for.
        cluster_id: ClusterId,
        /// The client certificate (DER), identity set by the hub.
        cert_der: Vec<u8>,
        /// The hub CA certificate (DER), whose SPKI matches the token's pin.
        ca_der: Vec<u8>,
        /// End of the certificate's validity.
        not_after: UnixMillis,
    },
    /// This hub replica is shutting down: reconnect — to another address if the agent has
    /// several — after a random delay of at most `reconnect_within_ms`, so the agents of a
    /// draining replica spread over that window instead of arriving together. The agent
    /// closes the connection itself; its unacked data is resent on the next one.
    ///
    /// An agent older than this variant cannot decode it and treats the frame as a protocol
    /// error, which also ends the connection and reconnects it after its backoff delay.
    GoAway {
        /// Human-readable, safe to log.
        reason: String,
        /// Upper bound of the agent's random delay before reconnecting.
        reconnect_within_ms: u32,
    },
}

/// Commands from the hub. Append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Start a new epoch with a full sync now (e.g. after the hub restored a backup).
    ResyncNow,
}

impl AgentMessage {
    /// The `(epoch, seq)` of a data message (batch, usage, health), which the hub acks.
    pub fn stream_position(&self) -> Option<(u64, u64)> {
        match self {
            Self::Batch { epoch, seq, .. }
            | Self::Usage { epoch, seq, .. }
            | Self::Health { epoch, seq, .. } => Some((*epoch, *seq)),
            Self::Hello(_)
            | Self::Heartbeat { .. }
            | Self::RenewCertificate { .. }
            | Self::Enroll { .. }
            | Self::ClusterInfo { .. } => None,
        }
    }

    /// A short name for logs (never the content).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::Batch { .. } => "batch",
            Self::Usage { .. } => "usage",
            Self::Health { .. } => "health",
            Self::Heartbeat { .. } => "heartbeat",
            Self::RenewCertificate { .. } => "renew-certificate",
            Self::Enroll { .. } => "enroll",
            Self::ClusterInfo { .. } => "cluster-info",
        }
    }
}

#[cfg(test)]
mod tests;
