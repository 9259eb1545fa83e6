//! Workload actions on a real test cluster (KWOK with a real apiserver, scheduler and
//! controller-manager), through the real agent running as the chart's ServiceAccount and then
//! through a stored kubeconfig, over the real REST API.
//!
//! An agent whose chart left `operations.actions` off answers 409 naming the switch. With it
//! on, and then in pull mode: a viewer is refused each action; an operator scales a
//! deployment (the apiserver reads the new replicas back and the controller-manager makes
//! the pods), restarts it (the `restartedAt` annotation is on its template) and deletes a pod
//! (the apiserver no longer has it); a retry with the same `Idempotency-Key` answers the
//! first result without scaling again, and the same key with another body is a 422; every
//! action is in the audit log with the change.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kubeworkz_testkit::chart;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use reqwest::Method;
use serde_json::{Value, json};

mod support;

use support::hub::{Hub, cli_with_stdin, login_with_csrf, register_pull_instead, token_create};
use support::real_agent::{self, Agent};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const OPERATOR_EMAIL: &str = "oncall@example.com";
const VIEWER_EMAIL: &str = "viewer@example.com";
const PASSWORD: &str = "another long enough password";
const WAIT: Duration = Duration::from_secs(90);
const APPS: &str = "apps";
const DEPLOYMENT: &str = "api";

/// A logged-in user of the REST API (session cookie and CSRF token).
struct Caller {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

/// An answer: status, `Idempotent-Replayed` header, JSON body.
struct Answer {
    status: u16,
    replayed: bool,
    json: Value,
}

impl Caller {
    async fn login(base: &str, email: &str, password: &str) -> Result<Self> {
        let (cookie, csrf) = login_with_csrf(base, email, password).await?;
        Ok(Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            cookie,
            csrf,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Result<Answer> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            replayed,
            json,
        })
    }

    async fn get(&self, path: &str) -> Result<Answer> {
        self.send(Method::GET, path, None, None).await
    }

    /// Polls `path` until it answers `status`.
    async fn wait_status(&self, path: &str, status: u16) -> Result<Answer> {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.get(path).await?;
            if answer.status == status {
                return Ok(answer);
            }
            ensure!(
                Instant::now() < deadline,
                "{path}: still {} {}",
                answer.status,
                answer.json
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The id of cluster `name`, once it exists.
    async fn cluster_id(&self, name: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let page = self.get("/api/v1/k8s/clusters?limit=100").await?.json;
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
}

/// Waits until `check` holds for what the apiserver answers.
async fn until<T, F, Fut>(what: &str, mut read: F, check: impl Fn(&T) -> bool) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
    T: std::fmt::Debug,
{
    let deadline = Instant::now() + WAIT;
    loop {
        let value = read().await?;
        if check(&value) {
            return Ok(value);
        }
        ensure!(Instant::now() < deadline, "{what}: still {value:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The uids of the deployment's pods that are not being deleted.
async fn deployment_pods(cluster: &TestCluster) -> Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(cluster.client(), APPS);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={DEPLOYMENT}")))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.uid)
        .collect())
}

async fn replicas(cluster: &TestCluster) -> Result<i32> {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), APPS);
    let found = deployments.get(DEPLOYMENT).await?;
    Ok(found.spec.and_then(|s| s.replicas).unwrap_or(0))
}

/// Every action in `mode`, starting from `from` replicas: refusals for the viewer, then the
/// operator's scale (with its retries), restart and pod deletion, read back from the
/// apiserver and the audit log.
async fn act(
    cluster: &TestCluster,
    operator: &Caller,
    viewer: &Caller,
    admin: &Caller,
    deployment_uid: &str,
    from: i32,
    mode: &str,
) -> Result<()> {
    let scale = format!("/api/v1/k8s/deployments/{deployment_uid}/scale");
    let restart = format!("/api/v1/k8s/deployments/{deployment_uid}/restart");
    let to = from + 2;
    let pod = deployment_pods(cluster).await?[0].clone();
    let pod_path = format!("/api/v1/k8s/pods/{pod}");
    operator.wait_status(&pod_path, 200).await?;
    for (method, path, body) in [
        (Method::POST, &scale, Some(json!({"replicas": to}))),
        (Method::POST, &restart, None),
        (Method::DELETE, &pod_path, None),
    ] {
        let answer = viewer.send(method, path, body, None).await?;
        assert_eq!(answer.status, 403, "{mode}: {path}: {}", answer.json);
    }
    assert_eq!(
        replicas(cluster).await?,
        from,
        "{mode}: the viewer changed nothing"
    );

    // Scale, with a key.
    let key = format!("scale-{mode}");
    let first = operator
        .send(
            Method::POST,
            &scale,
            Some(json!({"replicas": to})),
            Some(&key),
        )
        .await?;
    assert_eq!(first.status, 200, "{mode}: scale: {}", first.json);
    assert!(!first.replayed);
    assert_eq!(first.json["change"], format!("replicas {from} -> {to}"));
    assert_eq!(first.json["replicas"], to);
    assert_eq!(replicas(cluster).await?, to, "{mode}: read back");
    until(
        &format!("{mode}: {to} pods"),
        || deployment_pods(cluster),
        |pods| pods.len() == to as usize,
    )
    .await?;

    // Someone scales by hand; the retry answers the first result and does not scale again.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), APPS);
    deployments
        .patch(
            DEPLOYMENT,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": from}})),
        )
        .await?;
    let retry = operator
        .send(
            Method::POST,
            &scale,
            Some(json!({"replicas": to})),
            Some(&key),
        )
        .await?;
    assert_eq!(retry.status, 200, "{mode}: retry: {}", retry.json);
    assert!(retry.replayed, "{mode}: the retry is a replay");
    assert_eq!(retry.json, first.json);
    assert_eq!(replicas(cluster).await?, from, "{mode}: not scaled again");
    let other = operator
        .send(
            Method::POST,
            &scale,
            Some(json!({"replicas": to + 1})),
            Some(&key),
        )
        .await?;
    assert_eq!(other.status, 422, "{mode}: {}", other.json);
    assert_eq!(
        other.json["error"]["message"],
        "this Idempotency-Key was used for another request: use a new key"
    );
    assert_eq!(replicas(cluster).await?, from);

    // Restart: the template carries a new restartedAt.
    let restarted = operator.send(Method::POST, &restart, None, None).await?;
    assert_eq!(restarted.status, 200, "{mode}: restart: {}", restarted.json);
    let at = restarted.json["restarted_at"]
        .as_str()
        .context("restarted_at")?
        .to_owned();
    let template = deployments
        .get(DEPLOYMENT)
        .await?
        .spec
        .context("spec")?
        .template
        .metadata
        .context("template metadata")?;
    assert_eq!(
        template
            .annotations
            .unwrap_or_default()
            .get("kubectl.kubernetes.io/restartedAt"),
        Some(&at),
        "{mode}: restart annotation"
    );

    // Delete a pod: the apiserver no longer has it.
    let deleted = operator.send(Method::DELETE, &pod_path, None, None).await?;
    assert_eq!(deleted.status, 200, "{mode}: delete: {}", deleted.json);
    assert_eq!(deleted.json["change"], "deleted");
    until(
        &format!("{mode}: pod {pod} gone"),
        || deployment_pods(cluster),
        |pods| !pods.contains(&pod),
    )
    .await?;

    // The audit log has each action with its change.
    let audit = admin
        .get(&format!(
            "/api/v1/audit?actor={OPERATOR_EMAIL}&result=success&limit=100"
        ))
        .await?
        .json;
    let entries: Vec<(String, String)> = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (action, detail) in [
        ("deployment.scale", format!("replicas {from} -> {to}")),
        (
            "deployment.scale",
            format!("replayed for its Idempotency-Key, not run again: replicas {from} -> {to}"),
        ),
        (
            "deployment.restart",
            format!("kubectl.kubernetes.io/restartedAt = {at}"),
        ),
        ("pod.delete", "deleted".to_owned()),
    ] {
        ensure!(
            entries.contains(&(action.to_owned(), detail.clone())),
            "{mode}: no {action} {detail:?} in {entries:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_actions_change_the_cluster_through_the_agent_and_a_kubeconfig() -> Result<()> {
    let cluster =
        TestCluster::start(ClusterSpec::new("ops-acts", vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace(chart::NAMESPACE).await?;
    cluster.create_namespace(APPS).await?;
    let dir = tempfile::tempdir()?;
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
    until(
        "the first pod",
        || deployment_pods(&cluster),
        |p| p.len() == 1,
    )
    .await?;

    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start_with_admin(&db, ADMIN_EMAIL, ADMIN_PASSWORD);
    let quic = hub.quic_addr()?;
    let base = hub.api_url()?;
    for (email, role) in [(OPERATOR_EMAIL, "operator"), (VIEWER_EMAIL, "viewer")] {
        let (ok, out, err) = cli_with_stdin(
            &db,
            &["user", "create", "--email", email, "--role", role],
            &format!("{PASSWORD}\n"),
        );
        ensure!(ok, "user create {email}: {out}{err}");
    }
    let admin = Caller::login(&base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let operator = Caller::login(&base, OPERATOR_EMAIL, PASSWORD).await?;
    let viewer = Caller::login(&base, VIEWER_EMAIL, PASSWORD).await?;

    // Agent mode, installed as the chart's defaults: actions are refused by the agent.
    let created = token_create(&db, "acts")?;
    let token = created["token"].as_str().context("token")?.to_owned();
    let (agent, mut env) = real_agent::from_chart(
        &cluster,
        dir.path(),
        quic,
        &token,
        "logs,events,objects",
        &[],
    )
    .await?;
    let agent_cluster = operator.cluster_id("acts").await?;
    let deployment_path = format!("/api/v1/k8s/deployments/{deployment_uid}");
    operator.wait_status(&deployment_path, 200).await?;
    let scale = format!("{deployment_path}/scale");
    let refused = operator
        .send(Method::POST, &scale, Some(json!({"replicas": 2})), None)
        .await?;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(
        refused.json["error"]["message"],
        "not enabled in this agent's chart (operations.actions)"
    );
    assert_eq!(replicas(&cluster).await?, 1);
    agent.stop().await?;

    // The chart upgraded with operations.actions: its RBAC and its switch.
    let address = quic.to_string();
    let manifests = chart::render_chart(
        &[
            ("hub.address", address.as_str()),
            ("token", token.as_str()),
            ("operations.actions", "true"),
        ],
        cluster.server_version(),
    )
    .await?;
    ensure!(manifests.contains("deployments/scale"), "{manifests}");
    chart::apply(&cluster.client(), &manifests).await?;
    env.retain(|(k, _)| *k != "KUBEWORKZ_OPERATIONS");
    env.push(("KUBEWORKZ_OPERATIONS", "logs,events,objects,actions".into()));
    let mut agent = Agent::start(&env, &dir.path().join("agent-actions.log"))?;
    agent.wait_log("using stored credentials", 1, WAIT).await?;
    // Reconnected once a read through the agent answers again.
    operator
        .wait_status(&format!("{deployment_path}/events"), 200)
        .await?;
    act(
        &cluster,
        &operator,
        &viewer,
        &admin,
        &deployment_uid,
        1,
        "agent",
    )
    .await?;
    agent.stop().await?;

    // Pull mode: the same cluster registered with its kubeconfig.
    register_pull_instead(
        &db,
        dir.path(),
        &agent_cluster,
        cluster.kubeconfig_yaml(),
        "acts-pull",
    )?;
    operator.wait_status(&deployment_path, 200).await?;
    let from = replicas(&cluster).await?;
    until(
        "pods settle",
        || deployment_pods(&cluster),
        |p| p.len() == from as usize,
    )
    .await?;
    act(
        &cluster,
        &operator,
        &viewer,
        &admin,
        &deployment_uid,
        from,
        "pull",
    )
    .await?;

    let log = hub.stop()?;
    ensure!(!log.contains(&token), "the hub logged a secret");
    Ok(())
}
