//! The real `kubeworkz-hub serve` binary: starts on SQLite, answers probes, and exits 0 on
//! SIGTERM after draining.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the hub if the test panics before it has stopped it.
struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_hub(db: &std::path::Path, extra: &[&str]) -> (Hub, std::sync::mpsc::Receiver<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_kubeworkz-hub"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--quic-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env(
            "KUBEWORKZ_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("KUBEWORKZ_LOG_JSON", "true")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubeworkz-hub");
    let mut hub = Hub(child);
    let stderr = hub.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (hub, rx)
}

/// Reads JSON log lines until one has `message == wanted`; returns it.
fn wait_for_log(rx: &std::sync::mpsc::Receiver<String>, wanted: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        if value["message"] == wanted {
            return value;
        }
    }
    panic!("no {wanted:?} log line within 30 s");
}

#[tokio::test]
async fn serves_probes_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kubeworkz.db");
    let (mut hub, logs) = start_hub(&db, &[]);

    let listening = wait_for_log(&logs, "kubeworkz hub listening");
    let addr = listening["listen"]
        .as_str()
        .expect("listen field")
        .to_owned();
    assert!(db.exists(), "the SQLite database is created on first start");

    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let ready = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["database"],
        "sqlite"
    );

    let term = Command::new("kill")
        .args(["-TERM", &hub.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    wait_for_log(&logs, "hub stopped cleanly");
    let status = hub.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[tokio::test]
async fn http_limits_and_the_metrics_token_are_configured_by_flags() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let (_hub, logs) = start_hub(
        &dir.path().join("kubeworkz.db"),
        &[
            "--http-header-timeout-secs",
            "1",
            "--http-max-connections",
            "4",
            "--metrics-token",
            "scrape-me-please",
        ],
    );
    let listening = wait_for_log(&logs, "kubeworkz hub listening");
    let addr = listening["listen"]
        .as_str()
        .expect("listen field")
        .to_owned();

    // A head trickled byte by byte is cut at the header timeout.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nx-slow: a")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buffer))
        .await
        .expect("the slow client is dropped within 5 s (header timeout 1 s)");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Four silent connections fill the cap; a new client is still answered.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let http = reqwest::Client::new();
    let health = tokio::time::timeout(
        Duration::from_secs(2),
        http.get(format!("http://{addr}/healthz")).send(),
    )
    .await
    .expect("an answer within 2 s at the connection cap")
    .unwrap();
    assert_eq!(health.status(), 200);

    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 401);
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .bearer_auth("scrape-me-please")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}

#[test]
fn a_bad_database_url_is_refused_without_echoing_credentials() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubeworkz-hub"))
        .args(["serve", "--database-url", "mysql://root:hunter2@db/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unsupported database scheme"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn an_unreachable_postgres_fails_fast_without_the_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubeworkz-hub"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://kw:hunter2@127.0.0.1:1/kubeworkz",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("opening the database postgres://***@127.0.0.1:1/kubeworkz: cannot connect to the postgres database"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
