//! An organization's switches over what its roles may do on clusters beyond their rank:
//! viewers read logs and events unless turned off (as Kubernetes' own `view` role does), and
//! operators open terminals only when turned on.

use chrono::{SubsecRound as _, Utc};
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;

use crate::store::sql::{Cells, Ty, Value};
use crate::store::{Store, StoreError, in_tx, on_conn};

/// What an organization lets its viewers and operators do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationSwitches {
    /// Viewers read pods' logs and objects' events (on by default).
    pub viewers_read_logs: bool,
    /// Operators may open a terminal in a container (off by default: admins only).
    pub operators_exec: bool,
}

impl Default for OperationSwitches {
    fn default() -> Self {
        Self {
            viewers_read_logs: true,
            operators_exec: false,
        }
    }
}

impl OperationSwitches {
    /// What changed from `before` to these, for the audit log
    /// (`viewers_read_logs true -> false`), or `unchanged`.
    pub fn change_from(self, before: OperationSwitches) -> String {
        let changes: Vec<String> = [
            (
                "viewers_read_logs",
                before.viewers_read_logs,
                self.viewers_read_logs,
            ),
            ("operators_exec", before.operators_exec, self.operators_exec),
        ]
        .into_iter()
        .filter(|(_, was, is)| was != is)
        .map(|(name, was, is)| format!("{name} {was} -> {is}"))
        .collect();
        if changes.is_empty() {
            "unchanged".to_owned()
        } else {
            changes.join(", ")
        }
    }
}

impl Store {
    /// The organization's switches; the defaults for an unknown organization.
    #[instrument(skip_all)]
    pub async fn operation_switches(&self, org: OrgId) -> Result<OperationSwitches, StoreError> {
        on_conn!(self, |db| async {
            let sql = format!(
                "SELECT viewer_logs_disabled_at, operator_exec_enabled_at FROM organizations \
                 WHERE id = {}",
                db.dialect().ph(1)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid())],
                    &[Ty::OptTime, Ty::OptTime],
                )
                .await?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(OperationSwitches::default());
            };
            let mut c = Cells::new(row);
            Ok(OperationSwitches {
                viewers_read_logs: c.opt_time()?.is_none(),
                operators_exec: c.opt_time()?.is_some(),
            })
        })
    }

    /// Sets the organization's switches; a switch left as it was keeps the time it was set.
    #[instrument(skip_all)]
    pub async fn set_operation_switches(
        &self,
        org: OrgId,
        switches: OperationSwitches,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "UPDATE organizations SET \
                 viewer_logs_disabled_at = CASE WHEN {p1} THEN NULL \
                   ELSE COALESCE(viewer_logs_disabled_at, {p3}) END, \
                 operator_exec_enabled_at = CASE WHEN {p2} THEN \
                   COALESCE(operator_exec_enabled_at, {p3}) ELSE NULL END \
                 WHERE id = {p4}",
                p1 = d.ph(1),
                p2 = d.ph(2),
                p3 = d.ph(3),
                p4 = d.ph(4),
            );
            db.execute(
                &sql,
                vec![
                    Value::Bool(switches.viewers_read_logs),
                    Value::Bool(switches.operators_exec),
                    Value::Time(Utc::now().trunc_subsecs(6)),
                    Value::Id(*org.as_uuid()),
                ],
            )
            .await?;
            Ok(())
        })
    }
}
