//! Provider detection on label sets and versions as each distribution really reports them.

use k8s_openapi::api::core::v1::Node;

use super::*;

/// A node as the collector projects it from a `Node` with these labels and provider id.
pub(super) fn node(
    name: &str,
    provider_id: Option<&str>,
    labels: &[(&str, &str)],
) -> NodeProjection {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"providerID": provider_id},
    }))
    .unwrap();
    NodeProjection::from(&node)
}

fn eks_node() -> NodeProjection {
    node(
        "ip-192-168-12-34.us-west-2.compute.internal",
        Some("aws:///us-west-2a/i-0f1e2d3c4b5a69788"),
        &[
            ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
            ("eks.amazonaws.com/nodegroup", "ng-general"),
            ("eks.amazonaws.com/nodegroup-image", "ami-0a1b2c3d4e5f67890"),
            (
                "eks.amazonaws.com/sourceLaunchTemplateId",
                "lt-0123456789abcdef0",
            ),
            ("node.kubernetes.io/instance-type", "m5.large"),
            ("topology.kubernetes.io/region", "us-west-2"),
            ("topology.kubernetes.io/zone", "us-west-2a"),
            ("kubernetes.io/os", "linux"),
        ],
    )
}

fn gke_node() -> NodeProjection {
    node(
        "gke-prod-default-pool-1a2b3c4d-x7k2",
        Some("gce://acme-prod/us-central1-a/gke-prod-default-pool-1a2b3c4d-x7k2"),
        &[
            ("cloud.google.com/gke-boot-disk", "pd-balanced"),
            ("cloud.google.com/gke-container-runtime", "containerd"),
            ("cloud.google.com/gke-nodepool", "default-pool"),
            ("cloud.google.com/gke-os-distribution", "cos"),
            ("cloud.google.com/machine-family", "e2"),
            ("node.kubernetes.io/instance-type", "e2-standard-4"),
            ("topology.kubernetes.io/zone", "us-central1-a"),
        ],
    )
}

fn aks_node() -> NodeProjection {
    node(
        "aks-nodepool1-12345678-vmss000000",
        Some(
            "azure:///subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/mc_rg_prod_eastus/\
             providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0",
        ),
        &[
            ("agentpool", "nodepool1"),
            ("kubernetes.azure.com/agentpool", "nodepool1"),
            ("kubernetes.azure.com/cluster", "MC_rg_prod_eastus"),
            ("kubernetes.azure.com/mode", "system"),
            (
                "kubernetes.azure.com/node-image-version",
                "AKSUbuntu-2204gen2containerd-202405.03.0",
            ),
            ("node.kubernetes.io/instance-type", "Standard_D4s_v3"),
            ("topology.kubernetes.io/zone", "eastus-1"),
        ],
    )
}

fn k3s_node() -> NodeProjection {
    node(
        "k3s-server-1",
        Some("k3s://k3s-server-1"),
        &[
            ("beta.kubernetes.io/instance-type", "k3s"),
            ("node.kubernetes.io/instance-type", "k3s"),
            ("node-role.kubernetes.io/control-plane", "true"),
            ("node-role.kubernetes.io/master", "true"),
            ("kubernetes.io/hostname", "k3s-server-1"),
        ],
    )
}

fn openshift_node() -> NodeProjection {
    node(
        "ip-10-0-140-21.ec2.internal",
        Some("aws:///us-east-1a/i-05f4e3d2c1b0a9f8e"),
        &[
            ("node.openshift.io/os_id", "rhcos"),
            ("node-role.kubernetes.io/worker", ""),
            ("node.kubernetes.io/instance-type", "m6i.xlarge"),
            ("topology.kubernetes.io/zone", "us-east-1a"),
        ],
    )
}

fn kind_node() -> NodeProjection {
    node(
        "kind-control-plane",
        Some("kind://docker/kind/kind-control-plane"),
        &[
            ("kubernetes.io/hostname", "kind-control-plane"),
            ("node-role.kubernetes.io/control-plane", ""),
            ("kubernetes.io/os", "linux"),
        ],
    )
}

fn kubeadm_node(name: &str) -> NodeProjection {
    node(
        name,
        None,
        &[
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
        ],
    )
}

#[test]
fn providers_table() {
    let cases: Vec<(&str, Option<&str>, Vec<NodeProjection>, Provider)> = vec![
        (
            "eks",
            Some("v1.29.4-eks-036c24b"),
            vec![eks_node()],
            Provider::Eks,
        ),
        (
            "eks by labels only",
            Some("v1.29.4"),
            vec![eks_node()],
            Provider::Eks,
        ),
        (
            "eks by version only (no nodes yet)",
            Some("v1.30.0-eks-2f008fe"),
            vec![],
            Provider::Eks,
        ),
        (
            "gke",
            Some("v1.29.4-gke.1043002"),
            vec![gke_node()],
            Provider::Gke,
        ),
        ("gke by labels only", None, vec![gke_node()], Provider::Gke),
        (
            "aks",
            Some("v1.29.2"),
            vec![aks_node(), aks_node()],
            Provider::Aks,
        ),
        ("k3s", Some("v1.29.4+k3s1"), vec![k3s_node()], Provider::K3s),
        ("k3s by node only", None, vec![k3s_node()], Provider::K3s),
        (
            "k3s on ec2 with the aws cloud provider",
            Some("v1.28.9+k3s1"),
            vec![node("worker", Some("aws:///eu-west-1b/i-0abc"), &[])],
            Provider::K3s,
        ),
        (
            "openshift on aws (rosa)",
            Some("v1.27.10+c79e5e2"),
            vec![openshift_node()],
            Provider::OpenShift,
        ),
        (
            "openshift on bare metal, version only",
            Some("v1.28.6+6216ea1"),
            vec![kubeadm_node("master-0")],
            Provider::OpenShift,
        ),
        ("kind", Some("v1.30.0"), vec![kind_node()], Provider::Kind),
        (
            "self-managed on ec2 reads as eks",
            Some("v1.30.2"),
            vec![
                kubeadm_node("cp-1"),
                node("w-1", Some("aws:///us-east-1c/i-0def"), &[]),
            ],
            Provider::Eks,
        ),
        (
            "self-managed on gce reads as gke",
            Some("v1.30.2"),
            vec![node("w-1", Some("gce://proj/europe-west1-b/w-1"), &[])],
            Provider::Gke,
        ),
        (
            "kubeadm",
            Some("v1.30.2"),
            vec![kubeadm_node("cp-1"), kubeadm_node("w-1")],
            Provider::Vanilla,
        ),
        (
            "rke2 by version is not openshift",
            Some("v1.29.4+rke2r1"),
            vec![kubeadm_node("n")],
            Provider::Rke2,
        ),
        ("nothing known", None, vec![], Provider::Vanilla),
    ];
    for (name, version, nodes, want) in cases {
        let detection = detect_provider(version, &nodes);
        assert_eq!(detection.provider, want, "{name}: {}", detection.evidence);
    }
}

#[test]
fn evidence_names_what_decided() {
    assert_eq!(
        detect_provider(Some("v1.29.4-eks-036c24b"), &[]).evidence,
        "server version v1.29.4-eks-036c24b"
    );
    assert_eq!(
        detect_provider(Some("v1.29.4"), &[openshift_node()]).evidence,
        "node label node.openshift.io/os_id"
    );
    assert_eq!(
        detect_provider(None, &[kind_node()]).evidence,
        "providerID kind://docker/kind/kind-control-plane"
    );
}
