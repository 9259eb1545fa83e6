//! Extractors: JSON, query and path wrappers whose rejections answer in the API's error
//! shape, and [`Principal`], the one place a request is authenticated (session cookie with
//! CSRF double submit, or bearer API token) and [`Admin`], the one place roles are checked.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use kubeworkz_shared::ids::OrgId;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Role;

/// Name of the HttpOnly session cookie.
pub const SESSION_COOKIE: &str = "kubeworkz_session";
/// Name of the script-readable CSRF cookie.
pub const CSRF_COOKIE: &str = "csrf_token";
/// Header a cookie-authenticated mutation must repeat the CSRF cookie in.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn rejection(status: StatusCode, message: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("request body is too large".into())
        }
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(message),
        _ => ApiError::BadRequest(message),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        // A malformed id cannot name anything: not found, like any other unknown id.
        match r {
            PathRejection::FailedToDeserializePathParams(_) => ApiError::NotFound,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// `axum::Json` answering in the API's error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Query` answering in the API's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path` answering in the API's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A login session (its token's hash).
    Session([u8; 32]),
    /// An API token (its id).
    Token(Uuid),
}

/// The authenticated caller: who, in which organization, with which role.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user (for a token: the user who created it).
    pub user_id: Uuid,
    /// The organization every query of this request is scoped to.
    pub org_id: OrgId,
    /// For the audit log: the user's email, or `token:<id>`.
    pub actor: String,
    /// The role.
    pub role: Role,
    /// Session or token.
    pub credential: Credential,
}

/// The cookies of a request, by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let now = chrono::Utc::now();
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").ok_or(ApiError::Unauthorized))
            .transpose()?;
        let principal = if let Some(token) = bearer {
            let hash = auth::token_hash(token.trim());
            let at = std::time::Instant::now();
            let info = match state.tokens.get(&hash, at, now) {
                Some(info) => info,
                None => {
                    let generation = state.tokens.generation();
                    let info = state
                        .store
                        .api_token(&hash, now)
                        .await?
                        .ok_or(ApiError::Unauthorized)?;
                    state.tokens.insert(hash, info.clone(), at, generation);
                    info
                }
            };
            state
                .limits
                .per_token
                .hit(&info.id.to_string(), at)
                .map_err(ApiError::TooManyRequests)?;
            Principal {
                user_id: info.user_id.unwrap_or_default(),
                org_id: info.org_id,
                actor: format!("token:{}", info.id),
                role: info.role,
                credential: Credential::Token(info.id),
            }
        } else {
            let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
            let hash = auth::token_hash(token);
            let session = state
                .store
                .session(&hash, now)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            if !is_safe(&parts.method) {
                check_csrf(&parts.headers, &session.csrf_hash)?;
            }
            // A single sign-on session whose provider tokens are due renews them first.
            let role = match session.oidc_renew_at {
                Some(at) if at <= now => {
                    let ctx = super::RequestContext::from_request_parts(parts, state).await?;
                    let org = session.user.org_id;
                    super::oidc_session::renew(state, &ctx, org, &hash, &session.user).await?
                }
                _ => session.user.role,
            };
            Principal {
                user_id: session.user.id,
                org_id: session.user.org_id,
                actor: session.user.email,
                role,
                credential: Credential::Session(hash),
            }
        };
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// Double submit: the header must equal the cookie, and be the session's CSRF token.
fn check_csrf(headers: &HeaderMap, stored_hash: &[u8]) -> Result<(), ApiError> {
    let refused =
        || ApiError::Forbidden("missing or wrong CSRF token (x-csrf-token header)".into());
    let header = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    let cookie = cookie(headers, CSRF_COOKIE).ok_or_else(refused)?;
    let hash = auth::token_hash(header);
    let same_as_cookie = bool::from(header.as_bytes().ct_eq(cookie.as_bytes()));
    let same_as_session = bool::from(hash.as_slice().ct_eq(stored_hash));
    if same_as_cookie && same_as_session {
        Ok(())
    } else {
        Err(refused())
    }
}

/// A [`Principal`] with the admin role: handlers of admin actions take this, so the role
/// check lives here only. Viewers get 403.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        at_least(parts, state, Role::Admin, ApiError::forbidden_role)
            .await
            .map(Admin)
    }
}

/// A [`Principal`] with at least the operator role: handlers of workload actions take this,
/// so the role check lives here only. Viewers get 403.
#[derive(Debug, Clone)]
pub struct Operator(pub Principal);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let refused = || ApiError::Forbidden("this needs the operator or admin role".into());
        at_least(parts, state, Role::Operator, refused)
            .await
            .map(Operator)
    }
}

/// The caller, when their role includes `role`; else `refused()`.
async fn at_least(
    parts: &mut Parts,
    state: &AppState,
    role: Role,
    refused: impl FnOnce() -> ApiError,
) -> Result<Principal, ApiError> {
    let principal = Principal::from_request_parts(parts, state).await?;
    if principal.role.includes(role) {
        Ok(principal)
    } else {
        Err(refused())
    }
}
