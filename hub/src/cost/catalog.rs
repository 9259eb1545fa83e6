//! The node price catalog of the `node` pricing mode: what one node of an instance type costs
//! per hour in a provider's region, on demand, and the provider's spot discount. A dated
//! catalog ships with the hub (`catalog/nodes.csv`) because an operator should not have to
//! type every instance type's price; an organization can load its own file over it (entries
//! with the same key win, or `@replace` drops the shipped ones).
//!
//! # Format
//!
//! Lines starting with `#` are comments. Directives: `@date YYYY-MM-DD` (required: every
//! hour priced from the catalog records it), `@source TEXT`, `@spot_discount PROVIDER
//! FRACTION` (e.g. `aws 0.65`: a spot node costs 35 % of on demand), `@replace`. Then the
//! header `provider,region,instance_type,usd_per_hour` and one row per price; provider is
//! `aws`, `gcp` or `azure`; prices are exact decimal dollars.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use kubeworkz_shared::model::Labels;
use serde::{Deserialize, Serialize};

use super::NanoDollars;

/// The catalog shipped with the hub.
const SHIPPED: &str = include_str!("catalog/nodes.csv");
/// The header line every catalog's price rows start under.
const HEADER: &str = "provider,region,instance_type,usd_per_hour";
/// Spot discounts are fractions with at most this many decimals (basis points).
const DISCOUNT_SCALE: u64 = 10_000;

/// A cloud provider the catalog prices.
#[derive(
    Clone,
    Copy,
    Debug,
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
pub enum Provider {
    /// Amazon Web Services (EC2, EKS).
    Aws,
    /// Google Cloud (Compute Engine, GKE).
    Gcp,
    /// Microsoft Azure (Virtual Machines, AKS).
    Azure,
}

impl Provider {
    /// The catalog's name of the provider.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::Azure => "azure",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "aws" => Some(Provider::Aws),
            "gcp" => Some(Provider::Gcp),
            "azure" => Some(Provider::Azure),
            _ => None,
        }
    }

    /// The provider a node runs on: from `spec.providerID`'s scheme (`aws://`, `gce://`,
    /// `azure://`), else from provider-specific label prefixes (nodes of a pull collector
    /// may lack a provider id). `None`: on premises or unknown, priced per unit.
    pub fn of_node(provider_id: Option<&str>, labels: &Labels) -> Option<Self> {
        let by_id = provider_id.and_then(|id| match id.split_once("://")?.0 {
            "aws" => Some(Provider::Aws),
            "gce" => Some(Provider::Gcp),
            "azure" => Some(Provider::Azure),
            _ => None,
        });
        by_id.or_else(|| {
            labels.keys().find_map(|key| {
                if key.starts_with("eks.amazonaws.com/") || key.starts_with("karpenter.k8s.aws/") {
                    Some(Provider::Aws)
                } else if key.starts_with("cloud.google.com/") {
                    Some(Provider::Gcp)
                } else if key.starts_with("kubernetes.azure.com/") {
                    Some(Provider::Azure)
                } else {
                    None
                }
            })
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True when a node's capacity-type labels say spot or preemptible (Karpenter, EKS managed
/// node groups, GKE spot and preemptible VMs, AKS spot scale sets).
pub fn is_spot(labels: &Labels) -> bool {
    let says = |key: &str, value: &str| {
        labels
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    };
    says("karpenter.sh/capacity-type", "spot")
        || says("eks.amazonaws.com/capacityType", "spot")
        || says("cloud.google.com/gke-spot", "true")
        || says("cloud.google.com/gke-preemptible", "true")
        || says("kubernetes.azure.com/scalesetpriority", "spot")
}

/// A catalog that cannot be read, with the line that says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A line is not what the format allows.
    #[error("price catalog line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong, in words.
        message: String,
    },
    /// The `@date` directive is missing.
    #[error("price catalog has no @date line: every hour priced from it records its date")]
    NoDate,
}

/// A catalog file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogFileError {
    /// The file cannot be read.
    #[error("cannot read the price catalog {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a catalog.
    #[error("price catalog {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: CatalogError,
    },
}

/// Node prices by provider, region and instance type, with the date they were valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceCatalog {
    /// When the prices were taken (`YYYY-MM-DD`), recorded with every hour priced from them.
    pub date: String,
    /// Where they come from.
    pub source: String,
    /// Spot discount per provider in basis points of the on-demand price.
    spot_discount: BTreeMap<Provider, u64>,
    /// On-demand price per node-hour.
    prices: BTreeMap<(Provider, String, String), NanoDollars>,
    /// The first region's price per provider and instance type: the fallback for a region the
    /// catalog does not list (a node in a new region is still priced by its type).
    fallback: BTreeMap<(Provider, String), NanoDollars>,
    /// Whether this catalog, loaded over another, replaces it rather than overlaying it.
    replace: bool,
}

/// One price row of a catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogRow {
    /// Provider.
    pub provider: Provider,
    /// Provider region, e.g. `us-east-1`.
    pub region: String,
    /// Instance type, e.g. `m6i.xlarge`.
    pub instance_type: String,
    /// On-demand price per node-hour.
    pub hourly: NanoDollars,
}

impl PriceCatalog {
    /// The catalog shipped with the hub.
    pub fn shipped() -> Arc<Self> {
        static SHIPPED_CATALOG: LazyLock<Arc<PriceCatalog>> = LazyLock::new(|| {
            Arc::new(PriceCatalog::parse(SHIPPED).expect("the shipped price catalog parses"))
        });
        SHIPPED_CATALOG.clone()
    }

    /// The shipped catalog with the file at `path` (if any) loaded over it: the deployment's
    /// catalog (`--price-catalog`).
    pub fn deployment(path: Option<&std::path::Path>) -> Result<Arc<Self>, CatalogFileError> {
        let Some(path) = path else {
            return Ok(Self::shipped());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let loaded = Self::parse(&text).map_err(|source| CatalogFileError::Parse {
            path: shown,
            source,
        })?;
        Ok(Arc::new(Self::shipped().overlaid(&loaded)))
    }

    /// Reads a catalog in the format of the module docs.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let mut catalog = Self {
            date: String::new(),
            source: String::new(),
            spot_discount: BTreeMap::new(),
            prices: BTreeMap::new(),
            fallback: BTreeMap::new(),
            replace: false,
        };
        let mut header_seen = false;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let bad = |message: String| CatalogError::Line {
                line: index + 1,
                message,
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(directive) = line.strip_prefix('@') {
                let (name, value) = directive.split_once(' ').unwrap_or((directive, ""));
                let value = value.trim();
                match name {
                    "date" if is_date(value) => catalog.date = value.to_owned(),
                    "date" => return Err(bad(format!("date {value:?} is not YYYY-MM-DD"))),
                    "source" => catalog.source = value.to_owned(),
                    "replace" => catalog.replace = true,
                    "spot_discount" => {
                        let (provider, fraction) = value.split_once(' ').unwrap_or((value, ""));
                        let provider = Provider::parse(provider).ok_or_else(|| {
                            bad(format!(
                                "unknown provider {provider:?}: use aws, gcp or azure"
                            ))
                        })?;
                        let basis_points = parse_fraction(fraction.trim()).ok_or_else(|| {
                            bad(format!(
                                "spot discount {fraction:?} is not a fraction from 0 to 1 with at most 4 decimals"
                            ))
                        })?;
                        catalog.spot_discount.insert(provider, basis_points);
                    }
                    _ => return Err(bad(format!("unknown directive @{name}"))),
                }
                continue;
            }
            if !header_seen {
                if line != HEADER {
                    return Err(bad(format!("expected the header {HEADER:?}")));
                }
                header_seen = true;
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [provider, region, instance_type, price] = fields[..] else {
                return Err(bad(format!("expected 4 fields, found {}", fields.len())));
            };
            let provider = Provider::parse(provider).ok_or_else(|| {
                bad(format!(
                    "unknown provider {provider:?}: use aws, gcp or azure"
                ))
            })?;
            if region.is_empty() || instance_type.is_empty() {
                return Err(bad("region and instance type must not be empty".into()));
            }
            let price: NanoDollars = price.parse().map_err(|e| bad(format!("{e}")))?;
            catalog.insert(provider, region, instance_type, price);
        }
        if catalog.date.is_empty() {
            return Err(CatalogError::NoDate);
        }
        Ok(catalog)
    }

    fn insert(
        &mut self,
        provider: Provider,
        region: &str,
        instance_type: &str,
        price: NanoDollars,
    ) {
        self.prices.insert(
            (provider, region.to_owned(), instance_type.to_owned()),
            price,
        );
        self.fallback
            .entry((provider, instance_type.to_owned()))
            .or_insert(price);
    }

    /// `overlay` loaded over this catalog: its date and source, its prices and spot discounts
    /// winning key by key; only `overlay` when it says `@replace`.
    pub fn overlaid(&self, overlay: &PriceCatalog) -> PriceCatalog {
        if overlay.replace {
            return overlay.clone();
        }
        let mut merged = overlay.clone();
        for (key, price) in &self.prices {
            merged.prices.entry(key.clone()).or_insert(*price);
        }
        for (key, price) in &self.fallback {
            merged.fallback.entry(key.clone()).or_insert(*price);
        }
        for (provider, discount) in &self.spot_discount {
            merged.spot_discount.entry(*provider).or_insert(*discount);
        }
        merged
    }

    /// The on-demand price of one node-hour: the region's, else the instance type's first
    /// listed region's; `None` when the catalog does not know the type.
    pub fn on_demand(
        &self,
        provider: Provider,
        region: Option<&str>,
        instance_type: &str,
    ) -> Option<NanoDollars> {
        region
            .and_then(|region| {
                self.prices
                    .get(&(provider, region.to_owned(), instance_type.to_owned()))
            })
            .or_else(|| self.fallback.get(&(provider, instance_type.to_owned())))
            .copied()
    }

    /// The price of one node-hour, spot discount applied for a spot node (rounded half up).
    pub fn node_hour(
        &self,
        provider: Provider,
        region: Option<&str>,
        instance_type: &str,
        spot: bool,
    ) -> Option<NanoDollars> {
        let on_demand = self.on_demand(provider, region, instance_type)?;
        if !spot {
            return Some(on_demand);
        }
        let discount = self.spot_discount.get(&provider).copied().unwrap_or(0);
        Some(NanoDollars::round_half_up(
            u128::from(on_demand.0) * u128::from(DISCOUNT_SCALE - discount),
            u128::from(DISCOUNT_SCALE),
        ))
    }

    /// Spot discounts as fractions per provider, for showing.
    pub fn spot_discounts(&self) -> BTreeMap<Provider, f64> {
        self.spot_discount
            .iter()
            .map(|(p, bp)| (*p, *bp as f64 / DISCOUNT_SCALE as f64))
            .collect()
    }

    /// Every price row, ordered by provider, region and instance type.
    pub fn rows(&self) -> Vec<CatalogRow> {
        self.prices
            .iter()
            .map(|((provider, region, instance_type), hourly)| CatalogRow {
                provider: *provider,
                region: region.clone(),
                instance_type: instance_type.clone(),
                hourly: *hourly,
            })
            .collect()
    }
}

impl fmt::Display for PriceCatalog {
    /// The catalog in its own file format (loading it back gives the same prices).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "@date {}", self.date)?;
        if !self.source.is_empty() {
            writeln!(f, "@source {}", self.source)?;
        }
        for (provider, basis_points) in &self.spot_discount {
            let fraction = format!("{:04}", basis_points % DISCOUNT_SCALE);
            let fraction = fraction.trim_end_matches('0');
            let whole = basis_points / DISCOUNT_SCALE;
            if fraction.is_empty() {
                writeln!(f, "@spot_discount {provider} {whole}")?;
            } else {
                writeln!(f, "@spot_discount {provider} {whole}.{fraction}")?;
            }
        }
        writeln!(f, "{HEADER}")?;
        for ((provider, region, instance_type), price) in &self.prices {
            writeln!(f, "{provider},{region},{instance_type},{price}")?;
        }
        Ok(())
    }
}

fn is_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// `0.65` → 6500 basis points; at most 4 decimals, at most 1.
fn parse_fraction(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 4
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let fraction: u64 = format!("{fraction:0<4}").parse().ok()?;
    let basis_points = whole.checked_mul(DISCOUNT_SCALE)? + fraction;
    (basis_points <= DISCOUNT_SCALE).then_some(basis_points)
}

#[cfg(test)]
mod tests;
