//! API tokens for automation: opaque, stored as their SHA-256 only, optional expiry,
//! revocable. Written once against [`Sql`]; usability (revoked, expired) is judged in Rust.
//!
//! A token acts for its user and never beyond them: the lookup joins the user, refuses a token
//! whose user is gone or disabled, and answers with the lower of the token's and the user's
//! current role (demotion also lowers the stored role, `user_changes.rs`).

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use tracing::instrument;

use super::{Role, decode_error, role_from};
use crate::store::sql::{Cells, Sql, Ty, Value, revoke_rows};
use crate::store::{Store, StoreError, in_tx, on_conn};

/// An API token to store (hash only).
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Id (shown, used to revoke).
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// The user who created it.
    pub user_id: Uuid,
    /// What it is for.
    pub name: String,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// Its role (never more than its creator's).
    pub role: Role,
    /// Optional expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API token as listed: never the token or its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenInfo {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// Creator.
    pub user_id: Option<Uuid>,
    /// Name.
    pub name: String,
    /// Role; from the token lookup the effective one (never above the user's current role).
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

const TOKEN_TYPES: [Ty; 8] = [
    Ty::Text,
    Ty::Text,
    Ty::OptText,
    Ty::Text,
    Ty::Text,
    Ty::Time,
    Ty::OptTime,
    Ty::OptTime,
];

fn token_columns(db: &dyn Sql, prefix: &str) -> String {
    let d = db.dialect();
    format!(
        "{}, {}, {}, {prefix}name, {prefix}role, {prefix}created_at, {prefix}expires_at, \
         {prefix}revoked_at",
        d.text(&format!("{prefix}id")),
        d.text(&format!("{prefix}org_id")),
        d.text(&format!("{prefix}user_id"))
    )
}

fn token_from(row: Vec<Value>) -> Result<ApiTokenInfo, StoreError> {
    token_cells(&mut Cells::new(row))
}

fn token_cells(c: &mut Cells) -> Result<ApiTokenInfo, StoreError> {
    Ok(ApiTokenInfo {
        id: c.uuid()?,
        org_id: OrgId::from_uuid(c.uuid()?),
        user_id: c
            .opt_text()?
            .map(|t| Uuid::parse_str(&t))
            .transpose()
            .map_err(|_| decode_error("bad user id"))?,
        name: c.text()?,
        role: role_from(&c.text()?)?,
        created_at: c.time()?,
        expires_at: c.opt_time()?,
        revoked_at: c.opt_time()?,
    })
}

impl Store {
    /// Stores an API token (hash only).
    #[instrument(skip_all)]
    pub async fn create_api_token(&self, new: &NewApiToken) -> Result<ApiTokenInfo, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            // What the databases keep (microseconds), so the returned row equals a re-read one.
            let now = Utc::now().trunc_subsecs(6);
            let sql = format!(
                "INSERT INTO api_tokens (id, org_id, user_id, name, token_hash, role, created_at, \
         expires_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6),
                d.ph(7),
                d.ph(8)
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(new.id),
                    Value::Id(*new.org_id.as_uuid()),
                    Value::Id(new.user_id),
                    Value::Text(new.name.clone()),
                    Value::Bytes(new.token_hash.to_vec()),
                    Value::Text(new.role.as_str().to_owned()),
                    Value::Time(now),
                    Value::OptTime(new.expires_at),
                ],
            )
            .await?;
            Ok(ApiTokenInfo {
                id: new.id,
                org_id: new.org_id,
                user_id: Some(new.user_id),
                name: new.name.clone(),
                role: new.role,
                created_at: now,
                expires_at: new.expires_at,
                revoked_at: None,
            })
        })
    }

    /// The usable API token with this hash (its user exists and is enabled), with its
    /// effective role: the lower of the token's and its user's.
    #[instrument(skip_all)]
    pub async fn api_token(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<ApiTokenInfo>, StoreError> {
        on_conn!(self, |db| async {
            let sql = format!(
                "SELECT {}, u.role FROM api_tokens t \
         JOIN users u ON u.id = t.user_id AND u.org_id = t.org_id \
         WHERE t.token_hash = {} AND u.disabled_at IS NULL",
                token_columns(db, "t."),
                db.dialect().ph(1)
            );
            let mut types = TOKEN_TYPES.to_vec();
            types.push(Ty::Text);
            let rows = db
                .fetch(&sql, vec![Value::Bytes(token_hash.to_vec())], &types)
                .await?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            let mut c = Cells::new(row);
            let mut token = token_cells(&mut c)?;
            token.role = token.role.least(role_from(&c.text()?)?);
            let usable = token.revoked_at.is_none() && token.expires_at.is_none_or(|at| at > now);
            Ok(usable.then_some(token))
        })
    }

    /// The organization's API tokens, newest first.
    #[instrument(skip_all)]
    pub async fn api_tokens(&self, org: OrgId) -> Result<Vec<ApiTokenInfo>, StoreError> {
        on_conn!(self, |db| async {
            let sql = format!(
                "SELECT {} FROM api_tokens WHERE org_id = {} ORDER BY created_at DESC, id",
                token_columns(db, ""),
                db.dialect().ph(1)
            );
            db.fetch(&sql, vec![Value::Id(*org.as_uuid())], &TOKEN_TYPES)
                .await?
                .into_iter()
                .map(token_from)
                .collect()
        })
    }

    /// Revokes an API token of the organization.
    #[instrument(skip_all)]
    pub async fn revoke_api_token(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            Ok(revoke_rows(db, "api_tokens", "id", *org.as_uuid(), Value::Id(id)).await? > 0)
        })
    }
}
