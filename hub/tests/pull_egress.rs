//! The pull-mode egress policy outside the API: the collector (the in-process supervisor
//! `serve` runs) refuses to connect where the policy forbids, on every run; and the real CLI's
//! `cluster add` applies the same flags and environment as `serve`, with clear errors for bad
//! values. The API side is in `api/egress.rs`.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use kubeworkz_hub::pull::PullConfig;

mod support;

use support::fake_apiserver::{self, FakeApiServer, TOKEN};
use support::hub::{PullFixture, Supervised, cli, eventually};

#[tokio::test]
async fn the_collector_refuses_a_server_the_policy_forbids_on_every_run() -> Result<()> {
    let server = FakeApiServer::start(fake_apiserver::kubernetes);
    let dir = tempfile::tempdir()?;
    // Registered by a hub that allowed loopback; collected by one that does not.
    let fixture = PullFixture::register(dir.path(), "on-loopback", server.kubeconfig()).await?;
    let (store, org, registered) = (&fixture.store, fixture.org, &fixture.cluster);
    let contacted_by_registration = server.connections();
    ensure!(
        contacted_by_registration > 0,
        "registration tested the connection"
    );

    let fixture_config = PullConfig {
        refresh: Duration::from_millis(100),
        restart_after: Duration::from_millis(100),
        ..PullConfig::default()
    };
    let Supervised {
        shutdown, running, ..
    } = fixture.supervise(fixture_config);
    let error = || async {
        Ok::<_, anyhow::Error>(
            store
                .cluster(org, registered.id)
                .await?
                .context("cluster")?
                .last_error
                .unwrap_or_default(),
        )
    };
    eventually("the refusal recorded", Duration::from_secs(30), || async {
        Ok(error().await?.contains("loopback addresses are refused"))
    })
    .await?;
    let recorded = error().await?;
    ensure!(
        recorded.starts_with(&format!(
            "refused to connect to {}: 127.0.0.1 is a loopback address",
            server.address
        )),
        "{recorded}"
    );
    // Several restarts later (100 ms apart), still nothing contacted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(
        server.connections() == contacted_by_registration,
        "the collector connected to a refused address ({} connections)",
        server.connections() - contacted_by_registration
    );
    ensure!(!recorded.contains(TOKEN));
    shutdown.trigger();
    let _ = running.await;
    fixture.store.close().await;
    Ok(())
}

fn cluster_add(
    db: &str,
    kubeconfig: &std::path::Path,
    name: &str,
    extra: &[&str],
) -> (bool, String) {
    let mut args = vec![
        "cluster",
        "add",
        "--name",
        name,
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = cli(db, &args);
    (ok, format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn cluster_add_applies_the_policy_of_serve() -> Result<()> {
    let server = FakeApiServer::start(fake_apiserver::kubernetes);
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    let kubeconfig = dir.path().join("fake.yaml");
    std::fs::write(&kubeconfig, server.kubeconfig())?;
    let metadata = dir.path().join("metadata.yaml");
    std::fs::write(&metadata, server.kubeconfig_for("https://169.254.169.254"))?;
    let mut outputs = Vec::new();

    let (ok, text) = cluster_add(&db, &kubeconfig, "refused", &[]);
    ensure!(
        !ok && text.contains("loopback addresses are refused")
            && text.contains("--pull-allow-loopback"),
        "{text}"
    );
    outputs.push(text);
    let (ok, text) = cluster_add(&db, &metadata, "metadata", &["--pull-allow-loopback"]);
    ensure!(!ok && text.contains("cloud metadata address"), "{text}");
    outputs.push(text);
    let (ok, text) = cluster_add(
        &db,
        &kubeconfig,
        "outside",
        &[
            "--pull-allow-loopback",
            "--pull-allowed-networks",
            "10.0.0.0/8,192.168.0.0/16",
        ],
    );
    ensure!(
        !ok && text.contains("outside the allowed networks (10.0.0.0/8,192.168.0.0/16)"),
        "{text}"
    );
    outputs.push(text);
    ensure!(server.connections() == 0, "a refused address was contacted");

    // A bad network is refused before anything happens, naming the value.
    let (ok, text) = cluster_add(
        &db,
        &kubeconfig,
        "bad",
        &["--pull-allowed-networks", "10.0.0.0/33"],
    );
    ensure!(
        !ok && text.contains("invalid network \"10.0.0.0/33\""),
        "{text}"
    );
    outputs.push(text);

    // The flags, or their environment variables, allow it.
    let (ok, text) = cluster_add(
        &db,
        &kubeconfig,
        "allowed",
        &[
            "--pull-allow-loopback",
            "--pull-allowed-networks",
            "127.0.0.0/8",
        ],
    );
    ensure!(ok && text.contains("registered allowed"), "{text}");
    outputs.push(text);
    let out = support::hub::hub_command(&db)
        .args(["cluster", "add", "--name", "by-env", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("KUBEWORKZ_PULL_ALLOW_LOOPBACK", "true")
        .env("KUBEWORKZ_PULL_ALLOWED_NETWORKS", "127.0.0.1")
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() && text.contains("registered by-env"),
        "{text}"
    );
    outputs.push(text);
    for output in &outputs {
        ensure!(
            !output.contains(TOKEN),
            "CLI output carries the token: {output}"
        );
    }

    // `serve` refuses a bad allow-list at start, naming it.
    let out = support::hub::hub_command(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--quic-listen",
            "127.0.0.1:0",
        ])
        .env(
            "KUBEWORKZ_PULL_ALLOWED_NETWORKS",
            "10.0.0.0/8,not-a-network",
        )
        .output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && text.contains("invalid network \"not-a-network\""),
        "{text}"
    );
    Ok(())
}
