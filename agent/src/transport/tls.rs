//! TLS for the agent: trust exactly the CA pinned by the enrollment token.
//!
//! The hub sends its leaf and the CA certificate. [`PinnedCaVerifier`] takes the presented CA
//! whose SPKI SHA-256 equals the pin and verifies the leaf against it as the only root
//! (chain, validity, server name): no system roots, no trust on first use, no fallback.

use std::sync::Arc;
use std::time::Duration;

use kubeworkz_shared::protocol::CaPin;
use quinn::crypto::rustls::QuicClientConfig;
use quinn::{IdleTimeout, VarInt};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::identity::AgentIdentity;

/// QUIC keep-alive: three of them fit in [`IDLE_TIMEOUT`], so a connection survives two
/// lost in a row; far under typical NAT timeouts. One small packet every 2 s per agent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(2);
/// Idle timeout on the agent side. QUIC uses the smaller of the two ends' values, so this
/// one applies: a hub replica that dies without closing (`kill -9`, a lost node) is noticed
/// within it and the agent moves to its next hub address, instead of waiting a minute.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// Unacknowledged bytes the agent keeps in flight to the hub, all streams together (quinn's
/// default is 10 MB): what the agent buffers while the hub reads its followed logs slowly.
/// It caps the agent's throughput at this window per round trip, and a round trip includes
/// the hub's ACK delay (up to 25 ms) and, on a busy machine, its scheduling: 1 MiB held 100
/// followed logs to 4-6 MB/s where 4 MiB carried 8.2 (`hub/benches/log_follows.rs`, dev
/// profile, a loaded 2-core machine). 4 MiB fills a 200 ms round trip at 20 MB/s.
pub const SEND_WINDOW: u64 = 4 * 1024 * 1024;

/// Verifies the hub's certificate against the pinned CA only.
#[derive(Debug)]
pub struct PinnedCaVerifier {
    pin: CaPin,
    provider: Arc<CryptoProvider>,
}

impl PinnedCaVerifier {
    /// A verifier for `pin`.
    pub fn new(pin: CaPin) -> Self {
        Self {
            pin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|cert| CaPin::of_certificate(cert).is_ok_and(|pin| pin == self.pin))
            .ok_or(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|err| rustls::Error::General(err.to_string()))?;
        verifier.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The quinn client config: TLS 1.3, ALPN `kubeworkz/1`, pinned CA, the client certificate
/// of `identity` if enrolled (none while enrolling), keep-alive [`KEEP_ALIVE`].
pub fn client_config(
    pin: CaPin,
    identity: Option<&AgentIdentity>,
) -> Result<quinn::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCaVerifier::new(pin)));
    let mut tls = match identity {
        Some(identity) => builder.with_client_auth_cert(
            vec![CertificateDer::from(identity.cert_der.clone())],
            PrivateKeyDer::Pkcs8(identity.key_der()),
        )?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![kubeworkz_shared::ALPN.to_vec()];
    tls.enable_early_data = false;
    let crypto =
        QuicClientConfig::try_from(tls).map_err(|err| rustls::Error::General(err.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(KEEP_ALIVE))
        .send_window(SEND_WINDOW)
        .max_idle_timeout(Some(
            IdleTimeout::try_from(IDLE_TIMEOUT).expect("6 s is a valid idle timeout"),
        ))
        // The hub opens one stream per operation (`crate::operations`).
        .max_concurrent_bidi_streams(VarInt::from_u32(
            crate::operations::MAX_CONCURRENT_OPERATIONS as u32,
        ))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None);
    config.transport_config(Arc::new(transport));
    Ok(config)
}
