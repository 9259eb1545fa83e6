//! Accounts in the store: a token never does more than its user, every dependent write is
//! scoped by organization, an organization keeps an enabled admin (also under racing
//! demotions), emails are unique per organization, and the migration that made them so keeps
//! existing users, sessions and tokens.

use std::path::Path;

use chrono::{Duration, Utc};
use kubeworkz_hub::store::{
    self, DEFAULT_ORG, LAST_ADMIN, NewApiToken, NewSession, NewUser, Role, Store, StoreError, User,
    UserChange,
};
use kubeworkz_shared::ids::OrgId;
use kubeworkz_testkit::postgres::TestDatabase;
use uuid::Uuid;

use crate::harness::TestStore;

async fn user(store: &Store, org: OrgId, email: &str, role: Role) -> User {
    let new = NewUser {
        id: Uuid::now_v7(),
        org_id: org,
        email: email.into(),
        password_hash: "$argon2id$stand-in".into(),
        role,
    };
    store.create_user(&new).await.unwrap()
}

async fn token(store: &Store, user: &User, hash: [u8; 32], role: Role) -> Uuid {
    let new = NewApiToken {
        id: Uuid::now_v7(),
        org_id: user.org_id,
        user_id: user.id,
        name: "bot".into(),
        token_hash: hash,
        role,
        expires_at: None,
    };
    store.create_api_token(&new).await.unwrap().id
}

async fn session(store: &Store, user: &User, hash: [u8; 32]) {
    let new = NewSession {
        token_hash: hash,
        user_id: user.id,
        org_id: user.org_id,
        csrf_hash: [0; 32],
        expires_at: Utc::now() + Duration::hours(1),
    };
    store.create_session(&new).await.unwrap();
}

fn role(role: Role) -> UserChange {
    UserChange {
        role: Some(role),
        ..UserChange::default()
    }
}

fn disabled(disabled: bool) -> UserChange {
    UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    }
}

fn is_last_admin<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(&result, Err(StoreError::Conflict(m)) if m == LAST_ADMIN)
}

/// Applies a change that must succeed; the user after it.
async fn apply(store: &Store, org: OrgId, id: Uuid, change: &UserChange) -> User {
    let changed = store.update_user(org, id, change).await.unwrap();
    changed.expect("the user exists")
}

/// The effective role of the token with this hash, if it is usable.
async fn token_role(store: &Store, hash: [u8; 32]) -> Option<Role> {
    let found = store.api_token(&hash, Utc::now()).await.unwrap();
    found.map(|t| t.role)
}

pub async fn a_tokens_role_is_capped_by_its_users_and_follows_every_change(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let ann = user(store, org, "ann@x.io", Role::Admin).await;
    user(store, org, "zed@x.io", Role::Admin).await;
    token(store, &ann, [1; 32], Role::Admin).await;
    token(store, &ann, [2; 32], Role::Viewer).await;
    assert_eq!(token_role(store, [1; 32]).await, Some(Role::Admin));
    assert_eq!(token_role(store, [2; 32]).await, Some(Role::Viewer));

    // The lookup itself takes the lower role, whatever the token row says.
    let user_role =
        |role: &str| format!("UPDATE users SET role = '{role}' WHERE email = 'ann@x.io'");
    let to_viewer = user_role("viewer");
    t.execute_raw(&[&to_viewer], &[&to_viewer]).await;
    assert_eq!(token_role(store, [1; 32]).await, Some(Role::Viewer));
    let to_admin = user_role("admin");
    t.execute_raw(&[&to_admin], &[&to_admin]).await;
    assert_eq!(token_role(store, [1; 32]).await, Some(Role::Admin));

    // A demotion lowers the stored role too, so promoting back does not restore it.
    apply(store, org, ann.id, &role(Role::Viewer)).await;
    let stored: Vec<Role> = store
        .api_tokens(org)
        .await
        .unwrap()
        .iter()
        .map(|t| t.role)
        .collect();
    assert_eq!(stored, [Role::Viewer, Role::Viewer]);
    apply(store, org, ann.id, &role(Role::Admin)).await;
    assert_eq!(token_role(store, [1; 32]).await, Some(Role::Viewer));

    // Disabling ends the sessions and refuses the tokens until enabled again.
    session(store, &ann, [7; 32]).await;
    let off = apply(store, org, ann.id, &disabled(true)).await;
    assert!(off.disabled_at.is_some());
    assert_eq!(store.user(org, ann.id).await.unwrap().unwrap(), off);
    assert_eq!(token_role(store, [2; 32]).await, None);
    assert!(store.session(&[7; 32], Utc::now()).await.unwrap().is_none());
    session(store, &ann, [8; 32]).await;
    assert!(
        store.session(&[8; 32], Utc::now()).await.unwrap().is_none(),
        "a disabled user's session is refused"
    );
    let on = apply(store, org, ann.id, &disabled(false)).await;
    assert!(on.disabled_at.is_none());
    assert_eq!(token_role(store, [2; 32]).await, Some(Role::Viewer));

    // A new password revokes every token.
    let reset = UserChange {
        password_hash: Some("$argon2id$new".into()),
        ..UserChange::default()
    };
    apply(store, org, ann.id, &reset).await;
    assert_eq!(token_role(store, [1; 32]).await, None);
    assert_eq!(token_role(store, [2; 32]).await, None);
    assert!(
        store
            .api_tokens(org)
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_some())
    );

    // A token without a user acts for nobody.
    let id = Uuid::now_v7();
    let orphan = |blob: &str| {
        format!(
            "INSERT INTO api_tokens (id, org_id, user_id, name, token_hash, role, created_at) \
             VALUES ('{id}', '{}', NULL, 'orphan', {blob}, 'admin', '2024-01-01T00:00:00Z')",
            org.as_uuid()
        )
    };
    let hex = "03".repeat(32);
    t.execute_raw(
        &[&orphan(&format!("X'{hex}'"))],
        &[&orphan(&format!("'\\x{hex}'"))],
    )
    .await;
    assert_eq!(token_role(store, [3; 32]).await, None);

    // Deleting the user deletes the tokens.
    let hash = [4; 32];
    token(store, &ann, hash, Role::Admin).await;
    assert!(store.delete_user(org, ann.id).await.unwrap());
    assert_eq!(token_role(store, hash).await, None);
}

pub async fn user_writes_of_another_organization_change_nothing(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let ann = user(store, org, "ann@x.io", Role::Admin).await;
    user(store, other, "bob@x.io", Role::Admin).await;
    session(store, &ann, [1; 32]).await;
    let ann_token = token(store, &ann, [5; 32], Role::Admin).await;

    assert!(!store.delete_user(other, ann.id).await.unwrap());
    let everything = UserChange {
        role: Some(Role::Viewer),
        password_hash: Some("$argon2id$taken-over".into()),
        disabled: Some(true),
    };
    assert!(
        store
            .update_user(other, ann.id, &everything)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.revoke_api_token(other, ann_token).await.unwrap());

    let found = store.session(&[1; 32], Utc::now()).await.unwrap();
    assert_eq!(
        found.map(|s| s.user),
        Some(ann.clone()),
        "the session is untouched"
    );
    assert_eq!(token_role(store, [5; 32]).await, Some(Role::Admin));
    let mut candidates = store.login_candidates("ann@x.io", None, 8).await.unwrap();
    let ann_now = candidates.remove(0);
    assert_eq!(ann_now.user, ann);
    assert_eq!(ann_now.password_hash, "$argon2id$stand-in");
}

pub async fn an_organization_keeps_an_enabled_admin(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let ann = user(store, org, "ann@x.io", Role::Admin).await;
    user(store, other, "dan@x.io", Role::Admin).await;
    // Another organization's admin does not count.
    assert!(is_last_admin(
        store.update_user(org, ann.id, &role(Role::Viewer)).await
    ));
    assert!(is_last_admin(
        store.update_user(org, ann.id, &disabled(true)).await
    ));
    assert!(is_last_admin(store.delete_user(org, ann.id).await));
    assert_eq!(
        store.user(org, ann.id).await.unwrap().unwrap(),
        ann,
        "nothing changed"
    );

    // A disabled admin does not count either.
    let bob = user(store, org, "bob@x.io", Role::Admin).await;
    apply(store, org, bob.id, &disabled(true)).await;
    assert!(is_last_admin(
        store.update_user(org, ann.id, &role(Role::Viewer)).await
    ));
    // Viewers come and go freely; an unchanged or enabled admin is no loss.
    let carl = user(store, org, "carl@x.io", Role::Viewer).await;
    apply(store, org, carl.id, &disabled(true)).await;
    assert!(store.delete_user(org, carl.id).await.unwrap());
    apply(store, org, ann.id, &UserChange::default()).await;
    apply(store, org, ann.id, &role(Role::Admin)).await;

    apply(store, org, bob.id, &disabled(false)).await;
    apply(store, org, ann.id, &role(Role::Viewer)).await;
    assert!(is_last_admin(store.delete_user(org, bob.id).await));
    assert!(is_last_admin(
        store.update_user(org, bob.id, &disabled(true)).await
    ));
}

pub async fn racing_mutual_demotions_leave_an_admin(t: TestStore) {
    let store = t.store.clone();
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let ann = user(&store, org, "ann@x.io", Role::Admin).await;
    let bob = user(&store, org, "bob@x.io", Role::Admin).await;
    let demote = |id: Uuid| {
        let store = store.clone();
        tokio::spawn(async move { store.update_user(org, id, &role(Role::Viewer)).await })
    };
    for round in 0..20 {
        let (a, b) = tokio::join!(demote(ann.id), demote(bob.id));
        let (a, b) = (a.unwrap(), b.unwrap());
        let demoted = match (&a, &b) {
            (Ok(Some(_)), Err(_)) => ann.id,
            (Err(_), Ok(Some(_))) => bob.id,
            _ => panic!("round {round}: exactly one demotion may succeed: {a:?} / {b:?}"),
        };
        assert!(
            is_last_admin(if demoted == ann.id { b } else { a }),
            "round {round}"
        );
        let admins = store.users(org).await.unwrap();
        let admins = admins.iter().filter(|u| u.acts_as(Role::Admin)).count();
        assert_eq!(admins, 1, "round {round}");
        apply(&store, org, demoted, &role(Role::Admin)).await;
    }
}

pub async fn emails_are_unique_per_organization_and_login_finds_each(t: TestStore) {
    let store = &t.store;
    let acme = store.ensure_organization("acme").await.unwrap().id;
    let beta = store.ensure_organization("beta").await.unwrap().id;
    let in_acme = user(store, acme, "sam@x.io", Role::Admin).await;
    let in_beta = user(store, beta, "sam@x.io", Role::Viewer).await;
    let again = NewUser {
        id: Uuid::now_v7(),
        org_id: acme,
        email: "sam@x.io".into(),
        password_hash: "$argon2id$stand-in".into(),
        role: Role::Viewer,
    };
    match store.create_user(&again).await {
        Err(StoreError::Conflict(m)) => {
            assert_eq!(
                m,
                "a user with this email already exists in this organization"
            )
        }
        other => panic!("{other:?}"),
    }
    let names = |found: &[kubeworkz_hub::store::UserCredentials]| {
        found
            .iter()
            .map(|c| (c.user.id, c.organization.clone()))
            .collect::<Vec<_>>()
    };
    let all = store.login_candidates("sam@x.io", None, 8).await.unwrap();
    let (a, b) = (
        (in_acme.id, "acme".to_owned()),
        (in_beta.id, "beta".to_owned()),
    );
    assert_eq!(names(&all), [a.clone(), b.clone()], "oldest first");
    let named = store
        .login_candidates("sam@x.io", Some("beta"), 8)
        .await
        .unwrap();
    assert_eq!(names(&named), [b]);
    let oldest = store.login_candidates("sam@x.io", None, 1).await.unwrap();
    assert_eq!(names(&oldest), [a]);
    assert!(
        store
            .login_candidates("sam@x.io", Some("nope"), 8)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .login_candidates("nobody@x.io", None, 8)
            .await
            .unwrap()
            .is_empty()
    );
    let by_email = store.users_by_email("sam@x.io").await.unwrap();
    assert_eq!(by_email, [in_acme, in_beta]);
}

/// A database of this backend migrated up to, not including, the accounts migration, with
/// an organization, two users, a session and an API token; then the store opens it (running
/// the rest). Everything is still there and works, and the rebuilt SQLite tables kept their
/// foreign keys.
pub async fn the_accounts_migration_keeps_users_sessions_and_tokens(t: TestStore) {
    let backend = t.store.backend();
    let (org, ann, bob) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let seed = seed_accounts(backend, org, (ann, bob), bob);
    let (url, _database, _earlier) = database_before(backend, "_accounts.sql", &seed).await;
    let store = store::connect(&url.parse().unwrap()).await.unwrap();
    let org = OrgId::from_uuid(org);
    let users = store.users(org).await.unwrap();
    let emails: Vec<_> = users
        .iter()
        .map(|u| (u.email.as_str(), u.role, u.disabled_at))
        .collect();
    assert_eq!(
        emails,
        [
            ("ann@x.io", Role::Admin, None),
            ("bob@x.io", Role::Viewer, None)
        ]
    );
    let now = Utc::now();
    let session = store.session(&[1; 32], now).await.unwrap().unwrap();
    assert_eq!(session.user.id, bob);
    assert_eq!(token_role(&store, [5; 32]).await, Some(Role::Admin));
    // The new rules hold: the email is unique in its organization only.
    let other = store.ensure_organization("other").await.unwrap().id;
    user(&store, other, "ann@x.io", Role::Admin).await;
    let again = NewUser {
        id: Uuid::now_v7(),
        org_id: org,
        email: "ann@x.io".into(),
        password_hash: "$argon2id$x".into(),
        role: Role::Viewer,
    };
    assert!(matches!(
        store.create_user(&again).await,
        Err(StoreError::Conflict(_))
    ));
    // The foreign keys still cascade: removing bob behind the store's back ends his session.
    let delete_bob = format!("DELETE FROM users WHERE id = '{bob}'");
    let mut conn_url = url.clone();
    if backend == store::Backend::Sqlite {
        conn_url.push_str("?mode=rw");
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&conn_url)
            .await
            .unwrap();
        run_all(&mut conn, &[delete_bob]).await;
    } else {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&conn_url)
            .await
            .unwrap();
        run_all(&mut conn, &[delete_bob]).await;
    }
    assert!(store.session(&[1; 32], now).await.unwrap().is_none());
    store.close().await;
}

/// Raw SQL text of 32 bytes `byte` (two hex digits) in `backend`'s literal syntax.
pub fn blob(backend: store::Backend, byte: &str) -> String {
    match backend {
        store::Backend::Sqlite => format!("X'{}'", byte.repeat(32)),
        store::Backend::Postgres => format!("'\\x{}'", byte.repeat(32)),
    }
}

/// Statements that make organization `org` (`acme`) with `admin` (ann@x.io) and `viewer`
/// (bob@x.io), a session of `session_user` (hash `[1; 32]`) and an admin token of `admin`
/// (hash `[5; 32]`), as an older schema stores them.
pub fn seed_accounts(
    backend: store::Backend,
    org: Uuid,
    (admin, viewer): (Uuid, Uuid),
    session_user: Uuid,
) -> Vec<String> {
    let at = "'2024-01-01T00:00:00Z'";
    vec![
        format!("INSERT INTO organizations (id, name, created_at) VALUES ('{org}', 'acme', {at})"),
        format!(
            "INSERT INTO users (id, org_id, email, password_hash, role, created_at) VALUES \
             ('{admin}', '{org}', 'ann@x.io', '$argon2id$a', 'admin', {at}), \
             ('{viewer}', '{org}', 'bob@x.io', '$argon2id$b', 'viewer', {at})"
        ),
        format!(
            "INSERT INTO sessions (token_hash, user_id, org_id, csrf_hash, created_at, \
             expires_at) VALUES ({}, '{session_user}', '{org}', {}, {at}, \
             '2999-01-01T00:00:00Z')",
            blob(backend, "01"),
            blob(backend, "02")
        ),
        format!(
            "INSERT INTO api_tokens (id, org_id, user_id, name, token_hash, role, created_at) \
             VALUES ('{}', '{org}', '{admin}', 'ci', {}, 'admin', {at})",
            Uuid::now_v7(),
            blob(backend, "05")
        ),
    ]
}

/// A database of `backend` migrated up to (not including) the migration whose file name ends
/// with `suffix`, with `seed` run on it: how an upgraded installation looks before that
/// migration. The answer holds its URL and what keeps it alive.
pub async fn database_before(
    backend: store::Backend,
    suffix: &str,
    seed: &[String],
) -> (String, Option<TestDatabase>, tempfile::TempDir) {
    let folder = match backend {
        store::Backend::Sqlite => "sqlite",
        store::Backend::Postgres => "postgres",
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(folder);
    let earlier = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let before = files.iter().position(|f| f.ends_with(suffix)).unwrap();
    for file in &files[..before] {
        std::fs::copy(source.join(file), earlier.path().join(file)).unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(earlier.path()).await.unwrap();

    let mut kept = None;
    let url = match backend {
        store::Backend::Sqlite => {
            let path = earlier.path().join("old.db");
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            migrator.run(&mut conn).await.unwrap();
            run_all(&mut conn, seed).await;
            format!("sqlite://{}", path.display())
        }
        store::Backend::Postgres => {
            let database = TestDatabase::create().await.unwrap();
            let url = database.url().to_owned();
            kept = Some(database);
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            migrator.run(&mut conn).await.unwrap();
            run_all(&mut conn, seed).await;
            url
        }
    };

    (url, kept, earlier)
}

pub async fn run_all<C: sqlx::Connection>(conn: &mut C, statements: &[String])
where
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.as_str()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}
