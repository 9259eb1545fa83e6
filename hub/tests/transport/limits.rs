//! Limits: bad frames and unauthenticated connections close only that connection; what an
//! idle connection costs.

use std::time::Duration;

use kubeworkz_agent::transport::connect;
use kubeworkz_shared::protocol::{AgentMessage, UnackedQueue};

use super::harness::*;

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
