//! The operator role, an organization's operation switches and workload actions'
//! idempotency keys, on both databases.

use chrono::{Duration, Utc};
use kubeworkz_hub::store::{self, Backend};
use kubeworkz_hub::store::{
    ACTION_KEY_TTL, ACTION_RUNNING_TTL, ActionClaim, ActionKey, DEFAULT_ORG, NewApiToken, NewUser,
    OperationSwitches, Role, Store, User, UserChange,
};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use crate::accounts::{blob, database_before, seed_accounts};
use crate::harness::TestStore;

/// A user of `role` with one token of the same role, whose hash is `[hash; 32]`.
async fn user_with_token(store: &Store, org: OrgId, email: &str, role: Role, hash: u8) -> User {
    let user = store
        .create_user(&NewUser {
            id: Uuid::now_v7(),
            org_id: org,
            email: email.into(),
            password_hash: "$argon2id$stand-in".into(),
            role,
        })
        .await
        .unwrap();
    store
        .create_api_token(&NewApiToken {
            id: Uuid::now_v7(),
            org_id: org,
            user_id: user.id,
            name: "t".into(),
            token_hash: [hash; 32],
            role,
            expires_at: None,
        })
        .await
        .unwrap();
    user
}

async fn token_role(store: &Store, hash: u8) -> Role {
    let found = store.api_token(&[hash; 32], Utc::now()).await.unwrap();
    found.expect("a usable token").role
}

pub async fn operators_are_stored_for_users_and_tokens(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let oscar = user_with_token(store, org, "oscar@x.io", Role::Operator, 7).await;
    assert_eq!(oscar.role, Role::Operator);
    assert_eq!(token_role(store, 7).await, Role::Operator);
    // Demoting an admin to operator lowers their admin token to operator, and no further
    // (another admin keeps the organization administered).
    user_with_token(store, org, "root@x.io", Role::Admin, 9).await;
    let ada = user_with_token(store, org, "ada@x.io", Role::Admin, 8).await;
    let demote = UserChange {
        role: Some(Role::Operator),
        ..UserChange::default()
    };
    let ada = store.update_user(org, ada.id, &demote).await.unwrap();
    assert_eq!(ada.map(|u| u.role), Some(Role::Operator));
    assert_eq!(token_role(store, 8).await, Role::Operator);
    assert_eq!(token_role(store, 9).await, Role::Admin);
    assert!(Role::Operator.includes(Role::Viewer));
    assert!(!Role::Operator.includes(Role::Admin));
    assert_eq!(Role::Admin.least(Role::Operator), Role::Operator);
}

pub async fn operation_switches_default_and_change_per_organization(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let defaults = OperationSwitches {
        viewers_read_logs: true,
        operators_exec: false,
    };
    assert_eq!(store.operation_switches(org).await.unwrap(), defaults);
    let flipped = OperationSwitches {
        viewers_read_logs: false,
        operators_exec: true,
    };
    store.set_operation_switches(org, flipped).await.unwrap();
    assert_eq!(store.operation_switches(org).await.unwrap(), flipped);
    assert_eq!(store.operation_switches(other).await.unwrap(), defaults);
    // Setting the same again keeps them; back to the defaults restores them.
    store.set_operation_switches(org, flipped).await.unwrap();
    assert_eq!(store.operation_switches(org).await.unwrap(), flipped);
    store.set_operation_switches(org, defaults).await.unwrap();
    assert_eq!(store.operation_switches(org).await.unwrap(), defaults);
}

pub async fn an_idempotency_key_answers_its_first_result_until_it_expires(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let key = ActionKey {
        org_id: org,
        user_id: Uuid::now_v7(),
        key: "retry-1".into(),
        request_hash: vec![1; 32],
    };
    let now = Utc::now();
    assert_eq!(
        store.claim_action(&key, now).await.unwrap(),
        ActionClaim::Claimed
    );
    assert_eq!(
        store.claim_action(&key, now).await.unwrap(),
        ActionClaim::Running,
        "a retry while the first still runs"
    );
    store
        .finish_action(&key, 200, r#"{"replicas":3}"#)
        .await
        .unwrap();
    let finished = ActionClaim::Finished {
        status: 200,
        body: r#"{"replicas":3}"#.into(),
    };
    assert_eq!(store.claim_action(&key, now).await.unwrap(), finished);
    let changed = ActionKey {
        request_hash: vec![2; 32],
        ..key.clone()
    };
    assert_eq!(
        store.claim_action(&changed, now).await.unwrap(),
        ActionClaim::OtherRequest
    );
    // The key is the user's and the organization's own.
    for owner in [
        ActionKey {
            user_id: Uuid::now_v7(),
            ..key.clone()
        },
        ActionKey {
            org_id: other,
            ..key.clone()
        },
    ] {
        assert_eq!(
            store.claim_action(&owner, now).await.unwrap(),
            ActionClaim::Claimed
        );
    }
    let later = now + ACTION_KEY_TTL + Duration::seconds(1);
    assert_eq!(
        store.claim_action(&changed, later).await.unwrap(),
        ActionClaim::Claimed,
        "an expired key is claimed again, whatever it held"
    );
}

pub async fn a_released_or_abandoned_claim_runs_again(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let key = ActionKey {
        org_id: org,
        user_id: Uuid::now_v7(),
        key: "k".into(),
        request_hash: vec![3; 32],
    };
    let now = Utc::now();
    assert_eq!(
        store.claim_action(&key, now).await.unwrap(),
        ActionClaim::Claimed
    );
    store.release_action(&key).await.unwrap();
    assert_eq!(
        store.claim_action(&key, now).await.unwrap(),
        ActionClaim::Claimed
    );
    let abandoned = now + ACTION_RUNNING_TTL + Duration::seconds(1);
    assert_eq!(
        store.claim_action(&key, abandoned).await.unwrap(),
        ActionClaim::Claimed,
        "a claim whose hub stopped mid-action blocks retries only for a while"
    );
    store.finish_action(&key, 404, "{}").await.unwrap();
    store.release_action(&key).await.unwrap();
    assert_eq!(
        store.claim_action(&key, abandoned).await.unwrap(),
        ActionClaim::Finished {
            status: 404,
            body: "{}".into()
        },
        "release never forgets a finished action"
    );
}

/// How many rows `table` holds, read behind the store's back.
async fn count(backend: Backend, url: &str, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
    match backend {
        Backend::Sqlite => {
            let url = format!("{url}?mode=rw");
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

pub async fn the_operator_migration_keeps_users_and_what_hangs_off_them(t: TestStore) {
    let backend = t.store.backend();
    let (org, ann, bob, provider) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let blob = |byte: &str| blob(backend, byte);
    let at = "'2024-01-01T00:00:00Z'";
    let mut seed = seed_accounts(backend, org, (ann, bob), ann);
    seed.extend([
        format!(
            "INSERT INTO oidc_providers (id, org_id, name, display_name, issuer, client_id, \
             client_secret_sealed, scopes, groups_claim, email_claim, created_at) VALUES \
             ('{provider}', '{org}', 'okta', 'Okta', 'https://idp.example', 'hub', {}, \
             'openid email', 'groups', 'email', {at})",
            blob("06")
        ),
        format!(
            "INSERT INTO oidc_identities (provider_id, subject, org_id, issuer, user_id, \
             created_at) VALUES ('{provider}', 'sub-1', '{org}', 'https://idp.example', \
             '{ann}', {at})"
        ),
        format!(
            "INSERT INTO oidc_sessions (token_hash, org_id, provider_id, id_token_sealed, \
             renew_at) VALUES ({}, '{org}', '{provider}', {}, '2999-01-01T00:00:00Z')",
            blob("01"),
            blob("07")
        ),
    ]);
    let (url, _database, _dir) = database_before(backend, "_operator_actions.sql", &seed).await;
    let store = store::connect(&url.parse().unwrap()).await.unwrap();
    let org = OrgId::from_uuid(org);
    let users = store.users(org).await.unwrap();
    let roles: Vec<_> = users.iter().map(|u| u.role).collect();
    assert_eq!(roles, [Role::Admin, Role::Viewer]);
    let session = store.session(&[1; 32], Utc::now()).await.unwrap();
    assert_eq!(session.map(|s| s.user.id), Some(ann));
    assert_eq!(token_role(&store, 5).await, Role::Admin);
    for table in ["oidc_identities", "oidc_sessions", "sessions", "api_tokens"] {
        assert_eq!(count(backend, &url, table).await, 1, "{table}");
    }
    // The new role is accepted, and the references still cascade.
    user_with_token(&store, org, "oscar@x.io", Role::Operator, 9).await;
    assert_eq!(token_role(&store, 9).await, Role::Operator);
    assert_eq!(
        store.operation_switches(org).await.unwrap(),
        OperationSwitches::default()
    );
    user_with_token(&store, org, "root@x.io", Role::Admin, 10).await;
    let removed = store.delete_user(org, ann).await.unwrap();
    assert!(removed);
    for table in ["oidc_identities", "oidc_sessions", "sessions"] {
        assert_eq!(
            count(backend, &url, table).await,
            0,
            "{table} follows its user"
        );
    }
    store.close().await;
}
