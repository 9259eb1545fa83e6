//! `kubeworkz-agent check`: the first thing an operator runs.
//!
//! Connects with the agent's own identity, verifies every permission it needs, takes one full
//! snapshot with the real collector, and reports what it sees: counts per kind, the detected
//! provider and the health verdict. Exit status 0 only when every permission is granted and
//! the snapshot completed.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use kube::Client;
use kubeworkz_shared::change::{Change, ObjectKind};
use kubeworkz_shared::collect::{Collector, CollectorOutput, ControlPlaneProbes};
use kubeworkz_shared::model::health::evaluate;
use kubeworkz_shared::model::provider::{ProviderDetection, detect_provider};
use kubeworkz_shared::model::{HealthReport, NodeProjection};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::CollectorSettings;
use crate::rbac::{self, AccessCheck};

/// Everything `check` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The apiserver's gitVersion.
    pub server_version: String,
    /// Whether Helm releases are collected (and so every Secret may be read).
    pub helm_releases: bool,
    /// One row per verb and resource.
    pub access: Vec<AccessCheck>,
    /// Objects per kind in the snapshot (absent: that kind's snapshot did not complete).
    pub counts: Vec<(ObjectKind, usize)>,
    /// Each operation the hub may ask for, and whether the RBAC allows it.
    pub operations: Vec<(kubeworkz_shared::protocol::Operation, bool)>,
    /// Kinds whose snapshot did not complete in time.
    pub incomplete: Vec<ObjectKind>,
    /// What the cluster is.
    pub provider: ProviderDetection,
    /// Health verdict.
    pub health: HealthReport,
}

impl CheckReport {
    /// Whether the agent can run: every permission granted, every snapshot complete.
    pub fn ok(&self) -> bool {
        self.access.iter().all(|a| a.allowed) && self.incomplete.is_empty()
    }

    /// What collecting Helm releases means for access to Secrets: operators should see the
    /// cost of the setting, not only its value (RBAC cannot grant Secrets of one type).
    pub fn helm_releases_line(&self) -> &'static str {
        if self.helm_releases {
            "helm releases: collected (KUBEWORKZ_HELM_RELEASES=true, helm.releases.enabled) — \
             the agent needs get/list/watch on ALL Secrets in ALL namespaces; it reads only \
             type helm.sh/release.v1, but its ServiceAccount may read every Secret"
        } else {
            "helm releases: not collected (KUBEWORKZ_HELM_RELEASES=false) — the hub shows no \
             Helm releases for this cluster; the agent reads no Secret but its own credentials (set \
             helm.releases.enabled=true to collect them, which grants reading every Secret)"
        }
    }
}

/// Errors that stop the check before it can report.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The apiserver did not answer the version request.
    #[error("cannot reach the apiserver: {0}")]
    Connect(#[source] kube::Error),
    /// The permission review failed.
    #[error(transparent)]
    Rbac(#[from] rbac::RbacError),
}

/// Runs the check against the cluster `client` talks to, collecting what `settings` say.
pub async fn run(
    client: Client,
    settings: &CollectorSettings,
    timeout: Duration,
) -> Result<CheckReport, CheckError> {
    let helm_releases = settings.helm_releases;
    let version = client
        .apiserver_version()
        .await
        .map_err(CheckError::Connect)?;
    let switchable = [settings.workloads.as_slice(), &settings.quotas].concat();
    let needed = rbac::needed(helm_releases, &switchable);
    let access = rbac::verify(&client, &needed).await?;
    let operations = rbac::verify_operations(&client).await?;

    let config = settings.collector_config();
    // The kinds this configuration collects: the snapshot waits for them, the report counts them.
    let kinds = config.kinds();
    let collector = Collector::new(client.clone(), config);
    let inventory = collector.inventory();
    let (tx, mut rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(tx, shutdown.clone()));

    let mut pending: BTreeSet<ObjectKind> = kinds.iter().copied().collect();
    let deadline = tokio::time::Instant::now() + timeout;
    while !pending.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(CollectorOutput::Changes(batch))) => {
                for change in &batch.changes {
                    if let Change::SnapshotEnd { kinds } = change {
                        for kind in kinds {
                            pending.remove(kind);
                        }
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    shutdown.cancel();
    let _ = task.await;

    let probes = ControlPlaneProbes::gather(&client).await;
    let inventory = inventory.lock().expect("inventory lock poisoned").clone();
    let health = evaluate(&probes.signals(&inventory));
    let nodes: Vec<NodeProjection> = inventory.nodes().cloned().collect();
    Ok(CheckReport {
        provider: detect_provider(Some(&version.git_version), &nodes),
        server_version: version.git_version,
        helm_releases,
        access,
        operations,
        counts: kinds.into_iter().map(|k| (k, inventory.count(k))).collect(),
        incomplete: pending.into_iter().collect(),
        health,
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "apiserver: {}", self.server_version)?;
        writeln!(
            f,
            "provider:  {} ({})",
            self.provider.provider.name(),
            self.provider.evidence
        )?;
        writeln!(f, "{}", self.helm_releases_line())?;
        writeln!(f, "\noperations the hub may ask for:")?;
        for (operation, allowed) in &self.operations {
            let verdict = if *allowed {
                "allowed"
            } else {
                "not allowed by RBAC (chart value operations.NAME=true grants it)"
            };
            writeln!(
                f,
                "  {operation}: {}",
                verdict.replace("NAME", operation.as_str())
            )?;
        }
        writeln!(f, "\npermissions:")?;
        for a in &self.access {
            let group = if a.permission.group.is_empty() {
                "core"
            } else {
                a.permission.group
            };
            let scope = match (a.permission.namespace, a.permission.name) {
                (Some(ns), Some(name)) => format!("{ns}/{name}"),
                (Some(ns), None) => ns.to_owned(),
                (None, _) => "all namespaces".to_owned(),
            };
            writeln!(
                f,
                "  {} {:<6} {}/{} in {} — {}",
                if a.allowed { "ok  " } else { "DENY" },
                a.verb,
                group,
                a.permission.resource,
                scope,
                a.permission.why
            )?;
        }
        writeln!(f, "\ninventory:")?;
        for (kind, count) in &self.counts {
            let note = if self.incomplete.contains(kind) {
                " (snapshot incomplete)"
            } else {
                ""
            };
            writeln!(f, "  {kind:?}: {count}{note}")?;
        }
        writeln!(f, "\nhealth: {:?}", self.health.status)?;
        for reason in &self.health.reasons {
            writeln!(f, "  - {reason}")?;
        }
        write!(
            f,
            "\nresult: {}",
            if self.ok() { "ok" } else { "NOT READY" }
        )
    }
}
