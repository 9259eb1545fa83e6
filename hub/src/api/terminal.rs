//! `GET /api/v1/k8s/pods/{id}/exec`: a terminal in a container, as a WebSocket.
//!
//! Who: admins, and operators where the organization turned `operators_exec` on; never
//! viewers. A browser authenticates with its session cookie, and since a cross-site page can
//! open a WebSocket with the cookie attached (no CORS, no CSRF header on an upgrade), a
//! cookie-authenticated upgrade must come from the hub's own origin (`--public-url`, or the
//! `Host` the request came to); API clients use a bearer token.
//!
//! Messages: binary frames are stdin (client → hub) and the command's output (hub →
//! client); the client's text frames are resizes, `{"type":"resize","cols":120,"rows":40}`;
//! the hub's last text frame is `{"type":"exit","code":0,"message":""}` (code `null` when
//! none is known) before it closes the socket. A session with no byte either way for the
//! idle timeout (`--terminal-idle-timeout-secs`) is closed; each user may hold
//! [`MAX_TERMINALS_PER_USER`] and each organization [`MAX_TERMINALS_PER_ORG`] at once.
//! Every session is audited when it starts (`pod.exec`: container, command) and when it ends
//! (`pod.exec.end`: duration, exit, bytes each way); refusals are audited too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::OrgId;
use kubeworkz_shared::operations::{CLOSED_BY_CLIENT, ExecChannels, check_command};
use kubeworkz_shared::protocol::operations::EXEC_CHUNK;
use kubeworkz_shared::protocol::{ExecExit, ExecInput, ExecOutput, ExecRequest, TerminalSize};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::record_detail;
use super::context::RequestContext;
use super::extract::{ApiPath, Credential, Principal};
use super::inventory::own_object;
use super::operations::operation_error;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Terminals one user may have open at once.
pub const MAX_TERMINALS_PER_USER: usize = 5;
/// Terminals one organization may have open at once.
pub const MAX_TERMINALS_PER_ORG: usize = 50;
/// Largest WebSocket message the hub takes from a terminal client.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// The command when the request names none.
pub const DEFAULT_COMMAND: &str = "sh";

/// The open terminals per user and per organization, so one person or one organization
/// cannot hold every agent's operation slots.
#[derive(Debug, Default)]
pub struct TerminalSessions {
    open: Mutex<HashMap<Owner, usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    User(Uuid),
    Org(OrgId),
}

/// One open terminal's place in [`TerminalSessions`], given back when dropped.
#[derive(Debug)]
struct TerminalSlot {
    sessions: std::sync::Arc<TerminalSessions>,
    owners: [Owner; 2],
}

impl TerminalSessions {
    fn open(sessions: &std::sync::Arc<Self>, who: &Principal) -> Result<TerminalSlot, ApiError> {
        let owners = [Owner::User(who.user_id), Owner::Org(who.org_id)];
        let mut open = sessions.open.lock().expect("terminal sessions lock");
        let count = |owner| open.get(&owner).copied().unwrap_or(0);
        if count(owners[0]) >= MAX_TERMINALS_PER_USER {
            return Err(ApiError::OverLimit(format!(
                "you already have {MAX_TERMINALS_PER_USER} terminals open"
            )));
        }
        if count(owners[1]) >= MAX_TERMINALS_PER_ORG {
            return Err(ApiError::OverLimit(format!(
                "this organization already has {MAX_TERMINALS_PER_ORG} terminals open"
            )));
        }
        for owner in owners {
            *open.entry(owner).or_default() += 1;
        }
        Ok(TerminalSlot {
            sessions: sessions.clone(),
            owners,
        })
    }
}

impl Drop for TerminalSlot {
    fn drop(&mut self) {
        let mut open = self.sessions.open.lock().expect("terminal sessions lock");
        for owner in self.owners {
            if let Some(n) = open.get_mut(&owner) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&owner);
                }
            }
        }
    }
}

/// Which command, where, parsed from the query: `container`, `command` (repeated, one
/// argument each; default `sh`), `tty` (default true), `cols` and `rows`.
#[derive(Debug, PartialEq, Eq)]
struct ExecParams {
    container: Option<String>,
    command: Vec<String>,
    tty: bool,
    size: Option<TerminalSize>,
}

fn parse_params(query: Option<&str>) -> Result<ExecParams, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| ApiError::BadRequest("the query string does not parse".into()))?;
    let mut params = ExecParams {
        container: None,
        command: Vec::new(),
        tty: true,
        size: None,
    };
    let (mut cols, mut rows) = (None, None);
    let cells = |value: &str, what: &str| {
        value
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("{what} must be from 1 to 1000")))
    };
    for (key, value) in pairs {
        match key.as_str() {
            "container" => {
                if value.is_empty() || value.len() > 253 {
                    return Err(ApiError::BadRequest(
                        "container must be a container name of 1 to 253 characters".into(),
                    ));
                }
                params.container = Some(value);
            }
            "command" => params.command.push(value),
            "tty" => {
                params.tty = value
                    .parse()
                    .map_err(|_| ApiError::BadRequest("tty must be true or false".into()))?;
            }
            "cols" => cols = Some(cells(&value, "cols")?),
            "rows" => rows = Some(cells(&value, "rows")?),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter {other:?} (known: container, command, tty, cols, rows)"
                )));
            }
        }
    }
    if params.command.is_empty() {
        params.command.push(DEFAULT_COMMAND.to_owned());
    }
    check_command(&params.command).map_err(operation_error)?;
    params.size = match (cols, rows) {
        (Some(cols), Some(rows)) => Some(TerminalSize { cols, rows }),
        (None, None) => None,
        _ => return Err(ApiError::BadRequest("cols and rows go together".into())),
    };
    Ok(params)
}

/// A cookie-authenticated upgrade must come from the hub's own origin; see the module docs.
fn check_origin(state: &AppState, who: &Principal, headers: &HeaderMap) -> Result<(), ApiError> {
    if !matches!(who.credential, Credential::Session(_)) {
        return Ok(());
    }
    let refused = || {
        ApiError::Forbidden(
            "a browser terminal must be opened from the hub's own pages (Origin)".into(),
        )
    };
    let origin: axum::http::Uri = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(refused)?;
    let origin_host = origin.authority().map(|a| a.as_str()).ok_or_else(refused)?;
    let own_host = match &state.settings.public_url {
        Some(url) => url
            .as_str()
            .parse::<axum::http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.as_str().to_owned())),
        None => headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    match own_host {
        Some(own) if own.eq_ignore_ascii_case(origin_host) => Ok(()),
        _ => Err(refused()),
    }
}

/// A client's text frame.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientMessage {
    Resize { cols: u16, rows: u16 },
}

/// The hub's last text frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ServerMessage<'a> {
    Exit { code: Option<i32>, message: &'a str },
}

/// `GET /api/v1/k8s/pods/{id}/exec` (WebSocket).
#[utoipa::path(get, path = "/api/v1/k8s/pods/{id}/exec", tag = "operations",
    description = "Opens a terminal in a container: a WebSocket upgrade (`Connection: Upgrade`, \
        `Upgrade: websocket`). Binary frames carry stdin and the command's output; a text frame \
        `{\"type\":\"resize\",\"cols\":120,\"rows\":40}` resizes; the hub's last text frame is \
        `{\"type\":\"exit\",\"code\":0,\"message\":\"\"}`. Admins, and operators where the \
        organization enables `operators_exec`. A browser (session cookie) must send the hub's \
        own `Origin`. Closed after `--terminal-idle-timeout-secs` without a byte either way.",
    params(("id" = String, Path, description = "Pod id (its Kubernetes uid)"),
        ("container" = Option<String>, Query, description = "The container; may be left out for \
            a pod with one container"),
        ("command" = Option<Vec<String>>, Query, description = "The command, one argument per \
            repeated `command` (default `sh`; at most 64 arguments, 8 KiB)"),
        ("tty" = Option<bool>, Query, description = "Allocate a terminal (default true; stderr \
            then arrives with stdout)"),
        ("cols" = Option<u16>, Query, description = "Initial columns (1 to 1000), with rows"),
        ("rows" = Option<u16>, Query, description = "Initial rows (1 to 1000), with cols")),
    responses(
        (status = 101, description = "Switching protocols: the terminal's WebSocket"),
        (status = 400, body = ErrorBody, description = "Bad parameters, not a WebSocket \
            upgrade, or Kubernetes refused the request (no such container)"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin (or an operator where \
            the organization enables it), or a browser upgrade from another origin"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not enabled in the agent's chart \
            (`operations.exec`), or the cluster is disabled"),
        (status = 429, body = ErrorBody, description = "Too many terminals for this user or \
            organization, or operations for this cluster"),
        (status = 502, body = ErrorBody, description = "The cluster's API failed the request"),
        (status = 503, body = ErrorBody, description = "Agent not connected, or the cluster \
            cannot be reached")))]
pub(super) async fn pod_exec(
    State(state): State<AppState>,
    who: Principal,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let mut target = format!("pod:{id}");
    let started = async {
        check_origin(&state, &who, &headers)?;
        super::switches::may_exec(&state, &who).await?;
        let params = parse_params(query.as_deref())?;
        let upgrade = upgrade.map_err(|_| {
            ApiError::BadRequest("this endpoint answers WebSocket upgrades only".into())
        })?;
        let pod = own_object(&state, &who, ObjectKind::Pod, &id).await?;
        target = format!(
            "cluster:{}/{}/pod/{}",
            pod.cluster_id, pod.namespace, pod.name
        );
        let slot = TerminalSessions::open(&state.terminals, &who)?;
        let request = ExecRequest {
            namespace: pod.namespace,
            pod: pod.name,
            container: params.container,
            command: params.command,
            tty: params.tty,
            size: params.size,
        };
        let channels = super::operations::exec(&state, &who, pod.cluster_id, &request).await?;
        Ok::<_, ApiError>((upgrade, request, channels, slot))
    }
    .await;
    let (upgrade, request, channels, slot) = match started {
        Ok(started) => started,
        Err(err) => {
            let outcome = format!("failure: {}", err.status_and_code().1);
            audit(
                &state,
                &who,
                &ctx,
                ("pod.exec", &target),
                outcome,
                err.to_string(),
            )
            .await;
            return Err(err);
        }
    };
    let detail = format!(
        "started: container {}, command {:?}{}",
        request.container.as_deref().unwrap_or("(the only one)"),
        request.command,
        if request.tty { ", with a terminal" } else { "" }
    );
    audit(
        &state,
        &who,
        &ctx,
        ("pod.exec", &target),
        "success".into(),
        detail,
    )
    .await;
    let idle = state.settings.terminal_idle_timeout;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            let opened = Instant::now();
            let end = run_session(socket, channels, idle, &state).await;
            drop(slot);
            let detail = format!(
                "ended after {:.1} s: {}; {} bytes in, {} bytes out",
                opened.elapsed().as_secs_f64(),
                describe(&end.exit),
                end.bytes_in,
                end.bytes_out
            );
            tracing::info!(%target, %detail, "terminal closed");
            let what = ("pod.exec.end", target.as_str());
            audit(&state, &who, &ctx, what, "success".into(), detail).await;
        }))
}

/// One audit entry of a session (`pod.exec` or `pod.exec.end`) with its detail.
async fn audit(
    state: &AppState,
    who: &Principal,
    ctx: &RequestContext,
    what: (&str, &str),
    outcome: String,
    detail: String,
) {
    record_detail(
        state,
        who.org_id,
        &who.actor,
        ctx,
        what,
        outcome,
        Some(detail),
    )
    .await;
}

fn describe(exit: &ExecExit) -> String {
    match (exit.code, exit.message.as_str()) {
        (Some(code), "") => format!("exit code {code}"),
        (Some(code), message) => format!("exit code {code} ({message})"),
        (None, message) => message.to_owned(),
    }
}

/// How a session ended and what it carried.
struct SessionEnd {
    exit: ExecExit,
    bytes_in: u64,
    bytes_out: u64,
}

/// Carries one session between the socket and the command until either ends, the idle
/// timeout passes or the hub shuts down. Holds at most one client message (at most
/// [`MAX_CLIENT_MESSAGE`]) not yet taken by the command: the socket is not read meanwhile.
async fn run_session(
    mut socket: WebSocket,
    channels: ExecChannels,
    idle: Duration,
    state: &AppState,
) -> SessionEnd {
    let ExecChannels { input, mut output } = channels;
    let mut end = SessionEnd {
        exit: ExecExit {
            code: None,
            message: String::new(),
        },
        bytes_in: 0,
        bytes_out: 0,
    };
    let mut waiting: std::collections::VecDeque<ExecInput> = std::collections::VecDeque::new();
    let mut last = tokio::time::Instant::now();
    let ended = |message: String| ExecExit {
        code: None,
        message,
    };
    end.exit = loop {
        tokio::select! {
            permit = input.reserve(), if !waiting.is_empty() => match permit {
                Ok(permit) => permit.send(waiting.pop_front().expect("a waiting input")),
                // The command ended; its exit is on the way.
                Err(_) => waiting.clear(),
            },
            message = socket.recv(), if waiting.is_empty() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    last = tokio::time::Instant::now();
                    end.bytes_in += bytes.len() as u64;
                    waiting.extend(bytes.chunks(EXEC_CHUNK).map(|c| ExecInput::Stdin(c.to_vec())));
                }
                Some(Ok(Message::Text(text))) => {
                    last = tokio::time::Instant::now();
                    match serde_json::from_str::<ClientMessage>(text.as_str()) {
                        Ok(ClientMessage::Resize { cols, rows }) => {
                            waiting.push_back(ExecInput::Resize(TerminalSize { cols, rows }));
                        }
                        Err(err) => tracing::debug!(error = %err, "an unknown terminal message"),
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    let _ = input.try_send(ExecInput::Close);
                    break ended(CLOSED_BY_CLIENT.into());
                }
            },
            out = output.recv() => {
                let bytes = match out {
                    Some(ExecOutput::Stdout(bytes) | ExecOutput::Stderr(bytes)) => bytes,
                    Some(ExecOutput::Exit(exit)) => break exit,
                    None => break ended("the session broke off".into()),
                };
                last = tokio::time::Instant::now();
                end.bytes_out += bytes.len() as u64;
                // A client that stops reading for the idle timeout ends the session.
                let sent = tokio::time::timeout(idle, socket.send(Message::Binary(bytes.into()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break ended("the client stopped reading".into());
                }
            },
            () = tokio::time::sleep_until(last + idle) => {
                break ended(format!("idle for {} s: closed by the hub", idle.as_secs()));
            },
            () = state.shutdown.wait() => break ended("the hub shut down".into()),
        }
    };
    drop(input);
    let exit = ServerMessage::Exit {
        code: end.exit.code,
        message: &end.exit.message,
    };
    if let Ok(text) = serde_json::to_string(&exit) {
        let last_words = async {
            socket.send(Message::Text(text.into())).await?;
            socket.send(Message::Close(None)).await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), last_words).await;
    }
    end
}

#[cfg(test)]
mod tests;
