//! The agent's end of the hub connection: enrollment, mutual-TLS QUIC, renewal, backoff.
//!
//! - [`enroll`] — first contact: connect *without* a client certificate, trusting only the CA
//!   whose SPKI SHA-256 the token pins ([`tls::PinnedCaVerifier`]); send a CSR for a key
//!   generated here; get back an [`AgentIdentity`] (cluster id, certificate, CA).
//! - [`connect`] — every later connection: client certificate, `Hello`, `Welcome`; the
//!   [`AgentSession`] then carries data messages and acks (rules in
//!   `kubeworkz_shared::protocol`, queue in `kubeworkz_shared::protocol::UnackedQueue`).
//! - [`AgentSession::renew`] — at [`AgentIdentity::renew_at`] (70% of the lifetime), a fresh
//!   key and a new certificate over the live connection.
//! - [`backoff`] — reconnect delays (capped exponential, full jitter).
//! - [`HubTargets`] — the hub addresses (replicas) and which one to try next.
//! - [`Uplink`] — all of the above in a loop: reconnect with backoff, resend or full sync,
//!   acks, heartbeats, renewal, and a new enrollment with the configured token when the hub
//!   says the certificate was revoked; the `run` command feeds it the collector's output.
//!
//! Refusals arrive as `Refused{reason}` and as the close reason; both become
//! [`ClientError::Refused`], so the agent reports them instead of hanging. Persisting the
//! identity (a Kubernetes Secret) is the caller's ([`UplinkEvent::Renewed`]).

pub mod backoff;
mod client;
mod identity;
mod targets;
pub mod tls;
mod uplink;

pub use client::{
    ANSWER_TIMEOUT, AgentSession, CONNECT_TIMEOUT, HubAddress, SessionReceiver, SessionSender,
    connect, enroll,
};
pub use identity::{AgentIdentity, PendingKey, RENEW_AT_PERCENT, renew_at};
pub use targets::HubTargets;
pub use uplink::{HEARTBEAT, Uplink, UplinkEvent, UplinkGauges};

use kubeworkz_shared::protocol::{CERTIFICATE_REVOKED, FrameError};

/// Why talking to the hub failed. Never contains the token secret or a key.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub refused this agent (token used/expired/revoked, cluster disabled).
    #[error("hub refused: {reason}")]
    Refused {
        /// The hub's reason.
        reason: String,
    },
    /// The hub closed the connection.
    #[error("hub closed the connection (code {code}): {reason}")]
    Closed {
        /// Application close code (`kubeworkz_shared::protocol::close`).
        code: u32,
        /// The hub's reason.
        reason: String,
    },
    /// The QUIC connection failed (handshake refused, timeout, reset) — including a hub
    /// certificate that does not chain to the pinned CA.
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The connection could not be started.
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// A frame could not be read or written.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// Key or CSR generation failed.
    #[error("key generation: {0}")]
    Key(#[from] rcgen::Error),
    /// The local UDP socket could not be opened.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The hub answered something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// No answer (or no handshake) in time.
    #[error("hub did not answer in time")]
    Timeout,
    /// The hub replica is shutting down and asked the agent to reconnect elsewhere.
    #[error("hub is going away: {reason}")]
    GoingAway {
        /// The hub's reason.
        reason: String,
    },
}

impl ClientError {
    /// Whether the hub refused, or closed the session of, this agent's certificate because it
    /// was revoked: only a new enrollment helps, retrying the same certificate never will.
    pub fn is_certificate_revoked(&self) -> bool {
        matches!(self, Self::Refused { reason } | Self::Closed { reason, .. } if reason == CERTIFICATE_REVOKED)
    }
}
