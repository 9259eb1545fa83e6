//! Samples metrics.k8s.io and emits hourly usage buckets once their hour has ended (and the
//! open hour's buckets on shutdown).

use std::time::Duration;

use futures::AsyncReadExt;
use kube::api::ListParams;
use kube::{Client, Resource};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CollectError, CollectorOutput, MAX_USAGE_BUCKETS};
use crate::model::usage::{PodMetrics, UsageAggregator, record_pod_metrics_list};
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
    let mut largest_page = 0;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                // Hand over the open hour too: buckets are additive, so a restarted collector
                // adding a second bucket for this hour loses nothing and counts nothing twice.
                let open = aggregator.take_completed(UnixMillis(i64::MAX));
                for chunk in chunks(open) {
                    if out.send(CollectorOutput::Usage(chunk)).await.is_err() {
                        break;
                    }
                }
                return Ok(());
            }
            _ = tick.tick() => {}
        }
        if let Err(err) = sample_once(&client, &mut aggregator, &mut largest_page).await {
            tracing::debug!(error = %err, "metrics.k8s.io unavailable");
        }
        // Buckets are complete once no sample can still land in them.
        let settled = UnixMillis(UnixMillis::now().0 - max_gap);
        let done = aggregator.take_completed(settled);
        for chunk in chunks(done) {
            out.send(CollectorOutput::Usage(chunk))
                .await
                .map_err(|_| CollectError::OutputClosed)?;
        }
    }
}

/// `buckets` in outputs of at most [`MAX_USAGE_BUCKETS`], in order; none when empty.
fn chunks<T>(mut buckets: Vec<T>) -> impl Iterator<Item = Vec<T>> {
    std::iter::from_fn(move || {
        if buckets.is_empty() {
            return None;
        }
        let rest = buckets.split_off(buckets.len().min(MAX_USAGE_BUCKETS));
        Some(std::mem::replace(&mut buckets, rest))
    })
}

/// Why one sample could not be taken (logged; the next interval tries again).
#[derive(Debug, thiserror::Error)]
enum SampleError {
    #[error("listing pod metrics: {0}")]
    List(#[from] kube::Error),
    #[error("reading the pod metrics list: {0}")]
    Read(#[from] std::io::Error),
    #[error("decoding the pod metrics list: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Lists every PodMetrics page by page into the aggregator, each page folded in as it is
/// decoded (`record_pod_metrics_list`: metrics-server sends the whole cluster in one page, and
/// decoding it into `PodMetrics` first was the agent's largest allocation); a malformed item
/// is skipped.
///
/// The body buffer starts at the largest page seen so far (`largest_page`, plus an eighth):
/// growing it by doubling while reading a 3–4 MB page held the old and the new buffer at
/// once, up to three times the page, which was most of the agent's RSS peak after each
/// sample at 10k pods. It is freed between samples.
async fn sample_once(
    client: &Client,
    aggregator: &mut UsageAggregator,
    largest_page: &mut usize,
) -> Result<(), SampleError> {
    let request = kube::core::Request::new(PodMetrics::url_path(&(), None));
    let mut params = ListParams::default().limit(PAGE_SIZE);
    let mut body = Vec::with_capacity(*largest_page + *largest_page / 8);
    loop {
        let list = request.list(&params).map_err(kube::Error::BuildRequest)?;
        body.clear();
        client
            .request_stream(list)
            .await?
            .read_to_end(&mut body)
            .await?;
        *largest_page = (*largest_page).max(body.len());
        let page = record_pod_metrics_list(aggregator, &body)?;
        if let Some(err) = page.first_error {
            tracing::debug!(error = %err, skipped = page.skipped, "skipping malformed pod metrics");
        }
        match page.continue_token {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_leave_in_chunks_of_at_most_the_cap_in_order() {
        let sizes: Vec<usize> = chunks((0..2 * MAX_USAGE_BUCKETS + 1).collect())
            .map(|chunk: Vec<usize>| chunk.len())
            .collect();
        assert_eq!(sizes, vec![MAX_USAGE_BUCKETS, MAX_USAGE_BUCKETS, 1]);
        let rejoined: Vec<usize> = chunks((0..MAX_USAGE_BUCKETS + 5).collect())
            .flatten()
            .collect();
        assert_eq!(rejoined, (0..MAX_USAGE_BUCKETS + 5).collect::<Vec<_>>());
        assert_eq!(chunks(Vec::<usize>::new()).count(), 0);
    }
}
