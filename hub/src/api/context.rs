//! Per-request context: the request id (accepted from `x-request-id` when sane, else a new
//! UUID), the client address, and whether the client reached us over TLS. The middleware
//! also counts responses for `/metrics` and scopes the id for error bodies.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use crate::error::{ApiError, REQUEST_ID};
use crate::state::AppState;

/// Header carrying the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler may want to know about the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id (also in the response header and in error bodies).
    pub request_id: String,
    /// The client's address, when the server knows it.
    pub source_ip: Option<IpAddr>,
    /// The client reached the hub over TLS (directly or through a proxy that says so), so
    /// cookies get `Secure`.
    pub secure: bool,
}

fn incoming_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    sane.then(|| id.to_owned())
}

fn is_tls(request: &Request) -> bool {
    request.uri().scheme_str() == Some("https")
        || request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The middleware; see the module docs.
pub(crate) async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = incoming_id(request.headers()).unwrap_or_else(|| Uuid::new_v4().to_string());
    let source_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let secure = is_tls(&request);
    request.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        source_ip,
        secure,
    });
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .await;
    state.metrics.record(response.status());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("request context middleware missing"))
            })
    }
}
