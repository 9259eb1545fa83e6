//! Node projection: what inventory, health, provider detection and idle cost need of a node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::{Deserialize, Serialize};

use super::{Condition, ConditionStatus, GPU_RESOURCES, Labels};
use crate::quantity;
use crate::time::UnixMillis;

/// Label naming the node's cloud instance type (the price key for idle cost).
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
/// The deprecated spelling, still set by older clusters and some managed offerings.
pub const INSTANCE_TYPE_LABEL_BETA: &str = "beta.kubernetes.io/instance-type";
/// Label naming the availability zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Label naming the region.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// Whether the node runs the control plane. Managed clusters (EKS, GKE, AKS) show none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeRole {
    /// Labeled `node-role.kubernetes.io/control-plane` (or the older `…/master`).
    ControlPlane,
    /// Everything else.
    Worker,
}

impl NodeRole {
    /// Derives the role from node labels; `kubernetes.io/role=master` is the pre-1.20 form.
    pub fn from_labels(labels: &Labels) -> Self {
        let control_plane = labels.contains_key("node-role.kubernetes.io/control-plane")
            || labels.contains_key("node-role.kubernetes.io/master")
            || labels
                .get("kubernetes.io/role")
                .is_some_and(|r| r == "master");
        if control_plane {
            Self::ControlPlane
        } else {
            Self::Worker
        }
    }
}

/// Capacity or allocatable of a node. Always present on a registered node, so not optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResources {
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Maximum pods.
    pub pods: u64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage_bytes: u64,
    /// GPUs.
    pub gpus: u64,
}

impl NodeResources {
    fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let Some(list) = list else {
            return Self::default();
        };
        let get = |name: &str, parse: fn(&Quantity) -> Result<u64, quantity::QuantityError>| {
            list.get(name).and_then(|q| parse(q).ok()).unwrap_or(0)
        };
        Self {
            cpu_millis: get("cpu", quantity::cpu_millis),
            memory_bytes: get("memory", quantity::bytes),
            pods: get("pods", quantity::bytes),
            ephemeral_storage_bytes: get("ephemeral-storage", quantity::bytes),
            gpus: GPU_RESOURCES
                .iter()
                .map(|name| get(name, quantity::bytes))
                .sum(),
        }
    }
}

/// A node taint; `effect` is `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value, if any.
    pub value: Option<String>,
    /// Taint effect as the API spells it.
    pub effect: String,
}

/// The kept part of a `Node`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeProjection {
    /// Node name.
    pub name: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Control plane or worker.
    pub role: NodeRole,
    /// Cloud instance type, if labeled.
    pub instance_type: Option<String>,
    /// Availability zone, if labeled.
    pub zone: Option<String>,
    /// Region, if labeled.
    pub region: Option<String>,
    /// Total resources.
    pub capacity: NodeResources,
    /// Resources available to pods.
    pub allocatable: NodeResources,
    /// Ready and the pressure conditions.
    pub conditions: Vec<Condition>,
    /// e.g. `v1.30.2-eks-1552ad0`.
    pub kubelet_version: String,
    /// `spec.providerID`, e.g. `aws:///us-east-1a/i-0abc…`.
    pub provider_id: Option<String>,
    /// All node labels (provider detection and `aggregate=label:` need them).
    pub labels: Labels,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Creation time.
    pub created: Option<UnixMillis>,
    /// Cordoned.
    pub unschedulable: bool,
}

impl NodeProjection {
    /// Status of the `Ready` condition; `Unknown` when the condition is missing.
    pub fn ready_status(&self) -> ConditionStatus {
        self.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map_or(ConditionStatus::Unknown, |c| c.status)
    }

    /// True only when `Ready` is `True`; `Unknown` (kubelet silent) counts as not ready.
    pub fn is_ready(&self) -> bool {
        self.ready_status() == ConditionStatus::True
    }
}

impl From<&Node> for NodeProjection {
    fn from(node: &Node) -> Self {
        let meta = &node.metadata;
        let labels = super::labels_of(meta);
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let instance_type = labels
            .get(INSTANCE_TYPE_LABEL)
            .or_else(|| labels.get(INSTANCE_TYPE_LABEL_BETA))
            .cloned();
        Self {
            name: super::name_of(meta),
            uid: super::uid_of(meta),
            role: NodeRole::from_labels(&labels),
            instance_type,
            zone: labels.get(ZONE_LABEL).cloned(),
            region: labels.get(REGION_LABEL).cloned(),
            capacity: NodeResources::from_list(status.and_then(|s| s.capacity.as_ref())),
            allocatable: NodeResources::from_list(status.and_then(|s| s.allocatable.as_ref())),
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
            kubelet_version: status
                .and_then(|s| s.node_info.as_ref())
                .map(|info| info.kubelet_version.clone())
                .unwrap_or_default(),
            provider_id: spec.and_then(|s| s.provider_id.clone()),
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    effect: t.effect.clone(),
                })
                .collect(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            created: super::created_of(meta),
            labels,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A worker node as an EKS cluster serves it (trimmed of images and addresses).
    pub(crate) const EKS_NODE: &str = r#"{
      "apiVersion": "v1", "kind": "Node",
      "metadata": {
        "name": "ip-10-0-1-23.ec2.internal",
        "uid": "0b7c1b52-3f1e-4a9e-9d35-7a1c2f0e9b11",
        "creationTimestamp": "2024-04-30T08:15:00Z",
        "labels": {
          "beta.kubernetes.io/arch": "amd64",
          "beta.kubernetes.io/instance-type": "m5.large",
          "eks.amazonaws.com/capacityType": "ON_DEMAND",
          "eks.amazonaws.com/nodegroup": "general",
          "kubernetes.io/hostname": "ip-10-0-1-23.ec2.internal",
          "node.kubernetes.io/instance-type": "m5.xlarge",
          "topology.kubernetes.io/region": "us-east-1",
          "topology.kubernetes.io/zone": "us-east-1a"
        },
        "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1"}]
      },
      "spec": {
        "providerID": "aws:///us-east-1a/i-0abc1234def567890",
        "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
      },
      "status": {
        "capacity": {"cpu": "4", "memory": "16069952Ki", "pods": "58",
                     "ephemeral-storage": "83873772Ki", "nvidia.com/gpu": "1"},
        "allocatable": {"cpu": "3920m", "memory": "15052096Ki", "pods": "58",
                        "ephemeral-storage": "76224326324", "nvidia.com/gpu": "1"},
        "conditions": [
          {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
           "lastHeartbeatTime": "2024-05-01T10:00:00Z", "lastTransitionTime": "2024-04-30T08:15:00Z"},
          {"type": "Ready", "status": "True", "reason": "KubeletReady",
           "message": "kubelet is posting ready status",
           "lastHeartbeatTime": "2024-05-01T10:00:00Z", "lastTransitionTime": "2024-04-30T08:16:10Z"}
        ],
        "nodeInfo": {"architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://1.7.11",
                     "kernelVersion": "5.10.210", "kubeProxyVersion": "", "kubeletVersion": "v1.29.3-eks-ae9a62a",
                     "machineID": "m", "operatingSystem": "linux", "osImage": "Amazon Linux 2", "systemUUID": "s"}
      }
    }"#;

    #[test]
    fn eks_worker_node_projects_every_kept_field() {
        let node: Node = serde_json::from_str(EKS_NODE).unwrap();
        let p = NodeProjection::from(&node);
        assert_eq!(p.name, "ip-10-0-1-23.ec2.internal");
        assert_eq!(p.uid, "0b7c1b52-3f1e-4a9e-9d35-7a1c2f0e9b11");
        assert_eq!(p.role, NodeRole::Worker);
        // The GA label wins over the beta one.
        assert_eq!(p.instance_type.as_deref(), Some("m5.xlarge"));
        assert_eq!(p.zone.as_deref(), Some("us-east-1a"));
        assert_eq!(p.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            p.capacity,
            NodeResources {
                cpu_millis: 4000,
                memory_bytes: 16_069_952 * 1024,
                pods: 58,
                ephemeral_storage_bytes: 83_873_772 * 1024,
                gpus: 1,
            }
        );
        assert_eq!(p.allocatable.cpu_millis, 3920);
        assert_eq!(p.allocatable.ephemeral_storage_bytes, 76_224_326_324);
        assert_eq!(p.kubelet_version, "v1.29.3-eks-ae9a62a");
        assert_eq!(
            p.provider_id.as_deref(),
            Some("aws:///us-east-1a/i-0abc1234def567890")
        );
        assert_eq!(p.taints[0].effect, "NoSchedule");
        assert_eq!(p.taints[0].value.as_deref(), Some("batch"));
        assert_eq!(p.created, UnixMillis::parse_rfc3339("2024-04-30T08:15:00Z"));
        assert!(!p.unschedulable);
        assert!(p.is_ready());
        let ready = p.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            ready.last_transition,
            UnixMillis::parse_rfc3339("2024-04-30T08:16:10Z")
        );
    }

    #[test]
    fn beta_instance_type_label_is_the_fallback() {
        let mut node: Node = serde_json::from_str(EKS_NODE).unwrap();
        node.metadata
            .labels
            .as_mut()
            .unwrap()
            .remove(INSTANCE_TYPE_LABEL);
        assert_eq!(
            NodeProjection::from(&node).instance_type.as_deref(),
            Some("m5.large")
        );
    }

    #[test]
    fn roles_come_from_node_role_labels() {
        let labels = |keys: &[(&str, &str)]| -> Labels {
            keys.iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        let cases = [
            (
                labels(&[("node-role.kubernetes.io/control-plane", "")]),
                NodeRole::ControlPlane,
            ),
            (
                labels(&[("node-role.kubernetes.io/master", "true")]),
                NodeRole::ControlPlane,
            ),
            (
                labels(&[("kubernetes.io/role", "master")]),
                NodeRole::ControlPlane,
            ),
            (
                labels(&[("node-role.kubernetes.io/worker", "")]),
                NodeRole::Worker,
            ),
            (
                labels(&[("node-role.kubernetes.io/infra", "")]),
                NodeRole::Worker,
            ),
            (labels(&[]), NodeRole::Worker),
        ];
        for (labels, want) in cases {
            assert_eq!(NodeRole::from_labels(&labels), want, "{labels:?}");
        }
    }

    #[test]
    fn a_node_without_a_ready_condition_is_not_ready() {
        let node: Node = serde_json::from_str(
            r#"{"metadata": {"name": "fresh"}, "spec": {"unschedulable": true}, "status": {}}"#,
        )
        .unwrap();
        let p = NodeProjection::from(&node);
        assert_eq!(p.ready_status(), ConditionStatus::Unknown);
        assert!(!p.is_ready());
        assert!(p.unschedulable);
        assert_eq!(p.capacity, NodeResources::default());
    }
}
