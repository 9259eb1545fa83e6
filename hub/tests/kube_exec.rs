//! Terminals (pod exec) through the agent's tunnel and through a stored kubeconfig, every
//! part real: a test cluster whose KWOK runs exec'd commands on the test host (its `Exec`
//! resource), the real `serve`, the real agent as the chart's ServiceAccount (its RBAC
//! rendered by the real Helm with `operations.exec` on), and the API's WebSocket.
//!
//! In agent mode and then in pull mode: `echo` answers its output and exit code 0, a failing
//! command its stderr and exit code; an interactive `cat` echoes what is typed; closing the
//! client ends the session, and the audit log has the session's start and end; closing a
//! command that keeps writing ends it in KWOK within a second (and in agent mode the agent
//! logs that it dropped the Kubernetes stream). Refused: a viewer, an operator
//! while the organization's `operators_exec` is off (allowed once it is on), a browser
//! upgrade from another origin, a plain GET; an agent installed without `operations.exec`
//! answers 409 naming the chart switch.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::{SinkExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kubeworkz_testkit::chart;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};

/// Longest a closed client may leave its exec running upstream.
const UPSTREAM_CLOSE: Duration = Duration::from_secs(1);
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

mod support;

use support::hub::{Hub, cli_with_stdin, login_with_csrf, register_pull_instead, token_create};
use support::real_agent::{self, Agent};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const OPERATOR_EMAIL: &str = "operator@example.com";
const VIEWER_EMAIL: &str = "viewer@example.com";
const PASSWORD: &str = "another long passphrase";
const WAIT: Duration = Duration::from_secs(60);
const APPS: &str = "apps";
const POD: &str = "shell";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A logged-in user (session cookie and CSRF token).
struct Caller {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

/// What a terminal printed and how it ended.
#[derive(Debug)]
struct Session {
    output: String,
    exit: Value,
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

    async fn get(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?;
        ensure!(
            response.status() == 200,
            "GET {path}: {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    async fn put(&self, path: &str, body: Value) -> Result<()> {
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await?;
        ensure!(
            response.status() == 200,
            "PUT {path}: {}",
            response.status()
        );
        Ok(())
    }

    /// Opens a terminal on pod `uid` with `query`, sending `origin` (`None`: the hub's own).
    async fn open(
        &self,
        uid: &str,
        query: &str,
        origin: Option<&str>,
    ) -> Result<Result<Socket, (u16, String)>> {
        let ws_base = self.base.replacen("http://", "ws://", 1);
        let mut request =
            format!("{ws_base}/api/v1/k8s/pods/{uid}/exec?{query}").into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("cookie", self.cookie.parse()?);
        headers.insert("origin", origin.unwrap_or(&self.base).parse()?);
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Ok(socket)),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body: Value = response
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or_default();
                let message = body["error"]["message"].as_str().unwrap_or_default();
                Ok(Err((status, message.to_owned())))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Runs `query`'s command to its end.
    async fn run(&self, uid: &str, query: &str) -> Result<Session> {
        let mut socket = match self.open(uid, query, None).await? {
            Ok(socket) => socket,
            Err((status, message)) => bail!("{query}: {status} {message}"),
        };
        read_to_exit(&mut socket).await
    }

    /// The refusal of opening `query`.
    async fn refused(&self, uid: &str, query: &str, origin: Option<&str>) -> Result<(u16, String)> {
        match self.open(uid, query, origin).await? {
            Ok(_) => bail!("{query} was not refused"),
            Err(refusal) => Ok(refusal),
        }
    }

    /// The audit entries of `action` as (target, result, detail), newest first.
    async fn audit(&self, action: &str) -> Result<Vec<(String, String, String)>> {
        let page = self
            .get(&format!("/api/v1/audit?action={action}&limit=100"))
            .await?;
        Ok(page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (text("target"), text("result"), text("detail"))
            })
            .collect())
    }

    /// Waits until the hub knows pod `uid`.
    async fn wait_pod(&self, uid: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self
                .http
                .get(format!("{}/api/v1/k8s/pods/{uid}", self.base))
                .header("cookie", &self.cookie)
                .send()
                .await?
                .status();
            if status == 200 {
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "pod {uid} never reached the hub");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Reads the socket until the hub's exit message.
async fn read_to_exit(socket: &mut Socket) -> Result<Session> {
    let mut output = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .with_context(|| {
                format!(
                    "no exit; output so far {:?}",
                    String::from_utf8_lossy(&output)
                )
            })?
            .context("the socket closed before the exit")??;
        match message {
            Message::Binary(bytes) => output.extend_from_slice(&bytes),
            Message::Text(text) => {
                let exit: Value = serde_json::from_str(text.as_str())?;
                ensure!(exit["type"] == "exit", "{exit}");
                return Ok(Session {
                    output: String::from_utf8_lossy(&output).into_owned(),
                    exit,
                });
            }
            Message::Close(_) => bail!("closed without an exit message"),
            _ => {}
        }
    }
}

/// Reads the socket's output until it contains `needle`.
async fn read_until(socket: &mut Socket, needle: &str) -> Result<String> {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !seen.contains(needle) {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .with_context(|| format!("{needle:?} did not arrive; so far {seen:?}"))?
            .context("the socket closed")??;
        match message {
            Message::Binary(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Message::Text(text) => bail!("ended before {needle:?}: {text}"),
            _ => {}
        }
    }
    Ok(seen)
}

/// What every mode passes on pod `uid` as `admin`; returns when the interactive session's
/// client has closed and a closed command has ended in KWOK.
async fn run_commands(admin: &Caller, cluster: &TestCluster, uid: &str, mode: &str) -> Result<()> {
    let hello = admin
        .run(uid, "command=echo&command=hello&tty=false")
        .await?;
    assert_eq!(hello.output, "hello\n", "{mode}: {hello:?}");
    assert_eq!(hello.exit["code"], 0, "{mode}: {hello:?}");

    let failing = admin
        .run(
            uid,
            "command=sh&command=-c&command=echo%20oops%20%3E%262%3B%20exit%203&tty=false",
        )
        .await?;
    assert_eq!(failing.output, "oops\n", "{mode}: {failing:?}");
    // A kubelet reports NonZeroExitCode with the code (read by `exit_of`, unit-tested);
    // KWOK's reports it as an internal error naming the status: either way, a failure.
    let message = failing.exit["message"].as_str().unwrap_or_default();
    ensure!(
        failing.exit["code"] == 3
            || (failing.exit["code"].is_null() && message.contains("exit status 3")),
        "{mode}: {failing:?}"
    );

    // Interactive: what is typed comes back; closing the client ends the session.
    let mut socket = match admin.open(uid, "command=cat&tty=false", None).await? {
        Ok(socket) => socket,
        Err(refusal) => bail!("{mode}: cat refused: {refusal:?}"),
    };
    socket
        .send(Message::Binary(b"ping from the test\n".to_vec().into()))
        .await?;
    read_until(&mut socket, "ping from the test\n").await?;
    socket
        .send(Message::Text(
            r#"{"type":"resize","cols":100,"rows":30}"#.into(),
        ))
        .await?;
    socket
        .send(Message::Binary(b"second line\n".to_vec().into()))
        .await?;
    read_until(&mut socket, "second line\n").await?;
    socket.close(None).await?;

    // Closing the client ends the command at the far end: a command that keeps writing (KWOK
    // never closes a command's stdin, so a `cat` would outlive any stream) dies on its next
    // write once the stream to KWOK is closed.
    let ticking = "command=sh&command=-c&command=while%20echo%20tick%3B%20do%20sleep%200.05%3B%20done&tty=false";
    let mut socket = match admin.open(uid, ticking, None).await? {
        Ok(socket) => socket,
        Err(refusal) => bail!("{mode}: the ticking command refused: {refusal:?}"),
    };
    read_until(&mut socket, "tick\n").await?;
    ensure!(
        cluster.exec_processes("sh")?.len() == 1,
        "{mode}: KWOK runs the ticking command"
    );
    socket.close(None).await?;
    drop(socket);
    let took = cluster
        .wait_exec_processes_ended("sh", Duration::from_secs(10))
        .await?;
    ensure!(
        took < UPSTREAM_CLOSE,
        "{mode}: KWOK's command ended {took:?} after the client closed"
    );
    eprintln!("{mode}: KWOK's command ended {took:?} after the client closed");
    Ok(())
}

/// Waits for the audit of the closed `cat` session: its end, closed by the client.
async fn audited_close(admin: &Caller, mode: &str, sessions: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ends = admin.audit("pod.exec.end").await?;
        let closed = ends
            .iter()
            .filter(|(_, _, detail)| detail.contains("closed by the client"))
            .count();
        if ends.len() >= sessions && closed >= 1 {
            let (target, result, detail) = &ends[0];
            ensure!(target.ends_with(&format!("/{APPS}/pod/{POD}")), "{target}");
            assert_eq!(result, "success");
            ensure!(
                detail.starts_with("ended after ") && detail.contains("bytes in"),
                "{mode}: {detail}"
            );
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{mode}: no session end in {ends:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let starts = admin.audit("pod.exec").await?;
    ensure!(
        starts.iter().any(|(_, result, detail)| result == "success"
            && detail == "started: container (the only one), command [\"cat\"]"),
        "{mode}: {starts:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_run_through_the_agent_and_through_a_kubeconfig() -> Result<()> {
    let cluster =
        TestCluster::start(ClusterSpec::new("ops-exec", vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace(chart::NAMESPACE).await?;
    cluster.create_namespace(APPS).await?;
    let dir = tempfile::tempdir()?;
    let work = dir.path().join("container");
    std::fs::create_dir_all(&work)?;

    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": POD},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.37"}]},
    }))?;
    let uid = Api::<Pod>::namespaced(cluster.client(), APPS)
        .create(&PostParams::default(), &pod)
        .await?
        .metadata
        .uid
        .context("pod uid")?;
    cluster.set_pod_exec(APPS, POD, &work).await?;

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

    // Agent mode, the chart with operations.exec on (its RBAC grants pods/exec).
    let created = token_create(&db, "exec")?;
    let token = created["token"].as_str().context("token")?.to_owned();
    let (mut agent, mut env) = real_agent::from_chart(
        &cluster,
        dir.path(),
        quic,
        &token,
        "logs,events,objects,exec",
        &[("operations.exec", "true")],
    )
    .await?;
    let agent_log = dir.path().join("agent.log");
    admin.wait_pod(&uid).await?;

    run_commands(&admin, &cluster, &uid, "agent mode").await?;
    agent
        .wait_log("exec session ended", 4, UPSTREAM_CLOSE)
        .await?;
    audited_close(&admin, "agent mode", 4).await?;

    // Who may: never a viewer; an operator only once the organization allows it.
    let echo = "command=echo&command=hi&tty=false";
    let (status, message) = viewer.refused(&uid, echo, None).await?;
    assert_eq!(status, 403, "viewer: {message}");
    let (status, message) = operator.refused(&uid, echo, None).await?;
    assert_eq!(
        (status, message.as_str()),
        (
            403,
            "this organization lets only admins open terminals (operators_exec is off)"
        )
    );
    admin
        .put(
            "/api/v1/organization/operations",
            json!({"viewers_read_logs": true, "operators_exec": true}),
        )
        .await?;
    let allowed = operator.run(&uid, echo).await?;
    assert_eq!(allowed.output, "hi\n", "{allowed:?}");
    let (status, _) = viewer.refused(&uid, echo, None).await?;
    assert_eq!(status, 403, "a viewer stays refused");

    // A browser page of another origin, and no origin at all, cannot use the cookie.
    let (status, message) = admin
        .refused(&uid, echo, Some("http://evil.example"))
        .await?;
    assert_eq!(
        (status, message.as_str()),
        (
            403,
            "a browser terminal must be opened from the hub's own pages (Origin)"
        )
    );
    let plain = admin
        .http
        .get(format!("{base}/api/v1/k8s/pods/{uid}/exec?{echo}"))
        .header("cookie", &admin.cookie)
        .header("origin", &base)
        .send()
        .await?;
    assert_eq!(plain.status(), 400, "a GET without the upgrade");
    let refusals = admin.audit("pod.exec").await?;
    ensure!(
        refusals
            .iter()
            .any(|(_, result, _)| result == "failure: forbidden"),
        "refusals are audited: {refusals:?}"
    );

    // An agent installed without operations.exec refuses with the chart switch's name.
    agent.stop().await?;
    env.retain(|(k, _)| *k != "KUBEWORKZ_OPERATIONS");
    env.push(("KUBEWORKZ_OPERATIONS", "logs,events,objects".to_owned()));
    let mut agent = Agent::start(&env, &agent_log)?;
    agent.wait_log("using stored credentials", 1, WAIT).await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, message) = admin.refused(&uid, echo, None).await?;
        if status == 409 {
            assert_eq!(
                message,
                "not enabled in this agent's chart (operations.exec)"
            );
            break;
        }
        ensure!(Instant::now() < deadline, "still {status} {message}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.stop().await?;

    // Pull mode: the same cluster registered with its kubeconfig; the hub runs the exec.
    let agent_cluster = {
        let page = admin.get("/api/v1/k8s/clusters?limit=100").await?;
        page["items"][0]["id"]
            .as_str()
            .context("the agent's cluster")?
            .to_owned()
    };
    register_pull_instead(
        &db,
        dir.path(),
        &agent_cluster,
        cluster.kubeconfig_yaml(),
        "exec-pull",
    )?;
    admin.wait_pod(&uid).await?;
    run_commands(&admin, &cluster, &uid, "pull mode").await?;
    audited_close(&admin, "pull mode", 9).await?;

    let log = hub.stop()?;
    if log.contains(&token) {
        bail!("the hub logged a secret");
    }
    Ok(())
}
