//! The agent's kube client: kube's own middleware and timeouts over a hyper client whose
//! HTTP/1 read buffer is capped at [`READ_BUFFER`].
//!
//! Each followed log the hub asks for is one HTTP/1 connection to the apiserver, and hyper
//! grows a connection's read buffer while data keeps arriving, up to its default of about
//! 400 KiB. With a hundred busy follows that was the agent's largest cost (measured by
//! `hub/benches/log_follows.rs`: +74 MB of RSS at 100 follows). The agent copies each log
//! to the hub [`crate::operations::COPY_BUFFER`] bytes at a time, so a larger buffer only
//! holds data ahead of what QUIC flow control lets it send.

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt as _;
use kube::client::retry::RetryPolicy;
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

/// Most bytes hyper buffers per connection to the apiserver (hyper's minimum is 8 KiB).
pub const READ_BUFFER: usize = 64 * 1024;

/// A client for `config` as kube's `Client::try_from` builds it (connect, read and write
/// timeouts, base URI, 429/503/504 retries, credentials, extra headers), but with
/// [`READ_BUFFER`]. A `proxy-url` is left to kube's own client (which refuses it unless
/// kube's proxy features are built in).
pub fn client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    if config.proxy_url.is_some() {
        return kube::Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let hyper: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .http1_max_buf_size(READ_BUFFER)
            .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}
