//! The certificates and keys of one test cluster, made fresh with `rcgen` for every cluster so
//! no key material is ever committed or shared between clusters.
//!
//! Layout follows kubeadm: a cluster CA (serving and client certificates of every component), a
//! separate front-proxy CA (the aggregation layer's `--requestheader-client-ca-file`, so that no
//! ordinary client certificate can pose as the aggregator), and an ECDSA service-account signing
//! key pair.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its private key, in PEM, plus where they were written.
#[derive(Debug, Clone)]
pub(crate) struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Everything the components of one cluster need, written below `<dir>/pki/`.
#[derive(Debug)]
pub(crate) struct Pki {
    pub ca: CertPair,
    pub front_proxy_ca: CertPair,
    pub apiserver: CertPair,
    pub front_proxy_client: CertPair,
    pub admin: CertPair,
    pub controller_manager: CertPair,
    pub scheduler: CertPair,
    pub kwok: CertPair,
    pub kwok_serving: CertPair,
    pub sa_key_path: PathBuf,
    pub sa_pub_path: PathBuf,
}

fn new_ca(cn: &str) -> Result<(CertifiedIssuer<'static, KeyPair>, String)> {
    let key = KeyPair::generate()?;
    let key_pem = key.serialize_pem();
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok((CertifiedIssuer::self_signed(params, key)?, key_pem))
}

enum Usage {
    Server,
    Client,
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    orgs: &[&str],
    usage: Usage,
) -> Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    for o in orgs {
        params.distinguished_name.push(DnType::OrganizationName, *o);
    }
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    match usage {
        Usage::Server => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.subject_alt_names = vec![
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                SanType::DnsName("localhost".try_into()?),
                SanType::DnsName("kubernetes".try_into()?),
                SanType::DnsName("kubernetes.default".try_into()?),
                SanType::DnsName("kubernetes.default.svc".try_into()?),
                SanType::DnsName("kubernetes.default.svc.cluster.local".try_into()?),
            ];
        }
        Usage::Client => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(dir: &Path, name: &str, (cert_pem, key_pem): (String, String)) -> Result<CertPair> {
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.pem"));
    std::fs::write(&cert_path, &cert_pem)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    std::fs::write(&key_path, &key_pem)
        .with_context(|| format!("writing {}", key_path.display()))?;
    Ok(CertPair {
        cert_pem,
        key_pem,
        cert_path,
        key_path,
    })
}

impl Pki {
    /// Generates and writes a complete PKI below `dir/pki`.
    pub(crate) fn generate(dir: &Path) -> Result<Pki> {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir)?;

        let (ca_issuer, ca_key) = new_ca("kubeworkz-test-ca")?;
        let ca = write(&dir, "ca", (ca_issuer.pem(), ca_key))?;
        let (fp_issuer, fp_key) = new_ca("kubeworkz-test-front-proxy-ca")?;
        let front_proxy_ca = write(&dir, "front-proxy-ca", (fp_issuer.pem(), fp_key))?;

        let apiserver = write(
            &dir,
            "apiserver",
            leaf(&ca_issuer, "kube-apiserver", &[], Usage::Server)?,
        )?;
        let kwok_serving = write(
            &dir,
            "kwok-serving",
            leaf(&ca_issuer, "kwok", &[], Usage::Server)?,
        )?;
        let front_proxy_client = write(
            &dir,
            "front-proxy-client",
            leaf(&fp_issuer, "front-proxy-client", &[], Usage::Client)?,
        )?;
        let admin = write(
            &dir,
            "admin",
            leaf(
                &ca_issuer,
                "kubernetes-admin",
                &["system:masters"],
                Usage::Client,
            )?,
        )?;
        let controller_manager = write(
            &dir,
            "kube-controller-manager",
            leaf(
                &ca_issuer,
                "system:kube-controller-manager",
                &[],
                Usage::Client,
            )?,
        )?;
        let scheduler = write(
            &dir,
            "kube-scheduler",
            leaf(&ca_issuer, "system:kube-scheduler", &[], Usage::Client)?,
        )?;
        // kwok plays every kubelet and also writes Stages' results for pods and nodes it does
        // not "own" in the Node-authorizer sense, so (like kwokctl) it runs as a cluster admin.
        let kwok = write(
            &dir,
            "kwok",
            leaf(
                &ca_issuer,
                "kwok-controller",
                &["system:masters"],
                Usage::Client,
            )?,
        )?;

        let sa = KeyPair::generate()?;
        let sa_key_path = dir.join("sa.pem");
        let sa_pub_path = dir.join("sa.pub");
        std::fs::write(&sa_key_path, sa.serialize_pem())?;
        std::fs::write(&sa_pub_path, sa.public_key_pem())?;

        Ok(Pki {
            ca,
            front_proxy_ca,
            apiserver,
            front_proxy_client,
            admin,
            controller_manager,
            scheduler,
            kwok,
            kwok_serving,
            sa_key_path,
            sa_pub_path,
        })
    }
}
