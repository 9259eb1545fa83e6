//! Pull-mode sharding across hub replicas, with three real `kubeworkz-hub serve` processes on
//! one throwaway PostgreSQL database and six pull-mode registrations of one real (KWOK)
//! cluster: each registration is collected by exactly one replica (the store's leases say
//! which; the replicas' logs and `/readyz` agree), and after `kill -9` of the replica holding
//! the most, the survivors take its clusters over and keep collecting; after SIGTERM of
//! another the last takes everything, and when it stops no lease stays held. The takeover
//! time is printed for docs/benchmarks.md, not asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::pull::shard;
use kubeworkz_hub::store::{self, Cluster, Lease, Store};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use kubeworkz_testkit::postgres::TestDatabase;

mod support;

use support::hub::{E2E_ARGS, Hub, eventually, login_session};

const REGISTRATIONS: usize = 6;
const REPLICAS: usize = 3;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

fn start_replica(db: &str, id: &str) -> Hub {
    Hub::start_with_env(
        db,
        &E2E_ARGS,
        "info",
        &[
            ("KUBEWORKZ_ADMIN_EMAIL", ADMIN_EMAIL),
            ("KUBEWORKZ_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KUBEWORKZ_REPLICA_ID", id),
        ],
    )
}

/// `collected_by` of the cluster's detail, as the API of `hub` answers it.
async fn collected_by(hub: &mut Hub, cluster: &Cluster) -> Result<serde_json::Value> {
    let base = hub.api_url()?;
    let session = login_session(&base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let detail: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/k8s/clusters/{}", cluster.id))
        .header("cookie", session)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(detail["collected_by"].clone())
}

/// Cluster id → holder of its `pull:` lease, for every held one.
async fn holders(store: &Store) -> Result<BTreeMap<String, String>> {
    let leases: Vec<Lease> = store.held_leases("pull:").await?;
    Ok(leases
        .into_iter()
        .map(|l| (l.name.trim_start_matches("pull:").to_owned(), l.holder))
        .collect())
}

/// The clusters whose collector the replica's log says is running: started and not
/// stopped since.
fn collecting(log: &str) -> BTreeSet<String> {
    let mut running = BTreeSet::new();
    for line in log.lines() {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let message = json["message"].as_str().unwrap_or_default();
        let Some(cluster) = json["cluster_id"].as_str() else {
            continue;
        };
        match message {
            "starting pull collector" => {
                running.insert(cluster.to_owned());
            }
            "stopping pull collector" => {
                running.remove(cluster);
            }
            _ => {}
        }
    }
    running
}

async fn has_namespace(store: &Store, cluster: &Cluster, name: &str) -> Result<bool> {
    Ok(store
        .inventory(cluster.org_id, cluster.id, ObjectKind::Namespace, true)
        .await?
        .into_iter()
        .any(|r| matches!(r.object, Object::Namespace(ns) if ns.name == name)))
}

/// Every registration holds namespace `name` in the store.
async fn all_collected(store: &Store, clusters: &[Cluster], name: &str) -> Result<()> {
    eventually(
        &format!("{name} collected from every registration"),
        Duration::from_secs(90),
        || async {
            for cluster in clusters {
                if !has_namespace(store, cluster, name).await? {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
    .await
}

/// Each registration is held by exactly one of `alive`, and that replica's log (and no other
/// live one's) says it runs the collector.
fn one_collector_each(
    held: &BTreeMap<String, String>,
    clusters: &[Cluster],
    alive: &BTreeMap<String, &Hub>,
) -> Result<()> {
    for cluster in clusters {
        let id = cluster.id.to_string();
        let holder = held
            .get(&id)
            .with_context(|| format!("{id} has no holder"))?;
        ensure!(
            alive.contains_key(holder),
            "{id} held by {holder}, not alive"
        );
        let running: Vec<&String> = alive
            .iter()
            .filter(|(_, hub)| collecting(&hub.log()).contains(&id))
            .map(|(name, _)| name)
            .collect();
        ensure!(
            running == [holder],
            "{id}: held by {holder}, collectors on {running:?}"
        );
    }
    Ok(())
}

async fn readyz(hub: &mut Hub) -> Result<serde_json::Value> {
    let url = format!("{}/readyz", hub.api_url()?);
    Ok(reqwest::get(&url).await?.error_for_status()?.json().await?)
}

#[tokio::test]
async fn each_pull_cluster_has_one_collector_and_a_dead_replicas_clusters_are_taken_over()
-> Result<()> {
    let cluster =
        TestCluster::start(ClusterSpec::new("shared", vec![NodeSpec::new("node-a")])).await?;
    let database = TestDatabase::create().await?;
    let db = database.url().to_owned();
    let kubeconfig = cluster.kubeconfig_path().to_str().unwrap().to_owned();
    for i in 0..REGISTRATIONS {
        let name = format!("shard-{i}");
        let (ok, stdout, stderr) = support::hub::cli(
            &db,
            &[
                "cluster",
                "add",
                "--pull-allow-loopback",
                "--name",
                &name,
                "--kubeconfig",
                &kubeconfig,
            ],
        );
        ensure!(ok, "{stdout}{stderr}");
    }
    let url: DatabaseUrl = db.parse()?;
    let store = store::connect(&url).await?;
    let org = store
        .organization_by_name("default")
        .await?
        .context("default org")?;
    let clusters = store.list_clusters(org.id).await?;
    assert_eq!(clusters.len(), REGISTRATIONS);

    let names: Vec<String> = (0..REPLICAS).map(|i| format!("replica-{i}")).collect();
    // The first creates the admin before the others start (they find it).
    let mut hubs: BTreeMap<String, Hub> = BTreeMap::new();
    for name in &names {
        let mut hub = start_replica(&db, name);
        hub.api_url()?;
        hubs.insert(name.clone(), hub);
    }

    // Steady state: every registration held by the replica rendezvous hashing names among
    // the three (the first took them all before the others started, and gave back theirs),
    // collecting, and nothing else.
    eventually(
        "one collector per registration, on its hashed replica",
        Duration::from_secs(60),
        || async {
            let held = holders(&store).await?;
            let balanced = clusters.iter().all(|c| {
                held.get(&c.id.to_string()).map(String::as_str) == shard::owner(c.id, &names)
            });
            if !balanced {
                // Shown only when the test fails: who held what at each look.
                println!("not yet balanced: {held:?}");
                return Ok(false);
            }
            let alive: BTreeMap<String, &Hub> = hubs.iter().map(|(n, h)| (n.clone(), h)).collect();
            let verdict = one_collector_each(&held, &clusters, &alive);
            if let Err(err) = &verdict {
                println!("not yet: {err}");
            }
            Ok(verdict.is_ok())
        },
    )
    .await?;
    cluster.create_namespace("before-the-kill").await?;
    all_collected(&store, &clusters, "before-the-kill").await?;
    let held = holders(&store).await?;
    let mut per_replica: BTreeMap<String, usize> = BTreeMap::new();
    for holder in held.values() {
        *per_replica.entry(holder.clone()).or_default() += 1;
    }
    println!("pull clusters per replica before the kill: {per_replica:?}");
    for (name, hub) in &mut hubs {
        let ready = readyz(hub).await?;
        assert_eq!(ready["replica"], name.as_str());
        assert_eq!(
            ready["pull_clusters"],
            per_replica.get(name).copied().unwrap_or(0)
        );
    }

    // kill -9 of the replica holding the most: no goodbye, its leases lapse.
    let victim = per_replica
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(name, _)| name.clone())
        .context("someone holds the clusters")?;
    let orphans: Vec<String> = held
        .iter()
        .filter(|(_, holder)| **holder == victim)
        .map(|(cluster, _)| cluster.clone())
        .collect();
    let mut dead = hubs.remove(&victim).unwrap();
    dead.child.kill()?;
    dead.child.wait()?;
    let killed = Instant::now();
    let mut taken = BTreeMap::new();
    while taken.len() < orphans.len() {
        ensure!(
            killed.elapsed() < Duration::from_secs(90),
            "not taken over: {orphans:?}, taken {taken:?}"
        );
        let held = holders(&store).await?;
        for orphan in &orphans {
            if let Some(holder) = held.get(orphan).filter(|h| **h != victim)
                && !taken.contains_key(orphan)
            {
                taken.insert(orphan.clone(), (holder.clone(), killed.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slowest = taken.values().map(|(_, t)| *t).max().unwrap_or_default();
    println!(
        "takeover after kill -9 of {victim} ({} clusters): last taken after {:.1} s; {:?}",
        orphans.len(),
        slowest.as_secs_f64(),
        taken
            .values()
            .map(|(h, t)| format!("{h} {:.1}s", t.as_secs_f64()))
            .collect::<Vec<_>>()
    );

    // The survivors collect everything, one collector each.
    cluster.create_namespace("after-the-kill").await?;
    all_collected(&store, &clusters, "after-the-kill").await?;
    let held = holders(&store).await?;
    let alive: BTreeMap<String, &Hub> = hubs.iter().map(|(n, h)| (n.clone(), h)).collect();
    one_collector_each(&held, &clusters, &alive)?;
    let mut collected_here = 0;
    for (name, hub) in &mut hubs {
        let ready = readyz(hub).await?;
        assert_eq!(ready["replica"], name.as_str());
        collected_here += ready["pull_clusters"].as_u64().unwrap_or(0);
        // Any replica's API names the collecting replica of any cluster.
        for cluster in &clusters {
            let holder = &held[&cluster.id.to_string()];
            assert_eq!(collected_by(hub, cluster).await?, holder.as_str());
        }
    }
    assert_eq!(collected_here, REGISTRATIONS as u64);

    // SIGTERM of one survivor: it gives its leases back and leaves the live set, so the last
    // replica takes everything without waiting for a TTL.
    let (leaving, staying) = {
        let mut names = hubs.keys().cloned();
        (names.next().unwrap(), names.next().unwrap())
    };
    hubs.remove(&leaving).unwrap().stop()?;
    let stopped = Instant::now();
    eventually(
        "the last replica holds every cluster",
        Duration::from_secs(60),
        || async {
            let held = holders(&store).await?;
            Ok(clusters
                .iter()
                .all(|c| held.get(&c.id.to_string()) == Some(&staying)))
        },
    )
    .await?;
    println!(
        "handover after SIGTERM of {leaving}: every cluster on {staying} after {:.1} s",
        stopped.elapsed().as_secs_f64()
    );
    cluster.create_namespace("after-the-handover").await?;
    all_collected(&store, &clusters, "after-the-handover").await?;

    // The last one stopping cleanly leaves nothing held.
    for (_, hub) in hubs {
        hub.stop()?;
    }
    assert_eq!(store.held_leases("").await?, vec![]);
    store.close().await;
    Ok(())
}
