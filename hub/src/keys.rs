//! Where the hub's master key comes from, and key rotation.
//!
//! In order: `KUBEWORKZ_MASTER_KEY` (base64 of 32 bytes; with `KUBEWORKZ_PREVIOUS_MASTER_KEYS`,
//! comma-separated, for keys that must still open older blobs), else the key file named by
//! `--master-key-file`, else `kubeworkz-master.key` beside the SQLite database (or in the
//! working directory for PostgreSQL), created on first start with mode 0600 — so the README's
//! run command needs no set-up, with a warning that production should bring its own key.
//! The key itself is read from the environment only, never from a flag: flags show in `ps`.

use std::path::{Path, PathBuf};

use crate::config::DatabaseUrl;
use crate::seal::{Keyring, MasterKey, SealError};
use crate::store::{SealedKubeconfig, Store, StoreError};

/// Name of the key file created when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "kubeworkz-master.key";

/// Master key options shared by every command that opens the store.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyConfig {
    /// Master key file (created with a new key if missing). Ignored when
    /// `KUBEWORKZ_MASTER_KEY` is set.
    #[arg(long, env = "KUBEWORKZ_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

/// Where the keyring came from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `KUBEWORKZ_MASTER_KEY`.
    Environment,
    /// A key file that existed.
    File(PathBuf),
    /// A key file created just now.
    Created(PathBuf),
}

/// Errors loading or rotating keys. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key is malformed or a key file unreadable.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// `keys rotate` needs a key file to write the new key to.
    #[error(
        "the master key comes from KUBEWORKZ_MASTER_KEY: set the new key there and the old \
         one in KUBEWORKZ_PREVIOUS_MASTER_KEYS, then run `keys rotate` again to re-seal"
    )]
    EnvironmentKey,
    /// The store failed while re-sealing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed value did not open with any key.
    #[error("cluster {cluster}: {source}")]
    Reseal {
        cluster: String,
        #[source]
        source: SealError,
    },
    /// An identity provider's client secret did not open with any key.
    #[error("identity provider {provider}: {source}")]
    ResealSecret {
        provider: String,
        #[source]
        source: SealError,
    },
}

impl KeyConfig {
    /// The key file this configuration names or implies.
    pub fn key_file(&self, database: &DatabaseUrl) -> PathBuf {
        if let Some(path) = &self.master_key_file {
            return path.clone();
        }
        let beside_db = database
            .expose()
            .strip_prefix("sqlite://")
            .map(|rest| rest.split('?').next().unwrap_or(rest))
            .filter(|path| !path.is_empty() && !path.starts_with(':'))
            .and_then(|path| Path::new(path).parent().map(Path::to_path_buf));
        beside_db.unwrap_or_default().join(DEFAULT_KEY_FILE)
    }

    /// Loads the keyring; see the module docs for the order.
    pub fn load(&self, database: &DatabaseUrl) -> Result<(Keyring, KeySource), KeyError> {
        if let Ok(text) = std::env::var("KUBEWORKZ_MASTER_KEY") {
            let current = MasterKey::from_base64(&text)?;
            let previous = std::env::var("KUBEWORKZ_PREVIOUS_MASTER_KEYS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(MasterKey::from_base64)
                .collect::<Result<_, _>>()?;
            return Ok((Keyring::new(current, previous), KeySource::Environment));
        }
        let path = self.key_file(database);
        if path.exists() {
            return Ok((Keyring::read_file(&path)?, KeySource::File(path)));
        }
        let key = MasterKey::create_file(&path)?;
        Ok((Keyring::new(key, vec![]), KeySource::Created(path)))
    }
}

/// The associated data binding a sealed kubeconfig to its cluster row.
pub fn kubeconfig_context(cluster: &kubeworkz_shared::ids::ClusterId) -> String {
    format!("kubeconfig:{cluster}")
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Id of the key everything is now sealed with.
    pub current_key: String,
    /// Sealed kubeconfigs re-sealed.
    pub kubeconfigs_resealed: usize,
    /// Identity providers' client secrets re-sealed.
    pub client_secrets_resealed: usize,
}

/// `kubeworkz-hub keys rotate`: with a key file, adds a new current key (old ones stay to
/// open older blobs); then re-seals every sealed value under the current key.
pub async fn rotate(
    config: &KeyConfig,
    database: &DatabaseUrl,
    store: &Store,
) -> Result<RotationReport, KeyError> {
    let keyring = if std::env::var_os("KUBEWORKZ_MASTER_KEY").is_some() {
        config.load(database)?.0
    } else {
        let path = config.key_file(database);
        if !path.exists() {
            config.load(database)?; // creates the first key
        }
        Keyring::rotate_file(&path)?
    };
    let mut resealed = 0;
    for target in store.pull_targets(false).await? {
        let context = kubeconfig_context(&target.id);
        let plaintext = keyring
            .open(&target.kubeconfig.blob, &context)
            .map_err(|source| KeyError::Reseal {
                cluster: target.name.clone(),
                source,
            })?;
        let sealed = SealedKubeconfig {
            blob: keyring.seal(&plaintext, &context),
            key_id: keyring.current_id().to_string(),
        };
        store
            .replace_kubeconfig(target.org_id, target.id, &sealed, None)
            .await?;
        resealed += 1;
    }
    // Single sign-on: the providers' client secrets. Sessions' refresh and ID tokens are
    // sealed anew at each renewal, logins in flight within minutes.
    let mut secrets = 0;
    for mut provider in store.all_oidc_providers().await? {
        let context = crate::oidc::settings::SECRET_CONTEXT;
        let plaintext = keyring
            .open(&provider.client_secret_sealed, context)
            .map_err(|source| KeyError::ResealSecret {
                provider: provider.name.clone(),
                source,
            })?;
        provider.client_secret_sealed = keyring.seal(&plaintext, context);
        store.update_oidc_provider(&provider).await?;
        secrets += 1;
    }
    Ok(RotationReport {
        current_key: keyring.current_id().to_string(),
        kubeconfigs_resealed: resealed,
        client_secrets_resealed: secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_key_file_sits_beside_the_sqlite_database() {
        let config = KeyConfig {
            master_key_file: None,
        };
        let url: DatabaseUrl = "sqlite:///var/lib/kubeworkz/hub.db".parse().unwrap();
        assert_eq!(
            config.key_file(&url),
            PathBuf::from("/var/lib/kubeworkz").join(DEFAULT_KEY_FILE)
        );
        let url: DatabaseUrl = "sqlite://kubeworkz.db".parse().unwrap();
        assert_eq!(config.key_file(&url), PathBuf::from(DEFAULT_KEY_FILE));
        let url: DatabaseUrl = "postgres://u:p@db/kw".parse().unwrap();
        assert_eq!(config.key_file(&url), PathBuf::from(DEFAULT_KEY_FILE));
    }
}
