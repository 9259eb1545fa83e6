//! The agent's `Uplink`: full sync, resume after a dropped connection, renewal.

use std::time::Duration;

use kubeworkz_agent::transport::backoff::Backoff;
use kubeworkz_agent::transport::{Uplink, UplinkEvent};
use tokio::time::timeout;

use kubeworkz_agent::transport::AgentIdentity;
use kubeworkz_shared::protocol::Payload;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::harness::*;

/// An uplink running in a task, with its channels.
struct Running {
    events: mpsc::Receiver<UplinkEvent>,
    payloads: mpsc::Sender<Payload>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Starts an uplink for `identity` with reconnect delays of at most 100 ms.
fn start(hub: &TestHub, identity: &AgentIdentity) -> Running {
    let (events_tx, events) = mpsc::channel(64);
    let (payloads, payloads_rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let uplink =
        Uplink::new(hub.address.clone(), identity.clone(), 1 << 20, events_tx).with_backoff(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(100)),
        );
    let task = tokio::spawn(uplink.run(payloads_rx, shutdown.clone()));
    Running {
        events,
        payloads,
        shutdown,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        timeout(WAIT, self.task).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn uplink_full_syncs_then_resumes_after_a_dropped_connection() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let cluster = identity.cluster_id;
    let mut uplink = start(&hub, &identity);
    let (events, payloads) = (&mut uplink.events, &uplink.payloads);

    expect_event(events, |e| {
        matches!(e, UplinkEvent::Connected { resumed: false })
    })
    .await;
    expect_event(events, |e| matches!(e, UplinkEvent::FullSyncNeeded)).await;
    for _ in 0..3 {
        payloads.send(batch()).await.unwrap();
    }
    let batches = wait_for_batches(&hub, cluster, 3).await;
    let epoch = batches[0].0;
    assert_eq!(batches, vec![(epoch, 1), (epoch, 2), (epoch, 3)]);

    // The hub drops the connection; the uplink reconnects and the stream resumes.
    assert!(hub.transport.disconnect_cluster(cluster, "test drop"));
    expect_event(events, |e| matches!(e, UplinkEvent::Disconnected(_))).await;
    let skipped = expect_event(events, |e| matches!(e, UplinkEvent::Connected { .. })).await;
    assert!(skipped.is_empty(), "{skipped:?}");
    payloads.send(batch()).await.unwrap();
    let batches = wait_for_batches(&hub, cluster, 4).await;
    assert_eq!(batches[3], (epoch, 4), "{batches:?}");

    uplink.stop().await;
}

#[tokio::test]
async fn uplink_renews_its_certificate_without_reconnecting() {
    let hub = TestHub::start(Duration::from_secs(4)).await;
    let identity = hub.enrolled().await;
    let first_not_after = identity.not_after;
    let mut uplink = start(&hub, &identity);
    let (events, payloads) = (&mut uplink.events, &uplink.payloads);

    let skipped = expect_event(
        events,
        |e| matches!(e, UplinkEvent::Renewed(renewed) if renewed.not_after > first_not_after),
    )
    .await;
    assert!(
        !skipped
            .iter()
            .any(|e| matches!(e, UplinkEvent::Disconnected(_))),
        "{skipped:?}"
    );
    // Renewal is not a loop: the next one is due at 70% of the new lifetime.
    let quiet = timeout(Duration::from_millis(1500), events.recv()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    payloads.send(batch()).await.unwrap();
    assert_eq!(
        wait_for_batches(&hub, identity.cluster_id, 1).await.len(),
        1
    );
    uplink.stop().await;
}

#[tokio::test]
async fn uplink_delivers_what_is_queued_when_its_input_closes() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let Running {
        mut events,
        payloads,
        task,
        ..
    } = start(&hub, &identity);
    expect_event(&mut events, |e| matches!(e, UplinkEvent::FullSyncNeeded)).await;
    for _ in 0..5 {
        payloads.send(batch()).await.unwrap();
    }
    drop(payloads);
    timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(hub.authority.batches_of(identity.cluster_id).len(), 5);
}
