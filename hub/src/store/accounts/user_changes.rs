//! Changes to what a user may do: role, password, disabling, removal. Written once against
//! [`Sql`]; each call runs in one transaction of the caller.
//!
//! Every write names the organization as well as the user (the dependent sessions and API
//! tokens included), and the user is looked up in the organization first: an id of another
//! organization changes nothing and is simply not found.
//!
//! Two rules hold after every change:
//! - A user's API tokens never do more than the user: a demotion lowers their stored role in
//!   the same transaction, a new password revokes them and ends the user's sessions, disabling
//!   ends the sessions (the token lookup refuses a disabled user's tokens), removal deletes
//!   both.
//! - An organization keeps at least one enabled admin: a demotion, disabling or removal that
//!   would leave none is a [`StoreError::Conflict`]. Concurrent changes are serialized on the
//!   organization: PostgreSQL locks its row (`SELECT … FOR UPDATE`) before the user is read,
//!   and SQLite runs one write transaction at a time (`BEGIN IMMEDIATE`, across processes
//!   too). So two admins demoting each other at once cannot both succeed: the second one
//!   counts the admins after the first has committed.

use std::fmt;

use chrono::{SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use tracing::instrument;

use super::{Role, USER_TYPES, User, user_columns, user_from};
use crate::store::sql::{Cells, Dialect, Sql, Ty, Value, revoke_rows};
use crate::store::{Store, StoreError, in_tx};

/// Why a change was refused that would leave an organization without an enabled admin.
pub const LAST_ADMIN: &str =
    "the organization must keep at least one enabled admin: make another user admin first";

/// What to change about a user; `None` keeps a field as it is.
#[derive(Clone, Default)]
pub struct UserChange {
    /// A new role. Lowering it lowers the user's API tokens to it as well.
    pub role: Option<Role>,
    /// A new password's PHC string: ends the user's sessions and revokes their API tokens.
    pub password_hash: Option<String>,
    /// Disable (ends the sessions; the tokens are refused while disabled) or enable again.
    pub disabled: Option<bool>,
}

impl fmt::Debug for UserChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserChange")
            .field("role", &self.role)
            .field("password", &self.password_hash.as_ref().map(|_| "<new>"))
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// Waits for the other account changes of the organization to commit (see the module docs).
pub(super) async fn lock_organization(db: &mut dyn Sql, org: OrgId) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Postgres {
        db.fetch(
            "SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE",
            vec![Value::Id(*org.as_uuid())],
            &[Ty::I64],
        )
        .await?;
    }
    Ok(())
}

/// The user `id` of the organization.
async fn user_in(db: &mut dyn Sql, org: OrgId, id: Uuid) -> Result<Option<User>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {} FROM users WHERE org_id = {} AND id = {}",
        user_columns(db, ""),
        d.ph(1),
        d.ph(2)
    );
    db.fetch(
        &sql,
        vec![Value::Id(*org.as_uuid()), Value::Id(id)],
        &USER_TYPES,
    )
    .await?
    .into_iter()
    .next()
    .map(|row| user_from(&mut Cells::new(row)))
    .transpose()
}

/// `column IN (…)` over the roles `keep` selects, as placeholders from `first` with their
/// values; `None` when no role is selected (the condition could match nothing).
fn roles_where(
    d: Dialect,
    column: &str,
    first: usize,
    keep: impl Fn(Role) -> bool,
) -> Option<(String, Vec<Value>)> {
    let roles: Vec<Role> = Role::ALL.into_iter().filter(|r| keep(*r)).collect();
    if roles.is_empty() {
        return None;
    }
    let placeholders: Vec<String> = (0..roles.len()).map(|i| d.ph(first + i)).collect();
    let values = roles
        .into_iter()
        .map(|r| Value::Text(r.as_str().to_owned()))
        .collect();
    Some((format!("{column} IN ({})", placeholders.join(", ")), values))
}

/// Refuses a change of `before` into `after` (`None`: removal) that would leave its
/// organization with no enabled admin. Runs after [`lock_organization`].
async fn keep_an_admin(
    db: &mut dyn Sql,
    before: &User,
    after: Option<&User>,
) -> Result<(), StoreError> {
    let loses_an_admin =
        before.acts_as(Role::Admin) && !after.is_some_and(|u| u.acts_as(Role::Admin));
    if !loses_an_admin {
        return Ok(());
    }
    let d = db.dialect();
    let (is_admin, roles) = roles_where(d, "role", 3, |r| r.includes(Role::Admin))
        .expect("the admin role includes itself");
    let sql = format!(
        "SELECT count(*) FROM users WHERE org_id = {} AND id <> {} AND disabled_at IS NULL \
         AND {is_admin}",
        d.ph(1),
        d.ph(2)
    );
    let mut args = vec![Value::Id(*before.org_id.as_uuid()), Value::Id(before.id)];
    args.extend(roles);
    let rows = db.fetch(&sql, args, &[Ty::I64]).await?;
    let others = Cells::new(rows.into_iter().next().unwrap_or_default()).i64()?;
    if others > 0 {
        Ok(())
    } else {
        Err(StoreError::Conflict(LAST_ADMIN.into()))
    }
}

/// Deletes the organization's rows of `table` whose `column` is `id` (a user's sessions or
/// tokens, or the user).
async fn delete_rows(
    db: &mut dyn Sql,
    table: &'static str,
    column: &'static str,
    org: OrgId,
    id: Uuid,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let sql = format!(
        "DELETE FROM {table} WHERE org_id = {} AND {column} = {}",
        d.ph(1),
        d.ph(2)
    );
    db.execute(&sql, vec![Value::Id(*org.as_uuid()), Value::Id(id)])
        .await?;
    Ok(())
}

/// Lowers the user's API tokens that rank above the user's role to that role.
async fn cap_tokens(db: &mut dyn Sql, user: &User) -> Result<(), StoreError> {
    let d = db.dialect();
    let Some((above, roles)) = roles_where(d, "role", 4, |r| r.rank() > user.role.rank()) else {
        return Ok(());
    };
    let sql = format!(
        "UPDATE api_tokens SET role = {} WHERE org_id = {} AND user_id = {} AND {above}",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let mut args = vec![
        Value::Text(user.role.as_str().to_owned()),
        Value::Id(*user.org_id.as_uuid()),
        Value::Id(user.id),
    ];
    args.extend(roles);
    db.execute(&sql, args).await?;
    Ok(())
}

impl Store {
    /// Changes a user of the organization (role, password, disabled) with what follows from
    /// it for their sessions and tokens; `None` when there is no such user. A change that
    /// would leave the organization without an enabled admin is [`StoreError::Conflict`].
    #[instrument(skip_all)]
    pub async fn update_user(
        &self,
        org: OrgId,
        id: Uuid,
        change: &UserChange,
    ) -> Result<Option<User>, StoreError> {
        in_tx!(self, |db| async {
            lock_organization(db, org).await?;
            let Some(before) = user_in(db, org, id).await? else {
                return Ok(None);
            };
            let mut after = before.clone();
            if let Some(role) = change.role {
                after.role = role;
            }
            match change.disabled {
                // What the databases keep (microseconds), so the returned row equals a re-read one.
                Some(true) if before.disabled_at.is_none() => {
                    after.disabled_at = Some(Utc::now().trunc_subsecs(6));
                }
                Some(false) => after.disabled_at = None,
                _ => {}
            }
            keep_an_admin(db, &before, Some(&after)).await?;
            let d = db.dialect();
            let sql = format!(
                "UPDATE users SET role = {}, disabled_at = {} WHERE org_id = {} AND id = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4)
            );
            let key = [Value::Id(*org.as_uuid()), Value::Id(id)];
            let mut args = vec![
                Value::Text(after.role.as_str().to_owned()),
                Value::OptTime(after.disabled_at),
            ];
            args.extend(key.clone());
            db.execute(&sql, args).await?;
            cap_tokens(db, &after).await?;
            if let Some(hash) = &change.password_hash {
                let sql = format!(
                    "UPDATE users SET password_hash = {} WHERE org_id = {} AND id = {}",
                    d.ph(1),
                    d.ph(2),
                    d.ph(3)
                );
                let mut args = vec![Value::Text(hash.clone())];
                args.extend(key);
                db.execute(&sql, args).await?;
                revoke_rows(db, "api_tokens", "user_id", *org.as_uuid(), Value::Id(id)).await?;
            }
            if change.password_hash.is_some() || after.disabled_at.is_some() {
                delete_rows(db, "sessions", "user_id", org, id).await?;
            }
            Ok(Some(after))
        })
    }

    /// Deletes a user of the organization with their sessions and tokens; false when there is
    /// no such user. Deleting the last enabled admin is [`StoreError::Conflict`].
    #[instrument(skip_all)]
    pub async fn delete_user(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            lock_organization(db, org).await?;
            let Some(user) = user_in(db, org, id).await? else {
                return Ok(false);
            };
            keep_an_admin(db, &user, None).await?;
            delete_rows(db, "sessions", "user_id", org, id).await?;
            delete_rows(db, "api_tokens", "user_id", org, id).await?;
            delete_rows(db, "users", "id", org, id).await?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_conditions_follow_the_ranks() {
        let (sql, values) =
            roles_where(Dialect::Postgres, "role", 3, |r| r.includes(Role::Admin)).unwrap();
        assert_eq!(sql, "role IN ($3)");
        assert_eq!(values, vec![Value::Text("admin".into())]);
        let (sql, values) = roles_where(Dialect::Sqlite, "role", 1, |_| true).unwrap();
        assert_eq!(sql, "role IN (?1, ?2, ?3)");
        assert_eq!(values.len(), 3);
        let (sql, values) =
            roles_where(Dialect::Postgres, "role", 2, |r| r.includes(Role::Operator)).unwrap();
        assert_eq!(sql, "role IN ($2, $3)");
        assert_eq!(
            values,
            vec![Value::Text("operator".into()), Value::Text("admin".into())]
        );
        assert!(
            roles_where(Dialect::Sqlite, "role", 1, |r| r.rank()
                > Role::Admin.rank())
            .is_none()
        );
    }

    #[test]
    fn a_change_never_shows_the_password_hash() {
        let change = UserChange {
            password_hash: Some("$argon2id$secret".into()),
            ..UserChange::default()
        };
        assert!(!format!("{change:?}").contains("argon2"));
    }
}
