//! Where the agent keeps its identity between restarts, so a restart does not re-enroll (a
//! single-use token would be refused the second time).
//!
//! In a cluster the identity goes in a Secret in the agent's own namespace — the chart creates
//! it empty and grants the agent `get`/`update` on that one name, so the private key never
//! leaves the cluster. Outside a cluster it goes in a file written with mode 0600 (atomically:
//! a temporary file renamed over the old one). Both hold the same four entries: `cluster-id`,
//! `tls.key` (PKCS#8 DER), `tls.crt` and `ca.crt` (DER); the file is the JSON of that map with
//! base64 values, like a Secret's `data`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use kubeworkz_shared::ids::ClusterId;

use crate::config::CredentialsLocation;
use crate::transport::{AgentIdentity, ClientError};

const CLUSTER_ID: &str = "cluster-id";
const KEY: &str = "tls.key";
const CERT: &str = "tls.crt";
const CA: &str = "ca.crt";

/// Where the service account's namespace is mounted in a pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Why credentials could not be read or written. Names the place and the entry, never the
/// content.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The apiserver refused or failed (e.g. the Role does not name this Secret).
    #[error("credentials secret {namespace}/{name}: {source}")]
    Kube {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// The apiserver's answer.
        #[source]
        source: kube::Error,
    },
    /// The file could not be read or written.
    #[error("credentials file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The stored credentials are incomplete or do not fit together.
    #[error("stored credentials in {place} are unusable: {reason}")]
    Corrupt {
        /// Secret or file.
        place: String,
        /// Which entry, and why.
        reason: String,
    },
    /// No namespace was given and the service account's namespace file is unreadable.
    #[error(
        "cannot tell the agent's namespace: set KUBEWORKZ_NAMESPACE ({SERVICE_ACCOUNT_NAMESPACE}: {0})"
    )]
    Namespace(#[source] std::io::Error),
}

/// The identity's home (see the module docs).
#[derive(Clone)]
pub enum CredentialStore {
    /// A Secret in the agent's namespace.
    Secret {
        /// The Secrets of the namespace.
        api: Api<Secret>,
        /// Namespace, for messages.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// A file.
    File(PathBuf),
}

impl std::fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.place())
    }
}

impl CredentialStore {
    /// The store `location` names; a Secret without a namespace lives in the service
    /// account's.
    pub fn new(
        location: &CredentialsLocation,
        client: kube::Client,
    ) -> Result<Self, CredentialsError> {
        Ok(match location {
            CredentialsLocation::File(path) => Self::File(path.clone()),
            CredentialsLocation::Secret { namespace, name } => {
                let namespace = match namespace {
                    Some(namespace) => namespace.clone(),
                    None => std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                        .map_err(CredentialsError::Namespace)?
                        .trim()
                        .to_owned(),
                };
                Self::Secret {
                    api: Api::namespaced(client, &namespace),
                    namespace,
                    name: name.clone(),
                }
            }
        })
    }

    /// `secret NS/NAME` or `file PATH`.
    pub fn place(&self) -> String {
        match self {
            Self::Secret {
                namespace, name, ..
            } => format!("secret {namespace}/{name}"),
            Self::File(path) => format!("file {}", path.display()),
        }
    }

    /// The stored identity, or `None` before the first enrollment (no file, or an empty
    /// Secret).
    pub async fn load(&self) -> Result<Option<AgentIdentity>, CredentialsError> {
        let entries = match self {
            Self::Secret { api, .. } => self
                .get_secret(api)
                .await?
                .and_then(|secret| secret.data)
                .map(|data| data.into_iter().map(|(k, v)| (k, v.0)).collect()),
            Self::File(path) => read_file(path)?,
        };
        match entries {
            Some(entries) if !entries.is_empty() => self.decode(entries).map(Some),
            _ => Ok(None),
        }
    }

    /// Stores `identity`, replacing what was there.
    pub async fn save(&self, identity: &AgentIdentity) -> Result<(), CredentialsError> {
        let entries = encode(identity);
        match self {
            Self::Secret { api, .. } => self.put_secret(api, entries).await,
            Self::File(path) => write_file(path, &entries),
        }
    }

    /// Proves the store is writable before a token is spent on an identity that could not be
    /// kept: rewrites the Secret unchanged (or creates it empty), or writes and removes a
    /// temporary file beside the credentials file.
    pub async fn check_writable(&self) -> Result<(), CredentialsError> {
        match self {
            Self::Secret { api, .. } => {
                let data = self
                    .get_secret(api)
                    .await?
                    .and_then(|secret| secret.data)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                self.put_secret(api, data).await
            }
            Self::File(path) => {
                let probe = sibling(path, ".probe");
                create_private(&probe)
                    .map(drop)
                    .and_then(|()| std::fs::remove_file(&probe))
                    .map_err(|source| CredentialsError::Io {
                        path: probe,
                        source,
                    })
            }
        }
    }

    fn kube_error(&self, source: kube::Error) -> CredentialsError {
        let Self::Secret {
            namespace, name, ..
        } = self
        else {
            unreachable!("only the Secret store talks to the apiserver")
        };
        CredentialsError::Kube {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        }
    }

    async fn get_secret(&self, api: &Api<Secret>) -> Result<Option<Secret>, CredentialsError> {
        let Self::Secret { name, .. } = self else {
            unreachable!("only the Secret store has an api")
        };
        api.get_opt(name).await.map_err(|err| self.kube_error(err))
    }

    /// Replaces the Secret's data (creating the Secret if it is missing; the chart creates it,
    /// so `create` is needed only outside the chart). Retries once on a conflicting write.
    async fn put_secret(
        &self,
        api: &Api<Secret>,
        entries: BTreeMap<String, Vec<u8>>,
    ) -> Result<(), CredentialsError> {
        let Self::Secret { name, .. } = self else {
            unreachable!("only the Secret store has an api")
        };
        let data: BTreeMap<String, ByteString> = entries
            .into_iter()
            .map(|(k, v)| (k, ByteString(v)))
            .collect();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = match self.get_secret(api).await? {
                Some(mut secret) => {
                    secret.data = Some(data.clone());
                    secret.string_data = None;
                    api.replace(name, &PostParams::default(), &secret)
                        .await
                        .map(drop)
                }
                None => {
                    let secret = Secret {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            ..ObjectMeta::default()
                        },
                        type_: Some("Opaque".into()),
                        data: Some(data.clone()),
                        ..Secret::default()
                    };
                    api.create(&PostParams::default(), &secret).await.map(drop)
                }
            };
            match result {
                Err(kube::Error::Api(status)) if status.code == 409 && attempts < 3 => continue,
                other => return other.map_err(|err| self.kube_error(err)),
            }
        }
    }

    fn decode(
        &self,
        mut entries: BTreeMap<String, Vec<u8>>,
    ) -> Result<AgentIdentity, CredentialsError> {
        let corrupt = |reason: String| CredentialsError::Corrupt {
            place: self.place(),
            reason,
        };
        let mut take = |key: &str| {
            entries
                .remove(key)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| corrupt(format!("{key} is missing")))
        };
        let cluster_id: ClusterId = String::from_utf8(take(CLUSTER_ID)?)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| corrupt(format!("{CLUSTER_ID} is not a cluster id")))?;
        let (key, cert, ca) = (take(KEY)?, take(CERT)?, take(CA)?);
        AgentIdentity::from_parts(cluster_id, key, cert, ca).map_err(|err| match err {
            ClientError::Protocol(reason) => corrupt(reason),
            other => corrupt(other.to_string()),
        })
    }
}

fn encode(identity: &AgentIdentity) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (
            CLUSTER_ID.to_owned(),
            identity.cluster_id.to_string().into_bytes(),
        ),
        (
            KEY.to_owned(),
            identity.key_der().secret_pkcs8_der().to_vec(),
        ),
        (CERT.to_owned(), identity.cert_der.clone()),
        (CA.to_owned(), identity.ca_der.clone()),
    ])
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Creates (truncating) `path` with mode 0600 from the start, so the key is never readable by
/// others, not even briefly.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

fn read_file(path: &Path) -> Result<Option<BTreeMap<String, Vec<u8>>>, CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io(err)),
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "credentials file is readable by others: chmod 600 it");
    }
    let entries: BTreeMap<String, ByteString> =
        serde_json::from_slice(&text).map_err(|err| CredentialsError::Corrupt {
            place: format!("file {}", path.display()),
            // serde_json's message gives line and column, not content.
            reason: format!("not a credentials file ({})", json_problem(&err)),
        })?;
    Ok(Some(entries.into_iter().map(|(k, v)| (k, v.0)).collect()))
}

fn write_file(path: &Path, entries: &BTreeMap<String, Vec<u8>>) -> Result<(), CredentialsError> {
    let temp = sibling(path, ".tmp");
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    let data: BTreeMap<&str, ByteString> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), ByteString(v.clone())))
        .collect();
    let json = serde_json::to_vec_pretty(&data).expect("a map of strings serializes");
    let mut file = create_private(&temp).map_err(io)?;
    file.write_all(&json).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io)
}

/// What is wrong with a JSON document, without serde_json's message (which can quote values).
fn json_problem(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not a map of base64 values",
        serde_json::error::Category::Eof => "truncated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};

    /// An identity signed by a throwaway CA, as the hub would issue it.
    fn identity() -> AgentIdentity {
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params().self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cluster = ClusterId::new();
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::URI(
            format!("kubeworkz://cluster/{cluster}").try_into().unwrap(),
        )];
        let ca_der = ca.der().to_vec();
        let issuer = Issuer::new(ca_params(), ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        AgentIdentity::from_parts(cluster, key.serialize_der(), cert.der().to_vec(), ca_der)
            .unwrap()
    }

    fn ca_params() -> CertificateParams {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    }

    #[tokio::test]
    async fn a_file_round_trips_the_identity_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let store = CredentialStore::File(path.clone());
        assert!(store.load().await.unwrap().is_none());
        store.check_writable().await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let first = identity();
        store.save(&first).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!(loaded.cluster_id, first.cluster_id);
        assert_eq!(loaded.cert_der, first.cert_der);
        assert_eq!(
            loaded.key_der().secret_pkcs8_der(),
            first.key_der().secret_pkcs8_der()
        );

        // A renewal replaces it.
        let second = identity();
        store.save(&second).await.unwrap();
        assert_eq!(
            store.load().await.unwrap().unwrap().cert_der,
            second.cert_der
        );
        assert!(!dir.path().join("credentials.json.tmp").exists());
    }

    #[tokio::test]
    async fn damaged_credentials_are_named_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let store = CredentialStore::File(path.clone());
        std::fs::write(&path, r#"{"cluster-id": "secret-looking-value"}"#).unwrap();
        let err = store.load().await.unwrap_err().to_string();
        assert!(err.contains("not a map of base64 values"), "{err}");
        assert!(!err.contains("secret-looking-value"), "{err}");

        let mut entries = encode(&identity());
        entries.remove(KEY);
        write_file(&path, &entries).unwrap();
        let err = store.load().await.unwrap_err().to_string();
        assert!(err.contains("tls.key is missing"), "{err}");
    }
}
