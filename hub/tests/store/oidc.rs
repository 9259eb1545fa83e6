//! Single sign-on in the store: providers and their group mappings per organization, the
//! organization's "no local passwords" switch, logins taken once, identities provisioned and
//! linked, and the provider's side of a session (renewal claimed once, ended with the
//! session).

use chrono::{Duration, Utc};
use kubeworkz_hub::store::{
    GroupRole, NewSession, NewUser, OidcLogin, OidcProvider, OidcSessionRecord, OidcSignIn, Role,
    SignInRefused, Store, StoreError, UserChange,
};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use crate::harness::TestStore;

fn provider(org: OrgId, name: &str) -> OidcProvider {
    OidcProvider {
        id: Uuid::now_v7(),
        org_id: org,
        name: name.into(),
        display_name: format!("{name} SSO"),
        issuer: format!("https://{name}.example.com"),
        client_id: "kubeworkz".into(),
        client_secret_sealed: vec![1, 2, 3],
        scopes: vec!["email".into(), "groups".into()],
        groups_claim: "groups".into(),
        email_claim: "email".into(),
        default_role: Some(Role::Viewer),
        created_at: Utc::now(),
    }
}

fn sign_in(p: &OidcProvider, subject: &str, email: &str, role: Role) -> OidcSignIn {
    OidcSignIn {
        org_id: p.org_id,
        provider_id: p.id,
        issuer: p.issuer.clone(),
        subject: subject.into(),
        email: email.into(),
        email_verified: true,
        role,
    }
}

async fn org(store: &Store, name: &str) -> OrgId {
    store.ensure_organization(name).await.unwrap().id
}

pub async fn providers_and_mappings_are_kept_per_organization(t: TestStore) {
    let store = &t.store;
    let (a, b) = (org(store, "org-a").await, org(store, "org-b").await);
    let okta = provider(a, "okta");
    store.create_oidc_provider(&okta).await.unwrap();
    // Same name in another organization: a separate provider.
    store
        .create_oidc_provider(&provider(b, "okta"))
        .await
        .unwrap();
    let taken = store.create_oidc_provider(&provider(a, "okta")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

    let listed = store.oidc_providers(a).await.unwrap();
    assert_eq!(listed.len(), 1);
    let stored = &listed[0];
    assert_eq!(stored.id, okta.id);
    assert_eq!(stored.scopes, okta.scopes);
    assert_eq!(stored.client_secret_sealed, vec![1, 2, 3]);
    assert_eq!(stored.default_role, Some(Role::Viewer));
    assert_eq!(store.all_oidc_providers().await.unwrap().len(), 2);
    assert_eq!(
        store.oidc_provider(okta.id).await.unwrap().unwrap().org_id,
        a
    );

    let mut changed = stored.clone();
    changed.display_name = "Okta".into();
    changed.default_role = None;
    assert!(store.update_oidc_provider(&changed).await.unwrap());
    let mut foreign = changed.clone();
    foreign.org_id = b;
    foreign.name = "unused".into();
    assert!(
        !store.update_oidc_provider(&foreign).await.unwrap(),
        "another organization's id"
    );
    let reread = store.oidc_provider(okta.id).await.unwrap().unwrap();
    assert_eq!(
        (reread.display_name.as_str(), reread.default_role),
        ("Okta", None)
    );

    let mappings = [
        GroupRole {
            group: "platform".into(),
            role: Role::Admin,
        },
        GroupRole {
            group: "dev".into(),
            role: Role::Viewer,
        },
    ];
    assert!(
        store
            .set_oidc_group_roles(a, okta.id, &mappings)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_oidc_group_roles(b, okta.id, &mappings)
            .await
            .unwrap()
    );
    let read = store.oidc_group_roles(a, okta.id).await.unwrap();
    assert_eq!(
        read.iter().map(|m| m.group.as_str()).collect::<Vec<_>>(),
        ["dev", "platform"]
    );
    assert!(store.oidc_group_roles(b, okta.id).await.unwrap().is_empty());
    store
        .set_oidc_group_roles(a, okta.id, &mappings[..1])
        .await
        .unwrap();
    assert_eq!(store.oidc_group_roles(a, okta.id).await.unwrap().len(), 1);

    assert!(!store.password_login_disabled(a).await.unwrap());
    store.set_password_login_disabled(a, true).await.unwrap();
    assert!(store.password_login_disabled(a).await.unwrap());
    assert!(!store.password_login_disabled(b).await.unwrap());
    store.set_password_login_disabled(a, false).await.unwrap();
    assert!(!store.password_login_disabled(a).await.unwrap());

    assert!(!store.delete_oidc_provider(b, okta.id).await.unwrap());
    assert!(store.delete_oidc_provider(a, okta.id).await.unwrap());
    assert!(store.oidc_provider(okta.id).await.unwrap().is_none());
    assert!(store.oidc_group_roles(a, okta.id).await.unwrap().is_empty());
}

pub async fn a_login_is_taken_once_and_expires(t: TestStore) {
    let store = &t.store;
    let a = org(store, "org-a").await;
    let p = provider(a, "dex");
    store.create_oidc_provider(&p).await.unwrap();
    let login = |state: u8, expires_at| OidcLogin {
        state_hash: [state; 32],
        org_id: a,
        provider_id: p.id,
        nonce: format!("nonce-{state}"),
        pkce_verifier_sealed: vec![state; 8],
        expires_at,
    };
    let now = Utc::now();
    store
        .create_oidc_login(&login(1, now + Duration::minutes(10)))
        .await
        .unwrap();
    store
        .create_oidc_login(&login(2, now - Duration::seconds(1)))
        .await
        .unwrap();
    let taken = store.take_oidc_login(&[1; 32], now).await.unwrap().unwrap();
    assert_eq!(
        (taken.nonce.as_str(), taken.provider_id, taken.org_id),
        ("nonce-1", p.id, a)
    );
    assert_eq!(taken.pkce_verifier_sealed, vec![1; 8]);
    assert!(
        store
            .take_oidc_login(&[1; 32], now)
            .await
            .unwrap()
            .is_none(),
        "replayed"
    );
    assert!(
        store
            .take_oidc_login(&[2; 32], now)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        store
            .take_oidc_login(&[3; 32], now)
            .await
            .unwrap()
            .is_none(),
        "unknown"
    );
}

pub async fn sign_in_provisions_links_and_keeps_organizations_apart(t: TestStore) {
    let store = &t.store;
    let (a, b) = (org(store, "org-a").await, org(store, "org-b").await);
    let (pa, pb) = (provider(a, "dex"), provider(b, "dex"));
    store.create_oidc_provider(&pa).await.unwrap();
    store.create_oidc_provider(&pb).await.unwrap();

    let first = store
        .oidc_sign_in(&sign_in(&pa, "sub-1", "ann@x.io", Role::Admin))
        .await;
    let first = first.unwrap().unwrap();
    assert!(first.created);
    assert_eq!((first.user.role, first.user.org_id), (Role::Admin, a));
    // No password ever verifies for a provisioned user.
    let candidates = store.login_candidates("ann@x.io", None, 10).await.unwrap();
    assert!(!kubeworkz_hub::auth::verify_password(
        "",
        &candidates[0].password_hash
    ));

    // The same subject again is the same user, whatever role the sign-in carries.
    let again = store
        .oidc_sign_in(&sign_in(&pa, "sub-1", "ann@x.io", Role::Viewer))
        .await;
    let again = again.unwrap().unwrap();
    assert_eq!(
        (again.user.id, again.created, again.user.role),
        (first.user.id, false, Role::Admin)
    );

    // The same subject through org B's provider is another user, in org B.
    let other = store
        .oidc_sign_in(&sign_in(&pb, "sub-1", "ann@x.io", Role::Viewer))
        .await;
    let other = other.unwrap().unwrap();
    assert_ne!(other.user.id, first.user.id);
    assert_eq!(other.user.org_id, b);
    assert_eq!(store.users(a).await.unwrap().len(), 1);

    // An existing local user is linked only when the provider verified the email.
    let local = NewUser {
        id: Uuid::now_v7(),
        org_id: a,
        email: "bob@x.io".into(),
        password_hash: "$argon2id$stand-in".into(),
        role: Role::Viewer,
    };
    store.create_user(&local).await.unwrap();
    let mut unverified = sign_in(&pa, "sub-2", "bob@x.io", Role::Viewer);
    unverified.email_verified = false;
    let refused = store.oidc_sign_in(&unverified).await.unwrap();
    assert_eq!(refused.unwrap_err(), SignInRefused::EmailUnverified);
    let linked = store
        .oidc_sign_in(&sign_in(&pa, "sub-2", "bob@x.io", Role::Viewer))
        .await;
    let linked = linked.unwrap().unwrap();
    assert_eq!((linked.user.id, linked.created), (local.id, false));

    // A disabled user is refused.
    let off = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    store.update_user(a, local.id, &off).await.unwrap();
    let refused = store
        .oidc_sign_in(&sign_in(&pa, "sub-2", "bob@x.io", Role::Viewer))
        .await;
    assert_eq!(refused.unwrap().unwrap_err(), SignInRefused::Disabled);

    // Deleting the user forgets the identity: the next sign-in provisions anew.
    store
        .update_user(
            a,
            local.id,
            &UserChange {
                disabled: Some(false),
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
    assert!(store.delete_user(a, local.id).await.unwrap());
    let fresh = store
        .oidc_sign_in(&sign_in(&pa, "sub-2", "bob@x.io", Role::Viewer))
        .await;
    assert!(fresh.unwrap().unwrap().created);
}

pub async fn a_providers_session_renews_once_and_ends_with_the_session(t: TestStore) {
    let store = &t.store;
    let a = org(store, "org-a").await;
    let p = provider(a, "dex");
    store.create_oidc_provider(&p).await.unwrap();
    let user = store
        .oidc_sign_in(&sign_in(&p, "sub-1", "ann@x.io", Role::Admin))
        .await;
    let user = user.unwrap().unwrap().user;
    let now = Utc::now();
    let session = NewSession {
        token_hash: [5; 32],
        user_id: user.id,
        org_id: a,
        csrf_hash: [6; 32],
        expires_at: now + Duration::hours(1),
    };
    let oidc = OidcSessionRecord {
        provider_id: p.id,
        refresh_token_sealed: Some(vec![9; 4]),
        id_token_sealed: vec![8; 4],
        renew_at: now - Duration::seconds(1),
    };
    store.create_oidc_session(&session, &oidc).await.unwrap();
    let record = store.session(&[5; 32], now).await.unwrap().unwrap();
    assert!(record.oidc_renew_at.is_some_and(|at| at <= now));
    let read = store.oidc_session(a, &[5; 32]).await.unwrap().unwrap();
    assert_eq!(read.refresh_token_sealed, Some(vec![9; 4]));
    let other = org(store, "org-b").await;
    assert!(store.oidc_session(other, &[5; 32]).await.unwrap().is_none());

    // Of two requests that find it due, one claims the renewal.
    let retry = now + Duration::seconds(30);
    assert!(
        store
            .claim_oidc_renewal(a, &[5; 32], now, retry)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_oidc_renewal(a, &[5; 32], now, retry)
            .await
            .unwrap()
    );

    let renewed = OidcSessionRecord {
        refresh_token_sealed: Some(vec![7; 4]),
        id_token_sealed: vec![6; 4],
        renew_at: now + Duration::minutes(5),
        ..oidc
    };
    let extended = now + Duration::hours(12);
    store
        .renew_oidc_session(a, &[5; 32], &renewed, extended)
        .await
        .unwrap();
    let record = store.session(&[5; 32], now).await.unwrap().unwrap();
    assert!(record.expires_at > now + Duration::hours(11));
    let read = store.oidc_session(a, &[5; 32]).await.unwrap().unwrap();
    assert_eq!(read.refresh_token_sealed, Some(vec![7; 4]));

    // A password session has no provider side.
    let plain = NewSession {
        token_hash: [4; 32],
        ..session.clone()
    };
    store.create_session(&plain).await.unwrap();
    let record = store.session(&[4; 32], now).await.unwrap().unwrap();
    assert!(record.oidc_renew_at.is_none());

    assert!(store.delete_session(&[5; 32]).await.unwrap());
    assert!(store.oidc_session(a, &[5; 32]).await.unwrap().is_none());
}
