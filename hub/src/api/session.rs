//! `/api/v1/auth`: login (session cookie + CSRF cookie), logout, who am I, and API tokens
//! for automation (created once, shown once, stored hashed, revocable, optional expiry).

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::{audited, record};
use super::context::RequestContext;
use super::extract::{Admin, ApiJson, ApiPath, CSRF_COOKIE, Credential, Principal, SESSION_COOKIE};
use super::usage::parse_duration;
use crate::auth::{self, LoginMatch};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{ApiTokenInfo, NewApiToken, NewSession, OidcSessionRecord, Role, User};

/// Login request.
#[derive(Deserialize, ToSchema)]
pub struct Login {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// The organization's name: needed only when the email and password match users of
    /// several organizations (the login then answers 409).
    pub organization: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("email", &self.email)
            .field("organization", &self.organization)
            .finish_non_exhaustive()
    }
}

/// The authenticated caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User id (for a token: its creator).
    pub user_id: Uuid,
    /// Email, or `token:<id>` for an API token.
    pub actor: String,
    /// Organization id.
    pub org_id: Uuid,
    /// Organization name.
    pub org: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// `session` or `token`.
    pub auth: String,
}

pub(super) async fn me_of(state: &AppState, who: &Principal) -> Result<Me, ApiError> {
    let org = state
        .store
        .organization(who.org_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Me {
        user_id: who.user_id,
        actor: who.actor.clone(),
        org_id: *who.org_id.as_uuid(),
        org: org.name,
        role: who.role.as_str().into(),
        auth: match who.credential {
            Credential::Session(_) => "session",
            Credential::Token(_) => "token",
        }
        .into(),
    })
}

pub(super) fn cookie(
    name: &str,
    value: &str,
    http_only: bool,
    secure: bool,
    max_age: i64,
) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; SameSite=Lax; Max-Age={max_age}");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).expect("cookie text is ASCII")
}

/// Records a login attempt on `user` in their organization's audit log.
pub(super) async fn record_login(
    state: &AppState,
    ctx: &RequestContext,
    user: &User,
    result: String,
) {
    let target = format!("user:{}", user.id);
    record(
        state,
        user.org_id,
        &user.email,
        ctx,
        "auth.login",
        &target,
        result,
    )
    .await;
}

/// Why a password login is refused in an organization that uses single sign-on only.
pub const PASSWORD_LOGIN_DISABLED: &str =
    "this organization signs in through its identity provider only: use its sign-in button";

/// Starts a session for `user` (with the provider's side of it for a single sign-on): the
/// session and CSRF cookies to set, and the principal the session is.
pub(super) async fn open_session(
    state: &AppState,
    ctx: &RequestContext,
    user: &User,
    oidc: Option<OidcSessionRecord>,
) -> Result<(HeaderMap, Principal), ApiError> {
    let (session, session_hash) = auth::new_token("kws");
    let (csrf, csrf_hash) = auth::new_token("kwc");
    let ttl = state.settings.session_ttl;
    let new = NewSession {
        token_hash: session_hash,
        user_id: user.id,
        org_id: user.org_id,
        csrf_hash,
        expires_at: Utc::now()
            + chrono::Duration::from_std(ttl).map_err(|e| ApiError::Internal(e.into()))?,
    };
    match oidc {
        None => state.store.create_session(&new).await?,
        Some(oidc) => state.store.create_oidc_session(&new, &oidc).await?,
    }
    let who = Principal {
        user_id: user.id,
        org_id: user.org_id,
        actor: user.email.clone(),
        role: user.role,
        credential: Credential::Session(session_hash),
    };
    let max_age = ttl.as_secs() as i64;
    let mut headers = HeaderMap::new();
    headers.append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, session.expose(), true, ctx.secure, max_age),
    );
    headers.append(
        header::SET_COOKIE,
        cookie(CSRF_COOKIE, csrf.expose(), false, ctx.secure, max_age),
    );
    Ok((headers, who))
}

/// `POST /api/v1/auth/login`: sets the session cookie (HttpOnly) and the `csrf_token`
/// cookie, whose value cookie-authenticated mutations repeat in `X-CSRF-Token`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Me, description = "Logged in; cookies set"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody,
            description = "The organization signs in through its identity provider only"),
        (status = 409, body = ErrorBody,
            description = "Users of several organizations match: name the organization"),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn login(
    State(state): State<AppState>,
    ctx: RequestContext,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let email = auth::normalize_email(&body.email).map_err(|_| ApiError::BadCredentials)?;
    // Counts as a failure unless marked a success below (see `auth::ratelimit`).
    let attempt = state
        .limits
        .login
        .begin(&email, ctx.source_ip, Instant::now())
        .map_err(ApiError::TooManyRequests)?;
    tokio::time::sleep(attempt.delay()).await;
    let organization = body.organization.as_deref().map(str::trim);
    let organization = organization.filter(|o| !o.is_empty());
    let password = auth::Secret::new(body.password);
    let matched = auth::match_login(&state.store, &email, organization, password).await?;
    let user = match matched {
        LoginMatch::One(user) => {
            attempt.succeeded();
            user
        }
        LoginMatch::Several(organizations) => {
            // The password was right (for each of them): not a guess to count.
            attempt.succeeded();
            return Err(ApiError::Conflict(format!(
                "this email and password match users in several organizations ({}): \
                 log in again with \"organization\" set to one of them",
                organizations.join(", ")
            )));
        }
        LoginMatch::Nobody(refused) => {
            for (user, reason) in refused {
                record_login(&state, &ctx, &user, format!("failure: {reason}")).await;
            }
            return Err(ApiError::BadCredentials);
        }
    };
    if state.store.password_login_disabled(user.org_id).await? {
        record_login(
            &state,
            &ctx,
            &user,
            "failure: password_login_disabled".into(),
        )
        .await;
        return Err(ApiError::Forbidden(PASSWORD_LOGIN_DISABLED.into()));
    }
    let (headers, who) = open_session(&state, &ctx, &user, None).await?;
    record_login(&state, &ctx, &user, "success".into()).await;
    let me = me_of(&state, &who).await?;
    Ok((StatusCode::OK, headers, Json(me)).into_response())
}

/// `POST /api/v1/auth/logout`: ends the session and clears the cookies.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out"),
        (status = 200, body = LoggedOut,
            description = "Logged out; the identity provider's session ends at the URL"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    who: Principal,
    ctx: RequestContext,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut provider_logout = None;
    if let Credential::Session(hash) = &who.credential {
        provider_logout = super::oidc_session::provider_logout_url(
            &state,
            who.org_id,
            hash,
            &request_headers,
            &ctx,
        )
        .await;
        state.store.delete_session(hash).await?;
    }
    record(
        &state,
        who.org_id,
        &who.actor,
        &ctx,
        "auth.logout",
        &format!("user:{}", who.user_id),
        "success".into(),
    )
    .await;
    let mut headers = HeaderMap::new();
    headers.append(
        header::SET_COOKIE,
        cookie(SESSION_COOKIE, "", true, ctx.secure, 0),
    );
    headers.append(
        header::SET_COOKIE,
        cookie(CSRF_COOKIE, "", false, ctx.secure, 0),
    );
    match provider_logout {
        Some(url) => Ok((
            StatusCode::OK,
            headers,
            Json(LoggedOut {
                provider_logout_url: url,
            }),
        )
            .into_response()),
        None => Ok((StatusCode::NO_CONTENT, headers).into_response()),
    }
}

/// A logout of a single sign-on session whose provider supports RP-initiated logout.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    /// Send the browser here to end the identity provider's session as well.
    pub provider_logout_url: String,
}

/// `GET /api/v1/auth/me`.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub(super) async fn me(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Json<Me>, ApiError> {
    Ok(Json(me_of(&state, &who).await?))
}

/// An API token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// What it is for.
    pub name: String,
    /// `viewer` (default) or `admin`.
    pub role: Option<String>,
    /// Lifetime, e.g. `30d`; none: until revoked.
    pub ttl: Option<String>,
}

/// An API token as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Creator.
    pub user_id: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenInfo> for ApiTokenView {
    fn from(t: ApiTokenInfo) -> Self {
        Self {
            id: t.id,
            name: t.name,
            role: t.role.as_str().into(),
            user_id: t.user_id,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A created API token: the only time its text is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    /// The stored token.
    #[serde(flatten)]
    pub info: ApiTokenView,
    /// Send as `Authorization: Bearer <token>`. Shown only now.
    pub token: String,
}

/// `POST /api/v1/auth/tokens` (admin).
#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "auth", request_body = CreateApiToken,
    responses((status = 201, body = CreatedApiToken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn create_token(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    body: Result<ApiJson<CreateApiToken>, ApiError>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let result = async {
        let ApiJson(body) = body?;
        if body.name.trim().is_empty() || body.name.len() > 100 {
            return Err(ApiError::Unprocessable(
                "token name must be 1 to 100 characters".into(),
            ));
        }
        let role = match body.role.as_deref() {
            None => Role::Viewer,
            Some(r) => Role::parse(r).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "unknown role {r:?}: use viewer, operator or admin"
                ))
            })?,
        };
        let expires_at = match body.ttl.as_deref() {
            None => None,
            Some(ttl) => {
                let ttl = parse_duration(ttl).map_err(ApiError::Unprocessable)?;
                let ttl = chrono::Duration::from_std(ttl)
                    .map_err(|_| ApiError::Unprocessable("ttl is too long".into()))?;
                Some(
                    Utc::now()
                        .checked_add_signed(ttl)
                        .ok_or_else(|| ApiError::Unprocessable("ttl is too long".into()))?,
                )
            }
        };
        let (token, token_hash) = auth::new_token("kwa");
        let info = state
            .store
            .create_api_token(&NewApiToken {
                id: Uuid::now_v7(),
                org_id: who.org_id,
                user_id: who.user_id,
                name: body.name,
                token_hash,
                role,
                expires_at,
            })
            .await?;
        Ok((
            StatusCode::CREATED,
            Json(CreatedApiToken {
                info: info.into(),
                token: token.expose().to_owned(),
            }),
        ))
    }
    .await;
    audited(&state, &who, &ctx, "api_token.create", "api_token", result).await
}

/// The organization's API tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenList {
    /// Newest first.
    pub items: Vec<ApiTokenView>,
}

/// `GET /api/v1/auth/tokens` (admin): never the tokens themselves.
#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth",
    responses((status = 200, body = ApiTokenList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    Admin(who): Admin,
) -> Result<Json<ApiTokenList>, ApiError> {
    let tokens = state.store.api_tokens(who.org_id).await?;
    Ok(Json(ApiTokenList {
        items: tokens.into_iter().map(ApiTokenView::from).collect(),
    }))
}

/// `DELETE /api/v1/auth/tokens/{id}` (admin): revokes the token.
#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = format!("api_token:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        if state.store.revoke_api_token(who.org_id, id).await? {
            state.tokens.forget(id);
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(&state, &who, &ctx, "api_token.revoke", &target, result).await
}
