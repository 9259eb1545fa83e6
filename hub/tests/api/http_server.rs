//! The connection loop `serve` runs (`http_server::serve_http`), over real TCP: slow heads
//! are dropped, idle keep-alives last their own timeout, the connection cap makes room by
//! closing idle connections (or refuses at once when every connection is busy), and the
//! request timeout cuts a slow body but not the event stream.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{Options, TestHub, seed};
use crate::events::Events;

/// Reads until the peer closes the connection; how long that took, or `None` if it was
/// still open after `patience`.
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    let read_to_end = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(patience, read_to_end)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// Sends one `GET /healthz` on `stream` and reads its whole response.
async fn healthz_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: hub\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains("\"status\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(n > 0, "closed before the response");
        response.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8(response).unwrap()
}

pub async fn a_slowloris_client_is_dropped_within_the_header_timeout(hub: TestHub) {
    let options = Options {
        header_timeout: Some(Duration::from_secs(1)),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let mut stream = TcpStream::connect(hub.addr).await.unwrap();
    let (mut reader, mut writer) = stream.split();
    // One header byte every 200 ms: a head that never ends.
    let trickle = async {
        writer.write_all(b"GET /healthz HTTP/1.1\r\n").await.ok()?;
        for byte in b"x-slow: ".iter().chain([b'a'; 200].iter()) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            writer.write_all(&[*byte]).await.ok()?;
        }
        Some(())
    };
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    tokio::select! {
        _ = trickle => panic!("still connected after 40 s of trickling"),
        read = reader.read(&mut buffer) => {
            assert!(matches!(read, Ok(0) | Err(_)), "no response to a head that never ended");
        }
        () = tokio::time::sleep(Duration::from_secs(5)) => {
            panic!("a slowloris client was still connected after 5 s (header timeout 1 s)")
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "dropped early: {elapsed:?}"
    );
    // The hub kept answering everyone else.
    assert_eq!(hub.anonymous().get("/healthz").await.status, 200);
}

pub async fn idle_keep_alives_last_the_idle_timeout_not_the_header_timeout(hub: TestHub) {
    let options = Options {
        header_timeout: Some(Duration::from_secs(1)),
        idle_timeout: Some(Duration::from_secs(3)),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let mut stream = TcpStream::connect(hub.addr).await.unwrap();
    assert!(healthz_on(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle past the header timeout: the connection is still there for the next request.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(healthz_on(&mut stream).await.starts_with("HTTP/1.1 200"));
    let closed = closed_within(&mut stream, Duration::from_secs(6))
        .await
        .expect("an idle connection is closed after the idle timeout");
    assert!(
        closed >= Duration::from_millis(2800),
        "closed after {closed:?}, before the idle timeout"
    );
}

pub async fn idle_connections_make_room_at_the_connection_limit(hub: TestHub) {
    let options = Options {
        max_connections: Some(50),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    // 25 keep-alives that served a request, then 25 that never sent a byte.
    let mut held = Vec::new();
    for _ in 0..25 {
        let mut stream = TcpStream::connect(hub.addr).await.unwrap();
        assert!(healthz_on(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    for _ in 0..25 {
        held.push(TcpStream::connect(hub.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    for _ in 0..3 {
        let r = hub.anonymous().get("/healthz").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "3 health checks took {took:?}"
    );
    // Room was made by closing the connections that had waited longest, the oldest idle
    // keep-alives, as few as needed (a health check's own connection closes after it).
    let mut closed = Vec::new();
    for stream in &mut held[..25] {
        closed.push(
            closed_within(stream, Duration::from_millis(100))
                .await
                .is_some(),
        );
    }
    let evicted = closed.iter().filter(|c| **c).count();
    assert!(
        (1..=3).contains(&evicted),
        "{evicted} connections were closed: {closed:?}"
    );
    assert!(
        closed[..evicted].iter().all(|c| *c),
        "not the oldest were closed: {closed:?}"
    );
    for stream in &mut held[25..] {
        assert!(
            closed_within(stream, Duration::from_millis(20))
                .await
                .is_none(),
            "a silent connection was closed while older idle ones remained"
        );
    }
}

pub async fn when_every_connection_is_busy_new_ones_are_refused_until_one_ends(hub: TestHub) {
    let options = Options {
        max_connections: Some(3),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let admin = hub.admin().await;
    let mut streams = vec![
        Events::open(&admin).await,
        Events::open(&admin).await,
        Events::open(&admin).await,
    ];
    let started = Instant::now();
    let refused = hub
        .anonymous()
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a fourth connection was served: {refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused only after {:?}",
        started.elapsed()
    );
    drop(streams.pop());
    let mut answered = false;
    for _ in 0..50 {
        if let Ok(r) = hub
            .anonymous()
            .request(reqwest::Method::GET, "/healthz")
            .send()
            .await
        {
            assert_eq!(r.status(), 200);
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "no answer within 5 s of a stream ending");
}

pub async fn a_slow_body_times_out_but_event_streams_outlive_the_request_timeout(hub: TestHub) {
    let options = Options {
        request_timeout: Some(Duration::from_secs(1)),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let admin = hub.admin().await;
    let mut events = Events::open(&admin).await;

    let mut stream = TcpStream::connect(hub.addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nhost: hub\r\n\
              content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("an answer to a stalled body, and the connection closed, within 5 s")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("request_timeout"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // The stream, open for longer than the request timeout by now, still delivers.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seeded = seed(&hub, hub.default_org, "alpha").await;
    assert_eq!(
        events.expect().await,
        ("cluster.added".into(), seeded.cluster.to_string())
    );
}
