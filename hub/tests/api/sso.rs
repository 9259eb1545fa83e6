//! Single sign-on against a real identity provider: Dex (kubeworkz_testkit::idp) on
//! loopback, driven the way a browser drives it (redirects followed by hand, Dex's login form
//! posted, the authproxy connector's identity headers sent to Dex only). Nothing here makes a
//! token: every ID token is Dex's, and a refused one is refused because the hub's provider
//! entry or Dex's configuration makes Dex issue one the hub must not accept.

use std::time::Duration;

use kubeworkz_hub::store::Role;
use kubeworkz_testkit::idp::{Connector, Dex, DexSpec, StaticUser, TamperingProxy};
use reqwest::Method;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::client::{Caller, TestHub, seed};
use crate::support::sso_browser::{Browser, Identity, percent_decode};

/// Signs in through `provider` as `who`: the hub's session as a caller, or the login page's
/// error in words.
async fn sign_in(hub: &TestHub, provider: &str, who: &Identity) -> Result<Caller, String> {
    let signed = Browser::new(&hub.base).sign_in(provider, who).await?;
    let mut caller = hub.anonymous();
    caller.session = Some(signed.session);
    caller.csrf = Some(signed.csrf);
    Ok(caller)
}

fn callback(hub: &TestHub) -> String {
    format!("{}/api/v1/auth/oidc/callback", hub.base)
}

/// Adds Dex as a provider of the admin's organization; its id.
async fn add_provider(admin: &Caller, dex: &Dex, extra: Value) -> String {
    let mut body = json!({
        "name": "dex",
        "display_name": "Dex",
        "issuer": dex.issuer(),
        "client_id": dex.spec().client_id,
        "client_secret": dex.spec().client_secret,
        "scopes": ["email", "profile", "groups", "offline_access"],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    let r = admin.post("/api/v1/oidc-providers", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        !r.text.contains(&dex.spec().client_secret),
        "the secret is never shown"
    );
    r.json["id"].as_str().unwrap().to_owned()
}

async fn map_groups(admin: &Caller, provider: &str, mappings: Value) {
    let path = format!("/api/v1/oidc-providers/{provider}/group-roles");
    let r = admin.send(Method::PUT, &path, Some(mappings)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn proxy(user: &str, groups: &str) -> Identity {
    Identity::Proxy {
        user: user.into(),
        groups: groups.into(),
    }
}

async fn audit_actions(admin: &Caller) -> Vec<(String, String)> {
    let r = admin.get("/api/v1/audit?limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub async fn groups_give_roles_and_a_removed_group_drops_the_role(hub: TestHub) {
    let dex = Dex::start(DexSpec::new(callback(&hub), Connector::HeaderProxy))
        .await
        .unwrap();
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    let provider = add_provider(&admin, &dex, json!({})).await;
    map_groups(
        &admin,
        &provider,
        json!([{"group": "platform", "role": "admin"}, {"group": "dev", "role": "viewer"}]),
    )
    .await;
    let buttons = hub.anonymous().get("/api/v1/auth/oidc/providers").await;
    assert_eq!(
        buttons.json["items"][0]["display_name"], "Dex",
        "{}",
        buttons.text
    );

    // First login provisions the user with the role of their groups.
    let ann = sign_in(&hub, &provider, &proxy("ann@a.io", "dev, platform"))
        .await
        .unwrap();
    let me = ann.get("/api/v1/auth/me").await;
    assert_eq!(
        (me.json["role"].as_str(), me.json["org"].as_str()),
        (Some("admin"), Some("org-a"))
    );
    assert_eq!(me.json["actor"], "ann@a.io");
    let token = ann
        .post(
            "/api/v1/auth/tokens",
            json!({"name": "ci", "role": "admin"}),
        )
        .await;
    assert_eq!(token.status, 201, "{}", token.text);
    let bot = hub.bearer(token.json["token"].as_str().unwrap());
    assert_eq!(bot.get("/api/v1/users").await.status, 200);

    // Removed from "platform" at the provider: the next login drops the role at once, for the
    // open session and the API token too.
    let again = sign_in(&hub, &provider, &proxy("ann@a.io", "dev"))
        .await
        .unwrap();
    assert_eq!(again.get("/api/v1/auth/me").await.json["role"], "viewer");
    assert_eq!(ann.get("/api/v1/auth/me").await.json["role"], "viewer");
    assert_eq!(ann.get("/api/v1/users").await.status, 403);
    assert_eq!(bot.get("/api/v1/users").await.status, 403);

    // In no mapped group and no default role: refused, in words.
    let refused = sign_in(&hub, &provider, &proxy("ann@a.io", "sales"))
        .await
        .err()
        .expect("the sign-in is refused");
    assert!(refused.contains("none of your groups"), "{refused}");

    let actions = audit_actions(&admin).await;
    let has = |action: &str, result: &str| {
        actions
            .iter()
            .any(|(a, r)| a == action && r.starts_with(result))
    };
    assert!(
        has("user.provision", "success: provisioned as admin"),
        "{actions:?}"
    );
    assert!(has("auth.login", "success: oidc dex"), "{actions:?}");
    assert!(
        has("user.role_from_groups", "success: admin to viewer"),
        "{actions:?}"
    );
    assert!(has("auth.oidc.login", "failure: no_role"), "{actions:?}");

    // Cross-organization: the default organization's cluster is not there for org A's user.
    let other = seed(&hub, hub.default_org, "beta").await;
    let clusters = again.get("/api/v1/k8s/clusters").await;
    assert_eq!(clusters.json["items"], json!([]), "{}", clusters.text);
    let path = format!("/api/v1/k8s/clusters/{}", other.cluster);
    assert_eq!(again.get(&path).await.status, 404);
    let users = admin.get("/api/v1/users").await;
    let emails: Vec<&str> = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ann@a.io", "owner@a.io"]);
    // Org A's provider entry is not another organization's to read or change.
    let default_admin = hub.admin().await;
    let listed = default_admin.get("/api/v1/oidc-providers").await;
    assert_eq!(listed.json["items"], json!([]));
    let path = format!("/api/v1/oidc-providers/{provider}");
    assert_eq!(default_admin.delete(&path).await.status, 404);
}

pub async fn tokens_for_another_audience_or_already_expired_are_refused(hub: TestHub) {
    let mut spec = DexSpec::new(callback(&hub), Connector::HeaderProxy);
    spec.audience_peer = Some("other-app".into());
    let dex = Dex::start(spec).await.unwrap();
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    // The hub's entry asks Dex to address the ID token to another client as well.
    let scopes = json!({
        "scopes": ["email", "groups", "audience:server:client_id:other-app"],
        "default_role": "viewer",
    });
    let provider = add_provider(&admin, &dex, scopes).await;
    let refused = sign_in(&hub, &provider, &proxy("ann@a.io", "dev"))
        .await
        .err()
        .expect("the sign-in is refused");
    assert!(refused.contains("ID token is invalid"), "{refused}");
    assert!(refused.to_lowercase().contains("audience"), "{refused}");

    // Dex told to issue tokens that expired an hour ago: its token response says so
    // (`expires_in` < 0) and is refused before the ID token is looked at.
    let mut spec = DexSpec::new(callback(&hub), Connector::HeaderProxy);
    spec.id_token_ttl_secs = -3600;
    let expired_dex = Dex::start(spec).await.unwrap();
    let body = json!({
        "name": "expired",
        "display_name": "Expired",
        "issuer": expired_dex.issuer(),
        "client_id": expired_dex.spec().client_id,
        "client_secret": expired_dex.spec().client_secret,
        "default_role": "viewer",
    });
    let r = admin.post("/api/v1/oidc-providers", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let expired = r.json["id"].as_str().unwrap().to_owned();
    let refused = sign_in(&hub, &expired, &proxy("ann@a.io", "dev"))
        .await
        .err()
        .expect("the sign-in is refused");
    assert!(refused.contains("token response is invalid"), "{refused}");

    // A replayed callback finds its login taken.
    let mut browser = Browser::new(&hub.base);
    let r = browser
        .send(
            Method::GET,
            &format!(
                "{}/api/v1/auth/oidc/callback?code=x&state=never-issued",
                hub.base
            ),
            None,
            &proxy("ann@a.io", "dev"),
        )
        .await;
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        percent_decode(&location).contains("expired or was already used"),
        "{location}"
    );
    let failures = audit_actions(&admin).await;
    let failed = |result: &str| {
        failures
            .iter()
            .any(|(a, r)| a == "auth.oidc.login" && r == result)
    };
    assert!(failed("failure: invalid_id_token"), "{failures:?}");
    assert!(failed("failure: bad_token_response"), "{failures:?}");
    assert_eq!(hub.anonymous().get("/api/v1/users").await.status, 401);
}

/// What a refused sign-in must leave behind: the login page's words say the ID token was
/// refused for `why` (not an internal error), the browser holds no session and the audit log
/// has the failure.
async fn assert_refused(admin: &Caller, browser: &Browser, refused: &str, why: &str) {
    assert!(refused.contains("ID token is invalid"), "{refused}");
    assert!(refused.to_lowercase().contains(why), "{refused}");
    assert!(!refused.contains("internal"), "{refused}");
    assert_eq!(browser.hub_cookie("kubeworkz_session"), None);
    let actions = audit_actions(admin).await;
    assert!(
        actions
            .iter()
            .any(|(a, r)| a == "auth.oidc.login" && r == "failure: invalid_id_token"),
        "{actions:?}"
    );
}

pub async fn sso_refuses_an_id_token_for_another_nonce(hub: TestHub) {
    let dex = Dex::start(DexSpec::new(callback(&hub), Connector::HeaderProxy))
        .await
        .unwrap();
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    let provider = add_provider(&admin, &dex, json!({"default_role": "viewer"})).await;
    let ann = proxy("ann@a.io", "dev");
    // The browser changes the nonce of the hub's redirect and keeps everything else: Dex
    // signs an ID token carrying the changed nonce for the hub's own state and code.
    let mut browser = Browser::new(&hub.base);
    let login = format!("{}/api/v1/auth/oidc/{provider}/login", hub.base);
    let r = browser.send(Method::GET, &login, None, &ann).await;
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let (authorize, query) = location.split_once('?').unwrap();
    let mut nonces = 0;
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("nonce", _)) => {
                nonces += 1;
                "nonce=chosen-by-the-browser".to_owned()
            }
            _ => pair.to_owned(),
        })
        .collect();
    assert_eq!(nonces, 1, "{location}");
    let changed = format!("{authorize}?{}", query.join("&"));
    let refused = browser
        .sign_in_from(changed, &ann)
        .await
        .expect_err("an ID token for another nonce is refused");
    assert_refused(&admin, &browser, &refused, "nonce").await;
    // The same browser, leaving the redirect alone, signs in.
    let signed = browser.sign_in(&provider, &ann).await;
    assert!(signed.is_ok(), "{:?}", signed.err());
}

pub async fn sso_refuses_an_id_token_with_a_broken_signature(hub: TestHub) {
    // Dex announces the proxy as its issuer, so the hub reaches it only through the proxy.
    let tampering = TamperingProxy::start().await.unwrap();
    let mut spec = DexSpec::new(callback(&hub), Connector::HeaderProxy);
    spec.public_issuer = Some(format!("{}/dex", tampering.url()));
    let dex = Dex::start(spec).await.unwrap();
    tampering.forward_to(dex.origin()).unwrap();
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    let provider = add_provider(&admin, &dex, json!({"default_role": "viewer"})).await;
    let ann = proxy("ann@a.io", "dev");

    tampering.set_tampering(true);
    let mut browser = Browser::new(&hub.base);
    let refused = browser
        .sign_in(&provider, &ann)
        .await
        .expect_err("an ID token with a broken signature is refused");
    assert_eq!(
        tampering.tampered(),
        1,
        "the token exchange went through the proxy"
    );
    assert_refused(&admin, &browser, &refused, "signature").await;

    // The same proxy, passing the token intact: the refusal was the signature's.
    tampering.set_tampering(false);
    let signed = browser.sign_in(&provider, &ann).await;
    assert!(signed.is_ok(), "{:?}", signed.err());
    assert_eq!(tampering.tampered(), 1);
}

pub async fn refresh_keeps_a_session_alive_and_a_revoked_grant_signs_out(hub: TestHub) {
    let users = vec![StaticUser {
        email: "ann@a.io".into(),
        password: "ann-dex-password".into(),
        user_id: "ann".into(),
    }];
    let mut spec = DexSpec::new(callback(&hub), Connector::Passwords(users));
    spec.id_token_ttl_secs = 4;
    let mut dex = Dex::start(spec).await.unwrap();
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    let provider = add_provider(&admin, &dex, json!({"default_role": "viewer"})).await;
    let ann = sign_in(
        &hub,
        &provider,
        &Identity::Password {
            email: "ann@a.io",
            password: "ann-dex-password",
        },
    )
    .await
    .unwrap();
    // Three ID token lifetimes while active: each request past the renewal point renews.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let me = ann.get("/api/v1/auth/me").await;
        assert_eq!(me.status, 200, "{}", me.text);
        let r = ann.post("/api/v1/auth/refresh", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // Dex restarted with in-memory storage forgets every grant: the refresh token is refused
    // and the session ends with words for it.
    dex.restart().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = ann.get("/api/v1/auth/me").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error_code(), "signed_out_by_idp");
    assert_eq!(
        r.json["error"]["message"],
        "signed out by your identity provider"
    );
    let r = ann.get("/api/v1/auth/me").await;
    assert_eq!(r.error_code(), "unauthorized", "the session is gone");
    let actions = audit_actions(&admin).await;
    assert!(
        actions
            .iter()
            .any(|(a, r)| a == "auth.oidc.signed_out" && r == "success: refresh_refused"),
        "{actions:?}"
    );
    // Signing in again works with Dex's new signing key: the hub fetched its keys anew.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let back = sign_in(
        &hub,
        &provider,
        &Identity::Password {
            email: "ann@a.io",
            password: "ann-dex-password",
        },
    )
    .await
    .unwrap();
    assert_eq!(back.get("/api/v1/auth/me").await.status, 200);
}

pub async fn password_login_can_be_disabled_and_settings_are_checked(hub: TestHub) {
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    let bad = [
        (
            json!({"name": "Bad Name", "display_name": "x", "issuer": "https://x", "client_id": "c", "client_secret": "s"}),
            "name may hold",
        ),
        (
            json!({"name": "x", "display_name": "x", "issuer": "ftp://x", "client_id": "c", "client_secret": "s"}),
            "issuer must be",
        ),
        (
            json!({"name": "x", "display_name": "x", "issuer": "https://x", "client_id": "c"}),
            "client_secret is required",
        ),
        (
            json!({"name": "x", "display_name": "x", "issuer": "https://x", "client_id": "c", "client_secret": "s", "default_role": "boss"}),
            "unknown role",
        ),
    ];
    for (body, words) in bad {
        let r = admin.post("/api/v1/oidc-providers", body).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(
            r.json["error"]["message"].as_str().unwrap().contains(words),
            "{}",
            r.text
        );
    }
    let viewer = hub.user("org-a", "viewer@a.io", Role::Viewer).await;
    let r = viewer
        .send(
            Method::PUT,
            "/api/v1/organization/password-login",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = admin
        .send(
            Method::PUT,
            "/api/v1/organization/password-login",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = hub
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "viewer@a.io", "password": crate::client::PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("identity provider only"), "{}", r.text);
    // Another organization's users still sign in with passwords.
    hub.admin().await;
}

pub async fn a_signing_key_rotated_by_dex_mid_run_is_fetched_not_refused(hub: TestHub) {
    let mut spec = DexSpec::new(callback(&hub), Connector::HeaderProxy);
    // Dex rotates when its 30-second check finds the key older than this.
    spec.signing_key_rotation = Duration::from_secs(1);
    let dex = Dex::start(spec).await.unwrap();
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    let provider = add_provider(&admin, &dex, json!({"default_role": "viewer"})).await;
    let first = sign_in(&hub, &provider, &proxy("ann@a.io", "dev")).await;
    assert!(first.is_ok(), "{first:?}", first = first.err());
    let before = dex.key_ids().await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let now = dex.key_ids().await.unwrap();
        if now.iter().any(|k| !before.contains(k)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "dex did not rotate its key: {before:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Signed with the new key, which the hub's kept key set lacks.
    let again = sign_in(&hub, &provider, &proxy("ann@a.io", "dev"))
        .await
        .expect("a good token signed with the rotated key is accepted");
    assert_eq!(again.get("/api/v1/auth/me").await.status, 200);
}

pub async fn sso_commands_configure_providers_like_the_api(hub: TestHub) {
    let db = hub.db.url.expose().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    let key_file = key_file.to_str().unwrap();
    let run_with = |line: &str, stdin: &str| {
        let mut args: Vec<&str> = line.split_whitespace().collect();
        args.extend(["--org", "org-a", "--master-key-file", key_file]);
        let (ok, out, err) = crate::support::hub::cli_with_stdin(&db, &args, stdin);
        (ok, out + &err)
    };
    let admin = hub.user("org-a", "owner@a.io", Role::Admin).await;
    let secret = "cli-client-secret-value";
    let add = "sso add --name okta --display-name Okta --issuer https://acme.okta.com \
               --client-id kubeworkz --scope email --scope groups --default-role viewer";
    let (ok, text) = run_with(add, &format!("{secret}\n"));
    assert!(ok, "{text}");
    assert!(!text.contains(secret), "{text}");
    let (ok, text) = run_with(add, &format!("{secret}\n"));
    assert!(!ok && text.contains("already exists"), "{text}");
    let (ok, text) = run_with(
        "sso add --name Bad --display-name x --issuer https://x --client-id c",
        "s\n",
    );
    assert!(!ok && text.contains("name may hold"), "{text}");
    let (ok, text) = run_with(
        "sso add --name x --display-name x --issuer https://x --client-id c",
        "",
    );
    assert!(!ok && text.contains("no client secret"), "{text}");
    let (ok, text) = run_with(
        "sso map --name okta --group platform=admin --group dev=viewer",
        "",
    );
    assert!(ok, "{text}");
    let (ok, text) = run_with("sso map --name okta --group platform", "");
    assert!(!ok && text.contains("not GROUP=ROLE"), "{text}");
    let (ok, text) = run_with("sso list", "");
    assert!(
        ok && text.contains("okta") && text.contains("https://acme.okta.com"),
        "{text}"
    );
    assert!(
        text.contains("dev=viewer,platform=admin") && !text.contains(secret),
        "{text}"
    );
    let (ok, text, err) = crate::support::hub::cli_with_stdin(
        &db,
        &["sso", "list", "--output", "json", "--org", "org-a"],
        "",
    );
    assert!(ok, "{text}{err}");
    let listed: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON array");
    assert_eq!(listed[0]["name"], "okta", "{listed}");
    assert_eq!(
        listed[0]["groups"],
        json!(["dev=viewer", "platform=admin"]),
        "{listed}"
    );
    assert!(!text.contains(secret), "{text}");

    // The API sees what the CLI did.
    let listed = admin.get("/api/v1/oidc-providers").await;
    let okta = &listed.json["items"][0];
    assert_eq!(okta["name"], "okta", "{}", listed.text);
    assert_eq!(okta["scopes"], json!(["email", "groups"]));
    assert_eq!(okta["group_roles"].as_array().unwrap().len(), 2);
    assert!(!listed.text.contains(secret));

    let (ok, text) = run_with("sso password-login --disabled true", "");
    assert!(ok, "{text}");
    let r = hub
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@a.io", "password": crate::client::PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let (ok, text) = run_with("sso password-login --disabled false", "");
    assert!(ok, "{text}");
    // Rotating the master key re-seals the client secret under the new key.
    let org = hub
        .db
        .store
        .organization_by_name("org-a")
        .await
        .unwrap()
        .unwrap()
        .id;
    let sealed = |p: Vec<kubeworkz_hub::store::OidcProvider>| {
        kubeworkz_hub::seal::Keyring::key_id_of(&p[0].client_secret_sealed)
            .unwrap()
            .to_string()
    };
    let before = sealed(hub.db.store.oidc_providers(org).await.unwrap());
    let (ok, text) = run_with("keys rotate", "");
    assert!(
        ok && text.contains("1 identity provider secret(s) re-sealed"),
        "{text}"
    );
    let after = sealed(hub.db.store.oidc_providers(org).await.unwrap());
    assert_ne!(before, after);
    assert!(text.contains(&after), "{text}");

    let (ok, text) = run_with("sso remove --name okta", "");
    assert!(ok, "{text}");
    let (ok, text) = run_with("sso remove --name okta", "");
    assert!(!ok && text.contains("no provider"), "{text}");
    assert_eq!(
        admin.get("/api/v1/oidc-providers").await.json["items"],
        json!([])
    );
}
