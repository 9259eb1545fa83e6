//! Per-request context: the request id (accepted from `x-request-id` when sane, else a new
//! UUID), the client address, and whether the client reached us over TLS (both through
//! trusted proxies only, `forwarded.rs`). The middleware also counts responses for
//! `/metrics`, scopes the id for error bodies and marks every response `nosniff`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::forwarded::client_origin;
use crate::error::{ApiError, REQUEST_ID};
use crate::state::AppState;

/// Header carrying the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler may want to know about the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id (also in the response header and in error bodies).
    pub request_id: String,
    /// The client's address, when the server knows it: the TCP peer, or what a trusted
    /// proxy says.
    pub source_ip: Option<IpAddr>,
    /// The client reached the hub over TLS (directly or through a trusted proxy that says
    /// so), so cookies get `Secure`.
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

/// The middleware; see the module docs.
pub(crate) async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = incoming_id(request.headers()).unwrap_or_else(|| Uuid::new_v4().to_string());
    let direct_tls = request.uri().scheme_str() == Some("https");
    let origin = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| {
            client_origin(
                info.0.ip(),
                request.headers(),
                direct_tls,
                &state.settings.trusted_proxies,
            )
        });
    let source_ip = origin.map(|o| o.address);
    let secure = origin.map_or(direct_tls, |o| o.https);
    request.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        source_ip,
        secure,
    });
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .await;
    state.metrics.record(response.status());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    // No response is ever meant to be sniffed into another type (HTML from JSON, say).
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Bounds the time until a route's response starts, reading the request body included, so
/// a client trickling a body cannot hold a handler. Streaming routes are added to the
/// router after this layer and are not bounded.
pub(crate) async fn request_timeout(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.settings.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = ApiError::RequestTimeout(limit).into_response();
            // The rest of a half-sent body may still be on its way: start over cleanly.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
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
