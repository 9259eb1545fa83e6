//! `/api/v1/oidc-providers` and `/api/v1/organization/password-login` (admin): an
//! organization's single sign-on settings. The client secret is sealed on arrival and never
//! shown again; every change is audited.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::audited;
use super::context::RequestContext;
use super::extract::{Admin, ApiJson, ApiPath};
use crate::error::{ApiError, ErrorBody};
use crate::oidc::settings::{self, ProviderInput as ProviderSettings};
use crate::state::AppState;
use crate::store::OidcProvider;

/// A provider as shown: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    /// Id (the login URL names it).
    pub id: Uuid,
    /// Short name.
    pub name: String,
    /// Button text.
    pub display_name: String,
    /// Issuer URL.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Scopes besides `openid`.
    pub scopes: Vec<String>,
    /// Groups claim.
    pub groups_claim: String,
    /// Email claim.
    pub email_claim: String,
    /// Role of a user in no mapped group; none refuses them.
    pub default_role: Option<String>,
    /// Group-to-role mappings.
    pub group_roles: Vec<GroupRoleView>,
}

/// A group and the role its members get.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRoleView {
    /// The group as the groups claim names it.
    pub group: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// The organization's providers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    /// By name.
    pub items: Vec<ProviderView>,
}

/// Whether local passwords may sign in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordLogin {
    /// True: the organization signs in through its identity providers only.
    pub disabled: bool,
}

/// The stored form of `settings` (see [`settings::provider`]).
fn provider_from(
    state: &AppState,
    org: kubeworkz_shared::ids::OrgId,
    id: Uuid,
    input: ProviderSettings,
    kept_secret: Option<Vec<u8>>,
) -> Result<OidcProvider, ApiError> {
    settings::provider(input, org, id, &state.keyring, kept_secret).map_err(ApiError::Unprocessable)
}

async fn view(state: &AppState, p: OidcProvider) -> Result<ProviderView, ApiError> {
    let mappings = state.store.oidc_group_roles(p.org_id, p.id).await?;
    Ok(ProviderView {
        id: p.id,
        name: p.name,
        display_name: p.display_name,
        issuer: p.issuer,
        client_id: p.client_id,
        scopes: p.scopes,
        groups_claim: p.groups_claim,
        email_claim: p.email_claim,
        default_role: p.default_role.map(|r| r.as_str().to_owned()),
        group_roles: mappings
            .into_iter()
            .map(|m| GroupRoleView {
                group: m.group,
                role: m.role.as_str().to_owned(),
            })
            .collect(),
    })
}

/// `GET /api/v1/oidc-providers` (admin).
#[utoipa::path(get, path = "/api/v1/oidc-providers", tag = "admin",
    responses((status = 200, body = ProviderList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    Admin(who): Admin,
) -> Result<Json<ProviderList>, ApiError> {
    let mut items = Vec::new();
    for p in state.store.oidc_providers(who.org_id).await? {
        items.push(view(&state, p).await?);
    }
    Ok(Json(ProviderList { items }))
}

/// `POST /api/v1/oidc-providers` (admin).
#[utoipa::path(post, path = "/api/v1/oidc-providers", tag = "admin",
    request_body = ProviderSettings,
    responses((status = 201, body = ProviderView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    body: Result<ApiJson<ProviderSettings>, ApiError>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    let result = async {
        let ApiJson(body) = body?;
        let provider = provider_from(&state, who.org_id, Uuid::now_v7(), body, None)?;
        state.store.create_oidc_provider(&provider).await?;
        Ok((StatusCode::CREATED, Json(view(&state, provider).await?)))
    }
    .await;
    audited(
        &state,
        &who,
        &ctx,
        "oidc_provider.create",
        "oidc_provider",
        result,
    )
    .await
}

/// `PUT /api/v1/oidc-providers/{id}` (admin): replaces the settings.
#[utoipa::path(put, path = "/api/v1/oidc-providers/{id}", tag = "admin",
    request_body = ProviderSettings, params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, body = ProviderView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<ProviderSettings>, ApiError>,
) -> Result<Json<ProviderView>, ApiError> {
    let target = format!("oidc_provider:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let ApiJson(body) = body?;
        let stored = state
            .store
            .oidc_provider(id)
            .await?
            .filter(|p| p.org_id == who.org_id)
            .ok_or(ApiError::NotFound)?;
        let mut provider = provider_from(
            &state,
            who.org_id,
            id,
            body,
            Some(stored.client_secret_sealed),
        )?;
        provider.created_at = stored.created_at;
        if !state.store.update_oidc_provider(&provider).await? {
            return Err(ApiError::NotFound);
        }
        state.oidc.forget(id);
        Ok(Json(view(&state, provider).await?))
    }
    .await;
    audited(&state, &who, &ctx, "oidc_provider.update", &target, result).await
}

/// `DELETE /api/v1/oidc-providers/{id}` (admin): its users stay; their sign-ins through it
/// end.
#[utoipa::path(delete, path = "/api/v1/oidc-providers/{id}", tag = "admin",
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = format!("oidc_provider:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        if !state.store.delete_oidc_provider(who.org_id, id).await? {
            return Err(ApiError::NotFound);
        }
        state.oidc.forget(id);
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&state, &who, &ctx, "oidc_provider.delete", &target, result).await
}

/// `PUT /api/v1/oidc-providers/{id}/group-roles` (admin): replaces the mappings.
#[utoipa::path(put, path = "/api/v1/oidc-providers/{id}/group-roles", tag = "admin",
    request_body = Vec<GroupRoleView>, params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, body = ProviderView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn set_group_roles(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<Vec<GroupRoleView>>, ApiError>,
) -> Result<Json<ProviderView>, ApiError> {
    let target = format!("oidc_provider:{id}");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let ApiJson(body) = body?;
        let pairs = body.into_iter().map(|m| (m.group, m.role)).collect();
        let mappings = settings::group_roles(pairs).map_err(ApiError::Unprocessable)?;
        if !state
            .store
            .set_oidc_group_roles(who.org_id, id, &mappings)
            .await?
        {
            return Err(ApiError::NotFound);
        }
        let provider = state
            .store
            .oidc_provider(id)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(Json(view(&state, provider).await?))
    }
    .await;
    audited(
        &state,
        &who,
        &ctx,
        "oidc_provider.group_roles",
        &target,
        result,
    )
    .await
}

/// `PUT /api/v1/organization/password-login` (admin): allows or refuses local passwords.
#[utoipa::path(put, path = "/api/v1/organization/password-login", tag = "admin",
    request_body = PasswordLogin,
    responses((status = 200, body = PasswordLogin), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn set_password_login(
    State(state): State<AppState>,
    Admin(who): Admin,
    ctx: RequestContext,
    body: Result<ApiJson<PasswordLogin>, ApiError>,
) -> Result<Json<PasswordLogin>, ApiError> {
    let result = async {
        let ApiJson(body) = body?;
        state
            .store
            .set_password_login_disabled(who.org_id, body.disabled)
            .await?;
        Ok(Json(body))
    }
    .await;
    audited(
        &state,
        &who,
        &ctx,
        "organization.password_login",
        "organization",
        result,
    )
    .await
}
