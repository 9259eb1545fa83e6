//! CA persistence, CSR signing that ignores what the CSR asks for, identity mapping.

use std::time::Duration;

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::protocol::CaPin;
use kubeworkz_shared::time::UnixMillis;
use rcgen::{CertificateParams, IsCa, KeyPair, PublicKeyData as _, SanType};
use x509_parser::extensions::GeneralName;

use super::*;
use crate::seal::{Keyring, MasterKey};

fn keyring() -> Keyring {
    Keyring::new(MasterKey::generate().0, vec![])
}

/// A CSR that asks for everything it must not get: another cluster's URI, a DNS name, the CA
/// bit and a misleading CN.
fn greedy_csr(key: &KeyPair) -> Vec<u8> {
    let other = ClusterId::new();
    let mut params = CertificateParams::new(vec!["hub.example.com".to_owned()]).expect("params");
    params.subject_alt_names.push(SanType::URI(
        format!("{CLUSTER_URI_PREFIX}{other}").try_into().unwrap(),
    ));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "root");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.serialize_request(key).expect("csr").der().to_vec()
}

#[test]
fn ca_round_trips_through_sealed_parts() {
    let keyring = keyring();
    let ca = HubCa::generate().unwrap();
    let parts = ca.to_parts(&keyring);
    let back = HubCa::from_parts(&parts.cert_der, &parts.sealed_key, &keyring).unwrap();
    assert_eq!(back.ca_pin(), ca.ca_pin());
    assert_eq!(CaPin::of_certificate(back.cert_der()).unwrap(), ca.ca_pin());
    // The restored CA signs certificates that chain to the same certificate.
    let key = KeyPair::generate().unwrap();
    let issued = back
        .sign_client_csr(&greedy_csr(&key), ClusterId::new(), DEFAULT_CLIENT_VALIDITY)
        .unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
    leaf.verify_signature(Some(ca_cert.public_key())).unwrap();

    // Another keyring cannot open it; another CA's key does not fit this certificate.
    assert!(matches!(
        HubCa::from_parts(&parts.cert_der, &parts.sealed_key, &self::keyring()),
        Err(PkiError::Seal(_))
    ));
    let other = HubCa::generate().unwrap().to_parts(&keyring);
    assert!(matches!(
        HubCa::from_parts(&parts.cert_der, &other.sealed_key, &keyring),
        Err(PkiError::KeyMismatch)
    ));
    let shown = format!("{ca:?} {parts:?}");
    assert!(!shown.contains("PRIVATE"), "{shown}");
}

#[test]
fn client_certificate_identity_is_set_by_the_hub_only() {
    let ca = HubCa::generate().unwrap();
    let key = KeyPair::generate().unwrap();
    let cluster = ClusterId::new();
    let before = UnixMillis::now();
    let issued = ca
        .sign_client_csr(&greedy_csr(&key), cluster, Duration::from_secs(3600))
        .unwrap();
    assert_eq!(cluster_id_from_cert(&issued.cert_der).unwrap(), cluster);
    assert_eq!(issued.cluster_id, cluster);

    let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    let sans = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        sans.value.general_names,
        vec![GeneralName::URI(&format!("{CLUSTER_URI_PREFIX}{cluster}"))]
    );
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), cluster.to_string());
    assert!(!cert.is_ca());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    // The CSR's key is the certificate's key.
    assert_eq!(
        cert.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    // Validity: from a minute back, for what was asked.
    let (not_before, not_after) = validity_of(&issued.cert_der).unwrap();
    assert!(
        not_before.0 <= before.0 - 59_000,
        "{not_before:?} {before:?}"
    );
    let lifetime = not_after.0 - before.0;
    assert!((3_598_000..=3_602_000).contains(&lifetime), "{lifetime}");
    assert_eq!(issued.serial.len(), 16);
    // The serial read back from the certificate is the one recorded at issuance.
    assert_eq!(
        certificate_serial(&issued.cert_der).unwrap(),
        serial_hex(&issued.serial)
    );
}

#[test]
fn serials_are_lowercase_hex_without_leading_zero_bytes() {
    assert_eq!(serial_hex(&[0x00, 0x7f, 0x0a]), "7f0a");
    assert_eq!(serial_hex(&[0xab, 0x00]), "ab00");
    assert_eq!(serial_hex(&[]), "");
    assert!(matches!(
        certificate_serial(b"garbage"),
        Err(PkiError::BadCertificate("does not parse"))
    ));
}

#[test]
fn csr_whose_signature_does_not_verify_is_refused() {
    let ca = HubCa::generate().unwrap();
    let key = KeyPair::generate().unwrap();
    let mut csr = greedy_csr(&key);
    let last = csr.len() - 1;
    csr[last] ^= 0x01;
    let err = ca
        .sign_client_csr(&csr, ClusterId::new(), DEFAULT_CLIENT_VALIDITY)
        .unwrap_err();
    assert!(matches!(err, PkiError::BadCsr(_)), "{err}");
    assert!(matches!(
        ca.sign_client_csr(b"garbage", ClusterId::new(), DEFAULT_CLIENT_VALIDITY),
        Err(PkiError::BadCsr("does not parse"))
    ));
}

#[test]
fn server_identity_names_the_hub_and_chains_to_the_ca() {
    let ca = HubCa::generate().unwrap();
    let identity = ca
        .issue_server_identity(
            &["127.0.0.1".to_owned(), "localhost".to_owned()],
            Duration::from_secs(3600),
        )
        .unwrap();
    assert_eq!(identity.cert_chain[1], *ca.cert_der());
    let (_, cert) = x509_parser::parse_x509_certificate(&identity.cert_chain[0]).unwrap();
    let sans = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        sans.value.general_names,
        vec![
            GeneralName::IPAddress(&[127, 0, 0, 1]),
            GeneralName::DNSName("localhost")
        ]
    );
    assert!(format!("{identity:?}").contains("<redacted>"));
    // A server certificate has no cluster identity.
    assert!(cluster_id_from_cert(&identity.cert_chain[0]).is_err());
}
