//! Single sign-on in a real browser: the real `kubeworkz-hub serve` (the UI embedded in it), a
//! real Dex (kubeworkz_testkit::idp, its own login form) and `hub/ui/e2e/sso.mjs` driving
//! Debian's Chromium through playwright-core: the login page's "Sign in with …" buttons, Dex's
//! form, the signed-in banner with the role the provider's settings give, logout, and a
//! refused sign-in explained in words. No Kubernetes cluster is needed. Screenshots land in
//! `target/ui-screenshots/`.
//!
//! Needs `node` and `npm ci` in `hub/ui` (`tests/run.sh` does both) and `/usr/bin/chromium`
//! (or `CHROMIUM`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use kubeworkz_testkit::idp::{Connector, Dex, DexSpec, StaticUser};
use serde_json::json;

use support::hub::Hub;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "sso-e2e-admin-password";
const SSO_EMAIL: &str = "ann@example.com";
const SSO_PASSWORD: &str = "ann-dex-password";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the hub crate sits in the workspace")
        .to_path_buf()
}

/// Adds a provider to the admin's organization over the API.
async fn add_provider(
    http: &reqwest::Client,
    url: &str,
    cookies: &str,
    csrf: &str,
    body: serde_json::Value,
) -> Result<()> {
    let r = http
        .post(format!("{url}/api/v1/oidc-providers"))
        .header("cookie", cookies)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await?;
    if r.status() != 201 {
        bail!("adding a provider: {} {}", r.status(), r.text().await?);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_identity_provider_in_a_browser() -> Result<()> {
    let ui = workspace_root().join("hub/ui");
    if !ui.join("node_modules/playwright-core").is_dir() {
        bail!("run `npm ci` in {} first (tests/run.sh does)", ui.display());
    }
    let shots = workspace_root().join("target/ui-screenshots");
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start_with_admin(&db, ADMIN_EMAIL, ADMIN_PASSWORD);
    let url = hub.api_url()?;
    let users = vec![StaticUser {
        email: SSO_EMAIL.into(),
        password: SSO_PASSWORD.into(),
        user_id: "ann".into(),
    }];
    let callback = format!("{url}/api/v1/auth/oidc/callback");
    let dex = Dex::start(DexSpec::new(callback, Connector::Passwords(users))).await?;

    let http = reqwest::Client::new();
    let login = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await?;
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| Some(c.to_str().ok()?.split(';').next()?.to_owned()))
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("csrf_token="))
        .context("csrf cookie")?
        .to_owned();
    let cookies = cookies.join("; ");
    let provider = |name: &str, display: &str, default_role: Option<&str>| {
        json!({
            "name": name,
            "display_name": display,
            "issuer": dex.issuer(),
            "client_id": dex.spec().client_id,
            "client_secret": dex.spec().client_secret,
            "default_role": default_role,
        })
    };
    let allowed = provider("dex", "Dex", Some("viewer"));
    add_provider(&http, &url, &cookies, &csrf, allowed).await?;
    // The same Dex again, but no role for anyone: its sign-ins are refused.
    let refused = provider("dex-closed", "Closed Dex", None);
    add_provider(&http, &url, &cookies, &csrf, refused).await?;

    let status = Command::new("node")
        .arg("e2e/sso.mjs")
        .current_dir(&ui)
        .env("HUB_URL", &url)
        .env("SSO_EMAIL", SSO_EMAIL)
        .env("SSO_PASSWORD", SSO_PASSWORD)
        .env("ALLOWED_PROVIDER", "Dex")
        .env("REFUSED_PROVIDER", "Closed Dex")
        .env("SCREENSHOT_DIR", &shots)
        .stdin(Stdio::null())
        .status()
        .context("running node (install Node.js 20+)")?;
    if !status.success() {
        bail!(
            "the browser walk failed ({status}); hub log:\n{}\ndex log:\n{}",
            hub.log(),
            dex.log()
        );
    }
    for shot in ["sso-login", "sso-signed-in", "sso-refused"] {
        let path = shots.join(format!("{shot}.png"));
        let size = std::fs::metadata(&path)
            .with_context(|| format!("screenshot {}", path.display()))?
            .len();
        assert!(size > 1000, "{} is a real image", path.display());
    }
    let log = hub.stop()?;
    assert!(
        !log.contains(&dex.spec().client_secret) && !log.contains(SSO_PASSWORD),
        "no secret in the hub's log"
    );
    Ok(())
}
