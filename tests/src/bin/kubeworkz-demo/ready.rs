//! When the fleet is ready, read from the hub's API as a person would see it: every cluster
//! registered with its nodes and pods, the crash-looping Deployment in its cluster's health,
//! the Helm release listed, and cost for the past hour of every cluster. Then the banner.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kubeworkz_shared::time::UnixMillis;
use serde_json::Value;

use crate::api::Session;
use crate::fleet::{Join, Plan};
use crate::processes::Process;

/// Why the fleet is not ready yet, or the clusters as the hub lists them once it is.
enum Check {
    Waiting(String),
    Ready(Vec<Value>),
}

/// Polls the hub until the fleet is ready, failing at once if one of `processes` exits.
pub async fn wait(
    session: &Session,
    plans: &[Plan],
    since: UnixMillis,
    processes: &mut [&mut Process],
    timeout: Duration,
) -> Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        for process in processes.iter_mut() {
            process.check_running()?;
        }
        let last = match check(session, plans, since).await {
            Ok(Check::Ready(clusters)) => return Ok(clusters),
            Ok(Check::Waiting(why)) => why,
            Err(err) => format!("{err:#}"),
        };
        if Instant::now() > deadline {
            bail!("the fleet was not ready within {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn count(cluster: &Value, what: &str) -> i64 {
    cluster["counts"][what].as_i64().unwrap_or(0)
}

fn reasons(cluster: &Value) -> Vec<String> {
    cluster["health"]["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["message"].as_str().map(str::to_owned))
        .collect()
}

/// The Deployments a "deployments short of available replicas: ns/a (0/1), ns/b (1/2)"
/// reason names, sorted; empty for any other reason.
fn short_deployments(reason: &str) -> Vec<String> {
    let Some((_, list)) = reason.split_once("deployments short of available replicas: ") else {
        return Vec::new();
    };
    let mut names: Vec<String> = list
        .split(", ")
        .map(|entry| {
            entry
                .split_once(" (")
                .map_or(entry, |(name, _)| name)
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

/// How the failing pods reason begins.
const FAILING_PODS: &str = "pods failing: ";

/// True when a "pods failing: 2 in CrashLoopBackOff (ns/a-1, ns/a-2)" reason names only
/// crash-looping pods of `deployments` (`namespace/name`).
fn only_pods_of(reason: &str, deployments: &[String]) -> bool {
    let Some(groups) = reason.strip_prefix(FAILING_PODS) else {
        return false;
    };
    groups.split("; ").all(|group| {
        let Some((what, names)) = group.split_once(" (") else {
            return false;
        };
        let names = names.trim_end_matches(')');
        let names = names.split_once(" and ").map_or(names, |(named, _)| named);
        what.ends_with(" in CrashLoopBackOff")
            && names.split(", ").all(|pod| {
                deployments
                    .iter()
                    .any(|d| pod.starts_with(&format!("{d}-")))
            })
    })
}

/// `since`: the demo's start. A kept demo's hub still shows the last run's clusters until
/// the new ones have synced; only a sync after the start counts.
async fn check(session: &Session, plans: &[Plan], since: UnixMillis) -> Result<Check> {
    let clusters = session.clusters().await?;
    let costs = session
        .get("/api/v1/k8s/costs?window=1h&aggregate=cluster&include_idle=true")
        .await?;
    for plan in plans {
        let Some(cluster) = clusters.iter().find(|c| c["name"] == plan.name) else {
            return Ok(Check::Waiting(format!(
                "{} is not registered yet",
                plan.name
            )));
        };
        let id = cluster["id"].as_str().context("cluster without id")?;
        let synced = cluster["last_sync_at"]
            .as_str()
            .and_then(UnixMillis::parse_rfc3339);
        if synced.is_none_or(|at| at < since) {
            return Ok(Check::Waiting(format!("{} has not synced yet", plan.name)));
        }
        let nodes = count(cluster, "nodes");
        let pods = count(cluster, "pods");
        if nodes != plan.spec.nodes.len() as i64 || pods < i64::from(plan.pods()) {
            return Ok(Check::Waiting(format!(
                "{}: {nodes} nodes and {pods} pods in the hub so far",
                plan.name
            )));
        }
        // The health a person should see: the crash-looping Deployment named, nothing else
        // wrong (a verdict taken before the first nodes arrived says there are none).
        let expected: Vec<String> = plan
            .apps
            .iter()
            .filter(|a| a.crash_loops)
            .map(|a| format!("{}/{}", a.namespace, a.name))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let reasons = reasons(cluster);
        let as_expected = if expected.is_empty() {
            cluster["health"]["status"] == "healthy"
        } else {
            // Exactly the crash-looping ones: Deployments whose pods are still starting are
            // named in the same reason until they are available. Their pods may be named as
            // failing too (between restarts they wait in CrashLoopBackOff), but no other pod.
            let (failing, others): (Vec<&String>, Vec<&String>) =
                reasons.iter().partition(|r| r.starts_with(FAILING_PODS));
            others.len() == 1
                && short_deployments(others[0]) == expected
                && failing.iter().all(|r| only_pods_of(r, &expected))
        };
        if !as_expected {
            return Ok(Check::Waiting(format!(
                "{}: health {} {reasons:?}",
                plan.name, cluster["health"]["status"]
            )));
        }
        if plan.helm.is_some() {
            let releases = session
                .get(&format!("/api/v1/k8s/helm/releases?cluster={id}"))
                .await?;
            if releases["total"].as_u64().unwrap_or(0) == 0 {
                return Ok(Check::Waiting(format!(
                    "{}: no Helm release yet",
                    plan.name
                )));
            }
        }
        let cost = costs["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|line| line["key"] == id)
            .and_then(|line| line["total_nanos"].as_u64())
            .unwrap_or(0);
        if cost == 0 {
            return Ok(Check::Waiting(format!(
                "{}: no cost computed yet",
                plan.name
            )));
        }
    }
    Ok(Check::Ready(clusters))
}

/// What the banner says about one cluster.
fn cluster_line(plan: &Plan, cluster: &Value) -> String {
    let join = match plan.join {
        Join::Agent {
            helm_releases: true,
        } => "agent, Helm releases",
        Join::Agent { .. } => "agent",
        Join::Pull => "kubeconfig (pull)",
    };
    let health = cluster["health"]["status"].as_str().unwrap_or("unknown");
    let version = plan.spec.server_version.as_deref().unwrap_or("");
    let environment = cluster["environment"].as_str().unwrap_or("");
    let nodes = count(cluster, "nodes");
    let mut line = format!(
        "{:<12} {version:<20} {environment:<10} {join:<20} {nodes} node{}, {:>2} pods, {health}",
        plan.name,
        if nodes == 1 { "" } else { "s" },
        count(cluster, "pods"),
    );
    if let Some(first) = reasons(cluster).first() {
        line.push_str(&format!(" ({first})"));
    }
    line
}

/// What the banner printed once the fleet is ready says.
#[derive(Debug)]
pub struct Banner<'a> {
    pub plans: &'a [Plan],
    pub clusters: &'a [Value],
    pub url: &'a str,
    pub ready_after: Duration,
    /// Processes of the demo (itself included) and their resident memory, in KiB.
    pub processes: usize,
    pub rss_kib: u64,
    pub dir: &'a std::path::Path,
    pub keep: bool,
    pub churn: Duration,
}

impl std::fmt::Display for Banner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "\nkubeworkz-demo: {} clusters ready after {:.1} s\n",
            self.plans.len(),
            self.ready_after.as_secs_f64()
        )?;
        writeln!(f, "  web UI     {}/", self.url)?;
        writeln!(
            f,
            "  admin      {} / {} (demo credentials)\n",
            crate::processes::ADMIN_EMAIL,
            crate::processes::ADMIN_PASSWORD
        )?;
        for plan in self.plans {
            if let Some(cluster) = self.clusters.iter().find(|c| c["name"] == plan.name) {
                writeln!(f, "  cluster    {}", cluster_line(plan, cluster))?;
            }
        }
        writeln!(
            f,
            "\n  workloads  namespaces labelled with team and cost-center, Deployments with \
             emulated CPU and memory use,\n             a crash-looping Deployment \
             (gke-staging storefront/checkout), a bound PVC (eks-prod payments/orders-data),\n             \
             a Helm release (eks-prod monitoring/metrics)"
        )?;
        writeln!(
            f,
            "  costs      the hour in progress is costed every 10 s (hub option --cost-current-hour)"
        )?;
        writeln!(
            f,
            "  churn      one Deployment scaled up or down every {} s",
            self.churn.as_secs()
        )?;
        writeln!(
            f,
            "  processes  {} ({:.0} MiB resident in all)",
            self.processes,
            self.rss_kib as f64 / 1024.0
        )?;
        let fate = if self.keep {
            "kept for the next start"
        } else {
            "deleted on exit; --keep keeps it"
        };
        writeln!(f, "  data       {} ({fate})", self.dir.display())?;
        writeln!(f, "\nCtrl-C stops everything.")
    }
}

#[cfg(test)]
mod tests {
    use super::{only_pods_of, short_deployments};

    #[test]
    fn a_short_deployments_reason_names_its_deployments_sorted() {
        let reason = "deployments short of available replicas: storefront/web (0/1), \
                      ml/trainer (1/2), storefront/checkout (0/1)";
        assert_eq!(
            short_deployments(reason),
            ["ml/trainer", "storefront/checkout", "storefront/web"]
        );
        assert!(short_deployments("cluster has no nodes").is_empty());
    }

    #[test]
    fn a_failing_pods_reason_is_checked_against_the_crash_looping_deployments() {
        let looping = ["staging/checkout".to_owned()];
        assert!(only_pods_of(
            "pods failing: 2 in CrashLoopBackOff (staging/checkout-7d9f-abcde, \
             staging/checkout-7d9f-fghij)",
            &looping
        ));
        assert!(only_pods_of(
            "pods failing: 7 in CrashLoopBackOff (staging/checkout-1, staging/checkout-2, \
             staging/checkout-3, staging/checkout-4, staging/checkout-5 and 2 more)",
            &looping
        ));
        assert!(!only_pods_of(
            "pods failing: 1 in CrashLoopBackOff (staging/cart-1)",
            &looping
        ));
        assert!(!only_pods_of(
            "pods failing: 1 OOMKilled (staging/checkout-1)",
            &looping
        ));
        assert!(!only_pods_of("cluster has no nodes", &looping));
    }
}
