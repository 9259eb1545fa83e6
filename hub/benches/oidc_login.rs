//! The hub's own part of a single sign-on: `cargo bench -p kubeworkz-hub --bench oidc_login`.
//!
//! A real Dex (kubeworkz_testkit::idp, its authproxy connector, so no password hashing at the
//! provider) and the hub's router on loopback over a fresh store. Each sign-in is the login
//! redirect and the callback (code exchange, ID token validation, provisioning on the first,
//! role from groups, session) driven like a browser; the hub's part of each is the time of its
//! two responses less what its `Server-Timing: idp` says it spent waiting for Dex (the code
//! exchange, and the first discovery). `KW_LOGINS` (200) sign-ins after `KW_WARMUP` (20), per
//! backend of `KW_BACKENDS` (`sqlite,postgres`; PostgreSQL from `DATABASE_URL`, or a
//! throwaway server). Prints p50/p90/p99/max of the hub's part and of the whole sign-in.
//! Goal: the hub's part under 50 ms.

use std::time::{Duration, Instant};

use kubeworkz_hub::auth::{self, Secret};
use kubeworkz_hub::pull::supervisor::PullHandle;
use kubeworkz_hub::seal::{Keyring, MasterKey};
use kubeworkz_hub::state::AppState;
use kubeworkz_hub::store::Store;
use kubeworkz_hub::workers::Workers;
use kubeworkz_testkit::idp::{Connector, Dex, DexSpec};

use crate::support::sso_browser::{Browser, Identity};

const ADMIN_EMAIL: &str = "bench@example.com";
const ADMIN_PASSWORD: &str = "bench-admin-password";

/// Serves the hub's router over `store` on a loopback port; returns its base URL.
async fn serve(store: Store) -> String {
    let state = AppState::new(
        store.clone(),
        Workers::new(),
        PullHandle::default(),
        Keyring::new(MasterKey::generate().0, vec![]),
    );
    common::serve(state).await
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| common::percentile(&samples, q);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<28} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (n={})",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(*samples.last().unwrap()),
        samples.len()
    );
}

async fn bench(backend: &str, logins: usize, warmup: usize) {
    let database = common::fresh_store(backend).await;
    let store = database.store.clone();
    auth::bootstrap_admin(
        &store,
        Some(ADMIN_EMAIL),
        Some(&Secret::new(ADMIN_PASSWORD.into())),
    )
    .await
    .expect("bootstrap admin");
    let base = serve(store).await;
    let callback = format!("{base}/api/v1/auth/oidc/callback");
    let dex = Dex::start(DexSpec::new(callback, Connector::HeaderProxy))
        .await
        .expect("dex");
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("csrf_token="))
        .unwrap()
        .to_owned();
    let provider: serde_json::Value = http
        .post(format!("{base}/api/v1/oidc-providers"))
        .header("cookie", cookies.join("; "))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({
            "name": "dex",
            "display_name": "Dex",
            "issuer": dex.issuer(),
            "client_id": dex.spec().client_id,
            "client_secret": dex.spec().client_secret,
            "scopes": ["email", "profile", "groups", "offline_access"],
            "default_role": "viewer",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let provider = provider["id"]
        .as_str()
        .expect("provider created")
        .to_owned();
    let mut hub = Vec::with_capacity(logins);
    let mut whole = Vec::with_capacity(logins);
    for i in 0..warmup + logins {
        // A new user every 10th sign-in: provisioning is part of the measured path too.
        let who = Identity::Proxy {
            user: format!("user{}@bench.io", i / 10),
            groups: "dev".into(),
        };
        let started = Instant::now();
        let signed = Browser::new(&base)
            .sign_in(&provider, &who)
            .await
            .expect("sign-in");
        if i >= warmup {
            whole.push(started.elapsed());
            hub.push(signed.hub_time);
        }
    }
    println!("{backend}:");
    percentiles("  hub's part (login+callback)", hub);
    percentiles("  whole sign-in (with Dex)", whole);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let logins = common::env("KW_LOGINS", 200).max(1);
    let warmup = common::env("KW_WARMUP", 20);
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for backend in backends.split(',') {
        runtime.block_on(bench(backend.trim(), logins, warmup));
    }
}

mod common;
#[path = "../tests/support/mod.rs"]
mod support;
