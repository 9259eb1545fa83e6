//! [`CostWorker`]: the hourly cost run. Each tick computes, for every enabled cluster, every
//! complete hour not yet computed (once a grace period for late usage has passed), then rolls
//! up every complete day whose hours are all computed. What is done is recorded per cluster in
//! the store (`Store::cost_clusters`), so a restarted hub resumes where it stopped and backfills
//! the hours it missed, as far back as the configured lookback.
//!
//! With [`CostWorkerConfig::current_hour`] it also computes the hours not due yet, the one in
//! progress up to now and the one in its grace period ("cost so far"). Those rows are saved
//! without moving the cluster's mark, so each tick replaces them and the regular run computes
//! them for good once they are due, whether or not the option is still on by then.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::LabelKeys;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use super::window::MILLIS_PER_DAY;
use super::{
    Allocation, ClusterPrices, CostGauges, PriceBook, PriceCatalog, allocate_hour,
    allocate_workloads, rollup_daily,
};
use crate::store::{CostCluster, CostPeriod, CostRowFilter, Store, StoreError};
use crate::workers::{Worker, WorkerError, Workers};

/// The worker's name in the workers status.
pub const COST_WORKER: &str = "cost";

/// When and how far the cost worker computes.
#[derive(Debug, Clone)]
pub struct CostWorkerConfig {
    /// Time between ticks.
    pub every: Duration,
    /// How long after an hour ends it is computed: usage of an hour arrives when the agent
    /// closes the hour, and a reconnecting agent may deliver it later still.
    pub grace: Duration,
    /// How far back missed hours are backfilled after downtime; older hours stay uncomputed
    /// (their inventory and usage may be past retention anyway).
    pub lookback: Duration,
    /// Namespace labels naming the team and cost center.
    pub label_keys: LabelKeys,
    /// Also compute, on every tick, the hours not due yet (in progress, or in their grace
    /// period) as far as they have happened: people see today's cost within a tick instead of
    /// an hour and the grace later. Costs one or two more hours' computation per cluster and
    /// tick.
    pub current_hour: bool,
    /// The deployment's node price catalog (`--price-catalog` over the shipped one), under
    /// each organization's own.
    pub catalog: Arc<PriceCatalog>,
    /// Evaluate budgets and anomalies after each run (`crate::alerts`).
    pub evaluate_alerts: bool,
}

impl Default for CostWorkerConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(5 * 60),
            grace: Duration::from_secs(10 * 60),
            lookback: Duration::from_secs(7 * 24 * 3600),
            label_keys: LabelKeys::default(),
            current_hour: false,
            catalog: PriceCatalog::shipped(),
            evaluate_alerts: true,
        }
    }
}

/// What one tick did: shown in the workers status and returned to tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostRunReport {
    /// Clusters looked at.
    pub clusters: usize,
    /// Cluster-hours computed.
    pub hours: usize,
    /// Cluster-hours not due yet computed so far ([`CostWorkerConfig::current_hour`]).
    pub hours_so_far: usize,
    /// Cluster-days rolled up.
    pub days: usize,
    /// The end of the last complete hour due: every cluster is computed up to here unless it
    /// failed.
    pub computed_until: Option<UnixMillis>,
    /// Clusters whose run failed, with the reason.
    pub failed: Vec<(ClusterId, String)>,
}

impl fmt::Display for CostRunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} clusters: {} hours computed, {} days rolled up",
            self.clusters, self.hours, self.days
        )?;
        if self.hours_so_far > 0 {
            write!(f, ", {} hours so far", self.hours_so_far)?;
        }
        if let Some(until) = self.computed_until {
            write!(f, ", up to {until}")?;
        }
        if !self.failed.is_empty() {
            write!(f, ", {} failed", self.failed.len())?;
        }
        Ok(())
    }
}

/// The source of "now": the system clock, or a fixed/test clock.
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// The hourly cost run as a [`Worker`].
pub struct CostWorker {
    store: Store,
    config: CostWorkerConfig,
    clock: Clock,
    workers: Option<Workers>,
    gauges: Option<Arc<CostGauges>>,
    last: CostRunReport,
}

impl fmt::Debug for CostWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CostWorker")
            .field("config", &self.config)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl CostWorker {
    /// A worker on the system clock; with `workers`, each tick's report is shown as its detail.
    pub fn new(store: Store, config: CostWorkerConfig, workers: Option<Workers>) -> Self {
        Self {
            store,
            config,
            clock: Arc::new(UnixMillis::now),
            workers,
            gauges: None,
            last: CostRunReport::default(),
        }
    }

    /// The same worker refreshing `gauges` (the `/metrics` cost series) after each run with
    /// the last complete hour.
    pub fn with_gauges(mut self, gauges: Arc<CostGauges>) -> Self {
        self.gauges = Some(gauges);
        self
    }

    /// The same worker reading the time from `clock` (tests run days in seconds).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// What the last tick did.
    pub fn last_report(&self) -> &CostRunReport {
        &self.last
    }

    /// One run over every cluster at the clock's now. A failing cluster does not stop the
    /// others; the run fails (naming them) when any did.
    pub async fn run_once(&mut self) -> Result<CostRunReport, WorkerError> {
        let now = (self.clock)();
        let due_until = floor_to(now.0 - millis(self.config.grace), MILLIS_PER_HOUR);
        let oldest = floor_to(now.0 - millis(self.config.lookback), MILLIS_PER_HOUR);
        let clusters = self.store.cost_clusters().await?;
        let mut report = CostRunReport {
            clusters: clusters.len(),
            computed_until: Some(UnixMillis(due_until)),
            ..CostRunReport::default()
        };
        let mut books: HashMap<OrgId, PriceBook> = HashMap::new();
        for cluster in &clusters {
            let book = match books.entry(cluster.org) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot.insert(
                    self.store
                        .price_book(cluster.org)
                        .await?
                        .with_base_catalog(self.config.catalog.clone()),
                ),
            };
            let prices = book.for_cluster(cluster.cluster);
            let mut plan = Plan::for_cluster(cluster, oldest, due_until);
            if self.config.current_hour {
                plan.so_far_until = floor_to(now.0, MILLIS_PER_HOUR) + MILLIS_PER_HOUR;
            }
            match self.run_cluster(cluster, &plan, &prices, now).await {
                Ok(done) => {
                    report.hours += done.hours;
                    report.hours_so_far += done.hours_so_far;
                    report.days += done.days;
                }
                Err(err) => {
                    tracing::warn!(cluster = %cluster.cluster, error = %err, "cost run failed");
                    report.failed.push((cluster.cluster, err.to_string()));
                }
            }
        }
        tracing::info!(
            clusters = report.clusters,
            hours = report.hours,
            hours_so_far = report.hours_so_far,
            days = report.days,
            failed = report.failed.len(),
            "cost run done"
        );
        if let Some(workers) = &self.workers {
            workers.set_detail(COST_WORKER, &report.to_string());
        }
        if let Some(gauges) = &self.gauges {
            let ids: Vec<_> = clusters.iter().map(|c| (c.org, c.cluster)).collect();
            let hour = UnixMillis(due_until - MILLIS_PER_HOUR);
            if let Err(err) = gauges.refresh(&self.store, &ids, hour).await {
                tracing::warn!(error = %err, "refreshing the cost gauges failed");
            }
        }
        self.last = report.clone();
        if report.failed.is_empty() {
            Ok(report)
        } else {
            let names: Vec<String> = report
                .failed
                .iter()
                .map(|(id, err)| format!("{id}: {err}"))
                .collect();
            Err(format!("cost run failed for {}", names.join("; ")).into())
        }
    }

    async fn run_cluster(
        &self,
        cluster: &CostCluster,
        plan: &Plan,
        prices: &ClusterPrices,
        now: UnixMillis,
    ) -> Result<ClusterRun, StoreError> {
        let mut done = ClusterRun::default();
        for hour in (plan.hours_from..plan.hours_until).step_by(MILLIS_PER_HOUR as usize) {
            run_hour(
                &self.store,
                cluster.org,
                cluster.cluster,
                UnixMillis(hour),
                prices,
                &self.config.label_keys,
            )
            .await?;
            done.hours += 1;
        }
        // Hours computed but never folded into the workload rollup: those of before it
        // existed (the first run's backfill) and any a failed fold left out.
        let folded = self
            .store
            .fold_unfolded_workload_usage(
                cluster.org,
                cluster.cluster,
                UnixMillis(plan.oldest),
                UnixMillis(plan.hours_until),
            )
            .await?;
        if folded > 0 {
            tracing::info!(cluster = %cluster.cluster, hours = folded, "workload usage folded");
        }
        let mut day = plan.days_from;
        while day + MILLIS_PER_DAY <= plan.hours_until {
            roll_up_day(&self.store, cluster.org, cluster.cluster, UnixMillis(day)).await?;
            done.days += 1;
            day += MILLIS_PER_DAY;
        }
        for hour in (plan.hours_until..plan.so_far_until).step_by(MILLIS_PER_HOUR as usize) {
            run_hour_so_far(
                &self.store,
                cluster.org,
                cluster.cluster,
                UnixMillis(hour),
                now,
                prices,
                &self.config.label_keys,
            )
            .await?;
            done.hours_so_far += 1;
        }
        Ok(done)
    }
}

/// What one cluster's run computed.
#[derive(Debug, Default)]
struct ClusterRun {
    hours: usize,
    hours_so_far: usize,
    days: usize,
}

/// The hours and days one cluster needs, from its marks, the lookback and what is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    /// The lookback's first hour: how far back unfolded usage is folded.
    oldest: i64,
    hours_from: i64,
    hours_until: i64,
    days_from: i64,
    /// The end of the hours computed so far, from `hours_until` (nothing when equal).
    so_far_until: i64,
}

impl Plan {
    fn for_cluster(cluster: &CostCluster, oldest: i64, due_until: i64) -> Self {
        let first_hour = floor_to(cluster.created_at.0, MILLIS_PER_HOUR);
        let hours_from = cluster.hours_until.map_or(first_hour, |u| u.0).max(oldest);
        let hours_until = due_until.max(hours_from);
        // Days due: from the cluster's mark, or else the first day computed now; never
        // before the lookback (those hours were not computed).
        let first_day = floor_to(hours_from, MILLIS_PER_DAY);
        let days_from = cluster
            .days_until
            .map_or(first_day, |d| d.0.min(first_day))
            .max(floor_to(oldest, MILLIS_PER_DAY));
        Self {
            oldest: oldest.max(first_hour),
            hours_from,
            hours_until,
            days_from,
            so_far_until: hours_until,
        }
    }
}

/// Loads, allocates and saves one hour of one cluster (replacing it): the unit the worker
/// repeats, public for re-runs, the end-to-end test and the bench.
pub async fn run_hour(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
    prices: &ClusterPrices,
    keys: &LabelKeys,
) -> Result<Vec<Allocation>, StoreError> {
    let input = store.cost_hour_input(org, cluster, hour_start).await?;
    let rows = allocate_hour(&input, prices, keys);
    // Workloads first: the hour's mark moves only with its namespace rows, so a failure in
    // between leaves the hour to be re-run whole.
    let workloads = allocate_workloads(&input, prices, &rows);
    store
        .save_workload_cost_hour(org, cluster, hour_start, &workloads, computed_at())
        .await?;
    store
        .save_cost_hour(org, cluster, hour_start, &rows, computed_at())
        .await?;
    // The hour's usage into the daily workload rollup (right-sizing, efficiency by
    // workload); a recomputed hour rebuilds its day there.
    store.fold_workload_usage(org, cluster, hour_start).await?;
    Ok(rows)
}

/// Computes one hour that is not due yet as far as it has happened at `now` (the hour in
/// progress, or one in its grace period) and saves it without moving the cluster's mark: the
/// regular run replaces it once the hour is due.
pub async fn run_hour_so_far(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    hour_start: UnixMillis,
    now: UnixMillis,
    prices: &ClusterPrices,
    keys: &LabelKeys,
) -> Result<Vec<Allocation>, StoreError> {
    let input = store
        .cost_hour_input(org, cluster, hour_start)
        .await?
        .until(now);
    let rows = allocate_hour(&input, prices, keys);
    let workloads = allocate_workloads(&input, prices, &rows);
    store
        .save_workload_cost_hour(org, cluster, hour_start, &workloads, computed_at())
        .await?;
    store
        .save_cost_hour_so_far(org, cluster, hour_start, &rows, computed_at())
        .await?;
    Ok(rows)
}

/// Rolls the stored hours of one UTC day up into its daily rows (replacing them).
pub async fn roll_up_day(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    day_start: UnixMillis,
) -> Result<Vec<Allocation>, StoreError> {
    let filter = CostRowFilter {
        period: CostPeriod::Hour,
        start: day_start,
        end: UnixMillis(day_start.0 + MILLIS_PER_DAY),
        cluster: Some(cluster),
        namespace: None,
    };
    let hours = store.cost_rows(org, &filter).await?;
    let days = rollup_daily(&hours);
    store
        .save_cost_day(org, cluster, day_start, &days, computed_at())
        .await?;
    Ok(days)
}

fn computed_at() -> DateTime<Utc> {
    Utc::now()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}

fn floor_to(instant: i64, unit: i64) -> i64 {
    instant.div_euclid(unit) * unit
}

#[async_trait]
impl Worker for CostWorker {
    fn name(&self) -> String {
        COST_WORKER.into()
    }

    fn interval(&self) -> Duration {
        self.config.every
    }

    fn under_lease(&mut self, fence: crate::store::Fence) {
        self.store = self.store.under_lease(fence);
    }

    /// One cost run, then the alert evaluation over what it computed
    /// ([`crate::alerts::evaluate`]): under the cost lease, so one replica evaluates. The
    /// evaluation runs even when some cluster failed: the others' costs are new.
    async fn tick(&mut self) -> Result<(), WorkerError> {
        let run = self.run_once().await.map(|_| ());
        if self.config.evaluate_alerts {
            let report = crate::alerts::evaluate(&self.store, Utc::now()).await?;
            tracing::debug!(
                alerts = report.alerts,
                budgets = report.budgets,
                "alerts evaluated"
            );
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = MILLIS_PER_HOUR;
    const DAY: i64 = MILLIS_PER_DAY;

    fn cluster(created: i64, hours: Option<i64>, days: Option<i64>) -> CostCluster {
        CostCluster {
            org: OrgId::new(),
            cluster: ClusterId::new(),
            created_at: UnixMillis(created),
            hours_until: hours.map(UnixMillis),
            days_until: days.map(UnixMillis),
        }
    }

    #[test]
    fn a_new_cluster_starts_at_its_creation_hour() {
        let c = cluster(10 * DAY + 90 * 60_000, None, None);
        let plan = Plan::for_cluster(&c, 0, 10 * DAY + 5 * HOUR);
        assert_eq!(plan.hours_from, 10 * DAY + HOUR);
        assert_eq!(plan.hours_until, 10 * DAY + 5 * HOUR);
        assert_eq!(plan.days_from, 10 * DAY);
    }

    #[test]
    fn backfill_resumes_at_the_mark_but_not_before_the_lookback() {
        let c = cluster(0, Some(10 * DAY), Some(9 * DAY));
        let resumed = Plan::for_cluster(&c, 8 * DAY, 12 * DAY);
        assert_eq!((resumed.hours_from, resumed.days_from), (10 * DAY, 9 * DAY));
        let bounded = Plan::for_cluster(&c, 11 * DAY + 3 * HOUR, 12 * DAY);
        assert_eq!(bounded.hours_from, 11 * DAY + 3 * HOUR);
        assert_eq!(bounded.days_from, 11 * DAY);
    }

    #[test]
    fn nothing_is_due_before_the_mark() {
        let c = cluster(0, Some(10 * DAY + 3 * HOUR), Some(10 * DAY));
        let plan = Plan::for_cluster(&c, 0, 10 * DAY + 2 * HOUR);
        assert_eq!(plan.hours_from, plan.hours_until);
    }

    #[test]
    fn the_report_reads_as_one_line() {
        let report = CostRunReport {
            clusters: 2,
            hours: 5,
            hours_so_far: 0,
            days: 1,
            computed_until: Some(UnixMillis(0)),
            failed: vec![(ClusterId::new(), "boom".into())],
        };
        assert_eq!(
            report.to_string(),
            format!(
                "2 clusters: 5 hours computed, 1 days rolled up, up to {}, 1 failed",
                UnixMillis(0)
            )
        );
    }
}
