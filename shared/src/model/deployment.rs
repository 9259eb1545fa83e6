//! Deployment projection: rollout state for inventory and the "short of replicas" health rule.

use k8s_openapi::api::apps::v1::Deployment;
use serde::{Deserialize, Serialize};

use super::{Condition, Labels};
use crate::time::UnixMillis;

/// Replica counts as the deployment controller reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentReplicas {
    /// `spec.replicas` (Kubernetes defaults it to 1).
    pub desired: u32,
    /// Pods at the current template.
    pub updated: u32,
    /// Pods passing readiness.
    pub ready: u32,
    /// Pods ready for at least `minReadySeconds`.
    pub available: u32,
    /// Pods the controller still waits for.
    pub unavailable: u32,
}

/// How the deployment replaces pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStrategy {
    /// Gradual replacement; bounds as written (`"25%"` or `"1"`), `None` when defaulted.
    RollingUpdate {
        /// Pods allowed above `desired` during a rollout.
        max_surge: Option<String>,
        /// Pods allowed below `desired` during a rollout.
        max_unavailable: Option<String>,
    },
    /// All old pods go before new ones start.
    Recreate,
}

/// The kept part of a `Deployment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentProjection {
    /// Deployment name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Replica counts.
    pub replicas: DeploymentReplicas,
    /// `Available`, `Progressing`, `ReplicaFailure`.
    pub conditions: Vec<Condition>,
    /// Rollout strategy.
    pub strategy: DeploymentStrategy,
    /// Images of the pod template: containers first, then init containers, without repeats.
    pub images: Vec<String>,
    /// Deployment labels (ownership labels such as `app.kubernetes.io/*`, `team`).
    pub labels: Labels,
    /// `metadata.generation`: bumped by every spec change.
    pub generation: i64,
    /// `status.observedGeneration`: the generation the controller last acted on.
    pub observed_generation: Option<i64>,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl DeploymentProjection {
    /// Replicas wanted but not available. A rollout in progress can cause this briefly.
    pub fn short_of_available(&self) -> u32 {
        self.replicas
            .desired
            .saturating_sub(self.replicas.available)
    }

    /// True while the controller has not yet seen the latest spec.
    pub fn is_generation_pending(&self) -> bool {
        self.observed_generation
            .is_none_or(|observed| observed < self.generation)
    }
}

impl From<&Deployment> for DeploymentProjection {
    fn from(deployment: &Deployment) -> Self {
        let meta = &deployment.metadata;
        let spec = deployment.spec.as_ref();
        let status = deployment.status.as_ref();
        let strategy = match spec.and_then(|s| s.strategy.as_ref()) {
            Some(s) if s.type_.as_deref() == Some("Recreate") => DeploymentStrategy::Recreate,
            s => {
                let rolling = s.and_then(|s| s.rolling_update.as_ref());
                DeploymentStrategy::RollingUpdate {
                    max_surge: rolling
                        .and_then(|r| r.max_surge.as_ref())
                        .map(super::int_or_string),
                    max_unavailable: rolling
                        .and_then(|r| r.max_unavailable.as_ref())
                        .map(super::int_or_string),
                }
            }
        };
        let images = super::template_images(spec.and_then(|s| s.template.spec.as_ref()));
        let replicas = DeploymentReplicas {
            desired: spec
                .and_then(|s| s.replicas)
                .map_or(1, |r| u32::try_from(r).unwrap_or(0)),
            updated: super::non_negative(status.and_then(|s| s.updated_replicas)),
            ready: super::non_negative(status.and_then(|s| s.ready_replicas)),
            available: super::non_negative(status.and_then(|s| s.available_replicas)),
            unavailable: super::non_negative(status.and_then(|s| s.unavailable_replicas)),
        };
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            replicas,
            conditions: status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .map(|c| {
                    Condition::new(
                        &c.type_,
                        &c.status,
                        c.reason.as_ref(),
                        c.last_transition_time.as_ref(),
                    )
                })
                .collect(),
            strategy,
            images,
            labels: super::labels_of(meta),
            generation: meta.generation.unwrap_or(0),
            observed_generation: status.and_then(|s| s.observed_generation),
            created: super::created_of(meta),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConditionStatus;

    /// Mid-rollout: generation 4 seen, 2 of 3 available, a new image half rolled out.
    const CHECKOUT: &str = r#"{
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {
        "name": "checkout", "namespace": "production-api",
        "uid": "8d1e6c1a-7b9f-4d1e-a0a4-3c9e5f7b2d10",
        "generation": 4, "creationTimestamp": "2024-03-02T12:00:00Z",
        "labels": {"app.kubernetes.io/name": "checkout", "team": "payments"},
        "annotations": {"deployment.kubernetes.io/revision": "4"}
      },
      "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "checkout"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {
          "metadata": {"labels": {"app": "checkout"}},
          "spec": {
            "initContainers": [{"name": "migrate", "image": "registry.example/checkout:1.8.0"}],
            "containers": [
              {"name": "app", "image": "registry.example/checkout:1.8.0"},
              {"name": "envoy", "image": "envoyproxy/envoy:v1.30.1"}
            ]
          }
        }
      },
      "status": {
        "observedGeneration": 4, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3,
        "availableReplicas": 2, "unavailableReplicas": 1,
        "conditions": [
          {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
           "lastUpdateTime": "2024-05-01T10:00:00Z", "lastTransitionTime": "2024-05-01T10:00:00Z"},
          {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
           "lastUpdateTime": "2024-05-01T10:00:05Z", "lastTransitionTime": "2024-05-01T09:59:00Z"}
        ]
      }
    }"#;

    fn checkout() -> Deployment {
        serde_json::from_str(CHECKOUT).unwrap()
    }

    #[test]
    fn deployment_projects_replicas_strategy_images_and_generations() {
        let p = DeploymentProjection::from(&checkout());
        assert_eq!(
            (p.name.as_str(), p.namespace.as_str()),
            ("checkout", "production-api")
        );
        assert_eq!(
            p.replicas,
            DeploymentReplicas {
                desired: 3,
                updated: 2,
                ready: 3,
                available: 2,
                unavailable: 1
            }
        );
        assert_eq!(
            p.strategy,
            DeploymentStrategy::RollingUpdate {
                max_surge: Some("25%".into()),
                max_unavailable: Some("0".into())
            }
        );
        assert_eq!(
            p.images,
            [
                "registry.example/checkout:1.8.0",
                "envoyproxy/envoy:v1.30.1"
            ]
        );
        assert_eq!(p.labels.get("team").map(String::as_str), Some("payments"));
        assert_eq!((p.generation, p.observed_generation), (4, Some(4)));
        assert!(!p.is_generation_pending());
        assert_eq!(p.short_of_available(), 1);
        assert_eq!(p.conditions[0].type_, "Available");
        assert_eq!(p.conditions[0].status, ConditionStatus::False);
        assert_eq!(
            p.conditions[0].reason.as_deref(),
            Some("MinimumReplicasUnavailable")
        );
    }

    #[test]
    fn defaults_apply_when_fields_are_omitted() {
        let mut d = checkout();
        let spec = d.spec.as_mut().unwrap();
        spec.replicas = None;
        spec.strategy = None;
        d.status = None;
        d.metadata.generation = Some(1);
        let p = DeploymentProjection::from(&d);
        assert_eq!(p.replicas.desired, 1);
        assert_eq!(p.replicas.available, 0);
        assert_eq!(p.short_of_available(), 1);
        assert_eq!(
            p.strategy,
            DeploymentStrategy::RollingUpdate {
                max_surge: None,
                max_unavailable: None
            }
        );
        assert!(p.is_generation_pending());
    }

    #[test]
    fn recreate_strategy_and_scaled_to_zero() {
        let mut d = checkout();
        let spec = d.spec.as_mut().unwrap();
        spec.replicas = Some(0);
        spec.strategy.as_mut().unwrap().type_ = Some("Recreate".into());
        let p = DeploymentProjection::from(&d);
        assert_eq!(p.strategy, DeploymentStrategy::Recreate);
        assert_eq!(p.short_of_available(), 0);
    }
}
