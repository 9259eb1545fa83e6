//! Node-based prices in the store: pricing modes per organization and cluster, an
//! organization's catalog loaded over the shipped one, and an hour priced from the catalog
//! saved and read back with its GPUs and what priced it.

use chrono::Utc;
use kubeworkz_hub::cost::{
    NanoDollars, PriceBook, PriceCatalog, Pricing, PricingMode, Provider, allocate_hour,
};
use kubeworkz_hub::store::{CostPeriod, CostRowFilter, StoreError};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::model::LabelKeys;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::costs::{past_hour, pod_at, setup};
use crate::fixtures::*;
use crate::harness::TestStore;

const OWN: &str = "@date 2025-01-15\nprovider,region,instance_type,usd_per_hour\n\
aws,eu-west-1,m5.xlarge,0.3\n";

pub async fn pricing_modes_and_catalogs_resolve_per_scope(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let book = store.price_book(org).await.unwrap();
    assert_eq!(book.for_cluster(cluster).pricing().mode, PricingMode::Unit);

    store
        .set_pricing_mode(org, None, Some(PricingMode::Node))
        .await
        .unwrap();
    let book = store.price_book(org).await.unwrap();
    assert_eq!(book.mode, Some(PricingMode::Node));
    assert_eq!(
        book.for_cluster(cluster).pricing(),
        Pricing {
            mode: PricingMode::Node,
            catalog_date: Some("2024-06-01".into())
        }
    );
    // The cluster's mode wins; setting again replaces; removing falls back.
    store
        .set_pricing_mode(org, Some(cluster), Some(PricingMode::Node))
        .await
        .unwrap();
    store
        .set_pricing_mode(org, Some(cluster), Some(PricingMode::Unit))
        .await
        .unwrap();
    let book = store.price_book(org).await.unwrap();
    assert_eq!(book.cluster_modes, [(cluster, PricingMode::Unit)].into());
    assert_eq!(book.for_cluster(cluster).pricing().mode, PricingMode::Unit);
    store
        .set_pricing_mode(org, Some(cluster), None)
        .await
        .unwrap();
    let book = store.price_book(org).await.unwrap();
    assert!(book.cluster_modes.is_empty());
    assert_eq!(book.for_cluster(cluster).pricing().mode, PricingMode::Node);

    // A loaded catalog overlays the shipped one, for this organization only.
    let own = PriceCatalog::parse(OWN).unwrap();
    store
        .set_price_catalog(org, Some((OWN, &own)))
        .await
        .unwrap();
    let book = store.price_book(org).await.unwrap();
    assert_eq!(book.effective_catalog().date, "2025-01-15");
    let price = |book: &PriceBook, region: &str, instance_type: &str| {
        book.effective_catalog()
            .on_demand(Provider::Aws, Some(region), instance_type)
    };
    assert_eq!(
        price(&book, "eu-west-1", "m5.xlarge"),
        Some(NanoDollars(300_000_000))
    );
    assert_eq!(
        price(&book, "us-east-1", "m5.xlarge"),
        Some(NanoDollars(192_000_000))
    );

    let other = store.ensure_organization("other").await.unwrap().id;
    assert_eq!(store.price_book(other).await.unwrap(), PriceBook::default());
    let err = store
        .set_pricing_mode(other, Some(cluster), Some(PricingMode::Node))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ClusterNotFound), "{err:?}");

    store.set_price_catalog(org, None).await.unwrap();
    store.set_pricing_mode(org, None, None).await.unwrap();
    assert_eq!(store.price_book(org).await.unwrap(), PriceBook::default());
}

pub async fn a_node_priced_hour_keeps_its_gpus_and_pricing(t: TestStore) {
    let (org, cluster) = setup(&t).await;
    let store = &t.store;
    let hour = past_hour();
    // An EKS GPU node in eu-west-1, and a pod requesting its GPU all hour.
    let Object::Node(mut gpu_node) = node("gpu-a", "uid-gpu-a") else {
        unreachable!("the fixture is a node")
    };
    gpu_node.instance_type = Some("g4dn.xlarge".into());
    gpu_node.capacity.gpus = 1;
    gpu_node.provider_id = Some("aws:///eu-west-1a/i-0abc".into());
    gpu_node
        .labels
        .insert("karpenter.sh/capacity-type".into(), "on-demand".into());
    let Object::Pod(mut p) = pod_at(
        "ml",
        "train",
        Some(UnixMillis(hour.0 - MILLIS_PER_HOUR)),
        None,
    ) else {
        unreachable!("the fixture is a pod")
    };
    p.node = Some("gpu-a".into());
    p.containers[0].requests.gpus = Some(1);
    let objects = vec![Object::Node(gpu_node), Object::Pod(p)];
    let mut cursors = Cursors::new(1);
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(snapshot(&[ObjectKind::Node, ObjectKind::Pod], &objects)),
        )
        .await
        .unwrap();
    store
        .set_pricing_mode(org, None, Some(PricingMode::Node))
        .await
        .unwrap();

    let input = store.cost_hour_input(org, cluster, hour).await.unwrap();
    let node = &input.nodes[0];
    assert_eq!(node.provider, Some(Provider::Aws));
    assert_eq!(node.region.as_deref(), Some("eu-west-1"));
    assert!(!node.spot);
    let prices = store.price_book(org).await.unwrap().for_cluster(cluster);
    let rows = allocate_hour(&input, &prices, &LabelKeys::default());
    // g4dn.xlarge in eu-west-1 costs 0.587 an hour; CPU and memory (4 cores, 16 GiB) at the
    // seed prices take 0.24 and the GPU the other 0.347, all of it requested by the pod.
    let total: NanoDollars = rows.iter().map(|r| r.cost.total).sum();
    assert_eq!(total, NanoDollars(587_000_000));
    let ml = rows.iter().find(|r| r.namespace == "ml").unwrap();
    assert_eq!(ml.cost.gpu.cost, NanoDollars(347_000_000));
    store
        .save_cost_hour(org, cluster, hour, &rows, Utc::now())
        .await
        .unwrap();
    let filter = CostRowFilter {
        period: CostPeriod::Hour,
        start: hour,
        end: UnixMillis(hour.0 + MILLIS_PER_HOUR),
        cluster: Some(cluster),
        namespace: None,
    };
    let stored = store.cost_rows(org, &filter).await.unwrap();
    let mut rows = rows;
    rows.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    assert_eq!(stored.len(), rows.len());
    for (stored, computed) in stored.iter().zip(&rows) {
        assert_eq!(stored.namespace, computed.namespace);
        assert_eq!(stored.cost.gpu, computed.cost.gpu);
        assert_eq!(stored.cost.total, computed.cost.total);
        assert_eq!(
            stored.pricing,
            Some(Pricing {
                mode: PricingMode::Node,
                catalog_date: Some("2024-06-01".into())
            })
        );
    }
    let ml = stored.iter().find(|r| r.namespace == "ml").unwrap();
    assert_eq!(ml.cost.gpu.gpu_millis, 3_600_000);
}
