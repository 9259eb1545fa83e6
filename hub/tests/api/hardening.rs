//! What the hub shows beyond an organization's own data (workers, `/metrics`), the HTML
//! pages' security headers, and password hashing kept off the async runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kubeworkz_hub::auth;
use kubeworkz_hub::pull::{PullConfig, PullSupervisor};
use kubeworkz_hub::store::Role;
use kubeworkz_hub::workers::Worker as _;
use sha2::{Digest, Sha256};

use crate::client::{Caller, Options, TestHub};
use crate::fixtures;

async fn worker_names(caller: &Caller) -> Vec<String> {
    let r = caller.get("/api/v1/k8s/workers/status").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn workers_and_metrics_show_no_other_organizations_clusters(hub: TestHub) {
    let store = hub.db.store.clone();
    let beta = store.ensure_organization("beta").await.unwrap().id;
    let alpha_cluster = fixtures::pull_cluster(&store, hub.default_org, "alpha").await;
    let beta_cluster = fixtures::pull_cluster(&store, beta, "bravo").await;
    // The real supervisor starts a collector per pull cluster; their sealed kubeconfigs are
    // not real, so each fails its first round and says so.
    let mut supervisor = PullSupervisor::new(
        store.clone(),
        hub.keyring.clone(),
        PullConfig {
            restart_after: Duration::from_secs(60),
            ..PullConfig::default()
        },
        hub.workers.clone(),
    );
    supervisor.tick().await.unwrap();
    // A hub-wide worker whose failure names a cluster, as the cost run's does.
    let cost = hub
        .workers
        .register("cost-allocation", Some(Duration::from_secs(3600)));
    cost.failure(&format!("cost run failed for {beta_cluster}: boom"));
    for _ in 0..100 {
        let failing = hub
            .workers
            .snapshot()
            .iter()
            .filter(|w| w.failures > 0)
            .count();
        if failing == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let alpha_admin = hub.admin().await;
    let beta_admin = hub.user("beta", "beta@example.com", Role::Admin).await;
    let seen_by_alpha = worker_names(&alpha_admin).await;
    let seen_by_beta = worker_names(&beta_admin).await;
    assert!(seen_by_alpha.contains(&format!("collector:{alpha_cluster}")));
    assert!(seen_by_beta.contains(&format!("collector:{beta_cluster}")));
    assert!(
        !seen_by_beta
            .iter()
            .any(|n| n.contains(&alpha_cluster.to_string())),
        "beta sees alpha's collector: {seen_by_beta:?}"
    );
    assert!(
        !seen_by_alpha
            .iter()
            .any(|n| n.contains(&beta_cluster.to_string())),
        "alpha sees beta's collector: {seen_by_alpha:?}"
    );
    let r = alpha_admin.get("/api/v1/k8s/workers/status").await;
    assert!(
        seen_by_alpha.contains(&"cost-allocation".to_owned()),
        "hub-wide workers show"
    );
    assert!(
        !r.text.contains(&beta_cluster.to_string()),
        "a hub-wide worker's error names beta's cluster: {}",
        r.text
    );
    let own = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == format!("collector:{alpha_cluster}"))
        .unwrap();
    assert!(
        own["last_error"]
            .as_str()
            .unwrap()
            .contains("sealed kubeconfig"),
        "an organization sees its own collector's error: {own}"
    );

    let metrics = hub.anonymous().get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for cluster in [alpha_cluster, beta_cluster] {
        assert!(
            !metrics.text.contains(&cluster.to_string()),
            "/metrics names cluster {cluster}: {}",
            metrics.text
        );
    }
    for org in [hub.default_org, beta] {
        assert!(!metrics.text.contains(&org.to_string()));
    }
    assert!(
        metrics
            .text
            .contains("kubeworkz_pull_collectors{state=\"running\"} 2"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("kubeworkz_pull_collectors_failing 2"));
    assert!(
        metrics
            .text
            .contains("kubeworkz_worker_failures_total{worker=\"cost-allocation\"} 1")
    );
    supervisor.stop().await;
}

pub async fn metrics_need_the_token_when_one_is_set(hub: TestHub) {
    let token = "metrics-scrape-token-1234";
    let options = Options {
        metrics_token: Some(token),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let r = hub.anonymous().get("/metrics").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error_code(), "unauthorized");
    let r = hub.bearer("metrics-scrape-token-123").get("/metrics").await;
    assert_eq!(r.status, 401, "a prefix of the token");
    assert!(!r.text.contains(token));
    let r = hub.bearer(token).get("/metrics").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("kubeworkz_build_info"));
    // Only /metrics: probes stay open.
    assert_eq!(hub.anonymous().get("/healthz").await.status, 200);
}

/// The SHA-256 CSP source of the text between `open` and `close` in `page`.
fn csp_hash(page: &str, open: &str, close: &str) -> String {
    let start = page.find(open).unwrap() + open.len();
    let end = start + page[start..].find(close).unwrap();
    let digest = Sha256::digest(&page[start..end]);
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

pub async fn html_pages_carry_the_security_headers(hub: TestHub) {
    let anyone = hub.anonymous();
    for path in ["/api/v1/docs", "/"] {
        let r = anyone.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        let header = |name: &str| {
            r.headers
                .get(name)
                .unwrap_or_else(|| panic!("{path} has no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
    }
    // The docs page's inline script and style run because the policy names their hashes,
    // and nothing else inline would.
    let docs = anyone.get("/api/v1/docs").await;
    let csp = docs.headers["content-security-policy"].to_str().unwrap();
    let script = csp_hash(&docs.text, "<script>", "</script>");
    let style = csp_hash(&docs.text, "<style>", "</style>");
    assert!(csp.contains(&format!("script-src {script}")), "{csp}");
    assert!(csp.contains(&format!("style-src {style}")), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Every other response is nosniff too.
    for path in [
        "/healthz",
        "/api/v1/k8s/clusters",
        "/api/v1/docs/openapi.json",
    ] {
        let r = anyone.get(path).await;
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
    }
}

/// One argon2id verification's time on this machine, now.
async fn argon2_time() -> Duration {
    tokio::task::spawn_blocking(|| {
        let hash = auth::hash_password("a-password-to-time-it-with").unwrap();
        let mut times: Vec<Duration> = (0..3)
            .map(|_| {
                let started = Instant::now();
                auth::verify_password("not-it", &hash);
                started.elapsed()
            })
            .collect();
        times.sort();
        times[1]
    })
    .await
    .unwrap()
}

pub async fn password_hashing_does_not_stall_other_requests(hub: TestHub) {
    // The test, its client and the hub share one current-thread runtime: argon2 run on it
    // would hold up everything, the health checks below included.
    let argon2 = argon2_time().await;
    let emails: Vec<String> = (0..16).map(|i| format!("nobody-{i}@example.com")).collect();
    let admin = hub.admin().await;
    let done = AtomicBool::new(false);
    let logins = async {
        let logins = futures::future::join_all(
            emails
                .iter()
                .map(|email| hub.try_login_from("127.0.0.12", email, "not-the-password")),
        )
        .await;
        done.store(true, Ordering::Relaxed);
        logins
    };
    let creation = admin.post(
        "/api/v1/users",
        serde_json::json!({"email": "new@example.com", "password": "a-long-enough-password",
            "role": "viewer"}),
    );
    let pings = async {
        let anyone = hub.anonymous();
        let mut slowest = Duration::ZERO;
        let mut pings = 0;
        while !done.load(Ordering::Relaxed) || pings < 10 {
            pings += 1;
            let started = Instant::now();
            assert_eq!(anyone.get("/healthz").await.status, 200);
            slowest = slowest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        slowest
    };
    let (logins, created, slowest) = tokio::join!(logins, creation, pings);
    for r in logins {
        assert_eq!(r.status, 401, "{}", r.text);
    }
    assert_eq!(created.status, 201, "{}", created.text);
    // On the runtime the 17 hashings would run one after another, and a health check
    // queued behind them would wait most of their sum.
    assert!(
        slowest < 4 * argon2,
        "a health check waited {slowest:?} beside 17 hashings of {argon2:?} each"
    );
}
