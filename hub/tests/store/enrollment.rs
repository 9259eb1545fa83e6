//! Agent mode: enrollment tokens (atomic redemption), issued certificates, the hub CA, and
//! health ingest at a cursor.

use chrono::Utc;
use kubeworkz_hub::seal::{Keyring, MasterKey};
use kubeworkz_hub::store::{
    CertificateStanding, ClusterMode, Cursor, DEFAULT_ORG, Environment, IngestOutcome, NewCluster,
    NewEnrollmentToken, NewIssuedCertificate, SealedKubeconfig, SessionCertificate, Store,
    StoreError,
};
use kubeworkz_hub::transport::load_or_create_ca;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{HealthReport, HealthStatus};
use kubeworkz_shared::protocol::{CaPin, EnrollmentToken};

use crate::harness::TestStore;

/// Stores a fresh token for cluster `name`; returns it (with its secret) for redemption.
async fn token(
    store: &Store,
    org: OrgId,
    name: &str,
    ttl: chrono::Duration,
    reusable: bool,
) -> EnrollmentToken {
    let token = EnrollmentToken::generate(CaPin([7; 32]));
    store
        .create_enrollment_token(&NewEnrollmentToken {
            id: token.public_id().to_owned(),
            org_id: org,
            secret_hash: token.secret_hash(),
            cluster_name: name.into(),
            environment: Environment::Staging,
            tags: vec!["eu".into()],
            reusable,
            expires_at: Utc::now() + ttl,
            created_by: Some("test".into()),
        })
        .await
        .expect("create token");
    token
}

async fn redeem(
    store: &Store,
    token: &EnrollmentToken,
) -> Result<kubeworkz_hub::store::Redemption, StoreError> {
    store
        .redeem_enrollment_token(token.public_id(), &token.secret_hash(), Utc::now())
        .await
}

/// Records a certificate `serial` for `cluster`, valid for a week.
async fn certificate(store: &Store, cluster: ClusterId, serial: &str) {
    store
        .record_issued_certificate(&NewIssuedCertificate {
            cluster_id: cluster,
            serial: serial.into(),
            not_before: Utc::now() - chrono::Duration::minutes(1),
            not_after: Utc::now() + chrono::Duration::days(7),
        })
        .await
        .unwrap();
}

/// The standing of `serial` presented for `cluster`.
async fn standing(store: &Store, cluster: ClusterId, serial: &str) -> CertificateStanding {
    let session = SessionCertificate {
        cluster,
        serial: serial.into(),
    };
    let links = store.session_links(&[session]).await.unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    links[0].certificate
}

pub async fn a_single_use_token_enrolls_once(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let token = token(store, org, "edge-1", chrono::Duration::hours(1), false).await;

    let redeemed = redeem(store, &token).await.unwrap();
    assert!(redeemed.created);
    assert_eq!(redeemed.org_id, org);
    let cluster = store
        .cluster(org, redeemed.cluster_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cluster.name, "edge-1");
    assert_eq!(cluster.mode, ClusterMode::Agent);
    assert_eq!(cluster.environment, Environment::Staging);
    assert_eq!(cluster.tags, vec!["eu".to_owned()]);

    let again = redeem(store, &token).await.unwrap_err();
    assert!(
        matches!(again, StoreError::EnrollmentTokenUsed),
        "{again:?}"
    );
    let listed = store.enrollment_tokens(org).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].uses, 1);
    assert!(listed[0].used_at.is_some());

    // A wrong secret for a known id looks exactly like an unknown token.
    let forged = EnrollmentToken::generate(CaPin([7; 32]));
    let err = store
        .redeem_enrollment_token(token.public_id(), &forged.secret_hash(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EnrollmentTokenUnknown), "{err:?}");
    let err = redeem(store, &forged).await.unwrap_err();
    assert!(matches!(err, StoreError::EnrollmentTokenUnknown), "{err:?}");
}

pub async fn expired_and_revoked_tokens_are_refused(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let expired = token(store, org, "a", chrono::Duration::seconds(-1), false).await;
    let err = redeem(store, &expired).await.unwrap_err();
    assert!(matches!(err, StoreError::EnrollmentTokenExpired), "{err:?}");

    let revoked = token(store, org, "b", chrono::Duration::hours(1), true).await;
    assert!(
        store
            .revoke_enrollment_token(org, revoked.public_id())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_enrollment_token(org, revoked.public_id())
            .await
            .unwrap(),
        "revoking twice finds nothing to revoke"
    );
    let err = redeem(store, &revoked).await.unwrap_err();
    assert!(matches!(err, StoreError::EnrollmentTokenRevoked), "{err:?}");
    assert!(
        store.list_clusters(org).await.unwrap().is_empty(),
        "refusals create nothing"
    );

    // A token naming a pull-mode cluster cannot take it over, and is not spent.
    store
        .create_cluster(&NewCluster {
            id: ClusterId::new(),
            org_id: org,
            name: "pulled".into(),
            description: String::new(),
            environment: Environment::Production,
            tags: vec![],
            mode: ClusterMode::Kubeconfig,
            api_server_url: Some("https://example:6443".into()),
            provider: None,
            version: None,
            kubeconfig: Some(SealedKubeconfig {
                blob: vec![1, 2, 3],
                key_id: "k".into(),
            }),
            created_by: None,
        })
        .await
        .unwrap();
    let pulled = token(store, org, "pulled", chrono::Duration::hours(1), false).await;
    let err = redeem(store, &pulled).await.unwrap_err();
    assert!(matches!(err, StoreError::ClusterNotAgentMode(_)), "{err:?}");
    let listed = store.enrollment_tokens(org).await.unwrap();
    let pulled_row = listed.iter().find(|t| t.id == pulled.public_id()).unwrap();
    assert_eq!(pulled_row.uses, 0);
}

pub async fn a_reusable_token_enrolls_the_same_cluster_twice(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let token = token(store, org, "fleet", chrono::Duration::hours(1), true).await;
    let first = redeem(store, &token).await.unwrap();
    let second = redeem(store, &token).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.cluster_id, second.cluster_id);
    assert_eq!(store.enrollment_tokens(org).await.unwrap()[0].uses, 2);

    // A disabled cluster cannot be re-enrolled, and its certificates are revoked.
    store
        .record_issued_certificate(&NewIssuedCertificate {
            cluster_id: first.cluster_id,
            serial: "0a0b".into(),
            not_before: Utc::now(),
            not_after: Utc::now() + chrono::Duration::days(7),
        })
        .await
        .unwrap();
    assert!(
        store
            .set_cluster_enabled(org, first.cluster_id, false)
            .await
            .unwrap()
    );
    let err = redeem(store, &token).await.unwrap_err();
    assert!(matches!(err, StoreError::ClusterDisabled), "{err:?}");
    let state = store
        .agent_cluster(first.cluster_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!state.enabled);
}

pub async fn enrolling_a_cluster_again_revokes_its_earlier_certificates(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let reusable = token(store, org, "fleet", chrono::Duration::hours(1), true).await;
    let first = redeem(store, &reusable).await.unwrap();
    assert_eq!(first.revoked_certificates, 0);
    let cluster = first.cluster_id;
    certificate(store, cluster, "0a01").await;
    certificate(store, cluster, "0a02").await;
    // Another cluster's certificate is not touched by this cluster's re-enrollment.
    let other = redeem(
        store,
        &token(store, org, "other", chrono::Duration::hours(1), false).await,
    )
    .await
    .unwrap();
    certificate(store, other.cluster_id, "0b01").await;

    // A reusable token redeemed again: the earlier certificates die in the same transaction.
    let second = redeem(store, &reusable).await.unwrap();
    assert_eq!((second.cluster_id, second.created), (cluster, false));
    assert_eq!(second.revoked_certificates, 2);
    for serial in ["0a01", "0a02"] {
        assert_eq!(
            standing(store, cluster, serial).await,
            CertificateStanding::Revoked
        );
    }
    assert_eq!(
        standing(store, other.cluster_id, "0b01").await,
        CertificateStanding::Valid
    );
    // The certificate issued after the redemption is good.
    certificate(store, cluster, "0a03").await;
    assert_eq!(
        standing(store, cluster, "0a03").await,
        CertificateStanding::Valid
    );

    // A new single-use token naming the existing cluster (a reinstall) does the same.
    let reinstall = token(store, org, "fleet", chrono::Duration::hours(1), false).await;
    let third = redeem(store, &reinstall).await.unwrap();
    assert_eq!((third.cluster_id, third.revoked_certificates), (cluster, 1));
    assert_eq!(
        standing(store, cluster, "0a03").await,
        CertificateStanding::Revoked
    );

    // A refused redemption (the cluster is disabled) revokes nothing more and spends nothing.
    certificate(store, cluster, "0a04").await;
    assert!(
        store
            .set_cluster_enabled(org, cluster, false)
            .await
            .unwrap()
    );
    assert!(store.set_cluster_enabled(org, cluster, true).await.unwrap());
    assert_eq!(
        standing(store, cluster, "0a04").await,
        CertificateStanding::Revoked,
        "disable revoked it; enabling does not bring it back"
    );
    assert!(
        store
            .set_cluster_enabled(org, cluster, false)
            .await
            .unwrap()
    );
    let uses = store.enrollment_tokens(org).await.unwrap();
    let before = uses
        .iter()
        .find(|t| t.id == reusable.public_id())
        .unwrap()
        .uses;
    let err = redeem(store, &reusable).await.unwrap_err();
    assert!(matches!(err, StoreError::ClusterDisabled), "{err:?}");
    let uses = store.enrollment_tokens(org).await.unwrap();
    let after = uses
        .iter()
        .find(|t| t.id == reusable.public_id())
        .unwrap()
        .uses;
    assert_eq!(before, after);
    assert_eq!(
        standing(store, other.cluster_id, "0b01").await,
        CertificateStanding::Valid
    );
}

pub async fn tokens_are_listed_and_revoked_per_organization(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let mine = token(store, org, "mine", chrono::Duration::hours(1), false).await;
    let theirs = token(store, other, "theirs", chrono::Duration::hours(1), false).await;
    let listed = store.enrollment_tokens(org).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        vec![mine.public_id()]
    );
    assert!(
        !store
            .revoke_enrollment_token(org, theirs.public_id())
            .await
            .unwrap()
    );
    // Redeeming creates the cluster in the token's organization.
    let redeemed = redeem(store, &theirs).await.unwrap();
    assert_eq!(redeemed.org_id, other);
    assert!(
        store
            .cluster(org, redeemed.cluster_id)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn agent_state_and_health_follow_the_cursor(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let token = token(store, org, "c", chrono::Duration::hours(1), false).await;
    let cluster = redeem(store, &token).await.unwrap().cluster_id;
    let state = store.agent_cluster(cluster).await.unwrap().unwrap();
    assert_eq!(
        (state.org_id, state.enabled, state.cursor),
        (org, true, None)
    );
    assert!(
        store
            .agent_cluster(kubeworkz_shared::ids::ClusterId::new())
            .await
            .unwrap()
            .is_none()
    );

    let report = HealthReport {
        status: HealthStatus::Healthy,
        reasons: vec![],
    };
    let epoch = u64::MAX - 3; // epochs are random u64s: above i64::MAX too
    let at = |seq| Cursor { epoch, seq };
    assert_eq!(
        store
            .ingest_health(org, cluster, at(1), &report, Utc::now())
            .await
            .unwrap(),
        IngestOutcome::Applied
    );
    assert_eq!(
        store
            .ingest_health(org, cluster, at(1), &report, Utc::now())
            .await
            .unwrap(),
        IngestOutcome::Duplicate
    );
    assert_eq!(
        store
            .ingest_health(org, cluster, at(3), &report, Utc::now())
            .await
            .unwrap(),
        IngestOutcome::Gap { last: 1 }
    );
    let state = store.agent_cluster(cluster).await.unwrap().unwrap();
    assert_eq!(state.cursor, Some(at(1)));
    let stored = store.cluster(org, cluster).await.unwrap().unwrap();
    assert_eq!(stored.health.unwrap().status, HealthStatus::Healthy);
}

pub async fn the_hub_ca_is_created_once_and_persists(t: TestStore) {
    let (key, _) = MasterKey::generate();
    let keyring = Keyring::new(key, vec![]);
    let first = load_or_create_ca(&t.store, &keyring).await.unwrap();
    let again = load_or_create_ca(&t.store, &keyring).await.unwrap();
    assert_eq!(first.ca_pin(), again.ca_pin());
    let reopened = t.reopen().await;
    let third = load_or_create_ca(&reopened, &keyring).await.unwrap();
    assert_eq!(first.ca_pin(), third.ca_pin());
    assert_eq!(first.cert_der(), third.cert_der());
    // Another master key cannot open it.
    let (other, _) = MasterKey::generate();
    assert!(
        load_or_create_ca(&reopened, &Keyring::new(other, vec![]))
            .await
            .is_err()
    );
    reopened.close().await;
}

pub async fn racing_redemptions_of_a_single_use_token_have_one_winner(t: TestStore) {
    let store = &t.store;
    let second = t.reopen().await; // another hub replica on the same database
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let token = token(store, org, "raced", chrono::Duration::hours(1), false).await;
    let results = futures::future::join_all((0..8).map(|i| {
        let store = if i % 2 == 0 {
            t.store.clone()
        } else {
            second.clone()
        };
        let token = token.clone();
        async move { redeem(&store, &token).await }
    }))
    .await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    for result in results.iter().filter(|r| r.is_err()) {
        let err = result.as_ref().unwrap_err();
        assert!(matches!(err, StoreError::EnrollmentTokenUsed), "{err:?}");
    }
    assert_eq!(store.list_clusters(org).await.unwrap().len(), 1);

    // Two hubs starting at once on an empty database agree on one CA.
    let (key, _) = MasterKey::generate();
    let keyring = Keyring::new(key, vec![]);
    let (a, b) = tokio::join!(
        load_or_create_ca(store, &keyring),
        load_or_create_ca(&second, &keyring)
    );
    assert_eq!(a.unwrap().ca_pin(), b.unwrap().ca_pin());
    second.close().await;
}
