//! Rate limits: login per client IP, requests per API token; 429 with Retry-After.

use std::sync::Arc;
use std::time::Duration;

use kubeworkz_hub::auth::ratelimit::{RateLimiter, RateLimits};
use serde_json::json;

use crate::client::{ADMIN_EMAIL, ADMIN_PASSWORD, TestHub};
use crate::harness::Backend;

async fn limited_hub(backend: Backend) -> TestHub {
    TestHub::start_with_limits(
        backend,
        Arc::new(RateLimits {
            login_per_ip: RateLimiter::new(3, Duration::from_secs(60)),
            login_per_user: RateLimiter::new(100, Duration::from_secs(60)),
            per_token: RateLimiter::new(2, Duration::from_secs(60)),
        }),
    )
    .await
}

pub async fn logins_per_ip_and_requests_per_token_are_limited(hub: TestHub) {
    let backend = hub.backend;
    drop(hub);
    let hub = limited_hub(backend).await;
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
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    // The session is not limited by the token's budget.
    assert_eq!(admin.get("/api/v1/k8s/clusters").await.status, 200);

    // Two more logins from this IP (the admin's was the first), then 429 for any user.
    let anonymous = hub.anonymous();
    let login = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    for _ in 0..2 {
        assert_eq!(
            anonymous
                .post("/api/v1/auth/login", login.clone())
                .await
                .status,
            200
        );
    }
    let r = anonymous
        .post(
            "/api/v1/auth/login",
            json!({"email": "other@example.com", "password": "x"}),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.error_code(), "rate_limited");
}
