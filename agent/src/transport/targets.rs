//! [`HubTargets`]: the hub addresses an agent may connect to, and which one is next.
//!
//! Several hub replicas can stand behind one name (a Service, a load balancer, a DNS name
//! with one address per replica) or be listed one by one (`KUBEWORKZ_HUB_ADDR=a:7443,b:7443`).
//! Names are resolved again before every attempt, so an agent follows DNS as replicas come
//! and go instead of retrying the address it saw at startup. The agent stays on a target
//! while it works and moves to the next one when a connection fails or the hub says it is
//! going away; a name with several addresses counts each address as a target of its own.
//!
//! Which target an agent *starts* on is random, so a thousand agents configured with the
//! same list do not all begin with its first entry.

use std::io;
use std::net::SocketAddr;

use super::HubAddress;

/// One configured entry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// `host:port`, resolved before each attempt; the host is the certificate's name.
    Name {
        host_port: String,
        server_name: String,
    },
    /// An address resolved by the caller (tests, callers that already resolved).
    Resolved(HubAddress),
}

/// The ordered list of hub targets and the agent's place in it (module docs).
#[derive(Clone, Debug)]
pub struct HubTargets {
    targets: Vec<Target>,
    /// Index into `targets` of the current entry.
    entry: usize,
    /// Which of the current name's addresses, counted across resolutions; the number of
    /// addresses may change between two, so it is reduced modulo each time.
    address: usize,
    /// How many addresses the current entry resolved to last time (1 before any).
    resolved: usize,
}

impl HubTargets {
    /// Targets for `entries` (`host:port` each, validated by the configuration), starting at
    /// a random one.
    ///
    /// # Panics
    /// If `entries` is empty: the configuration requires at least one.
    pub fn from_names<S: AsRef<str>>(entries: &[S]) -> Self {
        assert!(!entries.is_empty(), "at least one hub address");
        let targets = entries
            .iter()
            .map(|entry| {
                let host_port = entry.as_ref().trim().to_owned();
                let host = host_port
                    .rsplit_once(':')
                    .map_or(host_port.as_str(), |(host, _)| host);
                let server_name = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                Target::Name {
                    host_port,
                    server_name,
                }
            })
            .collect::<Vec<_>>();
        let entry = rand::random_range(0..targets.len());
        Self::at(targets, entry)
    }

    fn at(targets: Vec<Target>, entry: usize) -> Self {
        Self {
            targets,
            entry,
            address: 0,
            resolved: 1,
        }
    }

    /// The address to try now: the current entry, resolved (names are looked up each time).
    pub async fn current(&mut self) -> io::Result<HubAddress> {
        match &self.targets[self.entry] {
            Target::Resolved(address) => Ok(address.clone()),
            Target::Name {
                host_port,
                server_name,
            } => {
                let addresses: Vec<SocketAddr> =
                    tokio::net::lookup_host(host_port.as_str()).await?.collect();
                if addresses.is_empty() {
                    return Err(io::Error::other(format!(
                        "{host_port} resolves to no address"
                    )));
                }
                self.resolved = addresses.len();
                Ok(HubAddress {
                    addr: addresses[self.address % addresses.len()],
                    server_name: server_name.clone(),
                })
            }
        }
    }

    /// Moves to the next target: the current name's next address, or the next entry once
    /// every address of this one was tried.
    pub fn advance(&mut self) {
        self.address += 1;
        if self.address >= self.resolved {
            self.address = 0;
            self.resolved = 1;
            self.entry = (self.entry + 1) % self.targets.len();
        }
    }
}

impl From<HubAddress> for HubTargets {
    fn from(address: HubAddress) -> Self {
        Self::at(vec![Target::Resolved(address)], 0)
    }
}

impl From<Vec<HubAddress>> for HubTargets {
    /// The given addresses in order, starting with the first.
    fn from(addresses: Vec<HubAddress>) -> Self {
        assert!(!addresses.is_empty(), "at least one hub address");
        Self::at(addresses.into_iter().map(Target::Resolved).collect(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> HubAddress {
        HubAddress {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            server_name: "localhost".into(),
        }
    }

    #[tokio::test]
    async fn advancing_walks_the_entries_in_a_circle() {
        let mut targets = HubTargets::from(vec![address(1), address(2), address(3)]);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(targets.current().await.unwrap().addr.port());
            targets.advance();
        }
        assert_eq!(seen, [1, 2, 3, 1]);
    }

    #[tokio::test]
    async fn a_name_with_several_addresses_counts_each_before_the_next_entry() {
        // `localhost` resolves to 127.0.0.1 and, where configured, ::1; an IP literal to
        // itself. Both are real resolutions (the system resolver), not a stand-in.
        let mut targets = HubTargets::at(
            vec![
                Target::Name {
                    host_port: "localhost:7443".into(),
                    server_name: "localhost".into(),
                },
                Target::Name {
                    host_port: "127.0.0.2:7443".into(),
                    server_name: "127.0.0.2".into(),
                },
            ],
            0,
        );
        let localhost: Vec<SocketAddr> = tokio::net::lookup_host("localhost:7443")
            .await
            .unwrap()
            .collect();
        let mut seen = Vec::new();
        for _ in 0..localhost.len() + 1 {
            let current = targets.current().await.unwrap();
            seen.push(current.addr);
            targets.advance();
        }
        let mut want = localhost.clone();
        want.push("127.0.0.2:7443".parse().unwrap());
        assert_eq!(seen, want);
        let back = targets.current().await.unwrap();
        assert_eq!(back.addr, localhost[0], "back to the first entry");
        assert_eq!(back.server_name, "localhost");
    }

    #[test]
    fn names_keep_their_host_as_the_certificate_name() {
        let targets = HubTargets::from_names(&["hub.example.com:7443", "[::1]:7443"]);
        let names: Vec<_> = targets
            .targets
            .iter()
            .map(|t| match t {
                Target::Name { server_name, .. } => server_name.as_str(),
                Target::Resolved(_) => unreachable!(),
            })
            .collect();
        assert_eq!(names, ["hub.example.com", "::1"]);
        assert_eq!(targets.targets.len(), 2);
    }
}
