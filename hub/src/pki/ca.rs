//! [`HubCa`]: creation, persistence (sealed key), client and server certificates.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::protocol::CaPin;
use kubeworkz_shared::time::UnixMillis;
use rand::RngCore as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PublicKeyData as _,
    SanType, SerialNumber, SubjectPublicKeyInfo,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::FromDer as _;

use super::{CA_KEY_CONTEXT, CLOCK_SKEW, CLUSTER_URI_PREFIX, PkiError, to_offset, to_unix_millis};
use crate::seal::Keyring;

/// How long the CA itself is valid. Long, because rotating it means re-enrolling every agent.
const CA_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);

/// The hub's certificate authority. `Debug` shows the pin only.
pub struct HubCa {
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    pin: CaPin,
}

/// What the store keeps of the CA: the certificate (public) and the sealed key.
#[derive(Clone, PartialEq, Eq)]
pub struct HubCaParts {
    /// CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// PKCS#8 PEM of the CA key, sealed under [`CA_KEY_CONTEXT`].
    pub sealed_key: Vec<u8>,
}

impl fmt::Debug for HubCaParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HubCaParts {{ cert_der: {} bytes, sealed_key: <sealed> }}",
            self.cert_der.len()
        )
    }
}

/// A client certificate the hub issued: what the store records (serial, validity) and what
/// the agent receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The cluster named in the certificate.
    pub cluster_id: ClusterId,
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// Serial number (positive, 16 bytes).
    pub serial: Vec<u8>,
    /// Start of validity (a minute before issuance).
    pub not_before: UnixMillis,
    /// End of validity.
    pub not_after: UnixMillis,
}

/// The hub's QUIC server certificate chain and key. `Debug` omits the key.
pub struct ServerIdentity {
    /// Leaf, then the CA certificate (so agents can match the pin).
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ServerIdentity {{ certs: {}, key: <redacted> }}",
            self.cert_chain.len()
        )
    }
}

impl fmt::Debug for HubCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubCa {{ pin: {} }}", self.pin)
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // and 16 bytes long, no leading zero to strip
    SerialNumber::from_slice(&bytes)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "kubeworkz");
    dn.push(DnType::CommonName, common_name);
    dn
}

impl HubCa {
    /// A new CA with a fresh ECDSA P-256 key.
    pub fn generate() -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = name("kubeworkz hub CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = to_offset(now - CLOCK_SKEW);
        params.not_after = to_offset(now + CA_VALIDITY);
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key)?;
        let cert_der = cert.der().clone();
        Self::assemble(cert_der, Issuer::new(params, key))
    }

    /// The CA from what [`HubCa::to_parts`] stored.
    pub fn from_parts(
        cert_der: &[u8],
        sealed_key: &[u8],
        keyring: &Keyring,
    ) -> Result<Self, PkiError> {
        let pem = keyring.open(sealed_key, CA_KEY_CONTEXT)?;
        let pem = std::str::from_utf8(&pem).map_err(|_| PkiError::KeyMismatch)?;
        let key = KeyPair::from_pem(pem)?;
        let cert_der = CertificateDer::from(cert_der.to_vec());
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|_| PkiError::BadCertificate("CA certificate does not parse"))?;
        if cert.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError::KeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        Self::assemble(cert_der, issuer)
    }

    fn assemble(
        cert_der: CertificateDer<'static>,
        issuer: Issuer<'static, KeyPair>,
    ) -> Result<Self, PkiError> {
        let pin = CaPin::of_certificate(&cert_der)
            .map_err(|_| PkiError::BadCertificate("CA certificate does not parse"))?;
        Ok(Self {
            cert_der,
            issuer,
            pin,
        })
    }

    /// The certificate and the sealed key, for the store.
    pub fn to_parts(&self, keyring: &Keyring) -> HubCaParts {
        let pem = self.issuer.key().serialize_pem();
        HubCaParts {
            cert_der: self.cert_der.to_vec(),
            sealed_key: keyring.seal(pem.as_bytes(), CA_KEY_CONTEXT),
        }
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// SHA-256 of the CA's SPKI: what enrollment tokens carry.
    pub fn ca_pin(&self) -> CaPin {
        self.pin
    }

    /// Signs a client certificate for `cluster_id` with the public key of `csr_der`, ignoring
    /// everything else the CSR asks for (module docs).
    pub fn sign_client_csr(
        &self,
        csr_der: &[u8],
        cluster_id: ClusterId,
        validity: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        let public_key = csr_public_key(csr_der)?;
        let uri = format!("{CLUSTER_URI_PREFIX}{cluster_id}");
        let params = leaf_params(
            &cluster_id.to_string(),
            vec![SanType::URI(uri.try_into()?)],
            ExtendedKeyUsagePurpose::ClientAuth,
            validity,
        );
        let cert = params.signed_by(&public_key, &self.issuer)?;
        Ok(IssuedCertificate {
            cluster_id,
            cert_der: cert.der().to_vec(),
            serial: params
                .serial_number
                .as_ref()
                .map(SerialNumber::to_bytes)
                .unwrap_or_default(),
            not_before: to_unix_millis(params.not_before),
            not_after: to_unix_millis(params.not_after),
        })
    }

    /// Checks that `csr_der` is a CSR this CA would sign (parses, self-signature verifies,
    /// accepted key type), before anything is spent on it (a single-use token).
    pub fn check_csr(csr_der: &[u8]) -> Result<(), PkiError> {
        csr_public_key(csr_der).map(drop)
    }

    /// A fresh server key and certificate for `names` (DNS names or IP addresses).
    pub fn issue_server_identity(
        &self,
        names: &[String],
        validity: Duration,
    ) -> Result<ServerIdentity, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let sans = names
            .iter()
            .map(|name| match name.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => name.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()?;
        let common_name = names.first().map_or("kubeworkz hub", String::as_str);
        let params = leaf_params(
            common_name,
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            validity,
        );
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ServerIdentity {
            cert_chain: vec![cert.der().clone(), self.cert_der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

/// Parameters of an end-entity certificate: not a CA, signatures only, one extended key
/// usage, valid from [`CLOCK_SKEW`] ago for `validity`, a random serial.
fn leaf_params(
    common_name: &str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    validity: Duration,
) -> CertificateParams {
    let now = SystemTime::now();
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.not_before = to_offset(now - CLOCK_SKEW);
    params.not_after = to_offset(now + validity);
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    params
}

/// The public key of a CSR whose self-signature verifies; only P-256 and Ed25519 keys.
fn csr_public_key(csr_der: &[u8]) -> Result<SubjectPublicKeyInfo, PkiError> {
    let (rest, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(csr_der)
            .map_err(|_| PkiError::BadCsr("does not parse"))?;
    if !rest.is_empty() {
        return Err(PkiError::BadCsr("trailing bytes"));
    }
    csr.verify_signature()
        .map_err(|_| PkiError::BadCsr("signature does not verify"))?;
    let key = SubjectPublicKeyInfo::from_der(csr.certification_request_info.subject_pki.raw)
        .map_err(|_| PkiError::BadCsr("unsupported public key"))?;
    if key.algorithm() != &PKCS_ECDSA_P256_SHA256 && key.algorithm() != &PKCS_ED25519 {
        return Err(PkiError::BadCsr(
            "public key must be ECDSA P-256 or Ed25519",
        ));
    }
    Ok(key)
}
