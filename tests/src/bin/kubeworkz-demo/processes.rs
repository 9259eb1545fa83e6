//! The hub and agent processes: built with cargo (a package only gets its own binaries, so
//! the demo asks cargo for the hub's and the agent's, as `hub/tests/support/real_agent.rs`
//! does), started so that they die with the demo, and stopped with SIGTERM as an operator
//! would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kubeworkz_testkit::cargo;
use kubeworkz_testkit::child::command_dying_with_parent;
use kubeworkz_testkit::cluster::TestCluster;

use crate::dir::DemoDir;

/// The demo's admin: fixed, so the banner and the README can say it; the hub listens on
/// loopback unless told otherwise.
pub const ADMIN_EMAIL: &str = "admin@localhost";
/// The admin's password (the hub's minimum is 12 characters).
pub const ADMIN_PASSWORD: &str = "kubeworkz-demo";

/// The hub's and the agent's executables.
#[derive(Debug)]
pub struct Binaries {
    pub hub: PathBuf,
    pub agent: PathBuf,
}

/// Builds `kubeworkz-hub` and `kubeworkz-agent` with the demo's own profile into its target
/// directory (a no-op when they are current), or, outside a workspace, takes them from beside
/// the demo's executable.
pub async fn build() -> Result<Binaries> {
    let exe = std::env::current_exe().context("locating the demo's executable")?;
    let profile_dir = match cargo::profile_of(&exe) {
        Some((profile_dir, profile)) => {
            let mut command = tokio::process::Command::from(cargo::build_command(
                &profile_dir,
                &profile,
                &["kubeworkz-hub", "kubeworkz-agent"],
            ));
            let status = command
                .status()
                .await
                .context("running cargo build for the hub and the agent")?;
            if !status.success() {
                bail!("building kubeworkz-hub and kubeworkz-agent failed: {status}");
            }
            profile_dir
        }
        None => exe
            .parent()
            .context("the demo's executable has no directory")?
            .to_path_buf(),
    };
    let binaries = Binaries {
        hub: profile_dir.join("kubeworkz-hub"),
        agent: profile_dir.join("kubeworkz-agent"),
    };
    for bin in [&binaries.hub, &binaries.agent] {
        if !bin.is_file() {
            bail!("{} is missing", bin.display());
        }
    }
    Ok(binaries)
}

/// A child process of the demo, logging to a file of the demo directory.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
    /// Where this run's output starts in the log (earlier runs of a kept demo precede it).
    log_from: u64,
}

impl Process {
    fn spawn(
        name: String,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let log_from = file.metadata()?.len();
        let mut command = command_dying_with_parent(program);
        // Only what the demo sets: a KUBEWORKZ_* of the caller's shell must not change it.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KUBEWORKZ_") {
                command.env_remove(key);
            }
        }
        command
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        Ok(Self {
            name,
            child,
            log,
            log_from,
        })
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// This run's log.
    pub fn log(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let from = usize::try_from(self.log_from).unwrap_or(0).min(text.len());
        String::from_utf8_lossy(&text[from..]).into_owned()
    }

    /// Fails, with the end of the log, if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{} exited ({status}); end of {}:\n{}",
                self.name,
                self.log.display(),
                tail.join("\n")
            );
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let status = self.child.wait()?;
                bail!(
                    "{} did not stop within {grace:?} of SIGTERM ({status})",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running hub and where it listens.
#[derive(Debug)]
pub struct Hub {
    pub process: Process,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The agents' QUIC endpoint.
    pub quic: SocketAddr,
}

impl Hub {
    /// `kubeworkz-hub serve` on the demo's SQLite file and master key, collecting loopback
    /// clusters by kubeconfig, computing costs every 10 s including the hour in progress.
    /// Returns once it logged both addresses (it serves from then on).
    pub async fn start(bin: &Path, dir: &DemoDir, listen: SocketAddr) -> Result<Self> {
        let args: Vec<String> = [
            "serve",
            "--listen",
            &listen.to_string(),
            "--quic-listen",
            "127.0.0.1:0",
            "--database-url",
            &format!("sqlite://{}", dir.database().display()),
            "--pull-allow-loopback",
            "--pull-refresh-secs",
            "2",
            "--cost-interval-secs",
            "10",
            "--cost-current-hour",
            "--log-json",
        ]
        .map(str::to_owned)
        .to_vec();
        let env = [
            ("KUBEWORKZ_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
            ("KUBEWORKZ_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ];
        let mut process = Process::spawn("hub".into(), bin, &args, &env, dir.log("hub"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = process.log();
            let field = |message: &str, key: &str| -> Option<String> {
                log.lines()
                    .filter(|line| line.contains(message))
                    .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                    .and_then(|json| json[key].as_str().map(str::to_owned))
            };
            let api = field("kubeworkz hub listening", "listen");
            let quic = field("agent endpoint listening", "quic_listen");
            if let (Some(api), Some(quic)) = (api, quic) {
                return Ok(Self {
                    process,
                    url: format!("http://{api}"),
                    quic: quic.parse().context("the hub's QUIC address")?,
                });
            }
            process.check_running()?;
            if Instant::now() > deadline {
                bail!(
                    "the hub did not report its addresses within 60 s; see {}",
                    process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Starts `kubeworkz-agent run` for `cluster`: its identity in a file of the demo directory,
/// enrolling with `token` when it has none.
pub fn start_agent(
    bin: &Path,
    dir: &DemoDir,
    cluster: &TestCluster,
    hub: &Hub,
    token: Option<String>,
    helm_releases: bool,
) -> Result<Process> {
    let name = cluster.name();
    let mut env = vec![
        (
            "KUBECONFIG",
            cluster.kubeconfig_path().display().to_string(),
        ),
        ("KUBEWORKZ_HUB_ADDR", hub.quic.to_string()),
        (
            "KUBEWORKZ_CREDENTIALS_FILE",
            dir.agent_credentials(name).display().to_string(),
        ),
        // Several agents on one machine: each its own free port for /healthz and /metrics.
        ("KUBEWORKZ_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
        ("KUBEWORKZ_HELM_RELEASES", helm_releases.to_string()),
        ("KUBEWORKZ_LOG_FORMAT", "json".to_owned()),
    ];
    if let Some(token) = token {
        env.push(("KUBEWORKZ_TOKEN", token));
    }
    Process::spawn(
        format!("agent of {name}"),
        bin,
        &["run".to_owned()],
        &env,
        dir.log(&format!("agent-{name}")),
    )
}
