//! Operations on an agent's connection (`kubeworkz_shared::protocol::operations`): the hub
//! opens one bidirectional stream per request, writes the request, reads the agent's answer
//! and hands the caller the rest of the stream as a byte stream.
//!
//! Each connection runs at most [`OPERATIONS_PER_CONNECTION`] operations at once (the agent
//! allows as many streams); one more is refused at once instead of queueing. The bytes are
//! read a chunk at a time, only when the consumer (the HTTP response body) asks for the next
//! one, so QUIC flow control holds the agent back while a client is slow: per operation the
//! hub keeps at most the stream's receive window. Dropping the byte stream stops the QUIC
//! stream, which the agent sees at once and answers by dropping its Kubernetes stream.
//!
//! Unread bytes also count against the connection's receive window, which the agent's
//! control stream and every other operation share: a client that stops reading a followed
//! log would let its stream fill the whole base window and stall the connection (measured by
//! `hub/benches/log_follows.rs`: other follows and new requests on that cluster waited for
//! the stalled client). So each running operation brings its own stream window to the
//! connection's ([`Slots`], [`receive_window`]): a stalled operation holds only its share,
//! and the hub's unread bytes per connection stay within [`super::RECEIVE_WINDOW`] plus one
//! [`super::STREAM_RECEIVE_WINDOW`] per running operation.
//!
//! An exec keeps the stream open both ways ([`open_exec`]): a task carries the session's
//! bounded channels over it (`kubeworkz_shared::operations::bridge`), and the caller's
//! dropping its input finishes the hub's side, which ends the command's stream.

use std::time::Duration;

use axum::body::Bytes;
use futures::Stream;
use kubeworkz_shared::operations::{self, ExecChannels, exec_channels};
use kubeworkz_shared::protocol::operations::{MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME};
use kubeworkz_shared::protocol::{
    ExecRequest, FrameError, FrameReader, FrameWriter, OperationError, OperationRequest,
    OperationResponse,
};
use std::sync::{Arc, Mutex};

use quinn::VarInt;

use super::{RECEIVE_WINDOW, STREAM_RECEIVE_WINDOW};

/// Operations one agent connection runs at once.
pub const OPERATIONS_PER_CONNECTION: usize = 128;

/// How long the agent may take to answer a request (it answers once Kubernetes has).
pub const OPERATION_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes taken from the stream per chunk.
const CHUNK: usize = 32 * 1024;

/// Why an operation did not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The cluster has no live agent connection.
    #[error("agent not connected")]
    NotConnected,
    /// The connection already runs [`OPERATIONS_PER_CONNECTION`] operations.
    #[error("too many operations for this cluster")]
    TooMany,
    /// The agent refused or Kubernetes failed the request.
    #[error(transparent)]
    Refused(OperationError),
    /// The stream broke or the agent did not answer in time.
    #[error("the agent did not answer: {0}")]
    Broken(String),
}

/// The connection receive window while `running` operations run: the base window (the
/// control stream's) and one stream window for each, so no stream can take another's share.
pub fn receive_window(running: usize) -> VarInt {
    let bytes = u64::from(RECEIVE_WINDOW) + running as u64 * u64::from(STREAM_RECEIVE_WINDOW);
    VarInt::from_u64(bytes).unwrap_or(VarInt::MAX)
}

/// One connection's operation slots: at most [`OPERATIONS_PER_CONNECTION`] taken at once,
/// and its receive window sized to how many are (see the module docs).
#[derive(Debug)]
pub(super) struct Slots {
    conn: quinn::Connection,
    running: Mutex<usize>,
}

impl Slots {
    /// The slots of `conn`, none taken.
    pub(super) fn new(conn: quinn::Connection) -> Arc<Self> {
        Arc::new(Self {
            conn,
            running: Mutex::new(0),
        })
    }

    /// A slot, held for as long as the operation's output is read; `TooMany` when all are
    /// taken.
    pub(super) fn take(self: &Arc<Self>) -> Result<Slot, OpenError> {
        let mut running = self.running.lock().expect("operation slots lock");
        if *running >= OPERATIONS_PER_CONNECTION {
            return Err(OpenError::TooMany);
        }
        *running += 1;
        // Under the lock, so the last window set is the one for the current count.
        self.conn.set_receive_window(receive_window(*running));
        Ok(Slot(self.clone()))
    }

    /// The connection running the operations.
    pub(super) fn connection(&self) -> &quinn::Connection {
        &self.conn
    }
}

/// A taken slot; gives the operation's share of the window back when dropped.
#[derive(Debug)]
pub(super) struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.0.running.lock().expect("operation slots lock");
        *running -= 1;
        self.0.conn.set_receive_window(receive_window(*running));
    }
}

/// A started operation's output; see the module docs.
#[derive(Debug)]
pub struct OperationBody {
    // Dropped first: the stream stops (and its unread bytes are released) before its share
    // of the window goes.
    recv: quinn::RecvStream,
    _slot: Slot,
}

impl OperationBody {
    /// The output, chunk by chunk, ending when the agent finishes the stream; an error when
    /// it reset it (Kubernetes broke the stream) or the connection was lost.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures::stream::unfold(Some(self), |body| async move {
            let mut body = body?;
            match body.recv.read_chunk(CHUNK, true).await {
                Ok(Some(chunk)) => Some((Ok(chunk.bytes), Some(body))),
                Ok(None) => None,
                Err(err) => Some((Err(std::io::Error::other(err)), None)),
            }
        })
    }
}

/// Runs `request` on `slot`'s connection with `slot` held for as long as its output is read.
pub(super) async fn open(
    slot: Slot,
    request: &OperationRequest,
) -> Result<OperationBody, OpenError> {
    let (mut send, recv) = start(slot.0.connection(), request).await?;
    // The agent reads one request; nothing more goes this way.
    let _ = send.finish();
    Ok(OperationBody { recv, _slot: slot })
}

/// Starts an exec on `slot`'s connection and carries its session in a task holding `slot`.
pub(super) async fn open_exec(
    slot: Slot,
    request: &ExecRequest,
) -> Result<ExecChannels, OpenError> {
    let (send, recv) = start(
        slot.0.connection(),
        &OperationRequest::Exec(request.clone()),
    )
    .await?;
    let (channels, ends) = exec_channels();
    tokio::spawn(async move {
        operations::bridge(recv, send, ends.output, ends.input).await;
        drop(slot);
    });
    Ok(channels)
}

/// Writes `request` on a new stream and reads the agent's answer: the stream's two sides
/// when the operation runs.
async fn start(
    conn: &quinn::Connection,
    request: &OperationRequest,
) -> Result<(quinn::SendStream, quinn::RecvStream), OpenError> {
    let started = async {
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|err| OpenError::Broken(err.to_string()))?;
        let mut writer = FrameWriter::new(send, MAX_REQUEST_FRAME);
        writer.write(request).await.map_err(broken)?;
        let mut reader = FrameReader::new(recv, MAX_RESPONSE_FRAME);
        match reader.read::<OperationResponse>().await.map_err(broken)? {
            OperationResponse::Streaming => Ok((writer.into_inner(), reader.into_inner())),
            OperationResponse::Failed(err) => Err(OpenError::Refused(err)),
        }
    };
    tokio::time::timeout(OPERATION_ANSWER_TIMEOUT, started)
        .await
        .map_err(|_| OpenError::Broken("no answer in time".into()))?
}

fn broken(err: FrameError) -> OpenError {
    OpenError::Broken(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_running_operation_brings_its_stream_window() {
        assert_eq!(receive_window(0).into_inner(), u64::from(RECEIVE_WINDOW));
        let one = receive_window(1).into_inner() - receive_window(0).into_inner();
        assert_eq!(one, u64::from(STREAM_RECEIVE_WINDOW));
        // All slots taken and stalled, the control stream still has the base window.
        let full = receive_window(OPERATIONS_PER_CONNECTION).into_inner();
        assert_eq!(
            full - OPERATIONS_PER_CONNECTION as u64 * u64::from(STREAM_RECEIVE_WINDOW),
            u64::from(RECEIVE_WINDOW)
        );
        // Bounded: 129 MiB per connection at most, whatever the clients do.
        assert_eq!(full, 129 * 1024 * 1024);
    }
}
