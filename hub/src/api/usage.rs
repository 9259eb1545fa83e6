//! `/api/v1/k8s/metrics/{cluster,namespace}/{id}`: resource usage as a time series, summed
//! from the hourly usage buckets (so steps are whole hours).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use kubeworkz_shared::change::ObjectKind;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery, Principal};
use super::inventory::{own_cluster, own_object};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::UsageHour;

/// Longest window a series may cover.
const MAX_WINDOW: Duration = Duration::from_secs(90 * 86_400);

/// `30m`, `1h`, `7d`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: use e.g. 30m, 1h or 7d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?}: use s, m, h or d"
            ));
        }
    };
    match number.checked_mul(unit) {
        Some(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("invalid duration {text:?}: must be positive")),
    }
}

/// Window and step of a series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// How far back, e.g. `24h` (default), `7d`; at most 90 days.
    pub window: Option<String>,
    /// Point spacing, whole hours, e.g. `1h` (default), `1d`.
    pub step: Option<String>,
}

/// One point: averages over its step.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePoint {
    /// Start of the step.
    pub start: DateTime<Utc>,
    /// Average CPU in use, millicores.
    pub cpu_millicores: u64,
    /// Average memory in use, bytes.
    pub memory_bytes: u64,
    /// Largest memory sample of one container in the step, bytes.
    pub memory_max_bytes: u64,
}

/// A usage series.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSeries {
    /// Step in seconds.
    pub step_seconds: u64,
    /// Points from oldest to newest; steps without data are zero.
    pub points: Vec<UsagePoint>,
}

struct Span {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: TimeDelta,
}

fn span(params: &SeriesParams, now: DateTime<Utc>) -> Result<Span, ApiError> {
    let bad = ApiError::BadRequest;
    let window = parse_duration(params.window.as_deref().unwrap_or("24h")).map_err(bad)?;
    let step = parse_duration(params.step.as_deref().unwrap_or("1h")).map_err(bad)?;
    if window > MAX_WINDOW {
        return Err(bad("window must be at most 90d".into()));
    }
    if step.as_secs() % 3600 != 0 || step > window {
        return Err(bad(
            "step must be whole hours and no longer than the window".into(),
        ));
    }
    let hour = TimeDelta::hours(1);
    let to = now
        .duration_trunc(hour)
        .map_err(|e| ApiError::Internal(e.into()))?
        + hour;
    let step = TimeDelta::from_std(step).map_err(|e| ApiError::Internal(e.into()))?;
    let window = TimeDelta::from_std(window).map_err(|e| ApiError::Internal(e.into()))?;
    let steps = (window.num_seconds() + step.num_seconds() - 1) / step.num_seconds();
    Ok(Span {
        from: to - step * steps as i32,
        to,
        step,
    })
}

fn series(span: &Span, hours: &[UsageHour]) -> UsageSeries {
    let step_secs = span.step.num_seconds().max(1);
    let mut points = Vec::new();
    let mut start = span.from;
    while start < span.to {
        let end = start + span.step;
        let inside = hours
            .iter()
            .filter(|h| h.hour_start >= start && h.hour_start < end);
        let (mut cpu, mut memory, mut max) = (0u64, 0u64, 0u64);
        for h in inside {
            cpu = cpu.saturating_add(h.cpu_millicore_seconds);
            memory = memory.saturating_add(h.memory_byte_seconds);
            max = max.max(h.memory_max_bytes);
        }
        points.push(UsagePoint {
            start,
            cpu_millicores: cpu / step_secs as u64,
            memory_bytes: memory / step_secs as u64,
            memory_max_bytes: max,
        });
        start = end;
    }
    UsageSeries {
        step_seconds: step_secs as u64,
        points,
    }
}

/// `GET /api/v1/k8s/metrics/cluster/{id}`.
#[utoipa::path(get, path = "/api/v1/k8s/metrics/cluster/{id}", tag = "metrics",
    params(("id" = String, Path, description = "Cluster id"), SeriesParams),
    responses((status = 200, body = UsageSeries), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cluster_series(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<SeriesParams>,
) -> Result<Json<UsageSeries>, ApiError> {
    let cluster = own_cluster(&state, &who, &id).await?;
    let span = span(&params, Utc::now())?;
    let hours = state
        .store
        .usage_series(who.org_id, cluster, None, span.from, span.to)
        .await?;
    Ok(Json(series(&span, &hours)))
}

/// `GET /api/v1/k8s/metrics/namespace/{id}`.
#[utoipa::path(get, path = "/api/v1/k8s/metrics/namespace/{id}", tag = "metrics",
    params(("id" = String, Path, description = "Namespace uid"), SeriesParams),
    responses((status = 200, body = UsageSeries), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn namespace_series(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<SeriesParams>,
) -> Result<Json<UsageSeries>, ApiError> {
    let namespace = own_object(&state, &who, ObjectKind::Namespace, &id).await?;
    let span = span(&params, Utc::now())?;
    let hours = state
        .store
        .usage_series(
            who.org_id,
            namespace.cluster_id,
            Some(&namespace.name),
            span.from,
            span.to,
        )
        .await?;
    Ok(Json(series(&span, &hours)))
}

/// `GET /api/v1/k8s/pods/{id}/usage`: the pod's usage (all its containers) per step; the
/// pod page shows its average and peak.
#[utoipa::path(get, path = "/api/v1/k8s/pods/{id}/usage", tag = "metrics",
    params(("id" = String, Path, description = "Pod uid"), SeriesParams),
    responses((status = 200, body = UsageSeries), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn pod_series(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<SeriesParams>,
) -> Result<Json<UsageSeries>, ApiError> {
    let pod = own_object(&state, &who, ObjectKind::Pod, &id).await?;
    let span = span(&params, Utc::now())?;
    let hours = state
        .store
        .pod_usage_series(
            who.org_id,
            pod.cluster_id,
            &pod.namespace,
            &pod.name,
            span.from,
            span.to,
        )
        .await?;
    Ok(Json(series(&span, &hours)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("3w").is_err());
    }

    #[test]
    fn hours_are_summed_into_steps_and_averaged() {
        let now = "2026-01-01T10:30:00Z".parse::<DateTime<Utc>>().unwrap();
        let params = SeriesParams {
            window: Some("4h".into()),
            step: Some("2h".into()),
        };
        let span = span(&params, now).unwrap();
        assert_eq!(
            span.to,
            "2026-01-01T11:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let hour = |h: &str, cpu| UsageHour {
            hour_start: h.parse().unwrap(),
            cpu_millicore_seconds: cpu,
            memory_byte_seconds: 7200,
            memory_max_bytes: cpu,
        };
        let s = series(
            &span,
            &[
                hour("2026-01-01T07:00:00Z", 7200),
                hour("2026-01-01T08:00:00Z", 14400),
            ],
        );
        assert_eq!(s.points.len(), 2);
        assert_eq!(s.points[0].cpu_millicores, 3);
        assert_eq!(s.points[0].memory_bytes, 2);
        assert_eq!(s.points[0].memory_max_bytes, 14400);
        assert_eq!(s.points[1].cpu_millicores, 0);
    }
}
