//! Hostile agents against one hub: `cargo bench -p kubeworkz-hub --bench hostile_agents`.
//!
//! The real `kubeworkz-hub serve` (SQLite) runs as its own process. This process enrolls
//! `KW_HOSTILE` (default 100) hostile agents and `KW_HONEST` (default 10) honest ones with the
//! agent's transport library, each with its own certificate. The honest agents stream batches
//! of 20 pod upserts (each waiting for its ack) for the whole run. Every hostile agent then
//! connects and, all at once, sends a worst-case frame, `KW_ROUNDS` (default 3) times,
//! reconnecting after each disconnection:
//!
//! - `empty`: a frame of the largest size of empty changes (two bytes each);
//! - `tiny-maps`: as many namespaces with a one-entry label map as a collection may hold;
//! - `huge-string`: a delete whose name declares a 1 GiB string;
//! - `wide`: the most empty changes a collection may hold, with a padded frame;
//! - `stalled`: the largest length prefix, then a few bytes and silence.
//!
//! Reported: the hub's RSS before, its peak during the attack (`VmHWM`, reset first through
//! `/proc/<pid>/clear_refs`), after (5 s later); the time from a hostile frame's first byte
//! to its disconnection; and the honest agents' acked batches and slowest ack meanwhile.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::stream::{self, StreamExt};
use kubeworkz_agent::transport::{AgentIdentity, AgentSession, HubAddress, connect, enroll, tls};
use kubeworkz_shared::change::{Change, ChangeBatch, Object};
use kubeworkz_shared::model::NamespaceProjection;
use kubeworkz_shared::model::namespace::NamespacePhase;
use kubeworkz_shared::protocol::budget::MAX_COLLECTION_LEN;
use kubeworkz_shared::protocol::frame::{MAX_BULK_FRAME, encode_frame};
use kubeworkz_shared::protocol::{
    AgentMessage, EnrollmentToken, FrameReader, HubMessage, UnackedQueue, close,
};
use kubeworkz_shared::time::UnixMillis;
use tokio_util::sync::CancellationToken;

#[path = "../tests/support/mod.rs"]
mod support;

use support::{fixtures, hub as common};
mod fleet;

use fleet::{env, rss_mib, status_mib};

/// The worst-case frames, by name.
const ATTACKS: [&str; 5] = ["empty", "tiny-maps", "huge-string", "wide", "stalled"];

/// A batch message's body with `changes`, as postcard bytes.
fn batch_body(changes: Vec<Change>) -> Vec<u8> {
    let message = AgentMessage::Batch {
        epoch: 1,
        seq: 1,
        batch: ChangeBatch {
            produced_at: UnixMillis(0),
            changes,
        },
    };
    postcard::to_stdvec(&message).expect("encodes")
}

/// The frame of attack `name` (length prefix included).
fn hostile_frame(name: &str) -> Vec<u8> {
    let body = match name {
        // The envelope of an empty batch, its count patched, then two bytes per change:
        // no decoded changes needed to build it.
        "empty" | "wide" => {
            let n = if name == "empty" {
                (MAX_BULK_FRAME as usize - 16) / 2
            } else {
                MAX_COLLECTION_LEN as usize
            };
            let mut body = batch_body(vec![]);
            body.pop();
            body.extend(postcard::to_stdvec(&(n as u64)).expect("varint"));
            body.extend(std::iter::repeat_n([0u8, 0], n).flatten());
            body
        }
        "tiny-maps" => {
            let namespace = Change::Upsert(Object::Namespace(NamespaceProjection {
                name: "n".into(),
                uid: "u".into(),
                labels: [("k".to_owned(), String::new())].into(),
                phase: NamespacePhase::Active,
                created: None,
            }));
            batch_body(vec![namespace; MAX_COLLECTION_LEN as usize])
        }
        "huge-string" => {
            // One delete (variant 2) of a pod (kind 3) whose namespace declares 2^30 bytes,
            // then padding up to the largest frame.
            let mut body = batch_body(vec![]);
            body.pop();
            body.extend([1, 2, 3, 0x80, 0x80, 0x80, 0x80, 0x04]);
            body.resize(MAX_BULK_FRAME as usize - 16, b'x');
            body
        }
        "stalled" => return [&MAX_BULK_FRAME.to_be_bytes()[..], &[1, 0, 0]].concat(),
        other => unreachable!("no attack {other}"),
    };
    let mut frame = u32::try_from(body.len())
        .expect("fits")
        .to_be_bytes()
        .to_vec();
    frame.extend(body);
    frame
}

/// An authenticated QUIC connection speaking raw frames, past `Welcome`.
async fn raw_session(
    address: &HubAddress,
    identity: &AgentIdentity,
) -> Result<(quinn::Endpoint, quinn::Connection, quinn::SendStream)> {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    endpoint.set_default_client_config(tls::client_config(identity.ca_pin(), Some(identity))?);
    let conn = endpoint
        .connect(address.addr, &address.server_name)?
        .await?;
    let (mut send, recv) = conn.open_bi().await?;
    let mut hello = Vec::new();
    let queue = UnackedQueue::new(rand::random::<u64>() >> 1, 1 << 20);
    encode_frame(
        &AgentMessage::Hello(queue.hello("hostile")),
        1024,
        &mut hello,
    )?;
    send.write_all(&hello).await?;
    match FrameReader::new(recv, 1 << 20).read::<HubMessage>().await? {
        HubMessage::Welcome { .. } => Ok((endpoint, conn, send)),
        other => bail!("expected welcome, got {other:?}"),
    }
}

/// One hostile agent: `rounds` times, connect, send `frame`, and time the disconnection.
async fn attack(
    address: HubAddress,
    identity: AgentIdentity,
    frame: std::sync::Arc<Vec<u8>>,
    rounds: usize,
) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (endpoint, conn, mut send) = raw_session(&address, &identity)
            .await
            .with_context(|| format!("hostile agent's hello, round {round}"))?;
        let started = Instant::now();
        // The stream stays open after the frame (dropping it would finish it, ending a
        // stalled frame early): the hub has to decide.
        let writer = {
            let frame = frame.clone();
            tokio::spawn(async move {
                let _ = send.write_all(&frame).await;
                std::future::pending::<()>().await;
                drop(send);
            })
        };
        let closed = tokio::time::timeout(Duration::from_secs(300), conn.closed()).await?;
        times.push(started.elapsed());
        writer.abort();
        match closed {
            quinn::ConnectionError::ApplicationClosed(c)
                if c.error_code.into_inner() == u64::from(close::PROTOCOL_ERROR) => {}
            other => bail!("hostile connection ended otherwise: {other}"),
        }
        endpoint.close(0u32.into(), b"");
    }
    Ok(times)
}

/// An honest agent: batches of 20 pods, each waiting for its ack, until `stop`. Returns the
/// batches acked and the slowest ack.
async fn honest(
    mut session: AgentSession,
    agent: usize,
    epoch: u64,
    stop: CancellationToken,
) -> Result<(usize, Duration)> {
    let (mut acked, mut slowest) = (0, Duration::ZERO);
    let mut seq = 0;
    while !stop.is_cancelled() {
        seq += 1;
        let sent = Instant::now();
        fleet::send_pod_batch(&mut session, &format!("h{agent}"), epoch, seq, 20)
            .await
            .with_context(|| format!("honest agent {agent}, batch {seq}"))?;
        acked += 1;
        slowest = slowest.max(sent.elapsed());
    }
    session.close().await;
    Ok((acked, slowest))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let hostile = env("KW_HOSTILE", 100);
    let honest_agents = env("KW_HONEST", 10);
    let rounds = env("KW_ROUNDS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = common::Hub::start(
        &db,
        &["--quic-listen", "127.0.0.1:0"],
        "warn,kubeworkz_hub::server=info",
    );
    let address = HubAddress {
        addr: hub.quic_addr()?,
        server_name: "localhost".into(),
    };
    let pid = hub.child.id();

    let result = runtime.block_on(async {
        let created = common::token_create(&db, "agent-0")?;
        let first: EnrollmentToken = created["token"].as_str().context("token")?.parse()?;
        let tokens = fleet::tokens(&db, first, "agent", hostile + honest_agents).await?;
        let identities: Vec<AgentIdentity> = stream::iter(tokens.iter())
            .map(|token| {
                let address = address.clone();
                async move { enroll(&address, token).await }
            })
            .buffered(32)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let (honest_ids, hostile_ids) = identities.split_at(honest_agents);

        // Honest agents connect and stream for the whole attack.
        let mut sessions = Vec::new();
        for identity in honest_ids {
            let epoch = rand::random::<u64>() >> 1;
            let hello = UnackedQueue::new(epoch, 1 << 20).hello("bench");
            sessions.push((connect(&address, identity, hello).await?, epoch));
        }
        let frames: Vec<_> = ATTACKS
            .iter()
            .map(|name| std::sync::Arc::new(hostile_frame(name)))
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_before = rss_mib(pid);
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("resetting VmHWM")?;

        let stop = CancellationToken::new();
        let honest_tasks: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(agent, (session, epoch))| {
                tokio::spawn(honest(session, agent, epoch, stop.clone()))
            })
            .collect();
        let started = Instant::now();
        let hostile_tasks: Vec<_> = hostile_ids
            .iter()
            .enumerate()
            .map(|(i, identity)| {
                let frame = frames[i % frames.len()].clone();
                tokio::spawn(attack(address.clone(), identity.clone(), frame, rounds))
            })
            .collect();
        let mut by_attack: Vec<Vec<Duration>> = vec![Vec::new(); ATTACKS.len()];
        for (i, task) in hostile_tasks.into_iter().enumerate() {
            by_attack[i % ATTACKS.len()].extend(task.await??);
        }
        let attack_time = started.elapsed();
        stop.cancel();
        let peak = status_mib(pid, "VmHWM");
        let mut acked = 0;
        let mut slowest = Duration::ZERO;
        for task in honest_tasks {
            let (n, slow) = task.await??;
            acked += n;
            slowest = slowest.max(slow);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss_after = rss_mib(pid);

        println!(
            "{hostile} hostile agents × {rounds} rounds ({}), {honest_agents} honest agents",
            ATTACKS.join(", ")
        );
        println!(
            "hub RSS: {rss_before:.1} MiB before, peak {peak:.1} MiB (+{:.1}), {rss_after:.1} MiB \
             5 s after; attack took {attack_time:.1?}",
            peak - rss_before
        );
        for (name, mut times) in ATTACKS.iter().zip(by_attack) {
            times.sort();
            println!(
                "  {name:<12} {:>4} frames: disconnected p50 {:>8.1?}, max {:>8.1?}",
                times.len(),
                percentile(&times, 0.5),
                percentile(&times, 1.0)
            );
        }
        println!(
            "honest agents: {acked} batches acked during the attack ({:.0}/s), slowest ack \
             {slowest:.1?}",
            acked as f64 / attack_time.as_secs_f64()
        );
        Ok::<_, anyhow::Error>(())
    });
    if let Err(err) = result {
        let log = hub.log();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        bail!("{err:#}; the hub's last log lines:\n{}", tail.join("\n"));
    }
    let log = hub.stop()?;
    let refused = log.matches("protocol error").count();
    println!("hub log: {refused} connections closed for a protocol error");
    Ok(())
}
