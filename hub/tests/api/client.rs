//! A real hub API on a loopback port (the library router over a real store) and HTTP
//! callers: anonymous, session (cookies + CSRF header, as a browser would send them) and
//! bearer token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use kubeworkz_hub::api::event_feeds::{EventFeeds, StreamLimits};
use kubeworkz_hub::api::router;
use kubeworkz_hub::auth::ratelimit::RateLimits;
use kubeworkz_hub::auth::{self, Secret};
use kubeworkz_hub::http_server::{HttpLimits, serve_http};
use kubeworkz_hub::pull::supervisor::PullHandle;
use kubeworkz_hub::pull::{EgressPolicy, ProbeSettings};
use kubeworkz_hub::seal::{Keyring, MasterKey};
use kubeworkz_hub::state::{ApiSettings, AppState};
use kubeworkz_hub::store::{Cursor, Role};
use kubeworkz_hub::workers::Workers;
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::time::UnixMillis;
use reqwest::Method;
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use serde_json::Value;

use crate::fixtures;
use crate::harness::{Backend, TestStore};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "first-admin-password";
pub const PASSWORD: &str = "a-long-enough-password";

/// How a test hub differs from the defaults `serve` starts with, in plain values (each one
/// a `serve` flag or a cap of the hub).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--api-rate-limit-per-minute`; 1,000 when unset.
    pub api_per_minute: Option<u32>,
    /// `--trusted-proxies`.
    pub trusted_proxies: Vec<&'static str>,
    /// `--http-request-timeout-secs`.
    pub request_timeout: Option<Duration>,
    /// `--http-header-timeout-secs`.
    pub header_timeout: Option<Duration>,
    /// `--http-idle-timeout-secs`.
    pub idle_timeout: Option<Duration>,
    /// `--http-max-connections`.
    pub max_connections: Option<usize>,
    /// Event streams per session or token, and per organization.
    pub stream_caps: Option<(usize, usize)>,
    /// `--metrics-token`.
    pub metrics_token: Option<&'static str>,
    /// `--pull-allow-loopback` / `--pull-allowed-networks`: where registrations may connect
    /// (the default refuses loopback, where every test server runs).
    pub egress: Option<EgressPolicy>,
    /// `--public-url`.
    pub public_url: Option<&'static str>,
}

/// A running API over a fresh database of one backend.
pub struct TestHub {
    pub base: String,
    pub addr: SocketAddr,
    pub backend: Backend,
    pub db: TestStore,
    pub default_org: OrgId,
    /// The hub's worker registry (what the workers endpoint and `/metrics` show).
    pub workers: Workers,
    pub keyring: Keyring,
    /// The cost series `/metrics` shows (a test's cost run refreshes them).
    pub cost_gauges: Arc<kubeworkz_hub::cost::CostGauges>,
}

impl TestHub {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, Options::default()).await
    }

    /// A hub whose registrations connect under `egress`.
    pub async fn start_with_egress(backend: Backend, egress: EgressPolicy) -> Self {
        let options = Options {
            egress: Some(egress),
            ..Options::default()
        };
        Self::start_with(backend, options).await
    }

    /// Replaces this hub by one on a fresh database of the same backend with `options`.
    pub async fn restart(self, options: Options) -> Self {
        let backend = self.backend;
        drop(self);
        Self::start_with(backend, options).await
    }

    /// A hub served by the same connection loop as `serve`.
    pub async fn start_with(backend: Backend, options: Options) -> Self {
        let db = TestStore::open(backend).await;
        let keyring = Keyring::new(MasterKey::generate().0, vec![]);
        let workers = Workers::new();
        let mut state = AppState::new(
            db.store.clone(),
            workers.clone(),
            PullHandle::default(),
            keyring.clone(),
        );
        let per_minute = options.api_per_minute.unwrap_or(1000).to_string();
        state.limits = Arc::new(RateLimits::with_api_limit(per_minute.parse().unwrap()));
        let defaults = ApiSettings::default();
        state.settings = Arc::new(ApiSettings {
            trusted_proxies: kubeworkz_hub::api::forwarded::TrustedProxies::new(
                options.trusted_proxies.iter().map(|p| p.parse().unwrap()),
            ),
            request_timeout: options.request_timeout.unwrap_or(defaults.request_timeout),
            metrics_token: options.metrics_token.map(|t| Secret::new(t.into())),
            probe: options
                .egress
                .map_or(defaults.probe.clone(), ProbeSettings::new),
            public_url: options.public_url.map(|url| url.parse().unwrap()),
            ..defaults
        });
        if let Some((per_credential, per_org)) = options.stream_caps {
            state.events = Arc::new(EventFeeds::new(StreamLimits {
                per_credential,
                per_org,
            }));
        }
        let defaults = HttpLimits::default();
        let http = HttpLimits {
            header_timeout: options.header_timeout.unwrap_or(defaults.header_timeout),
            idle_timeout: options.idle_timeout.unwrap_or(defaults.idle_timeout),
            max_connections: options.max_connections.unwrap_or(defaults.max_connections),
        };
        let created = auth::bootstrap_admin(
            &db.store,
            Some(ADMIN_EMAIL),
            Some(&Secret::new(ADMIN_PASSWORD.into())),
        )
        .await
        .expect("bootstrap admin");
        assert!(matches!(created, auth::Bootstrap::Created { .. }));
        let default_org = db
            .store
            .organization_by_name("default")
            .await
            .unwrap()
            .unwrap()
            .id;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = state.shutdown.clone();
        let cost_gauges = state.cost_gauges.clone();
        tokio::spawn(serve_http(listener, router(state), http, shutdown));
        Self {
            base: format!("http://{addr}"),
            addr,
            backend,
            db,
            default_org,
            workers,
            keyring,
            cost_gauges,
        }
    }

    pub fn anonymous(&self) -> Caller {
        Caller {
            client: reqwest::Client::new(),
            base: self.base.clone(),
            session: None,
            csrf: None,
            bearer: None,
        }
    }

    /// An anonymous caller whose connections come from `ip` (any 127.0.0.0/8 address
    /// reaches the loopback listener from its own source address).
    pub fn anonymous_from(&self, ip: &str) -> Caller {
        let ip: IpAddr = ip.parse().unwrap();
        Caller {
            client: reqwest::Client::builder()
                .local_address(ip)
                .build()
                .unwrap(),
            ..self.anonymous()
        }
    }

    /// Logs in from `ip` and returns the response, whatever it is.
    pub async fn try_login_from(&self, ip: &str, email: &str, password: &str) -> Resp {
        self.anonymous_from(ip)
            .post(
                "/api/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await
    }

    /// Logs in; panics unless it succeeds.
    pub async fn login(&self, email: &str, password: &str) -> Caller {
        let mut caller = self.anonymous();
        let r = caller
            .post(
                "/api/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login of {email}: {}", r.text);
        caller.session = r.cookie("kubeworkz_session");
        caller.csrf = r.cookie("csrf_token");
        assert!(caller.session.is_some() && caller.csrf.is_some());
        caller
    }

    pub async fn admin(&self) -> Caller {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates `email` with `role` in organization `org` (created if needed) and logs in.
    pub async fn user(&self, org: &str, email: &str, role: Role) -> Caller {
        let org = self.db.store.ensure_organization(org).await.unwrap();
        auth::create_user(&self.db.store, org.id, email, PASSWORD, role)
            .await
            .unwrap();
        self.login(email, PASSWORD).await
    }

    pub fn bearer(&self, token: &str) -> Caller {
        Caller {
            bearer: Some(token.to_owned()),
            ..self.anonymous()
        }
    }
}

/// An HTTP client with a way of authenticating.
#[derive(Clone)]
pub struct Caller {
    client: reqwest::Client,
    base: String,
    pub session: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// The value a `Set-Cookie` header gives `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookie(name).and_then(|c| {
            c.split(';')
                .next()?
                .split_once('=')
                .map(|(_, v)| v.to_owned())
        })
    }

    /// The whole `Set-Cookie` header for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// Asserts the API's error shape and returns the code.
    pub fn error_code(&self) -> String {
        let error = &self.json["error"];
        assert!(error["message"].is_string(), "error shape: {}", self.text);
        let request_id = error["request_id"].as_str().expect("request_id");
        assert_eq!(
            self.headers.get("x-request-id").unwrap().to_str().unwrap(),
            request_id
        );
        error["code"].as_str().unwrap().to_owned()
    }
}

impl Caller {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.send_with(method, path, body, &[]).await
    }

    /// [`Caller::send`] with extra request headers.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut cookies = Vec::new();
        if let Some(s) = &self.session {
            cookies.push(format!("kubeworkz_session={s}"));
        }
        if let Some(c) = &self.csrf {
            cookies.push(format!("csrf_token={c}"));
            request = request.header("x-csrf-token", c);
        }
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::read(request.send().await.expect("request")).await
    }

    pub async fn read(response: reqwest::Response) -> Resp {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        // No response ever carries a password, a password hash or a session secret.
        for secret in ["$argon2", ADMIN_PASSWORD, PASSWORD] {
            assert!(
                !text.contains(secret),
                "a response contains a secret: {text}"
            );
        }
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None).await
    }

    /// The same caller without the CSRF header (the cookie stays).
    pub fn without_csrf_header(&self) -> Caller {
        let mut c = self.clone();
        c.csrf = None;
        c
    }
}

/// What [`seed`] put in the store.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub cluster: ClusterId,
    pub namespace_uid: String,
    pub deployment_uid: String,
    pub pod_uid: String,
    pub node_uid: String,
}

/// An agent-mode cluster `name` in `org` with a node, namespace `web`, deployment `web`,
/// two of its pods, a Helm release and one hour of usage.
pub async fn seed(hub: &TestHub, org: OrgId, name: &str) -> Seeded {
    let store = &hub.db.store;
    let cluster = fixtures::agent_cluster(store, org, name).await;
    let p = |s: &str| format!("{name}-{s}");
    let objects: Vec<Object> = vec![
        fixtures::node("node-a", &p("node")),
        fixtures::namespace("web", &p("ns"), Some("shop")),
        fixtures::deployment("web", "web", &p("deploy"), 2),
        fixtures::pod("web", "web-1", &p("pod-1"), PodPhase::Running),
        fixtures::pod("web", "web-2", &p("pod-2"), PodPhase::Running),
        fixtures::helm_release("web", "web", 1, &p("helm")),
    ];
    let changes = fixtures::snapshot(&ObjectKind::ALL, &objects);
    store
        .ingest_changes(
            org,
            cluster,
            Cursor { epoch: 1, seq: 1 },
            &fixtures::batch(changes),
        )
        .await
        .unwrap();
    let hour = Utc::now() - chrono::Duration::hours(2);
    let hour = Utc
        .timestamp_opt(hour.timestamp() - hour.timestamp() % 3600, 0)
        .unwrap();
    store
        .ingest_usage(
            org,
            cluster,
            Cursor { epoch: 1, seq: 2 },
            &[UsageBucket {
                namespace: "web".into(),
                pod: "web-1".into(),
                container: "app".into(),
                hour_start: UnixMillis(hour.timestamp_millis()),
                cpu_millicore_seconds: 360_000,
                memory_byte_seconds: 3_600 << 20,
                memory_max_bytes: 2 << 20,
                samples: 120,
                covered_millis: 3_600_000,
            }],
        )
        .await
        .unwrap();
    Seeded {
        cluster,
        namespace_uid: p("ns"),
        deployment_uid: p("deploy"),
        pod_uid: p("pod-1"),
        node_uid: p("node"),
    }
}
