//! The hub's Helm chart on a real apiserver: linted and rendered by the real Helm, server-side
//! applied with three replicas on PostgreSQL, and its pods Running on simulated nodes (KWOK);
//! its values schema refuses what the hub would not start with.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kubeworkz_testkit::chart::{self, HUB_CHART};
use kubeworkz_testkit::cluster::{ClusterSpec, KUBE_VERSION, NodeSpec, TestCluster};
use kubeworkz_testkit::wait::eventually;

const NAMESPACE: &str = "kubeworkz-hub";
const FULLNAME: &str = "kw-kubeworkz-hub";
/// base64 of 32 bytes: a well-formed master key (nothing is sealed with it here).
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const SELECTOR: &str = "app.kubernetes.io/name=kubeworkz-hub,app.kubernetes.io/instance=kw";

fn init_tracing() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
}

/// The values of a three-replica install on PostgreSQL.
fn replicated() -> Vec<(&'static str, &'static str)> {
    vec![
        ("replicaCount", "3"),
        ("masterKey.value", MASTER_KEY),
        ("database.backend", "postgres"),
        (
            "database.url",
            "postgres://kw:pw@postgres.db:5432/kubeworkz",
        ),
        ("quic.names[0]", "hub.example.com"),
        ("publicUrl", "https://kubeworkz.example.com"),
    ]
}

fn running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

#[tokio::test]
async fn three_replicas_install_and_run_on_a_real_apiserver() -> Result<()> {
    init_tracing();
    let nodes = (0..3)
        .map(|i| NodeSpec::new(format!("worker-{i}")).capacity("4", "16Gi"))
        .collect();
    let cluster = TestCluster::start(ClusterSpec::new("hub-chart", nodes)).await?;
    let version = cluster.server_version().to_owned();
    chart::lint(HUB_CHART, &replicated(), &version).await?;
    chart::lint(HUB_CHART, &[("masterKey.value", MASTER_KEY)], &version).await?;

    let yaml = chart::render(HUB_CHART, NAMESPACE, &replicated(), &version).await?;
    cluster.create_namespace(NAMESPACE).await?;
    chart::apply(&cluster.client(), &yaml).await?;
    let client = cluster.client();

    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let running_pods = eventually("3 hub pods Running", Duration::from_secs(120), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default().labels(SELECTOR)).await?;
            let up: Vec<Pod> = list.items.into_iter().filter(running).collect();
            Ok((up.len() == 3).then_some(up))
        }
    })
    .await
    .with_context(|| cluster.logs_tail())?;
    // Preferred anti-affinity by host name: one replica per node while nodes suffice.
    let hosts: BTreeSet<String> = running_pods
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    assert_eq!(hosts.len(), 3, "replicas share nodes: {hosts:?}");
    let pod = running_pods[0].spec.as_ref().context("pod without spec")?;
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap_or_default();
    for flag in [
        "serve",
        "--log-json",
        "--quic-name=hub.example.com",
        "--public-url=https://kubeworkz.example.com",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing in {args:?}");
    }
    let security = container
        .security_context
        .as_ref()
        .context("no securityContext")?;
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.run_as_non_root),
        Some(true)
    );
    let probe_path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(
        probe_path(&container.liveness_probe).as_deref(),
        Some("/healthz")
    );
    assert_eq!(
        probe_path(&container.readiness_probe).as_deref(),
        Some("/readyz")
    );

    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let ports = |service: Service| -> Result<(String, Vec<(i32, String)>)> {
        let spec = service.spec.context("service without spec")?;
        let ports = spec.ports.unwrap_or_default();
        let ports = ports
            .into_iter()
            .map(|p| (p.port, p.protocol.unwrap_or_default()))
            .collect();
        Ok((spec.type_.unwrap_or_default(), ports))
    };
    assert_eq!(
        ports(services.get(FULLNAME).await?)?,
        ("ClusterIP".to_owned(), vec![(80, "TCP".to_owned())])
    );
    assert_eq!(
        ports(services.get(&format!("{FULLNAME}-quic")).await?)?,
        ("LoadBalancer".to_owned(), vec![(7443, "UDP".to_owned())])
    );

    // The disruption controller counts the three ready replicas against the budget.
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NAMESPACE);
    let budget = budgets.get(FULLNAME).await?;
    assert_eq!(
        budget.spec.and_then(|s| s.max_unavailable),
        Some(IntOrString::Int(1))
    );
    eventually(
        "the budget allows one disruption",
        Duration::from_secs(60),
        || {
            let budgets = budgets.clone();
            async move {
                let status = budgets.get(FULLNAME).await?.status;
                Ok(status
                    .is_some_and(|s| {
                        s.current_healthy == Some(3) && s.disruptions_allowed == Some(1)
                    })
                    .then_some(()))
            }
        },
    )
    .await?;

    let secret = Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .get(FULLNAME)
        .await?;
    let keys: BTreeSet<String> = secret.data.unwrap_or_default().into_keys().collect();
    assert_eq!(
        keys,
        BTreeSet::from(["database-url".to_owned(), "master.key".to_owned()])
    );
    let deployment = Api::<Deployment>::namespaced(client, NAMESPACE)
        .get(FULLNAME)
        .await?;
    let strategy = deployment
        .spec
        .and_then(|s| s.strategy)
        .and_then(|s| s.type_);
    assert_eq!(strategy.as_deref(), Some("RollingUpdate"));
    Ok(())
}

/// Renders `values` and returns Helm's refusal.
async fn refusal(values: &[(&str, &str)]) -> Result<String> {
    match chart::render(HUB_CHART, NAMESPACE, values, KUBE_VERSION).await {
        Ok(_) => bail!("helm rendered {values:?}"),
        Err(e) => Ok(format!("{e:#}")),
    }
}

#[tokio::test]
async fn the_values_schema_refuses_what_the_hub_would_not_start_with() -> Result<()> {
    init_tracing();
    let key = ("masterKey.value", MASTER_KEY);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        // Several replicas on one SQLite file would corrupt it.
        (vec![key, ("replicaCount", "3")], "at '/database/backend'"),
        (vec![], "at '/masterKey'"),
        (
            vec![("masterKey.value", "c2hvcnQ=")],
            "at '/masterKey/value'",
        ),
        (
            vec![key, ("masterKey.existingSecret", "mine")],
            "at '/masterKey'",
        ),
        (
            vec![key, ("database.backend", "postgres")],
            "at '/database'",
        ),
        (
            vec![
                key,
                ("database.backend", "postgres"),
                ("database.url", "mysql://db/kw"),
            ],
            "at '/database/url'",
        ),
        (
            vec![key, ("database.backend", "mysql")],
            "at '/database/backend'",
        ),
        (vec![key, ("replicaCount", "0")], "at '/replicaCount'"),
        (
            vec![key, ("quic.service.type", "Ingress")],
            "at '/quic/service/type'",
        ),
        (vec![key, ("logFormat", "xml")], "at '/logFormat'"),
        (
            vec![key, ("publicUrl", "kubeworkz.example.com")],
            "at '/publicUrl'",
        ),
        (vec![key, ("image.digest", "latest")], "at '/image/digest'"),
    ];
    for (values, expected) in cases {
        let message = refusal(&values).await?;
        assert!(
            message.contains("values don't meet the specifications of the schema")
                && message.contains(expected),
            "{values:?}: expected {expected:?} in: {message}"
        );
    }

    // The defaults: one replica on SQLite with its volume, replaced (never two at once), no
    // budget; a digest pins the image.
    let single = chart::render(
        HUB_CHART,
        NAMESPACE,
        &[
            key,
            (
                "image.digest",
                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
        ],
        KUBE_VERSION,
    )
    .await?;
    let kinds: Vec<&str> = single
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert!(kinds.contains(&"PersistentVolumeClaim"), "{kinds:?}");
    assert!(!kinds.contains(&"PodDisruptionBudget"), "{kinds:?}");
    assert!(single.contains("type: Recreate"));
    assert!(single.contains("sqlite:///var/lib/kubeworkz/kubeworkz.db"));
    assert!(single.contains(
        "ghcr.io/kubeworkz/kubeworkz-hub@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    ));
    Ok(())
}
