//! Agent-mode freshness: `cargo bench -p kubeworkz-hub --bench agent_freshness`.
//!
//! Every part real: a test cluster, the real `kubeworkz-agent run` (enrolled with a token
//! from the real CLI, credentials in a file), the real `kubeworkz-hub serve` on SQLite (or
//! `KW_DATABASE_URL`). `KW_SAMPLES` (default 300) times, one after another: create a
//! namespace through the apiserver, then poll the hub's store (every 2 ms) until its row is
//! there. Reports p50/p90/p99/max of write → row (goal: p99 < 1 s). The collector's batch
//! window (100 ms) is part of it by design.
//!
//! Needs the control plane binaries: `KUBEWORKZ_KUBE_BIN=$(bash tests/kube-tools/build.sh
//! --print-bin-dir)`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store::{self, Store};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{hub as common, real_agent};

async fn has_namespace(store: &Store, org: OrgId, cluster: ClusterId, name: &str) -> Result<bool> {
    Ok(store
        .inventory(org, cluster, ObjectKind::Namespace, true)
        .await?
        .iter()
        .any(|row| matches!(&row.object, Object::Namespace(n) if n.name == name)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> Result<()> {
    let samples: usize = std::env::var("KW_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cluster =
            TestCluster::start(ClusterSpec::new("fresh", vec![NodeSpec::new("node-a")])).await?;
        let dir = tempfile::tempdir()?;
        let db = std::env::var("KW_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("kubeworkz.db").display()));
        let mut hub = common::Hub::start(&db, &["--quic-listen", "127.0.0.1:0"], "info");
        let quic = hub.quic_addr()?;
        let created = common::token_create(&db, "fresh")?;
        let token = created["token"].as_str().context("token")?.to_owned();
        let env = vec![
            (
                "KUBECONFIG",
                cluster.kubeconfig_path().display().to_string(),
            ),
            ("KUBEWORKZ_HUB_ADDR", quic.to_string()),
            ("KUBEWORKZ_TOKEN", token),
            (
                "KUBEWORKZ_CREDENTIALS_FILE",
                dir.path().join("agent.json").display().to_string(),
            ),
            ("KUBEWORKZ_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
        ];
        let mut agent = real_agent::Agent::start(&env, &dir.path().join("agent.log"))?;
        agent
            .wait_log("enrolled with the hub", 1, Duration::from_secs(60))
            .await?;

        let store = store::connect(&db.parse::<DatabaseUrl>()?).await?;
        let (org, cluster_id) = common::default_org_cluster(&store, "fresh").await?;
        // The initial snapshot first.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !has_namespace(&store, org, cluster_id, "kube-system").await? {
            if Instant::now() > deadline {
                bail!("the initial snapshot never arrived: {}", agent.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let namespaces: Api<Namespace> = Api::all(cluster.client());
        let mut latencies = Vec::with_capacity(samples);
        for i in 0..samples {
            let name = format!("fresh-{i}");
            let namespace: Namespace =
                serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
            let started = Instant::now();
            namespaces
                .create(&PostParams::default(), &namespace)
                .await?;
            while !has_namespace(&store, org, cluster_id, &name).await? {
                if started.elapsed() > Duration::from_secs(30) {
                    bail!("{name} never reached the store");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            latencies.push(started.elapsed());
        }
        latencies.sort();
        println!(
            "apiserver write → hub store row, {samples} namespaces one at a time: p50 {:?}, \
             p90 {:?}, p99 {:?}, max {:?}",
            percentile(&latencies, 50.0),
            percentile(&latencies, 90.0),
            percentile(&latencies, 99.0),
            latencies[latencies.len() - 1],
        );
        agent.stop().await?;
        store.close().await;
        hub.stop()?;
        Ok(())
    })
}
