//! Storage projections: PersistentVolumeClaims (what is billed), and the PersistentVolumes and
//! StorageClasses needed to size and price them.
//!
//! Storage cost is `requested size × hours bound`; the bound PV gives the real size when the
//! provisioner rounded up (EBS to whole GiB, Azure Disk to tiers), and the StorageClass's
//! provisioner and `type` parameter (gp3, pd-ssd, Premium_LRS) select the price.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::{Deserialize, Serialize};

use crate::quantity;
use crate::time::UnixMillis;

/// Annotation marking the cluster's default StorageClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// Phase of a claim or volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PvcPhase {
    /// Waiting for a volume (claims) or for a claim (volumes: `Available`).
    Pending,
    /// Bound: billed.
    Bound,
    /// The bound volume disappeared (claims) or the claim did (volumes: `Released`).
    Lost,
    /// Provisioning or recycling failed (volumes only).
    Failed,
    /// A phase this version does not know.
    Unknown,
}

impl PvcPhase {
    fn from_api(phase: Option<&str>) -> Self {
        match phase {
            Some("Pending" | "Available") => Self::Pending,
            Some("Bound") => Self::Bound,
            Some("Lost" | "Released") => Self::Lost,
            Some("Failed") => Self::Failed,
            _ => Self::Unknown,
        }
    }
}

fn storage_bytes(list: Option<&BTreeMap<String, Quantity>>) -> Option<u64> {
    list.and_then(|l| l.get("storage"))
        .and_then(|q| quantity::bytes(q).ok())
}

/// The kept part of a `PersistentVolumeClaim`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PvcProjection {
    /// Claim name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// `spec.resources.requests.storage` in bytes: what the cost model bills.
    pub requested_bytes: Option<u64>,
    /// StorageClass name; `None` means the default class (or none, for static binding).
    pub storage_class: Option<String>,
    /// Name of the bound PersistentVolume.
    pub volume_name: Option<String>,
    /// Claim phase.
    pub phase: PvcPhase,
    /// `status.capacity.storage` in bytes once bound (may exceed the request).
    pub capacity_bytes: Option<u64>,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&PersistentVolumeClaim> for PvcProjection {
    fn from(claim: &PersistentVolumeClaim) -> Self {
        let meta = &claim.metadata;
        let spec = claim.spec.as_ref();
        let status = claim.status.as_ref();
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            requested_bytes: storage_bytes(
                spec.and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.requests.as_ref()),
            ),
            storage_class: spec.and_then(|s| s.storage_class_name.clone()),
            volume_name: spec
                .and_then(|s| s.volume_name.clone())
                .filter(|v| !v.is_empty()),
            phase: PvcPhase::from_api(status.and_then(|s| s.phase.as_deref())),
            capacity_bytes: storage_bytes(status.and_then(|s| s.capacity.as_ref())),
            created: super::created_of(meta),
        }
    }
}

/// The claim a PersistentVolume is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRef {
    /// Claim namespace.
    pub namespace: String,
    /// Claim name.
    pub name: String,
}

/// The kept part of a `PersistentVolume`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentVolumeProjection {
    /// Volume name.
    pub name: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Provisioned size in bytes.
    pub capacity_bytes: Option<u64>,
    /// StorageClass name.
    pub storage_class: Option<String>,
    /// CSI driver (e.g. `ebs.csi.aws.com`), when CSI-provisioned.
    pub csi_driver: Option<String>,
    /// The bound claim.
    pub claim: Option<ClaimRef>,
    /// Volume phase (`Available` maps to `Pending`, `Released` to `Lost`).
    pub phase: PvcPhase,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&PersistentVolume> for PersistentVolumeProjection {
    fn from(volume: &PersistentVolume) -> Self {
        let meta = &volume.metadata;
        let spec = volume.spec.as_ref();
        Self {
            name: super::name_of(meta),
            uid: super::uid_of(meta),
            capacity_bytes: storage_bytes(spec.and_then(|s| s.capacity.as_ref())),
            storage_class: spec.and_then(|s| s.storage_class_name.clone()),
            csi_driver: spec
                .and_then(|s| s.csi.as_ref())
                .map(|csi| csi.driver.clone()),
            claim: spec.and_then(|s| s.claim_ref.as_ref()).map(|r| ClaimRef {
                namespace: r.namespace.clone().unwrap_or_default(),
                name: r.name.clone().unwrap_or_default(),
            }),
            phase: PvcPhase::from_api(volume.status.as_ref().and_then(|s| s.phase.as_deref())),
            created: super::created_of(meta),
        }
    }
}

/// The kept part of a `StorageClass`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageClassProjection {
    /// Class name.
    pub name: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Provisioner, e.g. `ebs.csi.aws.com`, `pd.csi.storage.gke.io`, `rancher.io/local-path`.
    pub provisioner: String,
    /// Provisioner parameters (`type: gp3`, `skuName: Premium_LRS`): the price tier.
    pub parameters: BTreeMap<String, String>,
    /// Marked as the default class, used by claims without `storageClassName`.
    pub is_default: bool,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&StorageClass> for StorageClassProjection {
    fn from(class: &StorageClass) -> Self {
        let meta = &class.metadata;
        let is_default = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
            .is_some_and(|v| v == "true");
        Self {
            name: super::name_of(meta),
            uid: super::uid_of(meta),
            provisioner: class.provisioner.clone(),
            parameters: class.parameters.clone().unwrap_or_default(),
            is_default,
            created: super::created_of(meta),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_claim_projects_request_capacity_and_volume() {
        let claim: PersistentVolumeClaim = serde_json::from_str(
            r#"{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data-postgres-0", "namespace": "db", "uid": "c1",
                  "creationTimestamp": "2024-02-01T00:00:00Z",
                  "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                  "resources": {"requests": {"storage": "10G"}},
                  "volumeName": "pvc-4f1c2a9e-7d7b-4a51-9b11-2c3d4e5f6a7b", "volumeMode": "Filesystem"},
                "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                  "capacity": {"storage": "10Gi"}}}"#,
        )
        .unwrap();
        let p = PvcProjection::from(&claim);
        assert_eq!(
            (p.name.as_str(), p.namespace.as_str()),
            ("data-postgres-0", "db")
        );
        assert_eq!(p.requested_bytes, Some(10_000_000_000));
        assert_eq!(p.capacity_bytes, Some(10 << 30));
        assert_eq!(p.storage_class.as_deref(), Some("gp3"));
        assert_eq!(
            p.volume_name.as_deref(),
            Some("pvc-4f1c2a9e-7d7b-4a51-9b11-2c3d4e5f6a7b")
        );
        assert_eq!(p.phase, PvcPhase::Bound);
    }

    #[test]
    fn pending_claim_has_no_volume_or_capacity() {
        let claim: PersistentVolumeClaim = serde_json::from_str(
            r#"{"metadata": {"name": "scratch", "namespace": "ci", "uid": "c2"},
                "spec": {"resources": {"requests": {"storage": "512Mi"}}, "volumeName": ""},
                "status": {"phase": "Pending"}}"#,
        )
        .unwrap();
        let p = PvcProjection::from(&claim);
        assert_eq!(p.requested_bytes, Some(512 << 20));
        assert_eq!(
            (p.volume_name, p.capacity_bytes, p.storage_class),
            (None, None, None)
        );
        assert_eq!(p.phase, PvcPhase::Pending);
    }

    #[test]
    fn csi_volume_projects_size_class_driver_and_claim() {
        let volume: PersistentVolume = serde_json::from_str(
            r#"{"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": "pvc-4f1c2a9e", "uid": "v1"},
                "spec": {"capacity": {"storage": "10Gi"}, "storageClassName": "gp3",
                  "persistentVolumeReclaimPolicy": "Delete", "accessModes": ["ReadWriteOnce"],
                  "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0a1b2c3d4e5f",
                          "fsType": "ext4"},
                  "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "db",
                               "name": "data-postgres-0", "uid": "c1"}},
                "status": {"phase": "Released"}}"#,
        )
        .unwrap();
        let p = PersistentVolumeProjection::from(&volume);
        assert_eq!(p.capacity_bytes, Some(10 << 30));
        assert_eq!(p.csi_driver.as_deref(), Some("ebs.csi.aws.com"));
        assert_eq!(
            p.claim,
            Some(ClaimRef {
                namespace: "db".into(),
                name: "data-postgres-0".into()
            })
        );
        assert_eq!(p.phase, PvcPhase::Lost);
    }

    #[test]
    fn storage_class_keeps_provisioner_parameters_and_default_flag() {
        let class: StorageClass = serde_json::from_str(
            r#"{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "gp3", "uid": "s1",
                  "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "ebs.csi.aws.com",
                "parameters": {"type": "gp3", "encrypted": "true"},
                "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}"#,
        )
        .unwrap();
        let p = StorageClassProjection::from(&class);
        assert_eq!(p.provisioner, "ebs.csi.aws.com");
        assert_eq!(p.parameters.get("type").map(String::as_str), Some("gp3"));
        assert!(p.is_default);

        let mut other = class.clone();
        other.metadata.annotations = None;
        assert!(!StorageClassProjection::from(&other).is_default);
    }
}
