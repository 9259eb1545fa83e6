//! Prices and where they come from: seed defaults, overridden per organization, per cluster
//! and per node instance type, and the pricing mode (`unit` prices, or `node` prices from the
//! catalog) per organization or cluster. Resolution is a pure lookup done before the engine
//! runs, so the engine only ever sees concrete [`Prices`] and node rates.

use std::collections::BTreeMap;
use std::sync::Arc;

use kubeworkz_shared::ids::ClusterId;
use serde::{Deserialize, Serialize};

use super::NanoDollars;
use super::catalog::PriceCatalog;
use super::input::NodeHour;
use super::node_price::{NodeRates, split_node_price};

/// How a cluster's CPU and memory are priced.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PricingMode {
    /// Per-unit prices (per core-hour and GiB-hour), the same on every node.
    #[default]
    Unit,
    /// Each node's hourly price from the catalog by provider, region and instance type, split
    /// into rates (`node_price`); nodes the catalog does not know keep the unit prices.
    Node,
}

impl PricingMode {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingMode::Unit => "unit",
            PricingMode::Node => "node",
        }
    }

    /// The mode named `text` (`unit`, `node`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "unit" => Some(PricingMode::Unit),
            "node" => Some(PricingMode::Node),
            _ => None,
        }
    }
}

/// What priced an hour: recorded on every row, so a reader knows which prices a cost is in.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct Pricing {
    /// The mode.
    pub mode: PricingMode,
    /// The catalog's date in the `node` mode.
    pub catalog_date: Option<String>,
}

/// The unit prices of one scope. GB means GiB (2^30 bytes) throughout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    /// Per vCPU (core) and hour.
    pub cpu_core_hour: NanoDollars,
    /// Per GiB of memory and hour.
    pub memory_gib_hour: NanoDollars,
    /// Per GiB of requested persistent volume and hour.
    pub storage_gib_hour: NanoDollars,
    /// Per GiB of network egress.
    pub network_egress_gib: NanoDollars,
}

impl Default for Prices {
    /// The seed prices (`docs/costs.md`): vCPU $0.04/h, memory $0.005/GB-h, storage
    /// $0.0001/GB-h, network $0.05/GB; a reasonable on-demand average until a user sets theirs.
    fn default() -> Self {
        Self {
            cpu_core_hour: NanoDollars(40_000_000),
            memory_gib_hour: NanoDollars(5_000_000),
            storage_gib_hour: NanoDollars(100_000),
            network_egress_gib: NanoDollars(50_000_000),
        }
    }
}

impl Prices {
    /// These prices with every price `layer` sets replaced.
    pub fn with(self, layer: &PriceOverride) -> Self {
        Self {
            cpu_core_hour: layer.cpu_core_hour.unwrap_or(self.cpu_core_hour),
            memory_gib_hour: layer.memory_gib_hour.unwrap_or(self.memory_gib_hour),
            storage_gib_hour: layer.storage_gib_hour.unwrap_or(self.storage_gib_hour),
            network_egress_gib: layer.network_egress_gib.unwrap_or(self.network_egress_gib),
        }
    }
}

/// A partial price list: the prices a user set for one scope; unset ones fall through to the
/// next broader scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceOverride {
    /// Per vCPU and hour.
    pub cpu_core_hour: Option<NanoDollars>,
    /// Per GiB of memory and hour.
    pub memory_gib_hour: Option<NanoDollars>,
    /// Per GiB of persistent volume and hour.
    pub storage_gib_hour: Option<NanoDollars>,
    /// Per GiB of egress.
    pub network_egress_gib: Option<NanoDollars>,
}

/// All price settings of one organization. Resolution order, most specific first:
/// node instance type > cluster > organization > seed defaults, field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBook {
    /// The base prices; [`Prices::default`] unless the deployment configures others.
    pub defaults: Prices,
    /// The organization's overrides.
    pub organization: PriceOverride,
    /// Per-cluster overrides (e.g. an on-prem cluster with amortized hardware cost).
    pub clusters: BTreeMap<ClusterId, PriceOverride>,
    /// Per instance type (`node.kubernetes.io/instance-type`, e.g. `m5.xlarge`) overrides of
    /// the CPU and memory price of the nodes of that type, in every cluster.
    pub instance_types: BTreeMap<String, PriceOverride>,
    /// The organization's pricing mode; `None`: unit.
    pub mode: Option<PricingMode>,
    /// Per-cluster pricing modes, winning over the organization's.
    pub cluster_modes: BTreeMap<ClusterId, PricingMode>,
    /// The deployment's node price catalog: the shipped one, or `--price-catalog` over it.
    #[serde(skip, default = "PriceCatalog::shipped")]
    pub catalog: Arc<PriceCatalog>,
    /// The organization's own catalog, loaded over the deployment's.
    #[serde(skip)]
    pub loaded_catalog: Option<Arc<PriceCatalog>>,
}

impl Default for PriceBook {
    fn default() -> Self {
        Self {
            defaults: Prices::default(),
            organization: PriceOverride::default(),
            clusters: BTreeMap::new(),
            instance_types: BTreeMap::new(),
            mode: None,
            cluster_modes: BTreeMap::new(),
            catalog: PriceCatalog::shipped(),
            loaded_catalog: None,
        }
    }
}

impl PriceBook {
    /// This book over the deployment's catalog `base` instead of the shipped one.
    pub fn with_base_catalog(mut self, base: Arc<PriceCatalog>) -> Self {
        self.catalog = base;
        self
    }

    /// The catalog nodes are priced from: the organization's loaded over the deployment's.
    pub fn effective_catalog(&self) -> Arc<PriceCatalog> {
        match &self.loaded_catalog {
            Some(loaded) => Arc::new(self.catalog.overlaid(loaded)),
            None => self.catalog.clone(),
        }
    }

    /// Resolves everything the engine needs for one cluster.
    pub fn for_cluster(&self, cluster: ClusterId) -> ClusterPrices {
        let mut base = self.defaults.with(&self.organization);
        if let Some(layer) = self.clusters.get(&cluster) {
            base = base.with(layer);
        }
        let instance_types = self
            .instance_types
            .iter()
            .map(|(name, layer)| (name.clone(), base.with(layer)))
            .collect();
        let mode = self
            .cluster_modes
            .get(&cluster)
            .copied()
            .or(self.mode)
            .unwrap_or_default();
        ClusterPrices {
            base,
            instance_types,
            catalog: (mode == PricingMode::Node).then(|| self.effective_catalog()),
        }
    }
}

/// The resolved prices of one cluster: what the engine receives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterPrices {
    /// Prices for everything not on a node with an instance-type price (storage, network,
    /// pods on unknown nodes, nodes without an instance-type label).
    pub base: Prices,
    /// Resolved prices per instance type: set by the operator, so they win over the catalog.
    pub instance_types: BTreeMap<String, Prices>,
    /// The catalog nodes are priced from: `Some` in the `node` mode.
    pub catalog: Option<Arc<PriceCatalog>>,
}

impl ClusterPrices {
    /// The same prices everywhere in the cluster.
    pub fn uniform(prices: Prices) -> Self {
        Self {
            base: prices,
            instance_types: BTreeMap::new(),
            catalog: None,
        }
    }

    /// What prices this cluster's hours.
    pub fn pricing(&self) -> Pricing {
        match &self.catalog {
            Some(catalog) => Pricing {
                mode: PricingMode::Node,
                catalog_date: Some(catalog.date.clone()),
            },
            None => Pricing {
                mode: PricingMode::Unit,
                catalog_date: None,
            },
        }
    }

    /// The rates of the containers on `node`: an operator's instance-type prices, else (in the
    /// `node` mode) the node's catalog price split into rates, else the cluster's unit prices.
    pub fn for_node(&self, node: &NodeHour) -> NodeRates {
        let instance_type = node.instance_type.as_deref();
        if let Some(prices) = instance_type.and_then(|name| self.instance_types.get(name)) {
            return NodeRates::unit(*prices);
        }
        let catalog_price = self.catalog.as_ref().and_then(|catalog| {
            catalog.node_hour(
                node.provider?,
                node.region.as_deref(),
                instance_type?,
                node.spot,
            )
        });
        match catalog_price {
            Some(price) => split_node_price(price, &node.capacity, &self.base),
            None => NodeRates::unit(self.base),
        }
    }

    /// The prices of a node of `instance_type` (`None`: unlabeled).
    pub fn for_instance_type(&self, instance_type: Option<&str>) -> &Prices {
        instance_type
            .and_then(|name| self.instance_types.get(name))
            .unwrap_or(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(n: u64) -> Option<NanoDollars> {
        Some(NanoDollars(n))
    }

    #[test]
    fn seed_prices_are_the_defaults() {
        let prices = PriceBook::default().for_cluster(ClusterId::new());
        assert_eq!(prices.base.cpu_core_hour.to_string(), "0.04");
        assert_eq!(prices.base.memory_gib_hour.to_string(), "0.005");
        assert_eq!(prices.base.storage_gib_hour.to_string(), "0.0001");
        assert_eq!(prices.base.network_egress_gib.to_string(), "0.05");
    }

    #[test]
    fn instance_type_beats_cluster_beats_organization_beats_default() {
        let cluster = ClusterId::new();
        let other = ClusterId::new();
        let book = PriceBook {
            organization: PriceOverride {
                cpu_core_hour: nanos(30_000_000),
                memory_gib_hour: nanos(4_000_000),
                storage_gib_hour: nanos(200_000),
                ..PriceOverride::default()
            },
            clusters: BTreeMap::from([(
                cluster,
                PriceOverride {
                    cpu_core_hour: nanos(20_000_000),
                    memory_gib_hour: nanos(3_000_000),
                    ..PriceOverride::default()
                },
            )]),
            instance_types: BTreeMap::from([(
                "m5.xlarge".to_owned(),
                PriceOverride {
                    cpu_core_hour: nanos(10_000_000),
                    ..PriceOverride::default()
                },
            )]),
            ..PriceBook::default()
        };
        let resolved = book.for_cluster(cluster);
        let m5 = resolved.for_instance_type(Some("m5.xlarge"));
        assert_eq!(m5.cpu_core_hour, NanoDollars(10_000_000)); // instance type
        assert_eq!(m5.memory_gib_hour, NanoDollars(3_000_000)); // cluster
        assert_eq!(m5.storage_gib_hour, NanoDollars(200_000)); // organization
        assert_eq!(m5.network_egress_gib, NanoDollars(50_000_000)); // default
        assert_eq!(resolved.for_instance_type(Some("c5.large")), &resolved.base);
        assert_eq!(
            resolved.for_instance_type(None).cpu_core_hour,
            NanoDollars(20_000_000)
        );

        let elsewhere = book.for_cluster(other);
        assert_eq!(elsewhere.base.cpu_core_hour, NanoDollars(30_000_000));
        assert_eq!(
            elsewhere
                .for_instance_type(Some("m5.xlarge"))
                .memory_gib_hour,
            NanoDollars(4_000_000)
        );
    }
}
