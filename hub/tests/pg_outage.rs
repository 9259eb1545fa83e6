//! The hub and its PostgreSQL going away: the real `kubeworkz-hub serve` on a PostgreSQL
//! server of the test's own, an agent (the agent's `Uplink`, real QUIC on loopback) sending
//! a batch every 200 ms, and the server stopped as `pg_ctl stop -m immediate` does for 20 s.
//! The hub must not exit, must say it is not ready while the database is away, must be ready
//! again after, and every batch the agent produced meanwhile must be stored once it is back
//! (the stream resumes; nothing is lost, nothing is stored twice). Prints how long the
//! readiness and the catch-up took after the database returned.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use kubeworkz_agent::transport::backoff::Backoff;
use kubeworkz_agent::transport::{HubAddress, Uplink, UplinkEvent, UplinkGauges, enroll};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store;
use kubeworkz_shared::protocol::{EnrollmentToken, Payload};
use kubeworkz_testkit::postgres::PostgresServer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod support;

use support::fixtures;
use support::hub::{Hub, eventually, token_create};

const OUTAGE: Duration = Duration::from_secs(20);

async fn readyz_status(api: &str) -> Option<u16> {
    let response = reqwest::Client::new()
        .get(format!("{api}/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

fn empty_batch() -> Payload {
    Payload::Batch(fixtures::batch(vec![]))
}

#[tokio::test]
async fn the_hub_stays_up_while_postgresql_is_away_and_catches_up_after() -> Result<()> {
    // A server of its own, whatever DATABASE_URL says: this test stops it. Durable: what
    // the hub was told is committed survives the crash, as on a production server (the
    // tests' usual `synchronous_commit=off` may lose it, and the hub then rightly asks the
    // agent for a full sync).
    let mut server = PostgresServer::start_durable().await?;
    let db = server.admin_url();
    let created = token_create(&db, "outage")?;
    let token: EnrollmentToken = created["token"].as_str().context("token")?.parse()?;
    let mut hub = Hub::start(&db, &["--quic-listen", "127.0.0.1:0"], "info");
    let api = hub.api_url()?;
    let address = HubAddress {
        addr: hub.quic_addr()?,
        server_name: "localhost".into(),
    };
    let identity = enroll(&address, &token).await?;
    let cluster_id = identity.cluster_id;

    let (events_tx, mut events) = mpsc::channel(256);
    let (payloads, payloads_rx) = mpsc::channel(1024);
    let gauges = std::sync::Arc::new(UplinkGauges::default());
    let stop = CancellationToken::new();
    // Retries at most every 2 s, as `KUBEWORKZ_RECONNECT_MAX_SECS=2` would: the catch-up
    // measured is the hub's, not a long backoff delay's.
    let uplink = Uplink::new(address, identity, 8 << 20, events_tx)
        .with_backoff(Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(2),
        ))
        .with_gauges(gauges.clone());
    let running = tokio::spawn(uplink.run(payloads_rx, stop.clone()));
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await?
            .context("uplink ended")?;
        if matches!(event, UplinkEvent::Connected { .. }) {
            break;
        }
    }
    // The producer: one batch every 200 ms for the whole test.
    let producer = {
        let payloads = payloads.clone();
        tokio::spawn(async move {
            let mut sent = 0u64;
            let mut every = tokio::time::interval(Duration::from_millis(200));
            loop {
                every.tick().await;
                if payloads.send(empty_batch()).await.is_err() {
                    return sent;
                }
                sent += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        readyz_status(&api).await == Some(200),
        "ready before the outage"
    );

    server.stop_immediately()?;
    let outage = Instant::now();
    let mut saw_unready = false;
    while outage.elapsed() < OUTAGE {
        if let Some(status) = readyz_status(&api).await {
            ensure!(status == 200 || status == 503, "readyz answered {status}");
            saw_unready |= status == 503;
        }
        ensure!(
            hub.child.try_wait()?.is_none(),
            "the hub exited while its database was away:\n{}",
            hub.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ensure!(saw_unready, "readyz said not ready during the outage");

    server.restart().await?;
    let back = Instant::now();
    eventually("readyz ready again", Duration::from_secs(60), || async {
        Ok(readyz_status(&api).await == Some(200))
    })
    .await?;
    let ready_after = back.elapsed();
    // Stop producing (the uplink's input stays open: closed, it would drain and stop), then
    // everything produced must be stored, exactly once.
    producer.abort();
    let _ = producer.await;
    let url: DatabaseUrl = db.parse()?;
    let store = store::connect(&url).await?;
    eventually("every batch stored", Duration::from_secs(60), || async {
        Ok(gauges.connected() && gauges.unacked_bytes() == 0)
    })
    .await?;
    let caught_up = back.elapsed();
    let cursor = store
        .agent_cluster(cluster_id)
        .await?
        .context("the cluster")?
        .cursor
        .context("a stream cursor")?;
    println!(
        "postgres away {:.0} s: hub ready again {:.2} s after it returned, every batch stored after {:.2} s (cursor epoch {} seq {})",
        OUTAGE.as_secs_f64(),
        ready_after.as_secs_f64(),
        caught_up.as_secs_f64(),
        cursor.epoch,
        cursor.seq
    );
    ensure!(
        cursor.seq >= 100,
        "one stream across the outage: {} batches in its epoch",
        cursor.seq
    );
    ensure!(hub.child.try_wait()?.is_none(), "the hub is still running");
    stop.cancel();
    let _ = running.await;
    drop(payloads);
    store.close().await;
    hub.stop()?;
    Ok(())
}
