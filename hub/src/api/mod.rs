//! The REST API. This module is the only place that knows the API's JSON shapes.
//!
//! Every route sits behind the request-context middleware (request id, client address,
//! response counters); bodies are limited to 64 KiB except registration, which takes a
//! kubeconfig. Every route but the streaming ones (the event stream, exports, logs, terminals) must have its response
//! started within the request timeout. Handlers authenticate with the
//! [`extract::Principal`] extractor and check the admin role with [`extract::Admin`]; every
//! mutation is audited (`audit.rs`).

mod actions;
mod admin;
mod alerts;
mod audit;
mod budgets;
mod clusters;
mod context;
mod cost_views;
mod costs;
pub mod docs;
pub mod event_feeds;
pub mod events;
pub mod extract;
mod fleet;
mod focus;
pub mod forwarded;
mod health;
mod inspect;
mod inventory;
mod list_columns;
mod logs;
pub mod metrics;
mod oidc;
mod oidc_admin;
mod oidc_session;
mod operations;
mod pvcs;
mod quotas;
mod recommendations;
mod search;
mod search_export;
mod session;
mod switches;
mod terminal;
mod timestamp;
mod usage;
mod views;
mod webhooks;
mod workloads;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Router, middleware};
use tower_http::trace::TraceLayer;

pub use context::{REQUEST_ID_HEADER, RequestContext};
pub use terminal::TerminalSessions;
pub use usage::parse_duration;

use crate::error::ApiError;
use crate::state::AppState;

/// Body limit of every route but registration.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

async fn method_not_allowed() -> ApiError {
    ApiError::BadRequest("method not allowed on this path".into())
}

/// Builds the hub's HTTP router.
pub fn router(state: AppState) -> Router {
    let k8s = Router::new()
        .route(
            "/clusters",
            get(clusters::list)
                .post(clusters::register)
                .layer(DefaultBodyLimit::max(clusters::REGISTER_BODY_LIMIT)),
        )
        .route(
            "/clusters/{id}",
            get(clusters::get)
                .patch(clusters::update)
                .delete(clusters::delete)
                .layer(DefaultBodyLimit::max(clusters::REGISTER_BODY_LIMIT)),
        )
        .route("/clusters/{id}/sync", post(clusters::sync))
        .route("/clusters/{id}/health", get(clusters::health))
        .route(
            "/clusters/{id}/namespaces",
            get(inventory::cluster_namespaces),
        )
        .route("/clusters/{id}/nodes", get(inventory::cluster_nodes))
        .route("/clusters/{id}/pvcs", get(pvcs::cluster_pvcs))
        .route("/namespaces/{id}/pvcs", get(pvcs::namespace_pvcs))
        .route(
            "/namespaces/{id}/deployments",
            get(inventory::namespace_deployments),
        )
        .route("/namespaces/{id}/pods", get(inventory::namespace_pods))
        .route("/namespaces/{id}/costs", get(costs::namespace_costs))
        .route("/costs", get(costs::costs))
        .route("/costs/efficiency", get(costs::efficiency))
        .route("/costs/focus", get(focus::focus))
        .route("/costs/recommendations", get(recommendations::list))
        .route("/deployments/{id}/pods", get(inventory::deployment_pods))
        .route("/deployments/{id}", get(inventory::deployment))
        .route(
            "/pods/{id}",
            get(workloads::pod).delete(actions::delete_pod),
        )
        .route("/pods/{id}/usage", get(usage::pod_series))
        .route("/pods/{id}/events", get(inspect::pod_events))
        .route("/pods/{id}/yaml", get(inspect::pod_yaml))
        .route("/deployments/{id}/events", get(inspect::deployment_events))
        .route("/deployments/{id}/yaml", get(inspect::deployment_yaml))
        .route("/deployments/{id}/scale", post(actions::scale))
        .route("/deployments/{id}/restart", post(actions::restart))
        .route("/nodes/{id}/events", get(inspect::node_events))
        .route("/nodes/{id}/yaml", get(inspect::node_yaml))
        .route("/namespaces/{id}/quotas", get(quotas::namespace_quotas))
        .route("/namespaces/{id}/health", get(quotas::namespace_health))
        .route("/namespaces/{id}/events", get(inspect::namespace_events))
        .route("/namespaces/{id}/yaml", get(inspect::namespace_yaml))
        .route("/helm/releases", get(inventory::helm_releases))
        .route(
            "/clusters/{id}/workloads/{kind}",
            get(workloads::cluster_workloads),
        )
        .route(
            "/namespaces/{id}/workloads/{kind}",
            get(workloads::namespace_workloads),
        )
        .route("/workloads/{kind}/{id}", get(workloads::workload))
        .route("/workloads/{kind}/{id}/pods", get(workloads::workload_pods))
        .route("/workloads/{kind}/{id}/jobs", get(workloads::cronjob_jobs))
        .route("/search", get(search::search))
        .route("/fleet", get(fleet::fleet))
        .route("/metrics/cluster/{id}", get(usage::cluster_series))
        .route("/metrics/namespace/{id}", get(usage::namespace_series))
        .route("/workers/status", get(admin::workers))
        .route(
            "/enrollment-tokens",
            get(admin::list_enrollment_tokens).post(admin::create_enrollment_token),
        )
        .route(
            "/enrollment-tokens/{id}",
            axum::routing::delete(admin::revoke_enrollment_token),
        );
    let v1 = Router::new()
        .nest("/k8s", k8s)
        .route("/auth/login", post(session::login))
        .route("/auth/logout", post(session::logout))
        .route("/auth/me", get(session::me))
        .route("/auth/refresh", post(oidc_session::refresh))
        .route("/auth/oidc/providers", get(oidc::providers))
        .route("/auth/oidc/{provider}/login", get(oidc::login))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route(
            "/auth/tokens",
            get(session::list_tokens).post(session::create_token),
        )
        .route(
            "/auth/tokens/{id}",
            axum::routing::delete(session::revoke_token),
        )
        .route("/users", get(admin::list_users).post(admin::create_user))
        .route(
            "/users/{id}",
            axum::routing::patch(admin::update_user).delete(admin::delete_user),
        )
        .route(
            "/oidc-providers",
            get(oidc_admin::list).post(oidc_admin::create),
        )
        .route(
            "/oidc-providers/{id}",
            axum::routing::put(oidc_admin::update).delete(oidc_admin::delete),
        )
        .route(
            "/oidc-providers/{id}/group-roles",
            axum::routing::put(oidc_admin::set_group_roles),
        )
        .route(
            "/organization/password-login",
            axum::routing::put(oidc_admin::set_password_login),
        )
        .route(
            "/organization/operations",
            get(switches::get).put(switches::set),
        )
        .route("/audit", get(audit::list))
        .route("/budgets", get(budgets::list).post(budgets::create))
        .route(
            "/budgets/{id}",
            axum::routing::put(budgets::update).delete(budgets::delete),
        )
        .route(
            "/alert-settings",
            get(budgets::settings).put(budgets::set_settings),
        )
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}/deliveries", get(alerts::deliveries))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            axum::routing::put(webhooks::update).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/test", post(webhooks::send_test))
        .route("/docs", get(docs::page))
        .route("/docs/openapi.json", get(docs::openapi_json));
    let timed = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::prometheus))
        .route("/charts/index.yaml", get(crate::charts::index_yaml))
        .route("/charts/{file}", get(crate::charts::chart_archive))
        .nest("/api/v1", v1)
        .fallback(crate::ui::fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            context::request_timeout,
        ));
    // Streaming routes join after the request timeout's layer, which covers only the routes
    // already there: a stream's response lives as long as it streams.
    let streaming = Router::new()
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/k8s/search/export", get(search_export::export))
        .route("/api/v1/k8s/pods/{id}/logs", get(logs::pod_logs))
        .route("/api/v1/k8s/pods/{id}/exec", get(terminal::pod_exec));
    timed
        .merge(streaming)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            context::request_context,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
