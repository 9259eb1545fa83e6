//! "Sync now" against a real test cluster: `PullHandle::sync_now` restarts a pull-mode
//! collector with a full relist, so an object the store lost behind the collector's back (a
//! row soft-deleted by hand, which no watch event would ever repair) comes back, and the
//! cluster's namespace snapshot generation advances.
//!
//! The pull supervisor runs in-process here (the same library `serve` runs), because the
//! handle is what the API will call and the CLI has no command for it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::pull::{self, PullConfig, PullSupervisor, Registration};
use kubeworkz_hub::seal::{Keyring, MasterKey};
use kubeworkz_hub::shutdown::Shutdown;
use kubeworkz_hub::store::{self, Environment, Store};
use kubeworkz_hub::workers::{self, Workers};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;

#[allow(dead_code)] // shared with the CLI tests; this one only polls
mod common;

use common::eventually;

const PROBE: &str = "sync-now-probe";

async fn has_probe(store: &dyn Store, org: OrgId, id: ClusterId) -> Result<bool> {
    Ok(store
        .inventory(org, id, ObjectKind::Namespace, true)
        .await?
        .into_iter()
        .any(|r| matches!(r.object, Object::Namespace(ns) if ns.name == PROBE)))
}

/// The namespace snapshot generation the store recorded for the cluster (0 before any).
async fn namespace_generation(db: &SqlitePool, id: ClusterId) -> Result<i64> {
    let generation: Option<(i64,)> = sqlx::query_as(
        "SELECT generation FROM k8s_snapshot_state WHERE cluster_id = ?1 AND kind = 'namespace'",
    )
    .bind(id.to_string())
    .fetch_optional(db)
    .await?;
    Ok(generation.map_or(0, |g| g.0))
}

#[tokio::test]
async fn sync_now_forces_a_full_relist() -> Result<()> {
    let cluster =
        TestCluster::start(ClusterSpec::new("sync-now", vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace(PROBE).await?;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("hub.db");
    let url = DatabaseUrl::from_str(&format!("sqlite://{}", path.display()))?;
    let store: Arc<dyn Store> = store::connect(&url).await?;
    let org = store
        .organization_by_name(store::DEFAULT_ORG)
        .await?
        .context("default org")?
        .id;
    let keyring = Keyring::new(MasterKey::generate().0, vec![]);
    let (registered, _) = pull::register(
        &*store,
        &keyring,
        Registration {
            org_id: org,
            name: "sync-now".into(),
            description: String::new(),
            environment: Environment::Development,
            tags: vec![],
            kubeconfig: cluster.kubeconfig_yaml().to_owned(),
            context: None,
            created_by: None,
        },
        pull::PROBE_TIMEOUT,
    )
    .await?;
    let id = registered.id;

    let workers = Workers::new();
    let shutdown = Shutdown::new();
    let supervisor = PullSupervisor::new(
        store.clone(),
        keyring,
        PullConfig {
            refresh: Duration::from_millis(200),
            ..PullConfig::default()
        },
        workers.clone(),
    );
    let handle = supervisor.handle();
    let running = workers::spawn(supervisor, &workers, shutdown.clone());
    ensure!(
        !handle.sync_now(ClusterId::new()),
        "sync now of a cluster that is not collected here reports false"
    );

    eventually("the first sync", Duration::from_secs(90), || {
        has_probe(&*store, org, id)
    })
    .await?;
    let db = SqlitePool::connect_with(SqliteConnectOptions::from_str(url.expose())?).await?;
    eventually(
        "the first namespace snapshot",
        Duration::from_secs(30),
        || async { Ok(namespace_generation(&db, id).await? >= 1) },
    )
    .await?;
    let generation_before = namespace_generation(&db, id).await?;

    // The store loses the namespace behind the collector's back: no watch event repairs that.
    let lost = sqlx::query(
        "UPDATE k8s_namespaces SET deleted_at = CURRENT_TIMESTAMP \
         WHERE cluster_id = ?1 AND name = ?2 AND deleted_at IS NULL",
    )
    .bind(id.to_string())
    .bind(PROBE)
    .execute(&db)
    .await?;
    ensure!(lost.rows_affected() == 1, "the probe row was live");
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure!(
        !has_probe(&*store, org, id).await?,
        "without a relist the lost namespace stays lost (else this test proves nothing)"
    );
    ensure!(namespace_generation(&db, id).await? == generation_before);

    ensure!(handle.sync_now(id), "the cluster is collected here");
    eventually(
        "the relist to restore the namespace",
        Duration::from_secs(60),
        || has_probe(&*store, org, id),
    )
    .await?;
    let generation_after = namespace_generation(&db, id).await?;
    ensure!(
        generation_after > generation_before,
        "a full relist starts a new namespace snapshot ({generation_before} → {generation_after})"
    );
    let status = workers
        .get(&format!("collector:{id}"))
        .context("collector status")?;
    ensure!(status.running && status.last_error.is_none(), "{status:?}");

    shutdown.trigger();
    running.await?;
    db.close().await;
    store.close().await;
    Ok(())
}
