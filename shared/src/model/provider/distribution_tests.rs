//! The distributions beyond the big three clouds, each from the labels, provider ids and
//! versions its nodes and apiserver really report.

use super::tests::node;
use super::*;

fn rke2_server() -> NodeProjection {
    node(
        "rke2-server-0",
        Some("rke2://rke2-server-0"),
        &[
            ("beta.kubernetes.io/instance-type", "rke2"),
            ("node.kubernetes.io/instance-type", "rke2"),
            ("node-role.kubernetes.io/control-plane", "true"),
            ("node-role.kubernetes.io/etcd", "true"),
            ("node-role.kubernetes.io/master", "true"),
        ],
    )
}

fn oke_node() -> NodeProjection {
    node(
        "10.0.10.23",
        Some("ocid1.instance.oc1.iad.anuwcljtexample4rq"),
        &[
            ("displayName", "oke-c5xkqn2a-nk3pb6l5-0"),
            ("name", "pool1"),
            ("node.info/kubeletVersion", "v1.29"),
            ("oci.oraclecloud.com/fault-domain", "FAULT-DOMAIN-2"),
            ("oke.oraclecloud.com/node.info.private_worker", "true"),
            ("oke.oraclecloud.com/tenant_agent.version", "1.66.0"),
            ("node.kubernetes.io/instance-type", "VM.Standard.E4.Flex"),
            ("topology.kubernetes.io/zone", "US-ASHBURN-AD-1"),
        ],
    )
}

fn doks_node() -> NodeProjection {
    node(
        "pool-k1x8n3c2o-x7r2q",
        Some("digitalocean://412345678"),
        &[
            (
                "doks.digitalocean.com/node-id",
                "5c1b8f0e-9b1e-4c55-8f11-8a2c7d0b1e2f",
            ),
            ("doks.digitalocean.com/node-pool", "pool-k1x8n3c2o"),
            (
                "doks.digitalocean.com/node-pool-id",
                "c2a1d9e8-1f2b-4a3c-9d8e-7f6a5b4c3d2e",
            ),
            ("doks.digitalocean.com/version", "1.29.1-do.0"),
            ("node.kubernetes.io/instance-type", "s-2vcpu-4gb"),
            ("region", "nyc1"),
            ("topology.kubernetes.io/region", "nyc1"),
        ],
    )
}

fn lke_node() -> NodeProjection {
    node(
        "lke123456-178901-0a1b2c3d0000",
        Some("linode://51234567"),
        &[
            ("lke.linode.com/pool-id", "178901"),
            ("node.kubernetes.io/instance-type", "g6-standard-2"),
            ("topology.linode.com/region", "us-east"),
            ("topology.kubernetes.io/region", "us-east"),
        ],
    )
}

fn ack_node() -> NodeProjection {
    node(
        "cn-hangzhou.192.168.0.12",
        Some("cn-hangzhou.i-bp1g6zv0ce8oghu7k5ex"),
        &[
            ("ack.aliyun.com", "c8d2a6f4b1e9a4c27b1f3e5d6a7b8c9d0"),
            (
                "alibabacloud.com/nodepool-id",
                "np4e1f2a3b4c5d6e7f8a9b0c1d2e3f4a",
            ),
            ("node.kubernetes.io/instance-type", "ecs.g7.xlarge"),
            ("topology.kubernetes.io/region", "cn-hangzhou"),
            ("topology.kubernetes.io/zone", "cn-hangzhou-k"),
        ],
    )
}

fn iks_node() -> NodeProjection {
    node(
        "10.240.0.4",
        Some(
            "ibm://1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d///cnrk2v1d0abcd1234ef0/kube-cnrk2v1d0abcd1234ef0-prod-default-00000123",
        ),
        &[
            ("ibm-cloud.kubernetes.io/machine-type", "bx2.4x16"),
            (
                "ibm-cloud.kubernetes.io/worker-id",
                "kube-cnrk2v1d0abcd1234ef0-prod-default-00000123",
            ),
            ("ibm-cloud.kubernetes.io/zone", "us-south-1"),
            ("node.kubernetes.io/instance-type", "bx2.4x16"),
        ],
    )
}

fn hetzner_node() -> NodeProjection {
    node(
        "k8s-worker-1",
        Some("hcloud://41234567"),
        &[
            ("instance.hetzner.cloud/provided-by", "cloud"),
            ("node.kubernetes.io/instance-type", "cpx31"),
            ("topology.kubernetes.io/region", "fsn1"),
            ("topology.kubernetes.io/zone", "fsn1-dc14"),
        ],
    )
}

fn talos_node() -> NodeProjection {
    node(
        "talos-cp-1",
        Some("hcloud://41234999"),
        &[
            ("node.cloudprovider.kubernetes.io/platform", "hcloud"),
            ("node.kubernetes.io/instance-type", "cx32"),
            ("node-role.kubernetes.io/control-plane", ""),
            ("topology.kubernetes.io/region", "nbg1"),
        ],
    )
}

fn microk8s_node() -> NodeProjection {
    node(
        "microk8s-vm",
        None,
        &[
            ("microk8s.io/cluster", "true"),
            (
                "node.kubernetes.io/microk8s-controlplane",
                "microk8s-controlplane",
            ),
            ("kubernetes.io/hostname", "microk8s-vm"),
        ],
    )
}

fn minikube_node() -> NodeProjection {
    node(
        "minikube",
        None,
        &[
            (
                "minikube.k8s.io/commit",
                "5883c09216182566a63dff4c326a6fc9ed2982ff",
            ),
            ("minikube.k8s.io/name", "minikube"),
            ("minikube.k8s.io/primary", "true"),
            ("minikube.k8s.io/version", "v1.33.1"),
            ("node-role.kubernetes.io/control-plane", ""),
        ],
    )
}

fn vsphere_node() -> NodeProjection {
    node(
        "eksa-prod-md-0-7b9c5d8f4-x2v9q",
        Some("vsphere://4230e5b2-7d2e-1f7a-9c3b-2a1b0c9d8e7f"),
        &[
            ("cluster.x-k8s.io/cluster-name", "eksa-prod"),
            ("kubernetes.io/os", "linux"),
        ],
    )
}

#[test]
fn distributions_table() {
    let cases: Vec<(&str, Option<&str>, Vec<NodeProjection>, Provider)> = vec![
        (
            "rke2",
            Some("v1.29.4+rke2r1"),
            vec![rke2_server()],
            Provider::Rke2,
        ),
        (
            "rke2 by node only",
            None,
            vec![rke2_server()],
            Provider::Rke2,
        ),
        (
            "rke2 on ec2 with the aws cloud provider",
            Some("v1.28.9+rke2r1"),
            vec![node("w", Some("aws:///us-east-1a/i-0abc"), &[])],
            Provider::Rke2,
        ),
        ("oke", Some("v1.29.1"), vec![oke_node()], Provider::Oke),
        (
            "self-managed on oci reads as oke",
            Some("v1.29.1"),
            vec![node("w", Some("oci://ocid1.instance.oc1.phx.abc"), &[])],
            Provider::Oke,
        ),
        ("doks", Some("v1.29.1"), vec![doks_node()], Provider::Doks),
        ("lke", Some("v1.29.2"), vec![lke_node()], Provider::Lke),
        (
            "ack",
            Some("v1.30.1-aliyun.1"),
            vec![ack_node()],
            Provider::Ack,
        ),
        (
            "ack by version only",
            Some("v1.30.1-aliyun.1"),
            vec![],
            Provider::Ack,
        ),
        ("iks", Some("v1.29.4+IKS"), vec![iks_node()], Provider::Iks),
        ("iks by labels only", None, vec![iks_node()], Provider::Iks),
        (
            "hetzner",
            Some("v1.30.2"),
            vec![hetzner_node()],
            Provider::Hetzner,
        ),
        (
            "k3s on hetzner is k3s",
            Some("v1.30.2+k3s1"),
            vec![hetzner_node()],
            Provider::K3s,
        ),
        (
            "talos with its cloud controller on hetzner",
            Some("v1.31.1"),
            vec![talos_node(), hetzner_node()],
            Provider::Talos,
        ),
        (
            "microk8s",
            Some("v1.29.4"),
            vec![microk8s_node()],
            Provider::MicroK8s,
        ),
        (
            "minikube",
            Some("v1.30.0"),
            vec![minikube_node()],
            Provider::Minikube,
        ),
        (
            "eks anywhere on vsphere",
            Some("v1.29.5-eks-1-29-11"),
            vec![vsphere_node()],
            Provider::EksAnywhere,
        ),
        (
            "eks on aws keeps its commit hash",
            Some("v1.29.5-eks-1552ad0"),
            vec![],
            Provider::Eks,
        ),
    ];
    for (name, version, nodes, want) in cases {
        let detection = detect_provider(version, &nodes);
        assert_eq!(detection.provider, want, "{name}: {}", detection.evidence);
    }
}

#[test]
fn names_are_stable_and_distinct() {
    let all = [
        Provider::Eks,
        Provider::Gke,
        Provider::Aks,
        Provider::K3s,
        Provider::OpenShift,
        Provider::Kind,
        Provider::Vanilla,
        Provider::Rke2,
        Provider::Oke,
        Provider::Doks,
        Provider::Lke,
        Provider::Ack,
        Provider::Iks,
        Provider::Hetzner,
        Provider::Talos,
        Provider::MicroK8s,
        Provider::Minikube,
        Provider::EksAnywhere,
    ];
    let names: std::collections::BTreeSet<&str> = all.iter().map(|p| p.name()).collect();
    assert_eq!(names.len(), all.len());
    // Stored before `name` existed, as the lowercase variant name: must not change.
    for (provider, stored) in [
        (Provider::Eks, "eks"),
        (Provider::OpenShift, "openshift"),
        (Provider::K3s, "k3s"),
        (Provider::Vanilla, "vanilla"),
    ] {
        assert_eq!(provider.name(), stored);
    }
}

#[test]
fn evidence_names_the_deciding_mark() {
    assert_eq!(
        detect_provider(Some("v1.29.5-eks-1-29-11"), &[]).evidence,
        "server version v1.29.5-eks-1-29-11"
    );
    assert_eq!(
        detect_provider(None, &[doks_node()]).evidence,
        "node label doks.digitalocean.com/node-id"
    );
    assert_eq!(
        detect_provider(None, &[node("w", Some("hrobot://2345678"), &[])]).evidence,
        "providerID hrobot://2345678"
    );
}

/// Providers travel as postcard variant indices: the appended ones keep theirs, so an agent
/// and a hub of different releases agree on every provider both know.
#[test]
fn variant_indices_are_pinned() {
    let pinned = [
        (Provider::Eks, 0u8),
        (Provider::Vanilla, 6),
        (Provider::Rke2, 7),
        (Provider::Oke, 8),
        (Provider::Doks, 9),
        (Provider::Lke, 10),
        (Provider::Ack, 11),
        (Provider::Iks, 12),
        (Provider::Hetzner, 13),
        (Provider::Talos, 14),
        (Provider::MicroK8s, 15),
        (Provider::Minikube, 16),
        (Provider::EksAnywhere, 17),
    ];
    for (provider, index) in pinned {
        assert_eq!(
            postcard::to_allocvec(&provider).unwrap(),
            [index],
            "{provider:?}"
        );
        assert_eq!(
            postcard::from_bytes::<Provider>(&[index]).unwrap(),
            provider
        );
    }
}
