//! Organizations: the default one, idempotent creation, persistence across reopen.

use kubeworkz_hub::store::DEFAULT_ORG;

use crate::harness::TestStore;

pub async fn a_new_database_has_the_default_organization(t: TestStore) {
    let org = t
        .store
        .organization_by_name(DEFAULT_ORG)
        .await
        .unwrap()
        .expect("default organization");
    assert_eq!(org.name, DEFAULT_ORG);
    assert!(
        t.store
            .organization_by_name("nope")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn ensuring_an_organization_is_idempotent(t: TestStore) {
    let first = t.store.ensure_organization("acme").await.unwrap();
    let second = t.store.ensure_organization("acme").await.unwrap();
    assert_eq!(
        first, second,
        "same id and creation time on the second call"
    );
    let found = t.store.organization_by_name("acme").await.unwrap();
    assert_eq!(found, Some(first));
}

pub async fn reopening_keeps_data_and_migrations_are_idempotent(t: TestStore) {
    let acme = t.store.ensure_organization("acme").await.unwrap();
    let default = t.store.organization_by_name(DEFAULT_ORG).await.unwrap();
    let again = t.reopen().await;
    assert_eq!(
        again.organization_by_name("acme").await.unwrap(),
        Some(acme)
    );
    assert_eq!(
        again.organization_by_name(DEFAULT_ORG).await.unwrap(),
        default
    );
    again.close().await;
}

pub async fn the_store_answers_pings(t: TestStore) {
    t.store.ping().await.unwrap();
    t.store.close().await;
    assert!(
        t.store.ping().await.is_err(),
        "a closed store must not answer"
    );
}
