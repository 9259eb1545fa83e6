//! The one way the hub builds a kube client for a pull-mode cluster: registration's
//! connection test and every collector run go through [`client`], so a replaced kubeconfig
//! and every reconnect pass the same [`EgressPolicy`].
//!
//! kube's own client resolves and connects with hyper's `HttpConnector`, which cannot be told
//! which addresses are acceptable. [`EgressConnector`] takes its place under kube's TLS:
//! it resolves the host with tokio, keeps the addresses the policy allows, and connects to
//! exactly those (an IP written in the URL is checked the same way), so the address checked
//! is the address connected to. The middleware above it is kube's own (base URI, retries of
//! 429/503/504, credentials, extra headers), taken from the kube `Config`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::client::ConfigExt as _;
use kube::client::retry::RetryPolicy;
use tokio::net::TcpStream;
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

use super::egress::{ConnectError, EgressPolicy, Endpoint, Target};

/// A TCP connector that only connects where the policy allows; see the module docs.
#[derive(Debug, Clone)]
pub struct EgressConnector {
    policy: Arc<EgressPolicy>,
    connect_timeout: Option<Duration>,
    peer: Peer,
}

/// The address the client last connected to, so that errors after the TCP connection (TLS,
/// HTTP) can name it too.
#[derive(Debug, Clone, Default)]
pub struct Peer(Arc<Mutex<Option<SocketAddr>>>);

impl Peer {
    /// The last address connected to, if any.
    pub fn get(&self) -> Option<SocketAddr> {
        *self.0.lock().expect("peer lock")
    }

    fn set(&self, address: SocketAddr) {
        *self.0.lock().expect("peer lock") = Some(address);
    }
}

impl EgressConnector {
    /// A connector under `policy`; each address gets `connect_timeout` (none: the OS's).
    pub fn new(policy: Arc<EgressPolicy>, connect_timeout: Option<Duration>) -> Self {
        Self {
            policy,
            connect_timeout,
            peer: Peer::default(),
        }
    }

    async fn connect(self, uri: http::Uri) -> Result<TokioIo<TcpStream>, ConnectError> {
        let endpoint = Endpoint::from_uri(&uri).ok_or(ConnectError::NoHost)?;
        let addresses = self.policy.resolve(&endpoint).await?;
        let mut last_error = None;
        for address in addresses {
            let target = Target {
                endpoint: endpoint.clone(),
                address: Some(address.ip()),
            };
            let attempt = TcpStream::connect(address);
            let result = match self.connect_timeout {
                Some(limit) => match tokio::time::timeout(limit, attempt).await {
                    Ok(result) => result,
                    Err(_) => {
                        last_error = Some(ConnectError::Timeout { target });
                        continue;
                    }
                },
                None => attempt.await,
            };
            match result {
                Ok(stream) => {
                    // Requests are small and latency-bound (watch bookmarks, list pages).
                    let _ = stream.set_nodelay(true);
                    self.peer.set(address);
                    return Ok(TokioIo::new(stream));
                }
                Err(err) => last_error = Some(io_error(target, &err)),
            }
        }
        Err(last_error.expect("resolve returns at least one address"))
    }
}

fn io_error(target: Target, err: &std::io::Error) -> ConnectError {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => ConnectError::ConnectionRefused { target },
        std::io::ErrorKind::TimedOut => ConnectError::Timeout { target },
        _ => ConnectError::Network {
            target,
            reason: err.to_string(),
        },
    }
}

impl tower::Service<http::Uri> for EgressConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

/// A kube client for a pull-mode cluster, and where it connected.
#[derive(Clone)]
pub struct PullClient {
    /// The client; every connection it opens passes the policy.
    pub client: kube::Client,
    /// The endpoint of the API server URL.
    pub endpoint: Endpoint,
    /// The address of its last connection.
    pub peer: Peer,
}

impl std::fmt::Debug for PullClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl PullClient {
    /// The endpoint and the address last connected to, for error messages.
    pub fn target(&self) -> Target {
        Target {
            endpoint: self.endpoint.clone(),
            address: self.peer.get().map(|a| a.ip()),
        }
    }
}

/// Why no client could be built from a kubeconfig (before any connection).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL names no host.
    #[error("the server URL has no host")]
    NoHost,
    /// kube refused the TLS settings or credentials (bad certificate data, …); its messages
    /// describe the field, not its content.
    #[error("cannot use the kubeconfig's TLS settings or credentials: {0}")]
    Config(#[source] kube::Error),
}

/// Builds the client for `config` under `policy`; see the module docs. The kubeconfig's
/// `proxy-url` is not used (validation refuses kubeconfigs that set one).
pub fn client(config: kube::Config, policy: Arc<EgressPolicy>) -> Result<PullClient, ClientError> {
    let endpoint = Endpoint::from_uri(&config.cluster_url).ok_or(ClientError::NoHost)?;
    let connector = EgressConnector::new(policy, config.connect_timeout);
    let peer = connector.peer.clone();
    let https = config
        .rustls_https_connector_with_connector(connector)
        .map_err(ClientError::Config)?;
    let http: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer().map_err(ClientError::Config)?)
        .layer(config.extra_headers_layer().map_err(ClientError::Config)?)
        .map_err(BoxError::from)
        .service(http);
    Ok(PullClient {
        client: kube::Client::new(service, config.default_namespace),
        endpoint,
        peer,
    })
}
