//! Resume bookkeeping on both ends: the hub's [`StreamCursor`] decides what to do with each
//! data message, the agent's [`UnackedQueue`] holds what the hub has not stored yet.
//!
//! The rules are in the [`crate::protocol`] module docs; these types are their executable form.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::change::ChangeBatch;
use crate::model::health::{HealthReport, HealthSignals};
use crate::model::usage::UsageBucket;
use crate::protocol::budget::{self, DecodeLimits};
use crate::protocol::frame::{FrameError, LENGTH_PREFIX, MAX_BULK_FRAME, encode_frame};
use crate::protocol::{AgentMessage, Hello};

/// Where a cluster's stream stands at the hub: the last stored `(epoch, seq)`. The store
/// updates it in the same transaction as the data, so a crash cannot ingest twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCursor {
    /// Epoch of the last stored message.
    pub epoch: u64,
    /// Its sequence number.
    pub seq: u64,
}

/// What the hub does with one data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Store it (and move the cursor to it), then ack.
    Ingest,
    /// Already stored (a resend after a lost ack): ack again, store nothing.
    Duplicate,
    /// A hole in the stream or a new epoch not starting at 1: a protocol error. The hub closes
    /// the connection; the agent reconnects and the Hello sorts it out.
    Gap,
}

impl StreamCursor {
    /// Whether the hub can resume `hello`'s stream: same epoch, and the hub has stored at
    /// least what the agent believes acked (a restored backup may have less: full sync).
    pub fn can_resume(cursor: Option<Self>, hello: &Hello) -> bool {
        cursor.is_some_and(|cursor| {
            cursor.epoch == hello.epoch && hello.last_acked_seq.unwrap_or(0) <= cursor.seq
        })
    }

    /// The disposition of message `(epoch, seq)` given the stored cursor.
    pub fn dispose(cursor: Option<Self>, epoch: u64, seq: u64) -> Disposition {
        match cursor {
            Some(cursor) if cursor.epoch == epoch => {
                if seq <= cursor.seq {
                    Disposition::Duplicate
                } else if seq == cursor.seq + 1 {
                    Disposition::Ingest
                } else {
                    Disposition::Gap
                }
            }
            // A new epoch always starts at 1 (with a full sync).
            _ if seq == 1 => Disposition::Ingest,
            _ => Disposition::Gap,
        }
    }
}

/// The data an agent sends; the queue numbers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Inventory changes.
    Batch(ChangeBatch),
    /// Completed usage buckets.
    Usage(Vec<UsageBucket>),
    /// A health verdict with its signals.
    Health(Box<(HealthReport, HealthSignals)>),
}

impl Payload {
    /// The payload back out of a message built by [`Payload::into_message`].
    fn from_message(message: AgentMessage) -> Self {
        match message {
            AgentMessage::Batch { batch, .. } => Self::Batch(batch),
            AgentMessage::Usage { buckets, .. } => Self::Usage(buckets),
            AgentMessage::Health {
                report, signals, ..
            } => Self::Health(Box::new((report, signals))),
            other => unreachable!("{} is not built from a payload", other.name()),
        }
    }

    fn into_message(self, epoch: u64, seq: u64) -> AgentMessage {
        match self {
            Self::Batch(batch) => AgentMessage::Batch { epoch, seq, batch },
            Self::Usage(buckets) => AgentMessage::Usage {
                epoch,
                seq,
                buckets,
            },
            Self::Health(health) => {
                let (report, signals) = *health;
                AgentMessage::Health {
                    epoch,
                    seq,
                    report,
                    signals,
                }
            }
        }
    }
}

/// The queue is full: the hub has been unreachable (or slow) for longer than the queue
/// holds. The caller must start a new epoch with a full sync ([`UnackedQueue::restart`]),
/// which is how an overflow becomes a resync instead of silent loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unacked queue full ({queued_bytes} bytes queued, limit {max_bytes})")]
pub struct QueueOverflow {
    /// Bytes held when the push failed.
    pub queued_bytes: usize,
    /// The limit.
    pub max_bytes: usize,
}

/// Why [`UnackedQueue::push`] did not take a payload.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The queue is full; the payload comes back so it can open the next epoch.
    #[error("{overflow}")]
    Overflow {
        /// The limit that was hit.
        overflow: QueueOverflow,
        /// The payload, untouched.
        payload: Payload,
    },
    /// The payload does not fit in one frame (larger than [`MAX_BULK_FRAME`], or beyond the
    /// decode limits the hub reads it with): one object larger than Kubernetes stores, or a
    /// health verdict listing more than [`budget::MAX_COLLECTION_LEN`] nodes.
    #[error("payload does not fit in a frame: {0}")]
    Frame(#[from] FrameError),
}

/// What [`UnackedQueue::restart`] dropped, for logs and metrics: inventory is rebuilt by the
/// full sync, but dropped usage buckets are gone and must be reported as lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Batches dropped (superseded by the full sync).
    pub batches: usize,
    /// Usage buckets dropped (lost).
    pub usage_buckets: usize,
    /// Health messages dropped (superseded by the next one).
    pub health: usize,
}

impl Dropped {
    fn count(&mut self, kind: QueuedKind) {
        match kind {
            QueuedKind::Batch => self.batches += 1,
            QueuedKind::Usage { buckets } => self.usage_buckets += buckets,
            QueuedKind::Health => self.health += 1,
        }
    }
}

/// What a queued frame carries, kept beside its bytes for [`Dropped`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QueuedKind {
    Batch,
    Usage { buckets: usize },
    Health,
}

/// One unacked data message, held as the frame that goes on the wire: encoded once, resent
/// as is, and costing its wire size in memory (a decoded pod projection is several times
/// larger than its postcard bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedFrame {
    epoch: u64,
    seq: u64,
    kind: QueuedKind,
    frame: Box<[u8]>,
}

impl QueuedFrame {
    /// `(epoch, seq)` of the message inside.
    pub fn stream_position(&self) -> (u64, u64) {
        (self.epoch, self.seq)
    }

    /// The whole frame, length prefix included, for [`crate::protocol::FrameWriter::write_frame`].
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }
}

/// The agent's unacknowledged data messages of the current epoch, bounded in bytes.
#[derive(Debug)]
pub struct UnackedQueue {
    epoch: u64,
    next_seq: u64,
    last_acked: Option<u64>,
    entries: VecDeque<QueuedFrame>,
    bytes: usize,
    max_bytes: usize,
}

impl UnackedQueue {
    /// An empty queue for `epoch` holding at most `max_bytes` of encoded frames.
    pub fn new(epoch: u64, max_bytes: usize) -> Self {
        Self {
            epoch,
            next_seq: 1,
            last_acked: None,
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The Hello describing this queue's stream.
    pub fn hello(&self, agent_version: &str) -> Hello {
        Hello {
            protocol: crate::PROTOCOL_MAJOR,
            agent_version: agent_version.to_owned(),
            epoch: self.epoch,
            last_acked_seq: self.last_acked,
        }
    }

    /// Numbers and encodes `payload`, keeps the frame until acked, and returns it to send.
    pub fn push(&mut self, payload: Payload) -> Result<&QueuedFrame, PushError> {
        let kind = match &payload {
            Payload::Batch(_) => QueuedKind::Batch,
            Payload::Usage(buckets) => QueuedKind::Usage {
                buckets: buckets.len(),
            },
            Payload::Health(_) => QueuedKind::Health,
        };
        let (epoch, seq) = (self.epoch, self.next_seq);
        let message = payload.into_message(epoch, seq);
        let mut frame = Vec::new();
        encode_frame(&message, MAX_BULK_FRAME, &mut frame)?;
        // The hub decodes every frame within the limits of its length and closes the
        // connection on one it refuses, which a resend would only repeat: refuse it here.
        let body = &frame[LENGTH_PREFIX..];
        let limits = DecodeLimits::for_frame(u32::try_from(body.len()).unwrap_or(u32::MAX));
        budget::decode::<AgentMessage>(body, &limits)?;
        if self.bytes.saturating_add(frame.len()) > self.max_bytes {
            return Err(PushError::Overflow {
                overflow: QueueOverflow {
                    queued_bytes: self.bytes,
                    max_bytes: self.max_bytes,
                },
                payload: Payload::from_message(message),
            });
        }
        self.next_seq += 1;
        self.bytes += frame.len();
        self.entries.push_back(QueuedFrame {
            epoch,
            seq,
            kind,
            frame: frame.into_boxed_slice(),
        });
        Ok(self.entries.back().expect("just pushed"))
    }

    /// Drops everything up to and including `seq` (acks are cumulative). Acks of another
    /// epoch are stale and ignored.
    pub fn ack(&mut self, epoch: u64, seq: u64) {
        if epoch != self.epoch {
            return;
        }
        while let Some(queued) = self.entries.front() {
            if queued.seq > seq {
                break;
            }
            self.bytes -= queued.frame.len();
            self.entries.pop_front();
        }
        self.last_acked = Some(self.last_acked.map_or(seq, |acked| acked.max(seq)));
    }

    /// Frames to resend after the hub answered `resume: true`.
    pub fn unacked(&self) -> impl Iterator<Item = &QueuedFrame> {
        self.entries.iter()
    }

    /// Starts `epoch` at seq 1 with an empty queue, after an overflow or `resume: false`. The
    /// caller sends a full sync next.
    pub fn restart(&mut self, epoch: u64) -> Dropped {
        let mut dropped = Dropped::default();
        for queued in self.entries.drain(..) {
            dropped.count(queued.kind);
        }
        *self = Self::new(epoch, self.max_bytes);
        dropped
    }

    /// Whether this epoch has sent nothing the hub acked: a hub answering `resume: false`
    /// can take it from seq 1 as it is, so nothing queued needs to be dropped.
    pub fn is_fresh(&self) -> bool {
        self.last_acked.is_none()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Encoded bytes held.
    pub fn queued_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FrameReader;
    use crate::protocol::frame::frame_len;
    use crate::time::UnixMillis;

    fn batch() -> Payload {
        Payload::Batch(ChangeBatch {
            produced_at: UnixMillis(1),
            changes: vec![],
        })
    }

    fn hello(epoch: u64, last_acked_seq: Option<u64>) -> Hello {
        Hello {
            protocol: 1,
            agent_version: "t".into(),
            epoch,
            last_acked_seq,
        }
    }

    #[test]
    fn resume_only_within_the_stored_epoch_and_never_past_the_stored_seq() {
        let cursor = Some(StreamCursor { epoch: 7, seq: 10 });
        assert!(StreamCursor::can_resume(cursor, &hello(7, Some(10))));
        // The ack of 10 was lost: the agent thinks 8; resume, duplicates are re-acked.
        assert!(StreamCursor::can_resume(cursor, &hello(7, Some(8))));
        assert!(StreamCursor::can_resume(cursor, &hello(7, None)));
        // The hub lost data (restored backup): full sync.
        assert!(!StreamCursor::can_resume(cursor, &hello(7, Some(11))));
        assert!(!StreamCursor::can_resume(cursor, &hello(8, Some(10))));
        assert!(!StreamCursor::can_resume(None, &hello(7, None)));
    }

    #[test]
    fn dispositions() {
        let cursor = Some(StreamCursor { epoch: 7, seq: 10 });
        assert_eq!(StreamCursor::dispose(cursor, 7, 9), Disposition::Duplicate);
        assert_eq!(StreamCursor::dispose(cursor, 7, 10), Disposition::Duplicate);
        assert_eq!(StreamCursor::dispose(cursor, 7, 11), Disposition::Ingest);
        assert_eq!(StreamCursor::dispose(cursor, 7, 12), Disposition::Gap);
        assert_eq!(StreamCursor::dispose(cursor, 8, 1), Disposition::Ingest);
        assert_eq!(StreamCursor::dispose(cursor, 8, 2), Disposition::Gap);
        assert_eq!(StreamCursor::dispose(None, 3, 1), Disposition::Ingest);
        assert_eq!(StreamCursor::dispose(None, 3, 5), Disposition::Gap);
    }

    #[test]
    fn queue_numbers_from_one_and_acks_cumulatively() {
        let mut queue = UnackedQueue::new(5, 1 << 20);
        for want in 1..=3 {
            let pushed = queue.push(batch()).unwrap();
            assert_eq!(pushed.stream_position(), (5, want));
        }
        queue.ack(4, 3); // stale epoch
        assert_eq!(queue.unacked().count(), 3);
        queue.ack(5, 2);
        let left: Vec<_> = queue.unacked().map(QueuedFrame::stream_position).collect();
        assert_eq!(left, vec![(5, 3)]);
        assert_eq!(queue.hello("v").last_acked_seq, Some(2));
        assert!(!queue.is_fresh());
        queue.ack(5, 3);
        assert_eq!(queue.queued_bytes(), 0);
    }

    #[test]
    fn overflow_is_reported_and_restart_counts_what_was_dropped() {
        let one = frame_len(&batch().into_message(1, 1)).unwrap();
        let mut queue = UnackedQueue::new(1, one * 2);
        queue.push(batch()).unwrap();
        queue
            .push(Payload::Usage(vec![]))
            .expect("usage without buckets is no larger than a batch");
        let Err(PushError::Overflow { overflow, payload }) = queue.push(batch()) else {
            panic!("expected an overflow")
        };
        assert_eq!(overflow.max_bytes, one * 2);
        assert_eq!(payload, batch(), "the payload comes back untouched");
        let dropped = queue.restart(2);
        assert_eq!(dropped.batches, 1);
        assert_eq!(queue.epoch(), 2);
        assert_eq!(queue.hello("v").last_acked_seq, None);
        assert!(queue.is_fresh());
        assert_eq!(queue.push(batch()).unwrap().stream_position(), (2, 1));
    }

    #[test]
    fn a_payload_the_hub_would_refuse_is_refused_here_and_not_queued() {
        use crate::change::Change;
        use crate::protocol::budget::MAX_COLLECTION_LEN;
        use crate::protocol::{FrameError, Limit};
        let mut queue = UnackedQueue::new(1, 1 << 30);
        let too_long = Payload::Batch(ChangeBatch {
            produced_at: crate::time::UnixMillis(0),
            changes: vec![Change::SnapshotBegin { kinds: vec![] }; MAX_COLLECTION_LEN as usize + 1],
        });
        match queue.push(too_long) {
            Err(PushError::Frame(FrameError::Budget {
                what: Limit::CollectionLen,
                limit: MAX_COLLECTION_LEN,
            })) => {}
            other => panic!("expected a budget refusal, got {other:?}"),
        }
        assert_eq!(queue.queued_bytes(), 0);
        assert_eq!(queue.push(batch()).unwrap().stream_position(), (1, 1));
    }

    #[tokio::test]
    async fn queued_frames_are_the_wire_encoding_of_their_message() {
        let mut queue = UnackedQueue::new(9, 1 << 20);
        let queued = queue.push(Payload::Usage(vec![])).unwrap().clone();
        assert_eq!(queue.queued_bytes(), queued.frame().len());
        let read: AgentMessage = FrameReader::new(queued.frame(), MAX_BULK_FRAME)
            .read()
            .await
            .unwrap();
        assert_eq!(
            read,
            AgentMessage::Usage {
                epoch: 9,
                seq: 1,
                buckets: vec![]
            }
        );
    }
}
