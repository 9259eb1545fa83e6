//! Projections: the part of each Kubernetes object the product keeps.
//!
//! Collectors convert every watched object into one of these right away and drop the
//! original, which is what keeps the agent small (client-go informers need ~400 MiB for 10k
//! pods; a pod projection is a few hundred bytes). They are also the wire and store types, so
//! they use only postcard-safe serde: plain structs, enums, `Option`, `Vec`, `BTreeMap`
//! (ordered, so encodings are deterministic).
//!
//! Conversions are `From<&k8s_openapi type>` and never fail: every field the apiserver may
//! omit has a default, and a resource quantity that does not parse (the apiserver validates
//! them, so this does not happen with real objects) is treated as not set.

pub mod cluster_info;
pub mod deployment;
pub mod health;
pub mod helm;
pub mod jobs;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod provider;
pub mod quota;
pub mod storage;
pub mod usage;
pub mod workload;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use crate::quantity;
use crate::time::UnixMillis;

pub use cluster_info::ClusterInfo;
pub use deployment::{DeploymentProjection, DeploymentReplicas, DeploymentStrategy};
pub use health::{HealthReason, HealthReport, HealthSignals, HealthStatus};
pub use helm::{HelmReleaseProjection, HelmReleaseStatus};
pub use jobs::{CronJobProjection, JobProjection, JobState};
pub use namespace::{LabelKeys, NamespacePhase, NamespaceProjection};
pub use node::{NodeProjection, NodeResources, NodeRole, Taint};
pub use pod::{
    ContainerKind, ContainerProjection, ContainerState, LegacyContainerProjection,
    LegacyPodProjection, OwnerKind, PodOwner, PodPhase, PodProjection, QosClass, controller_of,
    pod_status,
};
pub use provider::Provider;
pub use quota::{
    LimitRangeLimit, LimitRangeProjection, QuotaResource, ResourceQuotaProjection, quantity_text,
};
pub use storage::{PersistentVolumeProjection, PvcPhase, PvcProjection, StorageClassProjection};
pub use usage::{NodeMetrics, PodMetrics, UsageAggregator, UsageBucket};
pub use workload::{
    DaemonSetCounts, DaemonSetProjection, ReplicaSetProjection, StatefulSetProjection,
    StatefulSetReplicas, StatefulSetUpdateStrategy,
};

/// Labels as Kubernetes has them; ordered so that encodings are deterministic.
pub type Labels = BTreeMap<String, String>;

/// The extended resource names counted as GPUs.
pub const GPU_RESOURCES: [&str; 2] = ["nvidia.com/gpu", "amd.com/gpu"];

/// `True` / `False` / `Unknown`, the tri-state of every Kubernetes condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell (e.g. a node whose kubelet stopped posting status).
    Unknown,
}

impl ConditionStatus {
    /// Maps the API string; anything but `True`/`False` is `Unknown`, as Kubernetes treats it.
    pub fn from_api(status: &str) -> Self {
        match status {
            "True" => Self::True,
            "False" => Self::False,
            _ => Self::Unknown,
        }
    }
}

/// A status condition, without its free-text message (long, and not needed for health rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// `Ready`, `MemoryPressure`, `Available`, `Progressing`, …
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Machine-readable reason, e.g. `KubeletNotReady`, `ProgressDeadlineExceeded`.
    pub reason: Option<String>,
    /// When `status` last changed.
    pub last_transition: Option<UnixMillis>,
}

impl Condition {
    pub(crate) fn new(
        type_: &str,
        status: &str,
        reason: Option<&String>,
        last_transition: Option<&Time>,
    ) -> Self {
        Self {
            type_: type_.to_owned(),
            status: ConditionStatus::from_api(status),
            reason: reason.cloned(),
            last_transition: last_transition.map(UnixMillis::from),
        }
    }
}

/// Requests or limits of one container, or a pod's effective total. `None` means "not set",
/// which the cost model treats differently from zero (no request → usage alone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAmounts {
    /// CPU in millicores.
    pub cpu_millis: Option<u64>,
    /// Memory in bytes.
    pub memory_bytes: Option<u64>,
    /// Ephemeral (node-local) storage in bytes.
    pub ephemeral_storage_bytes: Option<u64>,
    /// GPUs ([`GPU_RESOURCES`] summed).
    pub gpus: Option<u64>,
}

impl ResourceAmounts {
    /// Reads a Kubernetes resource list (`requests`, `limits`, `overhead`).
    pub fn from_resource_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let Some(list) = list else {
            return Self::default();
        };
        let get = |name: &str, parse: fn(&Quantity) -> Result<u64, quantity::QuantityError>| {
            list.get(name).and_then(|q| parse(q).ok())
        };
        let gpus = GPU_RESOURCES
            .iter()
            .filter_map(|name| get(name, quantity::bytes))
            .reduce(u64::saturating_add);
        Self {
            cpu_millis: get("cpu", quantity::cpu_millis),
            memory_bytes: get("memory", quantity::bytes),
            ephemeral_storage_bytes: get("ephemeral-storage", quantity::bytes),
            gpus,
        }
    }

    /// True when no resource is set at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Combines two amounts field by field; a field set on either side is set in the result.
    pub(crate) fn zip_with(self, other: Self, f: impl Fn(u64, u64) -> u64) -> Self {
        let merge = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(f(a, b)),
            (a, b) => a.or(b),
        };
        Self {
            cpu_millis: merge(self.cpu_millis, other.cpu_millis),
            memory_bytes: merge(self.memory_bytes, other.memory_bytes),
            ephemeral_storage_bytes: merge(
                self.ephemeral_storage_bytes,
                other.ephemeral_storage_bytes,
            ),
            gpus: merge(self.gpus, other.gpus),
        }
    }
}

/// Name, uid, labels and creation time: the metadata every projection starts from.
pub(crate) fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

pub(crate) fn uid_of(meta: &ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

pub(crate) fn namespace_of(meta: &ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_default()
}

pub(crate) fn labels_of(meta: &ObjectMeta) -> Labels {
    meta.labels.clone().unwrap_or_default()
}

pub(crate) fn created_of(meta: &ObjectMeta) -> Option<UnixMillis> {
    meta.creation_timestamp.as_ref().map(UnixMillis::from)
}

/// Clamps an API replica count or restart count (an `i32`, never negative in practice).
pub(crate) fn non_negative(value: Option<i32>) -> u32 {
    value.map_or(0, |v| u32::try_from(v).unwrap_or(0))
}

/// The images of a pod template: containers first, then init containers, without repeats —
/// what every workload page lists.
pub(crate) fn template_images(spec: Option<&PodSpec>) -> Vec<String> {
    let mut images: Vec<String> = Vec::new();
    let containers = spec.into_iter().flat_map(|p| {
        p.containers
            .iter()
            .chain(p.init_containers.iter().flatten())
    });
    for image in containers.filter_map(|c| c.image.as_ref()) {
        if !images.contains(image) {
            images.push(image.clone());
        }
    }
    images
}

/// A rollout bound as written: `"25%"` or `"1"`.
pub(crate) fn int_or_string(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
            .collect()
    }

    #[test]
    fn resource_lists_parse_into_exact_units() {
        let amounts = ResourceAmounts::from_resource_list(Some(&list(&[
            ("cpu", "250m"),
            ("memory", "512Mi"),
            ("ephemeral-storage", "1Gi"),
            ("nvidia.com/gpu", "2"),
        ])));
        assert_eq!(
            amounts,
            ResourceAmounts {
                cpu_millis: Some(250),
                memory_bytes: Some(512 << 20),
                ephemeral_storage_bytes: Some(1 << 30),
                gpus: Some(2),
            }
        );
    }

    #[test]
    fn unset_resources_stay_unset_not_zero() {
        let amounts = ResourceAmounts::from_resource_list(Some(&list(&[("memory", "64Mi")])));
        assert_eq!(amounts.cpu_millis, None);
        assert_eq!(amounts.gpus, None);
        assert!(ResourceAmounts::from_resource_list(None).is_empty());
    }

    #[test]
    fn unparseable_quantities_count_as_unset() {
        let amounts = ResourceAmounts::from_resource_list(Some(&list(&[("cpu", "lots")])));
        assert_eq!(amounts.cpu_millis, None);
    }

    #[test]
    fn condition_status_maps_unknown_strings_to_unknown() {
        assert_eq!(ConditionStatus::from_api("True"), ConditionStatus::True);
        assert_eq!(ConditionStatus::from_api("False"), ConditionStatus::False);
        assert_eq!(ConditionStatus::from_api("true"), ConditionStatus::Unknown);
    }
}
