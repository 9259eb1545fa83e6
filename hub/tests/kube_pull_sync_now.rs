//! "Sync now" against a real test cluster: `PullHandle::sync_now` restarts a pull-mode
//! collector with a full relist, so an object the store lost behind the collector's back (a
//! row soft-deleted by hand, which no watch event would ever repair) comes back, and the
//! cluster's namespace snapshot generation advances. The same through the store
//! (`Store::request_resync`), as a request served by another replica's API arrives.
//!
//! The pull supervisor runs in-process here (the same library `serve` runs), because the
//! handle is what the API will call and the CLI has no command for it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use kubeworkz_hub::pull::{EgressPolicy, PullConfig};
use kubeworkz_hub::store::Store;
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;

mod support;

use support::hub::{PullFixture, Supervised, eventually};

const PROBE: &str = "sync-now-probe";

async fn has_probe(store: &Store, org: OrgId, id: ClusterId) -> Result<bool> {
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

/// Soft-deletes the probe namespace's row by hand, as a store that lost it would look.
async fn lose_probe(db: &SqlitePool, id: ClusterId) -> Result<()> {
    let lost = sqlx::query(
        "UPDATE k8s_namespaces SET deleted_at = CURRENT_TIMESTAMP \
         WHERE cluster_id = ?1 AND name = ?2 AND deleted_at IS NULL",
    )
    .bind(id.to_string())
    .bind(PROBE)
    .execute(db)
    .await?;
    ensure!(lost.rows_affected() == 1, "the probe row was live");
    Ok(())
}

#[tokio::test]
async fn sync_now_forces_a_full_relist() -> Result<()> {
    let cluster =
        TestCluster::start(ClusterSpec::new("sync-now", vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace(PROBE).await?;

    let dir = tempfile::tempdir()?;
    let fixture =
        PullFixture::register(dir.path(), "sync-now", cluster.kubeconfig_yaml().to_owned()).await?;
    let (store, org, id) = (fixture.store.clone(), fixture.org, fixture.cluster.id);

    let Supervised {
        handle,
        workers,
        shutdown,
        running,
    } = fixture.supervise(PullConfig {
        refresh: Duration::from_millis(200),
        // The test cluster runs on loopback.
        egress: Arc::new(EgressPolicy::allowing_loopback()),
        ..PullConfig::default()
    });
    ensure!(
        !handle.sync_now(ClusterId::new()),
        "sync now of a cluster that is not collected here reports false"
    );

    eventually("the first sync", Duration::from_secs(90), || {
        has_probe(&store, org, id)
    })
    .await?;
    let db =
        SqlitePool::connect_with(SqliteConnectOptions::from_str(fixture.url.expose())?).await?;
    eventually(
        "the first namespace snapshot",
        Duration::from_secs(30),
        || async { Ok(namespace_generation(&db, id).await? >= 1) },
    )
    .await?;
    let generation_before = namespace_generation(&db, id).await?;

    // The store loses the namespace behind the collector's back: no watch event repairs that.
    lose_probe(&db, id).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure!(
        !has_probe(&store, org, id).await?,
        "without a relist the lost namespace stays lost (else this test proves nothing)"
    );
    ensure!(namespace_generation(&db, id).await? == generation_before);

    ensure!(handle.sync_now(id), "the cluster is collected here");
    eventually(
        "the relist to restore the namespace",
        Duration::from_secs(60),
        || has_probe(&store, org, id),
    )
    .await?;
    let generation_after = namespace_generation(&db, id).await?;
    ensure!(
        generation_after > generation_before,
        "a full relist starts a new namespace snapshot ({generation_before} → {generation_after})"
    );

    // Another replica's API cannot reach this collector: it records the request in the
    // store, and the supervisor collecting the cluster relists it at its next tick.
    let generation_before = generation_after;
    lose_probe(&db, id).await?;
    ensure!(!has_probe(&store, org, id).await?);
    ensure!(
        store.request_resync(org, id).await?,
        "the request is recorded"
    );
    eventually(
        "the relist the stored request asked for",
        Duration::from_secs(60),
        || has_probe(&store, org, id),
    )
    .await?;
    ensure!(namespace_generation(&db, id).await? > generation_before);
    eventually(
        "the request to be cleared",
        Duration::from_secs(10),
        || async {
            let links = store.agent_links(&[id]).await?;
            Ok(links
                .first()
                .is_some_and(|l| l.resync_requested_at.is_none()))
        },
    )
    .await?;

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
