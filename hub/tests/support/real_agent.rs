//! The real `kubeworkz-agent` binary, for hub tests and benches that need an agent on a real
//! cluster. Cargo only gives a package's tests its *own* binaries, so the agent is built here
//! (`kubeworkz_testkit::cargo`, a no-op when it is up to date) into the same target
//! directory and profile as the running test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kubeworkz_testkit::cargo;

/// The agent binary, built once per test process.
pub fn agent_binary() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build().map_err(|err| format!("{err:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Overrides the cargo profile the agent is built with. `cargo bench` builds into `release/`
/// with the `bench` profile, which the directory cannot tell from `release`: set `bench` so
/// that the agent shares the bench's compiled dependencies instead of building its own.
pub const PROFILE_ENV: &str = "KUBEWORKZ_AGENT_PROFILE";

fn build() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let (profile_dir, profile) =
        cargo::profile_of(&exe).context("test binary outside this workspace's target directory")?;
    let profile = std::env::var(PROFILE_ENV).unwrap_or(profile);
    let status = cargo::build_command(&profile_dir, &profile, &["kubeworkz-agent"])
        .status()
        .context("running cargo build for the agent")?;
    if !status.success() {
        bail!("building kubeworkz-agent failed: {status}");
    }
    Ok(profile_dir.join("kubeworkz-agent"))
}

/// A running `kubeworkz-agent run`, logging (JSON) to a file; killed on drop.
pub struct Agent {
    child: Child,
    log: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    /// Starts `kubeworkz-agent run` with `env` (nothing else inherited from `KUBEWORKZ_*` or
    /// `RUST_LOG`), appending its log to `log`.
    pub fn start(env: &[(&str, String)], log: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = Command::new(agent_binary()?);
        command.arg("run");
        for (key, _) in std::env::vars() {
            if key.starts_with("KUBEWORKZ_") {
                command.env_remove(key);
            }
        }
        command
            .env("RUST_LOG", "info")
            .env("KUBEWORKZ_LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(file);
        Ok(Self {
            child: command.spawn().context("starting kubeworkz-agent")?,
            log: log.to_owned(),
        })
    }

    /// The process id (benches read its memory from `/proc`).
    #[allow(dead_code)] // only the log-follow bench reads it
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The whole log file (every run that appended to it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` at least `count` times.
    pub async fn wait_log(&mut self, needle: &str, count: usize, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("agent exited with {status} before logging {needle:?}: {log}");
            }
            if Instant::now() > deadline {
                bail!("agent did not log {needle:?} {count}× within {within:?}: {log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM and a clean exit within 30 s.
    pub async fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("agent exit {status}: {}", self.log());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("agent did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The agent as the chart installs it on `cluster` (rendered by the real Helm with
/// `hub.address`, `token` and `values`, applied, run as its ServiceAccount with its
/// credentials Secret), with `KUBEWORKZ_OPERATIONS=operations`; its environment is returned so
/// a test can restart it changed. Logs to `dir/agent.log`.
#[allow(dead_code)] // only the real-cluster tests and the operations bench use it
pub async fn from_chart(
    cluster: &kubeworkz_testkit::cluster::TestCluster,
    dir: &Path,
    quic: std::net::SocketAddr,
    token: &str,
    operations: &str,
    values: &[(&str, &str)],
) -> Result<(Agent, Vec<(&'static str, String)>)> {
    use kubeworkz_testkit::chart;
    let address = quic.to_string();
    let mut all = vec![("hub.address", address.as_str()), ("token", token)];
    all.extend_from_slice(values);
    let manifests = chart::render_chart(&all, cluster.server_version()).await?;
    chart::apply(&cluster.client(), &manifests).await?;
    let kubeconfig = dir.join("agent.kubeconfig");
    std::fs::write(
        &kubeconfig,
        serde_yaml::to_string(&chart::service_account_kubeconfig(cluster).await?)?,
    )?;
    let env = vec![
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("KUBEWORKZ_HUB_ADDR", quic.to_string()),
        ("KUBEWORKZ_TOKEN", token.to_owned()),
        ("KUBEWORKZ_HELM_RELEASES", "false".to_owned()),
        (
            "KUBEWORKZ_CREDENTIALS_SECRET",
            chart::CREDENTIALS_SECRET.to_owned(),
        ),
        ("KUBEWORKZ_NAMESPACE", chart::NAMESPACE.to_owned()),
        ("KUBEWORKZ_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
        ("KUBEWORKZ_RECONNECT_MAX_SECS", "2".to_owned()),
        ("KUBEWORKZ_OPERATIONS", operations.to_owned()),
    ];
    let mut agent = Agent::start(&env, &dir.join("agent.log"))?;
    agent
        .wait_log("enrolled with the hub", 1, Duration::from_secs(60))
        .await?;
    Ok((agent, env))
}
