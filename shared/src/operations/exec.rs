//! Exec (a terminal in a container): the one implementation the agent runs for the hub and
//! the hub runs itself for a pull-mode cluster, and the bridge that carries a session's
//! frames over a byte stream (the agent's QUIC stream).
//!
//! A session is a pair of bounded channels: [`ExecInput`] in, [`ExecOutput`] out, each
//! holding at most [`EXEC_QUEUE`] frames of at most [`EXEC_CHUNK`] bytes. Nothing grows
//! when one side stalls: [`run_exec`] stops reading the command's output while the output
//! channel is full (kube's pipe then fills and Kubernetes' stream waits), and takes no new
//! input until the previous stdin bytes are written. Closing the input channel (or sending
//! [`ExecInput::Close`]) aborts the Kubernetes stream at once.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::{AttachParams, AttachedProcess};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;

use super::kube_error;
use crate::protocol::operations::{EXEC_CHUNK, MAX_EXEC_FRAME};
use crate::protocol::{
    ExecExit, ExecInput, ExecOutput, ExecRequest, FrameReader, FrameWriter, OperationError,
    TerminalSize,
};

/// Frames a session's channels hold each way.
pub const EXEC_QUEUE: usize = 8;

/// Most arguments of an exec command.
pub const MAX_EXEC_ARGS: usize = 64;

/// Most bytes of an exec command, its arguments added up.
pub const MAX_EXEC_COMMAND_BYTES: usize = 8 * 1024;

/// How long the exit status may take after the command's output ended.
const STATUS_WAIT: Duration = Duration::from_secs(5);

/// A started exec; dropping it ends the Kubernetes stream.
pub struct ExecProcess {
    process: AttachedProcess,
    resize: Option<futures::channel::mpsc::Sender<kube::api::TerminalSize>>,
}

impl std::fmt::Debug for ExecProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecProcess")
    }
}

/// The channels of a session as its user holds them: input to send, output to read.
#[derive(Debug)]
pub struct ExecChannels {
    /// Stdin, resizes and close, toward the command.
    pub input: mpsc::Sender<ExecInput>,
    /// Stdout, stderr and at last the exit, from the command.
    pub output: mpsc::Receiver<ExecOutput>,
}

/// The other ends of [`ExecChannels`], for whoever runs or carries the session.
#[derive(Debug)]
pub struct ExecEnds {
    /// Where the input arrives.
    pub input: mpsc::Receiver<ExecInput>,
    /// Where the output goes.
    pub output: mpsc::Sender<ExecOutput>,
}

/// A new pair of bounded session channels.
pub fn exec_channels() -> (ExecChannels, ExecEnds) {
    let (input_tx, input_rx) = mpsc::channel(EXEC_QUEUE);
    let (output_tx, output_rx) = mpsc::channel(EXEC_QUEUE);
    (
        ExecChannels {
            input: input_tx,
            output: output_rx,
        },
        ExecEnds {
            input: input_rx,
            output: output_tx,
        },
    )
}

/// Checks `request`'s command: what the hub refuses before it asks a cluster, and the
/// agent again before it asks Kubernetes.
pub fn check_command(command: &[String]) -> Result<(), OperationError> {
    if command.is_empty() || command[0].is_empty() {
        return Err(OperationError::BadRequest("the command is empty".into()));
    }
    if command.len() > MAX_EXEC_ARGS {
        return Err(OperationError::BadRequest(format!(
            "the command has more than {MAX_EXEC_ARGS} arguments"
        )));
    }
    if command.iter().map(String::len).sum::<usize>() > MAX_EXEC_COMMAND_BYTES {
        return Err(OperationError::BadRequest(format!(
            "the command is longer than {MAX_EXEC_COMMAND_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Starts `request`'s command in its container.
pub async fn exec(
    client: &kube::Client,
    request: &ExecRequest,
) -> Result<ExecProcess, OperationError> {
    check_command(&request.command)?;
    let mut params = AttachParams::default()
        .stdin(true)
        .stdout(true)
        .stderr(!request.tty)
        .tty(request.tty);
    params.container = request.container.clone();
    params.max_stdin_buf_size = Some(EXEC_CHUNK);
    params.max_stdout_buf_size = Some(EXEC_CHUNK);
    params.max_stderr_buf_size = Some(EXEC_CHUNK);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &request.namespace);
    let mut process = pods
        .exec(&request.pod, request.command.clone(), &params)
        .await
        .map_err(kube_error)?;
    let mut resize = process.terminal_size();
    if let (Some(size), Some(resize)) = (request.size, resize.as_mut()) {
        let _ = resize.try_send(kube_size(size));
    }
    Ok(ExecProcess { process, resize })
}

fn kube_size(size: TerminalSize) -> kube::api::TerminalSize {
    kube::api::TerminalSize {
        width: size.cols,
        height: size.rows,
    }
}

/// The end of a session the client closed.
pub const CLOSED_BY_CLIENT: &str = "closed by the client";

/// Runs `process` between `ends` until the command's streams end (answered with its exit,
/// also sent as the last output) or the input closes (the Kubernetes stream is aborted at
/// once). See the module docs for why memory stays bounded.
pub async fn run_exec(process: ExecProcess, ends: ExecEnds) -> ExecExit {
    let ExecProcess {
        mut process,
        mut resize,
    } = process;
    let ExecEnds { mut input, output } = ends;
    let mut stdin = process.stdin();
    let mut stdout = process.stdout();
    let mut stderr = process.stderr();
    let status = process.take_status();
    let mut out_buf = vec![0u8; EXEC_CHUNK];
    let mut err_buf = vec![0u8; EXEC_CHUNK];
    // Stdin bytes not yet taken by kube's pipe; no new input is read until they are.
    let mut pending: Vec<u8> = Vec::new();
    let closed = |message: &str| ExecExit {
        code: None,
        message: message.to_owned(),
    };
    while stdout.is_some() || stderr.is_some() {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buf) => match read {
                Some(n) => {
                    let chunk = ExecOutput::Stdout(out_buf[..n].to_vec());
                    if output.send(chunk).await.is_err() {
                        return closed(CLOSED_BY_CLIENT);
                    }
                }
                None => stdout = None,
            },
            read = read_some(&mut stderr, &mut err_buf) => match read {
                Some(n) => {
                    let chunk = ExecOutput::Stderr(err_buf[..n].to_vec());
                    if output.send(chunk).await.is_err() {
                        return closed(CLOSED_BY_CLIENT);
                    }
                }
                None => stderr = None,
            },
            written = write_some(&mut stdin, &pending), if !pending.is_empty() => match written {
                Some(n) => {
                    pending.drain(..n);
                }
                // The command closed its stdin: what it was sent is dropped.
                None => {
                    stdin = None;
                    pending.clear();
                }
            },
            message = input.recv(), if pending.is_empty() => match message {
                Some(ExecInput::Stdin(bytes)) => {
                    if stdin.is_some() {
                        pending = bytes;
                    }
                }
                Some(ExecInput::Resize(size)) => {
                    // A resize is a hint: one that finds kube's queue full is dropped.
                    if let Some(resize) = resize.as_mut() {
                        let _ = resize.try_send(kube_size(size));
                    }
                }
                Some(ExecInput::Close) | None => {
                    process.abort();
                    return closed(CLOSED_BY_CLIENT);
                }
            },
        }
    }
    let status = match status {
        Some(status) => tokio::time::timeout(STATUS_WAIT, status)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let exit = exit_of(status);
    let _ = output.send(ExecOutput::Exit(exit.clone())).await;
    exit
}

/// Reads what is there from `reader`; `None` at its end (or error). Never ready without a
/// reader.
async fn read_some<R: AsyncRead + Unpin>(reader: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    let Some(reader) = reader.as_mut() else {
        return std::future::pending().await;
    };
    match reader.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// Writes a part of `bytes` to `writer`; `None` when it is gone.
async fn write_some<W: AsyncWrite + Unpin>(writer: &mut Option<W>, bytes: &[u8]) -> Option<usize> {
    let writer = writer.as_mut()?;
    match writer.write(bytes).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// The exit Kubernetes reported: `Success`, or `NonZeroExitCode` with the code as its
/// `ExitCode` cause; anything else is a failure in words.
pub fn exit_of(status: Option<Status>) -> ExecExit {
    let Some(status) = status else {
        return ExecExit {
            code: None,
            message: "the exec stream ended without an exit status".into(),
        };
    };
    if status.status.as_deref() == Some("Success") {
        return ExecExit {
            code: Some(0),
            message: String::new(),
        };
    }
    let code = status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.trim().parse().ok());
    ExecExit {
        code,
        message: status.message.unwrap_or_default(),
    }
}

/// Carries a session over a byte stream: frames read from `recv` go to `inbound`, and
/// `outbound`'s messages are written to `send` as frames. Returns when `outbound` ends
/// (`send` is then shut down, which finishes a QUIC stream) or `send` fails; the end of
/// `recv` only closes `inbound`. Each direction holds one frame at a time.
pub async fn bridge<R, W, In, Out>(
    recv: R,
    send: W,
    inbound: mpsc::Sender<In>,
    mut outbound: mpsc::Receiver<Out>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    let reading = async move {
        let mut reader = FrameReader::new(recv, MAX_EXEC_FRAME);
        while let Ok(message) = reader.read::<In>().await {
            if inbound.send(message).await.is_err() {
                break;
            }
        }
        drop(inbound);
        std::future::pending::<()>().await;
    };
    let writing = async move {
        let mut writer = FrameWriter::new(send, MAX_EXEC_FRAME);
        while let Some(message) = outbound.recv().await {
            if writer.write(&message).await.is_err() {
                return;
            }
        }
        let _ = writer.into_inner().shutdown().await;
    };
    tokio::select! {
        () = reading => {}
        () = writing => {}
    }
}
