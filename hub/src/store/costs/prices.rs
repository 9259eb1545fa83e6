//! The organization's price overrides (per organization, cluster or instance type, in exact
//! nano-dollars), its pricing modes (per organization or cluster) and node price catalog, and
//! the price book the engine prices with: seed defaults and the shipped catalog under them.

use std::sync::Arc;

use chrono::Utc;
use kubeworkz_shared::ids::OrgId;
use tracing::instrument;

use kubeworkz_shared::ids::ClusterId;

use super::allocations::amount;
use super::{PriceScope, require_cluster};
use crate::cost::{NanoDollars, PriceBook, PriceCatalog, PriceOverride, PricingMode};
use crate::store::sql::{Cast, Cells, Ty, Value, values_rows};
use crate::store::{Store, StoreError, in_tx, on_conn};

fn scope_parts(scope: &PriceScope) -> (&'static str, String) {
    match scope {
        PriceScope::Organization => ("organization", String::new()),
        PriceScope::Cluster(id) => ("cluster", id.to_string()),
        PriceScope::InstanceType(name) => ("instance_type", name.clone()),
    }
}

fn cluster_id(key: &str) -> Result<ClusterId, StoreError> {
    uuid::Uuid::parse_str(key)
        .map(ClusterId::from_uuid)
        .map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e))))
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

    /// Sets the pricing mode of the organization (`cluster` `None`) or of one cluster, which
    /// wins over the organization's; `mode` `None` removes it (falls back to the broader one).
    #[instrument(skip_all)]
    pub async fn set_pricing_mode(
        &self,
        org: OrgId,
        cluster: Option<ClusterId>,
        mode: Option<PricingMode>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        in_tx!(self, |db| async {
            let scope = match cluster {
                Some(cluster) => {
                    require_cluster(db, org, cluster).await?;
                    PriceScope::Cluster(cluster)
                }
                None => PriceScope::Organization,
            };
            let (scope, key) = scope_parts(&scope);
            let d = db.dialect();
            let mut args = vec![
                Value::Id(*org.as_uuid()),
                Value::Text(scope.to_owned()),
                Value::Text(key),
            ];
            let Some(mode) = mode else {
                let sql = format!(
                    "DELETE FROM cost_pricing_modes WHERE org_id = {} AND scope = {} AND scope_key = {}",
                    d.ph(1),
                    d.ph(2),
                    d.ph(3)
                );
                db.execute(&sql, args).await?;
                return Ok(());
            };
            let sql = format!(
                "INSERT INTO cost_pricing_modes (org_id, scope, scope_key, mode, updated_at) \
         VALUES {} ON CONFLICT (org_id, scope, scope_key) DO UPDATE SET \
         mode = excluded.mode, updated_at = excluded.updated_at",
                values_rows(d, 1, &[Cast::None; 5])
            );
            args.push(Value::Text(mode.as_str().to_owned()));
            args.push(Value::Time(now));
            db.execute(&sql, args).await?;
            Ok(())
        })
    }

    /// Stores the organization's node price catalog (`body`, the file as loaded, and the
    /// catalog it parses to), loaded over the shipped one from then on; `None` removes it.
    #[instrument(skip_all)]
    pub async fn set_price_catalog(
        &self,
        org: OrgId,
        catalog: Option<(&str, &PriceCatalog)>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        in_tx!(self, |db| async {
            let d = db.dialect();
            let Some((body, parsed)) = catalog else {
                let sql = format!("DELETE FROM cost_price_catalogs WHERE org_id = {}", d.ph(1));
                db.execute(&sql, vec![Value::Id(*org.as_uuid())]).await?;
                return Ok(());
            };
            let sql = format!(
                "INSERT INTO cost_price_catalogs (org_id, body, catalog_date, updated_at) \
         VALUES {} ON CONFLICT (org_id) DO UPDATE SET body = excluded.body, \
         catalog_date = excluded.catalog_date, updated_at = excluded.updated_at",
                values_rows(d, 1, &[Cast::None; 4])
            );
            let args = vec![
                Value::Id(*org.as_uuid()),
                Value::Text(body.to_owned()),
                Value::Text(parsed.date.clone()),
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
                        book.clusters.insert(cluster_id(&key)?, layer);
                    }
                    _ => {
                        book.instance_types.insert(key, layer);
                    }
                }
            }
            let sql = format!(
                "SELECT scope, scope_key, mode FROM cost_pricing_modes WHERE org_id = {}",
                d.ph(1)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid())],
                    &[Ty::Text, Ty::Text, Ty::Text],
                )
                .await?;
            for row in rows {
                let mut c = Cells::new(row);
                let (scope, key, mode) = (c.text()?, c.text()?, c.text()?);
                let mode = PricingMode::parse(&mode).unwrap_or_default();
                if scope == "cluster" {
                    book.cluster_modes.insert(cluster_id(&key)?, mode);
                } else {
                    book.mode = Some(mode);
                }
            }
            let sql = format!(
                "SELECT body FROM cost_price_catalogs WHERE org_id = {}",
                d.ph(1)
            );
            let rows = db
                .fetch(&sql, vec![Value::Id(*org.as_uuid())], &[Ty::Text])
                .await?;
            if let Some(row) = rows.into_iter().next() {
                let body = Cells::new(row).text()?;
                let loaded = PriceCatalog::parse(&body)
                    .map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e))))?;
                book.loaded_catalog = Some(Arc::new(loaded));
            }
            Ok(book)
        })
    }
}
