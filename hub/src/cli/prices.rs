//! `kubeworkz-hub prices …`: what the cost runs charge. The seed's defaults apply until an
//! organization, a cluster or a node instance type gets its own prices here; resolution is
//! instance type > cluster > organization > defaults, field by field. The pricing mode
//! (`unit` or `node`) is set per organization or cluster, and the node price catalog can be
//! shown, and an organization's own loaded over the shipped one.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use kubeworkz_hub::cost::{NanoDollars, PriceCatalog, PriceOverride, PricingMode};
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
    /// Set how the organization's (or one cluster's, `--cluster`) CPU and memory are priced:
    /// `unit` prices, `node` prices from the catalog, or `inherit` the broader setting.
    /// Hours already computed keep their cost.
    Mode {
        #[command(flatten)]
        store: StoreArgs,
        /// The mode.
        mode: ModeChoice,
        /// A cluster's name or id.
        #[arg(long)]
        cluster: Option<String>,
    },
    /// The node price catalog of the `node` mode.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

/// A pricing mode, or none (fall back to the broader scope).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeChoice {
    /// Per-unit prices.
    Unit,
    /// Each node's price from the catalog.
    Node,
    /// The organization's mode (for a cluster) or `unit` (for the organization).
    Inherit,
}

/// `kubeworkz-hub prices catalog …`
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Print the catalog the organization's nodes are priced from (shipped, `--price-catalog`,
    /// then the organization's own), in the file format `load` reads.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// The deployment's catalog file, as `serve` takes it.
        #[arg(long, env = "KUBEWORKZ_PRICE_CATALOG")]
        price_catalog: Option<PathBuf>,
    },
    /// Load a catalog file as the organization's own, over the deployment's: its prices win
    /// key by key (all of them with `@replace`). Replaces a catalog loaded before.
    Load {
        #[command(flatten)]
        store: StoreArgs,
        /// The file (format in docs/costs.md).
        file: PathBuf,
    },
    /// Remove the organization's own catalog.
    Unload {
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
        PricesCommand::Mode {
            store: args,
            mode,
            cluster,
        } => {
            let (store, org) = args.open().await?;
            let mode = match mode {
                ModeChoice::Unit => Some(PricingMode::Unit),
                ModeChoice::Node => Some(PricingMode::Node),
                ModeChoice::Inherit => None,
            };
            let saved = async {
                let cluster = match cluster {
                    Some(name) => Some(find_cluster(&store, org, &args, &name).await?.id),
                    None => None,
                };
                store
                    .set_pricing_mode(org, cluster, mode)
                    .await
                    .context("saving the pricing mode")?;
                anyhow::Ok(cluster)
            }
            .await;
            store.close().await;
            let what = match saved? {
                Some(id) => format!("cluster {id}"),
                None => format!("organization {:?}", args.org_name()),
            };
            let shown = mode.map_or("inherited", PricingMode::as_str);
            println!("pricing mode of {what}: {shown}");
            Ok(())
        }
        PricesCommand::Catalog(command) => catalog(command).await,
    }
}

async fn catalog(command: CatalogCommand) -> anyhow::Result<()> {
    match command {
        CatalogCommand::Show {
            store: args,
            price_catalog,
        } => {
            let base = PriceCatalog::deployment(price_catalog.as_deref())?;
            let (store, org) = args.open().await?;
            let book = store.price_book(org).await;
            store.close().await;
            let book = book.context("reading the prices")?.with_base_catalog(base);
            print!("{}", book.effective_catalog());
            Ok(())
        }
        CatalogCommand::Load { store: args, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let parsed = PriceCatalog::parse(&text)
                .with_context(|| format!("reading {}", file.display()))?;
            let (store, org) = args.open().await?;
            let saved = store.set_price_catalog(org, Some((&text, &parsed))).await;
            store.close().await;
            saved.context("saving the price catalog")?;
            println!(
                "price catalog of {} loaded for organization {:?}: {} prices",
                parsed.date,
                args.org_name(),
                parsed.rows().len()
            );
            Ok(())
        }
        CatalogCommand::Unload { store: args } => {
            let (store, org) = args.open().await?;
            let saved = store.set_price_catalog(org, None).await;
            store.close().await;
            saved.context("removing the price catalog")?;
            println!(
                "price catalog removed for organization {:?}",
                args.org_name()
            );
            Ok(())
        }
    }
}
