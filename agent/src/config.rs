//! Agent configuration, read from environment variables only.
//!
//! The agent runs from a Helm chart, where env vars are the one interface every operator knows.
//! Each variable parses into a typed value and a bad one fails with an error that names the
//! variable and says what was expected; values of secret variables are never echoed back.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything the agent needs to run, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `host:port` of the hub's QUIC endpoint (`KUBEWORKZ_HUB_ADDR`).
    pub hub_addr: String,
    /// One-time enrollment token (`KUBEWORKZ_TOKEN`); only needed until the agent holds a
    /// certificate.
    pub token: Option<Secret>,
    /// Where `/healthz` and `/metrics` are served for probes (`KUBEWORKZ_ADMIN_LISTEN`).
    pub admin_listen: SocketAddr,
    /// What the collector needs.
    pub collector: CollectorSettings,
    /// Emit JSON logs (`KUBEWORKZ_LOG_FORMAT=json`), the default in-cluster.
    pub json_logs: bool,
}

/// A secret string whose `Debug` output is redacted, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret value; call sites that use it are the ones to audit.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
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
}

const HUB_ADDR: &str = "KUBEWORKZ_HUB_ADDR";
const TOKEN: &str = "KUBEWORKZ_TOKEN";
const ADMIN_LISTEN: &str = "KUBEWORKZ_ADMIN_LISTEN";
const USAGE_INTERVAL: &str = "KUBEWORKZ_USAGE_INTERVAL";
const HELM_RELEASES: &str = "KUBEWORKZ_HELM_RELEASES";
const LOG_FORMAT: &str = "KUBEWORKZ_LOG_FORMAT";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, which tests use instead of the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let hub_addr = get(HUB_ADDR).ok_or(ConfigError::Missing { name: HUB_ADDR })?;
        if !valid_host_port(&hub_addr) {
            return Err(invalid(HUB_ADDR, hub_addr, "host:port"));
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
        Ok(Self {
            hub_addr,
            token: get(TOKEN).map(Secret),
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
        Ok(Self {
            usage_interval,
            helm_releases,
        })
    }
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

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_hub_is_given() {
        let cfg = parse(&[(HUB_ADDR, "hub.example.com:7443")]).unwrap();
        assert_eq!(cfg.hub_addr, "hub.example.com:7443");
        assert_eq!(cfg.collector.usage_interval, Duration::from_secs(30));
        assert_eq!(cfg.admin_listen, "0.0.0.0:9090".parse().unwrap());
        assert!(cfg.collector.helm_releases);
        assert!(cfg.json_logs);
        assert_eq!(cfg.token, None);
    }

    #[test]
    fn missing_hub_is_named() {
        assert_eq!(parse(&[]), Err(ConfigError::Missing { name: HUB_ADDR }));
        assert_eq!(
            parse(&[(HUB_ADDR, "  ")]),
            Err(ConfigError::Missing { name: HUB_ADDR })
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_the_expectation() {
        let err = parse(&[(HUB_ADDR, "hub"), (USAGE_INTERVAL, "30")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"KUBEWORKZ_HUB_ADDR="hub" is invalid: expected host:port"#
        );
        let err = parse(&[(HUB_ADDR, "hub:7443"), (USAGE_INTERVAL, "2")]).unwrap_err();
        assert!(
            err.to_string().starts_with("KUBEWORKZ_USAGE_INTERVAL"),
            "{err}"
        );
        let err = parse(&[(HUB_ADDR, "hub:7443"), (HELM_RELEASES, "maybe")]).unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
        let err = parse(&[(HUB_ADDR, "hub:7443"), (LOG_FORMAT, "xml")]).unwrap_err();
        assert!(err.to_string().contains("json or text"), "{err}");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let cfg = parse(&[(HUB_ADDR, "hub:7443"), (TOKEN, "kwt_secret_value")]).unwrap();
        assert_eq!(cfg.token.as_ref().unwrap().expose(), "kwt_secret_value");
        assert!(!format!("{cfg:?}").contains("kwt_secret_value"));
    }
}
