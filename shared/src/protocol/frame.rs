//! Length-prefixed postcard frames over any byte stream.
//!
//! A frame is a `u32` big-endian length followed by that many bytes of one postcard value.
//! The reader checks the declared length against its maximum *before* reading the body, and
//! then grows its buffer only as bytes actually arrive, so a peer that declares 4 MiB and
//! sends nothing costs nothing. The body is decoded within limits derived from its length
//! ([`super::budget`]); a reader given a [`FrameMemory`] also reserves the body's bytes before
//! reading it and the decode allowance before decoding it, and hands the decoded message out
//! with the share it keeps ([`Held`]). A bad frame is an error, never a panic: the caller closes that one connection.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::budget::{self, DecodeLimits, Limit};
use super::memory::{FrameMemory, MemoryHold};

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// Largest frame on an authenticated agent stream. The collector closes a batch before it
/// passes [`crate::collect::MAX_BATCH_BYTES`] (1 MiB) encoded, so a batch is larger only when
/// one object alone is: Kubernetes stores objects of at most 1.5 MiB (etcd's default request
/// limit; the apiserver takes request bodies of 3 MiB at most), and a projection keeps a part
/// of its object. 4 MiB holds the largest of those with room for the envelope.
pub const MAX_BULK_FRAME: u32 = 4 * 1024 * 1024;

/// Largest frame the hub sends (acks, certificates, refusals).
pub const MAX_CONTROL_FRAME: u32 = 1024 * 1024;

/// Largest frame on a connection without a client certificate (one `Enroll`): small, because
/// anyone on the network can open such a connection.
pub const MAX_ENROLL_FRAME: u32 = 64 * 1024;

/// Why a frame could not be read or written. Never carries frame content.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The declared length exceeds what this stream accepts.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    Oversize {
        /// Declared (or encoded) length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// The body is not a valid message of the expected type.
    #[error("frame does not decode: {0}")]
    Decode(#[source] postcard::Error),
    /// The body holds more than one message: a sender bug or an attempt to smuggle bytes.
    #[error("frame has {extra} bytes after its message")]
    TrailingBytes {
        /// Bytes left over.
        extra: usize,
    },
    /// Encoding failed (a bug, or a value postcard cannot represent).
    #[error("message does not encode: {0}")]
    Encode(#[source] postcard::Error),
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes the frame (or prefix) needed.
        expected: u64,
        /// Bytes that arrived.
        got: u64,
    },
    /// The body broke one of the decode limits of its length ([`super::budget`]).
    #[error("frame exceeds its decode limit of {limit} {what}")]
    Budget {
        /// Which limit.
        what: Limit,
        /// Its value for this frame.
        limit: u64,
    },
    /// The body did not arrive in time after its length prefix.
    #[error("frame body of {expected} bytes did not arrive within {} ms", timeout.as_millis())]
    Stalled {
        /// Declared length.
        expected: u64,
        /// How long it had.
        timeout: Duration,
    },
    /// The underlying stream failed.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
    /// The stream ended cleanly between frames.
    #[error("stream closed")]
    Closed,
}

/// Reads frames of at most `max` bytes from `R`.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    max: u32,
    buf: Vec<u8>,
    admission: Option<Admission>,
}

/// How a reader with memory budgets admits frames.
#[derive(Debug)]
struct Admission {
    memory: FrameMemory,
    body_timeout: Duration,
}

/// A decoded message and the share of the reader's [`FrameMemory::decoded`] budget it holds:
/// keep the hold until the message has been processed, so the budget covers it meanwhile.
#[derive(Debug)]
pub struct Held<T> {
    /// The message.
    pub message: T,
    /// Its share of the budget (empty when the reader has none).
    pub hold: MemoryHold,
}

/// Buffers above this are released after use, so one big batch does not pin memory for the
/// rest of the connection.
const KEEP_BUFFER: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader accepting frames up to `max` bytes.
    pub fn new(inner: R, max: u32) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
            admission: None,
        }
    }

    /// Admits every frame against `memory` ([`super::memory`]): the body's length is reserved
    /// before the body is read (unless the buffer the reader keeps between frames, 64 KiB,
    /// holds it) and its decode allowance before it is decoded; a body that
    /// does not arrive within `body_timeout` fails the read ([`FrameError::Stalled`]), so a
    /// peer cannot sit on a reservation.
    pub fn with_memory(mut self, memory: FrameMemory, body_timeout: Duration) -> Self {
        self.admission = Some(Admission {
            memory,
            body_timeout,
        });
        self
    }

    /// The next message, [`FrameError::Closed`] at a clean end of stream. Its share of the
    /// memory budget is given back at once; see [`FrameReader::read_held`].
    pub async fn read<T: DeserializeOwned>(&mut self) -> Result<T, FrameError> {
        Ok(self.read_held().await?.message)
    }

    /// The next message with the share of the memory budget its decoded form holds.
    pub async fn read_held<T: DeserializeOwned>(&mut self) -> Result<Held<T>, FrameError> {
        let len = self.read_prefix().await?;
        let Some(admission) = &self.admission else {
            let body = self.read_body(len).await;
            let decoded = budget::decode::<T>(body?, &DecodeLimits::for_frame(len));
            self.release_buffer();
            let message = decoded?.0;
            let hold = MemoryHold::default();
            return Ok(Held { message, hold });
        };
        let (memory, timeout) = (admission.memory.clone(), admission.body_timeout);
        // A body the kept buffer holds anyway costs the connection nothing more: small frames
        // (hellos, heartbeats, most batches) never wait behind large ones for the budget.
        let body_hold = if len as usize > KEEP_BUFFER {
            memory.bodies.reserve(u64::from(len)).await
        } else {
            MemoryHold::default()
        };
        let body = tokio::time::timeout(timeout, self.read_body(len))
            .await
            .unwrap_or(Err(FrameError::Stalled {
                expected: u64::from(len),
                timeout,
            }));
        let mut hold = match body {
            Ok(_) => memory.decoded.reserve(budget::decoded_allowance(len)).await,
            Err(_) => MemoryHold::default(),
        };
        let decoded = budget::decode::<T>(body?, &DecodeLimits::for_frame(len));
        self.release_buffer();
        drop(body_hold);
        let (message, spent) = decoded?;
        hold.shrink_to(spent.decoded_bytes);
        Ok(Held { message, hold })
    }

    /// Frees a buffer grown past [`KEEP_BUFFER`], so one big frame does not pin memory for
    /// the rest of the connection.
    fn release_buffer(&mut self) {
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
    }

    /// Reads a length prefix and checks it against the maximum.
    async fn read_prefix(&mut self) -> Result<u32, FrameError> {
        let mut prefix = [0u8; LENGTH_PREFIX];
        let mut got = 0;
        while got < LENGTH_PREFIX {
            let n = self.inner.read(&mut prefix[got..]).await?;
            if n == 0 {
                return Err(if got == 0 {
                    FrameError::Closed
                } else {
                    FrameError::Truncated {
                        expected: LENGTH_PREFIX as u64,
                        got: got as u64,
                    }
                });
            }
            got += n;
        }
        let len = u32::from_be_bytes(prefix);
        if len > self.max {
            return Err(FrameError::Oversize {
                len: u64::from(len),
                max: self.max,
            });
        }
        Ok(len)
    }

    /// Reads a body of `len` bytes into the buffer.
    async fn read_body(&mut self, len: u32) -> Result<&[u8], FrameError> {
        self.buf.clear();
        // `take` + `read_to_end` grows the buffer with the bytes that arrive, not up front.
        let got = (&mut self.inner)
            .take(u64::from(len))
            .read_to_end(&mut self.buf)
            .await?;
        if got as u64 != u64::from(len) {
            return Err(FrameError::Truncated {
                expected: u64::from(len),
                got: got as u64,
            });
        }
        Ok(&self.buf)
    }

    /// The underlying stream.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Writes frames of at most `max` bytes to `W`.
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: W,
    max: u32,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer refusing to send frames over `max` bytes (the peer would drop them anyway).
    pub fn new(inner: W, max: u32) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
        }
    }

    /// Encodes and writes one message, then flushes.
    pub async fn write<T: Serialize + ?Sized>(&mut self, message: &T) -> Result<(), FrameError> {
        encode_frame(message, self.max, &mut self.buf)?;
        self.inner.write_all(&self.buf).await?;
        self.inner.flush().await?;
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Writes one frame encoded earlier by [`encode_frame`] (length prefix included), then
    /// flushes: queued messages are encoded once and resent as they are.
    pub async fn write_frame(&mut self, frame: &[u8]) -> Result<(), FrameError> {
        let len = frame.len().saturating_sub(LENGTH_PREFIX);
        if frame.len() < LENGTH_PREFIX || len as u64 > u64::from(self.max) {
            return Err(FrameError::Oversize {
                len: len as u64,
                max: self.max,
            });
        }
        self.inner.write_all(frame).await?;
        self.inner.flush().await?;
        Ok(())
    }

    /// The underlying stream (e.g. to finish a QUIC send stream).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The underlying stream, for raw bytes after the frames (an operation's output).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Encodes `message` as one frame into `out` (cleared first).
pub fn encode_frame<T: Serialize + ?Sized>(
    message: &T,
    max: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    out.clear();
    out.extend_from_slice(&[0; LENGTH_PREFIX]);
    let mut out_vec = std::mem::take(out);
    out_vec = postcard::to_extend(message, out_vec).map_err(FrameError::Encode)?;
    *out = out_vec;
    let len = out.len() - LENGTH_PREFIX;
    let len32 = u32::try_from(len)
        .ok()
        .filter(|len| *len <= max)
        .ok_or(FrameError::Oversize {
            len: len as u64,
            max,
        })?;
    out[..LENGTH_PREFIX].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

/// The encoded size of `message` as a frame, for queue accounting.
pub fn frame_len<T: Serialize + ?Sized>(message: &T) -> Result<usize, FrameError> {
    postcard::experimental::serialized_size(message)
        .map(|len| len + LENGTH_PREFIX)
        .map_err(FrameError::Encode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AgentMessage, HubMessage};
    use crate::time::UnixMillis;

    async fn read_all(bytes: &[u8], max: u32) -> Vec<Result<AgentMessage, String>> {
        let mut reader = FrameReader::new(bytes, max);
        let mut out = Vec::new();
        loop {
            match reader.read::<AgentMessage>().await {
                Err(FrameError::Closed) => return out,
                Err(err) => {
                    out.push(Err(err.to_string()));
                    return out;
                }
                Ok(message) => out.push(Ok(message)),
            }
        }
    }

    #[tokio::test]
    async fn frames_round_trip_back_to_back() {
        let messages = [
            AgentMessage::Heartbeat { at: UnixMillis(1) },
            AgentMessage::RenewCertificate {
                csr_der: vec![7; 300],
            },
        ];
        let mut wire = Vec::new();
        let mut writer = FrameWriter::new(&mut wire, MAX_BULK_FRAME);
        for message in &messages {
            writer.write(message).await.unwrap();
        }
        let read = read_all(&wire, MAX_BULK_FRAME).await;
        assert_eq!(read, messages.map(Ok).to_vec());
    }

    #[tokio::test]
    async fn oversize_length_is_refused_before_reading_the_body() {
        // Declares 4 GiB - 1 and sends no body: must fail on the prefix alone.
        let wire = u32::MAX.to_be_bytes();
        let mut reader = FrameReader::new(&wire[..], MAX_ENROLL_FRAME);
        let err = reader.read::<AgentMessage>().await.unwrap_err();
        assert!(
            matches!(err, FrameError::Oversize { len, max } if len == u64::from(u32::MAX) && max == MAX_ENROLL_FRAME),
            "{err:?}"
        );
        assert_eq!(reader.buf.capacity(), 0);
    }

    #[tokio::test]
    async fn garbage_truncation_and_clean_end_are_distinct_errors() {
        assert_eq!(read_all(&[], 100).await, vec![]);
        let truncated = read_all(&[0, 0], 100).await;
        assert!(truncated[0].as_ref().unwrap_err().contains("2 of 4"));
        let short_body = read_all(&[0, 0, 0, 9, 1, 2], 100).await;
        assert!(short_body[0].as_ref().unwrap_err().contains("2 of 9"));
        // Variant index 200 does not exist.
        let garbage = read_all(&[0, 0, 0, 2, 200, 1], 100).await;
        assert!(
            garbage[0]
                .as_ref()
                .unwrap_err()
                .starts_with("frame does not decode")
        );
    }

    #[tokio::test]
    async fn writer_refuses_frames_over_its_maximum() {
        let mut wire = Vec::new();
        let mut writer = FrameWriter::new(&mut wire, 10);
        let err = writer
            .write(&HubMessage::Refused {
                reason: "x".repeat(20),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::Oversize { max: 10, .. }),
            "{err:?}"
        );
        assert!(wire.is_empty());
    }

    #[tokio::test]
    async fn a_budgeted_reader_reserves_the_body_then_the_allowance_and_keeps_the_estimate() {
        // Larger than the kept buffer, so its body is reserved.
        let message = AgentMessage::Enroll {
            token_id: "t".repeat(70_000),
            secret: postcard::from_bytes(&[1, 7]).unwrap(),
            csr_der: vec![],
        };
        let mut frame = Vec::new();
        encode_frame(&message, MAX_BULK_FRAME, &mut frame).unwrap();
        let len = u32::try_from(frame.len() - LENGTH_PREFIX).unwrap();
        assert!(len as usize > KEEP_BUFFER);
        let allowance = budget::decoded_allowance(len);
        let memory = FrameMemory::new(10 * u64::from(len), 10 * allowance);
        let (mut agent, hub) = tokio::io::duplex(1 << 16);
        let mut reader = FrameReader::new(hub, MAX_BULK_FRAME)
            .with_memory(memory.clone(), std::time::Duration::from_secs(5));
        agent.write_all(&frame[..LENGTH_PREFIX + 10]).await.unwrap();
        let read = tokio::spawn(async move { reader.read_held::<AgentMessage>().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            memory.bodies.available(),
            9 * u64::from(len),
            "the body is reserved at the prefix"
        );
        assert_eq!(
            memory.decoded.available(),
            memory.decoded.total(),
            "nothing of the allowance while the body is incomplete"
        );
        agent.write_all(&frame[LENGTH_PREFIX + 10..]).await.unwrap();
        let held = read.await.unwrap().unwrap();
        assert_eq!(held.message, message);
        let (_, spent) =
            budget::decode::<AgentMessage>(&frame[LENGTH_PREFIX..], &DecodeLimits::for_frame(len))
                .unwrap();
        assert_eq!(held.hold.bytes(), spent.decoded_bytes);
        assert_eq!(memory.bodies.available(), memory.bodies.total());
        assert_eq!(
            memory.decoded.available(),
            memory.decoded.total() - spent.decoded_bytes
        );
        drop(held);
        assert!(memory.is_idle());
    }

    #[tokio::test]
    async fn a_body_that_stalls_fails_the_read_and_frees_its_reservation() {
        let memory = FrameMemory::new(1 << 30, 1 << 30);
        let (mut agent, hub) = tokio::io::duplex(1 << 16);
        let mut reader = FrameReader::new(hub, MAX_BULK_FRAME)
            .with_memory(memory.clone(), std::time::Duration::from_millis(100));
        agent.write_all(&100_000u32.to_be_bytes()).await.unwrap();
        agent.write_all(&[0; 10]).await.unwrap();
        let read = tokio::spawn(async move { reader.read_held::<AgentMessage>().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(memory.bodies.available(), (1 << 30) - 100_000);
        let err = read.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::Stalled {
                    expected: 100_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "frame body of 100000 bytes did not arrive within 100 ms"
        );
        assert!(memory.is_idle());
    }

    #[tokio::test]
    async fn a_frame_beyond_its_decode_limits_is_refused_by_the_reader() {
        let message = AgentMessage::RenewCertificate {
            csr_der: vec![0; budget::MAX_COLLECTION_LEN as usize + 1],
        };
        let mut wire = Vec::new();
        encode_frame(&message, MAX_BULK_FRAME, &mut wire).unwrap();
        let read = read_all(&wire, MAX_BULK_FRAME).await;
        assert_eq!(
            read,
            vec![Err(
                "frame exceeds its decode limit of 16384 elements in one collection".to_owned()
            )]
        );
    }

    #[test]
    fn frame_len_matches_the_encoding() {
        let message = AgentMessage::Heartbeat { at: UnixMillis(5) };
        let mut out = Vec::new();
        encode_frame(&message, MAX_CONTROL_FRAME, &mut out).unwrap();
        assert_eq!(frame_len(&message).unwrap(), out.len());
    }
}
