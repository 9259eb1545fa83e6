//! Samples metrics.k8s.io and emits hourly usage buckets once their hour has ended (and the
//! open hour's buckets on shutdown).

use std::time::Duration;

use kube::api::ListParams;
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CollectError, CollectorOutput};
use crate::model::usage::{PodMetrics, UsageAggregator};
use crate::time::UnixMillis;

/// PodMetrics per list page. metrics-server answers a whole cluster at once when it ignores
/// `limit`; when it honours it (as chunking API servers do), pages keep the agent's transient
/// memory to one page instead of every pod's metrics of a 10k-pod cluster at once.
const PAGE_SIZE: u32 = 500;

/// Samples every `interval`. A gap longer than three intervals is not counted as usage (the
/// pod may not have run), which is the aggregator's `max_gap`.
pub(super) async fn run(
    client: Client,
    interval: Duration,
    out: mpsc::Sender<CollectorOutput>,
    shutdown: CancellationToken,
) -> Result<(), CollectError> {
    let max_gap = i64::try_from(interval.as_millis() * 3).unwrap_or(i64::MAX);
    let mut aggregator = UsageAggregator::new(max_gap);
    let api: Api<PodMetrics> = Api::all(client);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                // Hand over the open hour too: buckets are additive, so a restarted collector
                // adding a second bucket for this hour loses nothing and counts nothing twice.
                let open = aggregator.take_completed(UnixMillis(i64::MAX));
                if !open.is_empty() {
                    let _ = out.send(CollectorOutput::Usage(open)).await;
                }
                return Ok(());
            }
            _ = tick.tick() => {}
        }
        if let Err(err) = sample_once(&api, &mut aggregator).await {
            tracing::debug!(error = %err, "metrics.k8s.io unavailable");
        }
        // Buckets are complete once no sample can still land in them.
        let settled = UnixMillis(UnixMillis::now().0 - max_gap);
        let done = aggregator.take_completed(settled);
        if !done.is_empty() {
            out.send(CollectorOutput::Usage(done))
                .await
                .map_err(|_| CollectError::OutputClosed)?;
        }
    }
}

/// Lists every PodMetrics page by page into the aggregator; a malformed item is skipped.
async fn sample_once(
    api: &Api<PodMetrics>,
    aggregator: &mut UsageAggregator,
) -> Result<(), kube::Error> {
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = api.list(&params).await?;
        for metrics in &page.items {
            if let Err(err) = aggregator.record_pod_metrics(metrics) {
                tracing::debug!(error = %err, "skipping malformed pod metrics");
            }
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(()),
        }
    }
}
