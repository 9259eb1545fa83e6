//! The hub's own Prometheus metrics (`/metrics`): responses by status class, each worker's
//! runs, failures and state, and the event streams. Text exposition format, written by
//! hand: a few counters do not need a metrics library.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

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

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "hub",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub(super) async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
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
    let workers = state.workers.snapshot();
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
    let _ = writeln!(
        out,
        "# HELP kubeworkz_build_info Hub version.\n# TYPE kubeworkz_build_info gauge\n\
         kubeworkz_build_info{{version=\"{}\"}} 1",
        kubeworkz_shared::VERSION
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
