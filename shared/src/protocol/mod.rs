//! The agent ↔ hub wire protocol: envelopes, framing, enrollment tokens and resume rules.
//!
//! # Connection
//!
//! One QUIC connection per agent, ALPN [`crate::ALPN`], mutual TLS. The agent opens one
//! bidirectional stream and everything travels on it as length-prefixed postcard frames
//! ([`frame`]): agent → hub [`AgentMessage`], hub → agent [`HubMessage`]. One ordered stream
//! (rather than a stream per bulk batch, as the design sketched) because the hub must apply
//! batches in sequence order anyway; separate streams would only move the reordering into the
//! hub. Frames from the agent may be up to [`frame::MAX_BULK_FRAME`]; the hub's frames up to
//! [`frame::MAX_CONTROL_FRAME`].
//!
//! - Without a client certificate (first contact): the agent's only frame is
//!   [`AgentMessage::Enroll`] (at most [`frame::MAX_ENROLL_FRAME`]); the hub answers
//!   [`HubMessage::Enrolled`] or [`HubMessage::Refused`] and closes.
//! - With a client certificate: [`AgentMessage::Hello`] first, the hub answers
//!   [`HubMessage::Welcome`] (or `Refused`), then data messages and acks flow.
//!
//! # Resume: epochs and sequence numbers
//!
//! Data messages (`Batch`, `Usage`, `Health`) carry `(epoch, seq)`. The epoch is a random
//! `u64` the agent picks at process start and whenever it starts a full sync; `seq` counts
//! from 1 within the epoch, one number per data message. An epoch always begins with a full
//! sync: the collector's `SnapshotBegin`…`SnapshotEnd` for every kind, after which the hub
//! deletes what the snapshot lacked (see [`crate::change`]).
//!
//! - The hub keeps a [`StreamCursor`] per cluster: the last stored `(epoch, seq)`, updated in
//!   the same transaction as the data. It acks cumulatively ([`HubMessage::Ack`]) after
//!   storing.
//! - Each data message is disposed by [`StreamCursor::dispose`]: the next seq is ingested; a
//!   seq already stored is a resend after a lost ack, acked again and *not* stored twice
//!   (usage buckets are additive); a hole, or a new epoch not starting at 1, is a protocol
//!   error that closes the connection.
//! - On connect, [`Hello`] carries the agent's epoch and last acked seq. The hub resumes
//!   ([`StreamCursor::can_resume`]) when it stored that epoch and at least that seq: the agent
//!   resends its [`UnackedQueue`] in order. Otherwise (`resume: false`: unknown epoch, or the
//!   hub has less than the agent thinks, e.g. a restored backup) the agent starts a new epoch
//!   with a full sync.
//! - The agent's [`UnackedQueue`] is bounded in bytes. When it overflows (the hub has been
//!   away too long) the agent restarts the queue in a new epoch and sends a full sync on the
//!   next connection: inventory is rebuilt exactly; usage buckets dropped with the queue are
//!   counted ([`resume::Dropped`]) and logged, never silently lost.
//! - [`Command::ResyncNow`] asks for a new epoch at any time.
//!
//! # Close codes
//!
//! The hub closes connections with an application error code from [`close`] and a reason
//! (the same text as `Refused`, safe to log), so the agent can report why even if the last
//! frame did not arrive.

pub mod budget;
pub mod frame;
pub mod memory;
pub mod messages;
pub mod operations;
pub mod resume;
pub mod token;

pub use budget::{DecodeLimits, Limit};
pub use frame::{FrameError, FrameReader, FrameWriter, Held};
pub use memory::{FrameMemory, MemoryBudget, MemoryHold};
pub use messages::{AgentMessage, Command, Hello, HubMessage};
pub use operations::{
    ExecExit, ExecInput, ExecOutput, ExecRequest, LiveKind, LogsRequest, NamedObject,
    ObjectRequest, Operation, OperationError, OperationRequest, OperationResponse, ScaleRequest,
    TerminalSize,
};
pub use resume::{Disposition, Payload, PushError, QueuedFrame, StreamCursor, UnackedQueue};
pub use token::{CaPin, EnrollmentToken, SecretHash, TokenError, TokenSecret};

/// The hub's reason, in `Refused` and in the close of a live session, when the client
/// certificate was revoked: the cluster was disabled, or enrolled again, since it was issued.
/// The agent recognises it by this text (it re-enrolls with its configured token, if any);
/// the text is also what an operator reads in the agent's log.
pub const CERTIFICATE_REVOKED: &str = "certificate revoked: re-enroll with a new token";

/// QUIC application close codes used by both ends.
pub mod close {
    /// Normal end (enrollment done, agent shutting down).
    pub const DONE: u32 = 0;
    /// The hub refused the agent (token, unknown or disabled cluster); reason attached.
    pub const REFUSED: u32 = 1;
    /// A frame did not decode, was too big, or broke the protocol rules.
    pub const PROTOCOL_ERROR: u32 = 2;
    /// The cluster was disabled or revoked while connected.
    pub const DISABLED: u32 = 3;
    /// A newer connection of the same cluster replaced this one.
    pub const REPLACED: u32 = 4;
    /// The hub is shutting down; reconnect with backoff.
    pub const SHUTDOWN: u32 = 5;
    /// The hub failed internally (store unavailable); reconnect with backoff.
    pub const UNAVAILABLE: u32 = 6;
}
