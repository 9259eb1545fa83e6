//! The real `kubeworkz-agent` binary: bad configuration exits 64 naming the variable (also a
//! first start with neither stored credentials nor a token); `run` against a real cluster
//! serves `/healthz` and `/metrics` with what it collected while its hub is unreachable (it
//! keeps retrying enrollment), never logs its token, and stops cleanly on SIGTERM. Talking to
//! a real hub is tested in `hub/tests/kube_agent_cluster.rs`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use kubeworkz_shared::protocol::{CaPin, EnrollmentToken};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};

const AGENT: &str = env!("CARGO_BIN_EXE_kubeworkz-agent");

#[test]
fn bad_configuration_exits_64_and_names_the_variable() {
    let out = Command::new(AGENT)
        .arg("run")
        .env("KUBEWORKZ_HUB_ADDR", "hub-without-port")
        .env("KUBEWORKZ_TOKEN", "kwt_secret_do_not_print")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("KUBEWORKZ_HUB_ADDR"), "{stderr}");
    assert!(!stderr.contains("kwt_secret_do_not_print"), "{stderr}");

    let out = Command::new(AGENT).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(64));

    let out = Command::new(AGENT)
        .arg("run")
        .env("KUBEWORKZ_HUB_ADDR", "127.0.0.1:7443")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("KUBEWORKZ_CREDENTIALS_FILE"), "{stderr}");
}

#[test]
fn a_first_start_without_a_token_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    // A kubeconfig is only read here, never connected to before the agent gives up.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n\
         current-context: x\n",
    )
    .unwrap();
    let out = Command::new(AGENT)
        .arg("run")
        .env("KUBECONFIG", &kubeconfig)
        .env("KUBEWORKZ_HUB_ADDR", "127.0.0.1:7443")
        .env("KUBEWORKZ_ADMIN_LISTEN", "127.0.0.1:0")
        .env("KUBEWORKZ_LOG_FORMAT", "text")
        .env(
            "KUBEWORKZ_CREDENTIALS_FILE",
            dir.path().join("credentials.json"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("not enrolled yet and KUBEWORKZ_TOKEN is not set"),
        "{stderr}"
    );
}

struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn run_serves_health_and_metrics_and_stops_on_sigterm() -> Result<()> {
    let cluster = TestCluster::start(ClusterSpec::new(
        "agent-run",
        vec![NodeSpec::new("node-a"), NodeSpec::new("node-b")],
    ))
    .await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // No hub listens on this UDP port: enrollment keeps failing and is retried.
    let hub_port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::tempdir()?;
    let token = EnrollmentToken::generate(CaPin([9; 32])).expose();
    let secret = token.split('.').nth(2).unwrap().to_owned();
    let log = dir.path().join("agent.log");
    let mut agent = Agent(
        Command::new(AGENT)
            .arg("run")
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("KUBEWORKZ_HUB_ADDR", format!("127.0.0.1:{hub_port}"))
            .env("KUBEWORKZ_TOKEN", &token)
            .env("KUBEWORKZ_RECONNECT_MAX_SECS", "1")
            .env(
                "KUBEWORKZ_CREDENTIALS_FILE",
                dir.path().join("credentials.json"),
            )
            .env("KUBEWORKZ_ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("KUBEWORKZ_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );

    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        if let Ok(resp) = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        {
            let text = resp.text().await?;
            if text.contains("kubeworkz_agent_inventory_objects{kind=\"Node\"} 2")
                && text.contains("kubeworkz_agent_health_status 1")
            {
                break text;
            }
        }
        if Instant::now() > deadline {
            bail!("the agent never reported 2 nodes and a healthy cluster");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(metrics.contains("# TYPE kubeworkz_agent_changes_total counter"));
    // Not enrolled, so not connected and nothing queued for the hub.
    assert!(
        metrics.contains("\nkubeworkz_agent_uplink_connected 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nkubeworkz_agent_uplink_unacked_bytes 0\n"),
        "{metrics}"
    );
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await?;
    assert_eq!(health.status(), 200);

    // Enrollment fails (no hub) and is retried, while collection goes on.
    let deadline = Instant::now() + Duration::from_secs(40);
    while !std::fs::read_to_string(&log)?.contains("enrolling failed") {
        if Instant::now() > deadline {
            bail!(
                "no failed enrollment was logged: {}",
                std::fs::read_to_string(&log)?
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &agent.0.id().to_string()])
        .status()?;
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = agent.0.try_wait()? {
            assert!(exit.success(), "agent exit after SIGTERM: {exit}");
            break;
        }
        if Instant::now() > deadline {
            bail!("the agent did not stop within 20 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(&log)?;
    assert!(!log.contains(&secret), "the token secret was logged: {log}");
    assert!(
        !dir.path().join("credentials.json").exists(),
        "nothing is stored without an enrollment"
    );
    Ok(())
}
