//! The records the cluster calls read and write: what a registration says, what the API
//! shows, and what the pull-mode supervisor needs.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{HealthReason, HealthStatus};

/// The environment a cluster serves; filters and dashboards group by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// Serves customers.
    Production,
    /// Pre-production.
    Staging,
    /// Development and experiments.
    Development,
}

impl Environment {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "staging",
            Self::Development => "development",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown environment name.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("unknown environment {0:?}: use production, staging or development")]
pub struct UnknownEnvironment(pub String);

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Self::Production),
            "staging" => Ok(Self::Staging),
            "development" => Ok(Self::Development),
            other => Err(UnknownEnvironment(other.to_owned())),
        }
    }
}

/// How the hub learns about a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterMode {
    /// An agent in the cluster pushes to the hub; the hub holds no credential.
    Agent,
    /// The hub collects with a sealed kubeconfig (pull mode).
    Kubeconfig,
}

impl ClusterMode {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Kubeconfig => "kubeconfig",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "kubeconfig" => Some(Self::Kubeconfig),
            _ => None,
        }
    }
}

/// A kubeconfig sealed by [`crate::seal::Keyring`], bound to its cluster's id.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKubeconfig {
    /// The sealed blob.
    pub blob: Vec<u8>,
    /// The id of the key that sealed it (for rotation reports).
    pub key_id: String,
}

impl fmt::Debug for SealedKubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedKubeconfig(key {}, {} bytes)",
            self.key_id,
            self.blob.len()
        )
    }
}

/// A cluster to register. The id is chosen by the caller because a sealed kubeconfig is
/// bound to it before the row exists.
#[derive(Debug, Clone)]
pub struct NewCluster {
    /// Its id.
    pub id: ClusterId,
    /// The owning organization.
    pub org_id: OrgId,
    /// Unique within the organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Environment.
    pub environment: Environment,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Agent or pull mode; pull mode needs `kubeconfig`.
    pub mode: ClusterMode,
    /// The API server URL, when known.
    pub api_server_url: Option<String>,
    /// Detected provider (`eks`, `gke`, …), when known.
    pub provider: Option<String>,
    /// Server git version, when known.
    pub version: Option<String>,
    /// Pull mode's sealed kubeconfig.
    pub kubeconfig: Option<SealedKubeconfig>,
    /// Who registered it (user email or `cli`).
    pub created_by: Option<String>,
}

/// A registered cluster as the API shows it. Never carries the kubeconfig.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Id.
    pub id: ClusterId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Name, unique within the organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Environment.
    pub environment: Environment,
    /// Tags.
    pub tags: Vec<String>,
    /// Detected provider.
    pub provider: Option<String>,
    /// Server git version.
    pub version: Option<String>,
    /// API server URL.
    pub api_server_url: Option<String>,
    /// Agent or pull mode.
    pub mode: ClusterMode,
    /// Disabled clusters are neither collected nor accepted.
    pub enabled: bool,
    /// The latest health verdict, if any was recorded.
    pub health: Option<ClusterHealth>,
    /// Last successful ingest.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last collection error (pull mode), cleared by a successful sync.
    pub last_error: Option<String>,
    /// Last agent heartbeat.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Who registered it.
    pub created_by: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Last change to the row.
    pub updated_at: DateTime<Utc>,
}

/// A recorded health verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealth {
    /// Healthy, Degraded or Critical.
    pub status: HealthStatus,
    /// Every reason found.
    pub reasons: Vec<HealthReason>,
    /// When it was judged.
    pub checked_at: DateTime<Utc>,
}

/// A pull-mode cluster for the collector supervisor: what it needs to start a collector.
#[derive(Debug, Clone)]
pub struct PullTarget {
    /// Cluster id.
    pub id: ClusterId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Cluster name, for logs.
    pub name: String,
    /// The sealed kubeconfig (opened only inside the collector task).
    pub kubeconfig: SealedKubeconfig,
}
