//! The real `kubeworkz-agent` binary: bad configuration exits 64 naming the variable; `run`
//! against a real cluster serves `/healthz` and `/metrics` with what it collected, and stops
//! cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
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
    let mut agent = Agent(
        Command::new(AGENT)
            .arg("run")
            .env("KUBECONFIG", cluster.kubeconfig_path())
            .env("KUBEWORKZ_HUB_ADDR", "127.0.0.1:7443")
            .env("KUBEWORKZ_ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("KUBEWORKZ_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await?;
    assert_eq!(health.status(), 200);

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
    Ok(())
}
