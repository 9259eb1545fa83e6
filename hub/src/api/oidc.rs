//! `/api/v1/auth/oidc`: single sign-on through an organization's OpenID Connect provider.
//!
//! `GET …/providers` lists the sign-in buttons; `GET …/{provider}/login` stores a login in
//! flight (state, nonce, sealed PKCE verifier, ten minutes) and redirects to the provider;
//! `GET …/callback` takes that login once, exchanges the code, validates the ID token,
//! provisions or finds the user, sets the role from the groups and starts a session, then
//! redirects to the UI (`/`, or `/login?sso_error=…` with the failure in words). The `state`
//! is also kept in a short cookie and must come back from the same browser, so a stranger's
//! callback link cannot sign someone in.
//!
//! What happens to the session afterwards (renewal, being signed out by the provider, the
//! provider's logout) is `oidc_session.rs`.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::audit::record;
use super::context::RequestContext;
use super::extract::{ApiPath, ApiQuery, cookie as request_cookie};
use super::oidc_session::sealed_session;
use super::session::{cookie, open_session, record_login};
use crate::auth;
use crate::error::{ApiError, ErrorBody};
use crate::oidc::settings::SECRET_CONTEXT;
use crate::oidc::{OidcError, Verified, role_for};
use crate::state::AppState;
use crate::store::{OidcLogin, OidcProvider, OidcSignIn, Role, SignInRefused, User, UserChange};

/// Cookie that ties a callback to the browser that started the login.
const STATE_COOKIE: &str = "kubeworkz_oidc_state";
/// How long a login may take at the provider.
const LOGIN_TTL: Duration = Duration::minutes(10);
/// Seal contexts: a sealed value opens only for what it was sealed for.
const VERIFIER_CONTEXT: &str = "oidc-pkce-verifier";
pub(super) const REFRESH_CONTEXT: &str = "oidc-refresh-token";
pub(super) const ID_TOKEN_CONTEXT: &str = "oidc-id-token";

/// A sign-in button.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInOption {
    /// Provider id: the login URL is `/api/v1/auth/oidc/{id}/login`.
    pub id: Uuid,
    /// What the button names ("Sign in with …").
    pub display_name: String,
}

/// The sign-in buttons of every organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInOptions {
    /// By name.
    pub items: Vec<SignInOption>,
}

/// `GET /api/v1/auth/oidc/providers`: what the login page offers; no login needed.
#[utoipa::path(get, path = "/api/v1/auth/oidc/providers", tag = "auth",
    responses((status = 200, body = SignInOptions)))]
pub(super) async fn providers(
    State(state): State<AppState>,
) -> Result<Json<SignInOptions>, ApiError> {
    let providers = state.store.all_oidc_providers().await?;
    Ok(Json(SignInOptions {
        items: providers
            .into_iter()
            .map(|p| SignInOption {
                id: p.id,
                display_name: p.display_name,
            })
            .collect(),
    }))
}

/// The callback URL the provider sends the browser back to.
pub(super) fn callback_url(
    state: &AppState,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Option<String> {
    let base = match &state.settings.public_url {
        Some(url) => url.clone(),
        None => {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            crate::public_url::PublicUrl::from_request_host(host, ctx.secure)?
        }
    };
    Some(format!(
        "{}/api/v1/auth/oidc/callback",
        base.as_str().trim_end_matches('/')
    ))
}

pub(super) fn secret_of(state: &AppState, provider: &OidcProvider) -> Result<String, ApiError> {
    let bytes = state
        .keyring
        .open(&provider.client_secret_sealed, SECRET_CONTEXT)
        .map_err(|e| ApiError::Internal(e.into()))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(e.into()))
}

pub(super) fn open_text(
    state: &AppState,
    sealed: &[u8],
    context: &str,
) -> Result<String, ApiError> {
    let bytes = state
        .keyring
        .open(sealed, context)
        .map_err(|e| ApiError::Internal(e.into()))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(e.into()))
}

/// Sends the browser to the login page with the failure in words.
fn to_login_page(message: &str) -> Response {
    let mut url = url_with_query("/login", "sso_error", message);
    if url.len() > 2000 {
        url.truncate(2000);
    }
    Redirect::to(&url).into_response()
}

fn url_with_query(path: &str, key: &str, value: &str) -> String {
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{path}?{key}={encoded}")
}

/// `GET /api/v1/auth/oidc/{provider}/login`: redirects to the provider's sign-in.
#[utoipa::path(get, path = "/api/v1/auth/oidc/{provider}/login", tag = "auth",
    params(("provider" = String, Path, description = "Provider id")),
    responses((status = 303, description = "To the identity provider"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn login(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiPath(provider): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&provider).map_err(|_| ApiError::NotFound)?;
    let provider = state
        .store
        .oidc_provider(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let Some(redirect) = callback_url(&state, &headers, &ctx) else {
        return Err(ApiError::BadRequest(
            "the request names no usable Host: set --public-url".into(),
        ));
    };
    let secret = secret_of(&state, &provider)?;
    let asked = Instant::now();
    let start = match state.oidc.begin(&provider, &secret, &redirect).await {
        Ok(start) => start,
        Err(e) => return Ok(to_login_page(&e.to_string())),
    };
    let idp = asked.elapsed();
    state
        .store
        .create_oidc_login(&OidcLogin {
            state_hash: auth::token_hash(&start.state),
            org_id: provider.org_id,
            provider_id: provider.id,
            nonce: start.nonce,
            pkce_verifier_sealed: state
                .keyring
                .seal(start.pkce_verifier.as_bytes(), VERIFIER_CONTEXT),
            expires_at: Utc::now() + LOGIN_TTL,
        })
        .await?;
    let mut response = Redirect::to(&start.url).into_response();
    response
        .headers_mut()
        .append("server-timing", server_timing(idp));
    let max_age = LOGIN_TTL.num_seconds();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(STATE_COOKIE, &start.state, true, ctx.secure, max_age),
    );
    Ok(response)
}

/// What the provider sends back.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The login's state.
    pub state: Option<String>,
    /// The provider's error code, when the sign-in failed there.
    pub error: Option<String>,
    /// The provider's words for it.
    pub error_description: Option<String>,
}

/// `GET /api/v1/auth/oidc/callback`: finishes the sign-in and redirects to the UI.
#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", tag = "auth", params(CallbackQuery),
    responses((status = 303,
        description = "Signed in (to `/`, cookies set) or refused (to `/login?sso_error=…`)")))]
pub(super) async fn callback(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let clear_state = cookie(STATE_COOKIE, "", true, ctx.secure, 0);
    let mut response = match finish(&state, &ctx, &headers, query).await {
        Ok(response) => response,
        Err(message) => to_login_page(&message),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_state);
    Ok(response)
}

/// The callback's work; `Err` is the failure in words for the login page.
async fn finish(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> Result<Response, String> {
    let internal = |e: ApiError| {
        tracing::error!(error = %e, "single sign-on failed");
        "the sign-in failed inside the hub: try again".to_owned()
    };
    let Some(state_text) = query.state else {
        return Err("the identity provider's answer has no state: start the sign-in again".into());
    };
    let login = state
        .store
        .take_oidc_login(&auth::token_hash(&state_text), Utc::now())
        .await
        .map_err(|e| internal(e.into()))?
        .ok_or("this sign-in expired or was already used: start it again")?;
    let provider = state
        .store
        .oidc_provider(login.provider_id)
        .await
        .map_err(|e| internal(e.into()))?
        .ok_or("this identity provider was removed")?;
    let fail = |reason: &str, message: String| {
        let provider = provider.clone();
        let reason = reason.to_owned();
        async move {
            audit_provider(state, ctx, &provider, "auth.oidc.login", &reason).await;
            Err::<Response, String>(message)
        }
    };
    if request_cookie(headers, STATE_COOKIE) != Some(state_text.as_str()) {
        return fail(
            "failure: state_mismatch",
            "this sign-in was started in another browser: start it again here".into(),
        )
        .await;
    }
    if let Some(error) = query.error {
        let words = query.error_description.unwrap_or(error);
        return fail(
            "failure: provider_error",
            format!("the identity provider refused the sign-in: {words}"),
        )
        .await;
    }
    let Some(code) = query.code else {
        return fail(
            "failure: no_code",
            "the identity provider sent no code".into(),
        )
        .await;
    };
    let redirect = callback_url(state, headers, ctx).ok_or("the request names no usable Host")?;
    let secret = secret_of(state, &provider).map_err(internal)?;
    let verifier =
        open_text(state, &login.pkce_verifier_sealed, VERIFIER_CONTEXT).map_err(internal)?;
    let asked = Instant::now();
    let finished = state
        .oidc
        .finish(&provider, &secret, &redirect, code, verifier, &login.nonce)
        .await;
    let idp = asked.elapsed();
    let verified = match finished {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("failure: {}", reason_of(&e));
            return fail(&reason, e.to_string()).await;
        }
    };
    let user = match sign_in(state, ctx, &provider, &verified).await {
        Ok(user) => user,
        Err(SignInFailure::Refused(reason, message)) => return fail(reason, message).await,
        Err(SignInFailure::Internal(e)) => return Err(internal(e)),
    };
    let oidc = sealed_session(state, &provider, &verified);
    let (mut cookies, _) = open_session(state, ctx, &user, Some(oidc))
        .await
        .map_err(internal)?;
    record_login(
        state,
        ctx,
        &user,
        format!("success: oidc {}", provider.name),
    )
    .await;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().extend(cookies.drain());
    response
        .headers_mut()
        .append("server-timing", server_timing(idp));
    Ok(response)
}

/// `Server-Timing` with the time spent waiting for the identity provider (discovery, the code
/// exchange, fetching keys), so the hub's own part of a sign-in can be told apart.
fn server_timing(idp: std::time::Duration) -> axum::http::HeaderValue {
    let text = format!(
        "idp;dur={:.3};desc=\"identity provider\"",
        idp.as_secs_f64() * 1e3
    );
    axum::http::HeaderValue::from_str(&text).expect("ASCII")
}

fn reason_of(e: &OidcError) -> &'static str {
    match e {
        OidcError::Discovery => "provider_unreachable",
        OidcError::Settings(_) => "provider_settings",
        OidcError::Refused(_) => "code_refused",
        OidcError::NoIdToken => "no_id_token",
        OidcError::BadResponse => "bad_token_response",
        OidcError::InvalidIdToken(_) => "invalid_id_token",
        OidcError::SignedOut => "signed_out",
        OidcError::NoEmail(_) => "no_email",
    }
}

enum SignInFailure {
    Refused(&'static str, String),
    Internal(ApiError),
}

impl From<crate::store::StoreError> for SignInFailure {
    fn from(e: crate::store::StoreError) -> Self {
        SignInFailure::Internal(e.into())
    }
}

/// The role the provider's groups give in its organization, `None` when they give none.
pub(super) async fn role_from_groups(
    state: &AppState,
    provider: &OidcProvider,
    verified: &Verified,
) -> Result<Option<Role>, crate::store::StoreError> {
    let mappings = state
        .store
        .oidc_group_roles(provider.org_id, provider.id)
        .await?;
    Ok(role_for(&verified.groups, &mappings, provider.default_role))
}

/// Finds or provisions the user and sets their role from the groups.
async fn sign_in(
    state: &AppState,
    ctx: &RequestContext,
    provider: &OidcProvider,
    verified: &Verified,
) -> Result<User, SignInFailure> {
    let Some(role) = role_from_groups(state, provider, verified).await? else {
        return Err(SignInFailure::Refused(
            "failure: no_role",
            "none of your groups at the identity provider gives access to this organization".into(),
        ));
    };
    let signed = state
        .store
        .oidc_sign_in(&OidcSignIn {
            org_id: provider.org_id,
            provider_id: provider.id,
            issuer: verified.issuer.clone(),
            subject: verified.subject.clone(),
            email: verified.email.clone(),
            email_verified: verified.email_verified,
            role,
        })
        .await?;
    let signed = match signed {
        Ok(signed) => signed,
        Err(SignInRefused::Disabled) => {
            return Err(SignInFailure::Refused(
                "failure: user_disabled",
                "your account in this organization is disabled".into(),
            ));
        }
        Err(SignInRefused::EmailUnverified) => {
            return Err(SignInFailure::Refused(
                "failure: email_unverified",
                "a user with your email exists and the identity provider has not verified \
                 your email"
                    .into(),
            ));
        }
    };
    if signed.created {
        let target = format!("user:{}", signed.user.id);
        let result = format!("success: provisioned as {}", role.as_str());
        record(
            state,
            provider.org_id,
            &signed.user.email,
            ctx,
            "user.provision",
            &target,
            result,
        )
        .await;
    }
    apply_role(state, ctx, provider, signed.user, role)
        .await
        .map_err(SignInFailure::Internal)
}

/// Gives `user` the role their groups give now, audited when it changes. The last enabled
/// admin keeps the role (the organization must keep one); that is audited too.
pub(super) async fn apply_role(
    state: &AppState,
    ctx: &RequestContext,
    provider: &OidcProvider,
    user: User,
    role: Role,
) -> Result<User, ApiError> {
    if user.role == role {
        return Ok(user);
    }
    let target = format!("user:{}", user.id);
    let change = UserChange {
        role: Some(role),
        ..UserChange::default()
    };
    let actor = format!("oidc:{}", provider.name);
    let (outcome, result) = match state.store.update_user(user.org_id, user.id, &change).await {
        Ok(Some(changed)) => {
            // Cached token lookups must see the lowered role at once.
            state.tokens.clear();
            let result = format!("success: {} to {}", user.role.as_str(), role.as_str());
            (Ok(changed), result)
        }
        Ok(None) => return Err(ApiError::Unauthorized),
        Err(crate::store::StoreError::Conflict(_)) => {
            let result = "failure: last_admin keeps the admin role".to_owned();
            (Ok(user.clone()), result)
        }
        Err(e) => return Err(e.into()),
    };
    let action = "user.role_from_groups";
    record(state, user.org_id, &actor, ctx, action, &target, result).await;
    outcome
}

async fn audit_provider(
    state: &AppState,
    ctx: &RequestContext,
    provider: &OidcProvider,
    action: &str,
    result: &str,
) {
    let actor = format!("oidc:{}", provider.name);
    let target = format!("oidc_provider:{}", provider.id);
    record(
        state,
        provider.org_id,
        &actor,
        ctx,
        action,
        &target,
        result.to_owned(),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_page_errors_are_url_encoded() {
        assert_eq!(
            url_with_query("/login", "sso_error", "a b&c/é"),
            "/login?sso_error=a%20b%26c%2F%C3%A9"
        );
    }
}
