//! What the hub shows beyond an organization's own data: workers and `/metrics`.

use std::time::Duration;

use kubeworkz_hub::pull::{PullConfig, PullSupervisor};
use kubeworkz_hub::store::Role;
use kubeworkz_hub::workers::Worker as _;

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
    let alpha_cluster = fixtures::pull_cluster(&*store, hub.default_org, "alpha").await;
    let beta_cluster = fixtures::pull_cluster(&*store, beta, "bravo").await;
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
