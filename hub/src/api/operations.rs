//! Where an operation on a cluster runs: on the agent's connection for an agent cluster
//! (`crate::transport`), in the hub with the stored kubeconfig for a pull-mode cluster —
//! the same executor either way (`kubeworkz_shared::operations`) — and how its failures
//! answer the client.

use axum::body::Bytes;
use futures::{AsyncReadExt as _, Stream, StreamExt as _};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::operations::{self, ExecChannels, LogStream, Output};
use kubeworkz_shared::protocol::{ExecRequest, OperationError, OperationRequest};

use super::extract::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::ClusterMode;
use crate::transport::OpenError;

/// Bytes read from a pull-mode cluster's stream per chunk.
const CHUNK: usize = 32 * 1024;

/// An operation's output, chunk by chunk.
pub(super) type ByteStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Where an operation on a cluster runs.
enum Route<'a> {
    /// On the agent's live connection.
    Agent(&'a crate::transport::HubTransport),
    /// In the hub, with the stored kubeconfig's client.
    Pull(kube::Client),
}

/// Where operations on `cluster` (the caller checked it is `who`'s) run now.
async fn route<'a>(
    state: &'a AppState,
    who: &Principal,
    cluster: ClusterId,
) -> Result<Route<'a>, ApiError> {
    let record = state
        .store
        .cluster(who.org_id, cluster)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !record.enabled {
        return Err(ApiError::Conflict("the cluster is disabled".into()));
    }
    match record.mode {
        ClusterMode::Agent => state
            .agents
            .as_ref()
            .map(Route::Agent)
            .ok_or_else(not_connected),
        ClusterMode::Kubeconfig => {
            let target = state
                .store
                .pull_targets(false)
                .await?
                .into_iter()
                .find(|t| t.id == cluster && t.org_id == who.org_id)
                .ok_or(ApiError::NotFound)?;
            let client = crate::pull::supervisor::open_client(
                &target,
                &state.keyring,
                &state.settings.probe.egress,
            )
            .await
            .map_err(|err| ApiError::ClusterUnavailable(err.to_string()))?;
            Ok(Route::Pull(client))
        }
    }
}

/// Runs `request` on `cluster` (the caller checked it is `who`'s) and returns its output,
/// which ends early when the hub shuts down.
pub(super) async fn stream(
    state: &AppState,
    who: &Principal,
    cluster: ClusterId,
    request: OperationRequest,
) -> Result<ByteStream, ApiError> {
    let output: ByteStream = match route(state, who, cluster).await? {
        Route::Agent(agents) => {
            let body = agents
                .open_operation(cluster, &request)
                .await
                .map_err(open_error)?;
            Box::pin(body.into_stream())
        }
        Route::Pull(client) => match operations::run(&client, &request)
            .await
            .map_err(operation_error)?
        {
            Output::Stream(log) => Box::pin(read_chunks(log)),
            Output::Body(body) => {
                Box::pin(futures::stream::once(async move { Ok(Bytes::from(body)) }))
            }
        },
    };
    let shutdown = state.shutdown.clone();
    Ok(Box::pin(output.take_until(Box::pin(async move {
        shutdown.wait().await
    }))))
}

/// Starts an exec session on `cluster` (the caller checked it is `who`'s): through the
/// agent, or run by the hub itself with the same code for a pull-mode cluster. Dropping the
/// channels' input ends the command's stream.
pub(super) async fn exec(
    state: &AppState,
    who: &Principal,
    cluster: ClusterId,
    request: &ExecRequest,
) -> Result<ExecChannels, ApiError> {
    match route(state, who, cluster).await? {
        Route::Agent(agents) => agents.open_exec(cluster, request).await.map_err(open_error),
        Route::Pull(client) => {
            let process = operations::exec(&client, request)
                .await
                .map_err(operation_error)?;
            let (channels, ends) = operations::exec_channels();
            tokio::spawn(operations::run_exec(process, ends));
            Ok(channels)
        }
    }
}

/// `log` as chunks, read only when the consumer asks for the next one.
fn read_chunks(log: LogStream) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::unfold(Some(log), |log| async move {
        let mut log = log?;
        let mut buf = vec![0u8; CHUNK];
        match log.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(log)))
            }
            Err(err) => Some((Err(err), None)),
        }
    })
}

/// Most bytes of a whole answer (events, an object) the hub takes.
pub(super) const MAX_BODY: usize = 8 * 1024 * 1024;

/// Runs `request` and returns its whole answer, at most [`MAX_BODY`].
pub(super) async fn fetch(
    state: &AppState,
    who: &Principal,
    cluster: ClusterId,
    request: OperationRequest,
) -> Result<Vec<u8>, ApiError> {
    let mut output = stream(state, who, cluster, request).await?;
    let mut body = Vec::new();
    while let Some(chunk) = output.next().await {
        let chunk = chunk
            .map_err(|err| ApiError::ClusterUnavailable(format!("the answer broke off: {err}")))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::Upstream(format!(
                "the cluster's answer is larger than {} MiB",
                MAX_BODY / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn not_connected() -> ApiError {
    ApiError::ClusterUnavailable(OpenError::NotConnected.to_string())
}

fn open_error(err: OpenError) -> ApiError {
    match err {
        OpenError::NotConnected => not_connected(),
        OpenError::TooMany => ApiError::OverLimit(err.to_string()),
        OpenError::Refused(err) => operation_error(err),
        OpenError::Broken(_) => ApiError::ClusterUnavailable(err.to_string()),
    }
}

/// An operation's refusal as the client reads it.
pub(super) fn operation_error(err: OperationError) -> ApiError {
    match err {
        OperationError::NotEnabled(_) => ApiError::Conflict(err.to_string()),
        OperationError::Busy => ApiError::OverLimit(err.to_string()),
        OperationError::BadRequest(message) => ApiError::BadRequest(message),
        OperationError::NotFound(_) => ApiError::NotFound,
        // Kubernetes' 400s describe the request (no previous container, no such container).
        OperationError::Kubernetes { code: 400, message } => ApiError::BadRequest(message),
        OperationError::Kubernetes { .. } => ApiError::Upstream(err.to_string()),
        OperationError::Unavailable(message) => ApiError::ClusterUnavailable(message),
    }
}
