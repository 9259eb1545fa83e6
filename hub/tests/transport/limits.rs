//! Limits: bad frames and unauthenticated connections close only that connection; frames
//! that would decode into more memory than their limits allow are refused while decoding;
//! a stalled frame gives its memory reservation back.

use std::collections::BTreeMap;
use std::time::Duration;

use kubeworkz_agent::transport::connect;
use kubeworkz_shared::change::{Change, ChangeBatch, Object};
use kubeworkz_shared::collect::MAX_BATCH_BYTES;
use kubeworkz_shared::model::NamespaceProjection;
use kubeworkz_shared::model::namespace::NamespacePhase;
use kubeworkz_shared::protocol::frame::MAX_BULK_FRAME;
use kubeworkz_shared::protocol::{AgentMessage, UnackedQueue, close};
use kubeworkz_shared::time::UnixMillis;
use tokio::time::timeout;

use super::harness::*;

/// A batch frame of `n` empty changes (two bytes each), built without holding `n` decoded
/// changes in the test: the envelope of an empty batch with its change count patched.
fn empty_changes_frame(n: usize) -> Vec<u8> {
    let mut body = postcard::to_stdvec(&AgentMessage::Batch {
        epoch: 1,
        seq: 1,
        batch: ChangeBatch {
            produced_at: UnixMillis(0),
            changes: vec![],
        },
    })
    .unwrap();
    assert_eq!(
        body.pop(),
        Some(0),
        "the empty changes' count ends the envelope"
    );
    body.extend(postcard::to_stdvec(&(n as u64)).unwrap());
    body.extend(std::iter::repeat_n([0u8, 0], n).flatten());
    let mut frame = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    frame.extend(body);
    frame
}

/// Waits for `conn` to be closed by the hub for a protocol error, returning the reason.
async fn protocol_error_reason(conn: &quinn::Connection) -> String {
    match timeout(WAIT, conn.closed()).await.unwrap() {
        quinn::ConnectionError::ApplicationClosed(closed) => {
            assert_eq!(
                closed.error_code.into_inner(),
                u64::from(close::PROTOCOL_ERROR)
            );
            String::from_utf8(closed.reason.to_vec()).unwrap()
        }
        other => panic!("expected a protocol-error close, got {other}"),
    }
}

/// Writes `frame` on a task (the hub may close the connection before all of it is sent).
fn send_in_background(mut send: quinn::SendStream, frame: Vec<u8>) {
    tokio::spawn(async move {
        let _ = send.write_all(&frame).await;
    });
}

/// A namespace upsert whose labels make it about `bytes` long on the wire: labels of the
/// longest key (a 253-byte prefix and a 63-byte name) and value Kubernetes accepts, then
/// shorter ones for the rest.
fn namespace_of(name: &str, bytes: usize) -> Change {
    let long = |i: usize| {
        let prefix = format!("{i:06}.{}", "p".repeat(246));
        (format!("{prefix}/{}", "n".repeat(63)), "v".repeat(63))
    };
    let short = |i: usize| (format!("label-{i:06}.example.com/key"), "v".repeat(26));
    let labels: BTreeMap<String, String> = if bytes > 64 * 1024 {
        (0..bytes / 386).map(long).collect()
    } else {
        (0..bytes / 64).map(short).collect()
    };
    Change::Upsert(Object::Namespace(NamespaceProjection {
        name: name.into(),
        uid: uuid::Uuid::new_v4().to_string(),
        labels,
        phase: NamespacePhase::Active,
        created: Some(UnixMillis::now()),
    }))
}

#[tokio::test]
async fn garbage_and_oversize_frames_close_only_that_connection() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let good = hub.enrolled().await;
    let garbage = hub.enrolled().await;
    let oversize = hub.enrolled().await;
    let mut queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &good, queue.hello("test"))
        .await
        .unwrap();

    let (conn, mut send) = raw_session(&hub, &garbage).await;
    send.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert_closed_for_protocol_error(&conn).await;

    let (conn, mut send) = raw_session(&hub, &oversize).await;
    send.write_all(&(17u32 << 20).to_be_bytes()).await.unwrap();
    assert_closed_for_protocol_error(&conn).await;

    send_and_ack(&mut session, &mut queue, 2).await;
    assert_eq!(hub.transport.connected_clusters(), vec![good.cluster_id]);
}

#[tokio::test]
async fn unauthenticated_connection_may_only_enroll() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let conn = raw_connection(&hub, None).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let hello = UnackedQueue::new(1, 1024).hello("sneaky");
    write_frame(&mut send, &AgentMessage::Hello(hello)).await;
    assert_closed_for_protocol_error(&conn).await;
    assert!(hub.transport.connected_clusters().is_empty());
}

#[tokio::test]
async fn unauthenticated_frames_are_limited_to_one_small_enroll() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let conn = raw_connection(&hub, None).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // A declared 64 KiB + 1 is refused from the prefix alone, before any body arrives.
    send.write_all(&(64u32 * 1024 + 1).to_be_bytes())
        .await
        .unwrap();
    assert_closed_for_protocol_error(&conn).await;
}

#[tokio::test]
async fn hostile_batches_are_refused_while_legitimate_max_size_ones_are_stored() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let honest = hub.enrolled().await;
    let oversize = hub.enrolled().await;
    let dense = hub.enrolled().await;

    // 15 MiB of empty changes: refused from the length prefix, no body byte read.
    let (conn, send) = raw_session(&hub, &oversize).await;
    let frame = empty_changes_frame(15 * 1024 * 1024 / 2);
    let len = frame.len() - 4;
    send_in_background(send, frame);
    let reason = protocol_error_reason(&conn).await;
    assert_eq!(
        reason,
        format!("frame of {len} bytes exceeds the maximum of {MAX_BULK_FRAME}")
    );
    let line = log_line(&["protocol error", &oversize.cluster_id.to_string()]).await;
    assert!(line.contains(&reason), "{line}");

    // The most empty changes a frame may carry: refused while decoding, by the declared
    // count, before any change is allocated.
    let (conn, send) = raw_session(&hub, &dense).await;
    let frame = empty_changes_frame((MAX_BULK_FRAME as usize - 32) / 2);
    assert!(frame.len() <= MAX_BULK_FRAME as usize + 4);
    send_in_background(send, frame);
    let reason = protocol_error_reason(&conn).await;
    assert_eq!(
        reason,
        "frame exceeds its decode limit of 16384 elements in one collection"
    );
    let line = log_line(&["protocol error", &dense.cluster_id.to_string()]).await;
    assert!(line.contains(&reason), "{line}");
    assert!(hub.authority.batches_of(oversize.cluster_id).is_empty());
    assert!(hub.authority.batches_of(dense.cluster_id).is_empty());

    // Legitimate: a batch at the collector's byte cap, and one object as large as
    // Kubernetes stores, alone in its batch.
    let mut queue = UnackedQueue::new(rand_epoch(), 64 << 20);
    let mut session = connect(&hub.address, &honest, queue.hello("test"))
        .await
        .unwrap();
    let per_object = MAX_BATCH_BYTES / 500;
    let full: Vec<Change> = (0..500)
        .map(|i| namespace_of(&format!("ns-{i}"), per_object))
        .collect();
    let huge = vec![namespace_of("huge", 3 * 512 * 1024)];
    for changes in [full, huge] {
        let payload = kubeworkz_shared::protocol::Payload::Batch(ChangeBatch {
            produced_at: UnixMillis::now(),
            changes,
        });
        let queued = queue.push(payload).unwrap().clone();
        let len = queued.frame().len();
        assert!(len > MAX_BATCH_BYTES * 3 / 4, "{len}");
        session.send_queued(&queued).await.unwrap();
        match timeout(WAIT, session.recv()).await.unwrap().unwrap() {
            kubeworkz_shared::protocol::HubMessage::Ack { epoch, seq } => {
                assert_eq!(queued.stream_position(), (epoch, seq));
                queue.ack(epoch, seq);
            }
            other => panic!("expected an ack, got {other:?}"),
        }
    }
    assert_eq!(hub.authority.batches_of(honest.cluster_id).len(), 2);
    assert!(
        hub.transport.frame_memory().is_idle(),
        "every reservation given back"
    );
}

#[tokio::test]
async fn a_stalled_frame_is_closed_and_gives_its_reservation_back() {
    // Room for the body of one largest frame and a little more.
    let bodies = u64::from(MAX_BULK_FRAME) + 1024 * 1024;
    let hub = TestHub::start_with(|s| {
        s.body_memory = bodies;
        s.frame_body_timeout = Duration::from_millis(500);
    })
    .await;
    let slow = hub.enrolled().await;
    let honest = hub.enrolled().await;
    let (conn, mut send) = raw_session(&hub, &slow).await;
    send.write_all(&MAX_BULK_FRAME.to_be_bytes()).await.unwrap();
    send.write_all(&[1, 0, 0]).await.unwrap();
    // While the slow frame holds the body of its declared length, and nothing of its decode
    // allowance, an honest agent's batches still get through.
    let memory = hub.transport.frame_memory().clone();
    let reserved = async {
        while memory.bodies.available() > bodies - u64::from(MAX_BULK_FRAME) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(WAIT, reserved).await.unwrap();
    assert_eq!(memory.decoded.available(), memory.decoded.total());
    let mut queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &honest, queue.hello("test"))
        .await
        .unwrap();
    send_and_ack(&mut session, &mut queue, 3).await;

    let reason = protocol_error_reason(&conn).await;
    assert_eq!(
        reason,
        format!("frame body of {MAX_BULK_FRAME} bytes did not arrive within 500 ms")
    );
    assert!(memory.is_idle());
    assert!(hub.authority.batches_of(slow.cluster_id).is_empty());
}
