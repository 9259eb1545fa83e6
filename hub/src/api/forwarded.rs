//! Who the client is and whether it came over TLS, when proxies stand in between.
//!
//! `X-Forwarded-For`, `Forwarded` and `X-Forwarded-Proto` are plain request headers: anyone
//! can send them. They are believed only when the TCP peer is one of the operator's
//! `--trusted-proxies`, and then only as far as the chain of trusted hops goes: the
//! client is the right-most address that is not a trusted proxy (addresses left of it were
//! written by the client itself). The same rule decides `Secure` cookies and the address
//! login attempts are counted against, so a client can neither dodge its limits nor pin
//! them on somebody else.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// One `--trusted-proxies` entry: a CIDR (`10.0.0.0/8`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(IpNet);

/// A `--trusted-proxies` entry that is neither a CIDR nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted proxy {0:?}: expected an address or a CIDR such as 10.0.0.0/8")]
pub struct InvalidProxyNet(String);

impl FromStr for ProxyNet {
    type Err = InvalidProxyNet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        text.parse::<IpNet>()
            .map(|net| net.trunc())
            .or_else(|_| {
                text.parse::<IpAddr>()
                    .map(|ip| IpNet::from(ip.to_canonical()))
            })
            .map(ProxyNet)
            .map_err(|_| InvalidProxyNet(s.to_owned()))
    }
}

/// The proxies whose forwarding headers are believed; empty (the default) believes none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The given networks.
    pub fn new(nets: impl IntoIterator<Item = ProxyNet>) -> Self {
        Self(nets.into_iter().map(|net| net.0).collect())
    }

    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Where a request comes from, as far as the hub can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOrigin {
    /// The client's address.
    pub address: IpAddr,
    /// The client reached the first trusted hop (or the hub) over TLS.
    pub https: bool,
}

/// The origin of a request from `peer` with `headers`; `direct_tls` when the hub itself
/// terminated TLS.
pub fn client_origin(
    peer: IpAddr,
    headers: &HeaderMap,
    direct_tls: bool,
    trusted: &TrustedProxies,
) -> ClientOrigin {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return ClientOrigin {
            address: peer,
            https: direct_tls,
        };
    }
    let hops = forwarded_for(headers);
    let mut address = peer;
    for hop in hops.iter().rev() {
        if !trusted.contains(address) {
            break;
        }
        match hop {
            Some(ip) => address = *ip,
            // Garbage left of a trusted hop: the client is unknown, so its attempts count
            // against the hop that passed it on (never against somebody else's address).
            None => break,
        }
    }
    ClientOrigin {
        address,
        https: direct_tls || forwarded_https(headers),
    }
}

/// The addresses of `X-Forwarded-For` (or else `Forwarded: for=`), left to right; `None`
/// for an entry that is not an address (`unknown`, an obfuscated name, garbage).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff = list(headers, "x-forwarded-for");
    if !xff.is_empty() {
        return xff.iter().map(|entry| parse_node(entry)).collect();
    }
    list(headers, "forwarded")
        .iter()
        .map(|element| forwarded_param(element, "for").and_then(|node| parse_node(&node)))
        .collect()
}

/// Whether the nearest proxy says the client used https: the right-most
/// `X-Forwarded-Proto` value (or `Forwarded: proto=`), which that proxy wrote.
fn forwarded_https(headers: &HeaderMap) -> bool {
    let proto = match list(headers, "x-forwarded-proto").pop() {
        Some(proto) => Some(proto),
        None => list(headers, "forwarded")
            .pop()
            .and_then(|element| forwarded_param(&element, "proto")),
    };
    proto.is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Every value of a comma-separated header, across repeated headers, trimmed.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// A parameter of one `Forwarded` element (`for=192.0.2.1;proto=https`), unquoted.
fn forwarded_param(element: &str, name: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let ip = node.parse::<IpAddr>().ok().or_else(|| {
        let host = match node.strip_prefix('[') {
            Some(rest) => rest.split_once(']')?.0,
            None => node.rsplit_once(':')?.0,
        };
        host.parse::<IpAddr>().ok()
    })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let origin = client_origin(ip("198.51.100.7"), &h, false, &trusted(&["10.0.0.0/8"]));
        assert_eq!(origin.address, ip("198.51.100.7"));
        assert!(!origin.https);
        let none = client_origin(ip("10.0.0.1"), &h, false, &TrustedProxies::default());
        assert_eq!(
            none.address,
            ip("10.0.0.1"),
            "no proxy is trusted by default"
        );
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let proxies = trusted(&["10.0.0.0/8", "192.0.2.10"]);
        // The client wrote 1.1.1.1 itself; 203.0.113.9 connected to the trusted edge.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 203.0.113.9"),
            ("x-forwarded-for", "192.0.2.10"),
            ("x-forwarded-proto", "https"),
        ]);
        let origin = client_origin(ip("10.1.2.3"), &h, false, &proxies);
        assert_eq!(origin.address, ip("203.0.113.9"));
        assert!(origin.https);
        // Every hop trusted: the left-most is the client.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 192.0.2.10")]);
        assert_eq!(
            client_origin(ip("10.1.2.3"), &h, false, &proxies).address,
            ip("10.9.9.9")
        );
        // Garbage stops the walk at the trusted hop that passed it on.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, not-an-ip, 192.0.2.10")]);
        assert_eq!(
            client_origin(ip("10.1.2.3"), &h, false, &proxies).address,
            ip("192.0.2.10")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_origin(ip("10.1.2.3"), &HeaderMap::new(), false, &proxies).address,
            ip("10.1.2.3")
        );
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let proxies = trusted(&["::1", "127.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=198.51.100.1, for=\"[2001:db8:cafe::17]:4711\";proto=https",
        )]);
        let origin = client_origin(ip("::ffff:127.0.0.1"), &h, false, &proxies);
        assert_eq!(origin.address, ip("2001:db8:cafe::17"));
        assert!(origin.https);
        let h = headers(&[("forwarded", "for=unknown;proto=http")]);
        let origin = client_origin(ip("::1"), &h, false, &proxies);
        assert_eq!(origin.address, ip("::1"));
        assert!(!origin.https);
    }

    #[test]
    fn proxy_entries_parse_as_networks_or_addresses() {
        assert!("10.0.0.0/8".parse::<ProxyNet>().is_ok());
        assert!(" 192.0.2.1 ".parse::<ProxyNet>().is_ok());
        assert!("2001:db8::/32".parse::<ProxyNet>().is_ok());
        let err = "10.0.0.0/33".parse::<ProxyNet>().unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
        assert!("ingress".parse::<ProxyNet>().is_err());
        let one = trusted(&["192.0.2.1"]);
        assert!(one.contains(ip("192.0.2.1")) && !one.contains(ip("192.0.2.2")));
        assert!(
            one.contains(ip("::ffff:192.0.2.1")),
            "IPv4-mapped peers match"
        );
    }

    #[test]
    fn nodes_parse_with_ports_and_brackets() {
        assert_eq!(parse_node("192.0.2.1:4711"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("[2001:db8::1]:80"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("_hidden"), None);
    }
}
