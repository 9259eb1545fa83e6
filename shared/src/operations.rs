//! Carrying out operations against a cluster with a kube client: the one implementation the
//! agent runs for the hub and the hub runs itself for pull-mode clusters, so both modes
//! answer the same request the same way. Transport-free: callers move the bytes.

use std::collections::BTreeSet;
use std::pin::Pin;

use futures::AsyncBufRead;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;

use crate::protocol::{LogsRequest, Operation, OperationError, OperationRequest};

mod actions;
mod exec;
mod objects;

pub use actions::{ActionOutcome, RESTARTED_AT, delete_pod, restart, scale};
pub use exec::{
    CLOSED_BY_CLIENT, EXEC_QUEUE, ExecChannels, ExecEnds, ExecProcess, MAX_EXEC_ARGS,
    MAX_EXEC_COMMAND_BYTES, bridge, check_command, exec, exec_channels, exit_of, run_exec,
};
pub use objects::{EventSummary, MAX_EVENTS, events, object};

/// A log's bytes as Kubernetes sends them; dropping it closes the Kubernetes stream.
pub type LogStream = Pin<Box<dyn AsyncBufRead + Send>>;

/// What an operation answers: a stream (a log) or a whole body (JSON).
pub enum Output {
    /// Bytes as they arrive.
    Stream(LogStream),
    /// The whole answer.
    Body(Vec<u8>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stream(_) => f.write_str("Output::Stream"),
            Self::Body(body) => write!(f, "Output::Body({} bytes)", body.len()),
        }
    }
}

/// Runs `request` with `client`: what the agent does for the hub and the hub does for a
/// pull-mode cluster.
pub async fn run(
    client: &kube::Client,
    request: &OperationRequest,
) -> Result<Output, OperationError> {
    match request {
        OperationRequest::Logs(logs_request) => {
            logs(client, logs_request).await.map(Output::Stream)
        }
        OperationRequest::Events(target) => {
            let found = events(client, target).await?;
            serde_json::to_vec(&found)
                .map(Output::Body)
                .map_err(|err| OperationError::Unavailable(format!("cannot encode events: {err}")))
        }
        OperationRequest::Object(target) => object(client, target).await.map(Output::Body),
        OperationRequest::Scale(request) => outcome(scale(client, request).await?),
        OperationRequest::Restart(target) => outcome(restart(client, target).await?),
        OperationRequest::DeletePod(target) => outcome(delete_pod(client, target).await?),
        // A session, not an answer: callers run it with `exec` and `run_exec`.
        OperationRequest::Exec(_) => Err(OperationError::BadRequest(
            "an exec is a session: open it with exec".into(),
        )),
    }
}

fn outcome(outcome: ActionOutcome) -> Result<Output, OperationError> {
    serde_json::to_vec(&outcome)
        .map(Output::Body)
        .map_err(|err| OperationError::Unavailable(format!("cannot encode the outcome: {err}")))
}

/// The operations an agent's chart enabled (`KUBEWORKZ_OPERATIONS`, comma-separated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationSet(BTreeSet<Operation>);

/// A name in an operation list that is no operation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown operation {0:?} (known: logs, events, objects, actions, exec)")]
pub struct UnknownOperation(pub String);

impl OperationSet {
    /// Every operation (pull mode: the kubeconfig's own rights decide).
    pub fn all() -> Self {
        Self(Operation::ALL.into_iter().collect())
    }

    /// Parses `logs,events`; blanks around names and empty items are ignored.
    pub fn parse(list: &str) -> Result<Self, UnknownOperation> {
        let mut set = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let op = Operation::parse(name).ok_or_else(|| UnknownOperation(name.to_owned()))?;
            set.insert(op);
        }
        Ok(Self(set))
    }

    /// Whether `op` is enabled.
    pub fn allows(&self, op: Operation) -> bool {
        self.0.contains(&op)
    }

    /// The enabled operations, by name.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|op| op.as_str()).collect()
    }
}

/// Opens the log `request` names. Without `follow` the stream ends with the log; with it,
/// it stays open until the container stops or the stream is dropped.
pub async fn logs(
    client: &kube::Client,
    request: &LogsRequest,
) -> Result<LogStream, OperationError> {
    let signed = |value: Option<u64>, what: &str| {
        value
            .map(i64::try_from)
            .transpose()
            .map_err(|_| OperationError::BadRequest(format!("{what} is too large")))
    };
    let params = LogParams {
        container: request.container.clone(),
        follow: request.follow,
        previous: request.previous,
        timestamps: request.timestamps,
        tail_lines: signed(request.tail_lines, "tailLines")?,
        since_seconds: signed(request.since_seconds, "sinceSeconds")?,
        ..LogParams::default()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &request.namespace);
    let stream = pods
        .log_stream(&request.pod, &params)
        .await
        .map_err(kube_error)?;
    Ok(Box::pin(stream))
}

/// A kube error as an [`OperationError`]: the API's status and message (they name objects,
/// never credentials), or the connection failure.
pub fn kube_error(err: kube::Error) -> OperationError {
    match err {
        kube::Error::Api(status) if status.code == 404 => OperationError::NotFound(status.message),
        kube::Error::Api(status) => OperationError::Kubernetes {
            code: status.code,
            message: status.message,
        },
        other => OperationError::Unavailable(format!("cannot reach the cluster: {other}")),
    }
}

#[cfg(test)]
mod tests;
