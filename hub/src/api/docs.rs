//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a self-contained
//! browsable page that renders it (no CDN: hubs often run without internet access).

use std::sync::OnceLock;

use axum::Json;
use axum::http::HeaderValue;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    actions, admin, alerts, audit, budgets, clusters, costs, events, fleet, focus, health, inspect,
    inventory, logs, metrics, oidc, oidc_admin, oidc_session, pvcs, quotas, recommendations,
    search, search_export, session, switches, terminal, usage, webhooks, workloads,
};
use crate::error::{ErrorBody, ErrorDetail};
use crate::ui::html_security_headers;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from POST /api/v1/auth/tokens"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "kubeworkz_session",
                "Set by POST /api/v1/auth/login; mutations also need the X-CSRF-Token header \
                 equal to the csrf_token cookie",
            ))),
        );
    }
}

/// Names every operation after its method and path (`get_k8s_clusters_id_namespaces`).
/// utoipa takes the handler's function name, and several modules have a `list` or `get`:
/// operation ids must be unique (OpenAPI 3.1 §4.8.10), or generators and validators refuse the
/// document. Method and path are unique by construction.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let name: Vec<&str> = path
                .split('/')
                .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
                .map(|s| s.trim_start_matches('{').trim_end_matches('}'))
                .collect();
            let name = name.join("_").replace('-', "_");
            let operations = [
                ("get", item.get.as_mut()),
                ("put", item.put.as_mut()),
                ("post", item.post.as_mut()),
                ("delete", item.delete.as_mut()),
                ("patch", item.patch.as_mut()),
                ("head", item.head.as_mut()),
                ("options", item.options.as_mut()),
                ("trace", item.trace.as_mut()),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    operation.operation_id = Some(format!("{method}_{name}"));
                }
            }
        }
    }
}

/// The API's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Kubeworkz hub API",
        description = "Inventory, health and usage of every registered Kubernetes cluster. \
            Errors answer `{\"error\": {\"code\", \"message\", \"request_id\"}}`."),
    paths(
        health::healthz, health::readyz, metrics::prometheus,
        session::login, session::logout, session::me,
        session::create_token, session::list_tokens, session::revoke_token,
        oidc::providers, oidc::login, oidc::callback, oidc_session::refresh,
        oidc_admin::list, oidc_admin::create, oidc_admin::update, oidc_admin::delete,
        oidc_admin::set_group_roles, oidc_admin::set_password_login,
        switches::get, switches::set,
        clusters::register, clusters::list, clusters::get, clusters::update, clusters::delete,
        clusters::sync, clusters::health,
        inventory::cluster_namespaces, inventory::cluster_nodes,
        inventory::namespace_deployments, inventory::namespace_pods,
        inventory::deployment_pods, inventory::deployment, workloads::pod,
        workloads::cluster_workloads, workloads::namespace_workloads, workloads::workload,
        workloads::workload_pods, workloads::cronjob_jobs,
        inventory::helm_releases, pvcs::cluster_pvcs, pvcs::namespace_pvcs,
        quotas::namespace_quotas, quotas::namespace_health, logs::pod_logs, terminal::pod_exec,
        inspect::pod_events, inspect::pod_yaml, inspect::deployment_events,
        inspect::deployment_yaml, inspect::node_events, inspect::node_yaml,
        inspect::namespace_events, inspect::namespace_yaml,
        actions::scale, actions::restart, actions::delete_pod,
        search::search, search_export::export, fleet::fleet,
        usage::cluster_series, usage::namespace_series, usage::pod_series,
        costs::namespace_costs, costs::costs, costs::efficiency, focus::focus, recommendations::list,
        admin::workers, admin::create_enrollment_token, admin::list_enrollment_tokens,
        admin::revoke_enrollment_token, admin::list_users, admin::create_user,
        admin::update_user, admin::delete_user,
        audit::list,
        budgets::list, budgets::create, budgets::update, budgets::delete,
        budgets::settings, budgets::set_settings, alerts::list, alerts::deliveries,
        webhooks::list, webhooks::create, webhooks::update, webhooks::delete,
        webhooks::send_test,
        events::stream,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, costs::Format, inspect::EventView, workloads::WorkloadKind
    )),
    modifiers(&SecuritySchemes, &OperationIds),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

/// `GET /api/v1/docs/openapi.json`.
pub(super) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /api/v1/docs`: lists every operation with its parameters, body and responses.
pub(super) async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    html_security_headers(response.headers_mut(), page_csp().clone());
    response
}

/// The page's policy: its own inline script and style, named by their SHA-256 (nothing
/// else inline runs), and requests to the hub only.
fn page_csp() -> &'static HeaderValue {
    static CSP: OnceLock<HeaderValue> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = |open: &str, close: &str| {
            let start = PAGE.find(open).expect("the page has the element") + open.len();
            let end = start + PAGE[start..].find(close).expect("the element is closed");
            format!(
                "'sha256-{}'",
                STANDARD.encode(Sha256::digest(&PAGE[start..end]))
            )
        };
        let policy = format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash("<script>", "</script>"),
            hash("<style>", "</style>")
        );
        HeaderValue::from_str(&policy).expect("the policy is ASCII")
    })
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kubeworkz hub API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem 2rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font-family:ui-monospace,monospace;font-size:12.5px}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;border-radius:4px}
.m{display:inline-block;min-width:4.2rem;font-weight:600;text-transform:uppercase}
.get{color:#0969da}.post{color:#1a7f37}.patch{color:#9a6700}.delete{color:#cf222e}
</style></head><body>
<h1>Kubeworkz hub API</h1>
<p>Generated from the hub's code: <a href="/api/v1/docs/openapi.json">openapi.json</a> (OpenAPI 3.1).</p>
<div id="ops">Loading…</div>
<script>
fetch('/api/v1/docs/openapi.json').then(r => r.json()).then(doc => {
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ['other'])[0];
      (byTag[tag] = byTag[tag] || []).push({path, method, op});
    }
  }
  const root = document.getElementById('ops');
  root.textContent = '';
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  for (const tag of Object.keys(byTag).sort()) {
    const h = document.createElement('h2'); h.textContent = tag; root.appendChild(h);
    for (const {path, method, op} of byTag[tag]) {
      const d = document.createElement('details');
      const params = (op.parameters || []).map(p =>
        `<li><code>${esc(p.name)}</code> (${esc(p.in)}${p.required ? ', required' : ''}) ${esc(p.description || '')}</li>`).join('');
      const body = op.requestBody ? `<p>Body:</p><pre>${esc(JSON.stringify(op.requestBody.content, null, 2))}</pre>` : '';
      const responses = Object.entries(op.responses || {}).map(([code, r]) =>
        `<li><code>${esc(code)}</code> ${esc(r.description || '')}</li>`).join('');
      d.innerHTML = `<summary><span class="m ${method}">${method}</span> <code>${esc(path)}</code> — ${esc(op.summary || '')}</summary>` +
        `<p>${esc(op.description || '')}</p>` + (params ? `<p>Parameters:</p><ul>${params}</ul>` : '') + body +
        `<p>Responses:</p><ul>${responses}</ul>`;
      root.appendChild(d);
    }
  }
  const s = document.createElement('h2'); s.textContent = 'schemas'; root.appendChild(s);
  const pre = document.createElement('pre');
  pre.textContent = JSON.stringify((doc.components || {}).schemas || {}, null, 2);
  root.appendChild(pre);
}).catch(e => { document.getElementById('ops').textContent = 'cannot load the document: ' + e; });
</script></body></html>
"#;
