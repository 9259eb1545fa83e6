//! Single sign-on configuration: an organization's OpenID Connect providers, their
//! group-to-role mappings, and whether the organization still allows local passwords.
//! Written once against [`Sql`].
//!
//! A provider's client secret arrives and leaves sealed (`crate::seal`): the store never holds
//! it in the clear. A provider belongs to one organization; every read and write names it, so
//! another organization's provider id is simply not found.

use std::fmt;

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;
use uuid::Uuid;

use super::{Role, role_from};
use crate::store::sql::{Cells, Sql, Ty, Value};
use crate::store::{Store, StoreError, in_tx, on_conn};

/// An organization's OpenID Connect provider as stored (the secret still sealed).
#[derive(Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// Id: the login URL names it, so it is unique across organizations.
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// Short name, unique in the organization (for the CLI and the admin API).
    pub name: String,
    /// What the login page's button says ("Sign in with …").
    pub display_name: String,
    /// Issuer URL; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The hub's client id at the provider (the ID token's audience).
    pub client_id: String,
    /// The client secret sealed with the master key.
    pub client_secret_sealed: Vec<u8>,
    /// Scopes requested besides `openid`.
    pub scopes: Vec<String>,
    /// The ID token claim that lists the user's groups.
    pub groups_claim: String,
    /// The ID token claim with the user's email.
    pub email_claim: String,
    /// Role of a user in none of the mapped groups; `None` refuses such a user.
    pub default_role: Option<Role>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A group of a provider and the role its members get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRole {
    /// The group as the provider's groups claim names it.
    pub group: String,
    /// The role.
    pub role: Role,
}

const PROVIDER_TYPES: [Ty; 12] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::OptBytes,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::OptText,
    Ty::Time,
];

fn provider_columns(db: &dyn Sql) -> String {
    let d = db.dialect();
    format!(
        "{}, {}, name, display_name, issuer, client_id, client_secret_sealed, scopes, \
         groups_claim, email_claim, default_role, created_at",
        d.text("id"),
        d.text("org_id")
    )
}

fn provider_from(row: Vec<Value>) -> Result<OidcProvider, StoreError> {
    let mut c = Cells::new(row);
    Ok(OidcProvider {
        id: c.uuid()?,
        org_id: OrgId::from_uuid(c.uuid()?),
        name: c.text()?,
        display_name: c.text()?,
        issuer: c.text()?,
        client_id: c.text()?,
        client_secret_sealed: c.opt_bytes()?.unwrap_or_default(),
        scopes: c.text()?.split_whitespace().map(str::to_owned).collect(),
        groups_claim: c.text()?,
        email_claim: c.text()?,
        default_role: c.opt_text()?.as_deref().map(role_from).transpose()?,
        created_at: c.time()?,
    })
}

/// The providers matching `condition` (placeholders from 1, values `args`).
async fn providers_where(
    db: &mut dyn Sql,
    condition: &str,
    args: Vec<Value>,
) -> Result<Vec<OidcProvider>, StoreError> {
    let sql = format!(
        "SELECT {} FROM oidc_providers WHERE {condition} ORDER BY name, id",
        provider_columns(db)
    );
    db.fetch(&sql, args, &PROVIDER_TYPES)
        .await?
        .into_iter()
        .map(provider_from)
        .collect()
}

impl Store {
    /// Adds a provider; a name taken in the organization is [`StoreError::Conflict`].
    #[instrument(skip_all)]
    pub async fn create_oidc_provider(&self, new: &OidcProvider) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let placeholders: Vec<String> = (1..=12).map(|i| d.ph(i)).collect();
            let sql = format!(
                "INSERT INTO oidc_providers (id, org_id, name, display_name, issuer, client_id, \
                 client_secret_sealed, scopes, groups_claim, email_claim, default_role, \
                 created_at) VALUES ({}) ON CONFLICT (org_id, name) DO NOTHING",
                placeholders.join(", ")
            );
            let inserted = db
                .execute(
                    &sql,
                    vec![
                        Value::Id(new.id),
                        Value::Id(*new.org_id.as_uuid()),
                        Value::Text(new.name.clone()),
                        Value::Text(new.display_name.clone()),
                        Value::Text(new.issuer.clone()),
                        Value::Text(new.client_id.clone()),
                        Value::Bytes(new.client_secret_sealed.clone()),
                        Value::Text(new.scopes.join(" ")),
                        Value::Text(new.groups_claim.clone()),
                        Value::Text(new.email_claim.clone()),
                        Value::OptText(new.default_role.map(|r| r.as_str().to_owned())),
                        Value::Time(new.created_at.trunc_subsecs(6)),
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::Conflict(
                    "a provider with this name already exists in this organization".into(),
                ));
            }
            Ok(())
        })
    }

    /// Replaces a provider's settings (all but id, organization and creation time); false
    /// when the organization has no such provider. A name taken by another provider of the
    /// organization is [`StoreError::Conflict`].
    #[instrument(skip_all)]
    pub async fn update_oidc_provider(&self, p: &OidcProvider) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let taken = providers_where(
                db,
                &format!(
                    "org_id = {} AND name = {} AND id <> {}",
                    d.ph(1),
                    d.ph(2),
                    d.ph(3)
                ),
                vec![
                    Value::Id(*p.org_id.as_uuid()),
                    Value::Text(p.name.clone()),
                    Value::Id(p.id),
                ],
            )
            .await?;
            if !taken.is_empty() {
                return Err(StoreError::Conflict(
                    "a provider with this name already exists in this organization".into(),
                ));
            }
            let sql = format!(
                "UPDATE oidc_providers SET name = {}, display_name = {}, issuer = {}, \
                 client_id = {}, client_secret_sealed = {}, scopes = {}, groups_claim = {}, \
                 email_claim = {}, default_role = {} WHERE org_id = {} AND id = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6),
                d.ph(7),
                d.ph(8),
                d.ph(9),
                d.ph(10),
                d.ph(11)
            );
            let changed = db
                .execute(
                    &sql,
                    vec![
                        Value::Text(p.name.clone()),
                        Value::Text(p.display_name.clone()),
                        Value::Text(p.issuer.clone()),
                        Value::Text(p.client_id.clone()),
                        Value::Bytes(p.client_secret_sealed.clone()),
                        Value::Text(p.scopes.join(" ")),
                        Value::Text(p.groups_claim.clone()),
                        Value::Text(p.email_claim.clone()),
                        Value::OptText(p.default_role.map(|r| r.as_str().to_owned())),
                        Value::Id(*p.org_id.as_uuid()),
                        Value::Id(p.id),
                    ],
                )
                .await?;
            Ok(changed > 0)
        })
    }

    /// The organization's providers, by name.
    #[instrument(skip_all)]
    pub async fn oidc_providers(&self, org: OrgId) -> Result<Vec<OidcProvider>, StoreError> {
        on_conn!(self, |db| async {
            let condition = format!("org_id = {}", db.dialect().ph(1));
            providers_where(db, &condition, vec![Value::Id(*org.as_uuid())]).await
        })
    }

    /// Every organization's providers: the login page offers them before anyone is known.
    #[instrument(skip_all)]
    pub async fn all_oidc_providers(&self) -> Result<Vec<OidcProvider>, StoreError> {
        on_conn!(self, |db| async {
            providers_where(db, "1 = 1", vec![]).await
        })
    }

    /// A provider by id alone, for the login and callback, which start before any
    /// organization is known; the provider's organization is then the one signed in to.
    #[instrument(skip_all)]
    pub async fn oidc_provider(&self, id: Uuid) -> Result<Option<OidcProvider>, StoreError> {
        on_conn!(self, |db| async {
            let condition = format!("id = {}", db.dialect().ph(1));
            Ok(providers_where(db, &condition, vec![Value::Id(id)])
                .await?
                .pop())
        })
    }

    /// Removes a provider of the organization with its mappings, identities and the
    /// provider's side of sessions; false when there is no such provider.
    #[instrument(skip_all)]
    pub async fn delete_oidc_provider(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "DELETE FROM oidc_providers WHERE org_id = {} AND id = {}",
                d.ph(1),
                d.ph(2)
            );
            Ok(db
                .execute(&sql, vec![Value::Id(*org.as_uuid()), Value::Id(id)])
                .await?
                > 0)
        })
    }

    /// Replaces a provider's group-to-role mappings; false when the organization has no such
    /// provider.
    #[instrument(skip_all)]
    pub async fn set_oidc_group_roles(
        &self,
        org: OrgId,
        provider: Uuid,
        mappings: &[GroupRole],
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let condition = format!("org_id = {} AND id = {}", d.ph(1), d.ph(2));
            let key = vec![Value::Id(*org.as_uuid()), Value::Id(provider)];
            if providers_where(db, &condition, key.clone())
                .await?
                .is_empty()
            {
                return Ok(false);
            }
            let sql = format!(
                "DELETE FROM oidc_group_roles WHERE org_id = {} AND provider_id = {}",
                d.ph(1),
                d.ph(2)
            );
            db.execute(&sql, key).await?;
            let sql = format!(
                "INSERT INTO oidc_group_roles (provider_id, org_id, group_name, role) \
                 VALUES ({}, {}, {}, {})",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4)
            );
            for m in mappings {
                db.execute(
                    &sql,
                    vec![
                        Value::Id(provider),
                        Value::Id(*org.as_uuid()),
                        Value::Text(m.group.clone()),
                        Value::Text(m.role.as_str().to_owned()),
                    ],
                )
                .await?;
            }
            Ok(true)
        })
    }

    /// A provider's group-to-role mappings, by group.
    #[instrument(skip_all)]
    pub async fn oidc_group_roles(
        &self,
        org: OrgId,
        provider: Uuid,
    ) -> Result<Vec<GroupRole>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT group_name, role FROM oidc_group_roles WHERE org_id = {} \
                 AND provider_id = {} ORDER BY group_name",
                d.ph(1),
                d.ph(2)
            );
            db.fetch(
                &sql,
                vec![Value::Id(*org.as_uuid()), Value::Id(provider)],
                &[Ty::Text, Ty::Text],
            )
            .await?
            .into_iter()
            .map(|row| {
                let mut c = Cells::new(row);
                Ok(GroupRole {
                    group: c.text()?,
                    role: role_from(&c.text()?)?,
                })
            })
            .collect()
        })
    }

    /// Allows or refuses local password login in the organization.
    #[instrument(skip_all)]
    pub async fn set_password_login_disabled(
        &self,
        org: OrgId,
        disabled: bool,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE organizations SET password_login_disabled_at = {} WHERE id = {}",
                d.ph(1),
                d.ph(2)
            );
            let at = disabled.then(|| Utc::now().trunc_subsecs(6));
            db.execute(&sql, vec![Value::OptTime(at), Value::Id(*org.as_uuid())])
                .await?;
            Ok(())
        })
    }

    /// Whether the organization signs people in through its providers only.
    #[instrument(skip_all)]
    pub async fn password_login_disabled(&self, org: OrgId) -> Result<bool, StoreError> {
        on_conn!(self, |db| async {
            let sql = format!(
                "SELECT password_login_disabled_at FROM organizations WHERE id = {}",
                db.dialect().ph(1)
            );
            let rows = db
                .fetch(&sql, vec![Value::Id(*org.as_uuid())], &[Ty::OptTime])
                .await?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(false);
            };
            Ok(Cells::new(row).opt_time()?.is_some())
        })
    }
}
