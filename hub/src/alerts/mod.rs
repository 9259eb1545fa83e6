//! Budgets, cost alerts and signed webhooks (issue 28).
//!
//! - [`engine`]: the pure calculations (the month-end forecast from the run-rate, the 80 %
//!   and 100 % thresholds, the anomaly baseline), table-tested by hand.
//! - [`evaluate`]: after each cost run, every organization's budgets and newest computed
//!   hour are judged; what fires is recorded once per dedup key, with a delivery queued for
//!   each enabled webhook endpoint in the same transaction.
//! - [`webhook`]: payloads (generic JSON, Slack), the HMAC-SHA256 signature header and the
//!   retry schedule.
//! - [`delivery`]: the worker that sends the persisted queue, under a lease.
//! - [`egress`]: where receivers may be, by the pull-mode egress policy, at creation and at
//!   each delivery.

pub mod delivery;
pub mod egress;
pub mod engine;
pub mod evaluate;
pub mod webhook;

pub use delivery::{SenderConfig, WEBHOOK_WORKER, WebhookSender};
pub use engine::{AnomalyRule, Forecast};
pub use evaluate::{BudgetStatus, EvaluationReport, budget_statuses, evaluate, evaluate_org};
pub use webhook::RetryPolicy;
