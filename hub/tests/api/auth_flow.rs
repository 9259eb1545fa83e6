//! Login, logout, sessions, CSRF, API tokens, the error shape (login limits: `limits.rs`).

use std::time::Duration;

use serde_json::json;

use crate::client::{ADMIN_EMAIL, ADMIN_PASSWORD, Caller, PASSWORD, Resp, TestHub};

pub async fn login_sets_cookies_and_logout_ends_the_session(hub: TestHub) {
    let anonymous = hub.anonymous();
    let r = anonymous
        .post(
            "/api/v1/auth/login",
            json!({"email": "Admin@Example.com", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let session = r.set_cookie("kubeworkz_session").unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "plain HTTP: no Secure flag");
    let csrf = r.set_cookie("csrf_token").unwrap();
    assert!(
        !csrf.contains("HttpOnly"),
        "scripts must read the CSRF cookie"
    );
    assert_eq!(r.json["actor"], ADMIN_EMAIL);
    assert_eq!(r.json["role"], "admin");
    assert_eq!(r.json["org"], "default");

    // Anyone may send X-Forwarded-Proto: only a trusted proxy's makes cookies Secure
    // (`limits::forwarded_for_separates_clients_only_behind_a_trusted_proxy`).
    let r = login_claiming_tls(&hub).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !r.set_cookie("kubeworkz_session")
            .unwrap()
            .contains("Secure")
    );

    let admin = hub.admin().await;
    let me = admin.get("/api/v1/auth/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["auth"], "session");
    let r = admin.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(
        r.set_cookie("kubeworkz_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(admin.get("/api/v1/auth/me").await.status, 401);
    assert_eq!(anonymous.get("/api/v1/auth/me").await.status, 401);
}

async fn login_claiming_tls(hub: &TestHub) -> Resp {
    let response = hub
        .anonymous()
        .request(reqwest::Method::POST, "/api/v1/auth/login")
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    Caller::read(response).await
}

pub async fn cookie_mutations_need_the_csrf_header(hub: TestHub) {
    let admin = hub.admin().await;
    let body = json!({"cluster_name": "edge"});
    let r = admin
        .without_csrf_header()
        .post("/api/v1/k8s/enrollment-tokens", body.clone())
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.error_code(), "forbidden");
    // A header that differs from the cookie is refused too.
    let mut forged = admin.clone();
    forged.csrf = Some("kwc_0000".into());
    assert_eq!(
        forged
            .post("/api/v1/k8s/enrollment-tokens", body.clone())
            .await
            .status,
        403
    );
    // Reads need no CSRF header.
    assert_eq!(
        admin
            .without_csrf_header()
            .get("/api/v1/k8s/clusters")
            .await
            .status,
        200
    );
    let r = admin.post("/api/v1/k8s/enrollment-tokens", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Nothing was created by the refused attempts.
    let list = admin.get("/api/v1/k8s/enrollment-tokens").await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
}

pub async fn api_tokens_authenticate_until_revoked_or_expired(hub: TestHub) {
    let admin = hub.admin().await;
    let r = admin
        .post(
            "/api/v1/auth/tokens",
            json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json["token"].as_str().unwrap().to_owned();
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("kwa_"));
    let bot = hub.bearer(&token);
    let me = bot.get("/api/v1/auth/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["auth"], "token");
    assert_eq!(me.json["role"], "viewer");
    assert_eq!(bot.get("/api/v1/k8s/clusters").await.status, 200);
    // A bearer token needs no CSRF header, but a viewer token still cannot mutate.
    let r = bot
        .post(
            "/api/v1/k8s/enrollment-tokens",
            json!({"cluster_name": "x"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let list = admin.get("/api/v1/auth/tokens").await;
    assert_eq!(list.status, 200);
    assert!(
        !list.text.contains(&token),
        "a listed token shows its secret"
    );
    assert_eq!(list.json["items"][0]["name"], "ci");
    assert_eq!(
        admin
            .delete(&format!("/api/v1/auth/tokens/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(bot.get("/api/v1/k8s/clusters").await.status, 401);
    assert_eq!(
        admin
            .delete(&format!("/api/v1/auth/tokens/{id}"))
            .await
            .status,
        404
    );

    let r = admin
        .post(
            "/api/v1/auth/tokens",
            json!({"name": "short", "ttl": "1s", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let short = hub.bearer(r.json["token"].as_str().unwrap());
    assert_eq!(short.get("/api/v1/k8s/workers/status").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(short.get("/api/v1/k8s/workers/status").await.status, 401);
    assert_eq!(
        hub.bearer("kwa_forged").get("/api/v1/auth/me").await.status,
        401
    );
    let r = admin
        .post("/api/v1/auth/tokens", json!({"name": "x", "role": "root"}))
        .await;
    assert_eq!(r.status, 422);
}

pub async fn errors_have_one_shape_and_a_request_id(hub: TestHub) {
    let anonymous = hub.anonymous();
    let r = anonymous.get("/api/v1/k8s/clusters").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "unauthorized");
    let r = anonymous.get("/api/v1/nothing/here").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    // A sane incoming request id is kept; a bad one is replaced.
    let response = anonymous
        .request(reqwest::Method::GET, "/api/v1/k8s/clusters")
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    let r = Caller::read(response).await;
    assert_eq!(r.json["error"]["request_id"], "trace-123");
    let response = anonymous
        .request(reqwest::Method::GET, "/api/v1/k8s/clusters")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let r = Caller::read(response).await;
    assert_ne!(r.json["error"]["request_id"], "bad id with spaces");
    let admin = hub.admin().await;
    let response = admin
        .request(reqwest::Method::POST, "/api/v1/auth/login")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let r = Caller::read(response).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), "bad_request");
    let r = admin.get("/api/v1/k8s/clusters?limit=0").await;
    assert_eq!(r.status, 400);
    // Over the general body limit.
    let r = admin
        .post(
            "/api/v1/users",
            json!({"email": "x".repeat(70_000), "password": "p"}),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.error_code(), "payload_too_large");
}

/// Creates `email` through the API as `role` and returns (its id, a session of it, an admin
/// or viewer API token it created when `token_role` is given, as a bearer caller).
async fn api_user(
    hub: &TestHub,
    admin: &Caller,
    email: &str,
    role: &str,
    token_role: Option<&str>,
) -> (String, Caller, Option<Caller>) {
    let r = admin
        .post(
            "/api/v1/users",
            json!({"email": email, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let session = hub.login(email, PASSWORD).await;
    let bot = match token_role {
        Some(token_role) => {
            let r = session
                .post(
                    "/api/v1/auth/tokens",
                    json!({"name": "bot", "role": token_role}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            Some(hub.bearer(r.json["token"].as_str().unwrap()))
        }
        None => None,
    };
    (id, session, bot)
}

pub async fn a_demoted_admins_token_is_downgraded_and_a_reset_revokes_it(hub: TestHub) {
    let admin = hub.admin().await;
    let (ann, _, bot) = api_user(&hub, &admin, "ann@example.com", "admin", Some("admin")).await;
    let bot = bot.unwrap();
    // Used once, so this hub's token cache holds it as an admin token.
    let me = bot.get("/api/v1/auth/me").await;
    assert_eq!(me.json["role"], "admin", "{}", me.text);

    let path = format!("/api/v1/users/{ann}");
    let r = admin.patch(&path, json!({"role": "viewer"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let me = bot.get("/api/v1/auth/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(
        me.json["role"], "viewer",
        "demotion reaches the token at once"
    );
    let create = json!({"email": "mallory@example.com", "password": PASSWORD, "role": "admin"});
    let r = bot.post("/api/v1/users", create.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // The token was downgraded for good: promoting its user back does not restore it.
    assert_eq!(
        admin.patch(&path, json!({"role": "admin"})).await.status,
        200
    );
    assert_eq!(bot.get("/api/v1/auth/me").await.json["role"], "viewer");
    let tokens = admin.get("/api/v1/auth/tokens").await;
    assert_eq!(tokens.json["items"][0]["role"], "viewer", "{}", tokens.text);

    let r = admin
        .patch(&path, json!({"password": "a-brand-new-password"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(bot.get("/api/v1/auth/me").await.status, 401);
    assert_eq!(bot.post("/api/v1/users", create).await.status, 401);
    let tokens = admin.get("/api/v1/auth/tokens").await;
    assert!(
        tokens.json["items"][0]["revoked_at"].is_string(),
        "a password reset revokes the user's tokens: {}",
        tokens.text
    );
    let users = admin.get("/api/v1/users").await;
    assert!(!users.text.contains("mallory"), "{}", users.text);
}

pub async fn tokens_and_sessions_of_disabled_or_deleted_users_are_refused(hub: TestHub) {
    let admin = hub.admin().await;
    let (carl, carl_session, carl_bot) =
        api_user(&hub, &admin, "carl@example.com", "admin", Some("viewer")).await;
    let (dora, dora_session, dora_bot) =
        api_user(&hub, &admin, "dora@example.com", "admin", Some("admin")).await;
    let (carl_bot, dora_bot) = (carl_bot.unwrap(), dora_bot.unwrap());
    for caller in [&carl_session, &carl_bot, &dora_session, &dora_bot] {
        assert_eq!(caller.get("/api/v1/auth/me").await.status, 200);
    }

    let carl_path = format!("/api/v1/users/{carl}");
    let r = admin.patch(&carl_path, json!({"disabled": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["disabled"], true, "{}", r.text);
    assert_eq!(carl_bot.get("/api/v1/auth/me").await.status, 401);
    assert_eq!(carl_session.get("/api/v1/auth/me").await.status, 401);
    let r = hub
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "carl@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error_code(), "bad_credentials", "like a wrong password");
    let users = admin.get("/api/v1/users").await;
    let listed = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "carl@example.com")
        .unwrap();
    assert_eq!(listed["disabled"], true, "{}", users.text);
    // Enabled again, the user logs in; the token works again (disabling suspends it).
    let r = admin.patch(&carl_path, json!({"disabled": false})).await;
    assert_eq!(r.json["disabled"], false, "{}", r.text);
    assert_eq!(carl_bot.get("/api/v1/auth/me").await.status, 200);
    hub.login("carl@example.com", PASSWORD).await;

    let r = admin.delete(&format!("/api/v1/users/{dora}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(dora_bot.get("/api/v1/auth/me").await.status, 401);
    assert_eq!(dora_session.get("/api/v1/auth/me").await.status, 401);
    for bad in [
        json!({"disabled": "yes"}),
        json!({"disabled": null, "x": 1}),
    ] {
        let r = admin.patch(&carl_path, bad.clone()).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
    }
}

pub async fn emails_are_unique_per_organization_and_login_asks_which(hub: TestHub) {
    let admin = hub.admin().await;
    let bravo = hub
        .user(
            "bravo",
            "admin@b.example",
            kubeworkz_hub::store::Role::Admin,
        )
        .await;
    let bravo_password = "bravo-password-1234";
    let r = admin
        .post(
            "/api/v1/users",
            json!({"email": "shared@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = bravo
        .post(
            "/api/v1/users",
            json!({"email": "Shared@Example.com", "password": bravo_password}),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "another organization's email is no conflict: {}",
        r.text
    );
    let bravo_shared = r.json["id"].as_str().unwrap().to_owned();
    let r = bravo
        .post(
            "/api/v1/users",
            json!({"email": "shared@example.com", "password": bravo_password}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.json["error"]["message"],
        "a user with this email already exists in this organization"
    );

    let login = |password: &str, organization: Option<&str>| {
        let mut body = json!({"email": "shared@example.com", "password": password});
        if let Some(org) = organization {
            body["organization"] = json!(org);
        }
        let anonymous = hub.anonymous();
        async move { anonymous.post("/api/v1/auth/login", body).await }
    };
    // Each password opens its own organization's user.
    let r = login(PASSWORD, None).await;
    assert_eq!(
        (r.status, r.json["org"].clone()),
        (200, json!("default")),
        "{}",
        r.text
    );
    let r = login(bravo_password, None).await;
    assert_eq!(
        (r.status, r.json["org"].clone()),
        (200, json!("bravo")),
        "{}",
        r.text
    );
    // The same password in both: the organization must be named.
    let r = bravo
        .patch(
            &format!("/api/v1/users/{bravo_shared}"),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = login(PASSWORD, None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("organization"),
        "{}",
        r.text
    );
    assert!(r.set_cookie("kubeworkz_session").is_none());
    let r = login(PASSWORD, Some("bravo")).await;
    assert_eq!(
        (r.status, r.json["org"].clone()),
        (200, json!("bravo")),
        "{}",
        r.text
    );
    let r = login(PASSWORD, Some("no-such-org")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.error_code(), "bad_credentials");
}
