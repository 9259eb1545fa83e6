//! Operations through the agent's tunnel and through a stored kubeconfig, every part real: a
//! test cluster whose KWOK serves container logs from files, the real `serve`, the real
//! agent running as the chart's ServiceAccount (its RBAC rendered by the real Helm), and the
//! REST API over HTTP.
//!
//! In agent mode and then in pull mode, a two-container pod's log answers a tail, the
//! previous container's log, the other container's log, timestamps, and a follow that shows
//! a line appended while it is open; a pod with two containers and no container named is a
//! 400 in words. A deployment's events show its scale; a pod's live YAML has no
//! `managedFields` though the apiserver keeps them. Closing a followed log closes its far end
//! within a second in both modes: KWOK stops serving it (its descriptor on the log file is
//! closed), and in agent mode the agent logs that it dropped its Kubernetes stream.
//! With the agent gone the API answers 503 "agent not connected"; an agent installed without
//! `operations.logs` answers 409 naming the chart switch. Fifty followed logs closed at once
//! all end in KWOK and in the agent within seconds (normally a few hundred milliseconds).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubeworkz_testkit::chart;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, PodLogs, TestCluster, append_log_lines};
use serde_json::{Value, json};

mod support;

use support::hub::{Hub, login_session, register_pull_instead, token_create};
use support::operations::{Stack, pod_with_log};
use support::real_agent::{self, Agent};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(60);
const APPS: &str = "apps";
const POD: &str = "web";
const DEPLOYMENT: &str = "api";

/// The REST API as the logged-in admin.
struct ApiClient {
    base: String,
    http: reqwest::Client,
    session: String,
}

impl ApiClient {
    async fn get(&self, path: &str) -> Result<reqwest::Response> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.session)
            .send()
            .await?)
    }

    /// The text of a 200 answer to `path`.
    async fn text(&self, path: &str) -> Result<String> {
        let response = self.get(path).await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// The status and error message of a failed answer to `path`.
    async fn error(&self, path: &str) -> Result<(u16, String)> {
        let response = self.get(path).await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await?;
        Ok((
            status,
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ))
    }

    /// The id of cluster `name`, once it exists.
    async fn cluster_id(&self, name: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let page: Value = self
                .get("/api/v1/k8s/clusters?limit=100")
                .await?
                .json()
                .await?;
            let found = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"] == name)
                .and_then(|c| c["id"].as_str());
            if let Some(id) = found {
                return Ok(id.to_owned());
            }
            ensure!(Instant::now() < deadline, "no cluster {name}: {page}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the hub knows object `path` (`pods/UID`).
    async fn wait_object(&self, path: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        while self.get(&format!("/api/v1/k8s/{path}")).await?.status() != 200 {
            ensure!(Instant::now() < deadline, "{path} never reached the hub");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
}

/// The lines of a log answer.
fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// Reads `response` until its text contains `needle`.
async fn read_until(
    response: &mut reqwest::Response,
    seen: &mut String,
    needle: &str,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .with_context(|| format!("{needle:?} did not arrive; so far {seen:?}"))??
            .context("the log ended")?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(())
}

/// Longest a closed client may leave its log or exec stream open upstream.
const UPSTREAM_CLOSE: Duration = Duration::from_secs(1);

/// The checks every mode passes on pod `uid`, whose `app` log is `app_log` and ends with
/// `last_two`; ends by closing a followed log and timing KWOK's closing of it.
async fn read_logs(
    api: &ApiClient,
    cluster: &TestCluster,
    uid: &str,
    app_log: &Path,
    last_two: [&str; 2],
    mode: &str,
) -> Result<()> {
    let logs = format!("/api/v1/k8s/pods/{uid}/logs");
    let tail = api
        .text(&format!("{logs}?container=app&tailLines=2"))
        .await?;
    assert_eq!(lines(&tail), last_two, "{mode}: tail");
    let previous = api
        .text(&format!("{logs}?container=app&previous=true"))
        .await?;
    assert_eq!(
        lines(&previous),
        ["panic: connection refused"],
        "{mode}: previous"
    );
    let sidecar = api
        .text(&format!("{logs}?container=sidecar&timestamps=true"))
        .await?;
    let line = sidecar.lines().next().context("a sidecar line")?;
    let (stamp, message) = line.split_once(' ').context("a timestamp")?;
    ensure!(
        stamp.starts_with("20") && stamp.ends_with('Z'),
        "{mode}: {line}"
    );
    assert_eq!(message, "sidecar ready", "{mode}: timestamps");
    let (status, message) = api.error(&logs).await?;
    assert_eq!(status, 400, "{mode}: no container: {message}");
    ensure!(message.contains("container"), "{mode}: {message}");
    let (status, message) = api.error(&format!("{logs}?tailLines=0")).await?;
    assert_eq!(
        (status, message.as_str()),
        (400, "tailLines must be from 1 to 100000")
    );

    // Follow: the open stream shows a line appended after it started.
    let mut response = api
        .get(&format!("{logs}?container=app&follow=true&tailLines=1"))
        .await?;
    assert_eq!(response.status(), 200, "{mode}: follow");
    let mut seen = String::new();
    read_until(&mut response, &mut seen, last_two[1]).await?;
    let fresh = format!("appended while {mode} follows");
    append_log_lines(app_log, &[&fresh])?;
    read_until(&mut response, &mut seen, &fresh).await?;

    // Closing the client closes the stream at its far end: KWOK's file.
    ensure!(
        cluster.kwok_open_files(app_log)? >= 1,
        "{mode}: KWOK serves the follow from the file"
    );
    drop(response);
    let took = cluster
        .wait_log_files_closed(app_log, Duration::from_secs(10))
        .await?;
    ensure!(
        took < UPSTREAM_CLOSE,
        "{mode}: KWOK's log stream closed {took:?} after the client"
    );
    eprintln!("{mode}: KWOK closed the followed log {took:?} after the client");
    Ok(())
}

/// Events after a scale to `replicas`, and the pod's live YAML, in `mode`.
async fn read_objects(
    api: &ApiClient,
    cluster: &TestCluster,
    pod_uid: &str,
    deployment_uid: &str,
    replicas: i32,
    mode: &str,
) -> Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), APPS);
    deployments
        .patch(
            DEPLOYMENT,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await?;
    let wanted = format!("to {replicas}");
    let deadline = Instant::now() + WAIT;
    loop {
        let events: Value = serde_json::from_str(
            &api.text(&format!("/api/v1/k8s/deployments/{deployment_uid}/events"))
                .await?,
        )?;
        let scaled = events.as_array().into_iter().flatten().any(|e| {
            e["reason"] == "ScalingReplicaSet"
                && e["message"].as_str().is_some_and(|m| m.contains(&wanted))
        });
        if scaled {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{mode}: no scaling event {wanted}: {events}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let pod_events = api
        .text(&format!("/api/v1/k8s/pods/{pod_uid}/events"))
        .await?;
    ensure!(pod_events.contains("\"Scheduled\""), "{mode}: {pod_events}");

    let pods: Api<Pod> = Api::namespaced(cluster.client(), APPS);
    let live = pods.get(POD).await?;
    ensure!(
        live.metadata.managed_fields.is_some_and(|f| !f.is_empty()),
        "the apiserver keeps managedFields"
    );
    let yaml = api
        .text(&format!("/api/v1/k8s/pods/{pod_uid}/yaml"))
        .await?;
    let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml)?;
    assert_eq!(parsed["kind"].as_str(), Some("Pod"), "{mode}: {yaml}");
    assert_eq!(parsed["metadata"]["name"].as_str(), Some(POD), "{mode}");
    assert_eq!(parsed["metadata"]["uid"].as_str(), Some(pod_uid), "{mode}");
    ensure!(!yaml.contains("managedFields"), "{mode}: {yaml}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_stream_through_the_agent_and_through_a_kubeconfig() -> Result<()> {
    let cluster =
        TestCluster::start(ClusterSpec::new("ops-logs", vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace(chart::NAMESPACE).await?;
    cluster.create_namespace(APPS).await?;
    let dir = tempfile::tempdir()?;

    // A pod with two containers; the app's current and previous runs and the sidecar.
    let app_log = dir.path().join("app.log");
    let previous_log = dir.path().join("app-previous.log");
    let sidecar_log = dir.path().join("sidecar.log");
    append_log_lines(&app_log, &["app line 1", "app line 2", "app line 3"])?;
    append_log_lines(&previous_log, &["panic: connection refused"])?;
    append_log_lines(&sidecar_log, &["sidecar ready"])?;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": POD},
        "spec": {"containers": [
            {"name": "app", "image": "nginx:1.27"},
            {"name": "sidecar", "image": "busybox:1.37"},
        ]},
    }))?;
    let pods: Api<Pod> = Api::namespaced(cluster.client(), APPS);
    let uid = pods
        .create(&PostParams::default(), &pod)
        .await?
        .metadata
        .uid
        .context("pod uid")?;
    cluster
        .set_pod_logs(
            APPS,
            POD,
            &[
                PodLogs {
                    containers: vec!["app"],
                    logs_file: &app_log,
                    previous_logs_file: Some(&previous_log),
                    follow: true,
                },
                PodLogs {
                    containers: vec!["sidecar"],
                    logs_file: &sidecar_log,
                    previous_logs_file: None,
                    follow: false,
                },
            ],
        )
        .await?;

    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": DEPLOYMENT},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {
                "metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {"containers": [{"name": "api", "image": "nginx:1.27"}]},
            },
        },
    }))?;
    let deployment_uid = Api::<Deployment>::namespaced(cluster.client(), APPS)
        .create(&PostParams::default(), &deployment)
        .await?
        .metadata
        .uid
        .context("deployment uid")?;

    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start_with_admin(&db, ADMIN_EMAIL, ADMIN_PASSWORD);
    let quic = hub.quic_addr()?;
    let base = hub.api_url()?;
    let api = ApiClient {
        session: login_session(&base, ADMIN_EMAIL, ADMIN_PASSWORD).await?,
        base,
        http: reqwest::Client::new(),
    };

    // Agent mode: the chart as rendered (operations.logs on by default) and its RBAC.
    let created = token_create(&db, "ops")?;
    let token = created["token"].as_str().context("token")?.to_owned();
    let (mut agent, mut env) = real_agent::from_chart(
        &cluster,
        dir.path(),
        quic,
        &token,
        "logs,events,objects",
        &[],
    )
    .await?;
    let agent_log = dir.path().join("agent.log");
    let agent_cluster = api.cluster_id("ops").await?;
    api.wait_object(&format!("pods/{uid}")).await?;
    api.wait_object(&format!("deployments/{deployment_uid}"))
        .await?;
    read_logs(
        &api,
        &cluster,
        &uid,
        &app_log,
        ["app line 2", "app line 3"],
        "agent mode",
    )
    .await?;
    read_objects(&api, &cluster, &uid, &deployment_uid, 2, "agent mode").await?;

    // The follow closed above was the agent's to drop, and it says so.
    agent
        .wait_log(
            "the hub stopped reading: log stream closed",
            1,
            UPSTREAM_CLOSE,
        )
        .await?;

    // Without the agent: 503 in words. Installed without operations.logs: 409 naming it.
    agent.stop().await?;
    let logs = format!("/api/v1/k8s/pods/{uid}/logs?container=app");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, message) = api.error(&logs).await?;
        if status == 503 {
            assert_eq!(message, "agent not connected");
            break;
        }
        ensure!(Instant::now() < deadline, "still {status} {message}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.retain(|(k, _)| *k != "KUBEWORKZ_OPERATIONS");
    env.push(("KUBEWORKZ_OPERATIONS", String::new()));
    let mut agent = Agent::start(&env, &agent_log)?;
    agent.wait_log("using stored credentials", 1, WAIT).await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, message) = api.error(&logs).await?;
        if status == 409 {
            assert_eq!(
                message,
                "not enabled in this agent's chart (operations.logs)"
            );
            break;
        }
        ensure!(Instant::now() < deadline, "still {status} {message}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.stop().await?;

    // Pull mode: the agent's cluster removed (one pod uid, one cluster), the same cluster
    // registered with its kubeconfig.
    register_pull_instead(
        &db,
        dir.path(),
        &agent_cluster,
        cluster.kubeconfig_yaml(),
        "ops-pull",
    )?;
    api.wait_object(&format!("pods/{uid}")).await?;
    api.wait_object(&format!("deployments/{deployment_uid}"))
        .await?;
    read_logs(
        &api,
        &cluster,
        &uid,
        &app_log,
        ["app line 3", "appended while agent mode follows"],
        "pull mode",
    )
    .await?;
    read_objects(&api, &cluster, &uid, &deployment_uid, 3, "pull mode").await?;

    let log = hub.stop()?;
    for secret in [token.as_str()] {
        if log.contains(secret) {
            bail!("the hub logged a secret");
        }
    }
    Ok(())
}

/// Follows closed at once by [`followed_logs_closed_together_all_end_upstream`].
const FOLLOWS: usize = 50;
/// Longest all of them may take to end upstream: generous, they normally take a few
/// hundred milliseconds (`hub/benches/log_follows.rs` measures a hundred).
const CLOSE_TOGETHER: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followed_logs_closed_together_all_end_upstream() -> Result<()> {
    let cluster = TestCluster::start(ClusterSpec::new(
        "ops-closes",
        vec![NodeSpec::new("node-a")],
    ))
    .await?;
    cluster.create_namespace(chart::NAMESPACE).await?;
    cluster.create_namespace(APPS).await?;
    let dir = tempfile::tempdir()?;
    let mut pods = Vec::with_capacity(FOLLOWS);
    for i in 0..FOLLOWS {
        let file = dir.path().join(format!("app-{i:02}.log"));
        append_log_lines(&file, &[&format!("pod {i} started")])?;
        let uid = pod_with_log(&cluster, APPS, &format!("app-{i:02}"), &file, true).await?;
        pods.push((uid, file));
    }
    let Stack {
        hub,
        mut agent,
        base,
        session,
    } = Stack::start(&cluster, dir.path(), "logs").await?;
    let api = ApiClient {
        base,
        http: reqwest::Client::new(),
        session,
    };

    // Every follow open and idle: nothing more is written, so the hub learns of each close
    // from its client's connection alone, not from a write failing.
    let mut follows = Vec::with_capacity(FOLLOWS);
    for (i, (uid, file)) in pods.iter().enumerate() {
        api.wait_object(&format!("pods/{uid}")).await?;
        let mut response = api
            .get(&format!(
                "/api/v1/k8s/pods/{uid}/logs?follow=true&tailLines=1"
            ))
            .await?;
        ensure!(
            response.status() == 200,
            "follow {i}: {}",
            response.status()
        );
        read_until(
            &mut response,
            &mut String::new(),
            &format!("pod {i} started"),
        )
        .await?;
        ensure!(
            cluster.kwok_open_files(file)? >= 1,
            "KWOK serves follow {i}"
        );
        follows.push(response);
    }

    let closed = Instant::now();
    drop(follows);
    for (_, file) in &pods {
        cluster.wait_log_files_closed(file, CLOSE_TOGETHER).await?;
    }
    let took = closed.elapsed();
    agent
        .wait_log(
            "the hub stopped reading: log stream closed",
            FOLLOWS,
            CLOSE_TOGETHER,
        )
        .await?;
    ensure!(
        took < CLOSE_TOGETHER,
        "KWOK served the closed follows for {took:?}"
    );
    eprintln!("{FOLLOWS} follows closed together ended in KWOK within {took:?}");
    agent.stop().await?;
    hub.stop()?;
    Ok(())
}
