//! Cost end to end on a real control plane: the real collector's output goes into a real
//! store (in-process, as pull mode does), the cost engine runs the current hour through the
//! store, and the two teams' costs match a hand computation.
//!
//! Usage is emulated per pod by KWOK annotations. Each pod is chosen so that what is billed
//! does not depend on a measured CPU rate: `shop/web-1` uses less than it requests (billed
//! its requests), `ml/train-1` uses less CPU than requested and more memory (billed its CPU
//! request and its memory usage: 1000M, a working set KWOK reports exactly and whose byte-seconds
//! per sample are whole numbers, so the hour's average is exact).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::cost::{AggregateBy, ClusterPrices, CostQuery, Window, costs, run_hour};
use kubeworkz_hub::store::{self, ClusterMode, Cursor, DEFAULT_ORG, Environment, NewCluster};
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::usage::PodMetrics;
use kubeworkz_shared::model::{LabelKeys, UsageBucket};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use kubeworkz_testkit::cluster::{
    ClusterSpec, NodeSpec, TestCluster, USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION,
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

fn pod(name: &str, requests: (&str, &str), usage: (&str, &str)) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "annotations": {
                USAGE_CPU_ANNOTATION: usage.0,
                USAGE_MEMORY_ANNOTATION: usage.1,
            },
        },
        "spec": {"containers": [{
            "name": "app", "image": "busybox:1.36",
            "resources": {"requests": {"cpu": requests.0, "memory": requests.1}},
        }]},
    }))?)
}

async fn labeled_namespace(cluster: &TestCluster, name: &str, team: &str, cc: &str) -> Result<()> {
    cluster.create_namespace(name).await?;
    let patch = json!({"metadata": {"labels": {"team": team, "cost-center": cc}}});
    Api::<Namespace>::all(cluster.client())
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// When the pod's kubelet (KWOK) started it, once it runs.
async fn started(cluster: &TestCluster, namespace: &str, name: &str) -> Result<UnixMillis> {
    let pods: Api<Pod> = Api::namespaced(cluster.client(), namespace);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pod = pods.get(name).await?;
        let status = pod.status.unwrap_or_default();
        if status.phase.as_deref() == Some("Running")
            && let Some(start) = status.start_time
        {
            return Ok(UnixMillis::from(&start));
        }
        if Instant::now() > deadline {
            bail!("pod {namespace}/{name} did not start");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `quantity × price / unit`, rounded half up: the rule written out for the hand computation.
fn cost(quantity: u128, price_nanos: u128, unit: u128) -> u64 {
    ((quantity * price_nanos + unit / 2) / unit) as u64
}

#[tokio::test]
async fn two_teams_cost_what_a_hand_computation_says() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster = TestCluster::start(ClusterSpec::new(
        "costs",
        vec![NodeSpec::new("node-a").capacity("8", "32Gi")],
    ))
    .await?;
    labeled_namespace(&cluster, "shop", "storefront", "retail").await?;
    labeled_namespace(&cluster, "ml", "research", "science").await?;
    let client = cluster.client();
    Api::<Pod>::namespaced(client.clone(), "shop")
        .create(
            &PostParams::default(),
            &pod("web-1", ("500m", "512Mi"), ("100m", "64Mi"))?,
        )
        .await?;
    Api::<Pod>::namespaced(client.clone(), "ml")
        .create(
            &PostParams::default(),
            &pod("train-1", ("1", "256Mi"), ("200m", "1000M"))?,
        )
        .await?;
    let web_start = started(&cluster, "shop", "web-1").await?;
    let train_start = started(&cluster, "ml", "train-1").await?;

    // A real store, fed like pull mode feeds it.
    let dir = tempfile::tempdir()?;
    let url: DatabaseUrl = format!("sqlite://{}", dir.path().join("hub.db").display()).parse()?;
    let store = store::connect(&url).await?;
    let org = store
        .organization_by_name(DEFAULT_ORG)
        .await?
        .context("default organization")?
        .id;
    let id = ClusterId::new();
    store
        .create_cluster(&NewCluster {
            id,
            org_id: org,
            name: "costs".into(),
            description: String::new(),
            environment: Environment::Production,
            tags: vec![],
            mode: ClusterMode::Agent,
            api_server_url: None,
            provider: None,
            version: None,
            kubeconfig: None,
            created_by: None,
        })
        .await?;

    let (tx, mut rx) = mpsc::channel(256);
    let shutdown = CancellationToken::new();
    let collector = Collector::new(
        client.clone(),
        CollectorConfig {
            usage_interval: Duration::from_secs(3),
            health_interval: Duration::from_secs(5),
            ..CollectorConfig::default()
        },
    );
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { collector.run(tx, shutdown).await }
    });
    let ingest = tokio::spawn({
        let store = store.clone();
        async move {
            let mut seq = 0;
            let mut buckets: Vec<UsageBucket> = Vec::new();
            while let Some(output) = rx.recv().await {
                if matches!(output, CollectorOutput::ClusterInfo(_)) {
                    continue; // not sequenced; this test is about costs
                }
                seq += 1;
                let cursor = Cursor { epoch: 1, seq };
                match output {
                    CollectorOutput::Changes(batch) => {
                        store.ingest_changes(org, id, cursor, &batch).await?;
                    }
                    CollectorOutput::Usage(usage) => {
                        store.ingest_usage(org, id, cursor, &usage).await?;
                        buckets.extend(usage);
                    }
                    CollectorOutput::Health { report, .. } => {
                        store
                            .ingest_health(org, id, cursor, &report, chrono::Utc::now())
                            .await?;
                    }
                    CollectorOutput::ClusterInfo(_) => {}
                }
            }
            anyhow::Ok(buckets)
        }
    });
    // metrics-server needs two scrapes before a pod has usage; then a few samples.
    let metrics: Api<PodMetrics> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let list = metrics.list(&Default::default()).await;
        let measured = |pod: &str| {
            list.as_ref().is_ok_and(|l| {
                l.items.iter().any(|m| {
                    m.metadata.name.as_deref() == Some(pod)
                        && m.containers.iter().any(|c| c.usage.contains_key("cpu"))
                })
            })
        };
        if measured("web-1") && measured("train-1") {
            break;
        }
        if Instant::now() > deadline {
            bail!("no pod metrics for both pods\n{}", cluster.logs_tail());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    // Stopping hands the open hour over.
    shutdown.cancel();
    run.await??;
    let buckets = ingest.await??;

    // The hour with the most measured time for the training pod (the current one, unless
    // the test straddled an hour boundary), computed now rather than an hour from now.
    let hour = buckets
        .iter()
        .filter(|b| b.pod == "train-1")
        .max_by_key(|b| b.covered_millis)
        .context("usage of train-1")?
        .hour_start;
    run_hour(
        &store,
        org,
        id,
        hour,
        &ClusterPrices::uniform(Default::default()),
        &LabelKeys::default(),
    )
    .await?;
    let window = Window {
        start: hour,
        end: UnixMillis(hour.0 + MILLIS_PER_HOUR),
    };
    let query = CostQuery {
        window,
        aggregate: AggregateBy::Team,
        filter: None,
        include_idle: false,
    };
    let report = costs(&store, org, &query).await?;
    let team = |name: &str| {
        report
            .lines
            .iter()
            .find(|l| l.key == name)
            .with_context(|| format!("team {name} in {report:#?}"))
    };

    // Running time in the hour: from the kubelet's start (or the hour's start) to its end.
    let hour_end = hour.0 + MILLIS_PER_HOUR;
    let running = |start: UnixMillis| u128::try_from(hour_end - start.0.max(hour.0)).unwrap();
    // Seed prices in nano-dollars: vCPU-hour 40,000,000; GiB-hour 5,000,000.
    let cpu_unit = 1000 * 3_600_000;
    let mem_unit = u128::from(GI) * 3_600_000;
    let web = running(web_start);
    let storefront = cost(500 * web, 40_000_000, cpu_unit)
        + cost(u128::from(512 * MI) * web, 5_000_000, mem_unit);
    let train = running(train_start);
    let research =
        cost(1000 * train, 40_000_000, cpu_unit) + cost(1_000_000_000 * train, 5_000_000, mem_unit);

    let storefront_line = team("storefront")?;
    let research_line = team("research")?;
    assert_eq!(
        storefront_line.cost.total.0, storefront,
        "{storefront_line:#?}"
    );
    assert_eq!(research_line.cost.total.0, research, "{research_line:#?}");
    assert!(!storefront_line.cost.flags.usage_unknown && !research_line.cost.flags.usage_unknown);
    // Research used its memory beyond the request; the storefront used less than requested.
    assert!(research_line.cost.memory.efficiency().unwrap() > 3.7);
    assert!(storefront_line.cost.cpu.efficiency().unwrap() < 0.5);
    drop(cluster);
    Ok(())
}
