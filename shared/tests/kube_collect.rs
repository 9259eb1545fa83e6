//! The collector against a real control plane (KWOK nodes, real scheduler and controllers):
//! every change made through the apiserver shows up in the change stream and in the
//! inventory built from it downstream (pods with their labels, images and container states),
//! and a restart relists so that deletions missed while
//! the collector was away are applied.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::collect::CollectorConfig;
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::health::ControlPlaneComponent;
use kubeworkz_shared::model::health::{FailingPods, PodFailure};
use kubeworkz_shared::model::usage::PodMetrics;
use kubeworkz_shared::model::{
    HealthReason, HealthStatus, HelmReleaseStatus, PodPhase, PodProjection, Provider, pod_status,
};
use kubeworkz_testkit::cluster::{
    CRASH_LOOP_LABEL, ClusterSpec, ComponentKind, NodeSpec, TestCluster, USAGE_CPU_ANNOTATION,
    USAGE_MEMORY_ANNOTATION,
};
use serde_json::json;
use support::{Downstream, test_config};

mod support;

fn deployments(
    inv: &Inventory,
    namespace: &str,
) -> Vec<kubeworkz_shared::model::DeploymentProjection> {
    inv.objects()
        .filter_map(|o| match o {
            Object::Deployment(d) if d.namespace == namespace => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// The not-deleting pods in `shop`, by name.
fn shop_pods(inv: &Inventory) -> Vec<PodProjection> {
    let mut pods: Vec<PodProjection> = inv
        .objects()
        .filter_map(|o| match o {
            Object::Pod(p) if p.namespace == "shop" && p.deleted.is_none() => Some(p.clone()),
            _ => None,
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    pods
}

/// Uids of the running, not-deleting pods in `namespace`.
fn running_pods(inv: &Inventory, namespace: &str) -> BTreeSet<String> {
    inv.objects()
        .filter_map(|o| match o {
            Object::Pod(p)
                if p.namespace == namespace
                    && p.phase == PodPhase::Running
                    && p.deleted.is_none() =>
            {
                Some(p.uid.clone())
            }
            _ => None,
        })
        .collect()
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": image,
                    "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}},
                }]},
            },
        },
    }))
    .unwrap()
}

/// A release Secret exactly as Helm 3 writes it: `data.release` holds base64(gzip(JSON)),
/// which the API then base64-encodes once more on the wire.
fn helm_secret(namespace: &str, release: &str, revision: u32, status: &str) -> Secret {
    let payload = json!({
        "name": release,
        "namespace": namespace,
        "version": revision,
        "info": {"status": status, "last_deployed": "2026-11-25T10:00:00Z"},
        "chart": {"metadata": {"name": "nginx", "version": "15.1.0", "appVersion": "1.25.3"}},
        "config": {"replicaCount": 2},
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(payload.to_string().as_bytes()).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("sh.helm.release.v1.{release}.v{revision}"),
            "namespace": namespace,
            "labels": {"owner": "helm", "name": release, "status": status,
                       "version": revision.to_string()},
        },
        "type": "helm.sh/release.v1",
    }))
    .map(|mut s: Secret| {
        s.data = Some([("release".to_owned(), ByteString(encoded.into_bytes()))].into());
        s
    })
    .unwrap()
}

#[tokio::test]
async fn the_collector_follows_the_cluster() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster = TestCluster::start(ClusterSpec::new(
        "collect",
        vec![NodeSpec::new("node-a"), NodeSpec::new("node-b")],
    ))
    .await?;
    let client = cluster.client();
    cluster.create_namespace("shop").await?;
    Api::<Namespace>::all(client.clone())
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "payments"}}})),
        )
        .await?;

    let down = Downstream::start(client.clone(), Arc::default());
    down.until("two nodes and the labelled namespace", |inv| {
        inv.count(ObjectKind::Node) == 2
            && matches!(inv.get(ObjectKind::Namespace, "", "shop"),
                Some(Object::Namespace(ns)) if ns.labels.get("team").map(String::as_str) == Some("payments"))
    })
    .await?;

    // Create.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deploys
        .create(&PostParams::default(), &deployment("web", 2, "nginx:1.25"))
        .await?;
    down.until("web with 2 running pods", |inv| {
        running_pods(inv, "shop").len() == 2
            && deployments(inv, "shop")
                .iter()
                .any(|d| d.name == "web" && d.replicas.available == 2)
    })
    .await?;

    // Scale.
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await?;
    down.until("web scaled to 4", |inv| {
        running_pods(inv, "shop").len() == 4
            && deployments(inv, "shop")
                .iter()
                .any(|d| d.replicas.desired == 4 && d.replicas.available == 4)
    })
    .await?;

    // Roll out a new image: four new pods replace the four old ones.
    let before = running_pods(&down.inventory.lock().unwrap(), "shop");
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.27"}]}}}})),
        )
        .await?;
    down.until("web rolled out to nginx:1.27", |inv| {
        let now = running_pods(inv, "shop");
        now.len() == 4
            && now.is_disjoint(&before)
            && deployments(inv, "shop")
                .iter()
                .any(|d| d.images == ["nginx:1.27"] && d.replicas.updated == 4)
    })
    .await?;

    // The pods carry their labels and images; a container that crash-loops (its status as a
    // kubelet reports it, written through the status subresource) becomes the pod's status.
    down.until("the rolled-out pods carry their label and image", |inv| {
        let pods: Vec<_> = shop_pods(inv);
        pods.len() == 4
            && pods.iter().all(|p| {
                p.labels.get("app").map(String::as_str) == Some("web")
                    && p.containers
                        .iter()
                        .map(|c| c.image.as_str())
                        .eq(["nginx:1.27"])
                    && pod_status(p) == "Running"
            })
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let crashing = shop_pods(&down.inventory.lock().unwrap())[0].name.clone();
    pods.patch_status(
        &crashing,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"containerStatuses": [{
            "name": "app", "image": "nginx:1.27", "imageID": "", "ready": false,
            "restartCount": 7,
            "state": {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": "back-off 5m0s restarting failed container"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        }]}})),
    )
    .await?;
    down.until("the patched pod is CrashLoopBackOff", |inv| {
        shop_pods(inv).iter().any(|p| {
            p.name == crashing
                && pod_status(p) == "CrashLoopBackOff"
                && p.containers[0].last_termination_reason.as_deref() == Some("OOMKilled")
                && p.containers[0].restarts == 7
        })
    })
    .await?;

    // A Helm release appears, then is superseded by revision 2.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "shop");
    secrets
        .create(
            &PostParams::default(),
            &helm_secret("shop", "web", 1, "deployed"),
        )
        .await?;
    down.until("helm release web revision 1", |inv| {
        inv.objects().any(|o| {
            matches!(o, Object::HelmRelease(r)
            if r.name == "web" && r.revision == 1 && r.chart_name == "nginx"
                && r.chart_version == "15.1.0" && r.status == HelmReleaseStatus::Deployed)
        })
    })
    .await?;
    secrets
        .replace("sh.helm.release.v1.web.v1", &PostParams::default(), &{
            let mut s = helm_secret("shop", "web", 1, "superseded");
            s.metadata.resource_version = secrets
                .get("sh.helm.release.v1.web.v1")
                .await?
                .metadata
                .resource_version;
            s
        })
        .await?;
    secrets
        .create(
            &PostParams::default(),
            &helm_secret("shop", "web", 2, "deployed"),
        )
        .await?;
    down.until("helm release revision 1 superseded and 2 deployed", |inv| {
        let revs: Vec<_> = inv
            .objects()
            .filter_map(|o| match o {
                Object::HelmRelease(r) => Some((r.revision, r.status)),
                _ => None,
            })
            .collect();
        revs.contains(&(1, HelmReleaseStatus::Superseded))
            && revs.contains(&(2, HelmReleaseStatus::Deployed))
    })
    .await?;

    // Delete: the deployment and (through the garbage collector) its pods go away.
    deploys.delete("web", &DeleteParams::background()).await?;
    down.until("web and its pods deleted", |inv| {
        deployments(inv, "shop").is_empty()
            && !inv
                .objects()
                .any(|o| matches!(o, Object::Pod(p) if p.namespace == "shop"))
    })
    .await?;

    // A node turns NotReady: the projection and the health verdict say so.
    cluster
        .set_node_ready("node-b", false, Duration::from_secs(60))
        .await?;
    down.until("node-b NotReady", |inv| {
        matches!(inv.get(ObjectKind::Node, "", "node-b"), Some(Object::Node(n)) if !n.is_ready())
    })
    .await?;
    down.until_health("Degraded for node-b", |h| {
        h.status == HealthStatus::Degraded
            && h.reasons
                .iter()
                .any(|r| matches!(r, HealthReason::NodesNotReady { nodes } if nodes == &["node-b"]))
    })
    .await?;
    cluster
        .set_node_ready("node-b", true, Duration::from_secs(60))
        .await?;
    down.until_health("Healthy again", |h| h.status == HealthStatus::Healthy)
        .await?;

    let _ = down.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_restart_relists_and_applies_deletions_missed_meanwhile() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster =
        TestCluster::start(ClusterSpec::new("relist", vec![NodeSpec::new("node-a")])).await?;
    let client = cluster.client();
    for ns in ["keep", "doomed"] {
        cluster.create_namespace(ns).await?;
    }
    let downstream = Arc::new(Mutex::new(Inventory::new()));
    let first = Downstream::start(client.clone(), downstream.clone());
    first
        .until("both namespaces", |inv| {
            inv.get(ObjectKind::Namespace, "", "keep").is_some()
                && inv.get(ObjectKind::Namespace, "", "doomed").is_some()
        })
        .await?;
    let _ = first.stop().await;

    // While no collector runs: one namespace goes, another comes.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while namespaces.get_opt("doomed").await?.is_some() {
        if Instant::now() > deadline {
            bail!("namespace doomed was never finalized");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    cluster.create_namespace("newcomer").await?;
    assert!(
        downstream
            .lock()
            .unwrap()
            .get(ObjectKind::Namespace, "", "doomed")
            .is_some(),
        "downstream still holds what it was last told"
    );

    let second = Downstream::start(client.clone(), downstream.clone());
    second
        .until("the relist removed doomed and added newcomer", |inv| {
            inv.get(ObjectKind::Namespace, "", "keep").is_some()
                && inv.get(ObjectKind::Namespace, "", "newcomer").is_some()
                && inv.get(ObjectKind::Namespace, "", "doomed").is_none()
        })
        .await?;
    let _ = second.stop().await;
    Ok(())
}

#[test]
fn snapshot_markers_bracket_every_kind() {
    // The restart test above relies on this: every kind's listing is bracketed, so the
    // downstream inventory prunes per kind.
    let begin = Change::SnapshotBegin {
        kinds: vec![ObjectKind::Namespace],
    };
    let end = Change::SnapshotEnd {
        kinds: vec![ObjectKind::Namespace],
    };
    let mut inv = Inventory::new();
    inv.apply_all(&[begin, end]);
    assert!(inv.is_empty());
}

/// The prober follows the inventory, not only its timer: with a probe interval far beyond the
/// test, the first verdict comes once the nodes are listed and counts them (never "no
/// nodes"), the cluster info names the apiserver's version and the provider the nodes show,
/// and a node turning NotReady is judged within seconds.
#[tokio::test]
async fn verdicts_and_cluster_info_follow_the_nodes_not_the_timer() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let eks_node = NodeSpec::new("ip-10-0-1-23.ec2.internal")
        .label("eks.amazonaws.com/nodegroup", "general")
        .provider_id("aws:///us-east-1a/i-0abc123def4567890");
    let mut spec = ClusterSpec::new("observer", vec![eks_node, NodeSpec::new("node-b")]);
    spec.metrics_server = false;
    let cluster = TestCluster::start(spec).await?;
    let config = CollectorConfig {
        health_interval: Duration::from_secs(600),
        ..test_config()
    };
    let down = Downstream::start_with(cluster.client(), Arc::default(), config);
    down.until_health("a first verdict", |_| true).await?;
    let first = down.verdicts.lock().unwrap()[0].clone();
    assert_eq!(first.1, 2, "the first verdict counts both nodes: {first:?}");
    assert!(
        !first.0.reasons.contains(&HealthReason::NoNodes),
        "{first:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while down.infos.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let infos = down.infos.lock().unwrap().clone();
    let info = infos.first().expect("cluster info sent");
    assert_eq!(info.git_version, cluster.server_version());
    assert!(info.platform.contains('/'), "{info:?}");
    assert_eq!(info.provider, Provider::Eks);
    assert_eq!(info.evidence, "node label eks.amazonaws.com/nodegroup");
    assert_eq!(infos.len(), 1, "sent again only when it changes: {infos:?}");

    cluster
        .set_node_ready("node-b", false, Duration::from_secs(60))
        .await?;
    down.until_health("node-b judged NotReady long before the timer", |h| {
        h.reasons
            .iter()
            .any(|r| matches!(r, HealthReason::NodesNotReady { nodes } if nodes == &["node-b"]))
    })
    .await?;
    down.stop().await;
    Ok(())
}

/// The failing pods reason of a verdict, if it has one.
fn failing(report: &kubeworkz_shared::model::HealthReport) -> Option<&Vec<FailingPods>> {
    report.reasons.iter().find_map(|r| match r {
        HealthReason::PodsFailing(groups) => Some(groups),
        _ => None,
    })
}

#[tokio::test]
async fn a_crash_looping_pod_is_a_health_reason_until_it_is_gone() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster =
        TestCluster::start(ClusterSpec::new("failing", vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace("shop").await?;
    let down = Downstream::start(cluster.client(), Arc::default());
    down.until_health("a first verdict without failing pods", |h| {
        failing(h).is_none()
    })
    .await?;

    let pods: Api<Pod> = Api::namespaced(cluster.client(), "shop");
    let pod = |name: &str, labels: serde_json::Value| -> Result<Pod> {
        Ok(serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": "node-a",
                     "containers": [{"name": "app", "image": "shop/api:1.0"}]},
        }))?)
    };
    pods.create(&PostParams::default(), &pod("fine", json!({}))?)
        .await?;
    pods.create(
        &PostParams::default(),
        &pod("loops", json!({CRASH_LOOP_LABEL: "true"}))?,
    )
    .await?;
    down.until_health("the crash loop named, the fine pod not", |h| {
        h.status == HealthStatus::Degraded
            && failing(h).is_some_and(|groups| {
                groups
                    == &[FailingPods {
                        failure: PodFailure::CrashLoopBackOff,
                        count: 1,
                        examples: vec!["shop/loops".to_owned()],
                    }]
            })
    })
    .await?;

    pods.delete("loops", &DeleteParams::default().grace_period(0))
        .await?;
    down.until_health("no failing pods once it is gone", |h| failing(h).is_none())
        .await?;
    down.stop().await;
    Ok(())
}

#[tokio::test]
async fn health_sees_a_stopped_scheduler_and_missing_metrics() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut spec = ClusterSpec::new("health", vec![NodeSpec::new("node-a")]);
    spec.metrics_server = false;
    let cluster = TestCluster::start(spec).await?;
    let down = Downstream::start(cluster.client(), Arc::default());
    down.until_health("metrics reported missing, control plane fine", |h| {
        h.status == HealthStatus::Degraded && h.reasons == [HealthReason::MetricsUnavailable]
    })
    .await?;

    cluster.stop_component(ComponentKind::Scheduler);
    // The Lease goes stale once its duration (15 s) and the allowed clock skew have passed.
    down.until_health("a stale scheduler lease", |h| {
        h.status == HealthStatus::Degraded
            && h.reasons.iter().any(|r| {
                matches!(
                    r,
                    HealthReason::StaleLease {
                        component: ControlPlaneComponent::Scheduler,
                        ..
                    }
                )
            })
            && !h.reasons.iter().any(|r| {
                matches!(
                    r,
                    HealthReason::StaleLease {
                        component: ControlPlaneComponent::ControllerManager,
                        ..
                    }
                )
            })
    })
    .await?;

    cluster.start_component(ComponentKind::Scheduler)?;
    down.until_health("the scheduler's lease fresh again", |h| {
        !h.reasons
            .iter()
            .any(|r| matches!(r, HealthReason::StaleLease { .. }))
    })
    .await?;
    let _ = down.stop().await;
    Ok(())
}

#[tokio::test]
async fn usage_is_sampled_into_hourly_buckets() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster =
        TestCluster::start(ClusterSpec::new("usage", vec![NodeSpec::new("node-a")])).await?;
    let client = cluster.client();
    cluster.create_namespace("metered").await?;
    let mut web = deployment("web", 1, "nginx:1.25");
    let template = web
        .spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .get_or_insert_default();
    template.annotations = Some(
        [
            (USAGE_CPU_ANNOTATION.to_owned(), "200m".to_owned()),
            (USAGE_MEMORY_ANNOTATION.to_owned(), "64Mi".to_owned()),
        ]
        .into(),
    );
    Api::<Deployment>::namespaced(client.clone(), "metered")
        .create(&PostParams::default(), &web)
        .await?;

    // metrics-server reports a pod's CPU once it has two scrapes of it.
    let metrics: Api<PodMetrics> = Api::namespaced(client.clone(), "metered");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = metrics.list(&Default::default()).await;
        let cpu_seen = list.is_ok_and(|l| {
            l.items.iter().any(|pm| {
                pm.containers.iter().any(|c| {
                    c.usage.get("cpu").is_some_and(|q| {
                        kubeworkz_shared::quantity::parse_cpu_millis(&q.0).is_ok_and(|m| m > 0)
                    })
                })
            })
        });
        if cpu_seen {
            break;
        }
        if Instant::now() > deadline {
            bail!("no PodMetrics with CPU for metered/web");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let config = CollectorConfig {
        usage_interval: Duration::from_secs(5),
        ..test_config()
    };
    let down = Downstream::start_with(client.clone(), Arc::default(), config);
    // Four sampling intervals' worth; the shutdown hands over the open hour.
    tokio::time::sleep(Duration::from_secs(21)).await;
    let buckets = down.stop().await;

    let app: Vec<_> = buckets
        .iter()
        .filter(|b| b.namespace == "metered" && b.container == "app")
        .collect();
    assert!(
        !app.is_empty(),
        "no usage bucket for metered/web app: {buckets:?}"
    );
    let samples: u32 = app.iter().map(|b| b.samples).sum();
    assert!(samples >= 3, "{samples} samples in {app:?}");
    for bucket in &app {
        assert_eq!(
            bucket.hour_start.0 % 3_600_000,
            0,
            "buckets are whole hours"
        );
        if bucket.covered_millis == 0 {
            continue; // a bucket holding only its first sample covers no time yet
        }
        let cpu = bucket.average_cpu_millis().unwrap();
        assert!(
            (180..=220).contains(&cpu),
            "average cpu {cpu}m, expected ~200m: {bucket:?}"
        );
        // Byte-seconds are integers over millisecond intervals: exact to a few bytes.
        let memory = bucket.average_memory_bytes().unwrap();
        assert!(
            memory.abs_diff(64 * 1024 * 1024) < 1024,
            "average memory {memory}: {bucket:?}"
        );
        assert_eq!(bucket.memory_max_bytes, 64 * 1024 * 1024);
    }
    assert!(
        app.iter().any(|b| b.covered_millis >= 10_000),
        "at least two intervals covered: {app:?}"
    );
    Ok(())
}
