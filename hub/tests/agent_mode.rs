//! Agent mode end to end, hub side: the real `kubeworkz-hub serve` (SQLite, real QUIC on
//! loopback), a token from the real `token create`, and the agent's transport library
//! enrolling with it and streaming a snapshot, deltas and usage through its `Uplink`. The hub is
//! restarted mid-stream: the agent resumes its stream, and the store ends with every message
//! applied exactly once. A pod in the layout of agents from before pod labels and container
//! states (`Object::LegacyPod`, as they encode it) is accepted and stored upgraded. A used single-use token is refused, and no secret shows in
//! `token list`. Disabling a cluster from the CLI revokes its certificates for good: enabled
//! again, the old certificate is refused until the agent enrolls with a new token, and
//! enrolling again closes a session still holding the previous certificate. Two replicas on
//! one PostgreSQL database: a session on the second supersedes the agent's session on the
//! first, which closes it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kubeworkz_agent::transport::backoff::Backoff;
use kubeworkz_agent::transport::{
    AgentIdentity, ClientError, HubAddress, Uplink, UplinkEvent, connect, enroll,
};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store::{self, Store};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::protocol::{
    CERTIFICATE_REVOKED, EnrollmentToken, Payload, UnackedQueue, close,
};
use kubeworkz_shared::time::UnixMillis;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

mod support;

use support::fixtures::{batch, delete_of, legacy_pod, namespace, pod, snapshot};

const WAIT: Duration = Duration::from_secs(20);

use support::hub::{Hub, cli, token_create};

async fn next_event(
    events: &mut mpsc::Receiver<UplinkEvent>,
    want: impl Fn(&UplinkEvent) -> bool,
) -> Result<()> {
    loop {
        let event = timeout(WAIT, events.recv())
            .await
            .context("waiting for an uplink event")?
            .context("uplink stopped")?;
        if want(&event) {
            return Ok(());
        }
    }
}

/// Live namespace and pod names, and the stored cursor's seq.
async fn stored(store: &Store, cluster: ClusterId) -> Result<(Vec<String>, Vec<String>, u64)> {
    let state = store
        .agent_cluster(cluster)
        .await?
        .context("cluster exists")?;
    let names = |kind| async move {
        Ok::<_, anyhow::Error>(
            store
                .inventory(state.org_id, cluster, kind, true)
                .await?
                .into_iter()
                .map(|r| match r.object {
                    Object::Namespace(o) => o.name,
                    Object::Pod(o) => o.name,
                    other => format!("{other:?}"),
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>(),
        )
    };
    let seq = state.cursor.map_or(0, |c| c.seq);
    Ok((
        names(ObjectKind::Namespace).await?,
        names(ObjectKind::Pod).await?,
        seq,
    ))
}

async fn eventually(
    store: &Store,
    cluster: ClusterId,
    want: (&[&str], &[&str], u64),
) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = stored(store, cluster).await?;
        if got.0 == want.0 && got.1 == want.1 && got.2 == want.2 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("store never reached {want:?}; last {got:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_enrolls_with_a_cli_token_and_streams_through_a_hub_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start(&db, &["--quic-listen", "127.0.0.1:0"], "info");
    let quic = hub.quic_addr()?;

    // A token from the real CLI (same database and master key file as `serve`).
    let created = token_create(&db, "c1")?;
    let exposed = created["token"].as_str().context("token")?.to_owned();
    let token: EnrollmentToken = exposed.parse()?;
    let helm = created["helm"].as_str().context("helm")?;
    assert!(
        helm.starts_with(&format!(
            "helm install kubeworkz-agent kubeworkz-agent --repo http://127.0.0.1:8080/charts --version {} ",
            kubeworkz_shared::VERSION
        )) && helm.contains(&format!("--set token={exposed}")),
        "{helm}"
    );
    let secret = exposed.split('.').nth(2).context("secret part")?.to_owned();

    let address = HubAddress {
        addr: quic,
        server_name: "localhost".into(),
    };
    let identity = timeout(WAIT, enroll(&address, &token)).await??;
    let cluster = identity.cluster_id;

    // The single-use token is spent.
    let again = timeout(WAIT, enroll(&address, &token)).await?.unwrap_err();
    assert!(
        matches!(&again, ClientError::Refused { reason } if reason.contains("already used")),
        "{again}"
    );

    // `token list` shows the token, used, without its secret.
    let (ok, listed, err) = cli(&db, &["token", "list"]);
    assert!(ok, "{listed}{err}");
    assert!(
        listed.contains(token.public_id()) && listed.contains("c1"),
        "{listed}"
    );
    assert!(
        !listed.contains(&secret) && !listed.contains(&exposed),
        "{listed}"
    );
    let (ok, listed, err) = cli(&db, &["token", "list", "--output", "json"]);
    assert!(ok, "{listed}{err}");
    let tokens: serde_json::Value = serde_json::from_str(listed.trim()).expect("a JSON array");
    let row = tokens
        .as_array()
        .and_then(|rows| rows.iter().find(|t| t["id"] == token.public_id()))
        .unwrap_or_else(|| panic!("{tokens}"));
    assert_eq!(row["cluster_name"], "c1", "{row}");
    assert_eq!(row["uses"], 1, "{row}");
    assert_eq!(row["revoked_at"], serde_json::Value::Null, "{row}");
    let (ok, listed, err) = cli(&db, &["cluster", "list", "--output", "json"]);
    assert!(ok, "{listed}{err}");
    let clusters: serde_json::Value = serde_json::from_str(listed.trim()).expect("a JSON array");
    assert_eq!(clusters[0]["name"], "c1", "{clusters}");
    assert_eq!(clusters[0]["mode"], "agent", "{clusters}");

    // A revoked token is refused with that reason.
    let created = token_create(&db, "c2")?;
    let revoked: EnrollmentToken = created["token"].as_str().context("token")?.parse()?;
    let (ok, out, err) = cli(&db, &["token", "revoke", revoked.public_id()]);
    assert!(ok, "{out}{err}");
    let refused = timeout(WAIT, enroll(&address, &revoked))
        .await?
        .unwrap_err();
    assert!(
        matches!(&refused, ClientError::Refused { reason } if reason.contains("revoked")),
        "{refused}"
    );

    // Stream: a snapshot, then deltas.
    let (events_tx, mut events) = mpsc::channel(64);
    let (payloads, payloads_rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let uplink = Uplink::new(address.clone(), identity, 1 << 20, events_tx).with_backoff(
        Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
    );
    let task = tokio::spawn(uplink.run(payloads_rx, shutdown.clone()));
    next_event(&mut events, |e| matches!(e, UplinkEvent::FullSyncNeeded)).await?;

    let kinds = [ObjectKind::Namespace, ObjectKind::Pod];
    let (ns_a, ns_b) = (namespace("a", "ns-a", None), namespace("b", "ns-b", None));
    let p1 = pod("a", "p1", "pod-1", PodPhase::Running);
    let p2 = pod("a", "p2", "pod-2", PodPhase::Running);
    let send = |changes| {
        let payloads = payloads.clone();
        async move { payloads.send(Payload::Batch(batch(changes))).await }
    };
    send(snapshot(&kinds, &[ns_a.clone(), ns_b.clone(), p1.clone()])).await?;
    send(vec![kubeworkz_shared::change::Change::Upsert(p2.clone())]).await?;

    let url: DatabaseUrl = db.parse()?;
    let store = store::connect(&url).await?;
    eventually(&store, cluster, (&["a", "b"], &["p1", "p2"], 2)).await?;

    // Restart the hub on the same port; what the agent sends meanwhile is queued, then
    // delivered on the resumed stream, once.
    let first_log = hub.stop()?;
    send(vec![delete_of(&ns_b)]).await?;
    send(vec![delete_of(&p1)]).await?;
    let mut hub = Hub::start(&db, &["--quic-listen", &quic.to_string()], "info");
    assert_eq!(hub.quic_addr()?, quic);
    next_event(&mut events, |e| {
        matches!(e, UplinkEvent::Connected { resumed: true })
    })
    .await?;
    send(vec![kubeworkz_shared::change::Change::Upsert(pod(
        "a",
        "p3",
        "pod-3",
        PodPhase::Pending,
    ))])
    .await?;
    let hour = UnixMillis(UnixMillis::now().0 / 3_600_000 * 3_600_000 - 3_600_000);
    payloads
        .send(Payload::Usage(vec![UsageBucket {
            namespace: "a".into(),
            pod: "p2".into(),
            container: "app".into(),
            hour_start: hour,
            cpu_millicore_seconds: 1_800_000,
            memory_byte_seconds: 1 << 40,
            memory_max_bytes: 1 << 28,
            samples: 60,
            covered_millis: 3_600_000,
        }]))
        .await?;
    send(vec![kubeworkz_shared::change::Change::Upsert(legacy_pod(
        "a",
        "p4",
        "pod-4",
        PodPhase::Running,
    ))])
    .await?;
    eventually(&store, cluster, (&["a"], &["p2", "p3", "p4"], 7)).await?;
    let org = store
        .agent_cluster(cluster)
        .await?
        .context("cluster")?
        .org_id;
    let hour_start = chrono::DateTime::from_timestamp_millis(hour.0).context("hour")?;
    let usage = store.usage(org, cluster, hour_start).await?;
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0].cpu_millicore_seconds, 1_800_000);

    shutdown.cancel();
    timeout(WAIT, task).await??;
    store.close().await;
    let second_log = hub.stop()?;
    for log in [first_log, second_log] {
        assert!(!log.contains(&secret), "a token secret was logged");
    }
    Ok(())
}

/// Enrolls with a new token for cluster `name` from the real CLI; returns the identity and
/// the token's secret part (to check the logs for it).
async fn enroll_with_new_token(
    db: &str,
    address: &HubAddress,
    name: &str,
) -> Result<(AgentIdentity, String)> {
    let created = token_create(db, name)?;
    let exposed = created["token"].as_str().context("token")?.to_owned();
    let secret = exposed.split('.').nth(2).context("secret part")?.to_owned();
    let identity = timeout(WAIT, enroll(address, &exposed.parse()?)).await??;
    Ok((identity, secret))
}

/// Waits for the hub to close `session`, returning the close code and reason.
async fn closed(session: &mut kubeworkz_agent::transport::AgentSession) -> Result<(u32, String)> {
    match timeout(WAIT, session.recv()).await? {
        Err(ClientError::Closed { code, reason }) => Ok((code, reason)),
        other => bail!("expected the hub to close the session, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_clusters_certificates_stay_revoked_after_it_is_enabled() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start(&db, &["--quic-listen", "127.0.0.1:0"], "info");
    let address = HubAddress {
        addr: hub.quic_addr()?,
        server_name: "localhost".into(),
    };
    let (old, first_secret) = enroll_with_new_token(&db, &address, "edge").await?;
    let queue = UnackedQueue::new(7, 1 << 20);
    let mut session = timeout(WAIT, connect(&address, &old, queue.hello("test"))).await??;

    // Disabled from the CLI (another process): the session closes; enabled again, the old
    // certificate is refused as revoked, not welcomed.
    let (ok, out, err) = cli(&db, &["cluster", "disable", "edge"]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        closed(&mut session).await?,
        (close::DISABLED, "cluster is disabled".to_owned())
    );
    let (ok, out, err) = cli(&db, &["cluster", "enable", "edge"]);
    assert!(ok, "{out}{err}");
    let refused = timeout(WAIT, connect(&address, &old, queue.hello("test")))
        .await?
        .unwrap_err();
    assert!(refused.is_certificate_revoked(), "{refused}");
    assert!(
        matches!(&refused, ClientError::Refused { reason } if reason == CERTIFICATE_REVOKED),
        "{refused}"
    );

    // The operator's way back: a new token for the same cluster.
    let (second, second_secret) = enroll_with_new_token(&db, &address, "edge").await?;
    assert_eq!(second.cluster_id, old.cluster_id);
    let mut session = timeout(WAIT, connect(&address, &second, queue.hello("test"))).await??;

    // Enrolling again (a reinstall) while that session is live: the session holding the
    // previous certificate is closed by the hub's periodic check, within its 3 s interval.
    let (third, third_secret) = enroll_with_new_token(&db, &address, "edge").await?;
    let enrolled_at = Instant::now();
    assert_eq!(
        closed(&mut session).await?,
        (close::DISABLED, CERTIFICATE_REVOKED.to_owned())
    );
    assert!(
        enrolled_at.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        enrolled_at.elapsed()
    );
    for revoked in [&old, &second] {
        let refused = timeout(WAIT, connect(&address, revoked, queue.hello("test")))
            .await?
            .unwrap_err();
        assert!(refused.is_certificate_revoked(), "{refused}");
    }
    let session = timeout(WAIT, connect(&address, &third, queue.hello("test"))).await??;
    session.close().await;

    let log = hub.stop()?;
    assert!(log.contains(CERTIFICATE_REVOKED), "{log}");
    for secret in [first_secret, second_secret, third_secret] {
        assert!(!log.contains(&secret), "a token secret was logged");
    }
    Ok(())
}

/// Two hub replicas on one PostgreSQL database: an agent that reconnects to the other
/// replica supersedes its session on the first, which closes it (`REPLACED`); what the old
/// session sends before that is refused by the store (its writes carry the claim it lost)
/// and closes it at once; the store records which replica holds the session, and a session
/// that ends gives it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_another_replica_supersedes_the_old_one() -> Result<()> {
    let database = kubeworkz_testkit::postgres::TestDatabase::create().await?;
    let db = database.url().to_owned();
    let start = |id: &str| {
        Hub::start_with_env(
            &db,
            &["--quic-listen", "127.0.0.1:0"],
            "info",
            &[("KUBEWORKZ_REPLICA_ID", id)],
        )
    };
    let mut first = start("replica-a");
    let first_address = HubAddress {
        addr: first.quic_addr()?,
        server_name: "localhost".into(),
    };
    let mut second = start("replica-b");
    let second_address = HubAddress {
        addr: second.quic_addr()?,
        server_name: "localhost".into(),
    };
    let store = store::connect(&db.parse::<DatabaseUrl>()?).await?;
    let holder = || async {
        let held = store.held_leases("agent:").await?;
        anyhow::Ok(held.into_iter().map(|l| l.holder).collect::<Vec<_>>())
    };

    let (identity, _) = enroll_with_new_token(&db, &first_address, "roaming").await?;
    let mut queue = UnackedQueue::new(7, 1 << 20);
    let mut old = timeout(
        WAIT,
        connect(&first_address, &identity, queue.hello("test")),
    )
    .await??;
    support::hub::eventually("replica-a holds the session", WAIT, || async {
        Ok(holder().await? == ["replica-a"])
    })
    .await?;

    // The agent reaches the other replica (its old connection still open): the first
    // replica closes the old one at its next check, the store names the second.
    let new = timeout(
        WAIT,
        connect(&second_address, &identity, queue.hello("test")),
    )
    .await??;
    assert_eq!(holder().await?, ["replica-b"]);
    // The old session writes before its replica's next check (every 3 s) has closed it:
    // the store refuses the write, and the old replica closes the session there and then.
    let stale = queue
        .push(Payload::Batch(batch(vec![
            kubeworkz_shared::change::Change::Upsert(namespace("stale", "ns-stale", None)),
        ])))?
        .clone();
    let sent = old.send_queued(&stale).await;
    assert_eq!(
        closed(&mut old).await?,
        (close::REPLACED, "replaced by a newer connection".to_owned())
    );
    let cursor = store
        .agent_cluster(identity.cluster_id)
        .await?
        .context("the cluster")?
        .cursor;
    assert_eq!(
        cursor, None,
        "nothing the superseded session sent was stored (sent: {sent:?})"
    );
    // The log line may trail the close the agent saw.
    support::hub::eventually("replica-a logs the superseded session", WAIT, || async {
        Ok(first
            .log()
            .contains("agent session superseded by a newer connection"))
    })
    .await?;

    // The session ends: it gives its claim back.
    new.close().await;
    support::hub::eventually("the session is released", WAIT, || async {
        Ok(holder().await?.is_empty())
    })
    .await?;
    store.close().await;
    first.stop()?;
    second.stop()?;
    Ok(())
}
