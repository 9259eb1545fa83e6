//! Connecting to the hub: [`enroll`] once with the token, then [`connect`] with the identity.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use kubeworkz_shared::protocol::frame::{MAX_BULK_FRAME, MAX_CONTROL_FRAME, MAX_ENROLL_FRAME};
use kubeworkz_shared::protocol::{
    AgentMessage, CaPin, EnrollmentToken, FrameError, FrameReader, FrameWriter, Hello, HubMessage,
    QueuedFrame, close,
};
use quinn::{RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;

use super::ClientError;
use super::identity::{AgentIdentity, PendingKey};
use super::tls::client_config;

/// How long to wait for the hub's answer to `Enroll`, `Hello` or `RenewCertificate`.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a QUIC handshake may take. Without it an unreachable hub holds an attempt for the
/// whole idle timeout (60 s) before the backoff even starts; quinn resends its Initial
/// packets meanwhile, so a hub that comes back within this window is still reached.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the hub is: the UDP address and the name its certificate carries (a DNS name or the
/// IP address itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubAddress {
    /// UDP socket address.
    pub addr: SocketAddr,
    /// Name checked against the hub certificate.
    pub server_name: String,
}

/// An authenticated connection after `Welcome`.
#[derive(Debug)]
pub struct AgentSession {
    sender: SessionSender,
    conn: quinn::Connection,
    reader: FrameReader<RecvStream>,
    resume: bool,
    /// Messages read while waiting for a specific answer (acks during a renewal).
    pending: VecDeque<HubMessage>,
}

async fn open(
    hub: &HubAddress,
    pin: CaPin,
    identity: Option<&AgentIdentity>,
    max_frame: u32,
) -> Result<
    (
        quinn::Endpoint,
        quinn::Connection,
        FrameReader<RecvStream>,
        FrameWriter<SendStream>,
    ),
    ClientError,
> {
    let local: SocketAddr = if hub.addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(local)?;
    endpoint.set_default_client_config(client_config(pin, identity)?);
    let connecting = endpoint.connect(hub.addr, &hub.server_name)?;
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| ClientError::Timeout)??;
    let (send, recv) = conn.open_bi().await?;
    Ok((
        endpoint,
        conn,
        FrameReader::new(recv, MAX_CONTROL_FRAME),
        FrameWriter::new(send, max_frame),
    ))
}

/// Reads one hub message, turning a closed connection into the hub's reason.
async fn read(
    conn: &quinn::Connection,
    reader: &mut FrameReader<RecvStream>,
) -> Result<HubMessage, ClientError> {
    match tokio::time::timeout(ANSWER_TIMEOUT, reader.read::<HubMessage>()).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Ok(HubMessage::Refused { reason })) => {
            conn.close(VarInt::from_u32(close::DONE), b"refused");
            Err(ClientError::Refused { reason })
        }
        Ok(Ok(message)) => Ok(message),
        Ok(Err(err)) => Err(closed_reason(conn).unwrap_or(ClientError::Frame(err))),
    }
}

/// The hub's close code and reason, if the connection was closed by the hub.
fn closed_reason(conn: &quinn::Connection) -> Option<ClientError> {
    match conn.close_reason()? {
        quinn::ConnectionError::ApplicationClosed(closed) => {
            let reason = String::from_utf8_lossy(&closed.reason).into_owned();
            let code = u32::try_from(closed.error_code.into_inner()).unwrap_or(u32::MAX);
            Some(if code == close::REFUSED {
                ClientError::Refused { reason }
            } else {
                ClientError::Closed { code, reason }
            })
        }
        other => Some(ClientError::Connection(other)),
    }
}

/// Enrolls with `token`: connects trusting only the pinned CA, sends a CSR for a fresh key,
/// and returns the identity the hub issued.
pub async fn enroll(
    hub: &HubAddress,
    token: &EnrollmentToken,
) -> Result<AgentIdentity, ClientError> {
    let pending = PendingKey::generate()?;
    let (endpoint, conn, mut reader, mut writer) =
        open(hub, token.ca_pin(), None, MAX_ENROLL_FRAME).await?;
    writer
        .write(&AgentMessage::Enroll {
            token_id: token.public_id().to_owned(),
            secret: token.secret().clone(),
            csr_der: pending.csr_der.clone(),
        })
        .await?;
    let answer = read(&conn, &mut reader).await;
    conn.close(VarInt::from_u32(close::DONE), b"");
    endpoint.wait_idle().await;
    match answer? {
        HubMessage::Enrolled {
            cluster_id,
            cert_der,
            ca_der,
            not_after: _,
        } => pending.complete(cluster_id, cert_der, ca_der, token.ca_pin()),
        other => Err(ClientError::Protocol(format!(
            "unexpected answer to enroll: {}",
            hub_message_name(&other)
        ))),
    }
}

/// Connects with `identity`, says `hello`, and waits for `Welcome`.
pub async fn connect(
    hub: &HubAddress,
    identity: &AgentIdentity,
    hello: Hello,
) -> Result<AgentSession, ClientError> {
    let (endpoint, conn, mut reader, mut writer) =
        open(hub, identity.ca_pin(), Some(identity), MAX_BULK_FRAME).await?;
    writer.write(&AgentMessage::Hello(hello)).await?;
    match read(&conn, &mut reader).await? {
        HubMessage::Welcome { resume, .. } => Ok(AgentSession {
            sender: SessionSender {
                endpoint,
                conn: conn.clone(),
                writer,
            },
            conn,
            reader,
            resume,
            pending: VecDeque::new(),
        }),
        other => Err(ClientError::Protocol(format!(
            "unexpected answer to hello: {}",
            hub_message_name(&other)
        ))),
    }
}

fn hub_message_name(message: &HubMessage) -> &'static str {
    match message {
        HubMessage::Welcome { .. } => "welcome",
        HubMessage::Ack { .. } => "ack",
        HubMessage::Command(_) => "command",
        HubMessage::Certificate { .. } => "certificate",
        HubMessage::Refused { .. } => "refused",
        HubMessage::Enrolled { .. } => "enrolled",
        HubMessage::GoAway { .. } => "go-away",
    }
}

impl AgentSession {
    /// Whether the hub resumes the stream (`false`: start a new epoch with a full sync).
    pub fn resume(&self) -> bool {
        self.resume
    }

    /// The QUIC connection, on which the hub opens operation streams.
    pub fn connection(&self) -> quinn::Connection {
        self.conn.clone()
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &AgentMessage) -> Result<(), ClientError> {
        self.sender.send(message).await
    }

    /// Sends one queued data message as it was encoded.
    pub async fn send_queued(&mut self, queued: &QueuedFrame) -> Result<(), ClientError> {
        self.sender.send_queued(queued).await
    }

    /// Splits the session so that receiving can sit in a `select!`: a task reads frames and
    /// forwards them, so a cancelled receive never loses half a frame.
    pub fn split(self) -> (SessionSender, SessionReceiver) {
        let (tx, rx) = mpsc::channel(16);
        let (conn, mut reader, pending) = (self.conn.clone(), self.reader, self.pending);
        tokio::spawn(async move {
            for message in pending {
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
            loop {
                let item = match reader.read::<HubMessage>().await {
                    Ok(HubMessage::Refused { reason }) => Err(ClientError::Refused { reason }),
                    Ok(message) => Ok(message),
                    Err(err) => Err(closed_reason(&conn).unwrap_or(ClientError::Frame(err))),
                };
                let end = item.is_err();
                if tx.send(item).await.is_err() || end {
                    return;
                }
            }
        });
        let receiver = SessionReceiver {
            rx,
            conn: self.conn,
        };
        (self.sender, receiver)
    }

    /// The next message from the hub (acks, commands). No timeout: acks come only when
    /// something was sent; QUIC keep-alive and the idle timeout detect a dead hub.
    pub async fn recv(&mut self) -> Result<HubMessage, ClientError> {
        if let Some(message) = self.pending.pop_front() {
            return Ok(message);
        }
        match self.reader.read::<HubMessage>().await {
            Ok(HubMessage::Refused { reason }) => Err(ClientError::Refused { reason }),
            Ok(message) => Ok(message),
            Err(err) => Err(closed_reason(&self.conn).unwrap_or(ClientError::Frame(err))),
        }
    }

    /// Renews the client certificate over this connection with a fresh key. Messages that
    /// arrive meanwhile are kept for [`AgentSession::recv`]. The connection stays up: TLS
    /// authenticated it at the handshake; the new certificate is for the next one.
    pub async fn renew(&mut self, identity: &AgentIdentity) -> Result<AgentIdentity, ClientError> {
        let pending = PendingKey::generate()?;
        self.send(&AgentMessage::RenewCertificate {
            csr_der: pending.csr_der.clone(),
        })
        .await?;
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.reader.read::<HubMessage>())
                .await
                .map_err(|_| ClientError::Timeout)?;
            match message {
                Ok(HubMessage::Certificate {
                    cert_der, ca_der, ..
                }) => {
                    return pending.complete(
                        identity.cluster_id,
                        cert_der,
                        ca_der,
                        identity.ca_pin(),
                    );
                }
                Ok(HubMessage::Refused { reason }) => return Err(ClientError::Refused { reason }),
                Ok(other) => self.pending.push_back(other),
                Err(err) => {
                    return Err(closed_reason(&self.conn).unwrap_or(ClientError::Frame(err)));
                }
            }
        }
    }

    /// Whether the hub has closed the connection (and why).
    pub fn closed(&self) -> Option<ClientError> {
        closed_reason(&self.conn)
    }

    /// Closes the connection cleanly and waits for the close to reach the hub.
    pub async fn close(self) {
        self.sender.close().await;
    }
}

/// The sending half of a split [`AgentSession`].
#[derive(Debug)]
pub struct SessionSender {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    writer: FrameWriter<SendStream>,
}

impl SessionSender {
    /// Sends one message; a closed connection reports the hub's reason.
    pub async fn send(&mut self, message: &AgentMessage) -> Result<(), ClientError> {
        let written = self.writer.write(message).await;
        self.sent(written)
    }

    /// Sends one queued data message as it was encoded (no second encoding, no copy).
    pub async fn send_queued(&mut self, queued: &QueuedFrame) -> Result<(), ClientError> {
        let written = self.writer.write_frame(queued.frame()).await;
        self.sent(written)
    }

    fn sent(&self, written: Result<(), FrameError>) -> Result<(), ClientError> {
        match written {
            Ok(()) => Ok(()),
            Err(FrameError::Io(err)) => {
                Err(closed_reason(&self.conn).unwrap_or(ClientError::Frame(FrameError::Io(err))))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Closes the connection cleanly and waits for the close to reach the hub.
    pub async fn close(self) {
        self.close_because(b"agent shutting down").await;
    }

    /// Closes the connection cleanly with `reason` (logged by the hub) and waits for the
    /// close to reach it.
    pub async fn close_because(self, reason: &[u8]) {
        self.conn.close(VarInt::from_u32(close::DONE), reason);
        self.endpoint.wait_idle().await;
    }
}

/// The receiving half of a split [`AgentSession`]; [`SessionReceiver::recv`] is cancel-safe.
#[derive(Debug)]
pub struct SessionReceiver {
    rx: mpsc::Receiver<Result<HubMessage, ClientError>>,
    conn: quinn::Connection,
}

impl SessionReceiver {
    /// The next hub message, or why there is none.
    pub async fn recv(&mut self) -> Result<HubMessage, ClientError> {
        match self.rx.recv().await {
            Some(item) => item,
            None => Err(closed_reason(&self.conn)
                .unwrap_or(ClientError::Protocol("session reader ended".into()))),
        }
    }
}
