//! Webhook endpoints and the persisted delivery queue: a delivery is a row until it is
//! delivered or given up, so a hub restart resumes every pending one at its next attempt;
//! every attempt is a row of its own.

use chrono::{DateTime, SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;
use uuid::Uuid;

use super::super::sql::{Cells, Sql, Ty, Value};
use super::super::{Store, StoreError, in_tx, on_conn};
use super::{
    Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint, WebhookFormat, delete_owned,
    opt_id, opt_id_ph,
};

/// A delivery due for an attempt, with what sending it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// Where to POST.
    pub url: String,
    /// The endpoint's sealed secret.
    pub secret_sealed: Vec<u8>,
    /// False once the endpoint was disabled: the delivery is given up.
    pub enabled: bool,
    /// `alert` or `test`.
    pub event: String,
    /// The payload.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// The result of one attempt, and what becomes of the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// When it started.
    pub at: DateTime<Utc>,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// Delivered, retried at this time (`Pending`), or given up.
    pub status: DeliveryStatus,
    /// The next attempt, when pending.
    pub next_attempt_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str = "name, url, format, secret_sealed, enabled, created_at, updated_at";

fn endpoint_from(org: OrgId, row: Vec<Value>) -> Result<WebhookEndpoint, StoreError> {
    let mut c = Cells::new(row);
    let id = c.uuid()?;
    let name = c.text()?;
    let url = c.text()?;
    let format = c.text()?;
    Ok(WebhookEndpoint {
        id,
        org_id: org,
        name,
        url,
        format: WebhookFormat::parse(&format)
            .ok_or_else(|| super::super::sql::decode_error("unknown webhook format"))?,
        secret_sealed: c.opt_bytes()?.unwrap_or_default(),
        enabled: c.bool()?,
        created_at: c.time()?,
        updated_at: c.time()?,
    })
}

const ENDPOINT_TYPES: [Ty; 8] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::OptBytes,
    Ty::Bool,
    Ty::Time,
    Ty::Time,
];

async fn endpoints_where(
    db: &mut dyn Sql,
    org: OrgId,
    condition: &str,
    extra: Vec<Value>,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {}, {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = {}{condition} \
         ORDER BY name",
        d.text("id"),
        d.ph(1)
    );
    let mut args = vec![Value::Id(*org.as_uuid())];
    args.extend(extra);
    let rows = db.fetch(&sql, args, &ENDPOINT_TYPES).await?;
    rows.into_iter().map(|r| endpoint_from(org, r)).collect()
}

/// The organization's enabled endpoints.
pub(super) async fn enabled_endpoints(
    db: &mut dyn Sql,
    org: OrgId,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    endpoints_where(db, org, " AND enabled = TRUE", vec![]).await
}

/// Queues one delivery, due at `due`.
pub(super) async fn queue_delivery(
    db: &mut dyn Sql,
    org: OrgId,
    endpoint: Uuid,
    alert: Option<Uuid>,
    (event, body): (&str, &str),
    (now, due): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Uuid, StoreError> {
    let d = db.dialect();
    let id = Uuid::now_v7();
    let sql = format!(
        "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, alert_id, event, body, status, \
         attempts, next_attempt_at, created_at) VALUES ({}, {}, {}, {}, {}, {}, 'pending', 0, \
         {}, {})",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        opt_id_ph(d, 4),
        d.ph(5),
        d.ph(6),
        d.ph(7),
        d.ph(8)
    );
    db.execute(
        &sql,
        vec![
            Value::Id(id),
            Value::Id(*org.as_uuid()),
            Value::Id(endpoint),
            opt_id(alert),
            Value::Text(event.into()),
            Value::Text(body.into()),
            Value::Time(due.trunc_subsecs(6)),
            Value::Time(now.trunc_subsecs(6)),
        ],
    )
    .await?;
    Ok(id)
}

impl Store {
    /// Adds an endpoint; [`StoreError::Conflict`] when its name is taken.
    #[instrument(skip_all)]
    pub async fn create_webhook(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let cond = format!(" AND name = {}", d.ph(2));
            let same =
                endpoints_where(db, e.org_id, &cond, vec![Value::Text(e.name.clone())]).await?;
            if !same.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "a webhook named {:?} already exists",
                    e.name
                )));
            }
            let sql = format!(
                "INSERT INTO webhook_endpoints (id, org_id, {ENDPOINT_COLUMNS}) VALUES ({})",
                (1..=9).map(|n| d.ph(n)).collect::<Vec<_>>().join(", ")
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(e.id),
                    Value::Id(*e.org_id.as_uuid()),
                    Value::Text(e.name.clone()),
                    Value::Text(e.url.clone()),
                    Value::Text(e.format.as_str().into()),
                    Value::Bytes(e.secret_sealed.clone()),
                    Value::Bool(e.enabled),
                    Value::Time(e.created_at.trunc_subsecs(6)),
                    Value::Time(e.updated_at.trunc_subsecs(6)),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Replaces an endpoint's name, URL, format and switch (never its secret); false when
    /// the organization has no such endpoint.
    #[instrument(skip_all)]
    pub async fn update_webhook(&self, e: &WebhookEndpoint) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let cond = format!(" AND name = {} AND id <> {}", d.ph(2), d.ph(3));
            let same = endpoints_where(
                db,
                e.org_id,
                &cond,
                vec![Value::Text(e.name.clone()), Value::Id(e.id)],
            )
            .await?;
            if !same.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "a webhook named {:?} already exists",
                    e.name
                )));
            }
            let sql = format!(
                "UPDATE webhook_endpoints SET name = {}, url = {}, format = {}, enabled = {}, \
                 updated_at = {} WHERE org_id = {} AND id = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6),
                d.ph(7)
            );
            let n = db
                .execute(
                    &sql,
                    vec![
                        Value::Text(e.name.clone()),
                        Value::Text(e.url.clone()),
                        Value::Text(e.format.as_str().into()),
                        Value::Bool(e.enabled),
                        Value::Time(e.updated_at.trunc_subsecs(6)),
                        Value::Id(*e.org_id.as_uuid()),
                        Value::Id(e.id),
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    /// Deletes an endpoint and (by cascade) its deliveries; false when the organization has no such
    /// endpoint.
    #[instrument(skip_all)]
    pub async fn delete_webhook(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            delete_owned(db, "webhook_endpoints", org, id).await
        })
    }

    /// The organization's endpoints, by name.
    #[instrument(skip_all)]
    pub async fn webhooks(&self, org: OrgId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        on_conn!(self, |db| async {
            endpoints_where(db, org, "", vec![]).await
        })
    }

    /// One endpoint of the organization.
    #[instrument(skip_all)]
    pub async fn webhook(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        on_conn!(self, |db| async {
            let cond = format!(" AND id = {}", db.dialect().ph(2));
            let found = endpoints_where(db, org, &cond, vec![Value::Id(id)]).await?;
            Ok(found.into_iter().next())
        })
    }

    /// Queues a delivery to one endpoint outside any alert (the "send test" button), held
    /// from the sender until `held_until` so that only the caller, who delivers it at once,
    /// sends it.
    #[instrument(skip_all)]
    pub async fn queue_webhook_test(
        &self,
        org: OrgId,
        endpoint: Uuid,
        body: &str,
        (now, held_until): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Uuid, StoreError> {
        in_tx!(self, |db| async {
            queue_delivery(db, org, endpoint, None, ("test", body), (now, held_until)).await
        })
    }

    /// Pending deliveries due at `now`, oldest due first, at most `limit`; `only` narrows
    /// them to one delivery (a test send).
    #[instrument(skip_all)]
    pub async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        only: Option<Uuid>,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut args = vec![Value::Time(now), Value::I64(i64::from(limit))];
            let only_clause = match only {
                Some(id) => {
                    args.push(Value::Id(id));
                    format!(" AND w.id = {}", d.ph(3))
                }
                None => String::new(),
            };
            let sql = format!(
                "SELECT {}, {}, {}, e.url, e.secret_sealed, e.enabled, w.event, w.body, \
                 w.attempts FROM webhook_deliveries w JOIN webhook_endpoints e ON e.id = \
                 w.endpoint_id WHERE w.status = 'pending' AND w.next_attempt_at <= {}{only_clause} \
                 ORDER BY w.next_attempt_at, w.id LIMIT {}",
                d.text("w.id"),
                d.text("w.org_id"),
                d.text("w.endpoint_id"),
                d.ph(1),
                d.ph(2)
            );
            let rows = db
                .fetch(
                    &sql,
                    args,
                    &[
                        Ty::Text,
                        Ty::Text,
                        Ty::Text,
                        Ty::Text,
                        Ty::OptBytes,
                        Ty::Bool,
                        Ty::Text,
                        Ty::Text,
                        Ty::I64,
                    ],
                )
                .await?;
            rows.into_iter()
                .map(|row| {
                    let mut c = Cells::new(row);
                    Ok(DueDelivery {
                        id: c.uuid()?,
                        org_id: OrgId::from_uuid(c.uuid()?),
                        endpoint_id: c.uuid()?,
                        url: c.text()?,
                        secret_sealed: c.opt_bytes()?.unwrap_or_default(),
                        enabled: c.bool()?,
                        event: c.text()?,
                        body: c.text()?,
                        attempts: u32::try_from(c.i64()?).unwrap_or(0),
                    })
                })
                .collect()
        })
    }

    /// Records one attempt of a delivery and moves the delivery on as `outcome` says.
    #[instrument(skip_all)]
    pub async fn record_delivery_attempt(
        &self,
        delivery: Uuid,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, \
                 duration_ms) VALUES ({}, {}, {}, {}, {}, {})",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                d.ph(6)
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(delivery),
                    Value::I64(i64::from(outcome.attempt)),
                    Value::Time(outcome.at.trunc_subsecs(6)),
                    Value::OptI64(outcome.status_code.map(i64::from)),
                    Value::OptText(outcome.error.clone()),
                    Value::I64(i64::try_from(outcome.duration_ms).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
            let finished = (outcome.status != DeliveryStatus::Pending).then_some(outcome.at);
            let sql = format!(
                "UPDATE webhook_deliveries SET status = {}, attempts = {}, next_attempt_at = {}, \
                 finished_at = {} WHERE id = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5)
            );
            db.execute(
                &sql,
                vec![
                    Value::Text(outcome.status.as_str().into()),
                    Value::I64(i64::from(outcome.attempt)),
                    Value::Time(outcome.next_attempt_at.trunc_subsecs(6)),
                    Value::OptTime(finished.map(|t| t.trunc_subsecs(6))),
                    Value::Id(delivery),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// The deliveries of one alert of the organization, or of one delivery (`delivery`),
    /// each with its attempts.
    #[instrument(skip_all)]
    pub async fn deliveries(
        &self,
        org: OrgId,
        alert: Option<Uuid>,
        delivery: Option<Uuid>,
    ) -> Result<Vec<Delivery>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut args = vec![Value::Id(*org.as_uuid())];
            let mut cond = String::new();
            if let Some(alert) = alert {
                args.push(Value::Id(alert));
                cond.push_str(&format!(" AND w.alert_id = {}", d.ph(args.len())));
            }
            if let Some(delivery) = delivery {
                args.push(Value::Id(delivery));
                cond.push_str(&format!(" AND w.id = {}", d.ph(args.len())));
            }
            let sql = format!(
                "SELECT {}, {}, e.name, {}, w.event, w.status, w.attempts, w.next_attempt_at, \
                 w.created_at, w.finished_at FROM webhook_deliveries w JOIN webhook_endpoints e \
                 ON e.id = w.endpoint_id WHERE w.org_id = {}{cond} ORDER BY e.name, w.id",
                d.text("w.id"),
                d.text("w.endpoint_id"),
                d.text("w.alert_id"),
                d.ph(1)
            );
            let rows = db
                .fetch(
                    &sql,
                    args,
                    &[
                        Ty::Text,
                        Ty::Text,
                        Ty::Text,
                        Ty::OptText,
                        Ty::Text,
                        Ty::Text,
                        Ty::I64,
                        Ty::Time,
                        Ty::Time,
                        Ty::OptTime,
                    ],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut c = Cells::new(row);
                let id = c.uuid()?;
                let endpoint_id = c.uuid()?;
                let endpoint_name = c.text()?;
                let alert_id = c
                    .opt_text()?
                    .map(|t| super::super::sql::parse_uuid(&t))
                    .transpose()?;
                out.push(Delivery {
                    id,
                    endpoint_id,
                    endpoint_name,
                    alert_id,
                    event: c.text()?,
                    status: DeliveryStatus::parse(&c.text()?),
                    attempts: u32::try_from(c.i64()?).unwrap_or(0),
                    next_attempt_at: c.time()?,
                    created_at: c.time()?,
                    finished_at: c.opt_time()?,
                    attempt_log: Vec::new(),
                });
            }
            for delivery in &mut out {
                delivery.attempt_log = attempts(db, delivery.id).await?;
            }
            Ok(out)
        })
    }
}

/// An endpoint's newest delivery, for the webhooks list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastDelivery {
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// `alert` or `test`.
    pub event: String,
    /// Status.
    pub status: DeliveryStatus,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The newest delivery of each endpoint of the organization that has one: what the
    /// webhooks list shows beside each endpoint, in one query however many there are.
    #[instrument(skip_all)]
    pub async fn last_deliveries(&self, org: OrgId) -> Result<Vec<LastDelivery>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, w.event, w.status, w.created_at, w.finished_at \
                 FROM webhook_deliveries w JOIN webhook_endpoints e ON e.id = w.endpoint_id \
                 WHERE w.org_id = {} AND e.org_id = w.org_id AND w.created_at = \
                 (SELECT max(x.created_at) FROM webhook_deliveries x \
                 WHERE x.endpoint_id = w.endpoint_id) ORDER BY w.endpoint_id, w.id",
                d.text("w.endpoint_id"),
                d.ph(1)
            );
            let types = [Ty::Text, Ty::Text, Ty::Text, Ty::Time, Ty::OptTime];
            let rows = db
                .fetch(&sql, vec![Value::Id(*org.as_uuid())], &types)
                .await?;
            let mut out: Vec<LastDelivery> = Vec::with_capacity(rows.len());
            for row in rows {
                let mut c = Cells::new(row);
                let last = LastDelivery {
                    endpoint_id: c.uuid()?,
                    event: c.text()?,
                    status: DeliveryStatus::parse(&c.text()?),
                    created_at: c.time()?,
                    finished_at: c.opt_time()?,
                };
                // Two deliveries queued in the same instant: one is enough.
                if out.last().is_none_or(|l| l.endpoint_id != last.endpoint_id) {
                    out.push(last);
                }
            }
            Ok(out)
        })
    }
}

async fn attempts(db: &mut dyn Sql, delivery: Uuid) -> Result<Vec<DeliveryAttempt>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts WHERE \
         delivery_id = {} ORDER BY attempt",
        d.ph(1)
    );
    let rows = db
        .fetch(
            &sql,
            vec![Value::Id(delivery)],
            &[Ty::I64, Ty::Time, Ty::OptI64, Ty::OptText, Ty::I64],
        )
        .await?;
    rows.into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            Ok(DeliveryAttempt {
                attempt: u32::try_from(c.i64()?).unwrap_or(0),
                at: c.time()?,
                status_code: c.opt_i64()?.and_then(|s| u16::try_from(s).ok()),
                error: c.opt_text()?,
                duration_ms: u64::try_from(c.i64()?).unwrap_or(0),
            })
        })
        .collect()
}
