//! The agent's identity: its own key, the certificate the hub issued, the hub CA.
//!
//! The key is generated here and never leaves the cluster; only a CSR goes to the hub.
//! Storing the identity (a Kubernetes Secret) is the caller's business: these are values.

use std::fmt;

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::protocol::CaPin;
use kubeworkz_shared::time::UnixMillis;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::PrivatePkcs8KeyDer;

use super::ClientError;

/// Renew when this share of the certificate's lifetime has passed.
pub const RENEW_AT_PERCENT: i64 = 70;

/// A fresh key and its CSR. `Debug` omits the key.
pub struct PendingKey {
    key_der: Vec<u8>,
    /// PKCS#10 DER to send to the hub.
    pub csr_der: Vec<u8>,
}

impl fmt::Debug for PendingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PendingKey {{ csr: {} bytes, key: <redacted> }}",
            self.csr_der.len()
        )
    }
}

impl PendingKey {
    /// Generates an ECDSA P-256 key and a CSR for it. The CSR asks for nothing: the hub sets
    /// the identity.
    pub fn generate() -> Result<Self, ClientError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "kubeworkz-agent");
        params.distinguished_name = name;
        let csr = params.serialize_request(&key)?;
        Ok(Self {
            key_der: key.serialize_der(),
            csr_der: csr.der().to_vec(),
        })
    }

    /// The identity once the hub returned a certificate for this key. Checks that the
    /// certificate is for this key and that the CA matches `pin`.
    pub fn complete(
        self,
        cluster_id: ClusterId,
        cert_der: Vec<u8>,
        ca_der: Vec<u8>,
        pin: CaPin,
    ) -> Result<AgentIdentity, ClientError> {
        if CaPin::of_certificate(&ca_der).ok() != Some(pin) {
            return Err(ClientError::Protocol(
                "hub sent a CA that does not match the pin".into(),
            ));
        }
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|_| ClientError::Protocol("hub sent an unparsable certificate".into()))?;
        let key = KeyPair::try_from(self.key_der.as_slice())?;
        if cert.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key).as_slice() {
            return Err(ClientError::Protocol(
                "certificate is not for our key".into(),
            ));
        }
        let validity = cert.validity();
        Ok(AgentIdentity {
            cluster_id,
            key_der: self.key_der,
            not_before: UnixMillis(validity.not_before.timestamp() * 1000),
            not_after: UnixMillis(validity.not_after.timestamp() * 1000),
            cert_der,
            ca_der,
        })
    }
}

/// What an enrolled agent keeps. `Debug` omits the key.
#[derive(Clone)]
pub struct AgentIdentity {
    /// The cluster this agent speaks for.
    pub cluster_id: ClusterId,
    key_der: Vec<u8>,
    /// Client certificate (DER).
    pub cert_der: Vec<u8>,
    /// Hub CA certificate (DER); its SPKI matches the token's pin.
    pub ca_der: Vec<u8>,
    /// Start of the certificate's validity.
    pub not_before: UnixMillis,
    /// End of the certificate's validity.
    pub not_after: UnixMillis,
}

impl fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentIdentity")
            .field("cluster_id", &self.cluster_id)
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AgentIdentity {
    /// The private key (PKCS#8 DER), for storing in the agent's Secret.
    pub fn key_der(&self) -> PrivatePkcs8KeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_der.clone())
    }

    /// An identity from stored parts (the inverse of the fields and [`AgentIdentity::key_der`]).
    pub fn from_parts(
        cluster_id: ClusterId,
        key_der: Vec<u8>,
        cert_der: Vec<u8>,
        ca_der: Vec<u8>,
    ) -> Result<Self, ClientError> {
        let pin = CaPin::of_certificate(&ca_der)
            .map_err(|_| ClientError::Protocol("stored CA does not parse".into()))?;
        PendingKey {
            key_der,
            csr_der: Vec::new(),
        }
        .complete(cluster_id, cert_der, ca_der, pin)
    }

    /// The pin of the CA this identity trusts.
    pub fn ca_pin(&self) -> CaPin {
        CaPin::of_certificate(&self.ca_der).expect("checked when the identity was built")
    }

    /// When to renew: [`RENEW_AT_PERCENT`] of the way through the validity.
    pub fn renew_at(&self) -> UnixMillis {
        renew_at(self.not_before, self.not_after)
    }
}

/// `RENEW_AT_PERCENT` of the way from `not_before` to `not_after`.
pub fn renew_at(not_before: UnixMillis, not_after: UnixMillis) -> UnixMillis {
    let lifetime = not_after.0.saturating_sub(not_before.0).max(0);
    UnixMillis(
        not_before.0 + lifetime / 100 * RENEW_AT_PERCENT + lifetime % 100 * RENEW_AT_PERCENT / 100,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_seventy_percent() {
        let day = 86_400_000;
        assert_eq!(
            renew_at(UnixMillis(0), UnixMillis(10 * day)),
            UnixMillis(7 * day)
        );
        assert_eq!(
            renew_at(UnixMillis(1000), UnixMillis(4000)),
            UnixMillis(3100)
        );
        assert_eq!(renew_at(UnixMillis(5), UnixMillis(5)), UnixMillis(5));
        assert_eq!(renew_at(UnixMillis(9), UnixMillis(5)), UnixMillis(9));
    }

    #[test]
    fn pending_key_debug_has_no_key() {
        let pending = PendingKey::generate().unwrap();
        let shown = format!("{pending:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!pending.csr_der.is_empty());
    }
}
