//! Rate limits: requests per API token; login failures per (email, address), per email and
//! per address, with the client address taken from forwarding headers only behind a
//! trusted proxy. Different client addresses are real: 127.0.0.0/8 source addresses.

use std::time::Duration;

use serde_json::json;

use crate::client::{ADMIN_EMAIL, ADMIN_PASSWORD, Caller, Options, PASSWORD, Resp, TestHub};

const WRONG: &str = "not-the-password";

fn retry_after(r: &Resp) -> u64 {
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.error_code(), "rate_limited");
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

pub async fn requests_per_token_are_limited(hub: TestHub) {
    let options = Options {
        api_per_minute: Some(2),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let admin = hub.admin().await;
    let token = admin
        .post("/api/v1/auth/tokens", json!({"name": "bot"}))
        .await
        .json["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bot = hub.bearer(&token);
    assert_eq!(bot.get("/api/v1/k8s/clusters").await.status, 200);
    assert_eq!(bot.get("/api/v1/k8s/clusters").await.status, 200);
    let r = bot.get("/api/v1/k8s/clusters").await;
    assert!((1..=60).contains(&retry_after(&r)));
    // The session is not limited by the token's budget.
    assert_eq!(admin.get("/api/v1/k8s/clusters").await.status, 200);
}

pub async fn five_wrong_passwords_do_not_lock_out_another_address(hub: TestHub) {
    for _ in 0..5 {
        let r = hub.try_login_from("127.0.0.2", ADMIN_EMAIL, WRONG).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = hub
        .try_login_from("127.0.0.3", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(r.status, 200, "the owner elsewhere logs in: {}", r.text);
    // The guessing address waits, even with the right password: it cannot tell.
    let r = hub
        .try_login_from("127.0.0.2", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    retry_after(&r);
}

pub async fn made_up_emails_do_not_block_a_real_user_behind_the_same_address(hub: TestHub) {
    kubeworkz_hub::auth::create_user(
        &hub.db.store,
        hub.default_org,
        "bob@example.com",
        PASSWORD,
        kubeworkz_hub::store::Role::Viewer,
    )
    .await
    .unwrap();
    let office = "127.0.0.4";
    // The admin logged in from the office before the spray.
    assert_eq!(
        hub.try_login_from(office, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        200
    );
    for i in 0..20 {
        let email = format!("made-up-{i}@example.com");
        let r = hub.try_login_from(office, &email, WRONG).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = hub
        .try_login_from(office, "bob@example.com", PASSWORD)
        .await;
    assert_eq!(
        r.status, 200,
        "20 sprayed failures block nobody: {}",
        r.text
    );
    // Past 50 failures from one address it waits, but not for the emails that logged in
    // from it lately.
    for i in 20..50 {
        let email = format!("made-up-{i}@example.com");
        assert_eq!(hub.try_login_from(office, &email, WRONG).await.status, 401);
    }
    let r = hub
        .try_login_from(office, "carol@example.com", PASSWORD)
        .await;
    retry_after(&r);
    let r = hub
        .try_login_from(office, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(r.status, 200, "known good: {}", r.text);
    let r = hub
        .try_login_from("127.0.0.5", "carol@example.com", WRONG)
        .await;
    assert_eq!(r.status, 401, "other addresses are not limited");
}

pub async fn repeated_failures_of_one_pair_wait_longer_each_time(hub: TestHub) {
    let from = "127.0.0.6";
    for _ in 0..5 {
        let r = hub.try_login_from(from, ADMIN_EMAIL, WRONG).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.error_code(), "bad_credentials");
    }
    let mut waits = Vec::new();
    for _ in 0..3 {
        let wait = retry_after(&hub.try_login_from(from, ADMIN_EMAIL, WRONG).await);
        waits.push(wait);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let r = hub.try_login_from(from, ADMIN_EMAIL, WRONG).await;
        assert_eq!(
            r.status, 401,
            "after the wait, the password is checked again"
        );
    }
    assert_eq!(waits, [1, 2, 4], "each failure doubles the wait");
    let wait = retry_after(&hub.try_login_from(from, ADMIN_EMAIL, WRONG).await);
    assert_eq!(wait, 8);
    // An unknown user answers like a wrong password.
    let r = hub
        .try_login_from("127.0.0.7", "nobody@example.com", "whatever-it-is")
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "bad_credentials");
}

fn login_via(caller: &Caller, forwarded_for: &str, password: &str) -> reqwest::RequestBuilder {
    caller
        .request(reqwest::Method::POST, "/api/v1/auth/login")
        .header("x-forwarded-for", forwarded_for)
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": ADMIN_EMAIL, "password": password}))
}

async fn send(request: reqwest::RequestBuilder) -> Resp {
    Caller::read(request.send().await.unwrap()).await
}

pub async fn forwarded_for_separates_clients_only_behind_a_trusted_proxy(hub: TestHub) {
    // Untrusted peer: forwarding headers are ignored, whatever they claim.
    let peer = hub.anonymous_from("127.0.0.8");
    for i in 0..5 {
        let r = send(login_via(&peer, &format!("203.0.113.{i}"), WRONG)).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    retry_after(&send(login_via(&peer, "203.0.113.99", ADMIN_PASSWORD)).await);
    let r = send(login_via(&hub.anonymous(), "203.0.113.99", ADMIN_PASSWORD)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cookie = r.set_cookie("kubeworkz_session").unwrap();
    assert!(
        !cookie.contains("Secure"),
        "X-Forwarded-Proto from anyone: {cookie}"
    );

    let options = Options {
        trusted_proxies: vec!["127.0.0.9/32"],
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let proxy = hub.anonymous_from("127.0.0.9");
    for _ in 0..5 {
        let r = send(login_via(&proxy, "1.1.1.1, 203.0.113.1", WRONG)).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    // The client is the right-most untrusted hop: what it wrote itself changes nothing.
    retry_after(&send(login_via(&proxy, "9.9.9.9, 203.0.113.1", ADMIN_PASSWORD)).await);
    let r = send(login_via(&proxy, "203.0.113.2", ADMIN_PASSWORD)).await;
    assert_eq!(r.status, 200, "another client behind the proxy: {}", r.text);
    let cookie = r.set_cookie("kubeworkz_session").unwrap();
    assert!(
        cookie.contains("Secure"),
        "the trusted proxy said https: {cookie}"
    );
    // The same headers from a peer that is not the proxy are ignored again.
    let r = send(login_via(
        &hub.anonymous_from("127.0.0.10"),
        "203.0.113.2",
        ADMIN_PASSWORD,
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !r.set_cookie("kubeworkz_session")
            .unwrap()
            .contains("Secure")
    );
}
