//! The exact bytes of the cost endpoints (JSON and CSV) on a fixed dataset, against the
//! committed `fixtures/cost_answers.txt`: the API's shapes may be rebuilt (views, schemas)
//! only if clients keep reading the same answers, key order, float printing and `null`s
//! included. Both backends must answer the same bytes.

use kubeworkz_hub::cost::{
    Allocation, AllocationFlags, CostBreakdown, GpuAllocation, NanoDollars, NetworkAllocation,
    Pricing, PricingMode, ResourceAllocation, StorageAllocation,
};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::client::{TestHub, seed};
use crate::fixtures::agent_cluster;

/// 2026-11-02T00:00:00Z, a Monday: the dataset's first day.
const DAY: i64 = 1_793_577_600_000;
const WINDOW: &str = "2026-11-01T00:00:00Z,2026-11-04T00:00:00Z";
const EXPECTED: &str = include_str!("fixtures/cost_answers.txt");

/// CPU or memory with every quantity distinct, so a swapped field shows in the bytes.
fn resource(base: u128, measured: bool, cost: u64) -> ResourceAllocation {
    ResourceAllocation {
        requested: base * 3,
        used: base * 2 + 7,
        billed: base * 4 + 11,
        measured_requested: if measured { base } else { 0 },
        measured_used: if measured { base / 3 } else { 0 },
        cost: NanoDollars(cost),
    }
}

/// One hour of one namespace; `n` scales every amount so hours and groups differ.
fn hour_row(cluster: ClusterId, hour: i64, namespace: &str, team: &str, n: u64) -> Allocation {
    let cpu = resource(
        1_234_567_890 * u128::from(n),
        !n.is_multiple_of(2),
        12_345_678 * n,
    );
    let memory = resource(
        987_654_321_987 * u128::from(n),
        !n.is_multiple_of(3),
        4_567_891 * n,
    );
    let storage = StorageAllocation {
        byte_millis: 5_368_709_120_000 * u128::from(n),
        cost: NanoDollars(333_333 * n),
    };
    let network = n.is_multiple_of(2).then_some(NetworkAllocation {
        egress_bytes: 123_456_789 * n,
        cost: NanoDollars(1_000_001 * n),
    });
    // Every third hour is node-priced with a GPU half the hour.
    let node_priced = n.is_multiple_of(3);
    let gpu = if node_priced {
        GpuAllocation {
            gpu_millis: 1_800_000 * u128::from(n),
            cost: NanoDollars(143_000_000 * n),
        }
    } else {
        GpuAllocation::default()
    };
    let total = cpu.cost
        + memory.cost
        + storage.cost
        + gpu.cost
        + network.map_or(NanoDollars(0), |x| x.cost);
    let start = UnixMillis(DAY + hour * MILLIS_PER_HOUR);
    Allocation {
        cluster,
        start,
        end: UnixMillis(start.0 + MILLIS_PER_HOUR),
        namespace: namespace.into(),
        team: team.into(),
        cost_center: if n.is_multiple_of(2) {
            "cc-even"
        } else {
            "unallocated"
        }
        .into(),
        labels: [
            ("team".to_owned(), team.to_owned()),
            ("app".to_owned(), format!("app-{}", n % 3)),
        ]
        .into(),
        cost: CostBreakdown {
            cpu,
            memory,
            storage,
            network,
            gpu,
            total,
            flags: AllocationFlags {
                usage_unknown: n % 4 == 1,
                idle_clamped: namespace == "__idle__" && n.is_multiple_of(2),
            },
        },
        pricing: node_priced.then(|| Pricing {
            mode: PricingMode::Node,
            catalog_date: Some("2024-06-01".into()),
        }),
    }
}

pub async fn cost_answers_keep_their_bytes(hub: TestHub) {
    let org = hub.default_org;
    let alpha = seed(&hub, org, "alpha").await;
    let bravo = agent_cluster(&hub.db.store, org, "bravo").await;
    let namespaces = [
        ("web", "shop"),
        ("api", "shop"),
        ("batch", "data"),
        // A name a spreadsheet would run, with a comma and quotes: the CSV defuses and quotes.
        ("=HYPERLINK(\"x\"),y", "data"),
        ("__idle__", "__idle__"),
    ];
    for (cluster, scale) in [(alpha.cluster, 1), (bravo, 5)] {
        for (hour, n) in [(9, 1), (10, 2), (33, 3), (34, 6)] {
            let rows: Vec<Allocation> = namespaces
                .iter()
                .enumerate()
                .map(|(i, (ns, team))| hour_row(cluster, hour, ns, team, scale * n + i as u64))
                .collect();
            hub.db
                .store
                .save_cost_hour(org, cluster, rows[0].start, &rows, chrono::Utc::now())
                .await
                .unwrap();
        }
    }

    let admin = hub.admin().await;
    let ns = &alpha.namespace_uid;
    let paths = [
        format!("/api/v1/k8s/costs?window={WINDOW}&aggregate=namespace&include_idle=true"),
        format!("/api/v1/k8s/costs?window={WINDOW}&aggregate=cluster"),
        format!("/api/v1/k8s/costs?window={WINDOW}&aggregate=label:app&filter=team:shop,data"),
        format!("/api/v1/k8s/costs?window={WINDOW}&aggregate=team&filter=team:nobody"),
        format!("/api/v1/k8s/namespaces/{ns}/costs?window={WINDOW}&step=1h"),
        format!("/api/v1/k8s/namespaces/{ns}/costs?window={WINDOW}&step=1d"),
        format!(
            "/api/v1/k8s/costs?window={WINDOW}&aggregate=namespace&include_idle=true&format=csv"
        ),
        format!("/api/v1/k8s/namespaces/{ns}/costs?window={WINDOW}&step=1h&format=csv"),
    ];
    let mut answers = String::new();
    for path in paths {
        let r = admin.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let header = |name: &str| {
            r.headers
                .get(name)
                .map_or("-", |v| v.to_str().unwrap())
                .to_owned()
        };
        answers.push_str(&format!(
            "== GET {path}\ncontent-type: {}\ncontent-disposition: {}\n{}\n",
            header("content-type"),
            header("content-disposition"),
            r.text
        ));
    }
    // Cluster ids are new per run: name them.
    let answers = answers
        .replace(&alpha.cluster.to_string(), "CLUSTER-ALPHA")
        .replace(&bravo.to_string(), "CLUSTER-BRAVO");
    if answers != EXPECTED {
        let path = std::env::temp_dir().join(format!("cost_answers.{:?}.txt", hub.backend));
        std::fs::write(&path, &answers).unwrap();
        panic!(
            "the cost answers differ from fixtures/cost_answers.txt; this run's are in {}",
            path.display()
        );
    }
}
