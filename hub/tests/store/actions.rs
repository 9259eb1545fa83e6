//! The operator role, an organization's operation switches and workload actions'
//! idempotency keys, on both databases.

use chrono::{Duration, Utc};
use kubeworkz_hub::store::{
    ACTION_KEY_TTL, ACTION_RUNNING_TTL, ActionClaim, ActionKey, DEFAULT_ORG, NewApiToken, NewUser,
    OperationSwitches, Role, UserChange,
};
use uuid::Uuid;

use crate::harness::TestStore;

pub async fn operators_are_stored_for_users_and_tokens(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let user = store
        .create_user(&NewUser {
            id: Uuid::now_v7(),
            org_id: org,
            email: "oscar@x.io".into(),
            password_hash: "$argon2id$stand-in".into(),
            role: Role::Operator,
        })
        .await
        .unwrap();
    assert_eq!(user.role, Role::Operator);
    store
        .create_api_token(&NewApiToken {
            id: Uuid::now_v7(),
            org_id: org,
            user_id: user.id,
            name: "pager".into(),
            token_hash: [7; 32],
            role: Role::Operator,
            expires_at: None,
        })
        .await
        .unwrap();
    let found = store
        .api_token(&[7; 32], Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.role, Role::Operator);
    // Demoting an admin to operator lowers their admin token to operator, and no further.
    let ada = store
        .create_user(&NewUser {
            id: Uuid::now_v7(),
            org_id: org,
            email: "ada@x.io".into(),
            password_hash: "$argon2id$stand-in".into(),
            role: Role::Admin,
        })
        .await
        .unwrap();
    store
        .create_api_token(&NewApiToken {
            id: Uuid::now_v7(),
            org_id: org,
            user_id: ada.id,
            name: "deploy".into(),
            token_hash: [8; 32],
            role: Role::Admin,
            expires_at: None,
        })
        .await
        .unwrap();
    let demote = UserChange {
        role: Some(Role::Operator),
        ..UserChange::default()
    };
    // The default organization's first admin keeps it administered.
    let first_admin = store
        .create_user(&NewUser {
            id: Uuid::now_v7(),
            org_id: org,
            email: "root@x.io".into(),
            password_hash: "$argon2id$stand-in".into(),
            role: Role::Admin,
        })
        .await
        .unwrap();
    assert_eq!(first_admin.role, Role::Admin);
    let ada = store
        .update_user(org, ada.id, &demote)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ada.role, Role::Operator);
    let token = store
        .api_token(&[8; 32], Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.role, Role::Operator);
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
