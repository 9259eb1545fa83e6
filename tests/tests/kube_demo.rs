//! `kubeworkz-demo` end to end, as a newcomer runs it: the built binary starts, says ready,
//! and the hub it started shows, over HTTP, three clusters with their inventory, the
//! crash-looping Deployment in its cluster's health and cost for the past hour; SIGINT stops
//! every process it started. A second start in the directory the first one kept (`--keep`)
//! shows the same clusters, and without `--keep` the directory is gone afterwards.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use kubeworkz_testkit::child::{self, ProcessId};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const READY: &str = "kubeworkz-demo ready: ";

/// The demo's output, read line by line as it comes.
struct Demo {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Demo {
    fn start(dir: &Path, keep: bool) -> Result<Self> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kubeworkz-demo"));
        command
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if keep {
            command.arg("--keep");
        }
        let mut child = command.spawn().context("starting kubeworkz-demo")?;
        let stdout = child.stdout.take().context("the demo's stdout")?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        })
    }

    /// The first line starting with `prefix`, waiting at most `within`.
    async fn line(&mut self, prefix: &str, within: Duration) -> Result<String> {
        let found = tokio::time::timeout(within, async {
            while let Some(line) = self.lines.next_line().await? {
                eprintln!("[demo] {line}");
                self.seen.push(line.clone());
                if line.starts_with(prefix) {
                    return Ok(line);
                }
            }
            bail!("the demo ended without printing {prefix:?}")
        })
        .await;
        match found {
            Ok(line) => line,
            Err(_) => bail!(
                "no {prefix:?} within {within:?}; it printed {:#?}",
                self.seen
            ),
        }
    }

    /// SIGINT, as Ctrl-C in a terminal, then the exit status and the rest of the output.
    async fn interrupt(mut self) -> Result<(ExitStatus, Vec<String>)> {
        let pid = self.child.id().context("the demo has exited already")?;
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()?;
        ensure!(sent.success(), "kill -INT {pid}: {sent}");
        let mut rest = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = self.lines.next_line().await? {
                eprintln!("[demo] {line}");
                rest.push(line);
            }
            anyhow::Ok(self.child.wait().await?)
        })
        .await
        .context("the demo did not stop within 120 s of SIGINT")??;
        Ok((ended, rest))
    }
}

/// Logged in to the hub as the admin the banner names.
struct Hub {
    http: reqwest::Client,
    url: String,
    cookie: String,
}

impl Hub {
    async fn login(url: &str, email: &str, password: &str) -> Result<Self> {
        let http = reqwest::Client::builder().no_proxy().build()?;
        let response = http
            .post(format!("{url}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "login: {}",
            response.status()
        );
        let cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Self {
            http,
            url: url.to_owned(),
            cookie,
        })
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Ok(response.json().await?)
    }
}

/// What the hub shows of the fleet, checked; the clusters' ids by name.
async fn check_fleet(hub: &Hub) -> Result<BTreeMap<String, String>> {
    let page = hub.get("/api/v1/k8s/clusters").await?;
    let clusters = page["items"].as_array().context("cluster items")?;
    let ids: BTreeMap<String, String> = clusters
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ids.keys().map(String::as_str).collect::<Vec<_>>(),
        ["eks-prod", "gke-staging", "k3s-edge"],
        "{page:#}"
    );
    let modes: BTreeMap<&str, &str> = clusters
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["mode"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(modes["eks-prod"], "agent");
    assert_eq!(modes["gke-staging"], "agent");
    assert_eq!(modes["k3s-edge"], "kubeconfig");

    // Inventory: every node, and pods, as the inventory pages list them.
    for (name, nodes) in [("eks-prod", 3), ("gke-staging", 2), ("k3s-edge", 1)] {
        let id = &ids[name];
        let listed = hub.get(&format!("/api/v1/k8s/clusters/{id}/nodes")).await?;
        assert_eq!(listed["total"], nodes, "{name} nodes: {listed:#}");
        let cluster = clusters.iter().find(|c| c["name"] == name).unwrap();
        assert!(
            cluster["counts"]["pods"].as_u64().unwrap_or(0) >= 3,
            "{name}: {cluster:#}"
        );
    }

    // The crash-looping Deployment is the staging cluster's health reason.
    let health = hub
        .get(&format!(
            "/api/v1/k8s/clusters/{}/health",
            ids["gke-staging"]
        ))
        .await?;
    let text = health.to_string();
    assert!(
        text.contains("deployments short of available replicas: storefront/checkout (0/1)"),
        "{health:#}"
    );

    // The Helm release installed on the production cluster.
    let releases = hub.get("/api/v1/k8s/helm/releases").await?;
    assert!(
        releases.to_string().contains("metrics-collector"),
        "{releases:#}"
    );

    // Cost of the past hour for every cluster, and by the teams the namespaces name.
    let by_cluster = hub
        .get("/api/v1/k8s/costs?window=1h&aggregate=cluster&include_idle=true")
        .await?;
    for (name, id) in &ids {
        let cost = by_cluster["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["key"] == id.as_str())
            .and_then(|l| l["total_nanos"].as_u64());
        assert!(cost.is_some_and(|c| c > 0), "{name}: {by_cluster:#}");
    }
    let by_team = hub
        .get("/api/v1/k8s/costs?window=1h&aggregate=team")
        .await?;
    for team in ["web", "payments", "data", "platform", "iot"] {
        assert!(
            by_team["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|l| l["key"] == team && l["total_nanos"].as_u64() > Some(0)),
            "team {team}: {by_team:#}"
        );
    }
    Ok(ids)
}

/// One run of the demo: ready, checked, interrupted, every process it started gone.
async fn run_demo(dir: &Path, keep: bool) -> Result<BTreeMap<String, String>> {
    let mut demo = Demo::start(dir, keep)?;
    // Building the hub and the agent may take minutes on a cold target directory.
    demo.line(
        "kubeworkz-demo: hub and agent built",
        Duration::from_secs(900),
    )
    .await?;
    let ready = demo.line(READY, Duration::from_secs(300)).await?;
    let url = ready[READY.len()..].trim().to_owned();
    let admin = demo
        .seen
        .iter()
        .find_map(|l| l.trim().strip_prefix("admin"))
        .context("no admin line in the banner")?
        .trim()
        .to_owned();
    let (email, rest) = admin.split_once(" / ").context("admin line")?;
    let password = rest.split_whitespace().next().context("admin password")?;

    let pid = demo.child.id().context("the demo's pid")?;
    let started: Vec<ProcessId> = child::descendants(pid);
    // Six components in each of three clusters, the hub and two agents.
    assert!(
        started.len() >= 21,
        "the demo runs {} processes",
        started.len()
    );

    let hub = Hub::login(&url, email, password).await?;
    let ids = check_fleet(&hub).await?;

    let (status, rest) = demo.interrupt().await?;
    assert!(status.success(), "the demo exited with {status}: {rest:#?}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("kubeworkz-demo: stopped")
    );
    let left: Vec<&ProcessId> = started.iter().filter(|p| child::is_running(p)).collect();
    assert!(
        left.is_empty(),
        "still running after the demo stopped: {left:?}"
    );
    Ok(ids)
}

#[tokio::test]
async fn the_demo_shows_a_fleet_and_stops_everything_it_started() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("demo");

    let first = run_demo(&dir, true).await?;
    assert!(
        dir.join("kubeworkz.db").is_file(),
        "--keep keeps the database"
    );

    // The kept directory: the hub knows the new clusters as the same three.
    let second = run_demo(&dir, false).await?;
    assert_eq!(first, second);
    assert!(!dir.exists(), "without --keep the directory is removed");
    Ok(())
}
