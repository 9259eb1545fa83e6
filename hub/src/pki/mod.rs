//! The hub's certificate authority: agent identities and the hub's own server certificate.
//!
//! - [`HubCa`] — an ECDSA P-256 CA created once per hub. Its certificate is public; its key is
//!   stored sealed ([`crate::seal::Keyring`], context [`CA_KEY_CONTEXT`]) by the integrator.
//!   Agents pin its SPKI SHA-256 ([`HubCa::ca_pin`]) from the enrollment token.
//! - [`HubCa::sign_client_csr`] — the agent generates its key and a CSR; the hub takes only the
//!   CSR's public key (after checking the CSR's signature) and sets everything else itself:
//!   cluster id as URI SAN `kubeworkz://cluster/<uuid>` and as CN, ClientAuth, not a CA,
//!   validity from a minute ago. Whatever names, SANs, CA bit or extensions the CSR asked for
//!   are ignored, so a stolen token cannot mint another cluster's identity.
//! - [`cluster_id_from_cert`] — maps a verified client leaf back to its [`ClusterId`];
//!   [`certificate_serial`] names the leaf as the store recorded it at issuance.
//! - [`HubCa::issue_server_identity`] — the hub's QUIC server certificate, for the names and
//!   addresses agents reach it at. Not persisted: a new one per start is fine, agents trust
//!   the CA.

mod ca;

pub use ca::{HubCa, HubCaParts, IssuedCertificate, ServerIdentity};

use std::time::{Duration, SystemTime};

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::UnixMillis;

/// Associated data under which the CA key is sealed.
pub const CA_KEY_CONTEXT: &str = "ca-key";

/// Default client certificate lifetime (renewed at ~70%, see the agent transport).
pub const DEFAULT_CLIENT_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// How far back `not_before` is set, for agents whose clock is slightly behind.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// URI SAN prefix naming a cluster in a client certificate.
pub const CLUSTER_URI_PREFIX: &str = "kubeworkz://cluster/";

/// Errors of the CA. None carries key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to build or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The CSR is malformed, its signature is wrong, or its key type is not accepted.
    #[error("invalid certificate signing request: {0}")]
    BadCsr(&'static str),
    /// A certificate is malformed or lacks what is needed.
    #[error("invalid certificate: {0}")]
    BadCertificate(&'static str),
    /// The sealed CA key does not open or does not match the certificate.
    #[error("CA key: {0}")]
    Seal(#[from] crate::seal::SealError),
    /// The CA key opened but is not a key for this certificate.
    #[error("CA key does not match the CA certificate")]
    KeyMismatch,
}

/// The cluster id in a client certificate's `kubeworkz://cluster/<uuid>` URI SAN. Call it
/// only on a leaf that rustls verified against the hub CA.
pub fn cluster_id_from_cert(cert_der: &[u8]) -> Result<ClusterId, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|_| PkiError::BadCertificate("does not parse"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|_| PkiError::BadCertificate("bad subject alternative names"))?
        .ok_or(PkiError::BadCertificate("no subject alternative names"))?;
    let mut ids = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(CLUSTER_URI_PREFIX),
            _ => None,
        });
    let id = ids
        .next()
        .ok_or(PkiError::BadCertificate("no cluster URI"))?;
    if ids.next().is_some() {
        return Err(PkiError::BadCertificate("more than one cluster URI"));
    }
    id.parse()
        .map_err(|_| PkiError::BadCertificate("cluster URI is not a uuid"))
}

/// A certificate serial as the store records it: lowercase hex of the serial's bytes, without
/// leading zero bytes (DER may add one to keep the integer positive), so a serial read back
/// from a presented certificate names the row recorded when it was issued.
pub fn serial_hex(serial: &[u8]) -> String {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    serial[start..].iter().map(|b| format!("{b:02x}")).collect()
}

/// The serial ([`serial_hex`]) of a DER certificate, e.g. the client leaf a connection
/// presented, so the transport can ask whether that very certificate is still good.
pub fn certificate_serial(cert_der: &[u8]) -> Result<String, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|_| PkiError::BadCertificate("does not parse"))?;
    Ok(serial_hex(cert.raw_serial()))
}

/// Validity window of a DER certificate, in the wire's time type.
pub fn validity_of(cert_der: &[u8]) -> Result<(UnixMillis, UnixMillis), PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|_| PkiError::BadCertificate("does not parse"))?;
    let validity = cert.validity();
    Ok((
        UnixMillis(validity.not_before.timestamp() * 1000),
        UnixMillis(validity.not_after.timestamp() * 1000),
    ))
}

fn to_offset(time: SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from(time)
}

fn to_unix_millis(time: time::OffsetDateTime) -> UnixMillis {
    UnixMillis(i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
