//! Agents moving between hub replicas: `cargo bench -p kubeworkz-hub --bench agent_failover`.
//!
//! Three real `kubeworkz-hub serve` processes (replicas A, B, C) on one throwaway PostgreSQL
//! database (`DATABASE_URL` names the server), and `KW_AGENTS` (100) agents in this process:
//! the agent's own `Uplink` each, with its own UDP socket and certificate, given the three
//! replicas' addresses in that order, so all start on A. Timed from the fault to each agent's
//! next `Welcome` (its `Connected` event):
//!
//! 1. `kill -9` of A — no goodbye; the agents notice through QUIC's idle timeout and move on
//!    (goal: p99 < 10 s);
//! 2. SIGTERM of B, where they all are then — B sends `GoAway` and the agents reconnect to C
//!    spread over half of B's `--agent-drain-secs`.
//!
//! Also: how many agents the next replica resumed (their stream continued, no full sync).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::stream::{self, StreamExt};
use kubeworkz_agent::transport::{
    AgentIdentity, HubAddress, HubTargets, Uplink, UplinkEvent, UplinkGauges,
};
use kubeworkz_shared::protocol::{EnrollmentToken, Payload};
use kubeworkz_testkit::postgres::TestDatabase;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[path = "../tests/support/mod.rs"]
mod support;

use support::{fixtures, hub as common};
#[allow(dead_code)] // shared with the agents and hostile-agents benches
mod fleet;

use fleet::env;

/// One running agent: its events, its input (kept open so it never drains and stops) and
/// its gauges.
struct Agent {
    events: mpsc::Receiver<UplinkEvent>,
    payloads: mpsc::Sender<Payload>,
    gauges: Arc<UplinkGauges>,
}

impl Agent {
    /// Waits for the next welcome: whether the hub resumed the agent's stream (else a new
    /// epoch and a full sync follow).
    async fn next_welcome(&mut self, within: Duration) -> Result<bool> {
        loop {
            let event = tokio::time::timeout(within, self.events.recv())
                .await
                .context("no welcome in time")?
                .context("uplink ended")?;
            if let UplinkEvent::Connected { resumed } = event {
                return Ok(resumed);
            }
        }
    }
}

fn replica(db: &str, name: &str, drain_secs: &str) -> common::Hub {
    common::Hub::start_with_env(
        db,
        &[
            "--quic-listen",
            "127.0.0.1:0",
            "--agent-drain-secs",
            drain_secs,
        ],
        "warn,kubeworkz_hub::server=info,kubeworkz_hub::transport=info",
        &[("KUBEWORKZ_REPLICA_ID", name)],
    )
}

/// p50, p90, p99 and max of `samples`, in seconds.
fn quantiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64()
    };
    format!(
        "p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, max {:.2} s",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

/// Waits for every agent's next welcome, timing each from `since`.
async fn all_welcomed(agents: &mut [Agent], since: Instant) -> Result<(Vec<Duration>, usize)> {
    let waits = agents.iter_mut().map(|agent| async move {
        let resumed = agent.next_welcome(Duration::from_secs(120)).await?;
        Ok::<_, anyhow::Error>((since.elapsed(), resumed))
    });
    let results = futures::future::join_all(waits).await;
    let mut times = Vec::with_capacity(results.len());
    let mut resumed = 0;
    for result in results {
        let (time, ok) = result?;
        times.push(time);
        resumed += usize::from(ok);
    }
    Ok((times, resumed))
}

fn main() -> Result<()> {
    let count = env("KW_AGENTS", 100);
    let drain_secs = env("KW_DRAIN_SECS", 10).to_string();
    // The agents' own logs, for `RUST_LOG=kubeworkz_agent=info` and the like.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let database = TestDatabase::create().await?;
        let db = database.url().to_owned();
        let created = common::token_create(&db, "agent-0")?;
        let first: EnrollmentToken = created["token"].as_str().context("token")?.parse()?;
        let tokens = fleet::tokens(&db, first, "agent", count).await?;
        let mut hubs = Vec::new();
        for name in ["replica-a", "replica-b", "replica-c"] {
            let mut hub = replica(&db, name, &drain_secs);
            let address = HubAddress {
                addr: hub.quic_addr()?,
                server_name: "localhost".into(),
            };
            hubs.push((hub, address));
        }
        let addresses: Vec<HubAddress> = hubs.iter().map(|(_, a)| a.clone()).collect();

        let identities: Vec<AgentIdentity> = stream::iter(tokens.iter())
            .map(|token| {
                let address = addresses[0].clone();
                async move { kubeworkz_agent::transport::enroll(&address, token).await }
            })
            .buffered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let shutdown = CancellationToken::new();
        let mut agents: Vec<Agent> = identities
            .into_iter()
            .map(|identity| {
                let (events_tx, events) = mpsc::channel(64);
                let (payloads, payloads_rx) = mpsc::channel(4);
                let gauges = Arc::new(UplinkGauges::default());
                let uplink = Uplink::new(
                    HubTargets::from(addresses.clone()),
                    identity,
                    1 << 20,
                    events_tx,
                )
                .with_gauges(gauges.clone());
                tokio::spawn(uplink.run(payloads_rx, shutdown.clone()));
                Agent {
                    events,
                    payloads,
                    gauges,
                }
            })
            .collect();
        let (_, _) = all_welcomed(&mut agents, Instant::now()).await?;
        // One stored batch each, so that each has a stream position to resume from.
        for agent in &agents {
            let batch = fixtures::batch(vec![]);
            agent.payloads.send(Payload::Batch(batch)).await?;
        }
        // The uplinks queue what they read asynchronously: give them time to take the batch
        // before "nothing unacked" can mean "stored".
        tokio::time::sleep(Duration::from_secs(2)).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while agents.iter().any(|a| a.gauges.unacked_bytes() > 0) {
            if Instant::now() > deadline {
                bail!("batches not acknowledged within a minute");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("{count} agents connected to replica-a, one batch each stored");

        // 1. kill -9 of A.
        let killed = Instant::now();
        hubs[0].0.child.kill()?;
        let (times, resumed) = all_welcomed(&mut agents, killed).await?;
        println!(
            "kill -9 of replica-a: {count} agents reconnected, {}; {resumed} resumed their stream",
            quantiles(times)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;

        // 2. SIGTERM of B, where every agent is now (A is gone, B is next on their lists).
        let (b, _) = hubs.remove(1);
        let stopped = Instant::now();
        let stopping = std::thread::spawn(move || b.stop());
        let (times, resumed) = all_welcomed(&mut agents, stopped).await?;
        println!(
            "SIGTERM of replica-b (--agent-drain-secs {drain_secs}): {count} agents reconnected, {}; {resumed} resumed their stream",
            quantiles(times)
        );
        match stopping.join() {
            Ok(Ok(log)) => {
                let left = log.lines().any(|l| l.contains("every agent left"));
                println!(
                    "replica-b exited cleanly after {:.2} s; every agent left before its timeout: {left}",
                    stopped.elapsed().as_secs_f64()
                );
            }
            Ok(Err(err)) => bail!("replica-b did not stop cleanly: {err:#}"),
            Err(_) => bail!("stopping replica-b panicked"),
        }
        shutdown.cancel();
        Ok::<_, anyhow::Error>(())
    })
}
