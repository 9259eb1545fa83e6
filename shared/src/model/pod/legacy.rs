//! The pod projection as agents before labels, images and container states send it.
//!
//! Postcard is positional, so those agents' pods keep their own `Object` variant
//! (`Object::LegacyPod`) and layout, frozen here; the hub upgrades them into
//! [`PodProjection`] as it ingests them, so the rest of the hub only sees the current one.

use serde::{Deserialize, Serialize};

use super::{ContainerKind, ContainerProjection, PodOwner, PodPhase, PodProjection, QosClass};
use crate::model::ResourceAmounts;
use crate::time::UnixMillis;

/// A container as legacy agents send it (the layout is the wire format: never change it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyContainerProjection {
    /// Container name.
    pub name: String,
    /// App, init or sidecar.
    pub kind: ContainerKind,
    /// Requests.
    pub requests: ResourceAmounts,
    /// Limits.
    pub limits: ResourceAmounts,
    /// Restart count.
    pub restarts: u32,
    /// Readiness.
    pub ready: bool,
}

/// A pod as legacy agents send it (the layout is the wire format: never change it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyPodProjection {
    /// Pod name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Node the pod is bound to.
    pub node: Option<String>,
    /// Lifecycle phase.
    pub phase: PodPhase,
    /// Controlling owner.
    pub owner: Option<PodOwner>,
    /// Init containers, then app containers.
    pub containers: Vec<LegacyContainerProjection>,
    /// `spec.overhead`.
    pub overhead: ResourceAmounts,
    /// The `Ready` pod condition.
    pub ready: bool,
    /// When the kubelet accepted the pod.
    pub start_time: Option<UnixMillis>,
    /// QoS class.
    pub qos_class: QosClass,
    /// PersistentVolumeClaims the pod mounts.
    pub pvc_claims: Vec<String>,
    /// Creation time.
    pub created: Option<UnixMillis>,
    /// Deletion requested.
    pub deleted: Option<UnixMillis>,
}

/// What a legacy agent did not send stays empty: no labels, images or states.
impl From<LegacyContainerProjection> for ContainerProjection {
    fn from(c: LegacyContainerProjection) -> Self {
        Self {
            name: c.name,
            kind: c.kind,
            requests: c.requests,
            limits: c.limits,
            restarts: c.restarts,
            ready: c.ready,
            image: String::new(),
            state: None,
            last_termination_reason: None,
        }
    }
}

impl From<LegacyPodProjection> for PodProjection {
    fn from(p: LegacyPodProjection) -> Self {
        Self {
            name: p.name,
            namespace: p.namespace,
            uid: p.uid,
            node: p.node,
            phase: p.phase,
            owner: p.owner,
            containers: p.containers.into_iter().map(Into::into).collect(),
            overhead: p.overhead,
            ready: p.ready,
            start_time: p.start_time,
            qos_class: p.qos_class,
            pvc_claims: p.pvc_claims,
            created: p.created,
            deleted: p.deleted,
            labels: Default::default(),
            reason: None,
        }
    }
}
