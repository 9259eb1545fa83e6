//! A real OpenID Connect provider for the single sign-on tests: Dex, built from its published
//! Go module by `idp-tools/build.sh`, started on loopback with a generated configuration (a
//! static client, its connector, token lifetimes) and killed when dropped.
//!
//! Two connectors, one per instance, so Dex goes straight to it without a chooser page:
//! - [`Connector::Passwords`]: Dex's own password database with static users and its real
//!   login form. Dex gives these users no groups.
//! - [`Connector::HeaderProxy`]: Dex's `authproxy` connector, which takes the user and the
//!   groups from request headers on its callback (`X-Remote-User`, `X-Remote-User-Email`,
//!   `X-Remote-Group`), as behind an authenticating proxy. A test sets a user's groups per
//!   login, which is how "the group changed at the identity provider" is made real.
//!
//! Storage is Dex's in-memory one: [`Dex::restart`] makes Dex forget every refresh token and
//! signing key, as an identity provider does when it revokes a user's grants.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::child::command_dying_with_parent;
use crate::ports::{PortReservation, reserve};

mod tampering_proxy;
pub use tampering_proxy::TamperingProxy;

/// A Dex user of the password connector.
#[derive(Debug, Clone)]
pub struct StaticUser {
    /// Login name and email.
    pub email: String,
    /// Password typed into Dex's login form.
    pub password: String,
    /// Dex's stable subject for the user.
    pub user_id: String,
}

/// How Dex authenticates its users.
#[derive(Debug, Clone)]
pub enum Connector {
    /// Dex's password database with these users (no groups).
    Passwords(Vec<StaticUser>),
    /// The `authproxy` connector: identity and groups from the callback's headers.
    HeaderProxy,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DexSpec {
    /// The static client's id.
    pub client_id: String,
    /// The static client's secret.
    pub client_secret: String,
    /// Where Dex may send the browser back to (the hub's callback).
    pub redirect_uris: Vec<String>,
    /// The connector.
    pub connector: Connector,
    /// Lifetime of ID tokens in seconds (`expiry.idTokens`); a negative one makes Dex issue
    /// tokens that are already expired.
    pub id_token_ttl_secs: i64,
    /// How often Dex rotates its signing key (`expiry.signingKeys`); Dex checks every 30 s.
    pub signing_key_rotation: Duration,
    /// A second static client that trusts the first (`trustedPeers`): the first may then ask
    /// for ID tokens addressed to it too (scope `audience:server:client_id:<peer>`).
    pub audience_peer: Option<String>,
    /// The issuer Dex announces instead of its own address, when something (a
    /// [`TamperingProxy`]) stands between it and the hub; Dex still listens on its own port.
    pub public_issuer: Option<String>,
}

impl DexSpec {
    /// A client `kubeworkz` with a generated secret, redirecting to `redirect_uri`.
    pub fn new(redirect_uri: impl Into<String>, connector: Connector) -> Self {
        Self {
            client_id: "kubeworkz".into(),
            client_secret: format!("dex-client-secret-{:016x}", rand::random::<u64>()),
            redirect_uris: vec![redirect_uri.into()],
            connector,
            id_token_ttl_secs: 3600,
            signing_key_rotation: Duration::from_secs(6 * 3600),
            audience_peer: None,
            public_issuer: None,
        }
    }
}

/// Header names of [`Connector::HeaderProxy`], as Dex defaults them.
pub const PROXY_USER_HEADER: &str = "X-Remote-User";
/// The user's email.
pub const PROXY_EMAIL_HEADER: &str = "X-Remote-User-Email";
/// Comma-separated groups.
pub const PROXY_GROUP_HEADER: &str = "X-Remote-Group";
/// The connector's id (part of its callback path, `/dex/callback/proxy`).
pub const PROXY_CONNECTOR_ID: &str = "proxy";

/// A running Dex, killed on drop.
#[derive(Debug)]
pub struct Dex {
    child: Option<Child>,
    spec: DexSpec,
    port: PortReservation,
    dir: tempfile::TempDir,
}

impl Dex {
    /// Builds Dex if needed, writes its configuration and starts it; returns once its
    /// discovery document answers.
    pub async fn start(spec: DexSpec) -> Result<Self> {
        let port = reserve(1)?.pop().context("no port reserved")?;
        let dir = tempfile::Builder::new().prefix("kw-dex-").tempdir()?;
        let mut dex = Self {
            child: None,
            spec,
            port,
            dir,
        };
        dex.launch().await?;
        Ok(dex)
    }

    /// The issuer URL the hub is to use: [`DexSpec::public_issuer`], or Dex's own
    /// (`http://127.0.0.1:PORT/dex`).
    pub fn issuer(&self) -> String {
        self.spec
            .public_issuer
            .clone()
            .unwrap_or_else(|| self.own_issuer())
    }

    /// Where Dex itself answers (`http://127.0.0.1:PORT`), for a proxy to forward to.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port.port())
    }

    /// Dex's issuer at its own address, which its routes live under whatever it announces.
    fn own_issuer(&self) -> String {
        format!("{}/dex", self.origin())
    }

    /// The spec it runs with.
    pub fn spec(&self) -> &DexSpec {
        &self.spec
    }

    /// Dex's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dex.log")).unwrap_or_default()
    }

    /// Kills Dex and starts it again on the same port with the same configuration: every
    /// refresh token it issued is then unknown to it and its signing key is new.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch().await
    }

    /// The `kid`s Dex publishes now.
    pub async fn key_ids(&self) -> Result<Vec<String>> {
        let keys: serde_json::Value = reqwest::get(format!("{}/keys", self.own_issuer()))
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(keys["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn launch(&mut self) -> Result<()> {
        let bin = bin_path().await?;
        let config = self.dir.path().join("config.yaml");
        std::fs::write(
            &config,
            config_yaml(&self.spec, &self.issuer(), self.port.port()),
        )
        .context("writing Dex's configuration")?;
        let log = std::fs::File::create(self.dir.path().join("dex.log"))?;
        // The reserved port is held by a lock file, not a socket: Dex can bind it.
        let child = command_dying_with_parent(&bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.child = Some(child);
        let discovery = format!("{}/.well-known/openid-configuration", self.own_issuer());
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("dex exited with {status}:\n{}", self.log());
            }
            if let Ok(r) = reqwest::get(&discovery).await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("dex did not answer within 30 s:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Dex {
    fn drop(&mut self) {
        self.stop();
    }
}

fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Dex's configuration for `spec`; JSON is YAML, so `serde_json` writes it.
fn config_yaml(spec: &DexSpec, issuer: &str, port: u16) -> String {
    let mut config = serde_json::json!({
        "issuer": issuer,
        "storage": { "type": "memory" },
        "web": { "http": format!("127.0.0.1:{port}") },
        "logger": { "level": "debug" },
        "oauth2": { "skipApprovalScreen": true },
        "expiry": {
            "idTokens": format!("{}s", spec.id_token_ttl_secs),
            "signingKeys": go_duration(spec.signing_key_rotation),
        },
        "staticClients": [{
            "id": spec.client_id,
            "secret": spec.client_secret,
            "name": "Kubeworkz",
            "redirectURIs": spec.redirect_uris,
        }],
    });
    if let Some(peer) = &spec.audience_peer {
        config["staticClients"]
            .as_array_mut()
            .expect("a list")
            .push(serde_json::json!({
                "id": peer,
                "secret": format!("{}-peer", spec.client_secret),
                "name": "Peer",
                "redirectURIs": ["http://127.0.0.1:1/unused"],
                "trustedPeers": [spec.client_id],
            }));
    }
    match &spec.connector {
        Connector::Passwords(users) => {
            config["enablePasswordDB"] = true.into();
            config["staticPasswords"] = users
                .iter()
                .map(|u| {
                    serde_json::json!({
                        "email": u.email,
                        "username": u.email,
                        "userID": u.user_id,
                        "hash": bcrypt_hash(&u.password),
                    })
                })
                .collect();
        }
        Connector::HeaderProxy => {
            config["connectors"] = serde_json::json!([{
                "type": "authproxy",
                "id": PROXY_CONNECTOR_ID,
                "name": "Header proxy",
                "config": {},
            }]);
        }
    }
    serde_json::to_string_pretty(&config).expect("a JSON value serializes")
}

/// Dex keeps static passwords as bcrypt hashes of at least its default cost.
fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, bcrypt::DEFAULT_COST).expect("bcrypt hashes any password")
}

static BIN: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();

/// The Dex binary: `$KUBEWORKZ_DEX_BIN` (a directory holding `dex`), or what
/// `tests/idp-tools/build.sh --print-bin-dir` prints (building it if needed).
pub async fn bin_path() -> Result<PathBuf> {
    BIN.get_or_try_init(|| async {
        let dir = match std::env::var_os("KUBEWORKZ_DEX_BIN") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("idp-tools")
                    .join("build.sh");
                let out = tokio::process::Command::new("bash")
                    .arg(&script)
                    .arg("--print-bin-dir")
                    .stderr(Stdio::inherit())
                    .output()
                    .await
                    .with_context(|| format!("running {}", script.display()))?;
                if !out.status.success() {
                    bail!("{} failed: {}", script.display(), out.status);
                }
                let stdout = String::from_utf8(out.stdout)?;
                PathBuf::from(
                    stdout
                        .lines()
                        .last()
                        .ok_or_else(|| anyhow!("{} printed nothing", script.display()))?
                        .trim(),
                )
            }
        };
        Ok(dir.join("dex"))
    })
    .await
    .cloned()
}
