//! What the collector tests share: a collector feeding a downstream inventory, as the hub
//! would hold it. Each test binary uses a part of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use kube::api::{Api, Patch, PatchParams};
use kubeworkz_shared::collect::{Collector, CollectorConfig, CollectorOutput};
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::usage::UsageBucket;
use kubeworkz_shared::model::{ClusterInfo, HealthReport};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// An API object from its JSON manifest.
pub fn object<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).expect("a valid manifest")
}

/// Applies a JSON merge patch to the object `name`, as `kubectl patch --type merge` does.
pub async fn merge<K>(api: &Api<K>, name: &str, patch: Value) -> Result<()>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// A collector feeding a downstream inventory, as the hub would hold it.
pub struct Downstream {
    pub inventory: Arc<Mutex<Inventory>>,
    pub health: Arc<Mutex<Option<HealthReport>>>,
    /// Every verdict with the node count it was judged with, in order.
    pub verdicts: Arc<Mutex<Vec<(HealthReport, u32)>>>,
    /// Every cluster info, in order.
    pub infos: Arc<Mutex<Vec<ClusterInfo>>>,
    pub usage: Arc<Mutex<Vec<UsageBucket>>>,
    pub shutdown: CancellationToken,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub fn test_config() -> CollectorConfig {
    CollectorConfig {
        health_interval: Duration::from_secs(1),
        usage_interval: Duration::from_secs(5),
        ..CollectorConfig::default()
    }
}

impl Downstream {
    pub fn start(client: kube::Client, inventory: Arc<Mutex<Inventory>>) -> Self {
        Self::start_with(client, inventory, test_config())
    }

    pub fn start_with(
        client: kube::Client,
        inventory: Arc<Mutex<Inventory>>,
        config: CollectorConfig,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel(256);
        let shutdown = CancellationToken::new();
        let collector = Collector::new(client, config);
        let run = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                collector.run(tx, shutdown).await.expect("collector failed");
            }
        });
        let health = Arc::new(Mutex::new(None));
        let verdicts = Arc::new(Mutex::new(Vec::new()));
        let infos = Arc::new(Mutex::new(Vec::new()));
        let usage = Arc::new(Mutex::new(Vec::new()));
        let apply = tokio::spawn({
            let inventory = inventory.clone();
            let health = health.clone();
            let verdicts = verdicts.clone();
            let infos = infos.clone();
            let usage = usage.clone();
            async move {
                while let Some(output) = rx.recv().await {
                    match output {
                        CollectorOutput::Changes(batch) => {
                            inventory.lock().unwrap().apply_all(&batch.changes);
                        }
                        CollectorOutput::Health { report, signals } => {
                            verdicts
                                .lock()
                                .unwrap()
                                .push((report.clone(), signals.nodes_total));
                            *health.lock().unwrap() = Some(report);
                        }
                        CollectorOutput::Usage(buckets) => {
                            usage.lock().unwrap().extend(buckets);
                        }
                        CollectorOutput::ClusterInfo(info) => infos.lock().unwrap().push(info),
                    }
                }
            }
        });
        Self {
            inventory,
            health,
            verdicts,
            infos,
            usage,
            shutdown,
            tasks: vec![run, apply],
        }
    }

    /// Stops the collector and returns the usage buckets it handed over.
    pub async fn stop(self) -> Vec<UsageBucket> {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut self.usage.lock().unwrap())
    }

    /// Waits until `check` holds for the downstream inventory.
    pub async fn until(&self, what: &str, check: impl Fn(&Inventory) -> bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if check(&self.inventory.lock().unwrap()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("timed out waiting for {what}")
    }

    pub async fn until_health(
        &self,
        what: &str,
        check: impl Fn(&HealthReport) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if self.health.lock().unwrap().as_ref().is_some_and(&check) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "timed out waiting for {what}; last health: {:?}",
            self.health.lock().unwrap()
        )
    }
}
