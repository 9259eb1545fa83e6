//! The processes the scale bench runs and measures: the real hub, each agent build and, when
//! it can be built, kube-state-metrics — all against the same test cluster.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_testkit::cluster::TestCluster;
use kubeworkz_testkit::ports::{self, PortReservation};

/// A child process whose memory the bench reports; killed on drop.
pub struct Proc {
    pub label: String,
    child: Child,
    /// The loopback ports the child listens on, held for as long as it runs.
    _ports: Vec<PortReservation>,
}

impl Proc {
    /// `(VmRSS, VmHWM)` in KiB: resident now, and the most it has been.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real hub: `serve` on a SQLite file, and its CLI for tokens. Killed on drop.
pub struct Hub {
    binary: PathBuf,
    dir: tempfile::TempDir,
    child: Child,
    quic: String,
}

impl Hub {
    pub fn start() -> Result<Self> {
        let binary = build_hub()?;
        let dir = tempfile::tempdir()?;
        let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
        let mut child = Command::new(&binary)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--quic-listen",
                "127.0.0.1:0",
            ])
            .env("KUBEWORKZ_DATABASE_URL", &db)
            .env("KUBEWORKZ_LOG_JSON", "true")
            .env("RUST_LOG", "info")
            .env_remove("KUBEWORKZ_MASTER_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting kubeworkz-hub serve")?;
        // The hub logs to stderr.
        let logs = child.stderr.take().context("hub stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(logs).lines().map_while(Result::ok) {
                if line.contains("agent endpoint listening") {
                    let _ = tx.send(line);
                }
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the hub never reported its agent endpoint");
        };
        let json: serde_json::Value = serde_json::from_str(&line)?;
        let quic = json["quic_listen"]
            .as_str()
            .context("no quic_listen field")?
            .to_owned();
        Ok(Self {
            binary,
            dir,
            child,
            quic,
        })
    }

    /// A one-time token for a new cluster called `name`.
    fn token(&self, name: &str) -> Result<String> {
        let db = format!(
            "sqlite://{}",
            self.dir.path().join("kubeworkz.db").display()
        );
        let out = Command::new(&self.binary)
            .args(["token", "create", "--name", name, "--output", "json"])
            .env("KUBEWORKZ_DATABASE_URL", db)
            .env_remove("KUBEWORKZ_MASTER_KEY")
            .output()?;
        if !out.status.success() {
            bail!("token create: {}", String::from_utf8_lossy(&out.stderr));
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        Ok(json["token"].as_str().context("no token")?.to_owned())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the hub binary into this bench's target directory and profile (a no-op when it is
/// up to date).
fn build_hub() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("bench binary outside a target directory")?;
    let target_dir = profile_dir.parent().context("no target directory")?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some("release") => "bench",
        Some(other) => other,
        None => bail!("no profile directory"),
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "kubeworkz-hub",
            "--bin",
            "kubeworkz-hub",
        ])
        .args(["--profile", profile])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(workspace_root())
        .status()
        .context("running cargo build for the hub")?;
    if !status.success() {
        bail!("building kubeworkz-hub failed: {status}");
    }
    Ok(profile_dir.join("kubeworkz-hub"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// GETs `http://127.0.0.1:{port}/metrics` as text.
async fn scrape(http: &reqwest::Client, port: u16) -> Option<String> {
    let resp = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?;
    resp.text().await.ok()
}

/// The value of the sample `name` (with its labels) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A running `kubeworkz-agent run`, enrolled with its own token.
pub struct Agent {
    pub proc: Proc,
    port: u16,
}

/// What an agent's `/metrics` says about its progress.
#[derive(Debug, PartialEq, Eq)]
struct Progress {
    pods: Option<u64>,
    changes: Option<u64>,
    connected: Option<u64>,
    unacked_bytes: Option<u64>,
}

impl Agent {
    pub fn spawn(label: &str, binary: &str, cluster: &TestCluster, hub: &Hub) -> Result<Self> {
        let reserved = ports::reserve(1)?;
        let port = reserved[0].port();
        let child = Command::new(binary)
            .arg("run")
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("KUBEWORKZ_HUB_ADDR", &hub.quic)
            .env("KUBEWORKZ_TOKEN", hub.token(&format!("scale-{port}"))?)
            .env(
                "KUBEWORKZ_CREDENTIALS_FILE",
                hub.dir.path().join(format!("agent-{port}.json")),
            )
            .env("KUBEWORKZ_ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        Ok(Self {
            proc: Proc {
                label: label.to_owned(),
                child,
                _ports: reserved,
            },
            port,
        })
    }

    async fn progress(&self, http: &reqwest::Client) -> Progress {
        let text = scrape(http, self.port).await.unwrap_or_default();
        let pods = format!(
            "kubeworkz_agent_inventory_objects{{kind=\"{:?}\"}}",
            ObjectKind::Pod
        );
        Progress {
            pods: sample(&text, &pods),
            changes: sample(&text, "kubeworkz_agent_changes_total"),
            connected: sample(&text, "kubeworkz_agent_uplink_connected"),
            unacked_bytes: sample(&text, "kubeworkz_agent_uplink_unacked_bytes"),
        }
    }

    /// Waits until the agent holds `pods` pods and the hub has acknowledged everything it
    /// produced: connected, nothing unacked, and no new change for three polls a second apart
    /// (a change still in the agent's channels would show as unacked bytes within
    /// milliseconds, since the uplink reads its input whenever its window has room).
    pub async fn delivered(&self, http: &reqwest::Client, pods: usize) {
        let deadline = Instant::now() + Duration::from_secs(600);
        let (mut last, mut quiet) = (None, 0);
        loop {
            let now = self.progress(http).await;
            let done = now.pods == Some(pods as u64)
                && now.connected == Some(1)
                && now.unacked_bytes == Some(0);
            quiet = if done && last.as_ref() == Some(&now) {
                quiet + 1
            } else {
                0
            };
            if quiet >= 3 {
                return;
            }
            if Instant::now() > deadline {
                println!(
                    "{}: not delivered after 10 min ({now:?}, want {pods} pods), measuring anyway",
                    self.proc.label
                );
                return;
            }
            last = Some(now);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Waits until the agent holds `want` objects of `kind` (its initial lists arrived).
    pub async fn holds(&self, http: &reqwest::Client, kind: ObjectKind, want: usize) {
        let name = format!("kubeworkz_agent_inventory_objects{{kind=\"{kind:?}\"}}");
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            let text = scrape(http, self.port).await.unwrap_or_default();
            if sample(&text, &name) == Some(want as u64) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!("{}: never held {want} {kind:?}", self.proc.label);
    }
}

/// kube-state-metrics on the same cluster, watching roughly what the agent watches.
pub struct Ksm {
    pub proc: Proc,
    port: u16,
}

impl Ksm {
    /// The binary from `KW_KSM` (`off` for none), else from `tests/kube-tools/ksm.sh` (which
    /// builds it once from its Go module); `None`, saying why, when there is none.
    pub fn binary() -> Option<PathBuf> {
        match std::env::var("KW_KSM") {
            Ok(path) if path == "off" || path.is_empty() => return None,
            Ok(path) => return Some(path.into()),
            Err(_) => {}
        }
        let out = Command::new("bash")
            .args(["tests/kube-tools/ksm.sh", "--print-bin"])
            .current_dir(workspace_root())
            .stderr(Stdio::inherit())
            .output();
        match out {
            Ok(out) if out.status.success() => {
                Some(String::from_utf8_lossy(&out.stdout).trim().into())
            }
            Ok(out) => {
                println!("no kube-state-metrics: ksm.sh failed ({})", out.status);
                None
            }
            Err(err) => {
                println!("no kube-state-metrics: cannot run ksm.sh: {err}");
                None
            }
        }
    }

    pub fn spawn(binary: &Path, cluster: &TestCluster) -> Result<Self> {
        let reserved = ports::reserve(2)?;
        let (port, telemetry) = (reserved[0].port(), reserved[1].port());
        let log = std::fs::File::create(cluster.dir().join("kube-state-metrics.log"))?;
        let child = Command::new(binary)
            .arg(format!(
                "--kubeconfig={}",
                cluster.kubeconfig_path().display()
            ))
            .arg("--resources=nodes,namespaces,deployments,pods,persistentvolumeclaims")
            .args(["--host=127.0.0.1", "--telemetry-host=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--telemetry-port={telemetry}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            proc: Proc {
                label: "kube-state-metrics".into(),
                child,
                _ports: reserved,
            },
            port,
        })
    }

    /// Waits until one scrape (as Prometheus would take) shows `pods` pods.
    pub async fn holds_pods(&self, http: &reqwest::Client, pods: usize) {
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut seen = 0;
        while Instant::now() < deadline {
            let text = scrape(http, self.port).await.unwrap_or_default();
            seen = text
                .lines()
                .filter(|l| l.starts_with("kube_pod_info{"))
                .count();
            if seen == pods {
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        println!("kube-state-metrics: shows {seen} of {pods} pods, measuring anyway");
    }
}
