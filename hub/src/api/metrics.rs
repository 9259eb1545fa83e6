//! The hub's own Prometheus metrics (`/metrics`): responses by status class, the hub's own
//! workers' runs, failures and state, pull collectors as counts, and the event streams.
//! Text exposition format, written by hand: a few counters do not need a metrics library.
//!
//! Nothing here names an organization or a cluster, except the cost series that
//! `--metrics-costs` turns on (the last complete hour's cost per cluster and namespace,
//! refreshed by the cost run): the endpoint answers anyone who can reach it unless
//! `--metrics-token` is set, and then a bearer token it compares in constant time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::cost::{CostSnapshot, MAX_NAMESPACE_SERIES, dollars};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Response counters by status class.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    by_class: [AtomicU64; 5],
    rate_limited: AtomicU64,
}

impl ApiMetrics {
    /// Counts one response.
    pub fn record(&self, status: StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The cost series of `costs` in the exposition format, dollars as exact decimals.
fn write_costs(out: &mut String, costs: &CostSnapshot) {
    let _ = writeln!(
        out,
        "# HELP kubeworkz_cost_hourly_dollars Cost of the last complete hour per cluster and \
         namespace (idle capacity as namespace __idle__), USD.\n\
         # TYPE kubeworkz_cost_hourly_dollars gauge"
    );
    for (cluster, namespace, cost) in &costs.namespaces {
        let _ = writeln!(
            out,
            "kubeworkz_cost_hourly_dollars{{cluster=\"{}\",namespace=\"{}\"}} {}",
            escape(cluster),
            escape(namespace),
            dollars(*cost)
        );
    }
    let _ = writeln!(
        out,
        "# HELP kubeworkz_cluster_cost_hourly_dollars Cost of the last complete hour per \
         cluster (its namespaces and idle capacity), USD.\n\
         # TYPE kubeworkz_cluster_cost_hourly_dollars gauge"
    );
    for (cluster, cost) in &costs.clusters {
        let _ = writeln!(
            out,
            "kubeworkz_cluster_cost_hourly_dollars{{cluster=\"{}\"}} {}",
            escape(cluster),
            dollars(*cost)
        );
    }
    let _ = writeln!(
        out,
        "# HELP kubeworkz_cost_hour_start_seconds Start of the hour the cost series report.\n\
         # TYPE kubeworkz_cost_hour_start_seconds gauge\n\
         kubeworkz_cost_hour_start_seconds {}\n\
         # HELP kubeworkz_cost_series_dropped Namespace series left out (the cheapest) by the \
         cap of {MAX_NAMESPACE_SERIES}.\n\
         # TYPE kubeworkz_cost_series_dropped gauge\n\
         kubeworkz_cost_series_dropped {}",
        costs.hour_start.0 / 1000,
        costs.dropped
    );
}

/// Whether `headers` carry `Authorization: Bearer <expected>`. Both sides are hashed
/// first, so the comparison takes the same time whatever the lengths.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|token| !token.is_empty())
    else {
        return false;
    };
    bool::from(Sha256::digest(presented).ct_eq(&Sha256::digest(expected)))
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "hub",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
        (status = 401, body = ErrorBody, description = "`--metrics-token` is set and the \
            request lacks `Authorization: Bearer <token>`")))]
pub(super) async fn prometheus(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = &state.settings.metrics_token
        && !bearer_matches(&headers, token.expose())
    {
        return Err(ApiError::Unauthorized);
    }
    let mut out = String::new();
    let m = &state.metrics;
    out.push_str("# HELP kubeworkz_http_responses_total API responses by status class.\n");
    out.push_str("# TYPE kubeworkz_http_responses_total counter\n");
    for (i, counter) in m.by_class.iter().enumerate() {
        let _ = writeln!(
            out,
            "kubeworkz_http_responses_total{{class=\"{}xx\"}} {}",
            i + 1,
            counter.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP kubeworkz_http_rate_limited_total Requests refused with 429.\n");
    out.push_str("# TYPE kubeworkz_http_rate_limited_total counter\n");
    let _ = writeln!(
        out,
        "kubeworkz_http_rate_limited_total {}",
        m.rate_limited.load(Ordering::Relaxed)
    );
    // Organizations' workers (pull collectors) are named after their clusters: counted only.
    let (workers, collectors): (Vec<_>, Vec<_>) = state
        .workers
        .snapshot()
        .into_iter()
        .partition(|w| w.org_id.is_none());
    for (name, help, kind) in [
        (
            "kubeworkz_worker_runs_total",
            "Completed worker rounds.",
            "counter",
        ),
        (
            "kubeworkz_worker_failures_total",
            "Failed worker rounds.",
            "counter",
        ),
        (
            "kubeworkz_worker_running",
            "1 while the worker runs.",
            "gauge",
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for w in &workers {
            let value = match kind {
                "gauge" => u64::from(w.running),
                _ if name.contains("failures") => w.failures,
                _ => w.runs,
            };
            let _ = writeln!(out, "{name}{{worker=\"{}\"}} {value}", escape(&w.name));
        }
    }
    let running = collectors.iter().filter(|w| w.running).count();
    let failing = collectors.iter().filter(|w| w.last_error.is_some()).count();
    let _ = writeln!(
        out,
        "# HELP kubeworkz_pull_collectors Pull-mode collectors by state.\n\
         # TYPE kubeworkz_pull_collectors gauge\n\
         kubeworkz_pull_collectors{{state=\"running\"}} {running}\n\
         kubeworkz_pull_collectors{{state=\"stopped\"}} {}\n\
         # HELP kubeworkz_pull_collectors_failing Pull-mode collectors whose last round failed.\n\
         # TYPE kubeworkz_pull_collectors_failing gauge\n\
         kubeworkz_pull_collectors_failing {failing}",
        collectors.len() - running
    );
    let _ = writeln!(
        out,
        "# HELP kubeworkz_event_streams Open event streams.\n\
         # TYPE kubeworkz_event_streams gauge\n\
         kubeworkz_event_streams {}\n\
         # HELP kubeworkz_event_pollers Cluster pollers feeding event streams (one per organization watching).\n\
         # TYPE kubeworkz_event_pollers gauge\n\
         kubeworkz_event_pollers {}",
        state.events.streams(),
        state.events.pollers()
    );
    if let Some(costs) = state.cost_gauges.snapshot() {
        write_costs(&mut out, &costs);
    }
    let _ = writeln!(
        out,
        "# HELP kubeworkz_build_info Hub version.\n# TYPE kubeworkz_build_info gauge\n\
         kubeworkz_build_info{{version=\"{}\"}} 1",
        kubeworkz_shared::VERSION
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
