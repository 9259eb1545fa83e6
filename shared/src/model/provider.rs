//! Which distribution or cloud runs a cluster, from node labels, `spec.providerID` and the
//! apiserver's `gitVersion`.
//!
//! Evidence is weighed in three tiers, first match wins:
//! 1. Distribution-specific marks, which only that distribution sets ([`DISTRIBUTIONS`]):
//!    OpenShift node labels; RKE2 and k3s (`+rke2`/`+k3s` versions, `rke2://`/`k3s://`
//!    provider ids, their own instance type); EKS Anywhere (an EKS Distro build number after
//!    `-eks-`); EKS, GKE, AKS, IKS, ACK, OKE, DOKS and LKE (their versions and node labels);
//!    Talos (its cloud controller's platform label); MicroK8s and minikube (their labels);
//!    kind (`kind://` provider ids). Distributions come before clouds because they also run on
//!    cloud VMs whose provider ids say `aws://` and friends.
//! 2. Cloud provider ids alone ([`CLOUDS`]: `aws://`, `gce://`, `azure://`, `oci://`,
//!    `digitalocean://`, `linode://`, `ibm://`, `hcloud://`, and OCI's instance ids and
//!    fault-domain label): most clusters on those clouds are
//!    the managed offering, so a self-managed one is reported as that cloud's managed kind;
//!    Hetzner has no managed offering and is reported as Hetzner.
//! 3. An OpenShift-style version (`v1.27.10+c79e5e2`: a bare commit hash after `+`), which
//!    is weak on its own, then vanilla.
//!
//! Talos without its cloud controller manager sets no label of its own (its one mark is the
//! node's OS image, which the node projection does not keep), so it is reported by the cloud
//! it runs on, or as vanilla.

use serde::{Deserialize, Serialize};

use super::NodeProjection;

/// The detected distribution. It travels to the hub inside [`super::ClusterInfo`] as its
/// postcard variant index, so variants are only ever appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// Amazon EKS.
    Eks,
    /// Google GKE.
    Gke,
    /// Azure AKS.
    Aks,
    /// k3s (including k3d).
    K3s,
    /// Red Hat OpenShift (OCP, ROSA, ARO).
    OpenShift,
    /// kind (Kubernetes in Docker).
    Kind,
    /// Upstream Kubernetes or anything not recognised.
    Vanilla,
    /// Rancher RKE2.
    Rke2,
    /// Oracle Container Engine for Kubernetes.
    Oke,
    /// DigitalOcean Kubernetes.
    Doks,
    /// Akamai (Linode) Kubernetes Engine.
    Lke,
    /// Alibaba Cloud Container Service for Kubernetes.
    Ack,
    /// IBM Cloud Kubernetes Service.
    Iks,
    /// Kubernetes on Hetzner Cloud or Hetzner Robot machines.
    Hetzner,
    /// Talos Linux.
    Talos,
    /// Canonical MicroK8s.
    MicroK8s,
    /// minikube.
    Minikube,
    /// EKS Anywhere (and other EKS Distro clusters off AWS).
    EksAnywhere,
}

impl Provider {
    /// The name the hub stores and the API answers: stable, lowercase, one word.
    pub fn name(self) -> &'static str {
        match self {
            Self::Eks => "eks",
            Self::Gke => "gke",
            Self::Aks => "aks",
            Self::K3s => "k3s",
            Self::OpenShift => "openshift",
            Self::Kind => "kind",
            Self::Vanilla => "vanilla",
            Self::Rke2 => "rke2",
            Self::Oke => "oke",
            Self::Doks => "doks",
            Self::Lke => "lke",
            Self::Ack => "ack",
            Self::Iks => "iks",
            Self::Hetzner => "hetzner",
            Self::Talos => "talos",
            Self::MicroK8s => "microk8s",
            Self::Minikube => "minikube",
            Self::EksAnywhere => "eks-anywhere",
        }
    }
}

/// A detection and the evidence that decided it, for `kubeworkz-agent check` and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderDetection {
    /// What the cluster is.
    pub provider: Provider,
    /// The label, provider id or version that decided it.
    pub evidence: String,
}

/// One kind of evidence a distribution or cloud leaves.
#[derive(Clone, Copy, Debug)]
enum Mark {
    /// The server's `gitVersion` contains this.
    Version(&'static str),
    /// A node label's key starts with this.
    Label(&'static str),
    /// A node's `spec.providerID` starts with this.
    ProviderId(&'static str),
    /// A node's instance type is exactly this (k3s and RKE2 name themselves there).
    InstanceType(&'static str),
    /// An EKS Distro build after `-eks-` (`v1.28.3-eks-1-28-12`); EKS on AWS puts a commit
    /// hash there instead (`v1.28.9-eks-036c24b`).
    EksDistroVersion,
}

use Mark::{EksDistroVersion, InstanceType, Label, ProviderId, Version};

/// Tier 1, in order: see the module docs.
const DISTRIBUTIONS: &[(Provider, &[Mark])] = &[
    (Provider::OpenShift, &[Label("node.openshift.io/")]),
    (
        Provider::Rke2,
        &[
            Version("+rke2"),
            ProviderId("rke2://"),
            InstanceType("rke2"),
        ],
    ),
    (
        Provider::K3s,
        &[Version("+k3s"), ProviderId("k3s://"), InstanceType("k3s")],
    ),
    (Provider::EksAnywhere, &[EksDistroVersion]),
    (
        Provider::Eks,
        &[Version("-eks-"), Label("eks.amazonaws.com/")],
    ),
    (
        Provider::Gke,
        &[Version("-gke."), Label("cloud.google.com/gke-")],
    ),
    (Provider::Aks, &[Label("kubernetes.azure.com/")]),
    (
        Provider::Iks,
        &[Version("+IKS"), Label("ibm-cloud.kubernetes.io/")],
    ),
    (
        Provider::Ack,
        &[
            Version("-aliyun."),
            Label("alibabacloud.com/"),
            Label("ack.aliyun.com"),
        ],
    ),
    (Provider::Oke, &[Label("oke.oraclecloud.com/")]),
    (Provider::Doks, &[Label("doks.digitalocean.com/")]),
    (Provider::Lke, &[Label("lke.linode.com/")]),
    (
        Provider::Talos,
        &[Label("node.cloudprovider.kubernetes.io/platform")],
    ),
    (
        Provider::MicroK8s,
        &[Label("microk8s.io/"), Label("node.kubernetes.io/microk8s-")],
    ),
    (Provider::Minikube, &[Label("minikube.k8s.io/")]),
    (Provider::Kind, &[ProviderId("kind://")]),
];

/// Tier 2, in order: see the module docs.
const CLOUDS: &[(Provider, &[Mark])] = &[
    (Provider::Eks, &[ProviderId("aws://")]),
    (Provider::Gke, &[ProviderId("gce://")]),
    (Provider::Aks, &[ProviderId("azure://")]),
    (
        Provider::Oke,
        &[
            ProviderId("oci://"),
            ProviderId("ocid1.instance."),
            Label("oci.oraclecloud.com/"),
        ],
    ),
    (Provider::Doks, &[ProviderId("digitalocean://")]),
    (Provider::Lke, &[ProviderId("linode://")]),
    (Provider::Iks, &[ProviderId("ibm://")]),
    (
        Provider::Hetzner,
        &[
            ProviderId("hcloud://"),
            ProviderId("hrobot://"),
            Label("instance.hetzner.cloud/"),
        ],
    ),
];

/// True for an EKS Distro build number after `-eks-`: at least three all-digit parts.
fn eks_distro_build(git_version: &str) -> bool {
    git_version.split_once("-eks-").is_some_and(|(_, build)| {
        let parts: Vec<&str> = build.split('-').collect();
        parts.len() >= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The evidence for `mark`, if the version or a node shows it.
fn evidence<'a>(
    mark: Mark,
    git_version: &str,
    nodes: impl IntoIterator<Item = &'a NodeProjection>,
) -> Option<String> {
    let version = || format!("server version {git_version}");
    match mark {
        Version(marker) => git_version.contains(marker).then(version),
        EksDistroVersion => eks_distro_build(git_version).then(version),
        Label(prefix) => nodes.into_iter().find_map(|n| {
            n.labels
                .keys()
                .find(|k| k.starts_with(prefix))
                .map(|k| format!("node label {k}"))
        }),
        ProviderId(prefix) => nodes.into_iter().find_map(|n| {
            n.provider_id
                .as_deref()
                .filter(|id| id.starts_with(prefix))
                .map(|id| format!("providerID {id}"))
        }),
        InstanceType(name) => nodes
            .into_iter()
            .any(|n| n.instance_type.as_deref() == Some(name))
            .then(|| format!("instance type {name}")),
    }
}

/// The first provider of `tier` with evidence, and that evidence.
fn first_mark<'a>(
    tier: &[(Provider, &[Mark])],
    git_version: &str,
    nodes: impl IntoIterator<Item = &'a NodeProjection> + Clone,
) -> Option<(Provider, String)> {
    tier.iter().find_map(|(provider, marks)| {
        marks
            .iter()
            .find_map(|mark| evidence(*mark, git_version, nodes.clone()))
            .map(|e| (*provider, e))
    })
}

/// True for `v1.27.10+c79e5e2`-style versions: OpenShift builds carry a bare commit hash.
fn openshift_style_version(git_version: &str) -> bool {
    git_version.split_once('+').is_some_and(|(_, build)| {
        build.len() >= 7
            && build
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// Detects the provider; see the module docs for the order of evidence. `nodes` is walked once
/// per kind of evidence, so the collector passes its kept nodes by reference instead of
/// cloning them.
pub fn detect_provider<'a>(
    git_version: Option<&str>,
    nodes: impl IntoIterator<Item = &'a NodeProjection> + Clone,
) -> ProviderDetection {
    let git_version = git_version.unwrap_or_default();
    let found = first_mark(DISTRIBUTIONS, git_version, nodes.clone())
        .or_else(|| first_mark(CLOUDS, git_version, nodes))
        .or_else(|| {
            openshift_style_version(git_version)
                .then(|| (Provider::OpenShift, format!("server version {git_version}")))
        });
    match found {
        Some((provider, evidence)) => ProviderDetection { provider, evidence },
        None => ProviderDetection {
            provider: Provider::Vanilla,
            evidence: "no provider marks".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod distribution_tests;
