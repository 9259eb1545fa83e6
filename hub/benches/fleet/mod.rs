//! What the benches that play many agents against one real `serve` share: settings from the
//! environment, the hub process's memory from `/proc`, and enrollment tokens.

use anyhow::{Context, Result, bail};
use kubeworkz_agent::transport::AgentSession;
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store::{self, Environment, NewEnrollmentToken};
use kubeworkz_shared::change::Change;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::protocol::{AgentMessage, EnrollmentToken, HubMessage};

use crate::fixtures;

/// `name` from the environment as a number, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `/proc/<pid>/status` field given in kB (`VmRSS`, `VmHWM`), in MiB.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| {
            l.strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// `VmRSS` of `pid` in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS")
}

/// Tokens for `n` clusters `{prefix}-0`…: the first is `first` (from the real `token create`,
/// which also created the CA), the rest are written to the store directly with the same pin
/// (same table, same hashing), so setup is not dominated by CLI start-ups.
pub async fn tokens(
    db: &str,
    first: EnrollmentToken,
    prefix: &str,
    n: usize,
) -> Result<Vec<EnrollmentToken>> {
    let pin = first.ca_pin();
    let store = store::connect(&db.parse::<DatabaseUrl>()?).await?;
    let org = store
        .organization_by_name("default")
        .await?
        .context("default org")?
        .id;
    let mut tokens = vec![first];
    for i in 1..n {
        let token = EnrollmentToken::generate(pin);
        store
            .create_enrollment_token(&NewEnrollmentToken {
                id: token.public_id().to_owned(),
                org_id: org,
                secret_hash: token.secret_hash(),
                cluster_name: format!("{prefix}-{i}"),
                environment: Environment::Development,
                tags: Vec::new(),
                reusable: false,
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                created_by: Some("bench".into()),
            })
            .await?;
        tokens.push(token);
    }
    store.close().await;
    Ok(tokens)
}

/// Sends batch `seq` of `epoch`: `pods` upserts of agent `agent`'s pods (`{agent}-p{n}`, their
/// phase flipping every batch so each one writes), and waits for its ack.
pub async fn send_pod_batch(
    session: &mut AgentSession,
    agent: &str,
    epoch: u64,
    seq: u64,
    pods: usize,
) -> Result<()> {
    let phase = if seq.is_multiple_of(2) {
        PodPhase::Running
    } else {
        PodPhase::Pending
    };
    let changes = (0..pods)
        .map(|p| {
            let (name, uid) = (format!("{agent}-p{p}"), format!("uid-{agent}-{p}"));
            Change::Upsert(fixtures::pod("bench", &name, &uid, phase))
        })
        .collect();
    let batch = fixtures::batch(changes);
    session
        .send(&AgentMessage::Batch { epoch, seq, batch })
        .await?;
    loop {
        match session.recv().await? {
            HubMessage::Ack { seq: acked, .. } if acked >= seq => return Ok(()),
            HubMessage::Ack { .. } => {}
            other => bail!("unexpected {other:?}"),
        }
    }
}
