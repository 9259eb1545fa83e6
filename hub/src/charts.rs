//! The agent chart as a Helm repository, so the install line `token create` prints works
//! from any machine: `helm install kubeworkz-agent kubeworkz-agent --repo https://HUB/charts
//! --version X …`.
//!
//! The hub embeds `manifests/charts/kubeworkz-agent` as it was when the hub was built and
//! serves it, packaged, at `GET /charts/index.yaml` and `GET /charts/kubeworkz-agent-X.tgz`
//! (X = the chart's `version`, kept equal to the hub's version by a test). Both are public and
//! unauthenticated, as Helm repositories are: the chart holds no secret (the token is a value
//! given at install time). They are not part of the REST API's OpenAPI document.
//!
//! The archive is what `helm package` makes — a gzip'd tar of `kubeworkz-agent/<file>` — built
//! in memory once, deterministically: entries sorted by path, every mtime, owner and mode
//! fixed, gzip without a name or time. So every hub replica serves the same bytes, and the
//! digest in one replica's index matches the archive another replica serves.

use std::io::Write as _;
use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};
use serde_yaml::{Mapping, Value};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The chart's files, as they were when the hub was built.
static CHART: Dir<'static> =
    include_dir!("$CARGO_MANIFEST_DIR/../manifests/charts/kubeworkz-agent");

/// The chart's name: its directory in the archive and its key in the index.
pub const CHART_NAME: &str = "kubeworkz-agent";

/// The path the repository is served under; `--repo` is the public URL plus this.
pub const REPO_PATH: &str = "/charts";

/// The index's `created` and `generated` (and, as Unix time 0, every archive entry's mtime):
/// fixed, so the repository is the same bytes on every replica and every start.
const FIXED_TIME: &str = "1970-01-01T00:00:00Z";

/// Why the embedded chart could not be packaged (a broken `Chart.yaml`; a unit test packages
/// it, so a release never has one).
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// `Chart.yaml` is missing or is not a YAML mapping with a string `version`.
    #[error("the embedded chart's Chart.yaml is unusable: {0}")]
    ChartYaml(String),
    /// Writing the archive or the index failed.
    #[error("packaging the embedded chart failed: {0}")]
    Package(String),
}

/// The packaged chart and its repository index.
#[derive(Debug)]
pub struct ChartRepo {
    /// The chart's `version` (and archive name's suffix).
    pub version: String,
    /// `kubeworkz-agent-<version>.tgz`.
    pub archive_name: String,
    /// The archive's bytes.
    pub archive: Vec<u8>,
    /// Hex SHA-256 of the archive (the index's `digest`).
    pub digest: String,
    /// `index.yaml`.
    pub index: String,
}

/// The repository, packaged on first use.
pub fn repo() -> Result<&'static ChartRepo, &'static ChartError> {
    static REPO: LazyLock<Result<ChartRepo, ChartError>> = LazyLock::new(package);
    REPO.as_ref()
}

/// Every file of `dir`, recursively, with its path relative to the chart's root.
fn files(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static [u8])>) {
    for file in dir.files() {
        out.push((file.path().to_string_lossy().into_owned(), file.contents()));
    }
    for sub in dir.dirs() {
        files(sub, out);
    }
}

/// Packages [`CHART`]; see the module docs.
fn package() -> Result<ChartRepo, ChartError> {
    let chart_yaml = CHART
        .get_file("Chart.yaml")
        .ok_or_else(|| ChartError::ChartYaml("not found".into()))?;
    let metadata: Mapping = serde_yaml::from_slice(chart_yaml.contents())
        .map_err(|err| ChartError::ChartYaml(err.to_string()))?;
    let version = metadata
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| ChartError::ChartYaml("no string version".into()))?
        .to_owned();
    let archive = archive()?;
    let digest = hex::encode(Sha256::digest(&archive));
    let archive_name = format!("{CHART_NAME}-{version}.tgz");
    let index = index(metadata, &digest, &archive_name)?;
    Ok(ChartRepo {
        version,
        archive_name,
        archive,
        digest,
        index,
    })
}

/// The gzip'd tar of `kubeworkz-agent/<file>` for every chart file, deterministic.
fn archive() -> Result<Vec<u8>, ChartError> {
    let failed = |err: std::io::Error| ChartError::Package(err.to_string());
    let mut entries = Vec::new();
    files(&CHART, &mut entries);
    entries.sort();
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    for (path, contents) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, format!("{CHART_NAME}/{path}"), contents)
            .map_err(failed)?;
    }
    let mut gzip = tar.into_inner().map_err(failed)?;
    gzip.flush().map_err(failed)?;
    gzip.finish().map_err(failed)
}

/// `index.yaml` with the one entry: the chart's own metadata (as Helm copies it) plus
/// `digest`, `created` and a URL relative to the repository.
fn index(metadata: Mapping, digest: &str, archive_name: &str) -> Result<String, ChartError> {
    let mut entry = metadata;
    entry.insert("created".into(), FIXED_TIME.into());
    entry.insert("digest".into(), digest.into());
    entry.insert(
        "urls".into(),
        Value::Sequence(vec![Value::from(archive_name)]),
    );
    let mut entries = Mapping::new();
    entries.insert(
        CHART_NAME.into(),
        Value::Sequence(vec![Value::Mapping(entry)]),
    );
    let mut index = Mapping::new();
    index.insert("apiVersion".into(), "v1".into());
    index.insert("entries".into(), Value::Mapping(entries));
    index.insert("generated".into(), FIXED_TIME.into());
    serde_yaml::to_string(&index).map_err(|err| ChartError::Package(err.to_string()))
}

/// The repository URL for a hub reachable at `public_url` (`https://hub.example.com`).
pub fn repo_url(public_url: &str) -> String {
    format!("{}{REPO_PATH}", public_url.trim_end_matches('/'))
}

fn served() -> Result<&'static ChartRepo, ApiError> {
    repo().map_err(|err| ApiError::Internal(anyhow::anyhow!("{err}")))
}

/// `GET /charts/index.yaml`.
pub(crate) async fn index_yaml() -> Result<Response, ApiError> {
    Ok(repo_file(
        "application/yaml",
        served()?.index.clone().into_bytes(),
    ))
}

/// `GET /charts/{file}`: the archive, when `file` names it.
pub(crate) async fn chart_archive(
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let repo = served()?;
    if name != repo.archive_name {
        return Err(ApiError::NotFound);
    }
    Ok(repo_file("application/gzip", repo.archive.clone()))
}

/// A repository file; `no-cache`: a hub upgrade replaces both files under the same path.
fn repo_file(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
