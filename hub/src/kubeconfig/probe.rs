//! The connection test of a kubeconfig: read the server version and list a few nodes, through
//! the pull-mode client (so under the egress policy).
//!
//! Its errors say what a person needs to fix the kubeconfig — the address tried and whether
//! the policy refused it, it did not resolve, nothing listened, it timed out, TLS failed, or
//! the server refused the credentials — and never what the server sent beyond a Kubernetes
//! `Status` message: anything else might be a page of an internal service the registration
//! was aimed at, so only its HTTP status and a hint come back.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::core::ObjectList;
use serde::de::DeserializeOwned;

use super::{KubeconfigError, ValidatedKubeconfig};
use crate::pull::connector::PullClient;
use crate::pull::egress::{ConnectError, EgressPolicy, Target};

/// Largest answer read from a server under test (50 nodes are well under it).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Longest part of a server's `Status` message repeated in an error.
const MAX_STATUS_MESSAGE_CHARS: usize = 300;

/// What the connection test learned about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProbe {
    /// The API server's `gitVersion`, used for provider detection.
    pub git_version: String,
    /// Up to 50 nodes, projected: their labels and provider ids name the provider.
    pub nodes: Vec<kubeworkz_shared::model::NodeProjection>,
}

/// A request of the test: its path and, for a 403, what the credentials may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeRequest {
    /// Path and query.
    pub path: &'static str,
    /// What it does, as in "may not …".
    pub action: &'static str,
}

const VERSION: ProbeRequest = ProbeRequest {
    path: "/version",
    action: "read the server version",
};
const NODES: ProbeRequest = ProbeRequest {
    path: "/api/v1/nodes?limit=50",
    action: "list nodes",
};

/// Why the connection test failed. Safe to show and log: no credentials, and nothing the
/// server sent but a Kubernetes `Status` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Refused by policy, no DNS answer, nothing listening, or no TCP connection in time.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The TLS handshake failed.
    #[error("{target}: TLS failed: {reason}")]
    Tls {
        /// Endpoint and address.
        target: Target,
        /// What went wrong, in words.
        reason: String,
    },
    /// HTTP 401.
    #[error("{target}: the server rejected the credentials (HTTP 401 Unauthorized){}", suffix(.message.as_deref()))]
    Unauthorized {
        /// Endpoint and address.
        target: Target,
        /// The `Status` message, if the answer was one.
        message: Option<String>,
    },
    /// HTTP 403.
    #[error("{target}: the credentials may not {} (HTTP 403 Forbidden){}", .request.action, suffix(.message.as_deref()))]
    Forbidden {
        /// Endpoint and address.
        target: Target,
        /// The request refused.
        request: ProbeRequest,
        /// The `Status` message, if the answer was one.
        message: Option<String>,
    },
    /// Another HTTP error answered with a Kubernetes `Status`.
    #[error("{target}: GET {} answered HTTP {code}: {message}", .request.path)]
    Status {
        /// Endpoint and address.
        target: Target,
        /// The request.
        request: ProbeRequest,
        /// HTTP status code.
        code: u16,
        /// The `Status` message.
        message: String,
    },
    /// An answer that is neither what was asked for nor a Kubernetes `Status`.
    #[error("{target}: GET {} answered HTTP {code} without a Kubernetes answer (not a Kubernetes API server?)", .request.path)]
    NotKubernetes {
        /// Endpoint and address.
        target: Target,
        /// The request.
        request: ProbeRequest,
        /// HTTP status code.
        code: u16,
    },
    /// Connected, but no complete answer within the test's time.
    #[error("{target}: no answer within {seconds} s")]
    NoAnswer {
        /// Endpoint and address (if a connection was made).
        target: Target,
        /// The test's timeout.
        seconds: u64,
    },
    /// The connection broke (closed early, reset, …).
    #[error("{target}: {reason}")]
    Transport {
        /// Endpoint and address.
        target: Target,
        /// The innermost error, which describes the connection, not the server's answer.
        reason: String,
    },
}

fn suffix(message: Option<&str>) -> String {
    message.map_or_else(String::new, |m| format!(": {m}"))
}

/// Tests the connection under `policy`: reads the server version and lists nodes, within
/// `timeout`. Nothing is contacted when the policy refuses the server's addresses.
pub async fn probe(
    kubeconfig: &ValidatedKubeconfig,
    policy: Arc<EgressPolicy>,
    timeout: Duration,
) -> Result<ServerProbe, KubeconfigError> {
    let pull = kubeconfig.pull_client(policy, Some(timeout)).await?;
    let attempt = async {
        let (code, body) = get(&pull, VERSION).await?;
        let version = version_answer(pull.target(), code, &body)?;
        let (code, body) = get(&pull, NODES).await?;
        let nodes: ObjectList<Node> = answer(pull.target(), NODES, code, &body)?;
        Ok(ServerProbe {
            git_version: version.git_version,
            nodes: nodes.items.iter().map(Into::into).collect(),
        })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result.map_err(KubeconfigError::Connection),
        Err(_) => Err(KubeconfigError::Connection(ProbeError::NoAnswer {
            target: pull.target(),
            seconds: timeout.as_secs(),
        })),
    }
}

/// One GET: the answer's status and body (read up to [`MAX_ANSWER_BYTES`]).
async fn get(
    pull: &PullClient,
    request: ProbeRequest,
) -> Result<(http::StatusCode, Vec<u8>), ProbeError> {
    let http_request = http::Request::get(request.path)
        .body(kube::client::Body::from(Vec::new()))
        .expect("a static path is a valid request");
    let response = pull
        .client
        .send(http_request)
        .await
        .map_err(|e| classify(&e, pull.target()))?;
    let code = response.status();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|_| ProbeError::Transport {
            target: pull.target(),
            reason: format!(
                "GET {} answered HTTP {} and its body could not be read within {MAX_ANSWER_BYTES} bytes",
                request.path,
                code.as_u16()
            ),
        })?
        .to_bytes();
    Ok((code, body.to_vec()))
}

/// Judges the answer to `GET /version`: every field of `Info` has a default, so any JSON
/// object would decode; an API server always names its `gitVersion`.
pub fn version_answer(
    target: Target,
    code: http::StatusCode,
    body: &[u8],
) -> Result<Info, ProbeError> {
    let info: Info = answer(target.clone(), VERSION, code, body)?;
    if info.git_version.is_empty() {
        return Err(ProbeError::NotKubernetes {
            target,
            request: VERSION,
            code: code.as_u16(),
        });
    }
    Ok(info)
}

/// Judges an answer: the value on success, else the typed error (pure, so tested alone).
pub fn answer<T: DeserializeOwned>(
    target: Target,
    request: ProbeRequest,
    code: http::StatusCode,
    body: &[u8],
) -> Result<T, ProbeError> {
    if code.is_success() {
        // The parser's message may quote the body: it is never shown.
        return serde_json::from_slice(body).map_err(|_| ProbeError::NotKubernetes {
            target,
            request,
            code: code.as_u16(),
        });
    }
    let message = status_message(body);
    Err(match code.as_u16() {
        401 => ProbeError::Unauthorized { target, message },
        403 => ProbeError::Forbidden {
            target,
            request,
            message,
        },
        code => match message {
            Some(message) => ProbeError::Status {
                target,
                request,
                code,
                message,
            },
            None => ProbeError::NotKubernetes {
                target,
                request,
                code,
            },
        },
    })
}

/// The message of a Kubernetes `Status` body (`kind: Status`, `apiVersion: v1`), shortened
/// and on one line; `None` for any other body.
fn status_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        kind: String,
        api_version: String,
        #[serde(default)]
        message: String,
    }
    let status: Status = serde_json::from_slice(body).ok()?;
    if status.kind != "Status" || status.api_version != "v1" || status.message.trim().is_empty() {
        return None;
    }
    let mut message: String = status
        .message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_STATUS_MESSAGE_CHARS)
        .collect();
    if status.message.chars().count() > MAX_STATUS_MESSAGE_CHARS {
        message.push('…');
    }
    Some(message.trim().to_owned())
}

/// Names a failed request by the first cause the hub recognizes: the connector's own error,
/// a TLS error, or else the innermost cause (hyper's and the OS's words about the connection).
fn classify(err: &kube::Error, target: Target) -> ProbeError {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut innermost = err.to_string();
    while let Some(current) = next {
        if let Some(connect) = current.downcast_ref::<ConnectError>() {
            return ProbeError::Connect(connect.clone());
        }
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return ProbeError::Tls {
                target,
                reason: tls_reason(tls),
            };
        }
        innermost = current.to_string();
        // An io::Error's `source` skips the error it wraps; TLS errors travel wrapped.
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    ProbeError::Transport {
        target,
        reason: innermost,
    }
}

fn tls_reason(err: &rustls::Error) -> String {
    use rustls::CertificateError as Cert;
    match err {
        // A bad signature under a trusted issuer's name is another CA of that name.
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => {
            "the server's certificate is not signed by the kubeconfig's certificate-authority-data"
                .into()
        }
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => "the server's certificate is not valid for this host name".into(),
        rustls::Error::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        rustls::Error::InvalidCertificate(other) => {
            format!("the server's certificate is not acceptable ({other:?})")
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not answer with TLS (not an HTTPS port?)".into()
        }
        rustls::Error::AlertReceived(alert) => format!(
            "the server ended the handshake ({alert:?}; does it accept the client certificate?)"
        ),
        other => format!("handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pull::egress::Endpoint;

    fn target() -> Target {
        Target {
            endpoint: Endpoint {
                host: "kube.internal".into(),
                port: 6443,
            },
            address: Some("10.0.0.7".parse().unwrap()),
        }
    }

    fn judge(code: u16, body: &str) -> Result<Info, ProbeError> {
        version_answer(
            target(),
            http::StatusCode::from_u16(code).unwrap(),
            body.as_bytes(),
        )
    }

    const MARKER: &str = "internal-admin-page-marker";

    #[test]
    fn bodies_that_are_not_kubernetes_are_never_repeated() {
        let html = format!("<html><body>{MARKER}</body></html>");
        for code in [200, 404, 500, 302] {
            let err = judge(code, &html).unwrap_err();
            let message = err.to_string();
            assert!(!message.contains(MARKER), "{message}");
            assert_eq!(
                message,
                format!(
                    "kube.internal:6443 (resolved to 10.0.0.7): GET /version answered HTTP {code} \
                     without a Kubernetes answer (not a Kubernetes API server?)"
                )
            );
        }
        // JSON that is not a Status (or a Status of another kind) is not one either.
        for body in [
            format!(r#"{{"message":"{MARKER}"}}"#),
            format!(r#"{{"kind":"Page","apiVersion":"v1","message":"{MARKER}"}}"#),
            format!(r#"{{"gitVersion": 5, "note": "{MARKER}"}}"#),
        ] {
            for code in [200, 401, 403, 500] {
                let message = judge(code, &body).unwrap_err().to_string();
                assert!(!message.contains(MARKER), "{code}: {message}");
            }
        }
    }

    #[test]
    fn kubernetes_status_messages_are_shown() {
        let status = |code: u16, message: &str| {
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": message, "code": code})
            .to_string()
        };
        let forbidden = answer::<Info>(
            target(),
            NODES,
            http::StatusCode::FORBIDDEN,
            status(
                403,
                "nodes is forbidden: User \"bob\" cannot list resource \"nodes\"",
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            forbidden.to_string(),
            "kube.internal:6443 (resolved to 10.0.0.7): the credentials may not list nodes \
             (HTTP 403 Forbidden): nodes is forbidden: User \"bob\" cannot list resource \"nodes\""
        );
        let unauthorized = judge(401, &status(401, "Unauthorized")).unwrap_err();
        assert_eq!(
            unauthorized.to_string(),
            "kube.internal:6443 (resolved to 10.0.0.7): the server rejected the credentials \
             (HTTP 401 Unauthorized): Unauthorized"
        );
        let plain_401 = judge(401, "no").unwrap_err().to_string();
        assert!(
            plain_401.ends_with("(HTTP 401 Unauthorized)"),
            "{plain_401}"
        );
        let other = judge(503, &status(503, "etcd is down")).unwrap_err();
        assert!(
            other
                .to_string()
                .ends_with("GET /version answered HTTP 503: etcd is down"),
            "{other}"
        );
        let long = "x".repeat(1000);
        let message = judge(500, &status(500, &long)).unwrap_err().to_string();
        assert!(message.ends_with('…') && message.len() < 500, "{message}");
    }

    #[test]
    fn a_version_answer_is_decoded() {
        let info = judge(200, r#"{"major":"1","minor":"36","gitVersion":"v1.36.3"}"#).unwrap();
        assert_eq!(info.git_version, "v1.36.3");
    }
}
