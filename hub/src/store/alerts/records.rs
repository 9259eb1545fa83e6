//! Alerts: recorded once per dedup key with a delivery queued for each enabled endpoint in
//! the same transaction (so an alert is never recorded without its deliveries, nor sent
//! twice), the history page, the hourly costs the anomaly check reads, and the
//! organization's anomaly rule.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;
use uuid::Uuid;

use super::super::sql::paging::{Filter, PageRequest, Paged, Total};
use super::super::sql::{Cells, Sql, Ty, Value, parse_uuid};
use super::super::{Store, StoreError, in_tx, on_conn};
use super::webhooks::{enabled_endpoints, queue_delivery};
use super::{Alert, AlertKind, WebhookFormat, from_nanos, nanos, opt_id, opt_id_ph};
use crate::alerts::engine::AnomalyRule;
use crate::cost::NanoDollars;

/// An alert to record (the store gives it its id and time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Unique per organization: a second alert with the key is not recorded.
    pub dedup_key: String,
    /// Kind.
    pub kind: AlertKind,
    /// The budget, for budget alerts.
    pub budget_id: Option<Uuid>,
    /// Scope kind.
    pub scope_kind: String,
    /// Scope key.
    pub scope_key: String,
    /// The month or hour.
    pub period_start: DateTime<Utc>,
    /// 80 or 100, for budget alerts.
    pub threshold_pct: Option<u32>,
    /// The value that fired.
    pub value: NanoDollars,
    /// The amount or baseline it is compared with.
    pub reference: NanoDollars,
    /// One line for people.
    pub message: String,
}

/// Filters of the alert history; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// One budget's alerts.
    pub budget_id: Option<Uuid>,
    /// One kind.
    pub kind: Option<AlertKind>,
    /// Continue after this alert (`created_at`, id: the last of the previous page).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// Cost per (cluster, namespace, hour start), as the anomaly check reads it.
pub type HourlyCosts = HashMap<(Uuid, String, DateTime<Utc>), NanoDollars>;

/// Renders an alert's payload for an endpoint's format.
pub type Render<'a> = &'a (dyn Fn(&Alert, WebhookFormat) -> String + Send + Sync);

const ALERT_COLUMNS: &str = "dedup_key, kind, scope_kind, scope_key, period_start, \
    threshold_pct, value_nanos, reference_nanos, message, created_at";

const ALERT_TYPES: [Ty; 12] = [
    Ty::Text,
    Ty::OptText,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Time,
    Ty::OptI64,
    Ty::I64,
    Ty::I64,
    Ty::Text,
    Ty::Time,
];

fn alert_from(org: OrgId, row: Vec<Value>) -> Result<Alert, StoreError> {
    let mut c = Cells::new(row);
    let id = c.uuid()?;
    let budget_id = c.opt_text()?.map(|t| parse_uuid(&t)).transpose()?;
    let dedup_key = c.text()?;
    let kind = c.text()?;
    Ok(Alert {
        id,
        org_id: org,
        dedup_key,
        kind: AlertKind::parse(&kind)
            .ok_or_else(|| super::super::sql::decode_error("unknown alert kind"))?,
        budget_id,
        scope_kind: c.text()?,
        scope_key: c.text()?,
        period_start: c.time()?,
        threshold_pct: c.opt_i64()?.map(|p| p.clamp(0, 1000) as u32),
        value: from_nanos(c.i64()?),
        reference: from_nanos(c.i64()?),
        message: c.text()?,
        created_at: c.time()?,
    })
}

async fn insert_alert(
    db: &mut dyn Sql,
    org: OrgId,
    new: &NewAlert,
    now: DateTime<Utc>,
) -> Result<Option<Alert>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "INSERT INTO cost_alerts (id, org_id, budget_id, {ALERT_COLUMNS}) VALUES ({}, {}, {}, \
         {}) ON CONFLICT (org_id, dedup_key) DO NOTHING",
        d.ph(1),
        d.ph(2),
        opt_id_ph(d, 3),
        (4..=13).map(|n| d.ph(n)).collect::<Vec<_>>().join(", ")
    );
    let alert = Alert {
        id: Uuid::now_v7(),
        org_id: org,
        dedup_key: new.dedup_key.clone(),
        kind: new.kind,
        budget_id: new.budget_id,
        scope_kind: new.scope_kind.clone(),
        scope_key: new.scope_key.clone(),
        period_start: new.period_start.trunc_subsecs(6),
        threshold_pct: new.threshold_pct,
        value: new.value,
        reference: new.reference,
        message: new.message.clone(),
        created_at: now,
    };
    let budget = opt_id(alert.budget_id);
    let inserted = db
        .execute(
            &sql,
            vec![
                Value::Id(alert.id),
                Value::Id(*org.as_uuid()),
                budget,
                Value::Text(alert.dedup_key.clone()),
                Value::Text(alert.kind.as_str().into()),
                Value::Text(alert.scope_kind.clone()),
                Value::Text(alert.scope_key.clone()),
                Value::Time(alert.period_start),
                Value::OptI64(alert.threshold_pct.map(i64::from)),
                Value::I64(nanos(alert.value)),
                Value::I64(nanos(alert.reference)),
                Value::Text(alert.message.clone()),
                Value::Time(alert.created_at),
            ],
        )
        .await?;
    Ok((inserted == 1).then_some(alert))
}

impl Store {
    /// Records the alerts whose dedup key the organization has not seen, each with a
    /// delivery (its body rendered by `render`) queued for every enabled endpoint; returns
    /// the alerts recorded.
    #[instrument(skip_all)]
    pub async fn record_alerts(
        &self,
        org: OrgId,
        alerts: &[NewAlert],
        now: DateTime<Utc>,
        render: Render<'_>,
    ) -> Result<Vec<Alert>, StoreError> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let now = now.trunc_subsecs(6);
        in_tx!(self, |db| async {
            let endpoints = enabled_endpoints(db, org).await?;
            let mut recorded = Vec::new();
            for new in alerts {
                let Some(alert) = insert_alert(db, org, new, now).await? else {
                    continue;
                };
                for endpoint in &endpoints {
                    let body = render(&alert, endpoint.format);
                    queue_delivery(
                        db,
                        org,
                        endpoint.id,
                        Some(alert.id),
                        ("alert", &body),
                        (now, now),
                    )
                    .await?;
                }
                recorded.push(alert);
            }
            Ok(recorded)
        })
    }

    /// The dedup keys of the organization's alerts about periods from `since` on: what the
    /// evaluation need not record again.
    #[instrument(skip_all)]
    pub async fn alert_keys_since(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
    ) -> Result<HashSet<String>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT dedup_key FROM cost_alerts WHERE org_id = {} AND period_start >= {}",
                d.ph(1),
                d.ph(2)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid()), Value::Time(since)],
                    &[Ty::Text],
                )
                .await?;
            rows.into_iter()
                .map(|row| Ok(Cells::new(row).text()?))
                .collect()
        })
    }

    /// A page of the organization's alerts, newest first.
    #[instrument(skip_all)]
    pub async fn alert_page(
        &self,
        org: OrgId,
        filter_values: &AlertFilter,
        page: PageRequest,
    ) -> Result<Paged<Alert>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut filter = Filter::new(d, "org_id", Value::Id(*org.as_uuid()));
            if let Some(budget) = filter_values.budget_id {
                filter.bind(Value::Id(budget), |p| format!("budget_id = {p}"));
            }
            if let Some(kind) = filter_values.kind {
                filter.bind(Value::Text(kind.as_str().into()), |p| format!("kind = {p}"));
            }
            if let Some((at, id)) = filter_values.after {
                filter.seek("created_at, id", vec![Value::Time(at), Value::Id(id)], true);
            }
            let columns = format!("{}, {}, {ALERT_COLUMNS}", d.text("id"), d.text("budget_id"));
            let (rows, total) = filter
                .fetch_page(
                    db,
                    ("cost_alerts", &columns, "created_at DESC, id DESC"),
                    page,
                    &ALERT_TYPES,
                    Total::InPage,
                )
                .await?;
            let items = rows
                .into_iter()
                .map(|row| alert_from(org, row))
                .collect::<Result<_, _>>()?;
            Ok(Paged { items, total })
        })
    }

    /// One alert of the organization.
    #[instrument(skip_all)]
    pub async fn alert(&self, org: OrgId, id: Uuid) -> Result<Option<Alert>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, {}, {ALERT_COLUMNS} FROM cost_alerts WHERE org_id = {} AND id = {}",
                d.text("id"),
                d.text("budget_id"),
                d.ph(1),
                d.ph(2)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid()), Value::Id(id)],
                    &ALERT_TYPES,
                )
                .await?;
            rows.into_iter()
                .next()
                .map(|row| alert_from(org, row))
                .transpose()
        })
    }

    /// The organization's hourly cost per cluster and namespace (idle included) in each of
    /// `hours`: what the anomaly check compares.
    #[instrument(skip_all)]
    pub async fn hourly_costs(
        &self,
        org: OrgId,
        hours: &[DateTime<Utc>],
    ) -> Result<HourlyCosts, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let list = (2..hours.len() + 2)
                .map(|n| d.ph(n))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {}, namespace, period_start, total_cost_nanos FROM k8s_cost_attribution \
                 WHERE org_id = {} AND period = 'hour' AND period_start IN ({list})",
                d.text("cluster_id"),
                d.ph(1)
            );
            let mut args = vec![Value::Id(*org.as_uuid())];
            args.extend(hours.iter().map(|h| Value::Time(*h)));
            let rows = db
                .fetch(&sql, args, &[Ty::Text, Ty::Text, Ty::Time, Ty::I64])
                .await?;
            let mut out = HourlyCosts::with_capacity(rows.len());
            for row in rows {
                let mut c = Cells::new(row);
                let key = (c.uuid()?, c.text()?, c.time()?);
                *out.entry(key).or_default() += from_nanos(c.i64()?);
            }
            Ok(out)
        })
    }

    /// The organization's anomaly rule (the defaults until an admin sets one).
    #[instrument(skip_all)]
    pub async fn anomaly_rule(&self, org: OrgId) -> Result<AnomalyRule, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT anomaly_factor_milli, anomaly_min_nanos FROM cost_alert_settings \
                 WHERE org_id = {}",
                d.ph(1)
            );
            let rows = db
                .fetch(&sql, vec![Value::Id(*org.as_uuid())], &[Ty::I64, Ty::I64])
                .await?;
            Ok(match rows.into_iter().next() {
                Some(row) => {
                    let mut c = Cells::new(row);
                    AnomalyRule {
                        factor_milli: u64::try_from(c.i64()?).unwrap_or(2000),
                        min_cost: from_nanos(c.i64()?),
                    }
                }
                None => AnomalyRule::default(),
            })
        })
    }

    /// Sets the organization's anomaly rule (the factor must be above 1×: 1001 or more).
    #[instrument(skip_all)]
    pub async fn set_anomaly_rule(
        &self,
        org: OrgId,
        rule: &AnomalyRule,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO cost_alert_settings (org_id, anomaly_factor_milli, \
                 anomaly_min_nanos, updated_at) VALUES ({}, {}, {}, {}) ON CONFLICT (org_id) \
                 DO UPDATE SET anomaly_factor_milli = excluded.anomaly_factor_milli, \
                 anomaly_min_nanos = excluded.anomaly_min_nanos, updated_at = excluded.updated_at",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4)
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(*org.as_uuid()),
                    Value::I64(i64::try_from(rule.factor_milli).unwrap_or(i64::MAX)),
                    Value::I64(nanos(rule.min_cost)),
                    Value::Time(now.trunc_subsecs(6)),
                ],
            )
            .await?;
            Ok(())
        })
    }
}
