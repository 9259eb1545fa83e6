//! Namespace projection and the label keys that attribute a namespace to a team and cost center.

use k8s_openapi::api::core::v1::Namespace;
use serde::{Deserialize, Serialize};

use super::Labels;
use crate::time::UnixMillis;

/// `Active` or `Terminating`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NamespacePhase {
    /// Usable.
    Active,
    /// Being deleted; its pods are going away.
    Terminating,
    /// A phase this version does not know (or none reported yet).
    Unknown,
}

/// The kept part of a `Namespace`.
///
/// Team and cost center are not stored: they are read from `labels` with [`LabelKeys`] when
/// needed, so changing the configured keys needs no re-collection and nothing is stored twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceProjection {
    /// Namespace name.
    pub name: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// All namespace labels.
    pub labels: Labels,
    /// Lifecycle phase.
    pub phase: NamespacePhase,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl NamespaceProjection {
    /// The owning team, from the label named by `keys.team`.
    pub fn team<'a>(&'a self, keys: &LabelKeys) -> Option<&'a str> {
        self.labels.get(&keys.team).map(String::as_str)
    }

    /// The cost center, from the label named by `keys.cost_center`.
    pub fn cost_center<'a>(&'a self, keys: &LabelKeys) -> Option<&'a str> {
        self.labels.get(&keys.cost_center).map(String::as_str)
    }
}

impl From<&Namespace> for NamespaceProjection {
    fn from(namespace: &Namespace) -> Self {
        let meta = &namespace.metadata;
        let phase = match namespace.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Active") => NamespacePhase::Active,
            Some("Terminating") => NamespacePhase::Terminating,
            _ => NamespacePhase::Unknown,
        };
        Self {
            name: super::name_of(meta),
            uid: super::uid_of(meta),
            labels: super::labels_of(meta),
            phase,
            created: super::created_of(meta),
        }
    }
}

/// Which namespace labels name the team and the cost center. Organizations label differently
/// (`team`, `owner`, `app.kubernetes.io/part-of`, …), so the keys are configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelKeys {
    /// Label key holding the team name. Default `team`.
    pub team: String,
    /// Label key holding the cost center. Default `cost-center`.
    pub cost_center: String,
}

impl Default for LabelKeys {
    fn default() -> Self {
        Self {
            team: "team".to_owned(),
            cost_center: "cost-center".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTION_API: &str = r#"{
      "apiVersion": "v1", "kind": "Namespace",
      "metadata": {
        "name": "production-api",
        "uid": "5f0d7a42-1c11-4b8e-8f55-4f5b8a1d2e3c",
        "creationTimestamp": "2024-01-15T09:30:00Z",
        "labels": {
          "kubernetes.io/metadata.name": "production-api",
          "team": "platform",
          "cost-center": "engineering",
          "owner": "sre"
        },
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"big\": true}"}
      },
      "spec": {"finalizers": ["kubernetes"]},
      "status": {"phase": "Active"}
    }"#;

    #[test]
    fn namespace_projects_name_labels_phase_and_created() {
        let ns: Namespace = serde_json::from_str(PRODUCTION_API).unwrap();
        let p = NamespaceProjection::from(&ns);
        assert_eq!(p.name, "production-api");
        assert_eq!(p.uid, "5f0d7a42-1c11-4b8e-8f55-4f5b8a1d2e3c");
        assert_eq!(p.phase, NamespacePhase::Active);
        assert_eq!(p.labels.len(), 4);
        assert_eq!(p.created, UnixMillis::parse_rfc3339("2024-01-15T09:30:00Z"));
    }

    #[test]
    fn team_and_cost_center_use_the_default_keys() {
        let p =
            NamespaceProjection::from(&serde_json::from_str::<Namespace>(PRODUCTION_API).unwrap());
        let keys = LabelKeys::default();
        assert_eq!(p.team(&keys), Some("platform"));
        assert_eq!(p.cost_center(&keys), Some("engineering"));
    }

    #[test]
    fn team_and_cost_center_follow_configured_keys() {
        let p =
            NamespaceProjection::from(&serde_json::from_str::<Namespace>(PRODUCTION_API).unwrap());
        let keys = LabelKeys {
            team: "owner".into(),
            cost_center: "billing/center".into(),
        };
        assert_eq!(p.team(&keys), Some("sre"));
        assert_eq!(p.cost_center(&keys), None);
    }

    #[test]
    fn terminating_and_missing_phases_map() {
        let mut ns: Namespace = serde_json::from_str(PRODUCTION_API).unwrap();
        ns.status.as_mut().unwrap().phase = Some("Terminating".into());
        assert_eq!(
            NamespaceProjection::from(&ns).phase,
            NamespacePhase::Terminating
        );
        ns.status = None;
        assert_eq!(
            NamespaceProjection::from(&ns).phase,
            NamespacePhase::Unknown
        );
    }
}
