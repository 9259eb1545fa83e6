//! One hub, many agents: `cargo bench -p kubeworkz-hub --bench agents`.
//!
//! The real `kubeworkz-hub serve` (SQLite unless `KW_DATABASE_URL`) runs as its own process;
//! this process plays `KW_AGENTS` (default 1,000) agents with the agent's transport library
//! on loopback, each with its own UDP socket and certificate. Tokens: one from the real
//! `token create` (which also creates the CA), the rest written to the store directly (same
//! table, same hashing), so setup is not dominated by CLI start-ups. Phases:
//!
//! 1. enroll every agent (`KW_CONCURRENCY` at once, default 64): enrollments/s;
//! 2. connect every agent and keep the session: handshakes/s (TLS 1.3 mutual auth + Hello →
//!    Welcome), and the hub's RSS growth with all of them connected (goal < 100 MB);
//! 3. every agent sends `KW_BATCHES` (default 10) batches of `KW_PODS` (default 20) pod
//!    upserts, one at a time, each waiting for its ack: batches/s across the hub.
//!
//! The hub's RSS is read from `/proc/<pid>/status`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use kubeworkz_agent::transport::{AgentIdentity, AgentSession, HubAddress, connect, enroll};
use kubeworkz_shared::protocol::{EnrollmentToken, UnackedQueue};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{fixtures, hub as common};
#[allow(dead_code)] // shared with the hostile-agents bench
mod fleet;

use fleet::{env, rss_mib};

/// Sends `batches` batches of `pods` upserts on `session`, each after the previous one's ack.
async fn stream_batches(
    session: &mut AgentSession,
    agent: usize,
    epoch: u64,
    batches: usize,
    pods: usize,
) -> Result<()> {
    for seq in 1..=batches as u64 {
        fleet::send_pod_batch(session, &format!("a{agent}"), epoch, seq, pods).await?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let agents = env("KW_AGENTS", 1_000);
    let concurrency = env("KW_CONCURRENCY", 64);
    let batches = env("KW_BATCHES", 10);
    let pods = env("KW_PODS", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let db = std::env::var("KW_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("kubeworkz.db").display()));
    let mut hub = common::Hub::start(
        &db,
        &["--quic-listen", "127.0.0.1:0"],
        "warn,kubeworkz_hub::server=info",
    );
    let quic = hub.quic_addr()?;
    let address = HubAddress {
        addr: quic,
        server_name: "localhost".into(),
    };
    let hub_pid = hub.child.id();

    runtime.block_on(async {
        // Tokens: one from the CLI (creating the CA), the rest with the same pin in the store.
        let created = common::token_create(&db, "agent-0")?;
        let first: EnrollmentToken = created["token"].as_str().context("token")?.parse()?;
        let tokens = fleet::tokens(&db, first, "agent", agents).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_idle = rss_mib(hub_pid);

        // 1. Enrollment.
        let started = Instant::now();
        let identities: Vec<AgentIdentity> = stream::iter(tokens.iter())
            .map(|token| {
                let address = address.clone();
                async move { enroll(&address, token).await }
            })
            .buffered(concurrency)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let enroll_rate = agents as f64 / started.elapsed().as_secs_f64();

        // 2. Handshakes; every session stays open.
        let started = Instant::now();
        let sessions: Vec<(AgentSession, u64)> = stream::iter(identities.iter())
            .map(|identity| {
                let address = address.clone();
                async move {
                    let epoch = rand::random::<u64>() >> 1;
                    let queue = UnackedQueue::new(epoch, 1 << 20);
                    connect(&address, identity, queue.hello("bench"))
                        .await
                        .map(|session| (session, epoch))
                }
            })
            .buffered(concurrency)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let handshake_rate = agents as f64 / started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_connected = rss_mib(hub_pid);

        // 3. Batches from every agent at once.
        let started = Instant::now();
        let tasks: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(agent, (mut session, epoch))| {
                tokio::spawn(async move {
                    stream_batches(&mut session, agent, epoch, batches, pods).await?;
                    Ok::<_, anyhow::Error>(session)
                })
            })
            .collect();
        let mut sessions = Vec::with_capacity(agents);
        for task in tasks {
            sessions.push(task.await??);
        }
        let elapsed = started.elapsed();
        let batch_rate = (agents * batches) as f64 / elapsed.as_secs_f64();
        let rss_after = rss_mib(hub_pid);

        println!(
            "{agents} agents on {}: enroll {enroll_rate:.0}/s, handshakes {handshake_rate:.0}/s \
             ({concurrency} at once)",
            if db.starts_with("sqlite") {
                "sqlite"
            } else {
                "postgres"
            }
        );
        println!(
            "hub RSS: {rss_idle:.1} MiB idle, {rss_connected:.1} MiB with {agents} connected \
             (+{:.1} MiB, {:.1} KiB per connection), {rss_after:.1} MiB after the batches",
            rss_connected - rss_idle,
            (rss_connected - rss_idle) * 1024.0 / agents as f64,
        );
        println!(
            "batches: {} × {pods} pod upserts in {elapsed:.2?}: {batch_rate:.0} batches/s, \
             {:.0} changes/s",
            agents * batches,
            batch_rate * pods as f64
        );
        for session in sessions {
            session.close().await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    hub.stop()?;
    Ok(())
}
