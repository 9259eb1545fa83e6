//! The agent's `Uplink`: full sync, resume after a dropped connection, renewal.

use std::sync::Arc;
use std::time::Duration;

use kubeworkz_agent::transport::backoff::Backoff;
use kubeworkz_agent::transport::{ClientError, HubTargets, Uplink, UplinkEvent, UplinkGauges};
use tokio::time::timeout;

use kubeworkz_agent::transport::AgentIdentity;
use kubeworkz_shared::protocol::{Payload, UnackedQueue};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::harness::*;

/// An uplink running in a task, with its channels.
struct Running {
    events: mpsc::Receiver<UplinkEvent>,
    payloads: mpsc::Sender<Payload>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// What the uplink publishes for the agent's `/metrics`.
    gauges: Arc<UplinkGauges>,
}

/// Starts an uplink for `identity` with reconnect delays of at most 100 ms.
fn start(hub: &TestHub, identity: &AgentIdentity) -> Running {
    start_with(hub, identity, 1 << 20, None, 64)
}

/// An uplink holding at most `max_queue` bytes, with the in-flight window `in_flight` if
/// given, reading payloads from a channel of `capacity`.
fn start_with(
    hub: &TestHub,
    identity: &AgentIdentity,
    max_queue: usize,
    in_flight: Option<usize>,
    capacity: usize,
) -> Running {
    start_to(
        hub.address.clone(),
        identity,
        max_queue,
        in_flight,
        capacity,
    )
}

/// [`start_with`] to any targets (several hub replicas).
fn start_to(
    hub: impl Into<HubTargets>,
    identity: &AgentIdentity,
    max_queue: usize,
    in_flight: Option<usize>,
    capacity: usize,
) -> Running {
    let (events_tx, events) = mpsc::channel(64);
    let (payloads, payloads_rx) = mpsc::channel(capacity);
    let shutdown = CancellationToken::new();
    let gauges = Arc::new(UplinkGauges::default());
    let mut uplink = Uplink::new(hub, identity.clone(), max_queue, events_tx)
        .with_backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
        .with_gauges(gauges.clone());
    if let Some(bytes) = in_flight {
        uplink = uplink.with_in_flight_limit(bytes);
    }
    let task = tokio::spawn(uplink.run(payloads_rx, shutdown.clone()));
    Running {
        events,
        payloads,
        shutdown,
        task,
        gauges,
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
    assert!(uplink.gauges.connected());
    assert!(hub.transport.disconnect_cluster(cluster, "test drop"));
    expect_event(events, |e| matches!(e, UplinkEvent::Disconnected(_))).await;
    assert!(
        !uplink.gauges.connected(),
        "a lost session still shows as connected"
    );
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

/// The largest frame of an empty batch (a random epoch takes up to 10 bytes).
fn batch_frame_len() -> usize {
    let mut queue = UnackedQueue::new(u64::MAX, 1 << 20);
    queue.push(batch()).unwrap();
    queue.queued_bytes()
}

/// While refused, the uplink only reconnects: no relist, no drop.
fn assert_only_disconnections(skipped: &[UplinkEvent]) {
    assert!(
        skipped
            .iter()
            .all(|e| matches!(e, UplinkEvent::Disconnected(_))),
        "{skipped:?}"
    );
}

/// Sends `batch()`es until one waits longer than a moment: how many the uplink took in.
async fn send_until_blocked(payloads: &mpsc::Sender<Payload>) -> usize {
    let mut sent = 0;
    while timeout(Duration::from_millis(300), payloads.send(batch()))
        .await
        .is_ok()
    {
        sent += 1;
        assert!(sent < 100, "the uplink never stopped taking payloads");
    }
    sent
}

#[tokio::test]
async fn uplink_keeps_at_most_its_in_flight_window_unacked_and_then_waits() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let cluster = identity.cluster_id;
    // Three frames fit in the window: the third reaches it.
    let one = batch_frame_len();
    let capacity = 4;
    let mut uplink = start_with(&hub, &identity, 1 << 20, Some(2 * one + 1), capacity);
    expect_event(&mut uplink.events, |e| {
        matches!(e, UplinkEvent::FullSyncNeeded)
    })
    .await;

    // A stalled store acks nothing: the uplink sends three frames, then stops reading its
    // input, so only the channel fills.
    let stalled = hub.authority.ingest_gate.write().await;
    let sent = send_until_blocked(&uplink.payloads).await;
    assert_eq!(sent, 3 + capacity);
    assert!(hub.authority.batches_of(cluster).is_empty());
    // `/metrics` shows the three frames in flight on an open session.
    assert!(uplink.gauges.connected());
    let in_flight = uplink.gauges.unacked_bytes();
    assert!(
        in_flight > 2 * one as u64 && in_flight <= 3 * one as u64,
        "{in_flight} unacked bytes for three frames of at most {one}"
    );

    // Acks open the window again: everything arrives once, in order.
    drop(stalled);
    let batches = wait_for_batches(&hub, cluster, sent).await;
    let epoch = batches[0].0;
    let want: Vec<_> = (1..=sent as u64).map(|seq| (epoch, seq)).collect();
    assert_eq!(batches, want);
    // Everything acked: the gauge drops to nothing unacked.
    timeout(WAIT, async {
        while uplink.gauges.unacked_bytes() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the unacked-bytes gauge never returned to 0 after the acks");
    let quiet = timeout(Duration::from_millis(300), uplink.events.recv()).await;
    assert!(quiet.is_err(), "no drop, no resync: {quiet:?}");
    uplink.stop().await;
}

#[tokio::test]
async fn overflow_while_disconnected_owes_one_full_sync_to_the_next_connection() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let cluster = identity.cluster_id;
    let mut uplink = start_with(&hub, &identity, 3 * batch_frame_len(), None, 64);
    let (events, payloads) = (&mut uplink.events, &uplink.payloads);
    expect_event(events, |e| matches!(e, UplinkEvent::FullSyncNeeded)).await;
    payloads.send(batch()).await.unwrap();
    let first = wait_for_batches(&hub, cluster, 1).await;

    // The cluster is disabled: the uplink is refused and queues while it retries.
    hub.authority.enabled.lock().unwrap().insert(cluster, false);
    expect_event(events, |e| matches!(e, UplinkEvent::Disconnected(_))).await;
    for _ in 0..5 {
        payloads.send(batch()).await.unwrap();
    }
    // Three fit; the fourth overflows: the queue is dropped (and said so), the rest of the
    // batches are skipped, and no relist happens while the hub cannot take it.
    let skipped = expect_event(
        events,
        |e| matches!(e, UplinkEvent::Dropped(dropped) if dropped.batches == 3),
    )
    .await;
    assert_only_disconnections(&skipped);
    // Usage still queues: it opens the new epoch.
    payloads.send(Payload::Usage(vec![])).await.unwrap();

    hub.authority.enabled.lock().unwrap().insert(cluster, true);
    let skipped = expect_event(events, |e| {
        matches!(e, UplinkEvent::Connected { resumed: false })
    })
    .await;
    assert_only_disconnections(&skipped);
    let skipped = expect_event(events, |e| matches!(e, UplinkEvent::FullSyncNeeded)).await;
    assert!(skipped.is_empty(), "{skipped:?}");
    // The full sync follows the usage kept from the disconnection (seq 1 of the new epoch).
    payloads.send(batch()).await.unwrap();
    let batches = wait_for_batches(&hub, cluster, 2).await;
    assert_eq!(batches[0], first[0]);
    assert_ne!(batches[1].0, first[0].0, "a new epoch");
    assert_eq!(batches[1].1, 2, "{batches:?}");
    assert_eq!(batches.len(), 2, "{batches:?}");
    uplink.stop().await;
}

#[tokio::test]
async fn a_draining_hub_sends_its_agent_to_the_next_replica_without_a_full_sync() {
    let first = TestHub::start_with(|s| s.drain_timeout = Duration::from_secs(2)).await;
    let second = first.replica().await;
    let identity = first.enrolled().await;
    let cluster = identity.cluster_id;
    let targets = HubTargets::from(vec![first.address.clone(), second.address.clone()]);
    let mut uplink = start_to(targets, &identity, 1 << 20, None, 64);
    let (events, payloads) = (&mut uplink.events, &uplink.payloads);
    expect_event(events, |e| {
        matches!(e, UplinkEvent::Connected { resumed: false })
    })
    .await;
    for _ in 0..3 {
        payloads.send(batch()).await.unwrap();
    }
    let batches = wait_for_batches(&first, cluster, 3).await;
    let epoch = batches[0].0;
    assert_eq!(first.transport.connected_clusters(), [cluster]);

    // SIGTERM of the first replica: its agent is asked to go, and goes to the second.
    first.shutdown.trigger();
    let skipped = expect_event(events, |e| {
        matches!(e, UplinkEvent::Disconnected(ClientError::GoingAway { .. }))
    })
    .await;
    assert!(
        skipped
            .iter()
            .all(|e| !matches!(e, UplinkEvent::Disconnected(_))),
        "{skipped:?}"
    );
    let skipped = expect_event(events, |e| {
        matches!(e, UplinkEvent::Connected { resumed: true })
    })
    .await;
    assert!(
        skipped
            .iter()
            .all(|e| !matches!(e, UplinkEvent::FullSyncNeeded)),
        "the stream resumed on the other replica: {skipped:?}"
    );
    assert_eq!(second.transport.connected_clusters(), [cluster]);
    // The first replica stopped because its agent left, not at its drain timeout.
    log_line(&["every agent left"]).await;
    payloads.send(batch()).await.unwrap();
    let batches = wait_for_batches(&second, cluster, 4).await;
    assert_eq!(batches[3], (epoch, 4), "{batches:?}");
    uplink.stop().await;
}

#[tokio::test]
async fn an_agent_that_does_not_leave_is_closed_at_the_drain_timeout() {
    let hub = TestHub::start_with(|s| s.drain_timeout = Duration::from_millis(1500)).await;
    let identity = hub.enrolled().await;
    let hello = UnackedQueue::new(1, 1024).hello("stays");
    let mut session = timeout(
        WAIT,
        kubeworkz_agent::transport::connect(&hub.address, &identity, hello),
    )
    .await
    .unwrap()
    .unwrap();
    let asked = std::time::Instant::now();
    hub.shutdown.trigger();
    match timeout(WAIT, session.recv()).await.unwrap().unwrap() {
        kubeworkz_shared::protocol::HubMessage::GoAway {
            reconnect_within_ms,
            ..
        } => assert_eq!(reconnect_within_ms, 750, "half the drain timeout"),
        other => panic!("expected GoAway, got {other:?}"),
    }
    // It neither leaves nor sends: the hub closes it when the drain ends.
    let closed = timeout(WAIT, session.recv()).await.unwrap().unwrap_err();
    let waited = asked.elapsed();
    assert!(
        matches!(closed, ClientError::Closed { code, .. } if code == kubeworkz_shared::protocol::close::SHUTDOWN),
        "{closed:?}"
    );
    assert!(
        waited >= Duration::from_millis(1400),
        "closed after {waited:?}"
    );
    log_line(&["agents still connected after the drain timeout"]).await;
}
