//! Single sign-on sessions after the sign-in: renewal with the provider's refresh token
//! (in the session extractor when due, and `POST /api/v1/auth/refresh`), the role following
//! the groups again, the session ending with "signed out by your identity provider" when the
//! provider refuses the refresh token, and the provider's logout URL.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use kubeworkz_shared::ids::OrgId;
use serde::Serialize;
use utoipa::ToSchema;

use super::audit::record;
use super::context::RequestContext;
use super::extract::Principal;
use super::oidc::{
    ID_TOKEN_CONTEXT, REFRESH_CONTEXT, apply_role, callback_url, open_text, role_from_groups,
    secret_of,
};
use crate::error::{ApiError, ErrorBody};
use crate::oidc::{OidcError, Verified};
use crate::state::AppState;
use crate::store::{OidcProvider, OidcSessionRecord, Role, User};

/// How long to wait before trying a renewal again when the provider could not be reached.
const RENEW_RETRY: Duration = Duration::seconds(30);

/// When to renew tokens that expire at `expires_at`: shortly before, and never in the past.
fn renew_at(now: DateTime<Utc>, expires_at: DateTime<Utc>) -> DateTime<Utc> {
    let left = (expires_at - now).max(Duration::zero());
    let margin = (left / 2).min(Duration::seconds(60));
    now + left - margin
}

pub(super) fn sealed_session(
    state: &AppState,
    provider: &OidcProvider,
    verified: &Verified,
) -> OidcSessionRecord {
    OidcSessionRecord {
        provider_id: provider.id,
        refresh_token_sealed: verified
            .refresh_token
            .as_ref()
            .map(|t| state.keyring.seal(t.as_bytes(), REFRESH_CONTEXT)),
        id_token_sealed: state
            .keyring
            .seal(verified.id_token.as_bytes(), ID_TOKEN_CONTEXT),
        renew_at: renew_at(Utc::now(), verified.expires_at),
    }
}

/// Renews a session's provider tokens when due (see the module docs); the user's role after
/// it. `Err(SignedOutByIdp)` after the session was ended.
pub(super) async fn renew(
    state: &AppState,
    ctx: &RequestContext,
    org: OrgId,
    token_hash: &[u8; 32],
    user: &User,
) -> Result<Role, ApiError> {
    let now = Utc::now();
    if !state
        .store
        .claim_oidc_renewal(org, token_hash, now, now + RENEW_RETRY)
        .await?
    {
        return Ok(user.role);
    }
    let Some(session) = state.store.oidc_session(org, token_hash).await? else {
        return Ok(user.role);
    };
    let provider = state.store.oidc_provider(session.provider_id).await?;
    let signed_out = |provider: Option<OidcProvider>, reason: &'static str| async move {
        state.store.delete_session(token_hash).await?;
        if let Some(provider) = provider {
            let target = format!("user:{}", user.id);
            let actor = format!("oidc:{}", provider.name);
            let result = format!("success: {reason}");
            record(
                state,
                org,
                &actor,
                ctx,
                "auth.oidc.signed_out",
                &target,
                result,
            )
            .await;
        }
        Err(ApiError::SignedOutByIdp)
    };
    let (Some(provider), Some(sealed)) = (provider, session.refresh_token_sealed) else {
        return signed_out(None, "no_refresh_token").await;
    };
    let secret = secret_of(state, &provider)?;
    let refresh = open_text(state, &sealed, REFRESH_CONTEXT)?;
    // The redirect URL plays no part in a refresh; the client type asks for one.
    let redirect = "http://localhost/api/v1/auth/oidc/callback";
    let verified = match state
        .oidc
        .refresh(&provider, &secret, redirect, refresh)
        .await
    {
        Ok(v) => v,
        Err(OidcError::SignedOut) => return signed_out(Some(provider), "refresh_refused").await,
        Err(OidcError::InvalidIdToken(e)) => {
            tracing::warn!(error = %e, "a refreshed ID token is invalid");
            return signed_out(Some(provider), "invalid_id_token").await;
        }
        // The provider is away: the session stands, and the renewal is retried later.
        Err(e) => {
            tracing::warn!(error = %e, "renewing a single sign-on session failed");
            return Ok(user.role);
        }
    };
    let Some(role) = role_from_groups(state, &provider, &verified).await? else {
        return signed_out(Some(provider), "no_role").await;
    };
    let user = apply_role(state, ctx, &provider, user.clone(), role).await?;
    let ttl =
        Duration::from_std(state.settings.session_ttl).map_err(|e| ApiError::Internal(e.into()))?;
    let renewed = sealed_session(state, &provider, &verified);
    state
        .store
        .renew_oidc_session(org, token_hash, &renewed, Utc::now() + ttl)
        .await?;
    Ok(user.role)
}

/// The state of a session after a refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct Refreshed {
    /// The role now.
    pub role: String,
}

/// `POST /api/v1/auth/refresh`: renews a single sign-on session's provider tokens when due
/// (a password session has none); the UI calls it while the user is active.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    responses((status = 200, body = Refreshed),
        (status = 401, body = ErrorBody,
            description = "Not signed in, or signed out by the identity provider")))]
pub(super) async fn refresh(who: Principal) -> Result<(StatusCode, Json<Refreshed>), ApiError> {
    // The extractor already renewed the session if it was due.
    Ok((
        StatusCode::OK,
        Json(Refreshed {
            role: who.role.as_str().into(),
        }),
    ))
}

/// Where to send the browser to end the provider's session too, for a session signed in
/// through a provider that supports RP-initiated logout.
pub(super) async fn provider_logout_url(
    state: &AppState,
    org: OrgId,
    token_hash: &[u8; 32],
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Option<String> {
    let session = state.store.oidc_session(org, token_hash).await.ok()??;
    let provider = state
        .store
        .oidc_provider(session.provider_id)
        .await
        .ok()??;
    let id_token = open_text(state, &session.id_token_sealed, ID_TOKEN_CONTEXT).ok()?;
    let after = callback_url(state, headers, ctx)?.replace("/api/v1/auth/oidc/callback", "/login");
    state.oidc.logout_url(&provider, &id_token, &after).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_before_expiry_and_never_in_the_past() {
        let now = Utc::now();
        assert_eq!(
            renew_at(now, now + Duration::seconds(10)),
            now + Duration::seconds(5)
        );
        assert_eq!(
            renew_at(now, now + Duration::hours(1)),
            now + Duration::hours(1) - Duration::seconds(60)
        );
        assert_eq!(renew_at(now, now - Duration::seconds(5)), now);
    }
}
