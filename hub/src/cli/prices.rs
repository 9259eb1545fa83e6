//! `kubeworkz-hub prices …`: what the cost runs charge. The seed's defaults apply until an
//! organization, a cluster or a node instance type gets its own prices here; resolution is
//! instance type > cluster > organization > defaults, field by field.

use anyhow::Context;
use clap::Subcommand;
use kubeworkz_hub::cost::{NanoDollars, PriceOverride};
use kubeworkz_hub::store::PriceScope;

use super::{StoreArgs, find_cluster};

/// `kubeworkz-hub prices …`
#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Set the prices of the organization, of one cluster (`--cluster`) or of the nodes of one
    /// instance type (`--instance-type`). Replaces that scope's prices: a price not given
    /// falls back to the next scope. Amounts are exact decimal dollars (`0.04`). Hours
    /// already computed keep their cost; the next runs (and re-runs) use the new prices.
    Set {
        #[command(flatten)]
        store: StoreArgs,
        /// A cluster's name or id.
        #[arg(long, conflicts_with = "instance_type")]
        cluster: Option<String>,
        /// A `node.kubernetes.io/instance-type` value, e.g. `m5.xlarge`.
        #[arg(long)]
        instance_type: Option<String>,
        /// Dollars per vCPU-hour (default 0.04).
        #[arg(long)]
        cpu_core_hour: Option<NanoDollars>,
        /// Dollars per GiB-hour of memory (default 0.005).
        #[arg(long)]
        memory_gib_hour: Option<NanoDollars>,
        /// Dollars per GiB-hour of persistent volume (default 0.0001).
        #[arg(long)]
        storage_gib_hour: Option<NanoDollars>,
        /// Dollars per GiB of egress (default 0.05).
        #[arg(long)]
        network_egress_gib: Option<NanoDollars>,
    },
    /// Print the organization's prices (defaults and every override) as JSON, in
    /// nano-dollars.
    Show {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn prices(command: PricesCommand) -> anyhow::Result<()> {
    match command {
        PricesCommand::Set {
            store: args,
            cluster,
            instance_type,
            cpu_core_hour,
            memory_gib_hour,
            storage_gib_hour,
            network_egress_gib,
        } => {
            let (store, org) = args.open().await?;
            let scope = match (cluster, instance_type) {
                (Some(cluster), _) => {
                    PriceScope::Cluster(find_cluster(&store, org, &args, &cluster).await?.id)
                }
                (None, Some(name)) if !name.trim().is_empty() => {
                    PriceScope::InstanceType(name.trim().to_owned())
                }
                (None, Some(_)) => anyhow::bail!("--instance-type must not be empty"),
                (None, None) => PriceScope::Organization,
            };
            let prices = PriceOverride {
                cpu_core_hour,
                memory_gib_hour,
                storage_gib_hour,
                network_egress_gib,
            };
            let saved = store.set_price_override(org, &scope, &prices).await;
            store.close().await;
            saved.context("saving the prices")?;
            let what = match &scope {
                PriceScope::Organization => format!("organization {:?}", args.org_name()),
                PriceScope::Cluster(id) => format!("cluster {id}"),
                PriceScope::InstanceType(name) => format!("instance type {name}"),
            };
            println!("prices set for {what}");
            Ok(())
        }
        PricesCommand::Show { store: args } => {
            let (store, org) = args.open().await?;
            let book = store.price_book(org).await;
            store.close().await;
            let book = book.context("reading the prices")?;
            println!("{}", serde_json::to_string_pretty(&book)?);
            Ok(())
        }
    }
}
