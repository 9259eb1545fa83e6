//! The audit log: one row per mutation through the API, read back newest first with
//! filters. Written once against [`Sql`].

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use tracing::instrument;

use super::sql::paging::{Filter, PageRequest, Paged, Total};
use super::sql::{Cells, Ty, Value};
use super::{Store, StoreError, in_tx, on_conn};

/// One audited mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Id.
    pub id: Uuid,
    /// Organization it happened in.
    pub org_id: OrgId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (user email, `token:<id>`, or `cli`).
    pub actor: String,
    /// What, e.g. `cluster.create`.
    pub action: String,
    /// On what, e.g. `cluster:<id>`.
    pub target: String,
    /// `success`, or `failure: <status>`.
    pub result: String,
    /// The client's address.
    pub source_ip: Option<String>,
    /// The request id the client was given.
    pub request_id: Option<String>,
    /// What the mutation changed (`replicas 2 -> 3`), or why it failed, in words; never a
    /// secret. `None` where the action and target say it all.
    pub detail: Option<String>,
}

/// Filters of the audit log; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Exact target.
    pub target: Option<String>,
    /// Exact result.
    pub result: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Continue after this entry (the last of the previous page); the page's offset is then
    /// only where it stands.
    pub after: Option<AuditKey>,
}

/// Where an entry sorts in the log (newest first, then by id from last to first): the key a
/// page continues after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditKey {
    /// When.
    pub at: DateTime<Utc>,
    /// Id.
    pub id: Uuid,
}

impl AuditEntry {
    /// This entry's place in the log.
    pub fn key(&self) -> AuditKey {
        AuditKey {
            at: self.at,
            id: self.id,
        }
    }
}

impl Store {
    /// Appends to the audit log.
    #[instrument(skip_all)]
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO audit_log (id, org_id, at, actor, action, target, result, source_ip, \
         request_id, detail) VALUES ({})",
                (1..=10).map(|n| d.ph(n)).collect::<Vec<_>>().join(", ")
            );
            db.execute(
                &sql,
                vec![
                    Value::Id(entry.id),
                    Value::Id(*entry.org_id.as_uuid()),
                    Value::Time(entry.at),
                    Value::Text(entry.actor.clone()),
                    Value::Text(entry.action.clone()),
                    Value::Text(entry.target.clone()),
                    Value::Text(entry.result.clone()),
                    Value::OptText(entry.source_ip.clone()),
                    Value::OptText(entry.request_id.clone()),
                    Value::OptText(entry.detail.clone()),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// A filtered page of the organization's audit log, newest first (entries of one
    /// instant by id, from last to first).
    #[instrument(skip_all)]
    pub async fn audit_page(
        &self,
        org: OrgId,
        filter_values: &AuditFilter,
        page: PageRequest,
    ) -> Result<Paged<AuditEntry>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut filter = Filter::new(d, "org_id", Value::Id(*org.as_uuid()));
            let texts = [
                ("actor", &filter_values.actor),
                ("action", &filter_values.action),
                ("target", &filter_values.target),
                ("result", &filter_values.result),
            ];
            for (column, value) in texts {
                if let Some(value) = value {
                    filter.bind(Value::Text(value.clone()), |p| format!("{column} = {p}"));
                }
            }
            if let Some(at) = filter_values.since {
                filter.bind(Value::Time(at), |p| format!("at >= {p}"));
            }
            if let Some(at) = filter_values.until {
                filter.bind(Value::Time(at), |p| format!("at < {p}"));
            }
            if let Some(after) = filter_values.after {
                filter.seek(
                    "at, id",
                    vec![Value::Time(after.at), Value::Id(after.id)],
                    true,
                );
            }
            let columns = format!(
                "{}, {}, at, actor, action, target, result, source_ip, request_id, detail",
                d.text("id"),
                d.text("org_id")
            );
            let (rows, total) = filter
                .fetch_page(
                    db,
                    ("audit_log", &columns, "at DESC, id DESC"),
                    page,
                    &[
                        Ty::Text,
                        Ty::Text,
                        Ty::Time,
                        Ty::Text,
                        Ty::Text,
                        Ty::Text,
                        Ty::Text,
                        Ty::OptText,
                        Ty::OptText,
                        Ty::OptText,
                    ],
                    Total::InPage,
                )
                .await?;
            let items = rows
                .into_iter()
                .map(|row| {
                    let mut c = Cells::new(row);
                    Ok(AuditEntry {
                        id: c.uuid()?,
                        org_id: OrgId::from_uuid(c.uuid()?),
                        at: c.time()?,
                        actor: c.text()?,
                        action: c.text()?,
                        target: c.text()?,
                        result: c.text()?,
                        source_ip: c.opt_text()?,
                        request_id: c.opt_text()?,
                        detail: c.opt_text()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(Paged { items, total })
        })
    }
}
