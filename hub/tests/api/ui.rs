//! The embedded web UI (entry page, hashed assets, SPA fallback, cache headers; API paths
//! stay JSON).

use reqwest::Method;

use crate::client::TestHub;

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
