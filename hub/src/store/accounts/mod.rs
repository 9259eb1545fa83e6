//! People who use the REST API: users and their login sessions. Written once against
//! [`Sql`]. API tokens are in `api_tokens.rs`, the audit log in `audit.rs`.
//!
//! Secrets are stored as hashes only: argon2id for passwords (computed by `crate::auth`),
//! SHA-256 for session, CSRF and API tokens (random 256-bit values, so a fast hash is enough).
//! Expiry is judged in Rust by the caller's clock, not by comparing timestamps in SQL, so
//! both backends agree whatever text format SQLite keeps times in.

use std::fmt;

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

mod api_tokens;
mod oidc;
mod oidc_sessions;
mod switches;
mod user_changes;

use tracing::instrument;

use crate::store::sql::{Cells, Sql, Ty, Value};
use crate::store::{Organization, Store, StoreError, in_tx, on_conn};
pub use api_tokens::{ApiTokenInfo, NewApiToken};
pub use oidc::{GroupRole, OidcProvider};
pub use oidc_sessions::{
    NO_PASSWORD, OidcLogin, OidcSessionRecord, OidcSignIn, SignInRefused, SignedIn,
};
pub use switches::OperationSwitches;
pub use user_changes::{LAST_ADMIN, UserChange};

/// What a user or token may do within its organization.
///
/// Privilege is compared by [`Role::rank`] only, never by declaration order or name: every
/// comparison (a token's effective role, demotion, the last-admin guard) follows the rank, so
/// `operator` sits between viewer and admin without special cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads only; reads pods' logs and objects' events unless the organization turned
    /// that off.
    Viewer,
    /// Reads (logs, events and live definitions too) and acts on workloads: scales and
    /// restarts deployments, deletes pods. Cannot manage clusters, tokens or users: what
    /// someone on call needs, and no more.
    Operator,
    /// Reads, registers, changes and deletes; manages tokens, users and reads the audit log.
    Admin,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Privilege: a higher rank may do everything a lower one may. Spaced so that a role
    /// can be put between two others without renumbering.
    pub fn rank(self) -> u8 {
        match self {
            Role::Viewer => 10,
            Role::Operator => 20,
            Role::Admin => 30,
        }
    }

    /// The less privileged of the two: what a token may do is the lower of its own role
    /// and its user's current one.
    pub fn least(self, other: Role) -> Role {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }

    /// True when this role has at least the privileges of `other`.
    pub fn includes(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}

/// A user as shown: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// The one organization the user belongs to.
    pub org_id: OrgId,
    /// Login name, stored lowercase; unique within the organization only, so the same
    /// address in two organizations is two users.
    pub email: String,
    /// Role within the organization.
    pub role: Role,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// Since when the user may not log in (their sessions ended then, and their tokens are
    /// refused while it is set); `None` for an enabled user.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl User {
    /// True while the user may act with `role` or more: enabled and at least that role.
    pub fn acts_as(&self, role: Role) -> bool {
        self.disabled_at.is_none() && self.role.includes(role)
    }
}

/// A user with the password hash, for login only; `Debug` leaves the hash out.
#[derive(Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// The name of the user's organization (a login naming several asks for one).
    pub organization: String,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
}

impl fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredentials")
            .field("user", &self.user)
            .field("organization", &self.organization)
            .finish_non_exhaustive()
    }
}

/// A user to create.
#[derive(Clone)]
pub struct NewUser {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// Login name, lowercase.
    pub email: String,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    /// Role.
    pub role: Role,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A login session to store (hashes of its token and CSRF token only).
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the session token.
    pub token_hash: [u8; 32],
    /// Whose.
    pub user_id: Uuid,
    /// The user's organization.
    pub org_id: OrgId,
    /// SHA-256 of the CSRF token.
    pub csrf_hash: [u8; 32],
    /// After this the session is refused.
    pub expires_at: DateTime<Utc>,
}

/// A stored session with its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The user it authenticates.
    pub user: User,
    /// SHA-256 of its CSRF token.
    pub csrf_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// For a session signed in through a provider: when its tokens are to be renewed.
    pub oidc_renew_at: Option<DateTime<Utc>>,
}

pub(crate) const USER_TYPES: [Ty; 6] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Time,
    Ty::OptTime,
];

pub(crate) fn user_columns(db: &dyn Sql, prefix: &str) -> String {
    let d = db.dialect();
    format!(
        "{}, {}, {prefix}email, {prefix}role, {prefix}created_at, {prefix}disabled_at",
        d.text(&format!("{prefix}id")),
        d.text(&format!("{prefix}org_id"))
    )
}

pub(crate) fn decode_error(what: &str) -> StoreError {
    StoreError::Query(crate::store::sql::decode_error(what))
}

pub(crate) fn role_from(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| decode_error("unknown role"))
}

pub(crate) fn user_from(c: &mut Cells) -> Result<User, StoreError> {
    Ok(User {
        id: c.uuid()?,
        org_id: OrgId::from_uuid(c.uuid()?),
        email: c.text()?,
        role: role_from(&c.text()?)?,
        created_at: c.time()?,
        disabled_at: c.opt_time()?,
    })
}

/// The organization's users by email; or one of them with `id`.
pub(crate) async fn users(
    db: &mut dyn Sql,
    org: OrgId,
    id: Option<Uuid>,
) -> Result<Vec<User>, StoreError> {
    let d = db.dialect();
    let mut args = vec![Value::Id(*org.as_uuid())];
    let mut sql = format!(
        "SELECT {} FROM users WHERE org_id = {}",
        user_columns(db, ""),
        d.ph(1)
    );
    if let Some(id) = id {
        sql.push_str(&format!(" AND id = {}", d.ph(2)));
        args.push(Value::Id(id));
    }
    sql.push_str(" ORDER BY email, id");
    db.fetch(&sql, args, &USER_TYPES)
        .await?
        .into_iter()
        .map(|row| user_from(&mut Cells::new(row)))
        .collect()
}

/// Inserts a user (in the caller's transaction): the one place a user row is made, for
/// password users and for those a provider signs in first. An email taken in the same
/// organization is [`StoreError::Conflict`].
pub(crate) async fn insert_user(db: &mut dyn Sql, new: &NewUser) -> Result<User, StoreError> {
    let d = db.dialect();
    // What the databases keep (microseconds), so the returned row equals a re-read one.
    let now = Utc::now().trunc_subsecs(6);
    let sql = format!(
        "INSERT INTO users (id, org_id, email, password_hash, role, created_at) \
         VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (org_id, email) DO NOTHING",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4),
        d.ph(5),
        d.ph(6)
    );
    let inserted = db
        .execute(
            &sql,
            vec![
                Value::Id(new.id),
                Value::Id(*new.org_id.as_uuid()),
                Value::Text(new.email.clone()),
                Value::Text(new.password_hash.clone()),
                Value::Text(new.role.as_str().to_owned()),
                Value::Time(now),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict(
            "a user with this email already exists in this organization".into(),
        ));
    }
    Ok(User {
        id: new.id,
        org_id: new.org_id,
        email: new.email.clone(),
        role: new.role,
        created_at: now,
        disabled_at: None,
    })
}

/// Inserts a login session (in the caller's transaction).
pub(crate) async fn insert_session(db: &mut dyn Sql, new: &NewSession) -> Result<(), StoreError> {
    let d = db.dialect();
    let sql = format!(
        "INSERT INTO sessions (token_hash, user_id, org_id, csrf_hash, created_at, expires_at) \
         VALUES ({}, {}, {}, {}, {}, {})",
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
            Value::Bytes(new.token_hash.to_vec()),
            Value::Id(new.user_id),
            Value::Id(*new.org_id.as_uuid()),
            Value::Bytes(new.csrf_hash.to_vec()),
            Value::Time(Utc::now()),
            Value::Time(new.expires_at),
        ],
    )
    .await?;
    Ok(())
}

fn organization_from(row: Vec<Value>) -> Result<Organization, StoreError> {
    let mut c = Cells::new(row);
    Ok(Organization {
        id: OrgId::from_uuid(c.uuid()?),
        name: c.text()?,
        created_at: c.time()?,
    })
}

impl Store {
    /// The organization's users, by email.
    #[instrument(skip_all)]
    pub async fn users(&self, org: OrgId) -> Result<Vec<User>, StoreError> {
        on_conn!(self, |db| users(db, org, None))
    }

    /// One user of the organization.
    #[instrument(skip_all)]
    pub async fn user(&self, org: OrgId, id: Uuid) -> Result<Option<User>, StoreError> {
        on_conn!(self, |db| async {
            Ok(users(db, org, Some(id)).await?.pop())
        })
    }

    /// Looks an organization up by its unique name.
    #[instrument(skip_all)]
    pub async fn organization_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Organization>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, name, created_at FROM organizations WHERE name = {}",
                d.text("id"),
                d.ph(1)
            );
            db.fetch(
                &sql,
                vec![Value::Text(name.to_owned())],
                &[Ty::Text, Ty::Text, Ty::Time],
            )
            .await?
            .into_iter()
            .next()
            .map(organization_from)
            .transpose()
        })
    }

    /// Creates an organization, or returns the existing one of that name.
    #[instrument(skip_all)]
    pub async fn ensure_organization(&self, name: &str) -> Result<Organization, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO organizations (id, name, created_at) VALUES ({}, {}, {}) \
         ON CONFLICT (name) DO UPDATE SET name = excluded.name \
         RETURNING {}, name, created_at",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.text("id")
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![
                        Value::Id(*OrgId::new().as_uuid()),
                        Value::Text(name.to_owned()),
                        Value::Time(Utc::now()),
                    ],
                    &[Ty::Text, Ty::Text, Ty::Time],
                )
                .await?;
            rows.into_iter()
                .next()
                .map(organization_from)
                .ok_or_else(|| decode_error("insert returned no organization"))?
        })
    }

    /// An organization by id.
    #[instrument(skip_all)]
    pub async fn organization(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, name, created_at FROM organizations WHERE id = {}",
                d.text("id"),
                d.ph(1)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*id.as_uuid())],
                    &[Ty::Text, Ty::Text, Ty::Time],
                )
                .await?;
            rows.into_iter()
                .next()
                .map(|row| {
                    let mut c = Cells::new(row);
                    Ok(Organization {
                        id: OrgId::from_uuid(c.uuid()?),
                        name: c.text()?,
                        created_at: c.time()?,
                    })
                })
                .transpose()
        })
    }

    /// Users in the database (zero on first start).
    #[instrument(skip_all)]
    pub async fn user_count(&self) -> Result<u64, StoreError> {
        on_conn!(self, |db| async {
            let rows = db
                .fetch("SELECT count(*) FROM users", vec![], &[Ty::I64])
                .await?;
            let mut c = Cells::new(rows.into_iter().next().unwrap_or_default());
            Ok(c.i64()?.max(0) as u64)
        })
    }

    /// Creates a user; an email taken in the same organization is [`StoreError::Conflict`].
    #[instrument(skip_all)]
    pub async fn create_user(&self, new: &NewUser) -> Result<User, StoreError> {
        in_tx!(self, |db| async { insert_user(db, new).await })
    }

    /// The users with this (lowercase) email and their password hashes, for login: in the
    /// organization of that name, or in any; at most the `limit` oldest.
    #[instrument(skip_all)]
    pub async fn login_candidates(
        &self,
        email: &str,
        organization: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserCredentials>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut args = vec![Value::Text(email.to_owned())];
            let mut sql = format!(
                "SELECT {}, o.name, u.password_hash FROM users u \
         JOIN organizations o ON o.id = u.org_id WHERE u.email = {}",
                user_columns(db, "u."),
                d.ph(1)
            );
            if let Some(name) = organization {
                sql.push_str(&format!(" AND o.name = {}", d.ph(2)));
                args.push(Value::Text(name.to_owned()));
            }
            sql.push_str(&format!(
                " ORDER BY u.created_at, u.id LIMIT {}",
                d.ph(args.len() + 1)
            ));
            args.push(Value::I64(i64::try_from(limit).unwrap_or(i64::MAX)));
            let mut types = USER_TYPES.to_vec();
            types.extend([Ty::Text, Ty::Text]);
            db.fetch(&sql, args, &types)
                .await?
                .into_iter()
                .map(|row| {
                    let mut c = Cells::new(row);
                    Ok(UserCredentials {
                        user: user_from(&mut c)?,
                        organization: c.text()?,
                        password_hash: c.text()?,
                    })
                })
                .collect()
        })
    }

    /// The users with this (lowercase) email in every organization.
    #[instrument(skip_all)]
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        on_conn!(self, |db| async {
            let sql = format!(
                "SELECT {} FROM users WHERE email = {} ORDER BY created_at, id",
                user_columns(db, ""),
                db.dialect().ph(1)
            );
            db.fetch(&sql, vec![Value::Text(email.to_owned())], &USER_TYPES)
                .await?
                .into_iter()
                .map(|row| user_from(&mut Cells::new(row)))
                .collect()
        })
    }

    /// Stores a login session.
    #[instrument(skip_all)]
    pub async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        in_tx!(self, |db| insert_session(db, new))
    }

    /// The unexpired session with this token hash.
    #[instrument(skip_all)]
    pub async fn session(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        on_conn!(self, |db| async {
            let sql = format!(
                "SELECT {}, s.csrf_hash, s.expires_at, o.renew_at FROM sessions s \
         JOIN users u ON u.id = s.user_id AND u.org_id = s.org_id \
         LEFT JOIN oidc_sessions o ON o.token_hash = s.token_hash AND o.org_id = s.org_id \
         WHERE s.token_hash = {} AND u.disabled_at IS NULL",
                user_columns(db, "u."),
                db.dialect().ph(1)
            );
            let mut types = USER_TYPES.to_vec();
            types.extend([Ty::OptBytes, Ty::Time, Ty::OptTime]);
            let rows = db
                .fetch(&sql, vec![Value::Bytes(token_hash.to_vec())], &types)
                .await?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            let mut c = Cells::new(row);
            let record = SessionRecord {
                user: user_from(&mut c)?,
                csrf_hash: c.opt_bytes()?.unwrap_or_default(),
                expires_at: c.time()?,
                oidc_renew_at: c.opt_time()?,
            };
            Ok((record.expires_at > now).then_some(record))
        })
    }

    /// Ends a session.
    #[instrument(skip_all)]
    pub async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let sql = format!(
                "DELETE FROM sessions WHERE token_hash = {}",
                db.dialect().ph(1)
            );
            Ok(db
                .execute(&sql, vec![Value::Bytes(token_hash.to_vec())])
                .await?
                > 0)
        })
    }
}
