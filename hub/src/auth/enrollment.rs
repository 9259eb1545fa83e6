//! Issuing agent enrollment tokens: the one implementation behind `kubeworkz-hub token
//! create` and `POST /api/v1/k8s/enrollment-tokens`.
//!
//! The token pins the hub CA, so the CA is loaded (or created, first writer wins) from the
//! same database and master key `serve` uses; the store keeps only the secret's hash.

use std::time::Duration;

use kubeworkz_shared::ids::OrgId;
use kubeworkz_shared::protocol::EnrollmentToken;

use super::Secret;
use crate::public_url::PublicUrl;
use crate::seal::Keyring;
use crate::store::{EnrollmentTokenInfo, Environment, NewEnrollmentToken, Store, StoreError};
use crate::transport::{CaStoreError, load_or_create_ca};

/// Longest lifetime a token may be given.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 86_400);

/// What to issue.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Organization of the cluster.
    pub org_id: OrgId,
    /// Name of the cluster the agent will speak for.
    pub cluster_name: String,
    /// Its environment.
    pub environment: Environment,
    /// Its tags.
    pub tags: Vec<String>,
    /// How long it may be redeemed.
    pub ttl: Duration,
    /// Redeemable more than once.
    pub reusable: bool,
    /// Who asked (audit).
    pub created_by: String,
}

/// An issued token: the stored row and the token text, shown once.
#[derive(Debug)]
pub struct IssuedToken {
    /// What the store keeps.
    pub info: EnrollmentTokenInfo,
    /// The whole token, secret included.
    pub token: Secret,
}

/// Why a token was not issued. Messages are safe to show.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Name empty or too long.
    #[error("cluster name must be 1 to 63 characters")]
    InvalidName,
    /// Zero or over [`MAX_TOKEN_TTL`].
    #[error("token lifetime must be between 1 second and 30 days")]
    InvalidTtl,
    /// The hub CA could not be loaded or created.
    #[error("loading the hub CA")]
    Ca(#[source] CaStoreError),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues a token; see the module docs.
pub async fn issue_token(
    store: &Store,
    keyring: &Keyring,
    request: TokenRequest,
) -> Result<IssuedToken, IssueError> {
    if request.cluster_name.is_empty() || request.cluster_name.len() > 63 {
        return Err(IssueError::InvalidName);
    }
    if request.ttl.is_zero() || request.ttl > MAX_TOKEN_TTL {
        return Err(IssueError::InvalidTtl);
    }
    let ca = load_or_create_ca(store, keyring)
        .await
        .map_err(IssueError::Ca)?;
    let token = EnrollmentToken::generate(ca.ca_pin());
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(request.ttl).map_err(|_| IssueError::InvalidTtl)?;
    let info = store
        .create_enrollment_token(&NewEnrollmentToken {
            id: token.public_id().to_owned(),
            org_id: request.org_id,
            secret_hash: token.secret_hash(),
            cluster_name: request.cluster_name,
            environment: request.environment,
            tags: request.tags,
            reusable: request.reusable,
            expires_at,
            created_by: Some(request.created_by),
        })
        .await?;
    Ok(IssuedToken {
        info,
        token: Secret::new(token.expose()),
    })
}

/// The `helm install` line that installs an agent with `token`, reaching the hub's QUIC
/// endpoint at `hub_address`: the chart comes from the hub's own Helm repository under
/// `public_url` ([`crate::charts`]), at the version this hub serves, so the line works from
/// any machine that reaches the hub.
pub fn helm_command(public_url: &PublicUrl, hub_address: &str, token: &Secret) -> String {
    let version = crate::charts::repo().map_or(kubeworkz_shared::VERSION, |repo| &repo.version);
    format!(
        "helm install kubeworkz-agent {chart} --repo {repo} --version {version} \
         --namespace kubeworkz --create-namespace --set hub.address={hub_address} \
         --set token={token}",
        chart = crate::charts::CHART_NAME,
        repo = crate::charts::repo_url(public_url.as_str()),
        token = token.expose()
    )
}
