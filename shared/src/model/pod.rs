//! Pod projection: placement, ownership and per-container requests and limits, the inputs of
//! the cost engine; labels, images and container states, what search and the pod pages show.

use k8s_openapi::api::core::v1::{self as core, Container, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde::{Deserialize, Serialize};

use super::{Labels, ResourceAmounts};
use crate::time::UnixMillis;

/// Label the ReplicaSet controller puts on the pods (and name) of a Deployment's ReplicaSet.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Lifecycle phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted, not all containers running yet (scheduling, pulling images).
    Pending,
    /// Bound to a node, at least one container running.
    Running,
    /// All containers exited successfully.
    Succeeded,
    /// All containers exited, at least one failed.
    Failed,
    /// Node unreachable, or a phase this version does not know.
    Unknown,
}

/// Kubernetes QoS class, which decides eviction order and how requests relate to limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QosClass {
    /// Every container's cpu and memory requests equal its limits.
    Guaranteed,
    /// Some request or limit set, not Guaranteed.
    Burstable,
    /// No cpu or memory request or limit anywhere.
    BestEffort,
}

/// The kind of the controller that owns a pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OwnerKind {
    /// Resolved through the ReplicaSet (see [`resolve_owner`]).
    Deployment,
    /// A ReplicaSet not created by a Deployment (or not recognisably so).
    ReplicaSet,
    /// StatefulSet.
    StatefulSet,
    /// DaemonSet.
    DaemonSet,
    /// Job (CronJob-created Jobs stay Jobs: the Job's own owner is not visible from the pod).
    Job,
    /// Static (mirror) pods are owned by their Node.
    Node,
    /// Any other controller kind, e.g. an operator's custom resource.
    Other(String),
    /// batch/v1 CronJob: never a pod's controller, the controller of its Jobs.
    CronJob,
}

impl OwnerKind {
    /// The kind of an owner reference's `kind` string (`Deployment`, `CronJob`, …).
    pub fn from_api(kind: &str) -> Self {
        match kind {
            "Deployment" => Self::Deployment,
            "ReplicaSet" => Self::ReplicaSet,
            "StatefulSet" => Self::StatefulSet,
            "DaemonSet" => Self::DaemonSet,
            "Job" => Self::Job,
            "CronJob" => Self::CronJob,
            "Node" => Self::Node,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The Kubernetes kind name, which is also the `owner_kind` the store keeps.
    pub fn as_api(&self) -> &str {
        match self {
            Self::Deployment => "Deployment",
            Self::ReplicaSet => "ReplicaSet",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
            Self::Node => "Node",
            Self::Other(kind) => kind,
        }
    }
}

/// The controlling owner of an object (`controller: true`), as Kubernetes names it: the
/// Deployment of a ReplicaSet, the CronJob of a Job.
pub fn controller_of(owners: &[OwnerReference]) -> Option<PodOwner> {
    let controller = owners.iter().find(|o| o.controller == Some(true))?;
    Some(PodOwner {
        kind: OwnerKind::from_api(&controller.kind),
        name: controller.name.clone(),
    })
}

/// The controller of a pod (or of a ReplicaSet or Job): kind and name (in the object's
/// namespace, except for `Node`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodOwner {
    /// Controller kind.
    pub kind: OwnerKind,
    /// Controller name.
    pub name: String,
}

/// Where a container runs in the pod lifecycle; it decides how its requests count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerKind {
    /// A regular container.
    App,
    /// An init container that runs to completion before the app containers.
    Init,
    /// An init container with `restartPolicy: Always` (native sidecar): runs alongside the app.
    Sidecar,
}

/// What a container is doing, from its status: the reason it waits or ended is what
/// `kubectl get pods` shows as the pod's status (`CrashLoopBackOff`, `OOMKilled`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    /// Not running yet or between restarts.
    Waiting {
        /// `ContainerCreating`, `CrashLoopBackOff`, `ImagePullBackOff`…
        reason: Option<String>,
    },
    /// Running.
    Running,
    /// Exited.
    Terminated {
        /// `Completed`, `Error`, `OOMKilled`…
        reason: Option<String>,
        /// The process's exit code.
        exit_code: i32,
    },
}

/// One container's resources and state. Fields after `ready` are absent from rows stored
/// before they existed, hence their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerProjection {
    /// Container name (unique in the pod); joins usage samples to requests.
    pub name: String,
    /// App, init or sidecar.
    pub kind: ContainerKind,
    /// Requests.
    pub requests: ResourceAmounts,
    /// Limits.
    pub limits: ResourceAmounts,
    /// Restart count from the container status.
    pub restarts: u32,
    /// Container readiness from the container status.
    pub ready: bool,
    /// Image reference as the spec gives it (`nginx:1.25`), what `image:` searches.
    #[serde(default)]
    pub image: String,
    /// Current state; `None` before the kubelet reports one.
    #[serde(default)]
    pub state: Option<ContainerState>,
    /// Why the previous run ended (`OOMKilled`), which a crash loop hides behind its waiting
    /// reason.
    #[serde(default)]
    pub last_termination_reason: Option<String>,
}

/// The kept part of a `Pod`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodProjection {
    /// Pod name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Node the pod is bound to; `None` while unscheduled.
    pub node: Option<String>,
    /// Lifecycle phase.
    pub phase: PodPhase,
    /// Controlling owner, ReplicaSets resolved to Deployments.
    pub owner: Option<PodOwner>,
    /// Init containers (in order), then app containers.
    pub containers: Vec<ContainerProjection>,
    /// `spec.overhead` (RuntimeClass overhead such as Kata VMs), counted on top of containers.
    pub overhead: ResourceAmounts,
    /// The `Ready` pod condition.
    pub ready: bool,
    /// When the kubelet accepted the pod.
    pub start_time: Option<UnixMillis>,
    /// QoS class (status value, or derived when the status has none yet).
    pub qos_class: QosClass,
    /// PersistentVolumeClaims the pod mounts, including generic ephemeral volumes' claims.
    pub pvc_claims: Vec<String>,
    /// Creation time.
    pub created: Option<UnixMillis>,
    /// Set once deletion has been requested (graceful termination under way).
    pub deleted: Option<UnixMillis>,
    /// Labels, what `label:` searches. Absent from rows stored before it existed.
    #[serde(default)]
    pub labels: Labels,
    /// `status.reason` (`Evicted`, `NodeLost`), which overrides the phase in the status shown.
    #[serde(default)]
    pub reason: Option<String>,
}

impl PodProjection {
    /// Restarts summed over all containers.
    pub fn restarts(&self) -> u32 {
        self.containers
            .iter()
            .map(|c| c.restarts)
            .fold(0, u32::saturating_add)
    }

    /// The pod's effective requests by the Kubernetes scheduler rule: the larger of (app
    /// containers + sidecars) and the peak of any init step (each init container plus the
    /// sidecars started before it), plus overhead. A resource no container requests stays
    /// `None`.
    pub fn effective_requests(&self) -> ResourceAmounts {
        let mut sidecars = ResourceAmounts::default();
        let mut init_peak = ResourceAmounts::default();
        let mut apps = ResourceAmounts::default();
        for container in &self.containers {
            match container.kind {
                ContainerKind::Sidecar => {
                    sidecars = sidecars.zip_with(container.requests, u64::saturating_add);
                    init_peak = init_peak.zip_with(sidecars, u64::max);
                }
                ContainerKind::Init => {
                    let step = container.requests.zip_with(sidecars, u64::saturating_add);
                    init_peak = init_peak.zip_with(step, u64::max);
                }
                ContainerKind::App => apps = apps.zip_with(container.requests, u64::saturating_add),
            }
        }
        apps.zip_with(sidecars, u64::saturating_add)
            .zip_with(init_peak, u64::max)
            .zip_with(self.overhead, u64::saturating_add)
    }
}

/// The pod's controller. A ReplicaSet named `<deployment>-<hash>` whose `<hash>` equals the
/// pod's `pod-template-hash` label was created by the Deployment `<deployment>`: the
/// Deployment controller names ReplicaSets that way and copies the hash label to their pods.
/// This avoids watching ReplicaSets just to follow one owner reference; a hand-made
/// ReplicaSet without that naming stays a ReplicaSet.
pub fn resolve_owner(owners: &[OwnerReference], labels: &Labels) -> Option<PodOwner> {
    let controller = controller_of(owners)?;
    if controller.kind == OwnerKind::ReplicaSet {
        let deployment = labels.get(POD_TEMPLATE_HASH_LABEL).and_then(|hash| {
            controller
                .name
                .strip_suffix(hash.as_str())
                .and_then(|rest| rest.strip_suffix('-'))
                .filter(|name| !name.is_empty() && !hash.is_empty())
        });
        if let Some(name) = deployment {
            return Some(PodOwner {
                kind: OwnerKind::Deployment,
                name: name.to_owned(),
            });
        }
    }
    Some(controller)
}

/// The QoS class Kubernetes would assign, for pods whose status does not carry one yet.
pub fn derive_qos_class(containers: &[ContainerProjection]) -> QosClass {
    let any_set = containers.iter().any(|c| {
        c.requests.cpu_millis.is_some()
            || c.requests.memory_bytes.is_some()
            || c.limits.cpu_millis.is_some()
            || c.limits.memory_bytes.is_some()
    });
    if !any_set {
        return QosClass::BestEffort;
    }
    // Requests default to limits when only limits are given.
    let guaranteed = containers.iter().all(|c| {
        let equal = |request: Option<u64>, limit: Option<u64>| {
            limit.is_some() && request.or(limit) == limit
        };
        equal(c.requests.cpu_millis, c.limits.cpu_millis)
            && equal(c.requests.memory_bytes, c.limits.memory_bytes)
    });
    if guaranteed {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

fn container(
    spec: &Container,
    kind: ContainerKind,
    statuses: Option<&Vec<ContainerStatus>>,
) -> ContainerProjection {
    let status = statuses.into_iter().flatten().find(|s| s.name == spec.name);
    let resources = spec.resources.as_ref();
    ContainerProjection {
        name: spec.name.clone(),
        kind,
        requests: ResourceAmounts::from_resource_list(resources.and_then(|r| r.requests.as_ref())),
        limits: ResourceAmounts::from_resource_list(resources.and_then(|r| r.limits.as_ref())),
        restarts: super::non_negative(status.map(|s| s.restart_count)),
        ready: status.is_some_and(|s| s.ready),
        image: spec.image.clone().unwrap_or_default(),
        state: status.and_then(|s| s.state.as_ref()).and_then(state),
        last_termination_reason: status
            .and_then(|s| s.last_state.as_ref())
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.reason.clone()),
    }
}

fn state(state: &core::ContainerState) -> Option<ContainerState> {
    if let Some(waiting) = &state.waiting {
        Some(ContainerState::Waiting {
            reason: waiting.reason.clone(),
        })
    } else if let Some(terminated) = &state.terminated {
        Some(ContainerState::Terminated {
            reason: terminated.reason.clone(),
            exit_code: terminated.exit_code,
        })
    } else {
        state.running.as_ref().map(|_| ContainerState::Running)
    }
}

impl From<&Pod> for PodProjection {
    fn from(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let name = super::name_of(meta);
        let labels = meta.labels.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let init_statuses = status.and_then(|s| s.init_container_statuses.as_ref());
        let app_statuses = status.and_then(|s| s.container_statuses.as_ref());

        let mut containers = Vec::new();
        for c in spec
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
        {
            let kind = if c.restart_policy.as_deref() == Some("Always") {
                ContainerKind::Sidecar
            } else {
                ContainerKind::Init
            };
            containers.push(container(c, kind, init_statuses));
        }
        for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
            containers.push(container(c, ContainerKind::App, app_statuses));
        }

        let pvc_claims = spec
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|v| match (&v.persistent_volume_claim, &v.ephemeral) {
                (Some(claim), _) => Some(claim.claim_name.clone()),
                // Generic ephemeral volumes get a PVC named `<pod>-<volume>`.
                (None, Some(_)) => Some(format!("{name}-{}", v.name)),
                (None, None) => None,
            })
            .collect();

        let phase = match status.and_then(|s| s.phase.as_deref()) {
            Some("Pending") => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            _ => PodPhase::Unknown,
        };
        let qos_class = match status.and_then(|s| s.qos_class.as_deref()) {
            Some("Guaranteed") => QosClass::Guaranteed,
            Some("Burstable") => QosClass::Burstable,
            Some("BestEffort") => QosClass::BestEffort,
            _ => derive_qos_class(&containers),
        };
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");

        Self {
            owner: resolve_owner(
                meta.owner_references.as_deref().unwrap_or_default(),
                &labels,
            ),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            node: spec.and_then(|s| s.node_name.clone()),
            phase,
            containers,
            overhead: ResourceAmounts::from_resource_list(spec.and_then(|s| s.overhead.as_ref())),
            ready,
            start_time: status
                .and_then(|s| s.start_time.as_ref())
                .map(UnixMillis::from),
            qos_class,
            pvc_claims,
            created: super::created_of(meta),
            deleted: meta.deletion_timestamp.as_ref().map(UnixMillis::from),
            reason: status.and_then(|s| s.reason.clone()),
            labels,
            name,
        }
    }
}

mod legacy;
mod status;

/// The STATUS tests' pod builders, shared with other models' tests.
#[cfg(test)]
pub(crate) use status::tests as status_tests;

pub use legacy::{LegacyContainerProjection, LegacyPodProjection};
pub use status::pod_status;

#[cfg(test)]
mod tests;
