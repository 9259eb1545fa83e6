//! Provider detection end to end: one real test cluster per provider, started with the node
//! labels, provider ids and server version that provider's clusters have, checked through
//! `kubeworkz-agent check` (the collector's snapshot plus the apiserver's `/version`).

use std::time::Duration;

use anyhow::Result;
use kubeworkz_agent::check;
use kubeworkz_agent::config::CollectorSettings;
use kubeworkz_shared::model::Provider;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};

async fn detect(name: &str, version: Option<&str>, node: NodeSpec) -> Result<Provider> {
    let mut spec = ClusterSpec::new(name, vec![node]);
    spec.server_version = version.map(str::to_owned);
    spec.metrics_server = false; // not needed here; keeps each cluster quick to start
    let cluster = TestCluster::start(spec).await?;
    let settings = CollectorSettings {
        helm_releases: false,
        ..CollectorSettings::default()
    };
    let report = check::run(cluster.client(), &settings, Duration::from_secs(60)).await?;
    Ok(report.provider.provider)
}

#[tokio::test]
async fn each_provider_is_recognised_on_a_real_cluster() -> Result<()> {
    let cases = [
        (
            "eks",
            Some("v1.36.3-eks-4f2a1c9"),
            NodeSpec::new("ip-10-0-1-23.ec2.internal")
                .label("eks.amazonaws.com/nodegroup", "general")
                .label("node.kubernetes.io/instance-type", "m6i.large")
                .label("topology.kubernetes.io/zone", "us-east-1a")
                .provider_id("aws:///us-east-1a/i-0abc123def4567890"),
            Provider::Eks,
        ),
        (
            "gke",
            Some("v1.36.3-gke.1200"),
            NodeSpec::new("gke-prod-default-pool-1a2b3c4d-x7k2")
                .label("cloud.google.com/gke-nodepool", "default-pool")
                .label("node.kubernetes.io/instance-type", "e2-standard-4")
                .provider_id("gce://acme-prod/us-central1-a/gke-prod-default-pool-1a2b3c4d-x7k2"),
            Provider::Gke,
        ),
        (
            "aks",
            None,
            NodeSpec::new("aks-nodepool1-12345678-vmss000000")
                .label("kubernetes.azure.com/agentpool", "nodepool1")
                .label("kubernetes.azure.com/cluster", "MC_rg_prod_westeurope")
                .provider_id("azure:///subscriptions/0000/resourceGroups/mc_rg_prod_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0"),
            Provider::Aks,
        ),
        (
            "k3s",
            Some("v1.36.3+k3s1"),
            NodeSpec::new("edge-1")
                .label("node.kubernetes.io/instance-type", "k3s")
                .provider_id("k3s://edge-1"),
            Provider::K3s,
        ),
        (
            "openshift",
            None,
            NodeSpec::new("worker-0.ocp.example.com")
                .label("node.openshift.io/os_id", "rhcos")
                .label("node-role.kubernetes.io/worker", ""),
            Provider::OpenShift,
        ),
        (
            "kind",
            None,
            NodeSpec::new("kind-control-plane").provider_id("kind://docker/kind/kind-control-plane"),
            Provider::Kind,
        ),
        (
            "rke2",
            Some("v1.36.3+rke2r1"),
            NodeSpec::new("rke2-server-0")
                .label("node.kubernetes.io/instance-type", "rke2")
                .provider_id("rke2://rke2-server-0"),
            Provider::Rke2,
        ),
        (
            "doks",
            None,
            NodeSpec::new("pool-k1x8n3c2o-x7r2q")
                .label("doks.digitalocean.com/node-pool", "pool-k1x8n3c2o")
                .label("node.kubernetes.io/instance-type", "s-2vcpu-4gb")
                .provider_id("digitalocean://412345678"),
            Provider::Doks,
        ),
        (
            "eks-anywhere",
            Some("v1.36.3-eks-1-36-4"),
            NodeSpec::new("eksa-prod-md-0-7b9c5d8f4-x2v9q")
                .provider_id("vsphere://4230e5b2-7d2e-1f7a-9c3b-2a1b0c9d8e7f"),
            Provider::EksAnywhere,
        ),
        ("vanilla", None, NodeSpec::new("node-1"), Provider::Vanilla),
    ];
    let mut wrong = Vec::new();
    for (name, version, node, want) in cases {
        let got = detect(name, version, node).await?;
        if got != want {
            wrong.push(format!("{name}: detected {got:?}, expected {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    Ok(())
}
