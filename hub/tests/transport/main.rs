//! The agent transport end to end: real QUIC on 127.0.0.1, real rustls, the real agent client,
//! and an in-memory `AgentAuthority` standing in for the store.

mod enrollment;
mod harness;
mod limits;
mod revocation;
mod uplink;
