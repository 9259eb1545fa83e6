//! The evaluation after each cost run: for every organization, each budget's month against
//! its thresholds, and the newest computed hour of each namespace and cluster against its
//! baseline. What fires is recorded once (the dedup keys), with its deliveries queued.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use super::engine::{
    self, AnomalyRule, BASELINE_DAYS, BudgetMeasure, Crossing, anomaly, crossings, forecast,
    month_bounds,
};
use super::webhook::alert_payload;
use crate::cost::{IDLE_NAMESPACE, NanoDollars};
use crate::store::{
    Alert, AlertKind, Budget, BudgetScope, NewAlert, SpendWindow, Store, StoreError,
};

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvaluationReport {
    /// Organizations looked at.
    pub organizations: usize,
    /// Budgets looked at.
    pub budgets: usize,
    /// Alerts recorded (each with its deliveries queued).
    pub alerts: usize,
}

/// A budget's standing this month, for the API and the evaluation alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStatus {
    /// The budget.
    pub budget: Budget,
    /// The month and its forecast.
    pub month_start: DateTime<Utc>,
    /// Actual, forecast and hours.
    pub forecast: engine::Forecast,
}

/// Each of the organization's budgets with its month so far, as of the costs computed: the
/// month is the one holding the last computed hour; before any hour, the current month with
/// nothing spent.
pub async fn budget_statuses(
    store: &Store,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<BudgetStatus>, StoreError> {
    let budgets = store.budgets(org).await?;
    let until = store.costs_computed_until(org).await?;
    let (start, end) = month_bounds(until.map_or(now, |u| u - TimeDelta::milliseconds(1)));
    let month_hours = (end - start).num_hours().max(1) as u64;
    let elapsed = until.map_or(0, |u| (u.min(end) - start).num_hours().max(0) as u64);
    let kinds: BTreeSet<BudgetScope> = budgets.iter().map(|b| b.scope).collect();
    let mut spend = HashMap::new();
    for kind in kinds {
        let window = SpendWindow { start, end };
        spend.insert(kind, store.scope_spend(org, kind, window).await?);
    }
    Ok(budgets
        .into_iter()
        .map(|budget| {
            let actual = spend
                .get(&budget.scope)
                .and_then(|s| s.0.get(&budget.scope_key))
                .copied()
                .unwrap_or_default();
            BudgetStatus {
                forecast: forecast(actual, elapsed, month_hours),
                month_start: start,
                budget,
            }
        })
        .collect())
}

/// Evaluates every organization; one failing organization does not stop the others (the
/// first error is returned after all ran).
pub async fn evaluate(store: &Store, now: DateTime<Utc>) -> Result<EvaluationReport, StoreError> {
    let mut report = EvaluationReport::default();
    let mut first_error = None;
    for org in store.alert_organizations().await? {
        report.organizations += 1;
        match evaluate_org(store, org, now).await {
            Ok((budgets, alerts)) => {
                report.budgets += budgets;
                report.alerts += alerts.len();
            }
            Err(err) => {
                tracing::warn!(org = %org, error = %err, "alert evaluation failed");
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(report),
    }
}

/// Evaluates one organization at `now`: returns the budgets looked at and the alerts recorded.
pub async fn evaluate_org(
    store: &Store,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<(usize, Vec<Alert>), StoreError> {
    let Some(until) = store.costs_computed_until(org).await? else {
        return Ok((0, Vec::new()));
    };
    let statuses = budget_statuses(store, org, now).await?;
    let mut fired: Vec<NewAlert> = statuses.iter().flat_map(budget_alerts).collect();
    let hour = until - TimeDelta::hours(1);
    let rule = store.anomaly_rule(org).await?;
    fired.extend(anomaly_alerts(store, org, hour, &rule).await?);
    if fired.is_empty() {
        return Ok((statuses.len(), Vec::new()));
    }
    let (month_start, _) = month_bounds(hour);
    let known = store.alert_keys_since(org, month_start.min(hour)).await?;
    fired.retain(|a| !known.contains(&a.dedup_key));
    let recorded = store
        .record_alerts(org, &fired, now, &alert_payload)
        .await?;
    if !recorded.is_empty() {
        tracing::info!(org = %org, alerts = recorded.len(), "cost alerts fired");
    }
    Ok((statuses.len(), recorded))
}

fn budget_alerts(status: &BudgetStatus) -> Vec<NewAlert> {
    let b = &status.budget;
    let month = status.month_start.format("%Y-%m").to_string();
    crossings(&status.forecast, b.amount)
        .into_iter()
        .map(|c: Crossing| {
            let (kind, measure, verb) = match c.measure {
                BudgetMeasure::Actual => (AlertKind::BudgetActual, "actual", "spent"),
                BudgetMeasure::Forecast => (AlertKind::BudgetForecast, "forecast", "forecast"),
            };
            NewAlert {
                dedup_key: format!("budget:{}:{month}:{measure}:{}", b.id, c.threshold_pct),
                kind,
                budget_id: Some(b.id),
                scope_kind: b.scope.as_str().into(),
                scope_key: b.scope_key.clone(),
                period_start: status.month_start,
                threshold_pct: Some(c.threshold_pct),
                value: c.value,
                reference: b.amount,
                message: format!(
                    "Budget {:?} ({} {}): ${} {verb} in {month} reaches {}% of ${}",
                    b.name,
                    b.scope.as_str().replace('_', " "),
                    b.scope_key,
                    c.value,
                    c.threshold_pct,
                    b.amount
                ),
            }
        })
        .collect()
}

/// What an anomaly is judged for: a namespace of a cluster, or a whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum AnomalyKey {
    Namespace(Uuid, String),
    Cluster(Uuid),
}

async fn anomaly_alerts(
    store: &Store,
    org: OrgId,
    hour: DateTime<Utc>,
    rule: &AnomalyRule,
) -> Result<Vec<NewAlert>, StoreError> {
    let hours: Vec<DateTime<Utc>> = (0..=BASELINE_DAYS as i64)
        .map(|d| hour - TimeDelta::days(d))
        .collect();
    let rows = store.hourly_costs(org, &hours).await?;
    // Cost per key and hour; a key has a sample for an hour when it had a row.
    let mut costs: HashMap<AnomalyKey, HashMap<DateTime<Utc>, NanoDollars>> = HashMap::new();
    for ((cluster, namespace, at), cost) in rows {
        *costs
            .entry(AnomalyKey::Cluster(cluster))
            .or_default()
            .entry(at)
            .or_default() += cost;
        if namespace != IDLE_NAMESPACE {
            *costs
                .entry(AnomalyKey::Namespace(cluster, namespace))
                .or_default()
                .entry(at)
                .or_default() += cost;
        }
    }
    let mut keys: Vec<_> = costs.keys().cloned().collect();
    keys.sort();
    let at = hour.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = Vec::new();
    for key in keys {
        let by_hour = &costs[&key];
        let Some(&cost) = by_hour.get(&hour) else {
            continue;
        };
        let history: Vec<NanoDollars> = hours[1..]
            .iter()
            .filter_map(|h| by_hour.get(h).copied())
            .collect();
        let Some(found) = anomaly(cost, &history, rule) else {
            continue;
        };
        let (scope_kind, scope_key, what) = match &key {
            AnomalyKey::Namespace(cluster, ns) => (
                "namespace",
                format!("{cluster}/{ns}"),
                format!("namespace {ns} of cluster {cluster}"),
            ),
            AnomalyKey::Cluster(cluster) => {
                ("cluster", cluster.to_string(), format!("cluster {cluster}"))
            }
        };
        out.push(NewAlert {
            dedup_key: format!("anomaly:{scope_kind}:{scope_key}:{at}"),
            kind: AlertKind::Anomaly,
            budget_id: None,
            scope_kind: scope_kind.into(),
            scope_key,
            period_start: hour,
            threshold_pct: None,
            value: found.cost,
            reference: found.baseline,
            message: format!(
                "Cost anomaly: {what} cost ${} in the hour from {at}, over {}× its baseline \
                 of ${} (median of the same hour on the previous {} days)",
                found.cost,
                rule.factor_milli as f64 / 1000.0,
                found.baseline,
                BASELINE_DAYS
            ),
        });
    }
    Ok(out)
}
