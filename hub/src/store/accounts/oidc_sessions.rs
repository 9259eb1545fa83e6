//! Single sign-on at work: logins between the redirect to the provider and its callback,
//! identities linked to users (provisioned on first login), and the provider's side of a
//! session (its refresh token, sealed). Written once against [`Sql`].
//!
//! A login is taken by deleting its row, so a callback replayed with the same `state` finds
//! nothing. A session's renewal is claimed by moving its `renew_at` forward in one statement,
//! so of several requests that find a session due, one renews it.

use std::fmt;

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;
use uuid::Uuid;

use super::user_changes::lock_organization;
use super::{
    NewSession, NewUser, Role, USER_TYPES, User, insert_session, insert_user, user_columns,
    user_from,
};
use crate::store::sql::{Cells, Sql, Ty, Value};
use crate::store::{Store, StoreError, in_tx, on_conn};

/// A login in flight: what the callback needs to finish it.
#[derive(Clone)]
pub struct OidcLogin {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: [u8; 32],
    /// The provider's organization.
    pub org_id: OrgId,
    /// The provider.
    pub provider_id: Uuid,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier, sealed.
    pub pkce_verifier_sealed: Vec<u8>,
    /// After this the callback is refused.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcLogin")
            .field("org_id", &self.org_id)
            .field("provider_id", &self.provider_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Who the provider says signed in, with the role their groups give.
#[derive(Debug, Clone)]
pub struct OidcSignIn {
    /// The provider's organization.
    pub org_id: OrgId,
    /// The provider.
    pub provider_id: Uuid,
    /// The ID token's issuer.
    pub issuer: String,
    /// The ID token's subject: stable at the provider.
    pub subject: String,
    /// Email, lowercase.
    pub email: String,
    /// Whether the provider verified the email: only then may it link an existing user.
    pub email_verified: bool,
    /// The role the groups give a new user.
    pub role: Role,
}

/// Why a sign-in found no user to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefused {
    /// The linked user is disabled.
    Disabled,
    /// A user of that email exists and the provider did not verify the email.
    EmailUnverified,
}

/// The user a sign-in found or created.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user, with the role stored before this sign-in.
    pub user: User,
    /// True when the user was created by this sign-in.
    pub created: bool,
}

/// The provider's side of a session.
#[derive(Clone)]
pub struct OidcSessionRecord {
    /// The provider.
    pub provider_id: Uuid,
    /// The refresh token, sealed; `None` when the provider gave none.
    pub refresh_token_sealed: Option<Vec<u8>>,
    /// The last ID token, sealed (the logout hint).
    pub id_token_sealed: Vec<u8>,
    /// When the provider's tokens are to be renewed.
    pub renew_at: DateTime<Utc>,
}

impl fmt::Debug for OidcSessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSessionRecord")
            .field("provider_id", &self.provider_id)
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

/// The password hash of users created by single sign-on: not a PHC string, so no password
/// ever verifies against it.
pub const NO_PASSWORD: &str = "!sso";

async fn user_where(
    db: &mut dyn Sql,
    condition: &str,
    args: Vec<Value>,
) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {} FROM users u WHERE {condition}",
        user_columns(db, "u.")
    );
    db.fetch(&sql, args, &USER_TYPES)
        .await?
        .into_iter()
        .next()
        .map(|row| user_from(&mut Cells::new(row)))
        .transpose()
}

impl Store {
    /// Stores a login in flight and forgets the organization's expired ones.
    #[instrument(skip_all)]
    pub async fn create_oidc_login(&self, login: &OidcLogin) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let now = Utc::now();
            let sql = format!(
                "DELETE FROM oidc_logins WHERE org_id = {} AND expires_at < {}",
                d.ph(1),
                d.ph(2)
            );
            db.execute(
                &sql,
                vec![Value::Id(*login.org_id.as_uuid()), Value::Time(now)],
            )
            .await?;
            let sql = format!(
                "INSERT INTO oidc_logins (state_hash, org_id, provider_id, nonce, \
                 pkce_verifier_sealed, created_at, expires_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6),
                d.ph(7)
            );
            db.execute(
                &sql,
                vec![
                    Value::Bytes(login.state_hash.to_vec()),
                    Value::Id(*login.org_id.as_uuid()),
                    Value::Id(login.provider_id),
                    Value::Text(login.nonce.clone()),
                    Value::Bytes(login.pkce_verifier_sealed.clone()),
                    Value::Time(now),
                    Value::Time(login.expires_at),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Takes the login of this `state` (it is gone afterwards); `None` when there is none or
    /// it expired.
    #[instrument(skip_all)]
    pub async fn take_oidc_login(
        &self,
        state_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<OidcLogin>, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "DELETE FROM oidc_logins WHERE state_hash = {} RETURNING {}, {}, nonce, \
                 pkce_verifier_sealed, expires_at",
                d.ph(1),
                d.text("org_id"),
                d.text("provider_id")
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Bytes(state_hash.to_vec())],
                    &[Ty::Text, Ty::Text, Ty::Text, Ty::OptBytes, Ty::Time],
                )
                .await?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            let mut c = Cells::new(row);
            let login = OidcLogin {
                state_hash: *state_hash,
                org_id: OrgId::from_uuid(c.uuid()?),
                provider_id: c.uuid()?,
                nonce: c.text()?,
                pkce_verifier_sealed: c.opt_bytes()?.unwrap_or_default(),
                expires_at: c.time()?,
            };
            Ok((login.expires_at > now).then_some(login))
        })
    }

    /// The user of a provider's subject: the linked one; else the organization's user of that
    /// email when the provider verified it (then linked); else a new user with the sign-in's
    /// role (then linked). Role changes are the caller's, through [`Store::update_user`].
    #[instrument(skip_all)]
    pub async fn oidc_sign_in(
        &self,
        s: &OidcSignIn,
    ) -> Result<Result<SignedIn, SignInRefused>, StoreError> {
        in_tx!(self, |db| async {
            lock_organization(db, s.org_id).await?;
            let d = db.dialect();
            let org = Value::Id(*s.org_id.as_uuid());
            let linked = user_where(
                db,
                &format!(
                    "u.org_id = {} AND u.id IN (SELECT user_id FROM oidc_identities \
                     WHERE org_id = {} AND provider_id = {} AND subject = {})",
                    d.ph(1),
                    d.ph(2),
                    d.ph(3),
                    d.ph(4)
                ),
                vec![
                    org.clone(),
                    org.clone(),
                    Value::Id(s.provider_id),
                    Value::Text(s.subject.clone()),
                ],
            )
            .await?;
            if let Some(user) = linked {
                if user.disabled_at.is_some() {
                    return Ok(Err(SignInRefused::Disabled));
                }
                return Ok(Ok(SignedIn {
                    user,
                    created: false,
                }));
            }
            let by_email = user_where(
                db,
                &format!("u.org_id = {} AND u.email = {}", d.ph(1), d.ph(2)),
                vec![org.clone(), Value::Text(s.email.clone())],
            )
            .await?;
            let now = Utc::now().trunc_subsecs(6);
            let (user, created) = match by_email {
                Some(_) if !s.email_verified => return Ok(Err(SignInRefused::EmailUnverified)),
                Some(user) if user.disabled_at.is_some() => {
                    return Ok(Err(SignInRefused::Disabled));
                }
                Some(user) => (user, false),
                None => {
                    let new = NewUser {
                        id: Uuid::now_v7(),
                        org_id: s.org_id,
                        email: s.email.clone(),
                        password_hash: NO_PASSWORD.into(),
                        role: s.role,
                    };
                    (insert_user(db, &new).await?, true)
                }
            };
            let sql = format!(
                "INSERT INTO oidc_identities (provider_id, subject, org_id, issuer, user_id, \
                 created_at) VALUES ({}, {}, {}, {}, {}, {})",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6)
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(s.provider_id),
                    Value::Text(s.subject.clone()),
                    org,
                    Value::Text(s.issuer.clone()),
                    Value::Id(user.id),
                    Value::Time(now),
                ],
            )
            .await?;
            Ok(Ok(SignedIn { user, created }))
        })
    }

    /// Stores a session signed in through a provider, with the provider's side of it.
    #[instrument(skip_all)]
    pub async fn create_oidc_session(
        &self,
        session: &NewSession,
        oidc: &OidcSessionRecord,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            insert_session(db, session).await?;
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO oidc_sessions (token_hash, org_id, provider_id, \
                 refresh_token_sealed, id_token_sealed, renew_at) VALUES ({}, {}, {}, {}, {}, {})",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6)
            );
            db.execute(
                &sql,
                vec![
                    Value::Bytes(session.token_hash.to_vec()),
                    Value::Id(*session.org_id.as_uuid()),
                    Value::Id(oidc.provider_id),
                    Value::OptBytes(oidc.refresh_token_sealed.clone()),
                    Value::Bytes(oidc.id_token_sealed.clone()),
                    Value::Time(oidc.renew_at),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// The provider's side of a session of the organization; `None` for a password session.
    #[instrument(skip_all)]
    pub async fn oidc_session(
        &self,
        org: OrgId,
        token_hash: &[u8; 32],
    ) -> Result<Option<OidcSessionRecord>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, refresh_token_sealed, id_token_sealed, renew_at FROM oidc_sessions \
                 WHERE org_id = {} AND token_hash = {}",
                d.text("provider_id"),
                d.ph(1),
                d.ph(2)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid()), Value::Bytes(token_hash.to_vec())],
                    &[Ty::Text, Ty::OptBytes, Ty::OptBytes, Ty::Time],
                )
                .await?;
            rows.into_iter()
                .next()
                .map(|row| {
                    let mut c = Cells::new(row);
                    Ok(OidcSessionRecord {
                        provider_id: c.uuid()?,
                        refresh_token_sealed: c.opt_bytes()?,
                        id_token_sealed: c.opt_bytes()?.unwrap_or_default(),
                        renew_at: c.time()?,
                    })
                })
                .transpose()
        })
    }

    /// Claims a due renewal: moves `renew_at` to `retry_at` if it is still at or before
    /// `now`; false when another request claimed it first.
    #[instrument(skip_all)]
    pub async fn claim_oidc_renewal(
        &self,
        org: OrgId,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE oidc_sessions SET renew_at = {} WHERE org_id = {} AND token_hash = {} \
                 AND renew_at <= {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4)
            );
            let claimed = db
                .execute(
                    &sql,
                    vec![
                        Value::Time(retry_at),
                        Value::Id(*org.as_uuid()),
                        Value::Bytes(token_hash.to_vec()),
                        Value::Time(now),
                    ],
                )
                .await?;
            Ok(claimed > 0)
        })
    }

    /// Stores renewed provider tokens and extends the session to `expires_at`.
    #[instrument(skip_all)]
    pub async fn renew_oidc_session(
        &self,
        org: OrgId,
        token_hash: &[u8; 32],
        renewed: &OidcSessionRecord,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE oidc_sessions SET refresh_token_sealed = {}, id_token_sealed = {}, \
                 renew_at = {} WHERE org_id = {} AND token_hash = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5)
            );
            db.execute(
                &sql,
                vec![
                    Value::OptBytes(renewed.refresh_token_sealed.clone()),
                    Value::Bytes(renewed.id_token_sealed.clone()),
                    Value::Time(renewed.renew_at),
                    Value::Id(*org.as_uuid()),
                    Value::Bytes(token_hash.to_vec()),
                ],
            )
            .await?;
            let sql = format!(
                "UPDATE sessions SET expires_at = {} WHERE org_id = {} AND token_hash = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3)
            );
            db.execute(
                &sql,
                vec![
                    Value::Time(expires_at),
                    Value::Id(*org.as_uuid()),
                    Value::Bytes(token_hash.to_vec()),
                ],
            )
            .await?;
            Ok(())
        })
    }
}
