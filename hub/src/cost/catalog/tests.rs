use kubeworkz_shared::model::Labels;

use super::*;

fn dollars(text: &str) -> NanoDollars {
    text.parse().expect("dollars")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_shipped_catalog_is_dated_and_prices_each_provider() {
    let catalog = PriceCatalog::shipped();
    assert_eq!(catalog.date, "2024-06-01");
    let cases = [
        (Provider::Aws, "us-east-1", "m6i.xlarge", "0.192"),
        (Provider::Aws, "eu-west-1", "m5.large", "0.107"),
        (Provider::Aws, "us-east-1", "g4dn.xlarge", "0.526"),
        (Provider::Gcp, "us-central1", "n2-standard-4", "0.194236"),
        (Provider::Azure, "eastus", "Standard_D4s_v5", "0.192"),
    ];
    for (provider, region, instance_type, want) in cases {
        assert_eq!(
            catalog.on_demand(provider, Some(region), instance_type),
            Some(dollars(want)),
            "{provider} {region} {instance_type}"
        );
    }
    assert!(catalog.rows().len() > 150);
}

#[test]
fn an_unlisted_region_takes_the_first_listed_regions_price() {
    let catalog = PriceCatalog::shipped();
    // us-east-1 is listed before eu-west-1 (0.107).
    assert_eq!(
        catalog.on_demand(Provider::Aws, Some("ap-south-1"), "m5.large"),
        Some(dollars("0.096"))
    );
    assert_eq!(
        catalog.on_demand(Provider::Aws, None, "m5.large"),
        Some(dollars("0.096"))
    );
    assert_eq!(
        catalog.on_demand(Provider::Aws, Some("us-east-1"), "x99.huge"),
        None
    );
    assert_eq!(
        catalog.on_demand(Provider::Gcp, Some("us-east-1"), "m5.large"),
        None,
        "a type is looked up under its own provider"
    );
}

#[test]
fn spot_nodes_cost_the_on_demand_price_less_the_providers_discount() {
    let catalog = PriceCatalog::shipped();
    // 0.192 × (1 − 0.65) = 0.0672; 0.194236 × 0.30 = 0.0582708; 0.192 × 0.30 = 0.0576.
    let cases = [
        (Provider::Aws, "us-east-1", "m5.xlarge", "0.0672"),
        (Provider::Gcp, "us-central1", "n2-standard-4", "0.0582708"),
        (Provider::Azure, "eastus", "Standard_D4s_v5", "0.0576"),
    ];
    for (provider, region, instance_type, want) in cases {
        assert_eq!(
            catalog.node_hour(provider, Some(region), instance_type, true),
            Some(dollars(want))
        );
        assert_eq!(
            catalog.node_hour(provider, Some(region), instance_type, false),
            catalog.on_demand(provider, Some(region), instance_type)
        );
    }
}

const OWN: &str = "# an operator's prices\n@date 2025-01-15\n@spot_discount aws 0.5\n\
provider,region,instance_type,usd_per_hour\naws,us-east-1,m5.large,0.5\n\
aws,us-east-1,z1.metal,2\n";

#[test]
fn a_loaded_catalog_wins_key_by_key_over_the_shipped_one() {
    let own = PriceCatalog::parse(OWN).expect("parses");
    let merged = PriceCatalog::shipped().overlaid(&own);
    assert_eq!(merged.date, "2025-01-15");
    let price = |t: &str| merged.on_demand(Provider::Aws, Some("us-east-1"), t);
    assert_eq!(price("m5.large"), Some(dollars("0.5")));
    assert_eq!(price("z1.metal"), Some(dollars("2")));
    assert_eq!(
        price("m5.xlarge"),
        Some(dollars("0.192")),
        "kept from the shipped"
    );
    // The loaded spot discount of AWS (0.5) wins; GCP's stays.
    assert_eq!(
        merged.node_hour(Provider::Aws, Some("us-east-1"), "m5.xlarge", true),
        Some(dollars("0.096"))
    );
    assert_eq!(merged.spot_discounts()[&Provider::Gcp], 0.7);
    // An unlisted region of a type the loaded file overrides takes the loaded price.
    assert_eq!(
        merged.on_demand(Provider::Aws, Some("sa-east-1"), "m5.large"),
        Some(dollars("0.5"))
    );
}

#[test]
fn a_catalog_that_says_replace_drops_the_shipped_prices() {
    let own = PriceCatalog::parse(&format!("@replace\n{OWN}")).expect("parses");
    let merged = PriceCatalog::shipped().overlaid(&own);
    assert_eq!(merged.rows().len(), 2);
    assert_eq!(
        merged.on_demand(Provider::Aws, Some("us-east-1"), "m5.xlarge"),
        None
    );
}

#[test]
fn bad_catalogs_are_refused_with_the_line_that_is_wrong() {
    let header = "provider,region,instance_type,usd_per_hour";
    let cases = [
        (format!("{header}\naws,us-east-1,m5.large,0.1\n"), "price catalog has no @date line: every hour priced from it records its date".to_owned()),
        ("@date 2024-13-01\n".to_owned(), "price catalog line 1: date \"2024-13-01\" is not YYYY-MM-DD".to_owned()),
        ("@date 2024-06-01\nprovider,price\n".to_owned(), format!("price catalog line 2: expected the header {header:?}")),
        (format!("@date 2024-06-01\n{header}\nibm,us-south,bx2-2x8,0.1\n"), "price catalog line 3: unknown provider \"ibm\": use aws, gcp or azure".to_owned()),
        (format!("@date 2024-06-01\n{header}\naws,us-east-1,m5.large\n"), "price catalog line 3: expected 4 fields, found 3".to_owned()),
        (format!("@date 2024-06-01\n{header}\naws,us-east-1,m5.large,-1\n"), "price catalog line 3: invalid amount \"-1\": expected dollars such as 0.04 or $1.5, at most 9 decimals".to_owned()),
        ("@date 2024-06-01\n@spot_discount aws 1.5\n".to_owned(), "price catalog line 2: spot discount \"1.5\" is not a fraction from 0 to 1 with at most 4 decimals".to_owned()),
        ("@date 2024-06-01\n@currency eur\n".to_owned(), "price catalog line 2: unknown directive @currency".to_owned()),
    ];
    for (text, want) in cases {
        let err = PriceCatalog::parse(&text).expect_err(&text);
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn the_provider_comes_from_the_provider_id_else_from_labels() {
    let none = Labels::new();
    let cases = [
        (
            Some("aws:///us-east-1a/i-0abc"),
            none.clone(),
            Some(Provider::Aws),
        ),
        (
            Some("gce://project/us-central1-a/vm-1"),
            none.clone(),
            Some(Provider::Gcp),
        ),
        (
            Some("azure:///subscriptions/x/vm"),
            none.clone(),
            Some(Provider::Azure),
        ),
        (Some("kind://docker/kind/node"), none.clone(), None),
        (
            None,
            labels(&[("eks.amazonaws.com/nodegroup", "a")]),
            Some(Provider::Aws),
        ),
        (
            None,
            labels(&[("karpenter.k8s.aws/instance-family", "m5")]),
            Some(Provider::Aws),
        ),
        (
            None,
            labels(&[("cloud.google.com/gke-nodepool", "p")]),
            Some(Provider::Gcp),
        ),
        (
            None,
            labels(&[("kubernetes.azure.com/agentpool", "p")]),
            Some(Provider::Azure),
        ),
        (None, labels(&[("kubernetes.io/os", "linux")]), None),
    ];
    for (provider_id, labels, want) in cases {
        assert_eq!(
            Provider::of_node(provider_id, &labels),
            want,
            "{provider_id:?} {labels:?}"
        );
    }
}

#[test]
fn every_capacity_type_label_of_the_issue_marks_a_spot_node() {
    let spot = [
        ("karpenter.sh/capacity-type", "spot"),
        ("eks.amazonaws.com/capacityType", "SPOT"),
        ("cloud.google.com/gke-spot", "true"),
        ("cloud.google.com/gke-preemptible", "true"),
        ("kubernetes.azure.com/scalesetpriority", "spot"),
    ];
    for pair in spot {
        assert!(is_spot(&labels(&[pair])), "{pair:?}");
    }
    let on_demand = [
        ("karpenter.sh/capacity-type", "on-demand"),
        ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
        ("cloud.google.com/gke-spot", "false"),
        ("kubernetes.azure.com/scalesetpriority", "regular"),
    ];
    for pair in on_demand {
        assert!(!is_spot(&labels(&[pair])), "{pair:?}");
    }
    assert!(!is_spot(&Labels::new()));
}

#[test]
fn a_catalog_prints_in_its_own_format_and_reads_back_the_same() {
    let shipped = PriceCatalog::shipped();
    let text = shipped.to_string();
    assert!(text.starts_with("@date 2024-06-01\n@source "));
    assert!(text.contains("@spot_discount aws 0.65\n"));
    assert!(text.contains("\naws,us-east-1,m5.xlarge,0.192\n"));
    let again = PriceCatalog::parse(&text).expect("parses");
    assert_eq!(again.rows(), shipped.rows());
    assert_eq!(again.spot_discounts(), shipped.spot_discounts());
}

#[test]
fn the_deployment_catalog_is_the_shipped_one_unless_a_file_is_given() {
    assert_eq!(
        *PriceCatalog::deployment(None).unwrap(),
        *PriceCatalog::shipped()
    );
    let dir = std::env::temp_dir().join(format!("kubeworkz-catalog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("prices.csv");
    std::fs::write(&file, OWN).unwrap();
    let merged = PriceCatalog::deployment(Some(&file)).unwrap();
    assert_eq!(merged.date, "2025-01-15");
    assert_eq!(
        merged.on_demand(Provider::Aws, Some("us-east-1"), "m5.large"),
        Some(dollars("0.5"))
    );
    std::fs::write(&file, "provider,region\n").unwrap();
    let err = PriceCatalog::deployment(Some(&file)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "price catalog {}: price catalog line 1: expected the header \"provider,region,instance_type,usd_per_hour\"",
            file.display()
        )
    );
    let missing = dir.join("missing.csv");
    let err = PriceCatalog::deployment(Some(&missing)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot read the price catalog {}", missing.display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
