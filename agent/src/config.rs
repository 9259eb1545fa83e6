//! Agent configuration, read from environment variables only.
//!
//! The agent runs from a Helm chart, where env vars are the one interface every operator knows.
//! Each variable parses into a typed value and a bad one fails with an error that names the
//! variable and says what was expected; values of secret variables are never echoed back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::collect::CollectorConfig;
use kubeworkz_shared::operations::OperationSet;
use kubeworkz_shared::protocol::{CaPin, EnrollmentToken};

/// Everything the agent needs to run, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `host:port` of the hub's QUIC endpoint (`KUBEWORKZ_HUB_ADDR`), or several separated
    /// by commas (hub replicas without one address in front of them); the agent moves to
    /// the next when a connection fails or a replica drains.
    pub hub_addrs: Vec<String>,
    /// One-time enrollment token (`KUBEWORKZ_TOKEN`); only needed until the agent holds a
    /// certificate. Its `Debug` redacts the secret.
    pub token: Option<EnrollmentToken>,
    /// The hub CA's pin given on its own (`KUBEWORKZ_CA_PIN`, hex or base64url), so an
    /// operator can state which hub they trust independently of the token; it must match the
    /// token's pin and the stored CA.
    pub ca_pin: Option<CaPin>,
    /// Where the agent keeps its key and certificate, so a restart does not re-enroll.
    pub credentials: CredentialsLocation,
    /// Where `/healthz` and `/metrics` are served for probes (`KUBEWORKZ_ADMIN_LISTEN`).
    pub admin_listen: SocketAddr,
    /// What the collector needs.
    pub collector: CollectorSettings,
    /// Longest wait between reconnects (`KUBEWORKZ_RECONNECT_MAX_SECS`, default 300): the
    /// ceiling of the jittered exponential backoff.
    pub reconnect_max: Duration,
    /// Emit JSON logs (`KUBEWORKZ_LOG_FORMAT=json`), the default in-cluster.
    pub json_logs: bool,
    /// What the hub may ask of this agent (`KUBEWORKZ_OPERATIONS`, comma-separated; the
    /// chart's `operations.*` switches, which also grant the RBAC). Unset: the chart's defaults
    /// (logs, events, objects; never actions or exec).
    pub operations: OperationSet,
}

/// Where the agent's key and certificate live between restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsLocation {
    /// In-cluster: a Secret in the agent's own namespace (`KUBEWORKZ_CREDENTIALS_SECRET`;
    /// namespace from `KUBEWORKZ_NAMESPACE`, else the service account's namespace file). The
    /// key never leaves the cluster.
    Secret {
        /// The namespace, when given; `None` reads the service account's.
        namespace: Option<String>,
        /// The Secret's name.
        name: String,
    },
    /// Outside a cluster: a file (`KUBEWORKZ_CREDENTIALS_FILE`), written with mode 0600.
    File(PathBuf),
}

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{name} is required")]
    Missing { name: &'static str },
    /// A variable is set to something that does not parse.
    #[error("{name}={value:?} is invalid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A secret variable does not parse; its value is not repeated.
    #[error("{name} is invalid: {reason}")]
    InvalidSecret { name: &'static str, reason: String },
    /// Two variables contradict each other.
    #[error("{first} and {second} disagree: {reason}")]
    Conflict {
        first: &'static str,
        second: &'static str,
        reason: &'static str,
    },
}

const HUB_ADDR: &str = "KUBEWORKZ_HUB_ADDR";
const TOKEN: &str = "KUBEWORKZ_TOKEN";
const CA_PIN: &str = "KUBEWORKZ_CA_PIN";
const CREDENTIALS_SECRET: &str = "KUBEWORKZ_CREDENTIALS_SECRET";
const CREDENTIALS_FILE: &str = "KUBEWORKZ_CREDENTIALS_FILE";
const NAMESPACE: &str = "KUBEWORKZ_NAMESPACE";
const RECONNECT_MAX: &str = "KUBEWORKZ_RECONNECT_MAX_SECS";
const ADMIN_LISTEN: &str = "KUBEWORKZ_ADMIN_LISTEN";
const USAGE_INTERVAL: &str = "KUBEWORKZ_USAGE_INTERVAL";
const HELM_RELEASES: &str = "KUBEWORKZ_HELM_RELEASES";
const WORKLOADS: &str = "KUBEWORKZ_WORKLOADS";
const QUOTAS: &str = "KUBEWORKZ_QUOTAS";
const LOG_FORMAT: &str = "KUBEWORKZ_LOG_FORMAT";
const OPERATIONS: &str = "KUBEWORKZ_OPERATIONS";
/// The operations an agent runs when `KUBEWORKZ_OPERATIONS` is unset: the chart's defaults.
pub const DEFAULT_OPERATIONS: &str = "logs,events,objects";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, which tests use instead of the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let hub_addr = get(HUB_ADDR).ok_or(ConfigError::Missing { name: HUB_ADDR })?;
        let hub_addrs: Vec<String> = hub_addr
            .split(',')
            .map(|entry| entry.trim().to_owned())
            .collect();
        if !hub_addrs.iter().all(|entry| valid_host_port(entry)) {
            return Err(invalid(
                HUB_ADDR,
                hub_addr,
                "host:port, or several separated by commas",
            ));
        }
        let admin_listen = match get(ADMIN_LISTEN) {
            None => SocketAddr::from(([0, 0, 0, 0], 9090)),
            Some(v) => v.parse().map_err(|_| invalid(ADMIN_LISTEN, v, "ip:port"))?,
        };
        let collector = CollectorSettings::from_lookup(&lookup)?;
        let json_logs = match get(LOG_FORMAT).as_deref() {
            None | Some("json") => true,
            Some("text") => false,
            Some(other) => return Err(invalid(LOG_FORMAT, other.to_owned(), "json or text")),
        };
        let token =
            match get(TOKEN) {
                None => None,
                Some(text) => Some(text.parse::<EnrollmentToken>().map_err(|err| {
                    ConfigError::InvalidSecret {
                        name: TOKEN,
                        reason: err.to_string(),
                    }
                })?),
            };
        let ca_pin =
            match get(CA_PIN) {
                None => None,
                Some(v) => Some(parse_pin(&v).ok_or_else(|| {
                    invalid(CA_PIN, v, "64 hex digits or 43 base64url characters")
                })?),
            };
        if let (Some(token), Some(pin)) = (&token, ca_pin)
            && token.ca_pin() != pin
        {
            return Err(ConfigError::Conflict {
                first: TOKEN,
                second: CA_PIN,
                reason: "the token pins a different hub CA",
            });
        }
        let credentials = match (get(CREDENTIALS_SECRET), get(CREDENTIALS_FILE)) {
            (Some(name), None) => CredentialsLocation::Secret {
                namespace: get(NAMESPACE),
                name,
            },
            (None, Some(path)) => CredentialsLocation::File(PathBuf::from(path)),
            (None, None) => {
                return Err(ConfigError::Missing {
                    name: "KUBEWORKZ_CREDENTIALS_SECRET (in a cluster) or KUBEWORKZ_CREDENTIALS_FILE",
                });
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    first: CREDENTIALS_SECRET,
                    second: CREDENTIALS_FILE,
                    reason: "set one place for the credentials, not both",
                });
            }
        };
        let reconnect_max = match get(RECONNECT_MAX) {
            None => Duration::from_secs(300),
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if (1..=3600).contains(&secs) => Duration::from_secs(secs),
                _ => return Err(invalid(RECONNECT_MAX, v, "whole seconds from 1 to 3600")),
            },
        };
        let operations = match lookup(OPERATIONS) {
            None => OperationSet::parse(DEFAULT_OPERATIONS).expect("the defaults are operations"),
            Some(v) => OperationSet::parse(&v).map_err(|_| {
                invalid(
                    OPERATIONS,
                    v,
                    "a comma-separated list of: logs, events, objects",
                )
            })?,
        };
        Ok(Self {
            operations,
            hub_addrs,
            token,
            reconnect_max,
            ca_pin,
            credentials,
            admin_listen,
            collector,
            json_logs,
        })
    }
}

/// The settings the collector needs; all `kubeworkz-agent check` reads, since it needs no hub.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorSettings {
    /// How often metrics.k8s.io is sampled (`KUBEWORKZ_USAGE_INTERVAL`, seconds).
    pub usage_interval: Duration,
    /// Whether Helm release Secrets are watched (`KUBEWORKZ_HELM_RELEASES`).
    pub helm_releases: bool,
    /// The workload kinds watched (`KUBEWORKZ_WORKLOADS`: comma-separated resources such as
    /// `statefulsets,jobs`, or `none`; unset: all of them, the chart's default). Each needs
    /// its own RBAC rule, which the chart's `workloads.*` switches grant.
    pub workloads: Vec<ObjectKind>,
    /// The quota kinds watched (`KUBEWORKZ_QUOTAS`: `resourcequotas`, `limitranges`, both
    /// comma-separated, or `none`; unset: both, the chart's default), granted by the chart's
    /// `quotas.*` switches.
    pub quotas: Vec<ObjectKind>,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        Self {
            usage_interval: Duration::from_secs(30),
            helm_releases: true,
            workloads: ObjectKind::WORKLOADS.to_vec(),
            quotas: ObjectKind::QUOTAS.to_vec(),
        }
    }
}

impl CollectorSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let usage_interval = match get(USAGE_INTERVAL) {
            None => Duration::from_secs(30),
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if (5..=3600).contains(&secs) => Duration::from_secs(secs),
                _ => return Err(invalid(USAGE_INTERVAL, v, "whole seconds from 5 to 3600")),
            },
        };
        let helm_releases = match get(HELM_RELEASES) {
            None => true,
            Some(v) => parse_bool(&v).ok_or_else(|| invalid(HELM_RELEASES, v, "true or false"))?,
        };
        let workloads = match get(WORKLOADS) {
            None => ObjectKind::WORKLOADS.to_vec(),
            Some(v) => parse_kinds(&v, &crate::rbac::WORKLOADS).ok_or_else(|| {
                invalid(
                    WORKLOADS,
                    v,
                    "none, or a comma-separated list of statefulsets, daemonsets, replicasets, \
                     jobs, cronjobs",
                )
            })?,
        };
        let quotas = match get(QUOTAS) {
            None => ObjectKind::QUOTAS.to_vec(),
            Some(v) => parse_kinds(&v, &crate::rbac::QUOTAS).ok_or_else(|| {
                invalid(
                    QUOTAS,
                    v,
                    "none, or a comma-separated list of resourcequotas, limitranges",
                )
            })?,
        };
        Ok(Self {
            usage_interval,
            helm_releases,
            workloads,
            quotas,
        })
    }

    /// The collector's configuration for these settings (its other knobs at their defaults).
    pub fn collector_config(&self) -> CollectorConfig {
        CollectorConfig {
            helm_releases: self.helm_releases,
            workloads: self.workloads.clone(),
            quotas: self.quotas.clone(),
            usage_interval: self.usage_interval,
            ..CollectorConfig::default()
        }
    }
}

/// `none`, or resources of `table` (`statefulsets`, …; see [`crate::rbac::WORKLOADS`] and
/// [`crate::rbac::QUOTAS`]) separated by commas, each at most once; `None` if any is unknown.
fn parse_kinds(v: &str, table: &[(ObjectKind, &str, &str)]) -> Option<Vec<ObjectKind>> {
    if v.trim().eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    let mut kinds = Vec::new();
    for name in v.split(',').map(str::trim) {
        let (kind, _, _) = table
            .iter()
            .find(|(_, _, resource)| name.eq_ignore_ascii_case(resource))?;
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    // In wire order, whatever order they were written in.
    kinds.sort();
    Some(kinds)
}

fn invalid(name: &'static str, value: String, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value,
        expected,
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// A CA pin as hex (what `openssl` shows) or base64url (as in the token).
fn parse_pin(v: &str) -> Option<CaPin> {
    let v = v.trim();
    let bytes = if v.len() == 64 {
        (0..32)
            .map(|i| u8::from_str_radix(v.get(i * 2..i * 2 + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v)
            .ok()?
    };
    Some(CaPin(bytes.try_into().ok()?))
}

fn valid_host_port(v: &str) -> bool {
    match v.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const FILE: (&str, &str) = (CREDENTIALS_FILE, "/tmp/agent-credentials.json");

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_hub_and_credentials_are_given() {
        let cfg = parse(&[(HUB_ADDR, "hub.example.com:7443"), FILE]).unwrap();
        assert_eq!(cfg.hub_addrs, ["hub.example.com:7443"]);
        assert_eq!(cfg.collector.usage_interval, Duration::from_secs(30));
        assert_eq!(cfg.admin_listen, "0.0.0.0:9090".parse().unwrap());
        assert!(cfg.collector.helm_releases);
        assert!(cfg.json_logs);
        assert_eq!(cfg.token, None);
        assert_eq!(cfg.ca_pin, None);
        assert_eq!(
            cfg.credentials,
            CredentialsLocation::File("/tmp/agent-credentials.json".into())
        );
        // Unset, the agent only reads for the hub: actions and exec are the chart's choice.
        assert_eq!(cfg.operations.names(), ["logs", "events", "objects"]);
        let acting = parse(&[
            (HUB_ADDR, "hub:7443"),
            (OPERATIONS, "logs,actions,exec"),
            FILE,
        ])
        .unwrap();
        assert_eq!(acting.operations.names(), ["logs", "actions", "exec"]);
    }

    #[test]
    fn several_hub_addresses_are_a_comma_separated_list() {
        let cfg = parse(&[
            (HUB_ADDR, "hub-0.hub:7443, hub-1.hub:7443,[::1]:7443"),
            FILE,
        ])
        .unwrap();
        assert_eq!(
            cfg.hub_addrs,
            ["hub-0.hub:7443", "hub-1.hub:7443", "[::1]:7443"]
        );
        let err = parse(&[(HUB_ADDR, "hub-0.hub:7443,hub-1.hub"), FILE]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"KUBEWORKZ_HUB_ADDR="hub-0.hub:7443,hub-1.hub" is invalid: expected host:port, or several separated by commas"#
        );
        assert!(
            parse(&[(HUB_ADDR, "hub:7443,"), FILE]).is_err(),
            "an empty entry"
        );
    }

    #[test]
    fn missing_hub_is_named() {
        assert_eq!(parse(&[FILE]), Err(ConfigError::Missing { name: HUB_ADDR }));
        assert_eq!(
            parse(&[(HUB_ADDR, "  "), FILE]),
            Err(ConfigError::Missing { name: HUB_ADDR })
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_the_expectation() {
        let err = parse(&[(HUB_ADDR, "hub"), (USAGE_INTERVAL, "30"), FILE]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"KUBEWORKZ_HUB_ADDR="hub" is invalid: expected host:port, or several separated by commas"#
        );
        let err = parse(&[(HUB_ADDR, "hub:7443"), (USAGE_INTERVAL, "2"), FILE]).unwrap_err();
        assert!(
            err.to_string().starts_with("KUBEWORKZ_USAGE_INTERVAL"),
            "{err}"
        );
        let err = parse(&[(HUB_ADDR, "hub:7443"), (HELM_RELEASES, "maybe"), FILE]).unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
        let err = parse(&[(HUB_ADDR, "hub:7443"), (LOG_FORMAT, "xml"), FILE]).unwrap_err();
        assert!(err.to_string().contains("json or text"), "{err}");
        let err = parse(&[(HUB_ADDR, "hub:7443"), (CA_PIN, "abc"), FILE]).unwrap_err();
        assert!(err.to_string().starts_with("KUBEWORKZ_CA_PIN"), "{err}");
    }

    #[test]
    fn workload_kinds_are_switched_by_resource_name() {
        let all = parse(&[(HUB_ADDR, "hub:7443"), FILE]).unwrap();
        assert_eq!(all.collector.workloads, ObjectKind::WORKLOADS);
        assert_eq!(all.collector.collector_config().kinds(), ObjectKind::ALL);
        let some = parse(&[
            (HUB_ADDR, "hub:7443"),
            (WORKLOADS, " Jobs, statefulsets,jobs "),
            FILE,
        ])
        .unwrap();
        assert_eq!(
            some.collector.workloads,
            [ObjectKind::StatefulSet, ObjectKind::Job]
        );
        let none = parse(&[(HUB_ADDR, "hub:7443"), (WORKLOADS, "none"), FILE]).unwrap();
        assert!(none.collector.workloads.is_empty());
        assert!(
            !none
                .collector
                .collector_config()
                .kinds()
                .contains(&ObjectKind::ReplicaSet)
        );
        let err = parse(&[(HUB_ADDR, "hub:7443"), (WORKLOADS, "jobs,pods"), FILE]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KUBEWORKZ_WORKLOADS=\"jobs,pods\" is invalid: expected none, or a comma-separated \
             list of statefulsets, daemonsets, replicasets, jobs, cronjobs"
        );
    }

    #[test]
    fn quota_kinds_are_switched_by_resource_name() {
        let all = parse(&[(HUB_ADDR, "hub:7443"), FILE]).unwrap();
        assert_eq!(all.collector.quotas, ObjectKind::QUOTAS);
        let ranges = parse(&[(HUB_ADDR, "hub:7443"), (QUOTAS, " LimitRanges "), FILE]).unwrap();
        assert_eq!(ranges.collector.quotas, [ObjectKind::LimitRange]);
        let kinds = ranges.collector.collector_config().kinds();
        assert!(kinds.contains(&ObjectKind::LimitRange));
        assert!(!kinds.contains(&ObjectKind::ResourceQuota));
        let none = parse(&[(HUB_ADDR, "hub:7443"), (QUOTAS, "none"), FILE]).unwrap();
        assert!(none.collector.quotas.is_empty());
        let err = parse(&[(HUB_ADDR, "hub:7443"), (QUOTAS, "quotas"), FILE]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KUBEWORKZ_QUOTAS=\"quotas\" is invalid: expected none, or a comma-separated \
             list of resourcequotas, limitranges"
        );
    }

    #[test]
    fn credentials_go_in_exactly_one_place() {
        let err = parse(&[(HUB_ADDR, "hub:7443")]).unwrap_err();
        assert!(err.to_string().contains(CREDENTIALS_SECRET), "{err}");
        let err =
            parse(&[(HUB_ADDR, "hub:7443"), FILE, (CREDENTIALS_SECRET, "creds")]).unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { .. }), "{err}");
        let cfg = parse(&[
            (HUB_ADDR, "hub:7443"),
            (CREDENTIALS_SECRET, "creds"),
            (NAMESPACE, "kubeworkz"),
        ])
        .unwrap();
        assert_eq!(
            cfg.credentials,
            CredentialsLocation::Secret {
                namespace: Some("kubeworkz".into()),
                name: "creds".into()
            }
        );
    }

    #[test]
    fn the_token_is_parsed_and_never_shown() {
        let token = EnrollmentToken::generate(CaPin([7; 32]));
        let exposed = token.expose();
        let cfg = parse(&[(HUB_ADDR, "hub:7443"), (TOKEN, &exposed), FILE]).unwrap();
        assert_eq!(cfg.token.as_ref(), Some(&token));
        let secret = exposed.split('.').nth(2).unwrap();
        assert!(!format!("{cfg:?}").contains(secret));

        // A malformed token names the variable and the part, not the value.
        let bad = format!("kwt1.{}.tooshort.{}", token.public_id(), token.ca_pin());
        let err = parse(&[(HUB_ADDR, "hub:7443"), (TOKEN, &bad), FILE]).unwrap_err();
        assert!(
            err.to_string().starts_with("KUBEWORKZ_TOKEN is invalid"),
            "{err}"
        );
        assert!(!err.to_string().contains("tooshort"), "{err}");
    }

    #[test]
    fn a_separate_ca_pin_must_match_the_token() {
        let token = EnrollmentToken::generate(CaPin([7; 32]));
        let exposed = token.expose();
        let hex = "07".repeat(32);
        let base64 = CaPin([7; 32]).to_string();
        for pin in [hex.as_str(), base64.as_str()] {
            let cfg = parse(&[
                (HUB_ADDR, "hub:7443"),
                (TOKEN, &exposed),
                (CA_PIN, pin),
                FILE,
            ])
            .unwrap();
            assert_eq!(cfg.ca_pin, Some(CaPin([7; 32])));
        }
        let other = "08".repeat(32);
        let err = parse(&[
            (HUB_ADDR, "hub:7443"),
            (TOKEN, &exposed),
            (CA_PIN, &other),
            FILE,
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { .. }), "{err}");
    }
}
