//! The web UI: the built single-page app (`hub/ui/dist`, committed, so building the hub needs
//! no node) compiled into the binary and served at `/`, so the one `serve` command gives the
//! whole product.
//!
//! Routing is the SPA's: any GET of a path outside `/api/` that names no built file answers
//! `index.html`, and the React router reads the path. Vite names assets by content hash, so
//! `/assets/*` may be cached forever; `index.html` must be revalidated so a new hub's UI is
//! picked up at once.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

use crate::error::ApiError;

/// The built UI (`npm run build` in `hub/ui`).
static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/ui/dist");

/// Cache policy of content-hashed files: their name changes whenever their bytes do.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of everything else (the entry page, favicon): always revalidate.
const REVALIDATE: &str = "no-cache";
/// What the page may load: only the hub's own origin (inline styles are the chart
/// library's), and it may not be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'";

/// Media type by file extension, for the kinds of file a Vite build emits.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serves one embedded file with its media type and cache policy.
fn file(path: &str, contents: &'static [u8], head: bool) -> Response {
    let cache = if path.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let body = if head {
        Body::empty()
    } else {
        Body::from(contents)
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path.ends_with(".html") {
        html_security_headers(headers, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    }
    response
}

/// The headers every HTML page of the hub carries (the UI, the API docs): what the page
/// may load (`csp`), no framing by other sites (clickjacking; `X-Frame-Options` for
/// browsers that predate `frame-ancestors`), no referrer beyond the hub, no type sniffing.
pub(crate) fn html_security_headers(headers: &mut HeaderMap, csp: HeaderValue) {
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The router's fallback: the UI for browser paths, the API's 404 for everything else.
///
/// `/api/…` paths stay JSON errors, so a client that mistypes an endpoint never gets HTML.
/// A missing hashed asset is a 404 as well: answering `index.html` there would hand a
/// stale page's script a document it cannot run.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    let head = method == Method::HEAD;
    let path = uri.path();
    if !(method == Method::GET || head) || path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound.into_response();
    }
    let relative = path.trim_start_matches('/');
    if !relative.is_empty()
        && let Some(found) = DIST.get_file(relative)
    {
        return file(relative, found.contents(), head);
    }
    if relative.starts_with("assets/") {
        return ApiError::NotFound.into_response();
    }
    match DIST.get_file("index.html") {
        Some(index) => file("index.html", index.contents(), head),
        None => ApiError::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-abc.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn the_build_is_embedded_with_its_entry_page() {
        let index = DIST.get_file("index.html").expect("hub/ui/dist/index.html");
        let text = std::str::from_utf8(index.contents()).unwrap();
        assert!(text.contains("/assets/"), "index.html loads hashed assets");
    }
}
