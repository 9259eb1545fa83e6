//! One agent connection: enrollment (no client certificate) or an authenticated session.

use std::sync::Arc;
use std::time::Duration;

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::protocol::frame::{MAX_BULK_FRAME, MAX_CONTROL_FRAME, MAX_ENROLL_FRAME};
use kubeworkz_shared::protocol::{
    AgentMessage, CERTIFICATE_REVOKED, Disposition, FrameError, FrameReader, FrameWriter, Held,
    HubMessage, StreamCursor, close,
};
use quinn::{RecvStream, SendStream, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;

use super::server::{REPLACED_REASON, Shared};
use crate::pki::{HubCa, PkiError, certificate_serial, cluster_id_from_cert};
use crate::store::{CertificateStanding, Fence, SessionCertificate};

/// How long the hub waits for the agent to read a final frame and close by itself.
const LINGER: Duration = Duration::from_secs(2);

type Reader = FrameReader<RecvStream>;
type Writer = FrameWriter<SendStream>;

/// Why a session ended early; logged once, sent to the agent as the close reason.
enum End {
    /// The agent is refused (token, disabled cluster): `Refused` then close.
    Refused(String),
    /// The agent broke the protocol: close, no frame.
    Protocol(String),
    /// The store failed.
    Unavailable(String),
    /// A newer session of the same cluster took this one's claim: close as replaced.
    Replaced,
    /// The connection is gone (closed by either side, idle timeout).
    Gone,
}

impl From<FrameError> for End {
    fn from(err: FrameError) -> Self {
        match err {
            FrameError::Closed => Self::Gone,
            FrameError::Io(_) => Self::Gone,
            other => Self::Protocol(other.to_string()),
        }
    }
}

pub(super) async fn run(conn: quinn::Connection, shared: Arc<Shared>) {
    let leaf = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|chain| chain.into_iter().next());
    let remote = conn.remote_address();
    match leaf {
        None => {
            let end = enroll(&conn, &shared).await;
            finish(&conn, None, end).await;
        }
        Some(leaf) => match session_certificate(&leaf) {
            Ok(session) => {
                let cluster = session.cluster;
                let (registration, commands) = shared.register(&session, &conn);
                let end = authenticated(&conn, &shared, &session, (registration, commands)).await;
                if let Some(claim) = shared.unregister(cluster, registration) {
                    shared.authority.release_claim(&claim).await;
                }
                finish(&conn, Some(cluster), end).await;
            }
            Err(err) => {
                tracing::warn!(%remote, error = %err, "client certificate names no cluster");
                conn.close(
                    VarInt::from_u32(close::PROTOCOL_ERROR),
                    b"no cluster identity",
                );
            }
        },
    }
}

/// The cluster a verified leaf names and its serial.
fn session_certificate(leaf: &[u8]) -> Result<SessionCertificate, PkiError> {
    Ok(SessionCertificate {
        cluster: cluster_id_from_cert(leaf)?,
        serial: certificate_serial(leaf)?,
    })
}

/// Logs and closes according to `end` (the frame, if any, was sent already).
async fn finish(conn: &quinn::Connection, cluster: Option<ClusterId>, end: Result<(), End>) {
    let remote = conn.remote_address();
    let cluster = cluster.map(|c| c.to_string()).unwrap_or_default();
    let (code, reason) = match end {
        Ok(()) | Err(End::Gone) => return,
        Err(End::Refused(reason)) => {
            tracing::info!(%remote, %cluster, %reason, "agent refused");
            (close::REFUSED, reason)
        }
        Err(End::Protocol(reason)) => {
            tracing::warn!(%remote, %cluster, %reason, "closing agent connection: protocol error");
            (close::PROTOCOL_ERROR, reason)
        }
        Err(End::Replaced) => {
            tracing::info!(%remote, %cluster, "agent session superseded by a newer connection");
            (close::REPLACED, REPLACED_REASON.to_owned())
        }
        Err(End::Unavailable(reason)) => {
            tracing::warn!(%remote, %cluster, %reason, "closing agent connection: store failed");
            (
                close::UNAVAILABLE,
                "hub unavailable, retry later".to_owned(),
            )
        }
    };
    conn.close(VarInt::from_u32(code), reason.as_bytes());
}

/// Accepts the agent's stream and reads its first frame within the first-frame timeout. An
/// authenticated stream's frames are admitted against the hub's memory budget; a stream
/// before enrollment (anyone may open one) sends one small frame outside it.
async fn open(
    conn: &quinn::Connection,
    shared: &Shared,
    authenticated: bool,
) -> Result<(Reader, Writer, AgentMessage), End> {
    let timeout = shared.settings.first_frame_timeout;
    let first = async {
        let (send, recv) = conn.accept_bi().await.map_err(|_| End::Gone)?;
        let mut reader = if authenticated {
            FrameReader::new(recv, MAX_BULK_FRAME)
                .with_memory(shared.memory.clone(), shared.settings.frame_body_timeout)
        } else {
            FrameReader::new(recv, MAX_ENROLL_FRAME)
        };
        let writer = FrameWriter::new(send, MAX_CONTROL_FRAME);
        let message = reader.read::<AgentMessage>().await?;
        Ok((reader, writer, message))
    };
    tokio::time::timeout(timeout, first)
        .await
        .map_err(|_| End::Protocol("no first frame in time".to_owned()))?
}

/// Sends `Refused`, lets the agent read it, and returns the reason for [`finish`].
async fn refuse(conn: &quinn::Connection, writer: &mut Writer, reason: String) -> End {
    let sent = writer
        .write(&HubMessage::Refused {
            reason: reason.clone(),
        })
        .await;
    if sent.is_ok() {
        let _ = writer.get_mut().finish();
        let _ = tokio::time::timeout(LINGER, conn.closed()).await;
    }
    End::Refused(reason)
}

async fn enroll(conn: &quinn::Connection, shared: &Shared) -> Result<(), End> {
    let (_reader, mut writer, first) = open(conn, shared, false).await?;
    let AgentMessage::Enroll {
        token_id,
        secret,
        csr_der,
    } = first
    else {
        return Err(End::Protocol(format!(
            "{} without a client certificate",
            first.name()
        )));
    };
    // Check the CSR before spending the token, so a broken agent does not burn it.
    if let Err(err) = HubCa::check_csr(&csr_der) {
        return Err(refuse(conn, &mut writer, err.to_string()).await);
    }
    let grant = match shared
        .authority
        .redeem_token(&token_id, &secret.hash())
        .await
    {
        Ok(grant) => grant,
        Err(err) => {
            tracing::info!(token_id, reason = %err, "enrollment refused");
            return Err(refuse(conn, &mut writer, err.to_string()).await);
        }
    };
    let validity = grant.validity.unwrap_or(shared.settings.client_validity);
    let issued = shared
        .ca
        .sign_client_csr(&csr_der, grant.cluster_id, validity)
        .map_err(|err| End::Unavailable(err.to_string()))?;
    shared
        .authority
        .record_certificate(&issued)
        .await
        .map_err(|err| End::Unavailable(err.to_string()))?;
    tracing::info!(token_id, cluster = %grant.cluster_id, "agent enrolled");
    writer
        .write(&HubMessage::Enrolled {
            cluster_id: grant.cluster_id,
            cert_der: issued.cert_der,
            ca_der: shared.ca.cert_der().to_vec(),
            not_after: issued.not_after,
        })
        .await?;
    let _ = writer.get_mut().finish();
    let _ = tokio::time::timeout(LINGER, conn.closed()).await;
    conn.close(VarInt::from_u32(close::DONE), b"enrolled");
    Ok(())
}

/// Why the session's cluster or certificate may not go on, if either may not: the refusal
/// sent to the agent.
async fn refusal(shared: &Shared, session: &SessionCertificate) -> Result<Option<String>, End> {
    let links = shared
        .authority
        .session_links(std::slice::from_ref(session))
        .await
        .map_err(|err| End::Unavailable(err.to_string()))?;
    let reason = match links
        .into_iter()
        .find(|l| l.link.cluster == session.cluster)
    {
        None => "cluster does not exist",
        Some(found) if !found.link.enabled => "cluster is disabled",
        Some(found) => match found.certificate {
            CertificateStanding::Valid => return Ok(None),
            CertificateStanding::Revoked | CertificateStanding::Unknown => CERTIFICATE_REVOKED,
            CertificateStanding::Expired => "certificate expired",
        },
    };
    Ok(Some(reason.to_owned()))
}

async fn authenticated(
    conn: &quinn::Connection,
    shared: &Shared,
    session: &SessionCertificate,
    (registration, mut commands): (u64, mpsc::Receiver<HubMessage>),
) -> Result<(), End> {
    let cluster = session.cluster;
    let (reader, mut writer, first) = open(conn, shared, true).await?;
    let AgentMessage::Hello(hello) = first else {
        return Err(End::Protocol(format!("{} before hello", first.name())));
    };
    if let Some(reason) = refusal(shared, session).await? {
        return Err(refuse(conn, &mut writer, reason).await);
    }
    if hello.protocol != kubeworkz_shared::PROTOCOL_MAJOR {
        let reason = format!("protocol {} is not supported", hello.protocol);
        return Err(refuse(conn, &mut writer, reason).await);
    }
    let authority = &shared.authority;
    let mut cursor = authority
        .stream_cursor(cluster)
        .await
        .map_err(|err| End::Unavailable(err.to_string()))?;
    let resume = StreamCursor::can_resume(cursor, &hello);
    authority.agent_connected(cluster, &hello).await;
    let claim = authority.claim_session(cluster).await;
    if let Some(claim) = &claim {
        shared.set_claim(cluster, registration, claim.clone());
    }
    tracing::info!(%cluster, version = hello.agent_version, resume, "agent connected");
    writer
        .write(&HubMessage::Welcome {
            resume,
            hub_version: kubeworkz_shared::VERSION.to_owned(),
        })
        .await?;
    // A frame read is not cancel-safe, so one read stays in flight across the `select!`:
    // commands from outside are written between frames, never in the middle of one.
    let mut next = Box::pin(read_next(reader));
    loop {
        // `_hold` keeps the message's share of the memory budget until it is processed.
        let Held {
            message,
            hold: _hold,
        } = tokio::select! {
            (returned, message) = &mut next => {
                next.set(read_next(returned));
                message?
            }
            Some(command) = commands.recv() => {
                writer.write(&command).await?;
                continue;
            }
        };
        if let Some((epoch, seq)) = message.stream_position() {
            match StreamCursor::dispose(cursor, epoch, seq) {
                Disposition::Ingest => {
                    ingest(shared, cluster, claim.as_ref(), message)
                        .await
                        .inspect_err(|end| {
                            // Closed before this task drops its streams, so the agent reads
                            // why (a finished stream alone says nothing).
                            if matches!(end, End::Replaced) {
                                let reason = REPLACED_REASON.as_bytes();
                                conn.close(VarInt::from_u32(close::REPLACED), reason);
                            }
                        })?;
                    cursor = Some(StreamCursor { epoch, seq });
                }
                Disposition::Duplicate => {}
                Disposition::Gap => {
                    return Err(End::Protocol(format!(
                        "{} ({epoch}, {seq}) does not follow {cursor:?}",
                        message.name()
                    )));
                }
            }
            let acked = cursor.map_or(seq, |c| c.seq);
            writer.write(&HubMessage::Ack { epoch, seq: acked }).await?;
            continue;
        }
        match message {
            AgentMessage::Heartbeat { at } => authority.record_heartbeat(cluster, at).await,
            AgentMessage::ClusterInfo { info } => authority.cluster_info(cluster, &info).await,
            AgentMessage::RenewCertificate { csr_der } => {
                if let Some(reason) = refusal(shared, session).await? {
                    return Err(refuse(conn, &mut writer, reason).await);
                }
                let issued = shared
                    .ca
                    .sign_client_csr(&csr_der, cluster, shared.settings.client_validity)
                    .map_err(|err| End::Protocol(err.to_string()))?;
                authority
                    .record_certificate(&issued)
                    .await
                    .map_err(|err| End::Unavailable(err.to_string()))?;
                tracing::info!(%cluster, "client certificate renewed");
                writer
                    .write(&HubMessage::Certificate {
                        cert_der: issued.cert_der,
                        ca_der: shared.ca.cert_der().to_vec(),
                        not_after: issued.not_after,
                    })
                    .await?;
            }
            other => {
                return Err(End::Protocol(format!(
                    "unexpected {} after hello",
                    other.name()
                )));
            }
        }
    }
}

/// Reads one message, handing the reader back so the next read can start.
async fn read_next(mut reader: Reader) -> (Reader, Result<Held<AgentMessage>, FrameError>) {
    let message = reader.read_held::<AgentMessage>().await;
    (reader, message)
}

async fn ingest(
    shared: &Shared,
    cluster: ClusterId,
    claim: Option<&Fence>,
    message: AgentMessage,
) -> Result<(), End> {
    let authority = &shared.authority;
    let result = match message {
        AgentMessage::Batch { epoch, seq, batch } => {
            authority
                .ingest_batch(cluster, claim, epoch, seq, batch)
                .await
        }
        AgentMessage::Usage {
            epoch,
            seq,
            buckets,
        } => {
            authority
                .ingest_usage(cluster, claim, epoch, seq, buckets)
                .await
        }
        AgentMessage::Health {
            epoch,
            seq,
            report,
            signals,
        } => {
            authority
                .ingest_health(cluster, claim, epoch, seq, report, signals)
                .await
        }
        _ => Ok(()),
    };
    result.map_err(|err| {
        if err.is_superseded() {
            End::Replaced
        } else {
            End::Unavailable(err.to_string())
        }
    })
}
