//! The hub's end of the agent connection: mutual-TLS QUIC (quinn + rustls with ring).
//!
//! Protocol rules (envelopes, framing, resume) are in `kubeworkz_shared::protocol`; this
//! module is the server that enforces them:
//!
//! - [`HubTransport::bind`] — a quinn endpoint whose rustls config verifies client
//!   certificates against the hub CA but *allows* connections without one, because that is how
//!   an agent enrolls. An unauthenticated connection may send exactly one
//!   `Enroll` frame of at most 64 KiB; anything else closes it. An authenticated connection's
//!   leaf maps to its `ClusterId` (URI SAN), and must start with `Hello`.
//! - Client certificates are checked by rustls at the handshake (chain to the hub CA, expiry,
//!   ClientAuth); a certificate from another CA or an expired one never gets a connection.
//!   At `Hello` and at renewal the leaf must also be a certificate the store recorded for
//!   that cluster, unrevoked and unexpired ([`AgentAuthority::session_links`]): a disabled
//!   cluster gets `Refused("cluster is disabled")`, a revoked certificate (the cluster was
//!   disabled, or enrolled again, since it was issued) gets
//!   [`kubeworkz_shared::protocol::CERTIFICATE_REVOKED`], whose text tells the operator to
//!   re-enroll. [`HubTransport::disconnect_cluster`] closes a live connection at once.
//!   Because a cluster can be disabled, removed or re-enrolled by another process (the CLI,
//!   another hub replica), `serve` also re-reads every live session's cluster and certificate
//!   every [`TransportSettings::enabled_check_interval`] and closes those no longer enabled
//!   or whose certificate was revoked. A renewed certificate does not revoke the one before
//!   it: both belong to the key holder that asked, and a thief of the old key could renew it
//!   just as well while it is valid, so revoking it would stop no one and would lock out an
//!   agent that failed to store the new one; disabling or re-enrolling revokes them all.
//! - A bad frame (oversize, garbage, protocol violation) closes that connection only, with a
//!   `warn!` naming the cluster and the reason.
//! - [`AgentAuthority`] is everything it asks of the store; [`StoreAuthority`] implements it
//!   over the real [`crate::store::Store`].
//!
//! # Limits and memory
//!
//! No 0-RTT (rustls `max_early_data_size = 0`: no replayable pre-auth data). Idle timeout
//! 60 s (agents keep alive every 10 s). The agent opens one bidirectional stream per
//! connection and the hub one per operation it asks of the agent (`operations`), no
//! unidirectional streams, no datagrams. quinn buffers at most [`RECEIVE_WINDOW`] (1 MiB) of
//! unread data per connection and [`SEND_WINDOW`] (256 KiB) of unacknowledged sent data, so a
//! connection costs at most ~1.3 MiB of transport buffers, plus [`STREAM_RECEIVE_WINDOW`]
//! for each operation the hub runs on it while its client does not read (so one stalled
//! operation never holds the window the control stream and the others need). Frames are decoded within limits
//! derived from their length (`kubeworkz_shared::protocol::budget`: nesting, elements,
//! string bytes, an estimate of the decoded heap), and an authenticated connection's frames
//! are admitted against two hub-wide budgets ([`FrameMemory`]): a frame reserves its length
//! from [`TransportSettings::body_memory`] before its body is read (unless the connection's
//! reused 64 KiB read buffer holds it, as it does heartbeats and most deltas), then the
//! decoded heap its limits allow from [`TransportSettings::decoded_memory`] before it is
//! decoded, gives the body's share back once decoded, and keeps the decoder's estimate of the
//! message until it is stored. So all authenticated connections together hold at most `body_memory` +
//! `decoded_memory` of frames and messages, besides the transport buffers and a reused read
//! buffer of at most 64 KiB each. One connection reads one frame while it stores the
//! previous message: at most the largest frame (4 MiB,
//! [`kubeworkz_shared::protocol::frame::MAX_BULK_FRAME`]) and two decodes (33 MiB each at
//! most). A frame that breaks a limit closes its connection with `PROTOCOL_ERROR` and a log
//! line naming the limit; a body that does not arrive within
//! [`TransportSettings::frame_body_timeout`] of its length prefix closes it too, so a slow
//! sender cannot sit on its reservation — and it holds only its body's length meanwhile, not
//! its decode allowance. Before authentication, a connection may send one frame of at most
//! 64 KiB, outside the budgets (anyone can open one).
//! An idle agent costs the connection state and a few KiB.
//! When more than [`TransportSettings::retry_above_handshakes`] handshakes are in flight,
//! new clients must prove their address first (QUIC Retry).

mod authority;
mod operations;
mod server;
mod session;
mod store_authority;

pub use authority::{AgentAuthority, AuthorityError, EnrollError, EnrollmentGrant};
pub use kubeworkz_shared::protocol::{FrameMemory, MemoryBudget};
pub use operations::{OPERATIONS_PER_CONNECTION, OpenError, OperationBody};
pub use server::{HubTransport, TransportError};
pub use store_authority::{CaStoreError, StoreAuthority, load_or_create_ca};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{IdleTimeout, VarInt};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;

use crate::pki::{DEFAULT_CLIENT_VALIDITY, HubCa, ServerIdentity};

/// Connection-level receive window: unread bytes quinn buffers per connection.
pub const RECEIVE_WINDOW: u32 = 1024 * 1024;
/// Per-stream receive window: the control stream's, and each operation's (each running
/// operation adds this much to the connection's window, `operations::receive_window`).
pub const STREAM_RECEIVE_WINDOW: u32 = 1024 * 1024;
/// Unacknowledged bytes the hub keeps in flight to one agent.
pub const SEND_WINDOW: u64 = 256 * 1024;
/// Close a connection silent for this long. Agents ask for less (6 s, keeping alive every
/// 2 s), and QUIC applies the smaller value; this bounds clients that ask for more.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default [`TransportSettings::body_memory`]: 128 MiB, the bodies of 32 frames of the
/// largest size at once, or of 800 batches of 500 pods (about 150 KiB each).
pub const BODY_MEMORY: u64 = 128 * 1024 * 1024;

/// Default [`TransportSettings::decoded_memory`]: 128 MiB, three decodes of the largest
/// frame at once, or about 50 of 500-pod batches (each reserves 2.2 MiB to decode and keeps
/// about 0.5 MiB until it is stored).
pub const DECODED_MEMORY: u64 = 128 * 1024 * 1024;

/// Default [`TransportSettings::frame_body_timeout`]: a 4 MiB frame needs 0.6 Mbit/s.
pub const FRAME_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Default [`TransportSettings::drain_timeout`]: well inside Kubernetes' default 30 s grace
/// period, and a 5 s window for the agents to reconnect elsewhere (200 per second for 1,000).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the agent endpoint.
#[derive(Clone, Debug)]
pub struct TransportSettings {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Default client certificate lifetime (a grant may override it).
    pub client_validity: Duration,
    /// How long a new connection may take to send its first frame.
    pub first_frame_timeout: Duration,
    /// In-flight handshakes above which clients must validate their address (QUIC Retry).
    pub retry_above_handshakes: usize,
    /// How often live sessions re-read their cluster's enabled/exists state from the store,
    /// so a cluster disabled or removed by another process (the CLI, another replica) is
    /// disconnected within this long.
    pub enabled_check_interval: Duration,
    /// Bytes of agent frame bodies being read, across every connection (module docs).
    pub body_memory: u64,
    /// Bytes of agent frames being decoded and of the messages decoded from them until they
    /// are stored, across every connection (module docs).
    pub decoded_memory: u64,
    /// How long a frame's body may take to arrive after its length prefix.
    pub frame_body_timeout: Duration,
    /// On shutdown, how long the endpoint waits for its agents to leave after asking them to
    /// (`GoAway`), refusing new connections meanwhile; what is still connected then is
    /// closed. The agents' reconnects are spread over half of it.
    pub drain_timeout: Duration,
}

impl TransportSettings {
    /// Defaults for `listen`: 7-day certificates, 10 s for the first frame, Retry above 256
    /// concurrent handshakes, enabled state re-read every 3 s, [`BODY_MEMORY`],
    /// [`DECODED_MEMORY`], [`FRAME_BODY_TIMEOUT`] and [`DRAIN_TIMEOUT`].
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            client_validity: DEFAULT_CLIENT_VALIDITY,
            first_frame_timeout: Duration::from_secs(10),
            retry_above_handshakes: 256,
            enabled_check_interval: Duration::from_secs(3),
            body_memory: BODY_MEMORY,
            decoded_memory: DECODED_MEMORY,
            frame_body_timeout: FRAME_BODY_TIMEOUT,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }
}

/// The quinn server config: mTLS against `ca` (client certificate optional, for enrollment),
/// ALPN `kubeworkz/1`, TLS 1.3 only, no 0-RTT, the windows above.
pub fn server_config(
    ca: &HubCa,
    identity: ServerIdentity,
) -> Result<quinn::ServerConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|err| TransportError::Tls(rustls::Error::General(err.to_string())))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.cert_chain, identity.key)?;
    tls.alpn_protocols = vec![kubeworkz_shared::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls)
        .map_err(|err| TransportError::Tls(rustls::Error::General(err.to_string())))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

fn transport_config() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .receive_window(VarInt::from_u32(RECEIVE_WINDOW))
        .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW))
        .send_window(SEND_WINDOW)
        .datagram_receive_buffer_size(None)
        .max_idle_timeout(Some(
            IdleTimeout::try_from(IDLE_TIMEOUT).expect("60 s is a valid idle timeout"),
        ));
    transport
}
