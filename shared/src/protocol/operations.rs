//! Operations: requests the hub makes of an agent (logs, events, objects and workload
//! actions; exec follows the same shape).
//!
//! The hub opens one bidirectional QUIC stream per request on the agent's connection, so a
//! slow or long request (a followed log) never holds up the control stream or another
//! request, and QUIC's per-stream flow control is the backpressure: the agent writes only as
//! fast as the hub reads, and the hub reads only as fast as its HTTP client does. On the
//! stream the hub writes one [`OperationRequest`] frame (at most [`MAX_REQUEST_FRAME`]) and
//! finishes its side; the agent answers one [`OperationResponse`] frame (at most
//! [`MAX_RESPONSE_FRAME`]) and, when it is [`OperationResponse::Streaming`], the operation's
//! raw bytes (log text) until it finishes the stream. Either side ends an operation early by
//! stopping or resetting the stream: the hub when its client went away, the agent when
//! Kubernetes ended the stream with an error.
//!
//! An exec ([`OperationRequest::Exec`], a terminal) is the one two-way operation: after the
//! agent's [`OperationResponse::Streaming`] the hub keeps writing [`ExecInput`] frames
//! (stdin, resizes, close) and the agent writes [`ExecOutput`] frames (stdout, stderr and
//! last the exit), each at most [`MAX_EXEC_FRAME`]. Finishing or stopping either direction
//! ends the session: the agent drops the Kubernetes exec stream at once.
//!
//! The same wire rules as the envelopes apply: variants and fields are only appended, and
//! `operations/tests.rs` pins the bytes of every variant.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest request frame the agent reads.
pub const MAX_REQUEST_FRAME: u32 = 64 * 1024;
/// Largest response header frame the hub reads.
pub const MAX_RESPONSE_FRAME: u32 = 64 * 1024;

/// Hub → agent, the first and only frame the hub writes on an operation's stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationRequest {
    /// A container's log, answered with its text.
    Logs(LogsRequest),
    /// The events about an object, answered with a JSON array of
    /// `kubeworkz_shared::operations::EventSummary`.
    Events(ObjectRequest),
    /// An object as the cluster has it now, answered with its JSON without `managedFields`.
    Object(ObjectRequest),
    /// Sets a deployment's replicas through its `scale` subresource, answered with the JSON
    /// of `kubeworkz_shared::operations::ActionOutcome`.
    Scale(ScaleRequest),
    /// Restarts a deployment's pods as `kubectl rollout restart` does (a new
    /// `kubectl.kubernetes.io/restartedAt` annotation on its pod template), answered like
    /// [`OperationRequest::Scale`].
    Restart(NamedObject),
    /// Deletes a pod (its controller, if any, makes a new one), answered like
    /// [`OperationRequest::Scale`].
    DeletePod(NamedObject),
    /// Runs a command in a container, its stdin, stdout and stderr carried as
    /// [`ExecInput`] and [`ExecOutput`] frames on the same stream.
    Exec(ExecRequest),
}

impl OperationRequest {
    /// The chart switch this request needs.
    pub fn operation(&self) -> Operation {
        match self {
            Self::Logs(_) => Operation::Logs,
            Self::Events(_) => Operation::Events,
            Self::Object(_) => Operation::Objects,
            Self::Scale(_) | Self::Restart(_) | Self::DeletePod(_) => Operation::Actions,
            Self::Exec(_) => Operation::Exec,
        }
    }
}

/// The kinds whose events and live objects the hub may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LiveKind {
    /// core/v1 Pod.
    Pod,
    /// apps/v1 Deployment.
    Deployment,
    /// core/v1 Node.
    Node,
    /// core/v1 Namespace.
    Namespace,
}

/// One object of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRequest {
    /// Its kind.
    pub kind: LiveKind,
    /// Its namespace; empty for nodes and namespaces.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A namespaced object named by the kind its request implies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedObject {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A deployment's new replica count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleRequest {
    /// The deployment.
    pub deployment: NamedObject,
    /// How many pods it should run.
    pub replicas: u32,
}

/// Which log to read, as `kubectl logs` takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container; `None` for a pod's only container.
    pub container: Option<String>,
    /// Keep the stream open and send new lines as they are written.
    pub follow: bool,
    /// Only this many lines from the end.
    pub tail_lines: Option<u64>,
    /// Only lines written this many seconds ago or later.
    pub since_seconds: Option<u64>,
    /// The previous (terminated) container's log: what explains a crash loop.
    pub previous: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
}

/// Largest [`ExecInput`] or [`ExecOutput`] frame either side reads.
pub const MAX_EXEC_FRAME: u32 = 64 * 1024;

/// Most bytes of stdin, stdout or stderr one exec frame carries (well under
/// [`MAX_EXEC_FRAME`]).
pub const EXEC_CHUNK: usize = 16 * 1024;

/// A command to run in a container, as `kubectl exec` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container; `None` for a pod's only container.
    pub container: Option<String>,
    /// The command and its arguments (no shell unless the command is one).
    pub command: Vec<String>,
    /// Allocate a terminal (stdout and stderr then arrive together as stdout).
    pub tty: bool,
    /// The terminal's size at the start, with `tty`.
    pub size: Option<TerminalSize>,
}

/// A terminal's size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// Hub → agent after an exec started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecInput {
    /// Bytes for the command's stdin (at most [`EXEC_CHUNK`]).
    Stdin(Vec<u8>),
    /// The terminal was resized.
    Resize(TerminalSize),
    /// The person closed the terminal: end the command's stream now.
    Close,
}

/// Agent → hub after an exec started; [`ExecOutput::Exit`] is the last frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecOutput {
    /// Bytes the command wrote to stdout (with a terminal: to the terminal).
    Stdout(Vec<u8>),
    /// Bytes the command wrote to stderr.
    Stderr(Vec<u8>),
    /// The command ended, or its stream did.
    Exit(ExecExit),
}

/// How an exec ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecExit {
    /// The command's exit code, when Kubernetes reported one.
    pub code: Option<i32>,
    /// Kubernetes' message when the command failed or the stream broke; empty on success.
    pub message: String,
}

/// Agent → hub, the first frame on an operation's stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationResponse {
    /// The operation runs; its bytes follow until the stream finishes.
    Streaming,
    /// The operation did not start.
    Failed(OperationError),
}

/// A chart switch: what an agent may do for the hub besides reporting inventory. Each is one
/// `operations.*` value of the agent chart, granting the RBAC it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    /// `operations.logs`: read pod logs (`pods/log`).
    Logs,
    /// `operations.events`: list events (`events`).
    Events,
    /// `operations.objects`: read an object's live definition (the `list` the collector
    /// already has).
    Objects,
    /// `operations.actions`: scale and restart deployments (`deployments/scale`, `patch` on
    /// deployments) and delete pods (`delete` on pods).
    Actions,
    /// `operations.exec`: open a terminal in a container (`pods/exec`).
    Exec,
}

impl Operation {
    /// Every operation, in the order the chart lists them.
    pub const ALL: [Operation; 5] = [
        Operation::Logs,
        Operation::Events,
        Operation::Objects,
        Operation::Actions,
        Operation::Exec,
    ];

    /// The name in the chart (`operations.<name>`) and in `KUBEWORKZ_OPERATIONS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logs => "logs",
            Self::Events => "events",
            Self::Objects => "objects",
            Self::Actions => "actions",
            Self::Exec => "exec",
        }
    }

    /// The operation named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operation did not start. The texts are safe to show to the person who asked: they
/// name objects and switches, never credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum OperationError {
    /// The agent was installed without this operation's chart switch.
    #[error("not enabled in this agent's chart (operations.{0})")]
    NotEnabled(Operation),
    /// The agent is already running as many operations as it allows.
    #[error("too many operations for this cluster")]
    Busy,
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    BadRequest(String),
    /// The object does not exist in the cluster.
    #[error("{0}")]
    NotFound(String),
    /// The Kubernetes API refused or failed the request (its status code and message).
    #[error("kubernetes answered {code}: {message}")]
    Kubernetes {
        /// HTTP status code of the Kubernetes API.
        code: u16,
        /// Its message.
        message: String,
    },
    /// The cluster could not be reached, or the stream broke.
    #[error("{0}")]
    Unavailable(String),
}

#[cfg(test)]
mod tests;
