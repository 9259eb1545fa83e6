//! Sealing secrets at rest: AES-256-GCM under the hub's master key.
//!
//! One implementation for everything the hub must keep secret in its database — the CA
//! private key and pull-mode kubeconfigs — so there is one format to audit and one rotation
//! story. A sealed blob is
//!
//! ```text
//! "kws1" | key id (8 bytes) | nonce (12 bytes) | ciphertext + GCM tag (16 bytes)
//! ```
//!
//! The key id is the first 8 bytes of SHA-256 of the key, so any key an operator supplies has
//! a stable id without naming one, and a blob says which key opens it. Each blob is bound to
//! its purpose and row through the AEAD's associated data (e.g. `kubeconfig:<cluster id>`),
//! so a sealed value copied into another row does not open. Rotation: seal with the current
//! key, open with any key in the [`Keyring`].

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"kws1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;
/// First line of a key file, so a wrong file is recognised as such.
const KEY_FILE_HEADER: &str = "kubeworkz-master-key-v1";

/// Errors of sealing and opening. None of them carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The master key text is not 32 bytes of base64.
    #[error("invalid master key: {0}")]
    BadKey(&'static str),
    /// The blob was sealed with a key this hub does not have.
    #[error("sealed with unknown key {0}: add that key to the keyring to open it")]
    UnknownKey(KeyId),
    /// The blob is not a sealed value (truncated or not ours).
    #[error("not a sealed value")]
    Malformed,
    /// The blob did not authenticate: tampered, or bound to another purpose or row.
    #[error("sealed value failed authentication")]
    Tampered,
    /// Reading or writing the key file failed.
    #[error("master key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Identifies a master key: the first 8 bytes of the key's SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One 256-bit master key. `Debug` shows only its id.
#[derive(Clone)]
pub struct MasterKey {
    id: KeyId,
    cipher: Aes256Gcm,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            id: KeyId(id),
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }

    /// A key from base64 text (as in `KUBEWORKZ_MASTER_KEY` or a key file).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| SealError::BadKey("not base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SealError::BadKey("must decode to exactly 32 bytes"))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random key and its base64 text (the only time the text exists).
    pub fn generate() -> (Self, String) {
        let bytes: [u8; 32] = Aes256Gcm::generate_key(&mut OsRng).into();
        (Self::from_bytes(&bytes), B64.encode(bytes))
    }

    /// This key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Reads a key file written by [`MasterKey::create_file`].
    pub fn read_file(path: &Path) -> Result<Self, SealError> {
        let io_err = |source| SealError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(io_err)?;
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(SealError::BadKey("key file does not start with its header"));
        }
        Self::from_base64(lines.next().unwrap_or_default())
    }

    /// Creates a key file with a new key, readable by its owner only (0600). Fails if the
    /// file exists, so an existing key is never overwritten.
    pub fn create_file(path: &Path) -> Result<Self, SealError> {
        let io_err = |source| SealError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let (key, text) = Self::generate();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err)?;
        // Explicitly, in case a umask or an odd filesystem widened the mode.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err)?;
        writeln!(file, "{KEY_FILE_HEADER}\n{text}").map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(key)
    }
}

/// The keys a hub can open with; the first seals.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring that seals with `current` and also opens blobs sealed with `previous` keys.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// The id of the key new blobs are sealed with.
    pub fn current_id(&self) -> KeyId {
        self.current.id
    }

    /// Seals `plaintext`, bound to `context` (purpose and row, e.g. `kubeconfig:<id>`).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.current.id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// The id of the key that sealed `blob`, without opening it (for rotation).
    pub fn key_id_of(blob: &[u8]) -> Result<KeyId, SealError> {
        if blob.len() < HEADER_LEN + TAG_LEN || &blob[..MAGIC.len()] != MAGIC {
            return Err(SealError::Malformed);
        }
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&blob[MAGIC.len()..MAGIC.len() + KEY_ID_LEN]);
        Ok(KeyId(id))
    }

    /// Opens a blob sealed for `context` with any key of this keyring.
    pub fn open(&self, blob: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
        let id = Self::key_id_of(blob)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or(SealError::UnknownKey(id))?;
        let nonce: [u8; NONCE_LEN] = blob[MAGIC.len() + KEY_ID_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| SealError::Malformed)?;
        let nonce = Nonce::from(nonce);
        key.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &blob[HEADER_LEN..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Tampered)
    }
}

impl Keyring {
    /// Reads a key file: its header, the current key, then any previous keys, one per line
    /// (what [`Keyring::rotate_file`] writes). A file from [`MasterKey::create_file`] is a
    /// keyring with no previous keys.
    pub fn read_file(path: &Path) -> Result<Self, SealError> {
        let (keys, _) = read_key_lines(path)?;
        let mut keys = keys.into_iter();
        let current = keys
            .next()
            .ok_or(SealError::BadKey("key file holds no key"))?;
        Ok(Self::new(current, keys.collect()))
    }

    /// Rotates a key file: a new current key is written first and every key the file held
    /// follows it as a previous key, so blobs sealed before still open. The file is replaced
    /// atomically (written beside it, 0600, then renamed). Returns the new keyring.
    pub fn rotate_file(path: &Path) -> Result<Self, SealError> {
        let io_err = |source| SealError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let (_, lines) = read_key_lines(path)?;
        let (_, text) = MasterKey::generate();
        let tmp = path.with_extension("rotating");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err)?;
        writeln!(file, "{KEY_FILE_HEADER}\n{text}").map_err(io_err)?;
        for line in &lines {
            writeln!(file, "{line}").map_err(io_err)?;
        }
        file.sync_all().map_err(io_err)?;
        std::fs::rename(&tmp, path).map_err(io_err)?;
        Self::read_file(path)
    }
}

/// The keys of a key file, parsed and as their lines of text.
fn read_key_lines(path: &Path) -> Result<(Vec<MasterKey>, Vec<String>), SealError> {
    let text = std::fs::read_to_string(path).map_err(|source| SealError::KeyFile {
        path: path.display().to_string(),
        source,
    })?;
    let mut lines = text.lines();
    if lines.next() != Some(KEY_FILE_HEADER) {
        return Err(SealError::BadKey("key file does not start with its header"));
    }
    let lines: Vec<String> = lines
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let keys = lines
        .iter()
        .map(|l| MasterKey::from_base64(l))
        .collect::<Result<_, _>>()?;
    Ok((keys, lines))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rotating_a_key_file_keeps_old_keys_for_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = MasterKey::create_file(&path).unwrap();
        let before = Keyring::read_file(&path).unwrap();
        assert_eq!(before.current_id(), first.id());
        let blob = before.seal(b"kubeconfig", "kubeconfig:c1");
        let after = Keyring::rotate_file(&path).unwrap();
        assert_ne!(after.current_id(), first.id());
        assert_eq!(after.open(&blob, "kubeconfig:c1").unwrap(), b"kubeconfig");
        assert_eq!(
            Keyring::key_id_of(&after.seal(b"x", "c")).unwrap(),
            after.current_id()
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The single-key reader still reads the current key.
        assert_eq!(
            MasterKey::read_file(&path).unwrap().id(),
            after.current_id()
        );
    }

    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::generate().0, vec![])
    }

    #[test]
    fn sealed_values_open_with_the_same_context() {
        let ring = keyring();
        let blob = ring.seal(b"apiVersion: v1\nkind: Config", "kubeconfig:c1");
        assert_eq!(&blob[..4], b"kws1");
        assert_eq!(Keyring::key_id_of(&blob).unwrap(), ring.current_id());
        assert_eq!(
            ring.open(&blob, "kubeconfig:c1").unwrap(),
            b"apiVersion: v1\nkind: Config"
        );
        // Nonces are random: sealing twice gives different blobs.
        assert_ne!(
            blob,
            ring.seal(b"apiVersion: v1\nkind: Config", "kubeconfig:c1")
        );
    }

    #[test]
    fn a_blob_moved_to_another_row_does_not_open() {
        let ring = keyring();
        let blob = ring.seal(b"secret", "kubeconfig:c1");
        assert!(matches!(
            ring.open(&blob, "kubeconfig:c2"),
            Err(SealError::Tampered)
        ));
    }

    #[test]
    fn tampering_and_truncation_are_detected() {
        let ring = keyring();
        let mut blob = ring.seal(b"secret", "ctx");
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(matches!(ring.open(&blob, "ctx"), Err(SealError::Tampered)));
        assert!(matches!(
            ring.open(&blob[..20], "ctx"),
            Err(SealError::Malformed)
        ));
        assert!(matches!(
            ring.open(b"plain text here, not sealed at all", "ctx"),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn rotation_opens_old_blobs_and_seals_with_the_new_key() {
        let old = MasterKey::generate().0;
        let old_ring = Keyring::new(old.clone(), vec![]);
        let blob = old_ring.seal(b"secret", "ctx");

        let new = MasterKey::generate().0;
        let rotated = Keyring::new(new.clone(), vec![old.clone()]);
        assert_eq!(rotated.open(&blob, "ctx").unwrap(), b"secret");
        let resealed = rotated.seal(b"secret", "ctx");
        assert_eq!(Keyring::key_id_of(&resealed).unwrap(), new.id());

        let new_only = Keyring::new(new, vec![]);
        let err = new_only.open(&blob, "ctx").unwrap_err();
        assert!(matches!(err, SealError::UnknownKey(id) if id == old.id()));
        assert!(err.to_string().contains(&old.id().to_string()));
    }

    #[test]
    fn keys_parse_from_base64_and_refuse_wrong_lengths() {
        let (key, text) = MasterKey::generate();
        assert_eq!(MasterKey::from_base64(&text).unwrap().id(), key.id());
        assert!(matches!(
            MasterKey::from_base64("c2hvcnQ="),
            Err(SealError::BadKey(_))
        ));
        assert!(matches!(
            MasterKey::from_base64("%%%"),
            Err(SealError::BadKey(_))
        ));
        // Debug never shows key material.
        assert_eq!(format!("{key:?}"), format!("MasterKey({})", key.id()));
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeworkz.key");
        let key = MasterKey::create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(MasterKey::read_file(&path).unwrap().id(), key.id());
        assert!(matches!(
            MasterKey::create_file(&path),
            Err(SealError::KeyFile { .. })
        ));
        std::fs::write(&path, "something else\n").unwrap();
        assert!(matches!(
            MasterKey::read_file(&path),
            Err(SealError::BadKey(_))
        ));
    }
}
