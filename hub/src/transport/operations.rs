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
use tokio::sync::OwnedSemaphorePermit;

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

/// A started operation's output; see the module docs.
#[derive(Debug)]
pub struct OperationBody {
    recv: quinn::RecvStream,
    _permit: OwnedSemaphorePermit,
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

/// Runs `request` on `conn` with `permit` held for as long as its output is read.
pub(super) async fn open(
    conn: &quinn::Connection,
    permit: OwnedSemaphorePermit,
    request: &OperationRequest,
) -> Result<OperationBody, OpenError> {
    let (mut send, recv) = start(conn, request).await?;
    // The agent reads one request; nothing more goes this way.
    let _ = send.finish();
    Ok(OperationBody {
        recv,
        _permit: permit,
    })
}

/// Starts an exec on `conn` and carries its session in a task holding `permit`.
pub(super) async fn open_exec(
    conn: &quinn::Connection,
    permit: OwnedSemaphorePermit,
    request: &ExecRequest,
) -> Result<ExecChannels, OpenError> {
    let (send, recv) = start(conn, &OperationRequest::Exec(request.clone())).await?;
    let (channels, ends) = exec_channels();
    tokio::spawn(async move {
        operations::bridge(recv, send, ends.output, ends.input).await;
        drop(permit);
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
