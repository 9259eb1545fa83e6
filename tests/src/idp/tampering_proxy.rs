//! A reverse proxy in front of Dex for the "bad signature" case: Dex announces the proxy's
//! URL as its issuer ([`DexSpec::public_issuer`](super::DexSpec::public_issuer)), so the hub
//! reaches discovery, keys, authorization and the token endpoint only through it. Every
//! request and answer passes through unchanged, except that while tampering is on the
//! token endpoint's `id_token` comes back with one character of its signature changed: the
//! token is then Dex's in every claim and fails only its signature check.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, anyhow};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Bodies larger than this are not Dex's and are refused.
const MAX_BODY: usize = 4 << 20;

/// A running proxy on loopback, stopped on drop.
#[derive(Debug)]
pub struct TamperingProxy {
    port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    upstream: OnceLock<String>,
    tamper: AtomicBool,
    tampered: AtomicUsize,
    http: reqwest::Client,
}

impl TamperingProxy {
    /// Listens on a free loopback port; requests fail with 502 until
    /// [`forward_to`](Self::forward_to) names where to send them (Dex needs the proxy's URL
    /// before it starts, the proxy needs Dex's after).
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the tampering proxy")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream: OnceLock::new(),
            tamper: AtomicBool::new(false),
            tampered: AtomicUsize::new(0),
            // Redirects are the browser's to follow, not the proxy's.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { port, shared, task })
    }

    /// The proxy's origin (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends every request to `origin` (`http://host:port`, no path) from now on.
    pub fn forward_to(&self, origin: impl Into<String>) -> Result<()> {
        self.shared
            .upstream
            .set(origin.into())
            .map_err(|_| anyhow!("the proxy already forwards somewhere"))
    }

    /// Turns the ID tokens' tampering on or off.
    pub fn set_tampering(&self, on: bool) {
        self.shared.tamper.store(on, Ordering::SeqCst);
    }

    /// How many ID tokens the proxy has broken, so a test can tell its refusal came after one.
    pub fn tampered(&self) -> usize {
        self.shared.tampered.load(Ordering::SeqCst)
    }
}

impl Drop for TamperingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Headers that belong to one connection or are recomputed from the body.
fn passes(name: &HeaderName) -> bool {
    ![
        header::HOST,
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ]
    .contains(name)
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from.iter().filter(|(n, _)| passes(n)) {
        to.append(name.clone(), value.clone());
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match pass_through(&shared, request).await {
        Ok(response) => response,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("tampering proxy: {e:#}")).into_response(),
    }
}

async fn pass_through(shared: &Shared, request: Request) -> Result<Response> {
    let upstream = shared
        .upstream
        .get()
        .context("the proxy has nowhere to forward to yet")?;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let body = to_bytes(body, MAX_BODY).await?;
    let answer = shared
        .http
        .request(parts.method, format!("{upstream}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = answer.status();
    let mut headers = HeaderMap::new();
    copy_headers(answer.headers(), &mut headers);
    let mut body = answer.bytes().await?.to_vec();
    if status.is_success()
        && parts.uri.path().ends_with("/token")
        && shared.tamper.load(Ordering::SeqCst)
        && let Some(broken) = break_id_token(&body)
    {
        body = broken;
        shared.tampered.fetch_add(1, Ordering::SeqCst);
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The token response with the first character of the ID token's signature changed to
/// another base64url character (the first one carries six whole bits, so the signature's
/// bytes change); `None` when the answer holds no ID token.
fn break_id_token(body: &[u8]) -> Option<Vec<u8>> {
    let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let token = json.get("id_token")?.as_str()?;
    let (signed, signature) = token.rsplit_once('.')?;
    let mut chars = signature.chars();
    let first = chars.next()?;
    let other = if first == 'A' { 'B' } else { 'A' };
    json["id_token"] = format!("{signed}.{other}{}", chars.as_str()).into();
    serde_json::to_vec(&json).ok()
}
