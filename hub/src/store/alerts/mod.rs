//! Budgets, cost alerts and webhook deliveries, written once against [`Sql`].
//!
//! - `budgets`: the organization's monthly budgets (admin-managed) and what each scope
//!   spent in a month, read from the cost rows the cost worker saved.
//! - `records`: alerts, recorded once per dedup key (so each threshold fires once per budget
//!   and month, each anomaly once per key and hour), each with a delivery queued for every
//!   enabled endpoint in the same transaction; the anomaly settings; the alert history.
//! - `webhooks`: endpoints (their signing secret sealed), the persisted delivery queue and
//!   every attempt.

mod budgets;
mod records;
mod webhooks;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use crate::cost::NanoDollars;

pub use budgets::{ScopeSpend, SpendWindow};
pub use records::{AlertFilter, NewAlert};
pub use webhooks::{DeliveryOutcome, DueDelivery, LastDelivery};

/// What a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetScope {
    /// One namespace name, in every cluster of the organization.
    Namespace,
    /// One team (the namespaces' team label).
    Team,
    /// One cost center (the namespaces' cost-center label).
    CostCenter,
    /// One cluster (by id), idle included.
    Cluster,
}

impl BudgetScope {
    /// Every scope, in the order the API lists them.
    pub const ALL: [BudgetScope; 4] = [
        BudgetScope::Namespace,
        BudgetScope::Team,
        BudgetScope::CostCenter,
        BudgetScope::Cluster,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetScope::Namespace => "namespace",
            BudgetScope::Team => "team",
            BudgetScope::CostCenter => "cost_center",
            BudgetScope::Cluster => "cluster",
        }
    }

    /// The scope named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The cost-row column a scope's spend is grouped by.
    fn column(self) -> &'static str {
        match self {
            BudgetScope::Namespace => "a.namespace",
            BudgetScope::Team => "a.team",
            BudgetScope::CostCenter => "a.cost_center",
            BudgetScope::Cluster => "a.cluster_id",
        }
    }
}

/// A monthly budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// Unique in the organization.
    pub name: String,
    /// What it covers.
    pub scope: BudgetScope,
    /// The namespace, team, cost center, or cluster id.
    pub scope_key: String,
    /// The amount per calendar month (UTC).
    pub amount: NanoDollars,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// A budget's actual spend reached a threshold.
    BudgetActual,
    /// A budget's month-end forecast reached a threshold.
    BudgetForecast,
    /// An hour cost more than its baseline allows.
    Anomaly,
}

impl AlertKind {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::BudgetActual => "budget_actual",
            AlertKind::BudgetForecast => "budget_forecast",
            AlertKind::Anomaly => "anomaly",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::BudgetActual, Self::BudgetForecast, Self::Anomaly]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// A recorded alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// What makes it unique in the organization (budget, month, measure and threshold; or
    /// anomaly key and hour).
    pub dedup_key: String,
    /// Kind.
    pub kind: AlertKind,
    /// The budget, for budget alerts.
    pub budget_id: Option<Uuid>,
    /// `namespace`, `team`, `cost_center` or `cluster`.
    pub scope_kind: String,
    /// The budget's key, or the anomaly's (`<cluster id>/<namespace>`, `<cluster id>`).
    pub scope_key: String,
    /// The month (budgets) or the hour (anomalies).
    pub period_start: DateTime<Utc>,
    /// 80 or 100, for budget alerts.
    pub threshold_pct: Option<u32>,
    /// The actual or forecast spend, or the hour's cost.
    pub value: NanoDollars,
    /// The budget amount, or the anomaly's baseline.
    pub reference: NanoDollars,
    /// One line for people.
    pub message: String,
    /// When it fired.
    pub created_at: DateTime<Utc>,
}

/// How a webhook's payload is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The generic JSON event.
    Json,
    /// Slack's incoming-webhook shape (`text` and `blocks`).
    Slack,
}

impl WebhookFormat {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }

    /// The format named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Self::Json),
            "slack" => Some(Self::Slack),
            _ => None,
        }
    }
}

/// A webhook endpoint. Its secret is only ever held sealed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org_id: OrgId,
    /// Unique in the organization.
    pub name: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Payload shape.
    pub format: WebhookFormat,
    /// The signing secret, sealed under the hub's master key (context `webhook:<id>`).
    pub secret_sealed: Vec<u8>,
    /// Disabled endpoints get no new deliveries.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Self {
        match name {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One delivery with its attempts, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Id.
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The endpoint's name.
    pub endpoint_name: String,
    /// The alert (none for a test delivery).
    pub alert_id: Option<Uuid>,
    /// `alert` or `test`.
    pub event: String,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt, first first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub attempt: u32,
    /// When it started.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed, in words (never the URL or the secret).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// A nano-dollar amount as a stored integer (amounts beyond `i64` saturate: far beyond
/// any bill).
fn nanos(value: NanoDollars) -> i64 {
    i64::try_from(value.0).unwrap_or(i64::MAX)
}

/// A stored integer as nano-dollars (negative never stored; read as zero).
fn from_nanos(value: i64) -> NanoDollars {
    NanoDollars(u64::try_from(value).unwrap_or(0))
}

/// A nullable UUID to bind where [`opt_id_ph`] stands: text, cast to `uuid` on PostgreSQL
/// (a bare text parameter would not go into a `uuid` column there).
fn opt_id(id: Option<Uuid>) -> super::sql::Value {
    super::sql::Value::OptText(id.map(|id| id.to_string()))
}

/// The placeholder of an [`opt_id`] value.
fn opt_id_ph(d: super::sql::Dialect, n: usize) -> String {
    match d {
        super::sql::Dialect::Sqlite => d.ph(n),
        super::sql::Dialect::Postgres => format!("CAST({} AS UUID)", d.ph(n)),
    }
}

/// Deletes row `id` of `table` if it belongs to `org`; false when it does not exist there.
/// `table` is one of this module's constant table names.
async fn delete_owned(
    db: &mut dyn super::sql::Sql,
    table: &str,
    org: OrgId,
    id: Uuid,
) -> Result<bool, super::StoreError> {
    let d = db.dialect();
    let sql = format!(
        "DELETE FROM {table} WHERE org_id = {} AND id = {}",
        d.ph(1),
        d.ph(2)
    );
    let n = db
        .execute(
            &sql,
            vec![
                super::sql::Value::Id(*org.as_uuid()),
                super::sql::Value::Id(id),
            ],
        )
        .await?;
    Ok(n == 1)
}
