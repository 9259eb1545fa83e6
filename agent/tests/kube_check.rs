//! `kubeworkz-agent check` with the chart's own RBAC, against a real apiserver: the rendered
//! manifests are applied, the check runs with the chart ServiceAccount's token, and it must
//! collect everything — and be refused Secrets when Helm releases are off, which is the
//! chart's default.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kubeworkz_agent::check;
use kubeworkz_agent::config::CollectorSettings;
use kubeworkz_agent::rbac::{self, Permission};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::protocol::Operation;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde::Deserialize as _;

use kubeworkz_testkit::chart::{
    CREDENTIALS_SECRET, NAMESPACE, TOKEN_SECRET, agent_client, apply, render_chart,
};

/// The agent's collector settings as the chart renders them by default, Helm releases set.
fn settings(helm_releases: bool) -> CollectorSettings {
    CollectorSettings {
        helm_releases,
        ..CollectorSettings::default()
    }
}

async fn cluster_with_chart(name: &str, helm_releases: bool) -> Result<TestCluster> {
    cluster_with_values(name, helm_releases, &[]).await
}

async fn cluster_with_values(
    name: &str,
    helm_releases: bool,
    values: &[(&str, &str)],
) -> Result<TestCluster> {
    let cluster = TestCluster::start(ClusterSpec::new(name, vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace(NAMESPACE).await?;
    apply(
        &cluster.client(),
        &render_chart(
            &[
                ("hub.address", "hub.example.com:7443"),
                ("token", "kwt_test"),
                ("helm.releases.enabled", &helm_releases.to_string()),
            ]
            .into_iter()
            .chain(values.iter().copied())
            .collect::<Vec<_>>(),
            cluster.server_version(),
        )
        .await?,
    )
    .await?;
    Ok(cluster)
}

#[tokio::test]
async fn the_charts_rbac_is_enough_to_collect_everything() -> Result<()> {
    let cluster = cluster_with_chart("rbac-full", true).await?;
    let client = agent_client(&cluster).await?;
    let report = check::run(client, &settings(true), Duration::from_secs(90)).await?;
    println!("{report}");
    assert!(report.ok(), "{report}");
    assert!(report.access.iter().all(|a| a.allowed));
    // The chart's default operations: logs and events granted, objects needs nothing more;
    // actions and exec are off, so their RBAC is not granted.
    let by_default: Vec<(Operation, bool)> = Operation::ALL
        .into_iter()
        .map(|op| (op, !matches!(op, Operation::Actions | Operation::Exec)))
        .collect();
    assert_eq!(report.operations, by_default, "{report}");
    assert!(
        format!("{report}").contains(
            "actions: not allowed by RBAC (chart value operations.actions=true grants it)"
        ),
        "{report}"
    );
    let count = |kind| {
        report
            .counts
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
    };
    assert_eq!(count(ObjectKind::Node), Some(1));
    assert!(count(ObjectKind::Namespace).unwrap_or(0) >= 5, "{report}");
    assert_eq!(count(ObjectKind::HelmRelease), Some(0));
    for kind in ObjectKind::WORKLOADS.into_iter().chain(ObjectKind::QUOTAS) {
        assert!(count(kind).is_some(), "{kind:?} collected: {report}");
    }
    assert!(report.server_version.starts_with("v1.36."), "{report}");
    assert!(
        format!("{report}").contains(
            "helm releases: collected (KUBEWORKZ_HELM_RELEASES=true, helm.releases.enabled) — \
             the agent needs get/list/watch on ALL Secrets in ALL namespaces"
        ),
        "{report}"
    );
    Ok(())
}

#[tokio::test]
async fn an_operation_switched_off_in_the_chart_is_not_allowed_by_its_rbac() -> Result<()> {
    let cluster = cluster_with_values(
        "rbac-ops",
        false,
        &[("operations.logs", "false"), ("operations.events", "false")],
    )
    .await?;
    let client = agent_client(&cluster).await?;
    let report = check::run(client, &settings(false), Duration::from_secs(90)).await?;
    let allowed = |op| {
        report
            .operations
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, a)| *a)
    };
    assert_eq!(allowed(Operation::Logs), Some(false), "{report}");
    assert_eq!(allowed(Operation::Events), Some(false), "{report}");
    assert_eq!(allowed(Operation::Objects), Some(true), "{report}");
    assert!(
        format!("{report}")
            .contains("logs: not allowed by RBAC (chart value operations.logs=true grants it)"),
        "{report}"
    );
    // Collecting needs none of them.
    assert!(report.ok(), "{report}");
    Ok(())
}

/// What `operations.actions` and `operations.exec` must not grant: every other write on
/// deployments and pods.
fn beyond_actions() -> Vec<Permission> {
    let permission = |group, resource, verbs, subresource| Permission {
        group,
        resource,
        verbs,
        namespace: None,
        name: None,
        subresource,
        why: "must stay denied",
    };
    vec![
        permission(
            "apps",
            "deployments",
            &["create", "update", "delete", "deletecollection"],
            None,
        ),
        permission("apps", "deployments", &["create", "delete"], Some("scale")),
        permission(
            "",
            "pods",
            &["create", "update", "patch", "deletecollection"],
            None,
        ),
        permission("", "pods", &["create"], Some("attach")),
        permission("", "pods", &["create"], Some("portforward")),
        permission("apps", "replicasets", &["patch", "delete"], None),
        permission("apps", "statefulsets", &["patch", "delete"], None),
        permission("", "services", &["delete"], None),
    ]
}

#[tokio::test]
async fn actions_and_exec_grant_their_verbs_and_nothing_more() -> Result<()> {
    let cluster = cluster_with_values(
        "rbac-actions",
        false,
        &[("operations.actions", "true"), ("operations.exec", "true")],
    )
    .await?;
    let client = agent_client(&cluster).await?;
    let report = check::run(client.clone(), &settings(false), Duration::from_secs(90)).await?;
    assert!(report.ok(), "{report}");
    assert!(
        report.operations.iter().all(|(_, allowed)| *allowed),
        "{report}"
    );
    for op in [Operation::Actions, Operation::Exec] {
        let granted = rbac::verify(&client, rbac::operation_permissions(op)).await?;
        assert!(!granted.is_empty() && granted.iter().all(|c| c.allowed));
    }
    let denied = rbac::verify(&client, &beyond_actions()).await?;
    let allowed: Vec<_> = denied
        .iter()
        .filter(|c| c.allowed)
        .map(|c| (c.permission.resource, c.permission.subresource, c.verb))
        .collect();
    assert!(
        allowed.is_empty(),
        "granted beyond the actions: {allowed:?}"
    );

    // Without the switches (the chart's default), the same client is refused the actions.
    let cluster = cluster_with_chart("rbac-noactions", false).await?;
    let client = agent_client(&cluster).await?;
    for op in [Operation::Actions, Operation::Exec] {
        let checks = rbac::verify(&client, rbac::operation_permissions(op)).await?;
        assert!(checks.iter().all(|c| !c.allowed), "{op}: {checks:?}");
    }
    Ok(())
}

/// A workload or quota kind switched off in the chart is neither granted nor asked for;
/// asking for it anyway is refused exactly its list and watch.
#[tokio::test]
async fn a_workload_kind_switched_off_is_not_granted_nor_collected() -> Result<()> {
    let cluster = cluster_with_values(
        "rbac-workloads",
        false,
        &[
            ("workloads.cronJobs", "false"),
            ("workloads.daemonSets", "false"),
            ("quotas.limitRanges", "false"),
        ],
    )
    .await?;
    let client = agent_client(&cluster).await?;
    let without = CollectorSettings {
        workloads: vec![
            ObjectKind::StatefulSet,
            ObjectKind::ReplicaSet,
            ObjectKind::Job,
        ],
        quotas: vec![ObjectKind::ResourceQuota],
        ..settings(false)
    };
    let report = check::run(client.clone(), &without, Duration::from_secs(90)).await?;
    assert!(report.ok(), "{report}");
    let counted: Vec<ObjectKind> = report.counts.iter().map(|(k, _)| *k).collect();
    assert!(counted.contains(&ObjectKind::Job), "{report}");
    assert!(!counted.contains(&ObjectKind::CronJob), "{report}");
    assert!(!counted.contains(&ObjectKind::DaemonSet), "{report}");
    assert!(counted.contains(&ObjectKind::ResourceQuota), "{report}");
    assert!(!counted.contains(&ObjectKind::LimitRange), "{report}");

    let report = check::run(client, &settings(false), Duration::from_secs(20)).await?;
    assert!(!report.ok());
    let denied: Vec<_> = report
        .access
        .iter()
        .filter(|a| !a.allowed)
        .map(|a| (a.permission.group, a.permission.resource, a.verb))
        .collect();
    assert_eq!(
        denied,
        [
            ("apps", "daemonsets", "list"),
            ("apps", "daemonsets", "watch"),
            ("batch", "cronjobs", "list"),
            ("batch", "cronjobs", "watch"),
            ("", "limitranges", "list"),
            ("", "limitranges", "watch"),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn without_helm_releases_the_agent_cannot_read_secrets() -> Result<()> {
    let cluster = cluster_with_chart("rbac-nohelm", false).await?;
    let client = agent_client(&cluster).await?;

    let report = check::run(client.clone(), &settings(false), Duration::from_secs(90)).await?;
    assert!(report.ok(), "{report}");
    assert!(
        format!("{report}").contains(
            "helm releases: not collected (KUBEWORKZ_HELM_RELEASES=false) — the hub shows no \
             Helm releases for this cluster; the agent reads no Secret but its own credentials"
        ),
        "{report}"
    );
    assert!(
        !report
            .counts
            .iter()
            .any(|(k, _)| *k == ObjectKind::HelmRelease)
    );

    // Asking for Helm releases anyway: exactly the three secret verbs are denied.
    let report = check::run(client.clone(), &settings(true), Duration::from_secs(20)).await?;
    assert!(!report.ok());
    let denied: Vec<_> = report
        .access
        .iter()
        .filter(|a| !a.allowed)
        .map(|a| (a.permission.resource, a.verb))
        .collect();
    assert_eq!(
        denied,
        [
            ("secrets", "get"),
            ("secrets", "list"),
            ("secrets", "watch")
        ]
    );
    assert!(
        format!("{report}").contains("DENY get    core/secrets"),
        "{report}"
    );

    // And the apiserver refuses a direct read.
    let err = Api::<Secret>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );

    // Its own credentials Secret, and only that one, it may read and write.
    let secrets = Api::<Secret>::namespaced(client, NAMESPACE);
    let mut own = secrets.get(CREDENTIALS_SECRET).await?;
    own.data = Some([("probe".to_owned(), k8s_openapi::ByteString(b"x".to_vec()))].into());
    secrets
        .replace(CREDENTIALS_SECRET, &PostParams::default(), &own)
        .await?;
    for denied in [
        secrets.get(TOKEN_SECRET).await.map(drop),
        secrets
            .create(
                &PostParams::default(),
                &Secret {
                    metadata: kube::api::ObjectMeta {
                        name: Some("another".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        secrets
            .delete(CREDENTIALS_SECRET, &Default::default())
            .await
            .map(drop),
    ] {
        let err = denied.unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 403),
            "{err}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn by_default_the_chart_grants_no_secret_but_the_agents_own() -> Result<()> {
    // No helm.releases value: what `helm install` with the printed line gives.
    let yaml = render_chart(
        &[
            ("hub.address", "hub.example.com:7443"),
            ("token", "kwt_test"),
        ],
        "1.36.3",
    )
    .await?;
    let mut secret_rules = Vec::new();
    let mut helm_releases_env = None;
    let mut workloads_env = None;
    let mut quotas_env = None;
    for document in serde_yaml::Deserializer::from_str(&yaml) {
        let object = serde_yaml::Value::deserialize(document)?;
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        for rule in object["rules"].as_sequence().into_iter().flatten() {
            let resources = rule["resources"].as_sequence().into_iter().flatten();
            if resources.clone().any(|r| r == "secrets") {
                let names: Vec<String> = rule["resourceNames"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect();
                secret_rules.push((kind.clone(), names));
            }
        }
        let containers = &object["spec"]["template"]["spec"]["containers"];
        for env in containers[0]["env"].as_sequence().into_iter().flatten() {
            if env["name"] == "KUBEWORKZ_HELM_RELEASES" {
                helm_releases_env = env["value"].as_str().map(str::to_owned);
            }
            if env["name"] == "KUBEWORKZ_WORKLOADS" {
                workloads_env = env["value"].as_str().map(str::to_owned);
            }
            if env["name"] == "KUBEWORKZ_QUOTAS" {
                quotas_env = env["value"].as_str().map(str::to_owned);
            }
        }
    }
    assert_eq!(
        secret_rules,
        [("Role".to_owned(), vec![CREDENTIALS_SECRET.to_owned()])],
        "by default the only Secret the agent may touch is its own credentials"
    );
    assert_eq!(helm_releases_env.as_deref(), Some("false"));
    assert_eq!(
        workloads_env.as_deref(),
        Some("statefulsets,daemonsets,replicasets,jobs,cronjobs")
    );
    assert_eq!(quotas_env.as_deref(), Some("resourcequotas,limitranges"));
    // Both quota switches off: the agent is told `none` (empty would mean both), and no
    // rule names either resource.
    let off = render_chart(
        &[
            ("hub.address", "hub.example.com:7443"),
            ("token", "kwt_test"),
            ("quotas.resourceQuotas", "false"),
            ("quotas.limitRanges", "false"),
        ],
        "1.36.3",
    )
    .await?;
    assert!(
        off.contains("name: KUBEWORKZ_QUOTAS\n              value: \"none\""),
        "{off}"
    );
    assert!(
        !off.contains("resourcequotas") && !off.contains("limitranges"),
        "{off}"
    );
    Ok(())
}
