//! The web UI at fleet scale in a real browser: a SQLite store filled through the real ingest
//! path (`Store::ingest_changes`, one snapshot per cluster) with 2,000 clusters and 100,000
//! pods, one cluster with 10,000 namespaces and objects named `payments` in three clusters
//! (some of their pods crash-loop); the real `kubeworkz-hub serve` on it; and
//! `hub/ui/e2e/scale.mjs` driving Debian's Chromium: search, facet chips, opening a result,
//! paging to the last of 10,000 namespaces, sorting them by pods from the column header
//! (rows on screen checked against the API's, reversed, reloaded, back), a CSV export checked
//! row by row, screenshots (light/dark, desktop/phone) into `target/ui-screenshots/`, and the
//! performance timeline's first-screen and long-task figures, printed as `MEASURE` lines.
//!
//! Needs `node` and `npm ci` in `hub/ui` (`tests/run.sh` does both) and `/usr/bin/chromium`
//! (or `CHROMIUM`). No Kubernetes cluster: the inventory is what agents would have sent.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::stream::{self, TryStreamExt};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store::{
    self, ClusterMode, Cursor, Environment, IngestOutcome, NewCluster, Store,
};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;
use uuid::Uuid;

use support::hub::Hub;
use support::{browser, fixtures};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "scale-admin-password";

const CLUSTERS: usize = 2_000;
/// Pods per cluster: 2,000 × 50 = 100,000.
const PODS_PER_CLUSTER: usize = 50;
/// The cluster with [`BIG_NAMESPACES`] namespaces.
const BIG: usize = 0;
const BIG_NAMESPACES: usize = 10_000;
/// The clusters that run the `payments` namespace, deployment and pods.
const PAYMENTS: [usize; 3] = [17, 923, 1_650];
/// Of each payments cluster's pods: how many are `payments-api-…`, and how many of those
/// crash-loop.
const PAYMENTS_PODS: usize = 10;
const CRASHING_PODS: usize = 3;
/// Every other cluster's namespaces.
const NAMESPACES: [&str; 4] = ["default", "web", "api", "jobs"];
const ENVIRONMENTS: [Environment; 3] = [
    Environment::Production,
    Environment::Staging,
    Environment::Development,
];
const PROVIDERS: [Option<&str>; 4] = [Some("eks"), Some("gke"), Some("aks"), None];

fn cluster_name(c: usize) -> String {
    format!("fleet-{c:04}")
}

fn big_namespace(n: usize) -> String {
    format!("ns-{n:05}")
}

/// A uid unique to (kind, cluster, index), as Kubernetes' are unique across clusters.
fn uid(kind: u128, c: usize, i: usize) -> String {
    Uuid::from_u128((kind << 96) | ((c as u128) << 48) | i as u128).to_string()
}

/// A pod whose container crash-loops: running, not ready, waiting in `CrashLoopBackOff`
/// after a dozen restarts, as the kubelet reports it.
fn crashing(pod: Object) -> Object {
    fixtures::dressed_pod(
        pod,
        &[("app", "payments-api")],
        "registry.example/payments-api:1.4",
        Some("CrashLoopBackOff"),
    )
}

/// Cluster `c`'s inventory, as its agent's first snapshot carries it.
fn inventory(c: usize) -> Vec<Object> {
    let mut objects: Vec<Object> = (0..2)
        .map(|i| fixtures::node(&format!("node-{c}-{i}"), &uid(1, c, i)))
        .collect();
    let namespaces: Vec<String> = if c == BIG {
        (0..BIG_NAMESPACES).map(big_namespace).collect()
    } else {
        NAMESPACES.iter().map(|n| n.to_string()).collect()
    };
    for (i, ns) in namespaces.iter().enumerate() {
        objects.push(fixtures::namespace(ns, &uid(2, c, i), Some("platform")));
    }
    let mut pods = 0;
    if PAYMENTS.contains(&c) {
        objects.push(fixtures::namespace(
            "payments",
            &uid(2, c, BIG_NAMESPACES),
            Some("payments"),
        ));
        objects.push(fixtures::deployment(
            "payments",
            "payments-api",
            &uid(3, c, 0),
            PAYMENTS_PODS as u32,
        ));
        for i in 0..PAYMENTS_PODS {
            let pod = fixtures::pod(
                "payments",
                &format!("payments-api-{c}-{i}"),
                &uid(4, c, i),
                PodPhase::Running,
            );
            objects.push(if i < CRASHING_PODS {
                crashing(pod)
            } else {
                pod
            });
        }
        pods = PAYMENTS_PODS;
    }
    for p in pods..PODS_PER_CLUSTER {
        let ns = &namespaces[p % NAMESPACES.len()];
        objects.push(fixtures::pod(
            ns,
            &format!("web-{c}-{p}"),
            &uid(4, c, p),
            PodPhase::Running,
        ));
    }
    objects
}

fn new_cluster(org: OrgId, c: usize) -> NewCluster {
    NewCluster {
        id: ClusterId::new(),
        org_id: org,
        name: cluster_name(c),
        description: format!("scale test cluster {c}"),
        environment: ENVIRONMENTS[c % ENVIRONMENTS.len()],
        tags: vec![format!("team-{}", c % 5)],
        mode: ClusterMode::Agent,
        api_server_url: None,
        provider: PROVIDERS[c % PROVIDERS.len()].map(str::to_owned),
        version: Some("v1.36.3".into()),
        kubeconfig: None,
        created_by: Some("ui-scale".into()),
    }
}

/// Registers every cluster and ingests its snapshot; the big cluster's id.
async fn fill(store: &Store, org: OrgId) -> Result<ClusterId> {
    let mut ids = Vec::with_capacity(CLUSTERS);
    for c in 0..CLUSTERS {
        let cluster = new_cluster(org, c);
        ids.push(cluster.id);
        store.create_cluster(&cluster).await?;
    }
    let kinds = [
        ObjectKind::Node,
        ObjectKind::Namespace,
        ObjectKind::Deployment,
        ObjectKind::Pod,
    ];
    stream::iter(ids.iter().copied().enumerate().map(Ok::<_, anyhow::Error>))
        .try_for_each_concurrent(4, |(c, id)| async move {
            let batch = fixtures::batch(fixtures::snapshot(&kinds, &inventory(c)));
            let outcome = store
                .ingest_changes(org, id, Cursor { epoch: 1, seq: 1 }, &batch)
                .await
                .with_context(|| format!("ingest {}", cluster_name(c)))?;
            anyhow::ensure!(
                outcome == IngestOutcome::Applied,
                "{}: {outcome:?}",
                cluster_name(c)
            );
            Ok(())
        })
        .await?;
    let big = ids[BIG];
    let counts = store.inventory_counts(org, big).await?;
    assert_eq!(counts[&ObjectKind::Namespace] as usize, BIG_NAMESPACES);
    Ok(big)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_finds_pages_and_exports_across_2000_clusters_and_100k_pods() -> Result<()> {
    let ui = browser::ui_dir()?;
    let shots = browser::screenshot_dir();

    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let started = Instant::now();
    let store = store::connect(&db.parse::<DatabaseUrl>()?).await?;
    let org = store
        .organization_by_name("default")
        .await?
        .context("the default organization")?
        .id;
    let big = fill(&store, org).await?;
    // One maintenance round, as `serve` runs hourly: on SQLite it gathers planner statistics.
    store
        .maintain(chrono::Utc::now(), Duration::from_secs(86_400 * 90))
        .await?;
    store.close().await;
    eprintln!(
        "filled {CLUSTERS} clusters, {} pods in {:.1} s",
        CLUSTERS * PODS_PER_CLUSTER,
        started.elapsed().as_secs_f64()
    );

    let mut hub = Hub::start_with_admin(&db, ADMIN_EMAIL, ADMIN_PASSWORD);
    let url = hub.api_url()?;
    let payments: Vec<String> = PAYMENTS.iter().map(|&c| cluster_name(c)).collect();
    let mut script = Command::new("node")
        .arg("e2e/scale.mjs")
        .current_dir(&ui)
        .env("HUB_URL", &url)
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CLUSTERS", CLUSTERS.to_string())
        .env("BIG_CLUSTER_ID", big.to_string())
        .env("BIG_NAMESPACES", BIG_NAMESPACES.to_string())
        .env("LAST_NAMESPACE", big_namespace(BIG_NAMESPACES - 1))
        .env("PAYMENTS_CLUSTERS", payments.join(","))
        .env(
            "CRASHING_PODS",
            (CRASHING_PODS * PAYMENTS.len()).to_string(),
        )
        .env("SCREENSHOT_DIR", &shots)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running node (install Node.js 20+)")?;
    let mut measures = Vec::new();
    for line in BufReader::new(script.stdout.take().context("script stdout")?).lines() {
        let line = line?;
        if line.starts_with("MEASURE ") {
            measures.push(line.clone());
        }
        println!("{line}");
    }
    let status = script.wait()?;
    eprintln!("screenshots: {}", shots.display());
    if !status.success() {
        bail!(
            "the browser walk failed ({status}); hub log:\n{}",
            hub.log()
        );
    }
    for name in ["dashboard", "namespaces"] {
        assert!(
            measures
                .iter()
                .any(|m| m.starts_with(&format!("MEASURE {name} "))),
            "the script measured the {name} page: {measures:?}"
        );
    }
    browser::check_screenshots(
        &shots,
        "scale-",
        &["dashboard", "search", "namespaces-by-pods"],
    )?;
    let log = hub.stop()?;
    assert!(
        !log.contains(ADMIN_PASSWORD),
        "no password in the hub's log"
    );
    Ok(())
}
