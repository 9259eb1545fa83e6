//! The real `kubeworkz-hub` binary for end-to-end tests: one-off CLI commands, and `serve`
//! as a child process whose stdout and stderr are collected for log assertions.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use std::time::{Duration, Instant};

/// The hub binary cargo built for this test.
pub const HUB: &str = env!("CARGO_BIN_EXE_kubeworkz-hub");

/// The hub binary on database `db`, with no key, address or log filter inherited from the
/// environment the tests run in.
pub fn hub_command(db: &str) -> Command {
    let mut command = Command::new(HUB);
    command
        .env("KUBEWORKZ_DATABASE_URL", db)
        .env_remove("KUBEWORKZ_MASTER_KEY")
        .env_remove("KUBEWORKZ_PUBLIC_ADDRESS")
        .env_remove("RUST_LOG");
    command
}

/// Runs a CLI command; returns (success, stdout, stderr).
pub fn cli(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = hub_command(db)
        .args(args)
        .output()
        .expect("run kubeworkz-hub");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a CLI command with `input` on standard input (passwords); returns (success, stdout,
/// stderr).
#[allow(dead_code)] // only some tests create users
pub fn cli_with_stdin(db: &str, args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = hub_command(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubeworkz-hub");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for kubeworkz-hub");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `token create --name NAME --output json` through the real CLI: the printed JSON object
/// (`id`, `token`, `helm`, …).
#[allow(dead_code)] // the pull-mode test creates no tokens
pub fn token_create(db: &str, name: &str) -> Result<serde_json::Value> {
    let (ok, out, err) = cli(db, &["token", "create", "--name", name, "--output", "json"]);
    if !ok {
        bail!("token create failed: {out}{err}");
    }
    Ok(serde_json::from_str(out.trim())?)
}

/// The organization and id of the cluster named `name` in the `default` organization (the
/// one an enrollment created).
#[allow(dead_code)] // the pull-mode test creates no tokens
pub async fn default_org_cluster(
    store: &kubeworkz_hub::store::Store,
    name: &str,
) -> Result<(
    kubeworkz_shared::ids::OrgId,
    kubeworkz_shared::ids::ClusterId,
)> {
    let org = store
        .organization_by_name("default")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no default organization"))?
        .id;
    let cluster = store
        .list_clusters(org)
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| anyhow::anyhow!("no cluster {name:?}"))?
        .id;
    Ok((org, cluster))
}

/// The `serve` flags of end-to-end tests: any QUIC port, pull clusters on loopback (where
/// test clusters run) allowed, pull targets reloaded every second.
#[allow(dead_code)] // only the end-to-end tests that log in or run replicas
pub const E2E_ARGS: [&str; 5] = [
    "--quic-listen",
    "127.0.0.1:0",
    "--pull-refresh-secs",
    "1",
    "--pull-allow-loopback",
];

/// A running `serve`, logging JSON lines; killed if the test fails before it stopped it.
pub struct Hub {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    /// `serve --listen 127.0.0.1:0` plus `args`, with `RUST_LOG=rust_log`.
    pub fn start(db: &str, args: &[&str], rust_log: &str) -> Self {
        Self::start_with_env(db, args, rust_log, &[])
    }

    /// [`Hub::start`] with extra environment variables (e.g. the first admin's).
    pub fn start_with_env(db: &str, args: &[&str], rust_log: &str, env: &[(&str, &str)]) -> Self {
        let mut child = hub_command(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("KUBEWORKZ_LOG_JSON", "true")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hub");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        Self { child, log }
    }

    /// `serve` as the end-to-end tests that use the API run it: the first admin is `email` /
    /// `password`, pull clusters on loopback (where test clusters run) are allowed, and pull
    /// targets are reloaded every second.
    #[allow(dead_code)] // only the API and UI end-to-end tests log in
    pub fn start_with_admin(db: &str, email: &str, password: &str) -> Self {
        Self::start_with_env(
            db,
            &E2E_ARGS,
            "info",
            &[
                ("KUBEWORKZ_ADMIN_EMAIL", email),
                ("KUBEWORKZ_ADMIN_PASSWORD", password),
            ],
        )
    }

    /// The bound QUIC address, from the `agent endpoint listening` log line.
    #[allow(dead_code)] // the pull-mode test has no agents
    pub fn quic_addr(&mut self) -> Result<std::net::SocketAddr> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains("agent endpoint listening")) {
                let json: serde_json::Value = serde_json::from_str(line)?;
                let addr = json["quic_listen"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("no quic_listen field: {line}"))?;
                return Ok(addr.parse()?);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("hub exited with {status}: {log}");
            }
            if std::time::Instant::now() > deadline {
                bail!("hub did not report its agent endpoint: {log}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The API's base URL (`http://ADDR`), from the `kubeworkz hub listening` log line.
    #[allow(dead_code)] // only some tests call the API of a spawned hub
    pub fn api_url(&mut self) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains("kubeworkz hub listening")) {
                let json: serde_json::Value = serde_json::from_str(line)?;
                let listen = json["listen"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("no listen field: {line}"))?;
                return Ok(format!("http://{listen}"));
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("hub exited with {status}: {log}");
            }
            if Instant::now() > deadline {
                bail!("hub did not report its API address: {log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, and a clean exit; returns the whole log.
    pub fn stop(mut self) -> Result<String> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        let log = self.log();
        if !status.success() {
            bail!("hub exit {status}: {log}");
        }
        Ok(log)
    }
}

/// Logs in to the API at `url`: the `kubeworkz_session=…` cookie to send.
#[allow(dead_code)] // only the API and UI end-to-end tests log in
pub async fn login_session(url: &str, email: &str, password: &str) -> Result<String> {
    let login = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    if login.status() != 200 {
        bail!("login: {}", login.status());
    }
    login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kubeworkz_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))
}

/// Logs in as a browser does: the `cookie` header to send (session and CSRF cookies) and the
/// CSRF token a mutation repeats in `x-csrf-token`.
#[allow(dead_code)] // only the tests that mutate through a session use it
pub async fn login_with_csrf(url: &str, email: &str, password: &str) -> Result<(String, String)> {
    let login = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    if login.status() != 200 {
        bail!("login {email}: {}", login.status());
    }
    let cookie = |name: &str| {
        login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no {name} cookie"))
    };
    let session = cookie("kubeworkz_session")?;
    let csrf_cookie = cookie("csrf_token")?;
    let csrf = csrf_cookie.trim_start_matches("csrf_token=").to_owned();
    Ok((format!("{session}; {csrf_cookie}"), csrf))
}

/// Moves a test cluster from agent mode to pull mode: removes the hub's cluster
/// `agent_cluster` (so each object uid belongs to one cluster) and registers the same
/// cluster as `name` with its admin kubeconfig (written to `dir`), loopback allowed.
#[allow(dead_code)] // only the real-cluster operation tests switch modes
pub fn register_pull_instead(
    db: &str,
    dir: &std::path::Path,
    agent_cluster: &str,
    kubeconfig_yaml: &str,
    name: &str,
) -> Result<()> {
    let (ok, out, err) = cli(db, &["cluster", "remove", agent_cluster]);
    if !ok {
        bail!("cluster remove: {out}{err}");
    }
    let kubeconfig = dir.join("admin.kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_yaml)?;
    let path = kubeconfig.display().to_string();
    let (ok, out, err) = cli(
        db,
        &[
            "cluster",
            "add",
            "--name",
            name,
            "--kubeconfig",
            &path,
            "--pull-allow-loopback",
        ],
    );
    if !ok {
        bail!("cluster add: {out}{err}");
    }
    Ok(())
}

/// Polls `check` every 250 ms until it returns true or `timeout` passes.
#[allow(dead_code)] // not every test binary that shares this module polls
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A fresh SQLite store with one pull-mode cluster registered by kubeconfig, for the tests
/// that run the pull supervisor in-process. Registration allows loopback: every test server
/// runs there.
#[allow(dead_code)] // only the in-process supervisor tests register this way
pub struct PullFixture {
    pub url: kubeworkz_hub::config::DatabaseUrl,
    pub store: kubeworkz_hub::store::Store,
    pub org: kubeworkz_shared::ids::OrgId,
    pub keyring: kubeworkz_hub::seal::Keyring,
    pub cluster: kubeworkz_hub::store::Cluster,
}

#[allow(dead_code)]
impl PullFixture {
    /// The database lives in `dir`; the cluster is named `name`.
    pub async fn register(dir: &std::path::Path, name: &str, kubeconfig: String) -> Result<Self> {
        use kubeworkz_hub::pull::{self, EgressPolicy, ProbeSettings, Registration};
        use kubeworkz_hub::store;
        let url: kubeworkz_hub::config::DatabaseUrl =
            format!("sqlite://{}", dir.join("hub.db").display()).parse()?;
        let store = store::connect(&url).await?;
        let org = store
            .organization_by_name(store::DEFAULT_ORG)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no default organization"))?
            .id;
        let keyring =
            kubeworkz_hub::seal::Keyring::new(kubeworkz_hub::seal::MasterKey::generate().0, vec![]);
        let (cluster, _) = pull::register(
            &store,
            &keyring,
            Registration {
                org_id: org,
                name: name.into(),
                description: String::new(),
                environment: store::Environment::Development,
                tags: vec![],
                kubeconfig,
                context: None,
                created_by: None,
            },
            &ProbeSettings::new(EgressPolicy::allowing_loopback()),
        )
        .await?;
        Ok(Self {
            url,
            store,
            org,
            keyring,
            cluster,
        })
    }

    /// Runs a pull supervisor over the store with `config`, as `serve` does.
    pub fn supervise(&self, config: kubeworkz_hub::pull::PullConfig) -> Supervised {
        let workers = kubeworkz_hub::workers::Workers::new();
        let shutdown = kubeworkz_hub::shutdown::Shutdown::new();
        let supervisor = kubeworkz_hub::pull::PullSupervisor::new(
            self.store.clone(),
            self.keyring.clone(),
            config,
            workers.clone(),
        );
        let handle = supervisor.handle();
        let running = kubeworkz_hub::workers::spawn(supervisor, &workers, shutdown.clone());
        Supervised {
            handle,
            workers,
            shutdown,
            running,
        }
    }
}

/// A running pull supervisor: trigger `shutdown`, then await `running`.
#[allow(dead_code)]
pub struct Supervised {
    pub handle: kubeworkz_hub::pull::supervisor::PullHandle,
    pub workers: kubeworkz_hub::workers::Workers,
    pub shutdown: kubeworkz_hub::shutdown::Shutdown,
    pub running: tokio::task::JoinHandle<()>,
}
