//! Code shared by the Kubeworkz agent and hub.
//!
//! This is the only crate that defines wire types, and the home of the collectors that both
//! agent mode and the hub's pull mode run. It must never depend on axum or sqlx: the agent
//! links it and has to stay small.
//!
//! - [`model`]: projections of Kubernetes objects, usage buckets, health, provider detection.
//! - [`change`]: the change stream collectors emit (snapshot begin … end, upserts, deletes);
//!   [`inventory`] is its reference materialization.
//! - [`collect`]: the collector (kube-rs watchers, usage sampler, health prober) that the
//!   agent and the hub's pull mode both run.
//! - [`protocol`]: the agent ↔ hub wire protocol (envelopes, framing, tokens, resume rules).
//! - [`quantity`]: exact Kubernetes quantity parsing.
//! - [`time`]: the one timestamp type on the wire ([`time::UnixMillis`]).

pub mod change;
pub mod collect;
pub mod ids;
pub mod inventory;
pub mod model;
pub mod operations;
pub mod protocol;
pub mod quantity;
pub mod time;
pub mod uid;

/// The protocol major version. It is carried in the QUIC ALPN (`kubeworkz/1`), so an agent and
/// a hub that cannot understand each other fail the handshake instead of mis-decoding frames.
pub const PROTOCOL_MAJOR: u16 = 1;

/// The ALPN identifier derived from [`PROTOCOL_MAJOR`].
pub const ALPN: &[u8] = b"kubeworkz/1";

/// Version of this build, reported by both binaries and sent in the agent's hello.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_names_the_protocol_major_version() {
        assert_eq!(ALPN, format!("kubeworkz/{PROTOCOL_MAJOR}").as_bytes());
    }
}
