//! Helm releases, read from the Secrets Helm 3 stores them in (type `helm.sh/release.v1`).
//!
//! Helm's storage driver (`pkg/storage/driver/util.go`, `encodeRelease`) writes
//! `base64(gzip(json(release)))` as the string value of `data.release`; the API then base64s
//! the Secret's data once more. k8s-openapi undoes the API's layer, so the bytes handed to
//! [`decode_release`] are Helm's base64 text. Releases stored before Helm compressed them are
//! base64 of plain JSON; `decodeRelease` tells them apart by the gzip magic, and so do we.
//! If the payload still looks base64 after one decode (the API's raw JSON or `kubectl get -o
//! json` text was passed through undecoded), a second layer is removed.
//!
//! Only a handful of fields are read; the chart templates, values and manifest are skipped by
//! serde without being kept.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::read::GzDecoder;
use k8s_openapi::api::core::v1::Secret;
use serde::{Deserialize, Serialize};

use super::Labels;
use crate::time::UnixMillis;

/// Secret `type` of Helm 3 release storage.
pub const HELM_SECRET_TYPE: &str = "helm.sh/release.v1";

/// Decompressed releases larger than this are refused, so that a hostile Secret cannot make
/// the agent allocate without bound (Secrets are at most 1 MiB; real releases compress ~10×).
pub const MAX_RELEASE_JSON_BYTES: u64 = 64 << 20;

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Why a release Secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HelmDecodeError {
    /// The Secret is not of type `helm.sh/release.v1`.
    #[error("secret is not a helm release (type {0:?})")]
    NotAReleaseSecret(Option<String>),
    /// The Secret has no `data.release` key.
    #[error("helm release secret has no release payload")]
    MissingPayload,
    /// The payload is not base64.
    #[error("helm release payload is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The payload claims gzip but does not decompress.
    #[error("helm release payload is not valid gzip: {0}")]
    Gzip(std::io::Error),
    /// The decompressed payload exceeds [`MAX_RELEASE_JSON_BYTES`].
    #[error("helm release payload is too large once decompressed")]
    TooLarge,
    /// The payload is not a release JSON document.
    #[error("helm release payload is not release json: {0}")]
    Json(#[from] serde_json::Error),
    /// The release has no name.
    #[error("helm release payload has no release name")]
    MissingName,
}

/// Helm's release status (`helm status`), as stored in `info.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HelmReleaseStatus {
    /// A status this version does not know, or none.
    Unknown,
    /// The current, successfully deployed revision.
    Deployed,
    /// Uninstalled with `--keep-history`.
    Uninstalled,
    /// An older revision replaced by a newer one.
    Superseded,
    /// The install or upgrade failed.
    Failed,
    /// Uninstall in progress.
    Uninstalling,
    /// Install in progress.
    PendingInstall,
    /// Upgrade in progress.
    PendingUpgrade,
    /// Rollback in progress.
    PendingRollback,
}

impl HelmReleaseStatus {
    /// Maps Helm's status string (`deployed`, `pending-upgrade`, …).
    pub fn from_helm(status: &str) -> Self {
        match status {
            "deployed" => Self::Deployed,
            "uninstalled" => Self::Uninstalled,
            "superseded" => Self::Superseded,
            "failed" => Self::Failed,
            "uninstalling" => Self::Uninstalling,
            "pending-install" => Self::PendingInstall,
            "pending-upgrade" => Self::PendingUpgrade,
            "pending-rollback" => Self::PendingRollback,
            _ => Self::Unknown,
        }
    }
}

/// One revision of a Helm release. Helm keeps one Secret per revision (history), so there is
/// one projection per Secret; the current revision is the highest with status `Deployed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelmReleaseProjection {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// The storage Secret's uid (the object key); empty when decoded from a bare payload.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Revision number (`helm history`).
    pub revision: u32,
    /// Status of this revision.
    pub status: HelmReleaseStatus,
    /// Chart name.
    pub chart_name: String,
    /// Chart version.
    pub chart_version: String,
    /// Version of the packaged application, if the chart sets one.
    pub app_version: Option<String>,
    /// `info.last_deployed`.
    pub updated: Option<UnixMillis>,
}

impl HelmReleaseProjection {
    /// The name of the Secret that stores this revision: `sh.helm.release.v1.<name>.v<rev>`.
    pub fn secret_name(&self) -> String {
        format!("sh.helm.release.v1.{}.v{}", self.name, self.revision)
    }
}

impl TryFrom<&Secret> for HelmReleaseProjection {
    type Error = HelmDecodeError;

    fn try_from(secret: &Secret) -> Result<Self, Self::Error> {
        if secret.type_.as_deref() != Some(HELM_SECRET_TYPE) {
            return Err(HelmDecodeError::NotAReleaseSecret(secret.type_.clone()));
        }
        let payload = secret
            .data
            .as_ref()
            .and_then(|d| d.get("release"))
            .ok_or(HelmDecodeError::MissingPayload)?;
        let mut release = decode_release(&payload.0)?;
        release.uid = super::uid_of(&secret.metadata);
        if release.namespace.is_empty() {
            release.namespace = super::namespace_of(&secret.metadata);
        }
        Ok(release)
    }
}

/// The labels Helm sets on every release Secret. The collector watches Secret metadata only
/// and fetches a payload when `revision` or `status` changes, so it need not keep payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelmSecretLabels {
    /// Release name (`name`).
    pub name: String,
    /// Revision (`version`).
    pub revision: u32,
    /// Status (`status`).
    pub status: HelmReleaseStatus,
}

impl HelmSecretLabels {
    /// Reads the labels; `None` unless `owner=helm` and name and version are present.
    pub fn from_labels(labels: &Labels) -> Option<Self> {
        if labels.get("owner").map(String::as_str) != Some("helm") {
            return None;
        }
        Some(Self {
            name: labels.get("name")?.clone(),
            revision: labels.get("version")?.parse().ok()?,
            status: labels
                .get("status")
                .map_or(HelmReleaseStatus::Unknown, |s| {
                    HelmReleaseStatus::from_helm(s)
                }),
        })
    }
}

// Helm's JSON, read only: these private types never go over postcard, so serde defaults
// are fine here (Helm omits empty fields).
#[derive(Deserialize)]
struct RawRelease {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    version: u32,
    #[serde(default)]
    info: RawInfo,
    #[serde(default)]
    chart: RawChart,
}

#[derive(Default, Deserialize)]
struct RawInfo {
    #[serde(default)]
    status: String,
    #[serde(default)]
    last_deployed: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawChart {
    #[serde(default)]
    metadata: RawChartMetadata,
}

#[derive(Default, Deserialize)]
struct RawChartMetadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "appVersion")]
    app_version: Option<String>,
}

/// Decodes Helm's release encoding (base64 of gzip of JSON, see the module docs) into a
/// projection. Pure: bytes in, projection or a descriptive error out; never panics.
pub fn decode_release(payload: &[u8]) -> Result<HelmReleaseProjection, HelmDecodeError> {
    decode_release_limited(payload, MAX_RELEASE_JSON_BYTES)
}

fn decode_release_limited(
    payload: &[u8],
    max_json_bytes: u64,
) -> Result<HelmReleaseProjection, HelmDecodeError> {
    let mut bytes = BASE64.decode(payload.trim_ascii())?;
    if !bytes.starts_with(&GZIP_MAGIC) && !bytes.trim_ascii_start().starts_with(b"{") {
        // Possibly one base64 layer too many; if not, the JSON error below says what it is.
        if let Ok(inner) = BASE64.decode(bytes.trim_ascii()) {
            bytes = inner;
        }
    }
    let json = if bytes.starts_with(&GZIP_MAGIC) {
        let mut json = Vec::new();
        GzDecoder::new(bytes.as_slice())
            .take(max_json_bytes + 1)
            .read_to_end(&mut json)
            .map_err(HelmDecodeError::Gzip)?;
        if json.len() as u64 > max_json_bytes {
            return Err(HelmDecodeError::TooLarge);
        }
        json
    } else {
        bytes
    };
    let raw: RawRelease = serde_json::from_slice(&json)?;
    if raw.name.is_empty() {
        return Err(HelmDecodeError::MissingName);
    }
    let app_version = raw.chart.metadata.app_version.filter(|v| !v.is_empty());
    Ok(HelmReleaseProjection {
        name: raw.name,
        namespace: raw.namespace,
        uid: String::new(),
        revision: raw.version,
        status: HelmReleaseStatus::from_helm(&raw.info.status),
        chart_name: raw.chart.metadata.name,
        chart_version: raw.chart.metadata.version,
        app_version,
        updated: raw
            .info
            .last_deployed
            .as_deref()
            .and_then(UnixMillis::parse_rfc3339),
    })
}

#[cfg(test)]
mod tests;
