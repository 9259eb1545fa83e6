//! Budgets, alert settings, alerts and webhooks over real HTTP: admins change them (audited),
//! viewers read budgets and alerts, bad input is a clear 400, another organization gets
//! 404, and a webhook's secret is shown once and verifies the test event a real receiver
//! on loopback gets (a hub allowing loopback, as `--pull-allow-loopback` does). Without that
//! setting, a URL on a refused address is a 400, and a name resolving there is a failed test
//! delivery that contacts nothing.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::TestHub;
use kubeworkz_hub::alerts::webhook::{SIGNATURE_HEADER, verify};
use kubeworkz_hub::pull::EgressPolicy;
use kubeworkz_hub::store::{AuditFilter, PageRequest, Role};

pub async fn admins_manage_budgets_viewers_read_them_and_other_orgs_see_nothing(hub: TestHub) {
    let admin = hub.admin().await;
    let viewer = hub.user("default", "v@example.com", Role::Viewer).await;
    let shop =
        json!({"name": "shop", "scope": "namespace", "scope_key": "shop", "amount": "1500.25"});
    let r = viewer.post("/api/v1/budgets", shop.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = admin.post("/api/v1/budgets", shop.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["amount"], "1500.25");
    assert_eq!(r.json["amount_nanos"], 1_500_250_000_000u64);
    assert_eq!(r.json["actual_nanos"], 0);
    // A JSON number is read exactly too.
    let r = admin
        .post(
            "/api/v1/budgets",
            json!({"name": "team", "scope": "team", "scope_key": "payments", "amount": 99.5}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["amount"].clone()),
        (201, json!("99.50")),
        "{}",
        r.text
    );

    // Bad input: a clear 400 each, nothing stored.
    let bad: [(Value, &str); 5] = [
        (
            json!({"name": "x", "scope": "planet", "scope_key": "a", "amount": "1"}),
            "scope must be",
        ),
        (
            json!({"name": "x", "scope": "team", "scope_key": "a", "amount": "-1"}),
            "invalid amount",
        ),
        (
            json!({"name": "x", "scope": "team", "scope_key": "a", "amount": "0"}),
            "above zero",
        ),
        (
            json!({"name": "", "scope": "team", "scope_key": "a", "amount": "1"}),
            "name must",
        ),
        (
            json!({"name": "x", "scope": "cluster", "scope_key": "not-an-id", "amount": "1"}),
            "cluster budget",
        ),
    ];
    for (body, message) in bad {
        let r = admin.post("/api/v1/budgets", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.text.contains(message), "{body}: {}", r.text);
    }
    // A field the API does not know is refused as every body's is (422).
    let extra = json!({"name": "x", "scope": "team", "scope_key": "a", "amount": "1", "extra": 1});
    let r = admin.post("/api/v1/budgets", extra).await;
    assert!(
        r.status == 422 && r.text.contains("unknown field"),
        "{}",
        r.text
    );
    let r = admin.post("/api/v1/budgets", shop.clone()).await;
    assert_eq!(r.status, 409, "{}", r.text);

    // Everyone reads; the viewer sees both budgets.
    let r = viewer.get("/api/v1/budgets").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop", "team"]);

    // Update and delete; viewers may do neither.
    let path = format!("/api/v1/budgets/{id}");
    let changed =
        json!({"name": "shop", "scope": "namespace", "scope_key": "shop", "amount": "2000"});
    let r = viewer.send(Method::PUT, &path, Some(changed.clone())).await;
    assert_eq!(r.status, 403);
    let r = admin.send(Method::PUT, &path, Some(changed)).await;
    assert_eq!(
        (r.status, r.json["amount"].clone()),
        (200, json!("2000.00")),
        "{}",
        r.text
    );

    // Another organization's admin sees none of it and changes nothing.
    let other = hub.user("other", "o@example.com", Role::Admin).await;
    let r = other.get("/api/v1/budgets").await;
    assert_eq!(r.json["items"], json!([]));
    let r = other
        .send(
            Method::PUT,
            &path,
            Some(json!({"name": "mine", "scope": "team", "scope_key": "x", "amount": "1"})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(other.delete(&path).await.status, 404);
    assert_eq!(viewer.delete(&path).await.status, 403);
    assert_eq!(admin.delete(&path).await.status, 204);
    assert_eq!(admin.delete(&path).await.status, 404);

    // The anomaly rule: read by all, set by admins, validated.
    let r = viewer.get("/api/v1/alert-settings").await;
    assert_eq!(
        r.json,
        json!({"anomaly_factor": 2.0, "anomaly_min_cost": "1.00"})
    );
    let rule = json!({"anomaly_factor": 3.5, "anomaly_min_cost": "5"});
    assert_eq!(
        viewer
            .send(Method::PUT, "/api/v1/alert-settings", Some(rule.clone()))
            .await
            .status,
        403
    );
    let r = admin
        .send(
            Method::PUT,
            "/api/v1/alert-settings",
            Some(json!({"anomaly_factor": 1, "anomaly_min_cost": "5"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = admin
        .send(Method::PUT, "/api/v1/alert-settings", Some(rule))
        .await;
    assert_eq!(
        r.json,
        json!({"anomaly_factor": 3.5, "anomaly_min_cost": "5.00"}),
        "{}",
        r.text
    );
    assert_eq!(
        other.get("/api/v1/alert-settings").await.json["anomaly_factor"],
        2.0
    );

    // Alerts: a bad filter is a 400; another organization's alert is a 404.
    assert_eq!(viewer.get("/api/v1/alerts?kind=weird").await.status, 400);
    assert_eq!(viewer.get("/api/v1/alerts?budget=nope").await.status, 400);
    let r = viewer.get("/api/v1/alerts").await;
    assert_eq!(
        (r.status, r.json["total"].clone()),
        (200, json!(0)),
        "{}",
        r.text
    );
    let missing = format!("/api/v1/alerts/{}/deliveries", uuid::Uuid::now_v7());
    assert_eq!(viewer.get(&missing).await.status, 404);

    // Every change is audited with what it changed.
    let audit = hub
        .db
        .store
        .audit_page(
            hub.default_org,
            &AuditFilter::default(),
            PageRequest {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap();
    let entries: Vec<(String, String, Option<String>)> = audit
        .items
        .iter()
        .filter(|e| e.action.starts_with("budget.") || e.action.starts_with("alert_settings"))
        .map(|e| (e.action.clone(), e.result.clone(), e.detail.clone()))
        .collect();
    assert!(entries.contains(&(
        "budget.update".into(),
        "success".into(),
        Some("\"shop\": namespace shop at $1500.25 a month -> \"shop\": namespace shop at $2000.00 a month".into())
    )), "{entries:?}");
    assert!(
        entries
            .iter()
            .any(|(a, r, _)| a == "budget.create" && r.starts_with("failure"))
    );
    assert!(entries.iter().any(|(a, r, d)| a == "alert_settings.update"
        && r == "success"
        && d.as_deref() == Some("anomaly factor 2 -> 3.5, minimum $1.00 -> $5.00")));
}

/// A receiver on loopback that records each request's headers and body.
async fn receiver() -> (std::net::SocketAddr, Arc<Mutex<Vec<(HeaderMap, Bytes)>>>) {
    let seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = {
        let seen = seen.clone();
        axum::Router::new().fallback(axum::routing::post(
            move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push((headers, body));
                    "ok"
                }
            },
        ))
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

pub async fn a_webhooks_secret_is_shown_once_and_signs_its_test_event(hub: TestHub) {
    let hub = TestHub::start_with_egress(hub.backend, EgressPolicy::allowing_loopback()).await;
    let admin = hub.admin().await;
    let viewer = hub.user("default", "v@example.com", Role::Viewer).await;
    let (addr, seen) = receiver().await;

    let url = format!("http://{addr}/slack/T0SECRET");
    let body = json!({"name": "ops", "url": url, "format": "slack"});
    assert_eq!(
        viewer.post("/api/v1/webhooks", body.clone()).await.status,
        403
    );
    assert_eq!(
        viewer.get("/api/v1/webhooks").await.json["items"],
        json!([])
    );
    for (bad, message) in [
        (
            json!({"name": "x", "url": "ftp://h/x"}),
            "http:// or https://",
        ),
        (json!({"name": "x", "url": "not a url"}), "not a valid URL"),
        (
            json!({"name": "x", "url": "http://h/x", "format": "xml"}),
            "json or slack",
        ),
    ] {
        let r = admin.post("/api/v1/webhooks", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.text.contains(message), "{}", r.text);
    }
    let r = admin.post("/api/v1/webhooks", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = r.json["id"].as_str().unwrap().to_owned();
    // Never again: not in the list, not in an update's answer, not in the audit log.
    let r = admin.get("/api/v1/webhooks").await;
    assert!(
        !r.text.contains(&secret) && r.json["items"][0].get("secret").is_none(),
        "{}",
        r.text
    );
    let r = admin
        .send(
            Method::PUT,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"name": "ops", "url": url, "format": "slack"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(&secret));

    // The test event: delivered at once, signed with the secret, Slack-shaped.
    let r = admin
        .post(&format!("/api/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "delivered", "{}", r.text);
    assert_eq!(r.json["attempt_log"][0]["status_code"], 200);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (headers, payload) = &got[0];
    let signature = headers[SIGNATURE_HEADER].to_str().unwrap();
    assert!(verify(
        secret.as_bytes(),
        signature,
        payload,
        chrono::Utc::now().timestamp(),
        300
    ));
    let payload: Value = serde_json::from_slice(payload).unwrap();
    assert!(
        payload["text"].as_str().unwrap().contains("ops"),
        "{payload}"
    );
    assert_eq!(payload["blocks"][0]["type"], "section");

    // The list: admins see the URL, viewers only its masked form; both the last delivery.
    let masked = format!("http://{addr}/slack/***");
    let r = admin.get("/api/v1/webhooks").await;
    let item = &r.json["items"][0];
    assert_eq!(
        (item["url"].as_str(), item["url_masked"].as_str()),
        (Some(url.as_str()), Some(masked.as_str()))
    );
    assert_eq!(item["last_delivery"]["status"], "delivered", "{}", r.text);
    assert_eq!(item["last_delivery"]["event"], "test");
    let r = viewer.get("/api/v1/webhooks").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("T0SECRET"), "{}", r.text);
    assert_eq!(r.json["items"][0]["url"], masked.as_str());
    assert_eq!(r.json["items"][0]["last_delivery"]["status"], "delivered");

    // Another organization neither tests, changes nor deletes it.
    let other = hub.user("other", "o@example.com", Role::Admin).await;
    assert_eq!(
        other
            .post(&format!("/api/v1/webhooks/{id}/test"), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        other.delete(&format!("/api/v1/webhooks/{id}")).await.status,
        404
    );
    assert_eq!(other.get("/api/v1/webhooks").await.json["items"], json!([]));
    let audit = hub
        .db
        .store
        .audit_page(
            hub.default_org,
            &AuditFilter::default(),
            PageRequest {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert!(
        audit
            .items
            .iter()
            .any(|e| e.action == "webhook.test" && e.result == "success")
    );
    assert!(
        audit
            .items
            .iter()
            .all(|e| !format!("{e:?}").contains(&secret))
    );
    assert_eq!(
        admin.delete(&format!("/api/v1/webhooks/{id}")).await.status,
        204
    );
}

pub async fn a_webhook_on_an_address_the_egress_policy_refuses_is_not_reached(hub: TestHub) {
    // The default policy: a hub started without --pull-allow-loopback.
    let admin = hub.admin().await;
    let (addr, seen) = receiver().await;
    let port = addr.port();
    for (url, rule) in [
        (
            format!("http://127.0.0.1:{port}/hook"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("http://[::1]:{port}/hook"),
            "::1 is a loopback address",
        ),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "a cloud metadata address, which is always refused",
        ),
        ("http://0.0.0.0:80/".to_owned(), "an unspecified address"),
    ] {
        let r = admin
            .post("/api/v1/webhooks", json!({"name": "internal", "url": url}))
            .await;
        assert_eq!(r.status, 400, "{url}: {}", r.text);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .is_some_and(|e| e.starts_with("url: refused to connect to") && e.contains(rule)),
            "{url}: {}",
            r.text
        );
    }
    assert_eq!(admin.get("/api/v1/webhooks").await.json["items"], json!([]));
    // A name is accepted (it may resolve elsewhere at delivery) and judged by what it
    // resolves to when sending: the test delivery fails, recorded, and nothing is reached.
    let url = format!("http://localhost:{port}/hook");
    let r = admin
        .post("/api/v1/webhooks", json!({"name": "by-name", "url": url}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let r = admin
        .post(&format!("/api/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "failed", "{}", r.text);
    let error = r.json["attempt_log"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.starts_with("refused to connect to localhost: ")
            && error.contains("--pull-allow-loopback"),
        "{error}"
    );
    // Changing a URL to a refused address is refused the same way.
    let r = admin
        .send(
            Method::PUT,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"name": "by-name", "url": format!("http://127.0.0.1:{port}/x")})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        seen.lock().unwrap().is_empty(),
        "a refused receiver was reached"
    );
}
