//! Container logs and their files: KWOK serves a pod's `pods/log` from files its `Logs`
//! resource names (the current run's, the previous run's, followed or not), in the CRI log
//! format the kubelet writes.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::{ComponentKind, TestCluster};

/// Where a pod's containers' logs come from.
#[derive(Debug, Clone)]
pub struct PodLogs<'a> {
    /// The containers these files serve (empty: every container of the pod).
    pub containers: Vec<&'a str>,
    /// The current run's log.
    pub logs_file: &'a Path,
    /// The previous (terminated) run's log, for `previous=true`.
    pub previous_logs_file: Option<&'a Path>,
    /// Whether `follow=true` keeps the stream open for lines appended later.
    pub follow: bool,
}

impl TestCluster {
    /// Serves `groups` as the logs of pod `namespace/pod` (KWOK's `Logs`, created or
    /// replaced).
    pub async fn set_pod_logs(
        &self,
        namespace: &str,
        pod: &str,
        groups: &[PodLogs<'_>],
    ) -> Result<()> {
        let logs: Vec<_> = groups
            .iter()
            .map(|g| {
                let mut item = json!({
                    "logsFile": g.logs_file,
                    "follow": g.follow,
                });
                if !g.containers.is_empty() {
                    item["containers"] = json!(g.containers);
                }
                if let Some(previous) = g.previous_logs_file {
                    item["previousLogsFile"] = json!(previous);
                }
                item
            })
            .collect();
        self.apply_kwok(("Logs", "logs"), namespace, pod, json!({"logs": logs}))
            .await
    }

    /// How many descriptors KWOK holds open on the log file at `path` now: one per log
    /// request it is serving from it, and a followed log keeps its own until the stream to
    /// KWOK closes. The far end of a log stream, for tests that close its client.
    pub fn kwok_open_files(&self, path: &Path) -> Result<usize> {
        let pid = *self
            .pids()
            .get(&ComponentKind::Kwok)
            .context("KWOK is not running")?;
        let path = path
            .canonicalize()
            .with_context(|| format!("resolving {}", path.display()))?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).context("KWOK's descriptors")?;
        // A descriptor closed while we list is simply not counted.
        Ok(fds
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| *target == path)
            .count())
    }

    /// Waits until KWOK holds the log file at `path` open no more (every stream it served
    /// from it closed); returns how long that took.
    pub async fn wait_log_files_closed(&self, path: &Path, within: Duration) -> Result<Duration> {
        time_until(within, &format!("KWOK closing {}", path.display()), || {
            Ok(self.kwok_open_files(path)? == 0)
        })
        .await
    }
}

/// How long until `done` holds, polled every 10 ms for at most `within`; `what` names the
/// wait in the error.
pub(super) async fn time_until(
    within: Duration,
    what: &str,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    let started = Instant::now();
    while !done()? {
        anyhow::ensure!(started.elapsed() < within, "no {what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(started.elapsed())
}

/// Appends `lines` to the log file at `path` (created if missing) as the kubelet writes
/// them: `<RFC 3339 time> stdout F <line>`.
pub fn append_log_lines(path: &Path, lines: &[&str]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut text = String::new();
    for line in lines {
        text.push_str(&format!("{now} stdout F {line}\n"));
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
