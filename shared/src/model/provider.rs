//! Which distribution or cloud runs a cluster, from node labels, `spec.providerID` and the
//! apiserver's `gitVersion`.
//!
//! Evidence is weighed in three tiers, first match wins:
//! 1. Distribution-specific marks, which only that distribution sets: OpenShift node labels
//!    (`node.openshift.io/os_id`); k3s (`+k3s` version, `k3s://` provider ids, instance type
//!    `k3s`); EKS (`-eks-` version, `eks.amazonaws.com/*` labels); GKE (`-gke.` version,
//!    `cloud.google.com/gke-*` labels); AKS (`kubernetes.azure.com/*` labels); kind
//!    (`kind://` provider ids). OpenShift and k3s come first because they also run on cloud
//!    VMs whose provider ids say `aws://` and friends.
//! 2. Cloud provider ids alone (`aws://`, `gce://`, `azure://`): most clusters on those clouds
//!    are the managed offering; a self-managed one is reported as that cloud's managed kind.
//! 3. An OpenShift-style version (`v1.27.10+c79e5e2`: a bare commit hash after `+`), which
//!    is weak on its own, then vanilla.

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
}

/// A detection and the evidence that decided it, for `kubeworkz-agent check` and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderDetection {
    /// What the cluster is.
    pub provider: Provider,
    /// The label, provider id or version that decided it.
    pub evidence: String,
}

fn has_label_prefix(node: &NodeProjection, prefix: &str) -> Option<String> {
    node.labels
        .keys()
        .find(|k| k.starts_with(prefix))
        .map(|k| format!("node label {k}"))
}

fn has_provider_id_prefix(node: &NodeProjection, prefix: &str) -> Option<String> {
    node.provider_id
        .as_deref()
        .filter(|id| id.starts_with(prefix))
        .map(|id| format!("providerID {id}"))
}

/// Distribution-specific evidence on one node or in the version (tier 1).
fn distribution_mark<'a>(
    git_version: &str,
    nodes: impl IntoIterator<Item = &'a NodeProjection> + Clone,
) -> Option<(Provider, String)> {
    let version = |marker: &str| {
        git_version
            .contains(marker)
            .then(|| format!("server version {git_version}"))
    };
    let any_node =
        |f: &dyn Fn(&NodeProjection) -> Option<String>| nodes.clone().into_iter().find_map(f);

    let checks: [(Provider, Option<String>); 6] = [
        (
            Provider::OpenShift,
            any_node(&|n| has_label_prefix(n, "node.openshift.io/")),
        ),
        (
            Provider::K3s,
            version("+k3s")
                .or_else(|| any_node(&|n| has_provider_id_prefix(n, "k3s://")))
                .or_else(|| {
                    any_node(&|n| {
                        (n.instance_type.as_deref() == Some("k3s"))
                            .then(|| "instance type k3s".to_owned())
                    })
                }),
        ),
        (
            Provider::Eks,
            version("-eks-").or_else(|| any_node(&|n| has_label_prefix(n, "eks.amazonaws.com/"))),
        ),
        (
            Provider::Gke,
            version("-gke.")
                .or_else(|| any_node(&|n| has_label_prefix(n, "cloud.google.com/gke-"))),
        ),
        (
            Provider::Aks,
            any_node(&|n| has_label_prefix(n, "kubernetes.azure.com/")),
        ),
        (
            Provider::Kind,
            any_node(&|n| has_provider_id_prefix(n, "kind://")),
        ),
    ];
    checks
        .into_iter()
        .find_map(|(provider, evidence)| evidence.map(|e| (provider, e)))
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
    let found = distribution_mark(git_version, nodes.clone())
        .or_else(|| {
            [
                ("aws://", Provider::Eks),
                ("gce://", Provider::Gke),
                ("azure://", Provider::Aks),
            ]
            .into_iter()
            .find_map(|(prefix, provider)| {
                nodes
                    .clone()
                    .into_iter()
                    .find_map(|n| has_provider_id_prefix(n, prefix))
                    .map(|e| (provider, e))
            })
        })
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
