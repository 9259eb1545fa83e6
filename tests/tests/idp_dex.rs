//! The test identity provider itself: Dex starts on loopback from the generated
//! configuration, publishes its discovery document and keys, and a restart forgets its
//! signing key (and every grant with it).

use kubeworkz_testkit::idp::{Connector, Dex, DexSpec, StaticUser};

#[tokio::test]
async fn dex_serves_discovery_and_a_restart_forgets_its_keys() {
    let users = vec![StaticUser {
        email: "ann@example.com".into(),
        password: "ann-password".into(),
        user_id: "ann".into(),
    }];
    let spec = DexSpec::new("http://127.0.0.1:1/callback", Connector::Passwords(users));
    let mut dex = Dex::start(spec).await.unwrap();
    let discovery: serde_json::Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", dex.issuer()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["issuer"], dex.issuer());
    assert!(
        discovery["code_challenge_methods_supported"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m == "S256")),
        "{discovery}"
    );
    let before = dex.key_ids().await.unwrap();
    assert!(!before.is_empty());
    dex.restart().await.unwrap();
    let after = dex.key_ids().await.unwrap();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|k| !before.contains(k)),
        "{before:?} {after:?}"
    );
}
