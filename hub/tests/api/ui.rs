//! The embedded web UI (entry page, hashed assets, SPA fallback, cache headers; API paths
//! stay JSON) and the live event stream (`GET /api/v1/events`): added, changed and removed
//! clusters arrive as named events, scoped to the caller's organization, and ingest by
//! someone else (the store, as another hub replica would write it) shows up.

use std::time::Duration;

use chrono::Utc;
use kubeworkz_hub::store::Role;
use kubeworkz_shared::model::{HealthReason, HealthReport, HealthStatus};
use reqwest::Method;
use reqwest::header::COOKIE;

use crate::client::{Caller, TestHub, seed};

pub async fn the_ui_is_served_with_spa_fallback_and_cache_headers(hub: TestHub) {
    let anyone = hub.anonymous();
    let index = anyone.get("/").await;
    assert_eq!(index.status, 200);
    let header = |r: &crate::client::Resp, name: &str| {
        r.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(header(&index, "content-type").starts_with("text/html"));
    assert_eq!(header(&index, "cache-control"), "no-cache");
    assert!(header(&index, "content-security-policy").contains("default-src 'self'"));
    assert!(index.text.contains("<div id=\"root\">"), "{}", index.text);

    // Browser paths the React router owns get the same page.
    for path in [
        "/login",
        "/admin/kubernetes",
        "/admin/kubernetes/clusters/0190f5c2-0000-7000-8000-000000000000",
    ] {
        let page = anyone.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.text, index.text, "{path} is the SPA");
    }

    // Every asset the page names is served, immutable, with its media type.
    let assets: Vec<&str> = index
        .text
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "{assets:?}"
    );
    for asset in assets {
        let r = anyone.get(asset).await;
        assert_eq!(r.status, 200, "{asset}");
        assert_eq!(
            header(&r, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let expected = if asset.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(header(&r, "content-type").starts_with(expected), "{asset}");
    }
    let favicon = anyone.get("/favicon.svg").await;
    assert_eq!(favicon.status, 200);
    assert_eq!(header(&favicon, "content-type"), "image/svg+xml");

    // A missing hashed asset is a 404, not the page; API paths never answer HTML.
    let missing = anyone.get("/assets/index-missing.js").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    for path in ["/api/v1/nothing-here", "/api", "/api/v2/clusters"] {
        let r = anyone.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error_code(), "not_found", "{path}");
    }
    // The stream is in the API's description.
    let doc = anyone.get("/api/v1/docs/openapi.json").await;
    assert!(
        doc.json["paths"]["/api/v1/events"]["get"].is_object(),
        "GET /api/v1/events is documented"
    );
    let post = anyone
        .send(
            Method::POST,
            "/admin/kubernetes",
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(post.status, 404, "only GET and HEAD reach the UI");
}

/// An open event stream of `caller`.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(caller: &Caller) -> Self {
        let session = caller.session.clone().expect("a session");
        let response = caller
            .request(Method::GET, "/api/v1/events")
            .header(COOKIE, format!("kubeworkz_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (name, data), skipping keep-alive comments; `None` when the stream
    /// ended.
    async fn next(&mut self) -> Option<(String, serde_json::Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let (Some(name), Some(data)) = (name, data) {
                    return Some((name, data));
                }
                continue;
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event within 10 s.
    async fn expect(&mut self) -> (String, String) {
        let (name, data) = tokio::time::timeout(Duration::from_secs(10), self.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream is open");
        (name, data["cluster_id"].as_str().unwrap().to_owned())
    }

    /// Nothing arrives for `quiet`.
    async fn expect_none(&mut self, quiet: Duration) {
        if let Ok(event) = tokio::time::timeout(quiet, self.next()).await {
            panic!("unexpected event {event:?}");
        }
    }
}

pub async fn cluster_events_are_streamed_per_organization(hub: TestHub) {
    let org = hub.default_org;
    let admin = hub.admin().await;
    let other = hub.user("other", "other@example.com", Role::Admin).await;
    let anonymous = hub.anonymous().get("/api/v1/events").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error_code(), "unauthorized");

    let mut events = Events::open(&admin).await;
    let mut others = Events::open(&other).await;

    let seeded = seed(&hub, org, "alpha").await;
    let id = seeded.cluster.to_string();
    assert_eq!(events.expect().await, ("cluster.added".into(), id.clone()));

    // Health judged by ingest (here written to the store directly, as another replica would).
    let report = HealthReport {
        status: HealthStatus::Degraded,
        reasons: vec![HealthReason::MetricsUnavailable],
    };
    hub.db
        .store
        .record_health(org, seeded.cluster, &report, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        events.expect().await,
        ("cluster.changed".into(), id.clone())
    );
    // Coalesced: nothing more while nothing changes.
    events.expect_none(Duration::from_millis(2500)).await;

    let deleted = admin.delete(&format!("/api/v1/k8s/clusters/{id}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(events.expect().await, ("cluster.removed".into(), id));

    // Another organization heard nothing of it.
    others.expect_none(Duration::from_millis(1500)).await;

    // Logging out ends the stream.
    let out = admin
        .post("/api/v1/auth/logout", serde_json::json!({}))
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let ended = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the stream ends within 5 s of logout");
    assert!(ended.is_none(), "{ended:?}");
}
