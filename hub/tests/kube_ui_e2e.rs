//! The web UI end to end in a real browser: a real test cluster with a deployment, the real
//! `kubeworkz-hub serve` (the UI embedded in it), and `hub/ui/e2e/run.mjs` driving Debian's
//! Chromium through playwright-core: login, registration by kubeconfig, drill-down to a pod
//! (on the way, the namespace's quota bar and limit range, counted by the real quota
//! controller: `bounds`),
//! a scale in the cluster seen without reload, a scale from the deployment page (confirmed,
//! its change shown, the pod count following), a terminal on a pod running a typed command
//! (`enable_terminals`), a crash-looping pod's log viewer (its previous container's log, then
//! a follow showing lines the test appends while the browser reads, then stopped;
//! [`FailingPod`]), the Savings page's right-sizing table and its CSV download, the
//! Budgets page (the budget form, the budget with its actual and forecast, a real cost run and
//! alert evaluation, the alerts it raised in the alert list, a webhook to a real receiver on
//! loopback that this test runs — its test event checked here, signature and all — and an
//! address the egress policy refuses, a viewer without the form), the cost run's deployment
//! on the Savings page's costs by workload (the same total as by namespace), dark
//! mode, a viewer without mutating
//! controls, axe-core on the main pages, no console errors. Screenshots land in
//! `target/ui-screenshots/` (the CI artifact).
//!
//! Needs `node` and `npm ci` in `hub/ui` (`tests/run.sh` does both) and `/usr/bin/chromium`
//! (or `CHROMIUM`). In nextest's `kube` group.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kubeworkz_hub::alerts::webhook::{EVENT_HEADER, SIGNATURE_HEADER, verify};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::cost::{CostWorker, CostWorkerConfig};
use kubeworkz_hub::store;
use kubeworkz_hub::workers::Worker;
use kubeworkz_shared::time::UnixMillis;
use kubeworkz_testkit::cluster::{
    CRASH_LOOP_LABEL, ClusterSpec, NodeSpec, PodLogs, TestCluster, append_log_lines,
};
use serde_json::json;

use support::browser;
use support::hub::{Hub, cli_with_stdin, login_session};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "e2e-admin-password";
const VIEWER_EMAIL: &str = "viewer@example.com";
const VIEWER_PASSWORD: &str = "e2e-viewer-password";
const NAMESPACE: &str = "shop";
const DEPLOYMENT: &str = "web";
const REPLICAS: i32 = 2;
const NODE: &str = "node-a";
/// The crash-looping pod's namespace: its own, so that the walk's pod counts stay those of
/// the deployment.
const FAILING_NAMESPACE: &str = "ops";
const FAILING_POD: &str = "crashy";
/// The failing pod's previous run's log: what explains the crash loop.
const PREVIOUS_LOG: [&str; 2] = [
    "starting worker 1.4.2",
    "panic: dial tcp db.ops:5432: connect: connection refused",
];
/// The failing pod's current run's log before the walk appends to it.
const CURRENT_LOG: [&str; 2] = ["starting worker 1.4.2", "waiting for db.ops:5432"];

fn deployment() -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": DEPLOYMENT},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {
                "metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }]},
            },
        },
    }))?)
}

/// The terminal step: the deployment's pods run exec'd commands on the test host (KWOK's
/// `ClusterExec`), in `work_dir`. The cluster is registered by kubeconfig, whose admin
/// rights include `pods/exec`: there is no agent chart to switch `operations.exec` on.
/// A ResourceQuota and a LimitRange in the app's namespace: room for ten pods and one CPU of
/// requests (the deployment's pods request 100m each, so scaling it stays within), and a
/// container CPU maximum. kube-controller-manager's quota controller counts the use.
async fn bounds(cluster: &TestCluster) -> Result<()> {
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "compute"},
        "spec": {"hard": {"pods": "10", "requests.cpu": "1"}},
    }))?;
    let range: LimitRange = serde_json::from_value(json!({
        "metadata": {"name": "container-max"},
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]},
    }))?;
    let post = PostParams::default();
    Api::<ResourceQuota>::namespaced(cluster.client(), NAMESPACE)
        .create(&post, &quota)
        .await?;
    Api::<LimitRange>::namespaced(cluster.client(), NAMESPACE)
        .create(&post, &range)
        .await?;
    Ok(())
}

async fn enable_terminals(cluster: &TestCluster, work_dir: &std::path::Path) -> Result<()> {
    cluster.set_namespace_exec(NAMESPACE, work_dir).await
}

/// The walk's crash-looping pod (`FAILINGPOD`): a bare pod whose containers KWOK runs into a
/// crash loop ([`CRASH_LOOP_LABEL`]), its current and previous runs' logs served from files
/// KWOK follows; `APPEND` writes the next numbered line to the current one while the browser
/// follows it.
struct FailingPod {
    current: PathBuf,
    appended: usize,
}

impl FailingPod {
    async fn create(cluster: &TestCluster, dir: &Path) -> Result<Self> {
        let current = dir.join("crashy.log");
        let previous = dir.join("crashy-previous.log");
        append_log_lines(&current, &CURRENT_LOG)?;
        append_log_lines(&previous, &PREVIOUS_LOG)?;
        cluster.create_namespace(FAILING_NAMESPACE).await?;
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": FAILING_POD, "labels": {CRASH_LOOP_LABEL: "true"}},
            "spec": {"containers": [{"name": "worker", "image": "busybox:1.37"}]},
        }))?;
        Api::<Pod>::namespaced(cluster.client(), FAILING_NAMESPACE)
            .create(&PostParams::default(), &pod)
            .await?;
        let logs = PodLogs {
            containers: Vec::new(),
            logs_file: &current,
            previous_logs_file: Some(&previous),
            follow: true,
        };
        cluster
            .set_pod_logs(FAILING_NAMESPACE, FAILING_POD, &[logs])
            .await?;
        Ok(Self {
            current,
            appended: 0,
        })
    }

    /// Appends `live line <n>` (1, 2, …) to the current run's log.
    fn append(&mut self) -> Result<()> {
        self.appended += 1;
        append_log_lines(&self.current, &[&format!("live line {}", self.appended)])
    }
}

/// The walk's `COSTRUN`: one tick of the hub's cost worker (every hour of the registered
/// cluster's cost, then the budget and anomaly evaluation), as `serve` runs it, on the hub's
/// database. Its clock is 70 minutes ahead so that the hour in progress is complete and past
/// its grace period: a freshly registered cluster has no complete hour yet, and budgets are
/// judged on complete hours only. Nothing is written by hand: the costs come from the
/// inventory the hub collected, the alerts from the evaluation.
async fn cost_run(db: &str) -> Result<()> {
    let url: DatabaseUrl = db.parse()?;
    let store = store::connect(&url).await?;
    let ahead = UnixMillis::now().0 + 70 * 60 * 1000;
    let mut worker = CostWorker::new(store.clone(), CostWorkerConfig::default(), None)
        .with_clock(Arc::new(move || UnixMillis(ahead)));
    worker
        .tick()
        .await
        .map_err(|err| anyhow::anyhow!("the cost run and alert evaluation: {err}"))?;
    anyhow::ensure!(
        worker.last_report().hours > 0,
        "the cost run computed the cluster's hours: {}",
        worker.last_report()
    );
    store.close().await;
    Ok(())
}

/// What the webhook receiver got: each POST's path, headers and body.
type Received = Arc<Mutex<Vec<(String, axum::http::HeaderMap, axum::body::Bytes)>>>;

/// The walk's webhook receiver: an HTTP server on loopback that records every POST and
/// answers 200. The hub reaches it because `serve` runs with `--pull-allow-loopback`, the
/// documented switch for receivers on the hub's own machine.
async fn webhook_receiver() -> Result<(std::net::SocketAddr, Received)> {
    let seen: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = {
        let seen = seen.clone();
        axum::Router::new().fallback(axum::routing::post(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push((uri.path().to_owned(), headers, body));
                    "ok"
                }
            },
        ))
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, seen))
}

/// The walk's `WEBHOOKCHECK SECRET`: the receiver got exactly the one test event the UI sent,
/// at the URL typed, signed with the secret the UI showed once. (Alerts the hub's own worker
/// may raise meanwhile are delivered too, as `alert` events: they are not counted.)
fn check_webhook(seen: &Received, secret: &str) -> Result<()> {
    let seen = seen.lock().unwrap();
    let event = |headers: &axum::http::HeaderMap| {
        headers
            .get(EVENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let tests: Vec<_> = seen.iter().filter(|(_, h, _)| event(h) == "test").collect();
    anyhow::ensure!(
        tests.len() == 1,
        "one test event reached the receiver, not {}",
        tests.len()
    );
    let (path, headers, body) = tests[0];
    anyhow::ensure!(path == "/hooks/e2e", "delivered to {path}");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let now = chrono::Utc::now().timestamp();
    anyhow::ensure!(
        verify(secret.as_bytes(), header(SIGNATURE_HEADER), body, now, 300),
        "the signature verifies with the secret the UI showed"
    );
    let payload: serde_json::Value = serde_json::from_slice(body)?;
    anyhow::ensure!(payload["event"] == "test", "payload {payload}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_walks_through_registration_drill_down_live_updates_and_roles() -> Result<()> {
    let ui = browser::ui_dir()?;
    let shots = browser::screenshot_dir();

    let cluster = TestCluster::start(ClusterSpec::new("ui-e2e", vec![NodeSpec::new(NODE)])).await?;
    cluster.create_namespace(NAMESPACE).await?;
    bounds(&cluster).await?;
    let deploys: Api<Deployment> = Api::namespaced(cluster.client(), NAMESPACE);
    deploys
        .create(&PostParams::default(), &deployment()?)
        .await?;

    let dir = tempfile::tempdir()?;
    enable_terminals(&cluster, dir.path()).await?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start_with_admin(&db, ADMIN_EMAIL, ADMIN_PASSWORD);
    let url = hub.api_url()?;
    let (ok, out, err) = cli_with_stdin(
        &db,
        &[
            "user",
            "create",
            "--email",
            VIEWER_EMAIL,
            "--role",
            "viewer",
        ],
        VIEWER_PASSWORD,
    );
    assert!(ok, "user create: {out}{err}");

    let (receiver, received) = webhook_receiver().await?;

    let mut script = Command::new("node")
        .arg("e2e/run.mjs")
        .current_dir(&ui)
        .env("HUB_URL", &url)
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("VIEWER_EMAIL", VIEWER_EMAIL)
        .env("VIEWER_PASSWORD", VIEWER_PASSWORD)
        .env("KUBECONFIG_FILE", cluster.kubeconfig_path())
        .env("APP_NAMESPACE", NAMESPACE)
        .env("APP_DEPLOYMENT", DEPLOYMENT)
        .env("APP_REPLICAS", REPLICAS.to_string())
        .env("NODE_NAME", NODE)
        .env("FAILING_NAMESPACE", FAILING_NAMESPACE)
        .env("FAILING_POD", FAILING_POD)
        .env("PREVIOUS_LOG", PREVIOUS_LOG[1])
        .env("CURRENT_LOG", CURRENT_LOG[1])
        .env("SCREENSHOT_DIR", &shots)
        .env("WEBHOOK_URL", format!("http://{receiver}/hooks/e2e"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running node (install Node.js 20+)")?;
    let mut to_script = script.stdin.take().context("script stdin")?;
    let from_script = BufReader::new(script.stdout.take().context("script stdout")?);
    let mut scaled = Vec::new();
    let mut failing: Option<FailingPod> = None;
    for line in from_script.lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["SCALE", namespace, name, replicas] => {
                let replicas: i32 = replicas.parse().context("SCALE replicas")?;
                let api: Api<Deployment> = Api::namespaced(cluster.client(), namespace);
                api.patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": replicas}})),
                )
                .await
                .with_context(|| format!("scaling {namespace}/{name}"))?;
                scaled.push(replicas);
                writeln!(to_script, "OK")?;
            }
            ["FAILINGPOD"] => {
                failing = Some(FailingPod::create(&cluster, dir.path()).await?);
                writeln!(to_script, "OK")?;
            }
            ["APPEND"] => {
                failing
                    .as_mut()
                    .context("APPEND before FAILINGPOD")?
                    .append()?;
                writeln!(to_script, "OK")?;
            }
            ["COSTRUN"] => {
                cost_run(&db).await?;
                writeln!(to_script, "OK")?;
            }
            ["WEBHOOKCHECK", secret] => {
                check_webhook(&received, secret)?;
                writeln!(to_script, "OK")?;
            }
            _ => eprintln!("[ui-e2e stdout] {line}"),
        }
    }
    let status = script.wait()?;
    eprintln!("screenshots: {}", shots.display());
    if !status.success() {
        bail!(
            "the browser walk failed ({status}); hub log:\n{}",
            hub.log()
        );
    }
    assert_eq!(
        scaled,
        [REPLICAS + 1, REPLICAS],
        "the script scaled up and back"
    );
    assert_eq!(
        failing.map(|f| f.appended),
        Some(2),
        "the walk followed the failing pod's log while two lines were appended"
    );
    browser::check_screenshots(&shots, "", &["dashboard", "cluster", "namespace", "pod"])?;
    for shot in [
        "deployment-scale-confirm.png",
        "deployment-scaled.png",
        "savings.png",
        "pod-terminal.png",
        "namespace-quota.png",
        "pod-logs-previous.png",
        "pod-logs-follow.png",
        "budgets.png",
        "budgets-webhooks.png",
        "savings-costs.png",
        "budgets-viewer.png",
    ] {
        let size = std::fs::metadata(shots.join(shot))
            .with_context(|| format!("screenshot {shot}"))?
            .len();
        anyhow::ensure!(size > 1000, "{shot} is a real image");
    }
    // An open event stream must not hold the hub's graceful shutdown.
    let client = reqwest::Client::new();
    let session = login_session(&url, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let stream = client
        .get(format!("{url}/api/v1/events"))
        .header("cookie", session)
        .send()
        .await?;
    assert_eq!(stream.status(), 200);
    let log = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || hub.stop()),
    )
    .await
    .context("the hub stops within 20 s with an event stream open")???;
    drop(stream);
    assert!(
        !log.contains(ADMIN_PASSWORD) && !log.contains(VIEWER_PASSWORD),
        "no password in the hub's log"
    );
    Ok(())
}
