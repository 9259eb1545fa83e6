//! Where webhook deliveries may go: the pull-mode [`EgressPolicy`] (the same rules and the
//! operator's same `--pull-allow-loopback` / `--pull-allowed-networks` settings), so an
//! admin cannot point the hub at an address only it can reach (a cloud metadata service, an
//! admin page on loopback, the database).
//!
//! Two checks: [`refused_literal`] at creation, for a URL whose host is an IP address (a name
//! is not resolved then: it may resolve differently at delivery), and at delivery
//! [`PolicyResolver`], the sender's DNS resolver, which hands the connection only addresses
//! the policy allows. The resolver is what the client connects with, so a name that resolves
//! to a public address when checked and to an internal one when connecting (DNS rebinding)
//! gains nothing. Literal addresses do not go through a resolver, so the sender checks them
//! itself before each attempt.
//!
//! The sender uses no HTTP proxy (`HTTP_PROXY` is ignored), as pull mode uses none: the
//! policy judges the receiver's own address, never a proxy's.

use std::net::IpAddr;
use std::sync::Arc;

use crate::pull::EgressPolicy;
use crate::pull::egress::{ConnectError, Endpoint};

/// A delivery the policy refused before anything was contacted; shown as the attempt's error.
/// It names the host and never the URL's path or query (Slack's URLs carry a token there).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Why `url`'s host, when it is an IP address, is refused: `None` for an allowed address or a
/// name (judged at delivery, by what it resolves to then).
pub fn refused_literal(policy: &EgressPolicy, url: &reqwest::Url) -> Option<Refused> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let endpoint = Endpoint {
        host: ip.to_string(),
        port: url.port_or_known_default().unwrap_or(443),
    };
    policy.check(ip).err().map(|refusal| {
        Refused(
            ConnectError::Refused {
                endpoint,
                ip,
                refusal,
            }
            .to_string(),
        )
    })
}

/// The sender's DNS resolver: the system resolver's answer, kept to the addresses the policy
/// allows; none allowed is an error naming the first refused address and its rule.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Arc<EgressPolicy>,
}

impl PolicyResolver {
    /// A resolver under `policy`.
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self { policy }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            // The client sets the URL's port on the addresses; the policy judges the address.
            let endpoint = Endpoint {
                host: name.as_str().to_owned(),
                port: 0,
            };
            match policy.resolve(&endpoint).await {
                Ok(addresses) => {
                    let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
                    Ok(addresses)
                }
                Err(err) => {
                    let message = match err {
                        ConnectError::Refused { ip, refusal, .. } => {
                            format!("refused to connect to {}: {ip} is {refusal}", name.as_str())
                        }
                        ConnectError::Dns { reason, .. } => {
                            format!("cannot resolve {}: {reason}", name.as_str())
                        }
                        other => other.to_string(),
                    };
                    Err(Box::new(Refused(message)) as Box<dyn std::error::Error + Send + Sync>)
                }
            }
        })
    }
}

/// The [`Refused`] in `err`'s causes, if the policy is why the request failed.
pub fn refusal_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut source = Some(err);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_hosts_are_judged_and_names_are_left_to_delivery() {
        let strict = EgressPolicy::default();
        let loopback = EgressPolicy::allowing_loopback();
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        // (url, refused under the default policy, refused with loopback allowed)
        let cases = [
            ("http://127.0.0.1:8080/hook", true, false),
            ("http://[::1]/hook", true, false),
            ("http://169.254.169.254/latest/meta-data", true, true),
            ("http://[::ffff:169.254.169.254]/", true, true),
            ("http://0.0.0.0:9/", true, true),
            ("https://10.1.2.3/hook", false, false),
            ("https://203.0.113.7/hook", false, false),
            ("http://localhost:8080/hook", false, false),
            ("https://hooks.slack.com/services/T/B/X", false, false),
        ];
        for (u, by_strict, by_loopback) in cases {
            assert_eq!(
                refused_literal(&strict, &url(u)).is_some(),
                by_strict,
                "{u}"
            );
            assert_eq!(
                refused_literal(&loopback, &url(u)).is_some(),
                by_loopback,
                "{u}"
            );
        }
        let message = refused_literal(&strict, &url("http://127.0.0.1:8080/hook?token=s3cret"))
            .unwrap()
            .0;
        assert_eq!(
            message,
            "refused to connect to 127.0.0.1:8080: 127.0.0.1 is a loopback address; loopback \
             addresses are refused: start the hub (and cluster add) with --pull-allow-loopback \
             (KUBEWORKZ_PULL_ALLOW_LOOPBACK=true) to allow them"
        );
    }
}
