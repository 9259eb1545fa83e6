//! What the demo fleet is: three clusters of different providers, versions and environments,
//! how each joins the hub, and what runs on it. Data only; `workloads` creates it and `main`
//! connects it.

use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec};

/// How a cluster joins the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// The real agent, enrolled with an enrollment token; `helm_releases` turns on its Helm
    /// release watch (it then reads Secrets).
    Agent { helm_releases: bool },
    /// Registered by kubeconfig; the hub collects it itself.
    Pull,
}

/// A namespace with the labels the cost engine reads.
#[derive(Debug, Clone, Copy)]
pub struct Namespace {
    pub name: &'static str,
    pub team: &'static str,
    pub cost_center: &'static str,
}

/// A Deployment: requests per replica, and the usage KWOK reports for each replica.
#[derive(Debug, Clone, Copy)]
pub struct App {
    pub namespace: &'static str,
    pub name: &'static str,
    pub replicas: i32,
    pub cpu_request: &'static str,
    pub memory_request: &'static str,
    pub cpu_usage: &'static str,
    pub memory_usage: &'static str,
    /// Its containers crash-loop: the Deployment never becomes available.
    pub crash_loops: bool,
    /// A claim (of [`Claim`]) mounted by its pods.
    pub claim: Option<&'static str>,
}

/// A claim bound to a pre-created volume (a cluster without a provisioner, as on bare metal).
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub namespace: &'static str,
    pub name: &'static str,
    pub size: &'static str,
}

/// A Helm chart installed with the real `helm install`.
#[derive(Debug, Clone, Copy)]
pub struct HelmRelease {
    pub namespace: &'static str,
    pub release: &'static str,
    pub chart: &'static str,
    pub chart_version: &'static str,
    pub app_version: &'static str,
}

/// One cluster of the fleet.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Name in the hub and in the kubeconfig.
    pub name: &'static str,
    pub environment: &'static str,
    pub tags: &'static [&'static str],
    pub join: Join,
    pub spec: ClusterSpec,
    pub namespaces: &'static [Namespace],
    pub apps: &'static [App],
    pub claims: &'static [Claim],
    pub helm: Option<HelmRelease>,
    /// The Deployment the churn scales up and down, and its two sizes.
    pub churn: (&'static str, &'static str, [i32; 2]),
}

impl Plan {
    /// The plan's pods once everything runs (crash-looping ones included).
    pub fn pods(&self) -> i32 {
        let helm = i32::from(self.helm.is_some());
        self.apps.iter().map(|a| a.replicas).sum::<i32>() + helm
    }
}

const fn app(namespace: &'static str, name: &'static str, replicas: i32) -> App {
    App {
        namespace,
        name,
        replicas,
        cpu_request: "250m",
        memory_request: "256Mi",
        cpu_usage: "150m",
        memory_usage: "180Mi",
        crash_loops: false,
        claim: None,
    }
}

const fn sized(mut app: App, requests: [&'static str; 2], usage: [&'static str; 2]) -> App {
    app.cpu_request = requests[0];
    app.memory_request = requests[1];
    app.cpu_usage = usage[0];
    app.memory_usage = usage[1];
    app
}

const STOREFRONT: Namespace = Namespace {
    name: "storefront",
    team: "web",
    cost_center: "cc-1001",
};

/// The production cluster: three EKS nodes, payments with a database on a claim, a Helm
/// release.
fn eks_prod() -> Plan {
    const NAMESPACES: &[Namespace] = &[
        STOREFRONT,
        Namespace {
            name: "payments",
            team: "payments",
            cost_center: "cc-2001",
        },
        Namespace {
            name: "data",
            team: "data",
            cost_center: "cc-3001",
        },
        Namespace {
            name: "monitoring",
            team: "platform",
            cost_center: "cc-9001",
        },
    ];
    const APPS: &[App] = &[
        sized(
            app("storefront", "web", 3),
            ["250m", "256Mi"],
            ["180m", "200Mi"],
        ),
        sized(
            app("storefront", "cart", 2),
            ["200m", "256Mi"],
            ["90m", "150Mi"],
        ),
        sized(
            app("payments", "api", 2),
            ["500m", "512Mi"],
            ["350m", "400Mi"],
        ),
        App {
            claim: Some("orders-data"),
            ..sized(
                app("payments", "postgres", 1),
                ["1", "2Gi"],
                ["600m", "1536Mi"],
            )
        },
        sized(
            app("data", "etl-worker", 2),
            ["1", "2Gi"],
            ["850m", "1800Mi"],
        ),
    ];
    const CLAIMS: &[Claim] = &[Claim {
        namespace: "payments",
        name: "orders-data",
        size: "20Gi",
    }];
    let nodes = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, zone)| {
            NodeSpec::new(format!("ip-10-0-{}-{}.ec2.internal", i + 1, 17 + i * 8))
                .label("eks.amazonaws.com/nodegroup", "general")
                .label("node.kubernetes.io/instance-type", "m5.xlarge")
                .label("topology.kubernetes.io/region", "us-east-1")
                .label("topology.kubernetes.io/zone", format!("us-east-1{zone}"))
                .provider_id(format!("aws:///us-east-1{zone}/i-0a1b2c3d4e5f6071{i}"))
                .capacity("4", "16Gi")
                .kubelet_version("v1.36.3-eks-4f2a1c9")
        })
        .collect();
    Plan {
        name: "eks-prod",
        environment: "production",
        tags: &["aws", "us-east-1"],
        join: Join::Agent {
            helm_releases: true,
        },
        spec: ClusterSpec::new("eks-prod", nodes).server_version("v1.36.3-eks-4f2a1c9"),
        namespaces: NAMESPACES,
        apps: APPS,
        claims: CLAIMS,
        helm: Some(HelmRelease {
            namespace: "monitoring",
            release: "metrics",
            chart: "metrics-collector",
            chart_version: "1.4.2",
            app_version: "0.9.1",
        }),
        churn: ("storefront", "web", [3, 4]),
    }
}

/// The staging cluster: two GKE nodes and a checkout service that keeps crashing.
fn gke_staging() -> Plan {
    const NAMESPACES: &[Namespace] = &[
        STOREFRONT,
        Namespace {
            name: "ml",
            team: "data",
            cost_center: "cc-3001",
        },
    ];
    const APPS: &[App] = &[
        app("storefront", "web", 1),
        App {
            crash_loops: true,
            ..app("storefront", "checkout", 1)
        },
        sized(app("ml", "trainer", 1), ["2", "4Gi"], ["1800m", "3584Mi"]),
    ];
    let nodes = ["x7k2", "m3q9"]
        .iter()
        .map(|suffix| {
            let name = format!("gke-staging-default-pool-5e6f7a8b-{suffix}");
            NodeSpec::new(name.clone())
                .label("cloud.google.com/gke-nodepool", "default-pool")
                .label("node.kubernetes.io/instance-type", "e2-standard-4")
                .label("topology.kubernetes.io/region", "europe-west1")
                .label("topology.kubernetes.io/zone", "europe-west1-b")
                .provider_id(format!("gce://kubeworkz-demo/europe-west1-b/{name}"))
                .capacity("4", "16Gi")
                .kubelet_version("v1.36.3-gke.1200")
        })
        .collect();
    Plan {
        name: "gke-staging",
        environment: "staging",
        tags: &["gcp", "europe-west1"],
        join: Join::Agent {
            helm_releases: false,
        },
        spec: ClusterSpec::new("gke-staging", nodes).server_version("v1.36.3-gke.1200"),
        namespaces: NAMESPACES,
        apps: APPS,
        claims: &[],
        helm: None,
        churn: ("storefront", "web", [1, 2]),
    }
}

/// The edge cluster: one small k3s node in a shop, registered by kubeconfig.
fn k3s_edge() -> Plan {
    const NAMESPACES: &[Namespace] = &[Namespace {
        name: "edge",
        team: "iot",
        cost_center: "cc-4001",
    }];
    const APPS: &[App] = &[
        sized(
            app("edge", "collector", 2),
            ["100m", "128Mi"],
            ["60m", "90Mi"],
        ),
        sized(
            app("edge", "gateway", 1),
            ["200m", "256Mi"],
            ["120m", "200Mi"],
        ),
    ];
    let node = NodeSpec::new("edge-store-042")
        .label("node.kubernetes.io/instance-type", "k3s")
        .provider_id("k3s://edge-store-042")
        .capacity("4", "8Gi")
        .kubelet_version("v1.36.3+k3s1");
    Plan {
        name: "k3s-edge",
        environment: "production",
        tags: &["edge", "store-042"],
        join: Join::Pull,
        spec: ClusterSpec::new("k3s-edge", vec![node]).server_version("v1.36.3+k3s1"),
        namespaces: NAMESPACES,
        apps: APPS,
        claims: &[],
        helm: None,
        churn: ("edge", "collector", [2, 3]),
    }
}

/// The whole fleet.
pub fn fleet() -> Vec<Plan> {
    vec![eks_prod(), gke_staging(), k3s_edge()]
}
