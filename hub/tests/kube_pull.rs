//! Pull mode end to end, with the real `kubeworkz-hub` binary and two real clusters at once:
//! register both by kubeconfig with the CLI, let `serve` collect them, stop one apiserver (the
//! other keeps syncing; the broken one records its error and a Critical verdict), start it
//! again (it recovers). Then no part of any kubeconfig secret may appear in the database files
//! (the sealed column is ciphertext), the logs, or any CLI output or error. The workload and
//! quota kinds come through the same collector as in an agent.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, PostParams};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store::{self, Cluster, Store};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::model::HealthStatus;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};

mod support;

use support::hub::{Hub, eventually};

/// Runs a CLI command; returns (success, stdout + stderr).
fn cli(db: &str, args: &[&str]) -> (bool, String) {
    let (ok, stdout, stderr) = support::hub::cli(db, args);
    (ok, format!("{stdout}{stderr}"))
}

fn start_hub(db: &str) -> Hub {
    Hub::start(
        db,
        &[
            "--quic-listen",
            "127.0.0.1:0",
            "--pull-refresh-secs",
            "1",
            // The test clusters run on loopback.
            "--pull-allow-loopback",
        ],
        "debug,hyper=info,tower=info,rustls=info",
    )
}

async fn find(store: &Store, name: &str) -> Result<Cluster> {
    let org = store
        .organization_by_name("default")
        .await?
        .context("default org")?;
    store
        .list_clusters(org.id)
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .with_context(|| format!("cluster {name} not registered"))
}

async fn namespaces(store: &Store, cluster: &Cluster) -> Result<Vec<String>> {
    Ok(store
        .inventory(cluster.org_id, cluster.id, ObjectKind::Namespace, true)
        .await?
        .into_iter()
        .filter_map(|r| match r.object {
            Object::Namespace(ns) => Some(ns.name),
            _ => None,
        })
        .collect())
}

/// Every secret in a kubeconfig, as text that could leak: the base64 values, slices of them,
/// and the decoded PEM bodies' lines.
fn secrets_of(kubeconfig: &str) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(kubeconfig).unwrap();
    let mut secrets = Vec::new();
    for user in doc["users"].as_sequence().into_iter().flatten() {
        for field in ["client-key-data", "token", "client-certificate-data"] {
            let Some(value) = user["user"][field].as_str() else {
                continue;
            };
            secrets.push(value.to_owned());
            // 32-character windows catch a partial leak (a truncated or wrapped value).
            let chars: Vec<char> = value.chars().collect();
            for window in chars.chunks(32).filter(|w| w.len() == 32) {
                secrets.push(window.iter().collect());
            }
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(value) {
                let text = String::from_utf8_lossy(&decoded).into_owned();
                secrets.extend(
                    text.lines()
                        .filter(|l| l.len() >= 32 && !l.starts_with("-----"))
                        .map(str::to_owned),
                );
            }
        }
    }
    assert!(
        !secrets.is_empty(),
        "test clusters' kubeconfigs carry credentials"
    );
    secrets
}

fn assert_no_secret(what: &str, haystack: &[u8], secrets: &[String]) {
    let text = String::from_utf8_lossy(haystack);
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} contains part of a kubeconfig secret"
        );
    }
}

#[tokio::test]
async fn two_clusters_are_collected_and_one_outage_stays_isolated() -> Result<()> {
    let (a, b) = tokio::try_join!(
        TestCluster::start(ClusterSpec::new("pull-a", vec![NodeSpec::new("node-a")])),
        TestCluster::start(ClusterSpec::new("pull-b", vec![NodeSpec::new("node-b")])),
    )?;
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("hub.db");
    let db = format!("sqlite://{}", db_path.display());
    let mut outputs = Vec::new();

    // Registration refuses what it cannot use, with a clear error and nothing stored.
    let plugin = dir.path().join("exec.yaml");
    std::fs::write(
        &plugin,
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n\
         clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n\
         users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n",
    )?;
    let (ok, text) = cli(
        &db,
        &[
            "cluster",
            "add",
            "--pull-allow-loopback",
            "--name",
            "eks",
            "--kubeconfig",
            plugin.to_str().unwrap(),
        ],
    );
    assert!(!ok && text.contains("agent"), "{text}");
    outputs.push(text);
    let unreachable = dir.path().join("unreachable.yaml");
    std::fs::write(
        &unreachable,
        a.kubeconfig_yaml()
            .replace(&a.server_url(), "https://127.0.0.1:1"),
    )?;
    let (ok, text) = cli(
        &db,
        &[
            "cluster",
            "add",
            "--pull-allow-loopback",
            "--name",
            "down",
            "--kubeconfig",
            unreachable.to_str().unwrap(),
        ],
    );
    assert!(
        !ok && text.contains("connection test failed: 127.0.0.1:1: connection refused"),
        "{text}"
    );
    outputs.push(text);

    for (cluster, name) in [(&a, "pull-a"), (&b, "pull-b")] {
        let path = cluster.kubeconfig_path().to_str().unwrap().to_owned();
        let (ok, text) = cli(
            &db,
            &[
                "cluster",
                "add",
                "--pull-allow-loopback",
                "--name",
                name,
                "--env",
                "staging",
                "--tag",
                "ci",
                "--kubeconfig",
                &path,
            ],
        );
        assert!(ok, "{text}");
        assert!(text.contains(&format!("registered {name}")), "{text}");
        outputs.push(text);
    }
    let (ok, text) = cli(
        &db,
        &[
            "cluster",
            "add",
            "--pull-allow-loopback",
            "--name",
            "pull-a",
            "--kubeconfig",
            a.kubeconfig_path().to_str().unwrap(),
        ],
    );
    assert!(!ok && text.contains("already exists"), "{text}");
    outputs.push(text);

    let url: DatabaseUrl = db.parse()?;
    let store = store::connect(&url).await?;
    let hub = start_hub(&db);
    let (ca, cb) = (find(&store, "pull-a").await?, find(&store, "pull-b").await?);
    assert_eq!(cb.provider.as_deref(), Some("vanilla"));
    assert!(
        cb.api_server_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://127.0.0.1:"))
    );

    // Both are collected.
    for (cluster, name) in [(&a, "seen-in-a"), (&b, "seen-in-b")] {
        cluster.create_namespace(name).await?;
    }
    for (row, name) in [(&ca, "seen-in-a"), (&cb, "seen-in-b")] {
        eventually(
            &format!("{name} in the store"),
            Duration::from_secs(60),
            || async { Ok(namespaces(&store, row).await?.iter().any(|n| n == name)) },
        )
        .await?;
    }

    // The workload kinds come through the same collector: a CronJob made in B is stored.
    let cron: CronJob = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 2 * * *", "suspend": true, "jobTemplate": {"spec": {"template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "r", "image": "report:2"}]}}}}},
    }))?;
    Api::<CronJob>::namespaced(b.client(), "seen-in-b")
        .create(&PostParams::default(), &cron)
        .await?;
    eventually(
        "B's CronJob in the store",
        Duration::from_secs(60),
        || async {
            let rows = store
                .inventory(cb.org_id, cb.id, ObjectKind::CronJob, true)
                .await?;
            Ok(rows.iter().any(
                |r| matches!(&r.object, Object::CronJob(c) if c.name == "nightly" && c.suspend),
            ))
        },
    )
    .await?;
    // So does a ResourceQuota, with the use the quota controller counted.
    let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "objects"},
        "spec": {"hard": {"count/cronjobs.batch": "4"}},
    }))?;
    Api::<ResourceQuota>::namespaced(b.client(), "seen-in-b")
        .create(&PostParams::default(), &quota)
        .await?;
    eventually(
        "B's quota in the store, counted",
        Duration::from_secs(60),
        || async {
            let rows = store
                .inventory(cb.org_id, cb.id, ObjectKind::ResourceQuota, true)
                .await?;
            Ok(rows.iter().any(|r| {
                matches!(&r.object, Object::ResourceQuota(q) if q.name == "objects"
                    && q.resources.iter().any(|r| r.resource == "count/cronjobs.batch"
                        && r.hard_milli == 4000 && r.used_milli == Some(1000)))
            }))
        },
    )
    .await?;

    // A's apiserver goes away: A records its error and a Critical verdict; B keeps syncing.
    a.stop_apiserver();
    eventually(
        "A's error and Critical health",
        Duration::from_secs(90),
        || async {
            let row = find(&store, "pull-a").await?;
            Ok(row.last_error.is_some()
                && row
                    .health
                    .as_ref()
                    .is_some_and(|h| h.status == HealthStatus::Critical))
        },
    )
    .await?;
    let broken = find(&store, "pull-a").await?;
    assert!(
        broken
            .last_error
            .as_deref()
            .unwrap()
            .contains("apiserver not ready"),
        "{broken:?}"
    );
    b.create_namespace("during-outage").await?;
    eventually(
        "B syncing during A's outage",
        Duration::from_secs(60),
        || async {
            Ok(namespaces(&store, &cb)
                .await?
                .iter()
                .any(|n| n == "during-outage"))
        },
    )
    .await?;

    // A comes back and recovers by itself.
    a.start_apiserver().await?;
    a.create_namespace("after-recovery").await?;
    eventually("A recovered", Duration::from_secs(120), || async {
        let row = find(&store, "pull-a").await?;
        Ok(namespaces(&store, &row)
            .await?
            .iter()
            .any(|n| n == "after-recovery")
            && row.last_error.is_none()
            && row
                .health
                .as_ref()
                .is_some_and(|h| h.status != HealthStatus::Critical))
    })
    .await?;
    let (ok, text) = cli(&db, &["cluster", "list"]);
    assert!(
        ok && text.contains("pull-a") && text.contains("pull-b"),
        "{text}"
    );
    outputs.push(text);

    // SIGTERM: the hub stops its collectors and exits 0.
    let log = hub.stop()?;
    store.close().await;

    // Key rotation re-seals both kubeconfigs; the old key stays able to open older blobs.
    let (ok, text) = cli(&db, &["keys", "rotate"]);
    assert!(ok && text.contains("2 kubeconfig(s) re-sealed"), "{text}");
    outputs.push(text);
    let store = store::connect(&url).await?;
    let (keyring, _) = kubeworkz_hub::keys::KeyConfig {
        master_key_file: None,
    }
    .load(&url)?;
    for target in store.pull_targets(true).await? {
        assert_eq!(target.kubeconfig.key_id, keyring.current_id().to_string());
    }
    store.close().await;

    // No secret anywhere but the sealed column.
    assert!(log.contains("starting pull collector"), "{log}");
    let secrets: Vec<String> = [a.kubeconfig_yaml(), b.kubeconfig_yaml()]
        .iter()
        .flat_map(|k| secrets_of(k))
        .collect();
    assert_no_secret("the hub's log", log.as_bytes(), &secrets);
    for output in &outputs {
        assert_no_secret("CLI output", output.as_bytes(), &secrets);
    }
    for file in std::fs::read_dir(dir.path())? {
        let path = file?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("hub.db"))
        {
            assert_no_secret(
                &path.display().to_string(),
                &std::fs::read(&path)?,
                &secrets,
            );
        }
    }
    assert!(Path::new(&db_path).exists());
    Ok(())
}
