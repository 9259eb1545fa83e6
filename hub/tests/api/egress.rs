//! Registration's connection test under the egress policy, over real HTTP with a real HTTPS
//! server on loopback: refused addresses are never contacted and the error names the rule;
//! errors name the address tried and the kind of failure, show a Kubernetes `Status` message
//! but never any other body; a replacement kubeconfig passes the same checks.

use kubeworkz_hub::pull::EgressPolicy;
use kubeworkz_hub::pull::egress::AllowedNetworks;
use serde_json::json;

use crate::client::{Caller, TestHub};
use crate::fake_apiserver::{self, FakeApiServer, TOKEN, status_body};

/// What an internal page says; it must never come back through the hub.
const MARKER: &str = "internal-admin-console-7f3a";

fn admin_page(_path: &str) -> fake_apiserver::Answer {
    (
        200,
        "text/html",
        format!("<html><title>Admin</title><body>{MARKER} secrets here</body></html>"),
    )
}

/// Registers `kubeconfig`; returns the status and the error message (empty on success).
async fn register(admin: &Caller, name: &str, kubeconfig: &str) -> (u16, String) {
    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": name, "kubeconfig": kubeconfig}),
        )
        .await;
    assert!(!r.text.contains(TOKEN), "a response carries the token");
    let message = r.json["error"]["message"].as_str().unwrap_or_default();
    (r.status, message.to_owned())
}

async fn refused(admin: &Caller, name: &str, kubeconfig: &str) -> String {
    let (status, message) = register(admin, name, kubeconfig).await;
    assert_eq!(status, 422, "{name}: {message}");
    assert!(
        message.starts_with("connection test failed: refused to connect to "),
        "{name}: {message}"
    );
    message
}

pub async fn refused_addresses_are_never_contacted(hub: TestHub) {
    let admin = hub.admin().await;
    let server = FakeApiServer::start(fake_apiserver::kubernetes);
    let port = server.address.port();
    let started = std::time::Instant::now();

    let message = refused(
        &admin,
        "metadata",
        &server.kubeconfig_for("https://169.254.169.254"),
    )
    .await;
    assert_eq!(
        message,
        "connection test failed: refused to connect to 169.254.169.254:443: 169.254.169.254 is \
         a cloud metadata address, which is always refused"
    );
    for (name, url, rule) in [
        (
            "alibaba",
            "https://100.100.100.200".to_owned(),
            "cloud metadata",
        ),
        (
            "aws-v6",
            "https://[fd00:ec2::254]".to_owned(),
            "cloud metadata",
        ),
        (
            "link-local",
            "https://169.254.10.20:6443".to_owned(),
            "link-local",
        ),
        (
            "link-local-v6",
            "https://[fe80::1]:6443".to_owned(),
            "link-local",
        ),
        (
            "unspecified",
            format!("https://0.0.0.0:{port}"),
            "unspecified",
        ),
        (
            "mapped",
            format!("https://[::ffff:169.254.169.254]:{port}"),
            "cloud metadata",
        ),
        ("loopback", server.url(), "loopback addresses are refused"),
        (
            "mapped-loopback",
            format!("https://[::ffff:127.0.0.1]:{port}"),
            "loopback",
        ),
        // A name is judged by what it resolves to.
        (
            "localhost",
            format!("https://localhost:{port}"),
            "loopback addresses are refused",
        ),
    ] {
        let message = refused(&admin, name, &server.kubeconfig_for(&url)).await;
        assert!(message.contains(rule), "{name}: {message}");
    }
    let message = refused(&admin, "loopback-hint", &server.kubeconfig()).await;
    assert!(
        message.contains("--pull-allow-loopback")
            && message.contains("KUBEWORKZ_PULL_ALLOW_LOOPBACK"),
        "{message}"
    );
    assert_eq!(server.connections(), 0, "a refused address was contacted");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "refusals wait for nothing: {:?}",
        started.elapsed()
    );
    assert_eq!(admin.get("/api/v1/k8s/clusters").await.json["total"], 0);
}

pub async fn connection_errors_name_the_address_and_never_a_body(hub: TestHub) {
    let hub = TestHub::start_with_egress(hub.backend, EgressPolicy::allowing_loopback()).await;
    let admin = hub.admin().await;

    // Any page that is not an API server: the status and a hint, never the body.
    let page = FakeApiServer::start(admin_page);
    let (status, message) = register(&admin, "page", &page.kubeconfig()).await;
    assert_eq!(status, 422, "{message}");
    assert_eq!(
        message,
        format!(
            "connection test failed: {}: GET /version answered HTTP 200 without a Kubernetes \
             answer (not a Kubernetes API server?)",
            page.address
        )
    );
    let not_found = FakeApiServer::start(|_| (404, "text/html", format!("<h1>{MARKER}</h1>")));
    let (status, message) = register(&admin, "not-found", &not_found.kubeconfig()).await;
    assert_eq!(status, 422);
    assert!(
        message.ends_with(
            "answered HTTP 404 without a Kubernetes answer (not a Kubernetes API server?)"
        ) && !message.contains(MARKER),
        "{message}"
    );

    // A Kubernetes Status is shown: it is what the API server has to say.
    let forbidden = FakeApiServer::start(|path| {
        if path.starts_with("/api/v1/nodes") {
            let message = "nodes is forbidden: User \"system:serviceaccount:ro:viewer\" cannot \
                           list resource \"nodes\" in API group \"\" at the cluster scope";
            (
                403,
                "application/json",
                status_body(403, "Forbidden", message),
            )
        } else {
            fake_apiserver::kubernetes(path)
        }
    });
    let (status, message) = register(&admin, "forbidden", &forbidden.kubeconfig()).await;
    assert_eq!(status, 422);
    assert_eq!(
        message,
        format!(
            "connection test failed: {}: the credentials may not list nodes (HTTP 403 \
             Forbidden): nodes is forbidden: User \"system:serviceaccount:ro:viewer\" cannot \
             list resource \"nodes\" in API group \"\" at the cluster scope",
            forbidden.address
        )
    );
    let unauthorized = FakeApiServer::start(|_| {
        (
            401,
            "application/json",
            status_body(401, "Unauthorized", "Unauthorized"),
        )
    });
    let (_, message) = register(&admin, "unauthorized", &unauthorized.kubeconfig()).await;
    assert!(
        message
            .ends_with("the server rejected the credentials (HTTP 401 Unauthorized): Unauthorized"),
        "{message}"
    );

    // Nothing listening: the address and "connection refused".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_address = closed.local_addr().unwrap();
    drop(closed);
    let (_, message) = register(
        &admin,
        "closed",
        &page.kubeconfig_for(&format!("https://{closed_address}")),
    )
    .await;
    assert_eq!(
        message,
        format!(
            "connection test failed: {closed_address}: connection refused (nothing listens on \
             that port)"
        )
    );
    let (_, message) = register(
        &admin,
        "by-name",
        &page.kubeconfig_for(&format!("https://localhost:{}", closed_address.port())),
    )
    .await;
    assert!(
        message.contains(&format!(
            "localhost:{} (resolved to ",
            closed_address.port()
        )) && message.ends_with("connection refused (nothing listens on that port)"),
        "{message}"
    );

    // A certificate the kubeconfig does not trust: TLS, named as such.
    let healthy = FakeApiServer::start(fake_apiserver::kubernetes);
    let wrong_ca = healthy.kubeconfig().replace(&healthy.url(), &page.url());
    let (_, message) = register(&admin, "wrong-ca", &wrong_ca).await;
    assert_eq!(
        message,
        format!(
            "connection test failed: {}: TLS failed: the server's certificate is not signed \
             by the kubeconfig's certificate-authority-data",
            page.address
        )
    );

    // A real (fake) API server registers; a replacement kubeconfig is held to the same rules.
    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": "healthy", "kubeconfig": healthy.kubeconfig()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["cluster"]["version"], "v1.36.3-fake");
    let path = format!(
        "/api/v1/k8s/clusters/{}",
        r.json["cluster"]["id"].as_str().unwrap()
    );
    let r = admin
        .patch(
            &path,
            json!({"kubeconfig": healthy.kubeconfig_for("https://169.254.169.254")}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("cloud metadata address"), "{}", r.text);
    let r = admin
        .patch(&path, json!({"kubeconfig": page.kubeconfig()}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("not a Kubernetes API server?") && !r.text.contains(MARKER),
        "{}",
        r.text
    );
    let r = admin.get(&path).await;
    assert_eq!(
        r.json["api_server_url"],
        healthy.url(),
        "the refused kubeconfig was not kept"
    );
    for body in [
        admin.get("/api/v1/audit").await.text,
        admin.get("/api/v1/k8s/clusters").await.text,
    ] {
        assert!(!body.contains(MARKER) && !body.contains(TOKEN), "{body}");
    }
}

pub async fn allowed_networks_narrow_what_loopback_allows(hub: TestHub) {
    let only_ten: AllowedNetworks = "10.0.0.0/8".parse().unwrap();
    let hub =
        TestHub::start_with_egress(hub.backend, EgressPolicy::new(true, Some(only_ten))).await;
    let admin = hub.admin().await;
    let server = FakeApiServer::start(fake_apiserver::kubernetes);
    let message = refused(&admin, "outside", &server.kubeconfig()).await;
    assert_eq!(
        message,
        format!(
            "connection test failed: refused to connect to {}: 127.0.0.1 is outside the allowed \
             networks (10.0.0.0/8); add its network to --pull-allowed-networks \
             (KUBEWORKZ_PULL_ALLOWED_NETWORKS) to allow it",
            server.address
        )
    );
    assert_eq!(server.connections(), 0);
}
