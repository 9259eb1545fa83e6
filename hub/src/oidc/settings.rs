//! An identity provider's settings as an admin gives them (API or CLI), checked and turned
//! into what the store keeps: the client secret sealed on the way in, defaults filled, every
//! refusal a sentence that names the field.

use chrono::Utc;
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use crate::seal::Keyring;
use crate::store::{GroupRole, OidcProvider, Role};

/// What the client secret is sealed for: it opens for nothing else.
pub const SECRET_CONTEXT: &str = "oidc-client-secret";

/// Scopes requested when a provider names none: a refresh token (`offline_access`) and the
/// email.
pub const DEFAULT_SCOPES: [&str; 3] = ["email", "profile", "offline_access"];

/// A provider to add, or the new settings of one (`client_secret` may then be left out to
/// keep the stored one; other fields left out take their defaults). One type for the admin
/// API's body and the CLI's flags, so both are checked alike.
#[derive(Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProviderSettings)]
pub struct ProviderInput {
    /// Short name, unique in the organization: lowercase letters, digits and `-`.
    pub name: String,
    /// What the sign-in button names ("Sign in with …").
    pub display_name: String,
    /// Issuer URL (discovery: `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// The hub's client id at the provider.
    pub client_id: String,
    /// The client secret: sealed with the master key, never shown again.
    pub client_secret: Option<String>,
    /// Scopes besides `openid`; default `email profile offline_access`.
    pub scopes: Option<Vec<String>>,
    /// The ID token claim with the user's groups; default `groups`.
    pub groups_claim: Option<String>,
    /// The ID token claim with the user's email; default `email`.
    pub email_claim: Option<String>,
    /// Role of a user in none of the mapped groups (`viewer`, `operator` or `admin`); none refuses them.
    pub default_role: Option<String>,
}

impl std::fmt::Debug for ProviderInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderInput")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A role by name, or why not.
pub fn role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("unknown role {text:?}: use viewer, operator or admin"))
}

fn text(field: &str, value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.len() > max {
        return Err(format!("{field} must be 1 to {max} characters"));
    }
    Ok(value.to_owned())
}

/// The stored provider for `input` in `org`; `kept_secret` is the sealed secret to keep when
/// the input gives none.
pub fn provider(
    input: ProviderInput,
    org: OrgId,
    id: Uuid,
    keyring: &Keyring,
    kept_secret: Option<Vec<u8>>,
) -> Result<OidcProvider, String> {
    let name = text("name", &input.name, 40)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("name may hold only lowercase letters, digits and -".into());
    }
    let issuer = text("issuer", &input.issuer, 500)?;
    if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        || openidconnect::IssuerUrl::new(issuer.clone()).is_err()
    {
        return Err("issuer must be an http:// or https:// URL".into());
    }
    let client_secret_sealed = match (input.client_secret, kept_secret) {
        (Some(secret), _) => {
            let secret = text("client_secret", &secret, 1000)?;
            keyring.seal(secret.as_bytes(), SECRET_CONTEXT)
        }
        (None, Some(kept)) => kept,
        (None, None) => return Err("client_secret is required".into()),
    };
    let scopes = match input.scopes {
        Some(scopes) => scopes
            .iter()
            .map(|s| text("each scope", s, 200))
            .collect::<Result<Vec<_>, _>>()?,
        None => DEFAULT_SCOPES.map(str::to_owned).to_vec(),
    };
    if scopes.iter().any(|s| s.contains(char::is_whitespace)) {
        return Err("a scope cannot hold spaces: list each one".into());
    }
    let claim = |field: &str, value: Option<String>, default: &str| match value {
        Some(v) => text(field, &v, 200),
        None => Ok(default.to_owned()),
    };
    Ok(OidcProvider {
        id,
        org_id: org,
        name,
        display_name: text("display_name", &input.display_name, 60)?,
        issuer,
        client_id: text("client_id", &input.client_id, 500)?,
        client_secret_sealed,
        scopes,
        groups_claim: claim("groups_claim", input.groups_claim, "groups")?,
        email_claim: claim("email_claim", input.email_claim, "email")?,
        default_role: input.default_role.as_deref().map(role).transpose()?,
        created_at: Utc::now(),
    })
}

/// Group-to-role mappings from `(group, role)` pairs; a group listed twice is refused.
pub fn group_roles(pairs: Vec<(String, String)>) -> Result<Vec<GroupRole>, String> {
    let mut mappings: Vec<GroupRole> = Vec::with_capacity(pairs.len());
    for (group, role_name) in pairs {
        let group = text("group", &group, 200)?;
        if mappings.iter().any(|g| g.group == group) {
            return Err(format!("group {group:?} is listed twice"));
        }
        mappings.push(GroupRole {
            group,
            role: role(&role_name)?,
        });
    }
    Ok(mappings)
}
