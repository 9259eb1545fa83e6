//! Agent mode with every real part: a real test cluster with the agent chart applied, the
//! real `kubeworkz-hub serve` (SQLite), a token from the real `token create`, and the real
//! `kubeworkz-agent run` authenticated as the chart's ServiceAccount, keeping its credentials
//! in the chart's Secret. The hub's store follows creates, scales and deletes; an agent
//! restart does not re-enroll and its full sync applies deletions made while it was down; a
//! hub restart is resumed; "sync now" recorded in the store reaches the agent as `ResyncNow`
//! and starts a new epoch; `cluster disable` from the CLI (another process) closes the live
//! session within seconds and the agent is refused; after `cluster enable` its revoked
//! certificate is still refused (the agent logs that it must be re-enrolled), and a new
//! token given to the restarted agent brings it back. No token secret or private key shows
//! in any log.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store::{self, Store};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_testkit::chart;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde_json::json;

mod support;

use support::hub::{Hub, cli, default_org_cluster, token_create};
use support::real_agent::{self, Agent};

const WAIT: Duration = Duration::from_secs(60);
const APPS: &str = "apps";

fn deployment(name: &str, replicas: i32) -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }))?)
}

async fn scale(deploys: &Api<Deployment>, name: &str, replicas: i32) -> Result<()> {
    let patch = json!({"spec": {"replicas": replicas}});
    deploys
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// Live deployments of the `apps` namespace in the store: name → desired replicas.
async fn stored_deployments(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
) -> Result<BTreeMap<String, u32>> {
    Ok(store
        .inventory(org, cluster, ObjectKind::Deployment, true)
        .await?
        .into_iter()
        .filter_map(|row| match row.object {
            Object::Deployment(d) if d.namespace == APPS => Some((d.name, d.replicas.desired)),
            _ => None,
        })
        .collect())
}

/// Live pods of the `apps` namespace in the store.
async fn stored_pods(store: &Store, org: OrgId, cluster: ClusterId) -> Result<usize> {
    Ok(store
        .inventory(org, cluster, ObjectKind::Pod, true)
        .await?
        .into_iter()
        .filter(|row| matches!(&row.object, Object::Pod(p) if p.namespace == APPS))
        .count())
}

/// Waits until the store holds exactly `want` deployments (and `pods` pods) in `apps`.
async fn store_shows(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    want: &[(&str, u32)],
    pods: usize,
) -> Result<Duration> {
    let want: BTreeMap<String, u32> = want.iter().map(|(n, r)| (n.to_string(), *r)).collect();
    let started = Instant::now();
    loop {
        let got = stored_deployments(store, org, cluster).await?;
        let got_pods = stored_pods(store, org, cluster).await?;
        if got == want && got_pods == pods {
            return Ok(started.elapsed());
        }
        if started.elapsed() > WAIT {
            bail!("store never showed {want:?} with {pods} pods; last {got:?} with {got_pods}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_on_a_real_cluster_feeds_the_hub_through_restarts_and_a_disable() -> Result<()>
{
    let cluster = TestCluster::start(ClusterSpec::new(
        "agent-e2e",
        vec![NodeSpec::new("node-a"), NodeSpec::new("node-b")],
    ))
    .await?;
    cluster.create_namespace(chart::NAMESPACE).await?;
    cluster.create_namespace(APPS).await?;

    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start(&db, &["--quic-listen", "127.0.0.1:0"], "info");
    let quic = hub.quic_addr()?;

    let created = token_create(&db, "e2e")?;
    let token = created["token"].as_str().context("token")?.to_owned();
    let token_secret = token.split('.').nth(2).context("secret part")?.to_owned();
    let token_id = created["id"].as_str().context("id")?.to_owned();

    // The chart as an operator installs it (its Deployment's pod is KWOK's, not ours): the
    // agent runs as its ServiceAccount, with its credentials Secret.
    let (agent, env) = real_agent::from_chart(
        &cluster,
        dir.path(),
        quic,
        &token,
        "logs,events,objects",
        &[("helm.releases.enabled", "false")],
    )
    .await?;
    let agent_log = dir.path().join("agent.log");

    let url: DatabaseUrl = db.parse()?;
    let store = store::connect(&url).await?;
    let (org, cluster_id) = default_org_cluster(&store, "e2e").await?;

    // The credentials are in the chart's Secret, for the cluster the hub created.
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), chart::NAMESPACE);
    let stored = secrets
        .get(chart::CREDENTIALS_SECRET)
        .await?
        .data
        .context("credentials stored")?;
    assert_eq!(
        stored.get("cluster-id").map(|v| v.0.clone()),
        Some(cluster_id.to_string().into_bytes())
    );
    let key_der = stored.get("tls.key").context("key stored")?.0.clone();

    // Creates, scales, deletes.
    let deploys: Api<Deployment> = Api::namespaced(cluster.client(), APPS);
    let post = PostParams::default();
    deploys.create(&post, &deployment("web", 2)?).await?;
    deploys.create(&post, &deployment("api", 1)?).await?;
    store_shows(&store, org, cluster_id, &[("api", 1), ("web", 2)], 3).await?;
    scale(&deploys, "web", 4).await?;
    store_shows(&store, org, cluster_id, &[("api", 1), ("web", 4)], 5).await?;
    deploys.delete("api", &DeleteParams::foreground()).await?;
    store_shows(&store, org, cluster_id, &[("web", 4)], 4).await?;

    // Agent restart: no re-enrollment; what was deleted meanwhile disappears by the full sync.
    agent.stop().await?;
    deploys.delete("web", &DeleteParams::foreground()).await?;
    deploys.create(&post, &deployment("batch", 1)?).await?;
    let mut agent = Agent::start(&env, &agent_log)?;
    agent.wait_log("using stored credentials", 1, WAIT).await?;
    store_shows(&store, org, cluster_id, &[("batch", 1)], 1).await?;
    assert_eq!(agent.log().matches("enrolled with the hub").count(), 1);
    assert!(
        !agent.log().contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
    let (ok, listed, err) = cli(&db, &["token", "list"]);
    assert!(ok, "{listed}{err}");
    let row = listed
        .lines()
        .find(|l| l.starts_with(&token_id))
        .context("token listed")?;
    assert!(
        row.split_whitespace().any(|cell| cell == "1"),
        "one use: {row}"
    );

    // Hub restart: the agent resumes its stream; changes made meanwhile arrive.
    let first_hub_log = hub.stop()?;
    scale(&deploys, "batch", 2).await?;
    let mut hub = Hub::start(&db, &["--quic-listen", &quic.to_string()], "info");
    assert_eq!(hub.quic_addr()?, quic);
    agent.wait_log("\"resumed\":true", 1, WAIT).await?;
    store_shows(&store, org, cluster_id, &[("batch", 2)], 2).await?;

    // Sync now, requested in the store by another process (as the API does, on whichever
    // replica answers): the hub holding the connection sends `ResyncNow`, the agent relists
    // in a new epoch, and the request is cleared once delivered.
    let epoch = |c: Option<store::AgentCluster>| c.and_then(|c| c.cursor).map(|c| c.epoch);
    let epoch_before = epoch(store.agent_cluster(cluster_id).await?);
    assert!(store.request_resync(org, cluster_id).await?);
    let deadline = Instant::now() + WAIT;
    loop {
        let new_epoch = epoch(store.agent_cluster(cluster_id).await?) != epoch_before;
        let links = store.agent_links(&[cluster_id]).await?;
        let cleared = links
            .first()
            .is_some_and(|l| l.resync_requested_at.is_none());
        if new_epoch && cleared {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "no resync (new epoch {new_epoch}, cleared {cleared}): {}",
                hub.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(hub.log().contains("resync requested of the agent"));
    store_shows(&store, org, cluster_id, &[("batch", 2)], 2).await?;

    // Disabled from the CLI (another process): the live session closes within seconds, and
    // the agent's reconnects are refused.
    let lost_before = agent.log().matches("hub connection lost").count();
    let (ok, out, err) = cli(&db, &["cluster", "disable", "e2e"]);
    assert!(ok, "{out}{err}");
    let disabled_at = Instant::now();
    agent
        .wait_log("hub connection lost", lost_before + 1, WAIT)
        .await?;
    let closed_after = disabled_at.elapsed();
    assert!(
        closed_after < Duration::from_secs(8),
        "closed after {closed_after:?}"
    );
    agent
        .wait_log("the hub refused this agent's certificate", 1, WAIT)
        .await?;
    assert!(hub.log().contains("cluster is disabled"), "{}", hub.log());
    assert!(
        agent.log().contains("cluster is disabled"),
        "{}",
        agent.log()
    );

    // Enabled again: disabling revoked the certificate, so the agent is refused until it
    // enrolls again, and says so (its spent install token cannot enroll it).
    let (ok, out, err) = cli(&db, &["cluster", "enable", "e2e"]);
    assert!(ok, "{out}{err}");
    agent
        .wait_log("certificate revoked: re-enroll with a new token", 1, WAIT)
        .await?;
    // The operator's way back: a new token, given to the agent (as `helm upgrade --set
    // token=…` does, restarting it): the stored certificate is refused, the token enrolls the
    // same cluster, and a full sync follows.
    agent.stop().await?;
    let renewed = token_create(&db, "e2e")?;
    let new_token = renewed["token"].as_str().context("token")?.to_owned();
    let new_secret = new_token
        .split('.')
        .nth(2)
        .context("secret part")?
        .to_owned();
    let env: Vec<_> = env
        .into_iter()
        .map(|(k, v)| match k {
            "KUBEWORKZ_TOKEN" => (k, new_token.clone()),
            _ => (k, v),
        })
        .collect();
    let mut agent = Agent::start(&env, &agent_log)?;
    agent
        .wait_log("enrolled again with the configured token", 1, WAIT)
        .await?;
    deploys.create(&post, &deployment("late", 1)?).await?;
    store_shows(&store, org, cluster_id, &[("batch", 2), ("late", 1)], 3).await?;

    // The spent token, presented by a second agent without credentials, is refused: that agent
    // says why and exits instead of retrying.
    let refused_log = dir.path().join("refused.log");
    let second = std::process::Command::new(real_agent::agent_binary()?)
        .arg("run")
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .env("KUBEWORKZ_HUB_ADDR", quic.to_string())
        .env("KUBEWORKZ_TOKEN", &token)
        .env("KUBEWORKZ_CREDENTIALS_FILE", dir.path().join("second.json"))
        .env("KUBEWORKZ_ADMIN_LISTEN", "127.0.0.1:0")
        .env("KUBEWORKZ_LOG_FORMAT", "text")
        .stderr(std::fs::File::create(&refused_log)?)
        .status()?;
    let refused = std::fs::read_to_string(&refused_log)?;
    assert_eq!(second.code(), Some(1), "{refused}");
    assert!(
        refused.contains("enrollment refused by the hub: enrollment token was already used"),
        "{refused}"
    );
    assert!(!refused.contains(&token_secret), "{refused}");

    agent.stop().await?;
    store.close().await;
    let second_hub_log = hub.stop()?;
    let agent_log = std::fs::read_to_string(&agent_log)?;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(&key_der);
    for (name, log) in [
        ("hub", &first_hub_log),
        ("restarted hub", &second_hub_log),
        ("agent", &agent_log),
    ] {
        assert!(
            !log.contains(&token_secret) && !log.contains(&new_secret),
            "a token secret is in the {name} log"
        );
        assert!(!log.contains(&token), "the token is in the {name} log");
        assert!(
            !log.contains(&key_b64[..40]),
            "the private key is in the {name} log"
        );
    }
    println!("session closed {closed_after:?} after `cluster disable`");
    Ok(())
}
