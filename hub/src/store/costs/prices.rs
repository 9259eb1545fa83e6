//! The organization's price overrides (per organization, cluster or instance type, in exact
//! nano-dollars) and the price book the engine prices with: seed defaults under them.

use chrono::Utc;
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;

use kubeworkz_shared::ids::ClusterId;

use super::allocations::amount;
use super::{PriceScope, require_cluster};
use crate::cost::{NanoDollars, PriceBook, PriceOverride};
use crate::store::sql::{Cast, Cells, Ty, Value, values_rows};
use crate::store::{Store, StoreError, in_tx, on_conn};

fn scope_parts(scope: &PriceScope) -> (&'static str, String) {
    match scope {
        PriceScope::Organization => ("organization", String::new()),
        PriceScope::Cluster(id) => ("cluster", id.to_string()),
        PriceScope::InstanceType(name) => ("instance_type", name.clone()),
    }
}

fn price(value: Option<NanoDollars>) -> Value {
    Value::OptI64(value.map(|p| i64::try_from(p.0).unwrap_or(i64::MAX)))
}

impl Store {
    /// Sets the prices of one scope (an override without any price removes it).
    #[instrument(skip_all)]
    pub async fn set_price_override(
        &self,
        org: OrgId,
        scope: &PriceScope,
        prices: &PriceOverride,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        in_tx!(self, |db| async {
            if let PriceScope::Cluster(cluster) = scope {
                require_cluster(db, org, *cluster).await?;
            }
            let (scope, key) = scope_parts(scope);
            let d = db.dialect();
            if *prices == PriceOverride::default() {
                let sql = format!(
                    "DELETE FROM cost_price_overrides WHERE org_id = {} AND scope = {} AND scope_key = {}",
                    d.ph(1),
                    d.ph(2),
                    d.ph(3)
                );
                let args = vec![
                    Value::Id(*org.as_uuid()),
                    Value::Text(scope.to_owned()),
                    Value::Text(key),
                ];
                db.execute(&sql, args).await?;
                return Ok(());
            }
            let sql = format!(
                "INSERT INTO cost_price_overrides (org_id, scope, scope_key, cpu_core_hour_nanos, \
         memory_gib_hour_nanos, storage_gib_hour_nanos, network_egress_gib_nanos, updated_at) \
         VALUES {} ON CONFLICT (org_id, scope, scope_key) DO UPDATE SET \
         cpu_core_hour_nanos = excluded.cpu_core_hour_nanos, \
         memory_gib_hour_nanos = excluded.memory_gib_hour_nanos, \
         storage_gib_hour_nanos = excluded.storage_gib_hour_nanos, \
         network_egress_gib_nanos = excluded.network_egress_gib_nanos, \
         updated_at = excluded.updated_at",
                values_rows(d, 1, &[Cast::None; 8])
            );
            let args = vec![
                Value::Id(*org.as_uuid()),
                Value::Text(scope.to_owned()),
                Value::Text(key),
                price(prices.cpu_core_hour),
                price(prices.memory_gib_hour),
                price(prices.storage_gib_hour),
                price(prices.network_egress_gib),
                Value::Time(now),
            ];
            db.execute(&sql, args).await?;
            Ok(())
        })
    }

    /// The organization's price book: seed defaults under its stored overrides.
    #[instrument(skip_all)]
    pub async fn price_book(&self, org: OrgId) -> Result<PriceBook, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT scope, scope_key, cpu_core_hour_nanos, memory_gib_hour_nanos, \
         storage_gib_hour_nanos, network_egress_gib_nanos FROM cost_price_overrides \
         WHERE org_id = {}",
                d.ph(1)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid())],
                    &[
                        Ty::Text,
                        Ty::Text,
                        Ty::OptI64,
                        Ty::OptI64,
                        Ty::OptI64,
                        Ty::OptI64,
                    ],
                )
                .await?;
            let mut book = PriceBook::default();
            for row in rows {
                let mut c = Cells::new(row);
                let scope = c.text()?;
                let key = c.text()?;
                let mut next =
                    || -> Result<Option<NanoDollars>, sqlx::Error> { Ok(c.opt_i64()?.map(amount)) };
                let layer = PriceOverride {
                    cpu_core_hour: next()?,
                    memory_gib_hour: next()?,
                    storage_gib_hour: next()?,
                    network_egress_gib: next()?,
                };
                match scope.as_str() {
                    "organization" => book.organization = layer,
                    "cluster" => {
                        let id = uuid::Uuid::parse_str(&key)
                            .map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e))))?;
                        book.clusters.insert(ClusterId::from_uuid(id), layer);
                    }
                    _ => {
                        book.instance_types.insert(key, layer);
                    }
                }
            }
            Ok(book)
        })
    }
}
