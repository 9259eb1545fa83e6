//! Single sign-on with OpenID Connect: the hub's side of the authorization-code flow with
//! PKCE, `state` and `nonce`, and the ID token's validation, all through the `openidconnect`
//! crate (signature against the provider's JWKS, `iss`, `aud`, `exp`, `nonce`); no JWT is
//! checked by hand here.
//!
//! Providers are discovered from their issuer URL and their metadata (with the JWKS) is kept
//! in memory for an hour. A token signed with a key the kept JWKS lacks makes the hub fetch
//! the metadata again once and verify again, so a provider's key rotation never refuses a
//! good login; refetches are spaced so that a stream of bad tokens cannot make the hub hammer
//! the provider.
//!
//! Which role a user gets is [`role_for`]: the most privileged role of the mapped groups the
//! user is in, else the provider's default role, else none (the login is refused).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{GroupRole, OidcProvider, Role};

pub mod settings;
#[cfg(test)]
mod tests;

/// How long discovered metadata (and its JWKS) is kept.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The least time between two refetches of one provider's metadata for an unknown key.
const REFETCH_SPACING: Duration = Duration::from_secs(5);
/// How long the provider may take to answer one request.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Claims besides the standard ones, where the configured groups and email claims are found.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    claims: HashMap<String, serde_json::Value>,
}

impl AdditionalClaims for ExtraClaims {}

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why single sign-on failed. Messages are for people and never carry a token or secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or its discovery document is unusable.
    #[error("the identity provider could not be reached or its configuration is unusable")]
    Discovery,
    /// The provider's configuration in the hub is unusable (a bad URL).
    #[error("the identity provider's settings are invalid: {0}")]
    Settings(String),
    /// The provider refused to exchange the code, with its error code and words.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The provider's token response is malformed or out of range (a negative lifetime).
    #[error("the identity provider's token response is invalid")]
    BadResponse,
    /// The provider gave no ID token.
    #[error("the identity provider sent no ID token")]
    NoIdToken,
    /// The ID token failed validation (signature, issuer, audience, expiry or nonce).
    #[error("the identity provider's ID token is invalid: {0}")]
    InvalidIdToken(String),
    /// The refresh token was revoked or expired at the provider.
    #[error("signed out by your identity provider")]
    SignedOut,
    /// The ID token lacks the configured email claim.
    #[error("the identity provider sent no email for this user (claim {0:?})")]
    NoEmail(String),
}

/// A login to send the browser to the provider for.
#[derive(Debug)]
pub struct LoginStart {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// `state`: ties the callback to this login.
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier (secret until the code is exchanged).
    pub pkce_verifier: String,
}

/// What a valid ID token says about the user, with the provider's tokens.
pub struct Verified {
    /// Issuer.
    pub issuer: String,
    /// Subject.
    pub subject: String,
    /// Email, lowercase.
    pub email: String,
    /// Whether the provider verified the email.
    pub email_verified: bool,
    /// Groups from the configured claim (none when the claim is missing).
    pub groups: Vec<String>,
    /// The ID token itself (the logout hint).
    pub id_token: String,
    /// The refresh token, when the provider gave one.
    pub refresh_token: Option<String>,
    /// When the ID token expires.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("email", &self.email)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

struct Discovered {
    metadata: ProviderMetadataWithLogout,
    fetched: Instant,
}

/// The hub's OpenID Connect client: one HTTP client and the discovered metadata per
/// provider. Cheap to share (`Arc` inside `AppState`).
pub struct Oidc {
    http: reqwest::Client,
    discovered: Mutex<HashMap<Uuid, Arc<Discovered>>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").finish_non_exhaustive()
    }
}

impl Default for Oidc {
    fn default() -> Self {
        Self::new()
    }
}

/// The most privileged role among the mapped groups the user is in; else `default`.
pub fn role_for(groups: &[String], mappings: &[GroupRole], default: Option<Role>) -> Option<Role> {
    mappings
        .iter()
        .filter(|m| groups.contains(&m.group))
        .map(|m| m.role)
        .max_by_key(|r| r.rank())
        .or(default)
}

/// The strings of a claim that is a list of strings or one string.
fn strings_of(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

impl Oidc {
    /// A client that follows no redirects (a provider's redirect could point anywhere).
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            http,
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets a provider's metadata (its settings changed).
    pub fn forget(&self, provider: Uuid) {
        self.discovered
            .lock()
            .expect("metadata cache lock")
            .remove(&provider);
    }

    async fn metadata(
        &self,
        provider: &OidcProvider,
        refetch: bool,
    ) -> Result<Arc<Discovered>, OidcError> {
        let kept = self
            .discovered
            .lock()
            .expect("metadata cache lock")
            .get(&provider.id)
            .cloned();
        if let Some(kept) = kept {
            let fresh = kept.fetched.elapsed() < METADATA_TTL;
            let spaced = kept.fetched.elapsed() < REFETCH_SPACING;
            if (fresh && !refetch) || spaced {
                return Ok(kept);
            }
        }
        let issuer = IssuerUrl::new(provider.issuer.clone())
            .map_err(|_| OidcError::Settings("the issuer is not a URL".into()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %provider.id, error = %e, "oidc discovery failed");
                OidcError::Discovery
            })?;
        let discovered = Arc::new(Discovered {
            metadata,
            fetched: Instant::now(),
        });
        self.discovered
            .lock()
            .expect("metadata cache lock")
            .insert(provider.id, discovered.clone());
        Ok(discovered)
    }

    fn client(
        d: &Discovered,
        provider: &OidcProvider,
        secret: &str,
        redirect: &str,
    ) -> Result<OidcClient, OidcError> {
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|_| OidcError::Settings("the callback URL is invalid".into()))?;
        Ok(OidcClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(provider.client_id.clone()),
            Some(ClientSecret::new(secret.to_owned())),
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser to sign in, with a fresh state, nonce and PKCE pair.
    pub async fn begin(
        &self,
        provider: &OidcProvider,
        secret: &str,
        redirect: &str,
    ) -> Result<LoginStart, OidcError> {
        let d = self.metadata(provider, false).await?;
        let client = Self::client(&d, provider, secret, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &provider.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(LoginStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's code and validates the ID token against `nonce`.
    pub async fn finish(
        &self,
        provider: &OidcProvider,
        secret: &str,
        redirect: &str,
        code: String,
        pkce_verifier: String,
        nonce: &str,
    ) -> Result<Verified, OidcError> {
        let d = self.metadata(provider, false).await?;
        let client = Self::client(&d, provider, secret, redirect)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| OidcError::Discovery)?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => OidcError::Refused(match r
                    .error_description()
                {
                    Some(words) => format!("{} ({words})", r.error()),
                    None => r.error().to_string(),
                }),
                // The field only: a parse error's text can quote a token.
                RequestTokenError::Parse(e, _) => {
                    let field = e.path().to_string();
                    tracing::warn!(provider = %provider.id, %field, "oidc token response unusable");
                    OidcError::BadResponse
                }
                other => {
                    tracing::warn!(provider = %provider.id, error = %other, "oidc code exchange failed");
                    OidcError::Discovery
                }
            })?;
        self.verify(provider, secret, redirect, d, &tokens, Some(nonce), None)
            .await
    }

    /// Renews the provider's tokens with the refresh token and validates the new ID token.
    /// A refused refresh token is [`OidcError::SignedOut`].
    pub async fn refresh(
        &self,
        provider: &OidcProvider,
        secret: &str,
        redirect: &str,
        refresh_token: String,
    ) -> Result<Verified, OidcError> {
        let d = self.metadata(provider, false).await?;
        let client = Self::client(&d, provider, secret, redirect)?;
        let refresh_token = RefreshToken::new(refresh_token);
        let tokens = client
            .exchange_refresh_token(&refresh_token)
            .map_err(|_| OidcError::Discovery)?
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(_) => OidcError::SignedOut,
                other => {
                    tracing::warn!(provider = %provider.id, error = %other, "oidc refresh failed");
                    OidcError::Discovery
                }
            })?;
        let kept = Some(refresh_token.secret().clone());
        self.verify(provider, secret, redirect, d, &tokens, None, kept)
            .await
    }

    /// Validates the ID token of `tokens`; with a key the kept JWKS lacks, fetches the
    /// metadata again once and retries.
    #[allow(clippy::too_many_arguments)]
    async fn verify(
        &self,
        provider: &OidcProvider,
        secret: &str,
        redirect: &str,
        mut d: Arc<Discovered>,
        tokens: &Tokens,
        nonce: Option<&str>,
        previous_refresh: Option<String>,
    ) -> Result<Verified, OidcError> {
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let mut refetched = false;
        let claims = loop {
            let client = Self::client(&d, provider, secret, redirect)?;
            let verifier = client.id_token_verifier();
            let checked = match nonce {
                Some(nonce) => id_token.claims(&verifier, &Nonce::new(nonce.to_owned())),
                // A refreshed ID token repeats the login's nonce or has none; the refresh
                // token already ties it to this session.
                None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
            };
            match checked {
                Ok(claims) => break claims.clone(),
                Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                    openidconnect::SignatureVerificationError::NoMatchingKey,
                )) if !refetched => {
                    refetched = true;
                    d = self.metadata(provider, true).await?;
                }
                Err(e) => return Err(OidcError::InvalidIdToken(e.to_string())),
            }
        };
        let extra = &claims.additional_claims().claims;
        let email = match provider.email_claim.as_str() {
            "email" => claims.email().map(|e| e.as_str().to_owned()),
            other => extra.get(other).and_then(|v| v.as_str()).map(str::to_owned),
        }
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| OidcError::NoEmail(provider.email_claim.clone()))?;
        let refresh_token = tokens
            .refresh_token()
            .map(|t| t.secret().clone())
            .or(previous_refresh);
        Ok(Verified {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email,
            email_verified: claims.email_verified().unwrap_or(false),
            groups: strings_of(extra.get(&provider.groups_claim)),
            id_token: id_token.to_string(),
            refresh_token,
            expires_at: claims.expiration(),
        })
    }

    /// The provider's logout URL (RP-initiated logout) when it advertises one; `None`
    /// otherwise or when its metadata cannot be had.
    pub async fn logout_url(
        &self,
        provider: &OidcProvider,
        id_token: &str,
        after_logout: &str,
    ) -> Option<String> {
        let d = self.metadata(provider, false).await.ok()?;
        let end = d
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut url = end.url().clone();
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("client_id", &provider.client_id)
            .append_pair("post_logout_redirect_uri", after_logout);
        Some(url.to_string())
    }
}
