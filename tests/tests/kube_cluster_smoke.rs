//! The test clusters themselves: real scheduling on simulated nodes, metrics.k8s.io through the
//! aggregation layer with the usage a test sets, several clusters with different providers and
//! versions at once, and the lifecycle knobs later tests rely on (crash-looping pods among
//! them).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kubeworkz_shared::quantity::{parse_bytes, parse_cpu_millis};
use kubeworkz_testkit::cluster::{
    CRASH_LOOP_LABEL, ClusterSpec, ComponentKind, NodeMetrics, NodeSpec, PodMetrics, TestCluster,
    USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION, Usage,
};
use kubeworkz_testkit::wait::eventually;
use serde_json::json;

const MI: u64 = 1024 * 1024;

fn init_tracing() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
}

fn deployment(name: &str, replicas: i32, cpu: &str, memory: &str) -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": {USAGE_CPU_ANNOTATION: cpu, USAGE_MEMORY_ANNOTATION: memory},
                },
                "spec": {
                    "containers": [
                        {"name": "app", "image": "registry.invalid/app:1",
                         "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                        {"name": "sidecar", "image": "registry.invalid/sidecar:1"},
                    ],
                },
            },
        },
    }))?)
}

fn running_pods(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect()
}

/// Cores, from a CPU quantity.
fn cores(q: &str) -> Option<f64> {
    parse_cpu_millis(q).ok().map(|m| m as f64 / 1000.0)
}

/// (cores, bytes) of one container in a PodMetrics.
fn container_usage(pm: &PodMetrics, container: &str) -> Option<(f64, f64)> {
    let c = pm.containers.iter().find(|c| c.name == container)?;
    let cpu = cores(&c.usage.get("cpu")?.0)?;
    let mem = parse_bytes(&c.usage.get("memory")?.0).ok()? as f64;
    Some((cpu, mem))
}

fn close(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= expected * rel
}

#[tokio::test]
async fn deployment_is_scheduled_and_metered_through_metrics_api() -> Result<()> {
    init_tracing();
    let nodes: Vec<NodeSpec> = (0..3)
        .map(|i| NodeSpec::new(format!("worker-{i}")).capacity("4", "16Gi"))
        .collect();
    let cluster = TestCluster::start(ClusterSpec::new("smoke", nodes)).await?;
    let client = cluster.client();
    cluster.create_namespace("shop").await?;

    // 200m CPU and 64Mi for every container, from the pod template's annotations.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deploys
        .create(
            &PostParams::default(),
            &deployment("web", 3, "200m", "64Mi")?,
        )
        .await?;

    let pods_api: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let pods = eventually("3 web pods Running", Duration::from_secs(90), || {
        let pods_api = pods_api.clone();
        async move {
            let list = pods_api
                .list(&ListParams::default().labels("app=web"))
                .await?;
            let running: Vec<Pod> = running_pods(&list.items).into_iter().cloned().collect();
            Ok((running.len() == 3).then_some(running))
        }
    })
    .await
    .with_context(|| cluster.logs_tail())?;

    // Bound by the real scheduler to the simulated nodes.
    let node_names: BTreeSet<String> = (0..3).map(|i| format!("worker-{i}")).collect();
    for p in &pods {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .context("pod has no spec.nodeName")?;
        assert!(
            node_names.contains(&node),
            "pod scheduled to unknown node {node}"
        );
        let sched = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True");
        assert!(
            sched,
            "pod {:?} has no PodScheduled=True condition",
            p.metadata.name
        );
        assert!(
            p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some(),
            "KWOK assigns a pod IP"
        );
    }
    // The Deployment controller sees them as available too.
    eventually("deployment web available", Duration::from_secs(60), || {
        let deploys = deploys.clone();
        async move {
            let d = deploys.get("web").await?;
            Ok((d.status.and_then(|s| s.available_replicas) == Some(3)).then_some(()))
        }
    })
    .await?;

    // One pod gets its own usage per container through a KWOK ResourceUsage.
    let special = pods[0].metadata.name.clone().context("pod name")?;
    cluster
        .set_container_usage(
            "shop",
            &special,
            &[
                ("app", Usage::new(500, 256 * MI)),
                ("sidecar", Usage::new(50, 32 * MI)),
            ],
        )
        .await?;

    let mut expected: BTreeMap<String, [(f64, f64); 2]> = BTreeMap::new();
    for p in &pods {
        let name = p.metadata.name.clone().unwrap();
        let e = if name == special {
            [(0.5, (256 * MI) as f64), (0.05, (32 * MI) as f64)]
        } else {
            [(0.2, (64 * MI) as f64), (0.2, (64 * MI) as f64)]
        };
        expected.insert(name, e);
    }

    // PodMetrics through the aggregator → metrics-server → KWOK's /metrics/resource.
    let pm_api: Api<PodMetrics> = Api::namespaced(client.clone(), "shop");
    let metrics = eventually(
        "PodMetrics matching the usage set",
        Duration::from_secs(120),
        || {
            let (pm_api, expected) = (pm_api.clone(), expected.clone());
            async move {
                let list = pm_api.list(&ListParams::default()).await?;
                let mut mismatches = Vec::new();
                for (pod, [(app_cpu, app_mem), (sc_cpu, sc_mem)]) in &expected {
                    let Some(pm) = list
                        .items
                        .iter()
                        .find(|m| m.metadata.name.as_deref() == Some(pod))
                    else {
                        mismatches.push(format!("{pod}: no metrics yet"));
                        continue;
                    };
                    let app = container_usage(pm, "app");
                    let sc = container_usage(pm, "sidecar");
                    let ok = |u: Option<(f64, f64)>, cpu: f64, mem: f64| {
                        u.is_some_and(|(c, m)| c > 0.0 && close(c, cpu, 0.1) && m == mem)
                    };
                    if !(ok(app, *app_cpu, *app_mem) && ok(sc, *sc_cpu, *sc_mem)) {
                        mismatches.push(format!("{pod}: app={app:?} sidecar={sc:?}"));
                    }
                }
                if mismatches.is_empty() {
                    Ok(Some(list.items))
                } else {
                    bail!("{}", mismatches.join("; "))
                }
            }
        },
    )
    .await
    .with_context(|| cluster.logs_tail())?;
    assert_eq!(metrics.len(), 3);

    // NodeMetrics: a node's usage is the sum of its pods' usage.
    let mut mem_by_node: BTreeMap<String, f64> = BTreeMap::new();
    for p in &pods {
        let node = p.spec.as_ref().unwrap().node_name.clone().unwrap();
        let [(_, a), (_, b)] = expected[p.metadata.name.as_ref().unwrap()];
        *mem_by_node.entry(node).or_default() += a + b;
    }
    let nm_api: Api<NodeMetrics> = Api::all(client.clone());
    eventually(
        "NodeMetrics with the summed usage",
        Duration::from_secs(60),
        || {
            let (nm_api, mem_by_node) = (nm_api.clone(), mem_by_node.clone());
            async move {
                let list = nm_api.list(&ListParams::default()).await?;
                for (node, mem) in &mem_by_node {
                    let nm = list
                        .items
                        .iter()
                        .find(|m| m.metadata.name.as_deref() == Some(node.as_str()));
                    let got = nm.and_then(|m| {
                        Some((
                            cores(&m.usage.get("cpu")?.0)?,
                            parse_bytes(&m.usage.get("memory")?.0).ok()? as f64,
                        ))
                    });
                    match got {
                        Some((cpu, m)) if cpu > 0.0 && m == *mem => {}
                        other => bail!("node {node}: got {other:?}, want memory {mem}"),
                    }
                }
                Ok(Some(()))
            }
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn two_clusters_with_different_providers_and_versions() -> Result<()> {
    init_tracing();
    let eks = ClusterSpec::new(
        "eks",
        vec![
            NodeSpec::new("ip-10-0-1-17.ec2.internal")
                .label("eks.amazonaws.com/nodegroup", "general")
                .label("topology.kubernetes.io/zone", "us-east-1a")
                .label("node.kubernetes.io/instance-type", "m6i.xlarge")
                .provider_id("aws:///us-east-1a/i-0a1b2c3d4e5f60718")
                .kubelet_version("v1.36.3-eks-4f2a1c9"),
            NodeSpec::new("ip-10-0-2-33.ec2.internal")
                .label("eks.amazonaws.com/nodegroup", "general")
                .label("topology.kubernetes.io/zone", "us-east-1b")
                .provider_id("aws:///us-east-1b/i-0f9e8d7c6b5a40312"),
        ],
    )
    .server_version("v1.36.3-eks-4f2a1c9");
    let gke = ClusterSpec::new(
        "gke",
        vec![
            NodeSpec::new("gke-prod-default-pool-1a2b3c4d-x7k2")
                .label("cloud.google.com/gke-nodepool", "default-pool")
                .label("topology.kubernetes.io/zone", "europe-west1-b")
                .provider_id(
                    "gce://prod-project/europe-west1-b/gke-prod-default-pool-1a2b3c4d-x7k2",
                )
                .capacity("8", "32Gi"),
        ],
    )
    .server_version("v1.36.3-gke.1200");

    let (eks, gke) = tokio::try_join!(TestCluster::start(eks), TestCluster::start(gke))?;
    assert_ne!(eks.server_url(), gke.server_url());

    for (cluster, version) in [(&eks, "v1.36.3-eks-4f2a1c9"), (&gke, "v1.36.3-gke.1200")] {
        let info = cluster.client().apiserver_version().await?;
        assert_eq!(info.git_version, version, "{} /version", cluster.name());
        assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "36"));
        assert_eq!(cluster.server_version(), version);
    }

    // The kubeconfig is a real one: a fresh client built from the YAML alone works.
    let kc = kube::config::Kubeconfig::from_yaml(eks.kubeconfig_yaml())?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let fresh = kube::Client::try_from(cfg)?;
    assert_eq!(
        fresh.apiserver_version().await?.git_version,
        "v1.36.3-eks-4f2a1c9"
    );
    assert_eq!(
        std::fs::read_to_string(eks.kubeconfig_path())?,
        eks.kubeconfig_yaml()
    );

    let eks_nodes = Api::<Node>::all(eks.client())
        .list(&ListParams::default())
        .await?
        .items;
    let gke_nodes = Api::<Node>::all(gke.client())
        .list(&ListParams::default())
        .await?
        .items;
    assert_eq!(eks_nodes.len(), 2);
    assert_eq!(gke_nodes.len(), 1);
    for n in &eks_nodes {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("eks.amazonaws.com/nodegroup")
                .map(String::as_str),
            Some("general")
        );
        assert!(!labels.contains_key("cloud.google.com/gke-nodepool"));
        let pid = n
            .spec
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default();
        assert!(pid.starts_with("aws:///us-east-1"), "providerID {pid}");
    }
    let n = &gke_nodes[0];
    assert_eq!(
        n.metadata.name.as_deref(),
        Some("gke-prod-default-pool-1a2b3c4d-x7k2")
    );
    assert_eq!(
        n.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("cloud.google.com/gke-nodepool"))
            .map(String::as_str),
        Some("default-pool")
    );
    assert_eq!(
        n.spec.as_ref().and_then(|s| s.provider_id.as_deref()),
        Some("gce://prod-project/europe-west1-b/gke-prod-default-pool-1a2b3c4d-x7k2")
    );
    let status = n.status.as_ref().context("node status")?;
    assert_eq!(
        status
            .capacity
            .as_ref()
            .and_then(|c| c.get("cpu"))
            .map(|q| q.0.as_str()),
        Some("8")
    );
    assert_eq!(
        status
            .capacity
            .as_ref()
            .and_then(|c| c.get("memory"))
            .map(|q| q.0.as_str()),
        Some("32Gi")
    );
    let eks_first = eks_nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some("ip-10-0-1-17.ec2.internal"))
        .unwrap();
    assert_eq!(
        eks_first
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.as_str()),
        Some("v1.36.3-eks-4f2a1c9")
    );
    Ok(())
}

#[tokio::test]
async fn apiserver_restart_scheduler_stop_and_node_not_ready() -> Result<()> {
    init_tracing();
    let spec = ClusterSpec {
        metrics_server: false,
        ..ClusterSpec::new("lifecycle", vec![NodeSpec::new("n1")])
    };
    let cluster = TestCluster::start(spec).await?;
    let client = cluster.client();
    let nodes: Api<Node> = Api::all(client.clone());

    // Unreachable while the API server is down, the same again after (etcd kept the state).
    cluster.stop_apiserver();
    assert!(
        nodes.list(&ListParams::default()).await.is_err(),
        "API server should be unreachable"
    );
    cluster.start_apiserver().await?;
    assert_eq!(nodes.list(&ListParams::default()).await?.items.len(), 1);

    // Without the scheduler a pod stays Pending; with it, it is bound.
    cluster.stop_component(ComponentKind::Scheduler);
    assert!(!cluster.is_running(ComponentKind::Scheduler));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/c:1"}]},
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    tokio::time::sleep(Duration::from_secs(3)).await; // give a (wrongly) running scheduler time to act
    let p = pods.get("p").await?;
    assert_eq!(
        p.spec.and_then(|s| s.node_name),
        None,
        "no scheduler, no binding"
    );
    cluster.start_component(ComponentKind::Scheduler)?;
    eventually("pod p Running on n1", Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            let p = pods.get("p").await?;
            let on_n1 = p.spec.and_then(|s| s.node_name).as_deref() == Some("n1");
            Ok(
                (on_n1 && p.status.and_then(|s| s.phase).as_deref() == Some("Running"))
                    .then_some(()),
            )
        }
    })
    .await?;

    // A pod labelled to crash-loop runs but never becomes Ready, and keeps restarting.
    let crashy: Pod = serde_json::from_value(json!({
        "metadata": {"name": "crashy", "labels": {CRASH_LOOP_LABEL: "true"}},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/c:1"}]},
    }))?;
    pods.create(&PostParams::default(), &crashy).await?;
    let restarts = |p: &Pod| -> Option<(i32, String)> {
        let status = p.status.as_ref()?;
        let c = status.container_statuses.as_ref()?.first()?;
        let waiting = c.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
        (status.phase.as_deref() == Some("Running") && !c.ready)
            .then_some((c.restart_count, waiting))
    };
    let first = eventually("crashy crash-looping", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move { Ok(restarts(&pods.get("crashy").await?)) }
    })
    .await?;
    assert_eq!(first.1, "CrashLoopBackOff");
    eventually("crashy restarting again", Duration::from_secs(40), || {
        let pods = pods.clone();
        async move { Ok(restarts(&pods.get("crashy").await?).filter(|(n, _)| *n > first.0)) }
    })
    .await?;
    let p = pods.get("crashy").await?;
    let last = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(last, Some(1), "the last run failed");

    cluster
        .set_node_ready("n1", false, Duration::from_secs(30))
        .await?;
    cluster
        .set_node_ready("n1", true, Duration::from_secs(30))
        .await?;
    Ok(())
}
