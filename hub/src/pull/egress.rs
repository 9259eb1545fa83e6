//! Which addresses the hub may open connections to for pull mode.
//!
//! A kubeconfig names a server, and the hub connects there with the kubeconfig's credentials:
//! without a policy, anyone allowed to register a cluster could make the hub reach addresses
//! only it can reach (a cloud metadata service, an admin page on loopback). [`EgressPolicy`]
//! is judged on the *resolved* addresses, at connect time, and the connector
//! (`pull::connector`) connects to exactly the addresses that passed, so a name that resolves
//! differently between the check and the connection (DNS rebinding) gains nothing.
//!
//! The rules, in order (the first that matches decides):
//! 1. Always refused, whatever the flags: cloud metadata addresses, link-local networks, the
//!    unspecified address, multicast and broadcast. No Kubernetes API server lives there.
//! 2. Loopback: refused unless `--pull-allow-loopback`; a hub's own machine hosts things
//!    (its database, admin pages) that registrations should not reach.
//! 3. With `--pull-allowed-networks`, only addresses inside one of those networks. The list
//!    narrows what the rules above allow: loopback needs its flag *and* a listed network.
//!
//! Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed by default: on-premises
//! clusters live there. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) and the NAT64
//! well-known prefix (`64:ff9b::/96`) are judged as the IPv4 address they carry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// Addresses of cloud metadata services: AWS, GCP, Azure, OpenStack (169.254.169.254), AWS
/// over IPv6 (fd00:ec2::254), Alibaba Cloud (100.100.100.200), Oracle Cloud (192.0.0.192).
/// Some are outside link-local ranges, so they are listed by address.
const METADATA: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
];

/// The flags of the policy, shared by `serve` and `cluster add` so that a cluster added by
/// the CLI passes the same checks the running hub applies.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EgressArgs {
    /// Allow pull-mode clusters on loopback addresses (127.0.0.0/8, ::1), e.g. a local test
    /// cluster. Off: registering or collecting such a cluster is refused.
    #[arg(long, env = "KUBEWORKZ_PULL_ALLOW_LOOPBACK", default_value_t = false)]
    pub pull_allow_loopback: bool,

    /// Comma-separated networks (CIDR, e.g. 10.0.0.0/8,fd00::/8) pull-mode API servers must
    /// be in. Default: any address but loopback, link-local, metadata, multicast, broadcast.
    #[arg(long, env = "KUBEWORKZ_PULL_ALLOWED_NETWORKS")]
    pub pull_allowed_networks: Option<AllowedNetworks>,
}

impl EgressArgs {
    /// The policy these flags describe.
    pub fn policy(&self) -> EgressPolicy {
        EgressPolicy {
            allow_loopback: self.pull_allow_loopback,
            allowed_networks: self.pull_allowed_networks.clone(),
        }
    }
}

/// The networks of `--pull-allowed-networks`, parsed once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<IpNet>);

impl AllowedNetworks {
    /// The networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

/// A `--pull-allowed-networks` entry that is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid network {0:?} in the pull-mode allowed networks: expected comma-separated CIDRs \
     such as 10.0.0.0/8,fd00::/8"
)]
pub struct InvalidNetwork(String);

impl FromStr for AllowedNetworks {
    type Err = InvalidNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut networks = Vec::new();
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let network = match item.parse::<IpNet>() {
                Ok(network) => network.trunc(),
                // A bare address is the network of that one address.
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| InvalidNetwork(item.to_owned()))?,
            };
            networks.push(network);
        }
        if networks.is_empty() {
            return Err(InvalidNetwork(s.to_owned()));
        }
        Ok(Self(networks))
    }
}

impl fmt::Display for AllowedNetworks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&names.join(","))
    }
}

/// See the module docs. The default refuses loopback and has no allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allow_loopback: bool,
    allowed_networks: Option<AllowedNetworks>,
}

/// Why an address is refused: the rule, and how to allow it where a flag can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A cloud metadata service.
    #[error("a cloud metadata address, which is always refused")]
    Metadata,
    /// 169.254.0.0/16 or fe80::/10.
    #[error("a link-local address, which is always refused")]
    LinkLocal,
    /// 0.0.0.0/8 or `::`.
    #[error("an unspecified address, which is always refused")]
    Unspecified,
    /// 224.0.0.0/4 or ff00::/8.
    #[error("a multicast address, which is always refused")]
    Multicast,
    /// 255.255.255.255.
    #[error("the broadcast address, which is always refused")]
    Broadcast,
    /// 127.0.0.0/8 or ::1 without `--pull-allow-loopback`.
    #[error(
        "a loopback address; loopback addresses are refused: start the hub (and cluster add) \
         with --pull-allow-loopback (KUBEWORKZ_PULL_ALLOW_LOOPBACK=true) to allow them"
    )]
    Loopback,
    /// Outside every network of `--pull-allowed-networks`.
    #[error(
        "outside the allowed networks ({allowed}); add its network to --pull-allowed-networks \
         (KUBEWORKZ_PULL_ALLOWED_NETWORKS) to allow it"
    )]
    OutsideAllowedNetworks {
        /// The configured networks.
        allowed: String,
    },
}

impl EgressPolicy {
    /// A policy from its two settings (the flags build it through [`EgressArgs::policy`]).
    pub fn new(allow_loopback: bool, allowed_networks: Option<AllowedNetworks>) -> Self {
        Self {
            allow_loopback,
            allowed_networks,
        }
    }

    /// The default policy with loopback allowed: for clusters on this machine (tests, a local
    /// kind cluster).
    pub fn allowing_loopback() -> Self {
        Self::new(true, None)
    }

    /// Whether the hub may connect to `ip`; the rules are in the module docs.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = embedded_ipv4(ip).map_or(ip, IpAddr::V4);
        if METADATA.contains(&ip) {
            return Err(Refusal::Metadata);
        }
        let always = match ip {
            IpAddr::V4(v4) if v4.is_link_local() => Some(Refusal::LinkLocal),
            IpAddr::V4(v4) if v4.octets()[0] == 0 => Some(Refusal::Unspecified),
            IpAddr::V4(v4) if v4.is_multicast() => Some(Refusal::Multicast),
            IpAddr::V4(v4) if v4.is_broadcast() => Some(Refusal::Broadcast),
            IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(Refusal::LinkLocal),
            IpAddr::V6(v6) if v6.is_unspecified() => Some(Refusal::Unspecified),
            IpAddr::V6(v6) if v6.is_multicast() => Some(Refusal::Multicast),
            _ => None,
        };
        if let Some(refusal) = always {
            return Err(refusal);
        }
        if ip.is_loopback() && !self.allow_loopback {
            return Err(Refusal::Loopback);
        }
        match &self.allowed_networks {
            Some(allowed) if !allowed.0.iter().any(|network| network.contains(&ip)) => {
                Err(Refusal::OutsideAllowedNetworks {
                    allowed: allowed.to_string(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`, which the
/// kernel connects to over IPv4) or NAT64's well-known prefix (`64:ff9b::/96`, which a NAT64
/// gateway forwards to that IPv4 address).
fn embedded_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else {
        return None;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = v6.segments();
    (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
        let [.., hi, lo] = segments;
        Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
    })
}

/// Where a connection goes: the host as the kubeconfig names it, and the port. Shown in
/// every connection error (never with credentials: they are not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// A DNS name or an IP address (without IPv6 brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl Endpoint {
    /// The endpoint of an `https://` URI (port 443 unless given).
    pub fn from_uri(uri: &http::Uri) -> Option<Self> {
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTP) {
            80
        } else {
            443
        };
        Some(Self {
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(default_port),
        })
    }

    /// The host, when it is an IP address written out.
    pub fn literal_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An endpoint and the address it was resolved to, shown as `host:port` alone when the host
/// is that address, else `host:port (resolved to ADDRESS)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the kubeconfig names.
    pub endpoint: Endpoint,
    /// The address connected to (or refused), once known.
    pub address: Option<IpAddr>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.endpoint)?;
        match self.address {
            Some(ip) if self.endpoint.literal_ip() != Some(ip) => write!(f, " (resolved to {ip})"),
            _ => Ok(()),
        }
    }
}

/// Why the connector opened no connection. Messages name the target and never carry
/// credentials or anything the server sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The policy refused every address of the endpoint; nothing was contacted.
    #[error("refused to connect to {endpoint}: {ip} is {refusal}")]
    Refused {
        /// The endpoint.
        endpoint: Endpoint,
        /// The (first) refused address it resolved to.
        ip: IpAddr,
        /// The rule that refused it.
        refusal: Refusal,
    },
    /// The name did not resolve.
    #[error("cannot resolve {endpoint}: {reason}")]
    Dns {
        /// The endpoint.
        endpoint: Endpoint,
        /// The resolver's reason.
        reason: String,
    },
    /// Nothing listens there (TCP reset).
    #[error("{target}: connection refused (nothing listens on that port)")]
    ConnectionRefused {
        /// The endpoint and the address tried.
        target: Target,
    },
    /// No TCP connection within the connect timeout.
    #[error("{target}: timed out while connecting (a firewall dropping packets?)")]
    Timeout {
        /// The endpoint and the address tried.
        target: Target,
    },
    /// Another network error (unreachable network or host, …).
    #[error("{target}: cannot connect: {reason}")]
    Network {
        /// The endpoint and the address tried.
        target: Target,
        /// The operating system's reason.
        reason: String,
    },
    /// The URL has no host.
    #[error("the server URL has no host")]
    NoHost,
}

impl EgressPolicy {
    /// Resolves `endpoint` and keeps the addresses this policy allows, in the resolver's
    /// order; an error when there is none. Nothing is contacted but the DNS resolver.
    pub async fn resolve(&self, endpoint: &Endpoint) -> Result<Vec<SocketAddr>, ConnectError> {
        let resolved: Vec<SocketAddr> = match endpoint.literal_ip() {
            Some(ip) => vec![SocketAddr::new(ip, endpoint.port)],
            None => tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|e| ConnectError::Dns {
                    endpoint: endpoint.clone(),
                    reason: e.to_string(),
                })?
                .collect(),
        };
        let mut allowed: Vec<SocketAddr> = Vec::with_capacity(resolved.len());
        let mut first_refusal = None;
        for address in resolved {
            match self.check(address.ip()) {
                Ok(()) if !allowed.contains(&address) => allowed.push(address),
                Ok(()) => {}
                Err(refusal) => {
                    first_refusal.get_or_insert((address.ip(), refusal));
                }
            }
        }
        if !allowed.is_empty() {
            return Ok(allowed);
        }
        Err(match first_refusal {
            Some((ip, refusal)) => ConnectError::Refused {
                endpoint: endpoint.clone(),
                ip,
                refusal,
            },
            None => ConnectError::Dns {
                endpoint: endpoint.clone(),
                reason: "the name has no addresses".into(),
            },
        })
    }
}

#[cfg(test)]
mod tests;
