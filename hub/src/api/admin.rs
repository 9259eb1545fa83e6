//! Admin resources: background worker status, agent enrollment tokens (through the one
//! issuing function the CLI also uses), and the users of the organization.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::audited;
use super::context::RequestContext;
use super::extract::{Admin, ApiJson, ApiPath};
use super::usage::parse_duration;
use crate::auth::enrollment::{self, IssueError, TokenRequest};
use crate::auth::{self, AuthError};
use crate::error::{ApiError, ErrorBody};
use crate::public_url::PublicUrl;
use crate::state::AppState;
use crate::store::{EnrollmentTokenInfo, Environment, Role, User, UserChange};

/// One background worker.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    /// Name (`store-maintenance`, `pull-supervisor`, `collector:<cluster>` …).
    pub name: String,
    /// False once stopped.
    pub running: bool,
    /// Interval in seconds, for periodic workers.
    pub interval_seconds: Option<u64>,
    /// Completed rounds.
    pub runs: u64,
    /// Successful rounds.
    pub successes: u64,
    /// Failed rounds.
    pub failures: u64,
    /// End of the last round.
    pub last_run: Option<DateTime<Utc>>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
}

/// The hub's own workers and the caller's organization's (its clusters' collectors).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    /// By name.
    pub items: Vec<WorkerView>,
}

/// What a hub-wide worker's failure says to an organization: its message may name other
/// organizations' clusters (the cost run's does), so it stays in the hub's log.
const HUB_WORKER_FAILED: &str = "the last round failed; the hub's log has the details";

/// `GET /api/v1/k8s/workers/status` (admin).
#[utoipa::path(get, path = "/api/v1/k8s/workers/status", tag = "admin",
    responses((status = 200, body = WorkerList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn workers(State(state): State<AppState>, Admin(who): Admin) -> Json<WorkerList> {
    Json(WorkerList {
        items: state
            .workers
            .snapshot()
            .into_iter()
            .filter(|w| w.org_id.is_none_or(|org| org == who.org_id))
            .map(|w| WorkerView {
                last_error: match w.org_id {
                    Some(_) => w.last_error,
                    None => w.last_error.map(|_| HUB_WORKER_FAILED.to_owned()),
                },
                name: w.name,
                running: w.running,
                interval_seconds: w.interval.map(|i| i.as_secs()),
                runs: w.runs,
                successes: w.successes,
                failures: w.failures,
                last_run: w.last_run,
            })
            .collect(),
    })
}

/// An enrollment token to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollmentToken {
    /// Name of the cluster the agent will speak for.
    pub cluster_name: String,
    /// `production` (default), `staging` or `development`.
    pub environment: Option<String>,
    /// Tags of that cluster.
    #[serde(default)]
    pub tags: Vec<String>,
    /// How long it may be redeemed, e.g. `1h` (default), at most `30d`.
    pub ttl: Option<String>,
    /// Allow more than one enrollment (reinstalls).
    #[serde(default)]
    pub reusable: bool,
}

/// An enrollment token as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentTokenView {
    /// Public id.
    pub id: String,
    /// The cluster it enrolls.
    pub cluster_name: String,
    /// Its environment.
    pub environment: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Redeemable more than once.
    pub reusable: bool,
    /// Creator.
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// First redemption.
    pub used_at: Option<DateTime<Utc>>,
    /// Redemptions.
    pub uses: u64,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<EnrollmentTokenInfo> for EnrollmentTokenView {
    fn from(t: EnrollmentTokenInfo) -> Self {
        Self {
            id: t.id,
            cluster_name: t.cluster_name,
            environment: t.environment.as_str().into(),
            tags: t.tags,
            reusable: t.reusable,
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            used_at: t.used_at,
            uses: t.uses,
            revoked_at: t.revoked_at,
        }
    }
}

/// An issued enrollment token: the only time its text is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedEnrollmentToken {
    /// The stored token.
    #[serde(flatten)]
    pub info: EnrollmentTokenView,
    /// The token for the agent. Shown only now.
    pub token: String,
    /// The command that installs the agent with it.
    pub helm: String,
}

/// The organization's enrollment tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentTokenList {
    /// Newest first.
    pub items: Vec<EnrollmentTokenView>,
}

impl From<IssueError> for ApiError {
    fn from(err: IssueError) -> Self {
        match err {
            IssueError::InvalidName | IssueError::InvalidTtl => {
                ApiError::Unprocessable(err.to_string())
            }
            IssueError::Ca(e) => ApiError::Internal(e.into()),
            IssueError::Store(e) => e.into(),
        }
    }
}

/// `POST /api/v1/k8s/enrollment-tokens` (admin).
#[utoipa::path(post, path = "/api/v1/k8s/enrollment-tokens", tag = "admin",
    request_body = CreateEnrollmentToken,
    responses((status = 201, body = IssuedEnrollmentToken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn create_enrollment_token(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    headers: axum::http::HeaderMap,
    body: Result<ApiJson<CreateEnrollmentToken>, ApiError>,
) -> Result<(StatusCode, Json<IssuedEnrollmentToken>), ApiError> {
    let result = async {
        let ApiJson(body) = body?;
        let environment: Environment = body
            .environment
            .as_deref()
            .unwrap_or("production")
            .parse()
            .map_err(|e: crate::store::UnknownEnvironment| {
                ApiError::Unprocessable(e.to_string())
            })?;
        let ttl =
            parse_duration(body.ttl.as_deref().unwrap_or("1h")).map_err(ApiError::Unprocessable)?;
        let issued = enrollment::issue_token(
            &state.store,
            &state.keyring,
            TokenRequest {
                org_id: who.org_id,
                cluster_name: body.cluster_name,
                environment,
                tags: body.tags,
                ttl,
                reusable: body.reusable,
                created_by: who.actor.clone(),
            },
        )
        .await?;
        let public_url = public_url(&state, &ctx, &headers);
        let helm =
            enrollment::helm_command(&public_url, &state.settings.public_address, &issued.token);
        Ok((
            StatusCode::CREATED,
            Json(IssuedEnrollmentToken {
                info: issued.info.into(),
                token: issued.token.expose().to_owned(),
                helm,
            }),
        ))
    }
    .await;
    audited(
        &state,
        &who,
        &ctx,
        "enrollment_token.create",
        "enrollment_token",
        result,
    )
    .await
}

/// Where the install line's chart repository is: `--public-url`, or the address this request
/// came to (its `Host`; the hub warned at start that production should set the URL).
fn public_url(
    state: &AppState,
    ctx: &RequestContext,
    headers: &axum::http::HeaderMap,
) -> PublicUrl {
    if let Some(url) = &state.settings.public_url {
        return url.clone();
    }
    headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| PublicUrl::from_request_host(host, ctx.secure))
        .unwrap_or_else(|| PublicUrl::from_listen(([127, 0, 0, 1], 8080).into()))
}

/// `GET /api/v1/k8s/enrollment-tokens` (admin).
#[utoipa::path(get, path = "/api/v1/k8s/enrollment-tokens", tag = "admin",
    responses((status = 200, body = EnrollmentTokenList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list_enrollment_tokens(
    State(state): State<AppState>,
    Admin(who): Admin,
) -> Result<Json<EnrollmentTokenList>, ApiError> {
    let tokens = state.store.enrollment_tokens(who.org_id).await?;
    Ok(Json(EnrollmentTokenList {
        items: tokens.into_iter().map(EnrollmentTokenView::from).collect(),
    }))
}

/// `DELETE /api/v1/k8s/enrollment-tokens/{id}` (admin): revokes it.
#[utoipa::path(delete, path = "/api/v1/k8s/enrollment-tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "Token public id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_enrollment_token(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = format!("enrollment_token:{id}");
    let result = async {
        if state.store.revoke_enrollment_token(who.org_id, &id).await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(
        &state,
        &who,
        &ctx,
        "enrollment_token.revoke",
        &target,
        result,
    )
    .await
}

/// A user (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// A disabled user cannot log in, and their API tokens are refused.
    pub disabled: bool,
    /// Since when the user is disabled.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            role: u.role.as_str().into(),
            created_at: u.created_at,
            disabled: u.disabled_at.is_some(),
            disabled_at: u.disabled_at,
        }
    }
}

/// The organization's users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// By email.
    pub items: Vec<UserView>,
}

/// A user to create in the caller's organization.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Email (login name).
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    /// `viewer`, `operator` or `admin` (default).
    pub role: Option<String>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Changes to a user. Nothing may leave the organization without an enabled admin (409).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New role; a lower one lowers the user's API tokens to it.
    pub role: Option<String>,
    /// New password: ends the user's sessions and revokes their API tokens.
    pub password: Option<String>,
    /// `true` ends the user's sessions, refuses their logins and API tokens; `false` lets
    /// them in again (their unrevoked tokens work again).
    pub disabled: Option<bool>,
}

fn role(name: Option<&str>) -> Result<Option<Role>, ApiError> {
    name.map(|r| {
        Role::parse(r).ok_or_else(|| {
            ApiError::Unprocessable(format!("unknown role {r:?}: use viewer, operator or admin"))
        })
    })
    .transpose()
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::WeakPassword | AuthError::InvalidEmail => {
                ApiError::Unprocessable(err.to_string())
            }
            AuthError::Hashing => ApiError::Internal(err.into()),
            AuthError::Store(e) => e.into(),
        }
    }
}

/// `GET /api/v1/users` (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list_users(
    State(state): State<AppState>,
    Admin(who): Admin,
) -> Result<Json<UserList>, ApiError> {
    let users = state.store.users(who.org_id).await?;
    Ok(Json(UserList {
        items: users.into_iter().map(UserView::from).collect(),
    }))
}

/// `POST /api/v1/users` (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_user(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    body: Result<ApiJson<CreateUser>, ApiError>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let result = async {
        let ApiJson(body) = body?;
        let role = role(body.role.as_deref())?.unwrap_or(Role::Viewer);
        let password = body.password;
        let email = body.email;
        let store = state.store.clone();
        let org = who.org_id;
        let user = auth::create_user(&store, org, &email, &password, role).await?;
        Ok((StatusCode::CREATED, Json(UserView::from(user))))
    }
    .await;
    audited(&state, &who, &ctx, "user.create", "user", result).await
}

/// `PATCH /api/v1/users/{id}` (admin).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", request_body = UpdateUser,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn update_user(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<UpdateUser>, ApiError>,
) -> Result<Json<UserView>, ApiError> {
    let target = format!("user:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let ApiJson(body) = body?;
        let password_hash = match body.password {
            Some(password) => Some(auth::hash_password_blocking(password).await?),
            None => None,
        };
        let change = UserChange {
            role: role(body.role.as_deref())?,
            password_hash,
            disabled: body.disabled,
        };
        let user = state.store.update_user(who.org_id, id, &change).await;
        // Whatever changed, no token of this hub may answer from before it.
        state.tokens.clear();
        Ok(Json(UserView::from(user?.ok_or(ApiError::NotFound)?)))
    }
    .await;
    audited(&state, &who, &ctx, "user.update", &target, result).await
}

/// `DELETE /api/v1/users/{id}` (admin); an admin cannot delete themself, nor the
/// organization's last enabled admin (409).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "admin",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(super) async fn delete_user(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = format!("user:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        if id == who.user_id {
            return Err(ApiError::Conflict("you cannot delete yourself".into()));
        }
        let deleted = state.store.delete_user(who.org_id, id).await;
        state.tokens.clear();
        if deleted? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound)
        }
    }
    .await;
    audited(&state, &who, &ctx, "user.delete", &target, result).await
}
