//! Creates a plan's workloads in its cluster through the Kubernetes API (and the real `helm`),
//! and scales the churn Deployment.

use std::path::Path;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Namespace as K8sNamespace, PersistentVolume, PersistentVolumeClaim,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubeworkz_testkit::child::command_dying_with_parent;
use kubeworkz_testkit::cluster::{
    CRASH_LOOP_LABEL, TestCluster, USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::fleet::{App, Claim, HelmRelease, Plan};

/// The storage class of the pre-created volumes: no provisioner, so claims bind to them.
const STORAGE_CLASS: &str = "local-disk";

fn object<T: DeserializeOwned>(value: Value) -> Result<T> {
    Ok(serde_json::from_value(value)?)
}

/// Namespaces (labelled), volumes and claims, Deployments, and the Helm release of `plan`.
pub async fn create(plan: &Plan, cluster: &TestCluster, helm: &Path, dir: &Path) -> Result<()> {
    let client = cluster.client();
    let namespaces: Api<K8sNamespace> = Api::all(client.clone());
    for ns in plan.namespaces {
        let labels = json!({"team": ns.team, "cost-center": ns.cost_center});
        namespaces
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": ns.name, "labels": labels}}))?,
            )
            .await
            .with_context(|| format!("creating namespace {}", ns.name))?;
    }
    if !plan.claims.is_empty() {
        Api::<StorageClass>::all(client.clone())
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": STORAGE_CLASS},
                    "provisioner": "kubernetes.io/no-provisioner",
                    "volumeBindingMode": "Immediate",
                }))?,
            )
            .await
            .context("creating the storage class")?;
    }
    for claim in plan.claims {
        create_claim(cluster, claim).await?;
    }
    for app in plan.apps {
        Api::<Deployment>::namespaced(client.clone(), app.namespace)
            .create(&PostParams::default(), &deployment(app)?)
            .await
            .with_context(|| format!("creating deployment {}/{}", app.namespace, app.name))?;
    }
    if let Some(release) = &plan.helm {
        helm_install(cluster, release, helm, &dir.join("helm")).await?;
    }
    Ok(())
}

/// A volume of the claim's size and the claim; the real PersistentVolume controller binds
/// them.
async fn create_claim(cluster: &TestCluster, claim: &Claim) -> Result<()> {
    let volume = format!("pv-{}-{}", claim.namespace, claim.name);
    Api::<PersistentVolume>::all(cluster.client())
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": claim.size},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "hostPath": {"path": format!("/var/lib/demo/{volume}")},
                },
            }))?,
        )
        .await
        .with_context(|| format!("creating volume {volume}"))?;
    Api::<PersistentVolumeClaim>::namespaced(cluster.client(), claim.namespace)
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": claim.name},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": STORAGE_CLASS,
                    "resources": {"requests": {"storage": claim.size}},
                },
            }))?,
        )
        .await
        .with_context(|| format!("creating claim {}/{}", claim.namespace, claim.name))?;
    Ok(())
}

fn deployment(app: &App) -> Result<Deployment> {
    let mut labels = json!({"app": app.name});
    if app.crash_loops {
        labels[CRASH_LOOP_LABEL] = json!("true");
    }
    let mut pod = json!({
        "containers": [{
            "name": app.name,
            "image": format!("registry.example.com/{}/{}:1.8.2", app.namespace, app.name),
            "resources": {"requests": {"cpu": app.cpu_request, "memory": app.memory_request}},
        }],
    });
    if let Some(claim) = app.claim {
        pod["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
        pod["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    }
    object(json!({
        "metadata": {"name": app.name, "labels": {"app": app.name}},
        "spec": {
            "replicas": app.replicas,
            "selector": {"matchLabels": {"app": app.name}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        USAGE_CPU_ANNOTATION: app.cpu_usage,
                        USAGE_MEMORY_ANNOTATION: app.memory_usage,
                    },
                },
                "spec": pod,
            },
        },
    }))
}

/// Writes a small chart (one Deployment) and installs it with the real `helm`, which stores
/// the release as Helm does everywhere: a `helm.sh/release.v1` Secret.
async fn helm_install(
    cluster: &TestCluster,
    release: &HelmRelease,
    helm: &Path,
    home: &Path,
) -> Result<()> {
    let chart = home.join("charts").join(release.chart);
    let templates = chart.join("templates");
    std::fs::create_dir_all(&templates)
        .with_context(|| format!("creating {}", templates.display()))?;
    std::fs::write(
        chart.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: {}\nversion: {}\nappVersion: \"{}\"\n\
             description: Scrapes and forwards metrics (kubeworkz demo chart)\n",
            release.chart, release.chart_version, release.app_version
        ),
    )?;
    std::fs::write(
        chart.join("values.yaml"),
        "replicaCount: 1\nresources:\n  requests:\n    cpu: 100m\n    memory: 128Mi\n",
    )?;
    std::fs::write(
        templates.join("deployment.yaml"),
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Chart.Name }}}}
  labels:
    app.kubernetes.io/name: {{{{ .Chart.Name }}}}
    app.kubernetes.io/instance: {{{{ .Release.Name }}}}
    app.kubernetes.io/managed-by: {{{{ .Release.Service }}}}
spec:
  replicas: {{{{ .Values.replicaCount }}}}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{{{ .Release.Name }}}}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{{{ .Release.Name }}}}
      annotations:
        {USAGE_CPU_ANNOTATION}: 40m
        {USAGE_MEMORY_ANNOTATION}: 96Mi
    spec:
      containers:
        - name: collector
          image: "registry.example.com/platform/{{{{ .Chart.Name }}}}:{{{{ .Chart.AppVersion }}}}"
          resources:
            {{{{- toYaml .Values.resources | nindent 12 }}}}
"#
        ),
    )?;
    let mut command = command_dying_with_parent(helm);
    command
        .args(["install", release.release])
        .arg(&chart)
        .args(["--namespace", release.namespace])
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        // Helm's caches and settings stay in the demo directory, away from the user's own.
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    let out = tokio::process::Command::from(command)
        .output()
        .await
        .with_context(|| format!("running {}", helm.display()))?;
    if !out.status.success() {
        bail!(
            "helm install {} failed ({}): {}",
            release.release,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Sets a Deployment's replicas.
pub async fn scale(
    cluster: &TestCluster,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> Result<()> {
    Api::<Deployment>::namespaced(cluster.client(), namespace)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .with_context(|| format!("scaling {namespace}/{name} to {replicas}"))?;
    Ok(())
}
