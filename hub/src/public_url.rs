//! [`PublicUrl`]: where people and Helm reach the hub's HTTP side (`--public-url`,
//! `KUBEWORKZ_PUBLIC_URL`), e.g. `https://kubeworkz.example.com`. The agent install line
//! names the hub's chart repository under it (`--repo <public URL>/charts`), so it must be
//! an address the clusters' operators can reach; HTTPS in production.
//!
//! When it is not set, the API derives it from the request (the `Host` the browser used;
//! `https` when the request came over TLS) and the CLI from the address `serve` listens on,
//! each with a warning: behind a proxy or on `0.0.0.0` neither is right for everyone.

use std::fmt;
use std::net::SocketAddr;

use axum::http::uri::{Authority, Uri};

/// An `http://` or `https://` URL with a host, without credentials, query or fragment; kept
/// without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

/// A public URL that is not one (the text is not repeated: it may hold credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid public URL: expected http:// or https:// and a host, e.g. https://kubeworkz.example.com (no credentials, query or fragment)"
)]
pub struct InvalidPublicUrl;

impl std::str::FromStr for PublicUrl {
    type Err = InvalidPublicUrl;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let uri: Uri = text.trim().parse().map_err(|_| InvalidPublicUrl)?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let authority = uri.authority().ok_or(InvalidPublicUrl)?;
        let has_credentials = authority.as_str().contains('@');
        let has_query = uri.query().is_some() || text.contains('#');
        if !scheme_ok || authority.host().is_empty() || has_credentials || has_query {
            return Err(InvalidPublicUrl);
        }
        Ok(Self(text.trim().trim_end_matches('/').to_owned()))
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PublicUrl {
    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fallback for a request that came to `host` (its `Host` header), over TLS or not;
    /// `None` when the header is not a plain host[:port].
    pub fn from_request_host(host: &str, secure: bool) -> Option<Self> {
        let authority: Authority = host.parse().ok()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let scheme = if secure { "https" } else { "http" };
        format!("{scheme}://{authority}").parse().ok()
    }

    /// The fallback of the CLI: `http://<address serve listens on>`.
    pub fn from_listen(listen: SocketAddr) -> Self {
        Self(format!("http://{listen}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_with_a_host_are_accepted_without_a_trailing_slash() {
        let url: PublicUrl = "https://kubeworkz.example.com/".parse().unwrap();
        assert_eq!(url.as_str(), "https://kubeworkz.example.com");
        let url: PublicUrl = "http://127.0.0.1:8080".parse().unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:8080");
        let url: PublicUrl = "https://example.com/kubeworkz".parse().unwrap();
        assert_eq!(url.as_str(), "https://example.com/kubeworkz");
    }

    #[test]
    fn other_schemes_credentials_queries_and_bare_hosts_are_refused() {
        for bad in [
            "kubeworkz.example.com",
            "ftp://kubeworkz.example.com",
            "https://user:secret@kubeworkz.example.com",
            "https://kubeworkz.example.com/?a=b",
            "https://kubeworkz.example.com/#top",
            "",
        ] {
            let err = bad.parse::<PublicUrl>().unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn fallbacks_come_from_the_request_host_or_the_listen_address() {
        assert_eq!(
            PublicUrl::from_request_host("hub.local:8080", false)
                .unwrap()
                .as_str(),
            "http://hub.local:8080"
        );
        assert_eq!(
            PublicUrl::from_request_host("hub.example.com", true)
                .unwrap()
                .as_str(),
            "https://hub.example.com"
        );
        assert!(PublicUrl::from_request_host("user@evil", false).is_none());
        assert!(PublicUrl::from_request_host("a b", false).is_none());
        assert_eq!(
            PublicUrl::from_listen("127.0.0.1:8080".parse().unwrap()).as_str(),
            "http://127.0.0.1:8080"
        );
    }
}
