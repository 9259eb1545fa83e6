//! Serving the hub's operations on the live connection: the hub opens a bidirectional stream
//! per request (`kubeworkz_shared::protocol::operations`), the agent checks the chart
//! switch, runs the request with its own kube client (`kubeworkz_shared::operations`) and
//! writes the answer back.
//!
//! Memory stays bounded whatever the hub or its browser does: at most
//! [`MAX_CONCURRENT_OPERATIONS`] run at once (more are answered `Busy`), each copies through
//! one [`COPY_BUFFER`], and a write waits for QUIC flow control, so a slow reader on the hub
//! side slows the Kubernetes read instead of growing a queue. When the hub stops reading
//! (its client went away) the stream's `stopped` fires and the Kubernetes stream is dropped
//! at once, even when a followed log is silent.
//!
//! An exec keeps the stream open both ways: the agent starts the command, answers
//! `Streaming` and carries the session's frames (`operations::bridge`) until the command
//! ends or the hub closes its side, which aborts the Kubernetes stream at once.

use std::sync::Arc;
use std::time::Duration;

use futures::AsyncReadExt as _;
use kubeworkz_shared::operations::{self, LogStream, OperationSet, Output};
use kubeworkz_shared::protocol::ExecRequest;
use kubeworkz_shared::protocol::operations::{MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME};
use kubeworkz_shared::protocol::{
    FrameReader, FrameWriter, OperationError, OperationRequest, OperationResponse,
};
use quinn::{RecvStream, SendStream};
use tokio::sync::Semaphore;

/// Operations one agent runs at once; the hub keeps the same limit per connection.
pub const MAX_CONCURRENT_OPERATIONS: usize = 128;

/// Bytes read from Kubernetes per write to the hub.
pub const COPY_BUFFER: usize = 32 * 1024;

/// How long the hub may take to send a request after opening its stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the hub's requests with the agent's kube client, within the chart's switches.
pub struct OperationServer {
    client: kube::Client,
    enabled: OperationSet,
    running: Arc<Semaphore>,
}

impl std::fmt::Debug for OperationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationServer")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl OperationServer {
    /// A server running what `enabled` allows with `client`.
    pub fn new(client: kube::Client, enabled: OperationSet) -> Self {
        Self {
            client,
            enabled,
            running: Arc::new(Semaphore::new(MAX_CONCURRENT_OPERATIONS)),
        }
    }

    /// Accepts the hub's operation streams on `conn` until it closes.
    pub async fn serve(self: Arc<Self>, conn: quinn::Connection) {
        while let Ok((send, recv)) = conn.accept_bi().await {
            let server = self.clone();
            tokio::spawn(async move { server.handle(send, recv).await });
        }
    }

    async fn handle(&self, send: SendStream, recv: RecvStream) {
        let mut writer = FrameWriter::new(send, MAX_RESPONSE_FRAME);
        let Ok(_permit) = self.running.clone().try_acquire_owned() else {
            return refuse(writer, OperationError::Busy).await;
        };
        let mut reader = FrameReader::new(recv, MAX_REQUEST_FRAME);
        let request =
            match tokio::time::timeout(REQUEST_TIMEOUT, reader.read::<OperationRequest>()).await {
                Ok(Ok(request)) => request,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "unreadable operation request");
                    let message = format!("unreadable request: {err}");
                    return refuse(writer, OperationError::BadRequest(message)).await;
                }
                Err(_) => return,
            };
        let operation = request.operation();
        if !self.enabled.allows(operation) {
            return refuse(writer, OperationError::NotEnabled(operation)).await;
        }
        tracing::info!(%operation, "the hub runs an operation");
        if let OperationRequest::Exec(exec) = &request {
            return self.exec(exec, writer, reader.into_inner()).await;
        }
        match operations::run(&self.client, &request).await {
            Ok(output) => {
                if writer.write(&OperationResponse::Streaming).await.is_err() {
                    return;
                }
                let mut send = writer.into_inner();
                match output {
                    Output::Stream(stream) => copy(stream, send).await,
                    Output::Body(body) => {
                        if send.write_all(&body).await.is_ok() {
                            let _ = send.finish();
                        }
                    }
                }
            }
            Err(err) => refuse(writer, err).await,
        }
    }
}

impl OperationServer {
    /// Runs an exec session on the stream until the command ends or the hub closes it.
    async fn exec(
        &self,
        request: &ExecRequest,
        mut writer: FrameWriter<SendStream>,
        recv: RecvStream,
    ) {
        let process = match operations::exec(&self.client, request).await {
            Ok(process) => process,
            Err(err) => return refuse(writer, err).await,
        };
        if writer.write(&OperationResponse::Streaming).await.is_err() {
            return;
        }
        let (channels, ends) = operations::exec_channels();
        let session = operations::run_exec(process, ends);
        let carried =
            operations::bridge(recv, writer.into_inner(), channels.input, channels.output);
        let (exit, ()) = tokio::join!(session, carried);
        tracing::info!(
            code = ?exit.code,
            message = %exit.message,
            "exec session ended"
        );
    }
}

/// Answers `error` and finishes the stream.
async fn refuse(mut writer: FrameWriter<SendStream>, error: OperationError) {
    if writer
        .write(&OperationResponse::Failed(error))
        .await
        .is_ok()
    {
        let _ = writer.into_inner().finish();
    }
}

/// Copies `source` to the hub until it ends (the stream is finished) or the hub stops
/// reading (the source is dropped at once).
async fn copy(mut source: LogStream, mut send: SendStream) {
    let stop = send.stopped();
    let stopped = async move {
        let _ = stop.await;
        tracing::info!("the hub stopped reading: log stream closed");
    };
    tokio::pin!(stopped);
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        // `biased`: a stop is noticed (and logged) before a write that it failed.
        let read = tokio::select! {
            biased;
            _ = &mut stopped => return,
            read = source.read(&mut buf) => read,
        };
        match read {
            Ok(0) => {
                let _ = send.finish();
                return;
            }
            Ok(n) => {
                let written = tokio::select! {
                    biased;
                    _ = &mut stopped => return,
                    written = send.write_all(&buf[..n]) => written,
                };
                if let Err(err) = written {
                    tracing::info!(error = %err, "the stream to the hub broke: log stream closed");
                    return;
                }
            }
            Err(err) => {
                tracing::info!(error = %err, "kubernetes ended a log stream");
                let _ = send.reset(quinn::VarInt::from_u32(1));
                return;
            }
        }
    }
}
