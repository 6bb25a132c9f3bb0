//! The bounded solver pool: `max_concurrent` solves at once on the blocking pool,
//! `max_queued` waiting, RESOURCE_EXHAUSTED beyond; each solve within the caller's
//! deadline (its remaining time is the HiGHS time limit), abandoned when its caller goes
//! away or the server shuts down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use crate::domain::{Forecast, Plant, Schedule};
use crate::model::{self, Options};

use super::{Error, Service};

/// Bounds on solving.
#[derive(Debug, Clone, PartialEq)]
pub struct SolverLimits {
    /// Solves running at once (the blocking pool's size for solves).
    pub max_concurrent: usize,
    /// Solves waiting for a slot before new ones are refused with RESOURCE_EXHAUSTED.
    pub max_queued: usize,
    /// Time limit per solve when the caller sets no deadline.
    pub default_time_limit: Duration,
    /// LP shapes (plant × horizon × objective) whose latest final basis is kept to start
    /// later solves of the same shape from (0: every solve starts cold).
    pub warm_start_shapes: usize,
    /// Keep those bases in the store too: read back when the service starts, written as
    /// they change (see [`Service::keep_warm_starts`]).
    pub warm_starts_in_store: bool,
}

impl Default for SolverLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SolverLimits {
            max_concurrent: cores,
            max_queued: 4 * cores,
            default_time_limit: Duration::from_secs(120),
            warm_start_shapes: model::DEFAULT_SHAPES,
            warm_starts_in_store: true,
        }
    }
}

pub(super) struct Pool {
    limits: SolverLimits,
    slots: Arc<Semaphore>,
    in_line: AtomicUsize,
    /// Bases of recent solves, shared by all of them (see [`model::WarmStarts`]).
    warm: model::WarmStarts,
    /// Told after every solve: the warm starts may have changed.
    warm_changed: Notify,
    /// The cache's hits and misses already counted in the metrics.
    warm_counted: std::sync::Mutex<(u64, u64)>,
}

struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sets a solve's cancellation flag when dropped: a handler future dropped because its
/// caller went away abandons its solve.
struct Abandon(model::Cancel);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Pool {
    pub(super) fn new(limits: SolverLimits) -> Pool {
        let warm =
            if limits.warm_start_shapes > 0 { model::WarmStarts::keep(limits.warm_start_shapes) } else { model::WarmStarts::default() };
        Pool {
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            in_line: AtomicUsize::new(0),
            limits,
            warm,
            warm_changed: Notify::new(),
            warm_counted: std::sync::Mutex::new((0, 0)),
        }
    }

    /// Adds the cache's hits and misses since the last call to `metrics`.
    fn count_warm_lookups(&self, metrics: &crate::metrics::Metrics) {
        let (hits, misses) = self.warm.hits_and_misses();
        let mut counted = self.warm_counted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        metrics.warm_lookups.with_label_values(&["hit"]).inc_by(hits.saturating_sub(counted.0));
        metrics.warm_lookups.with_label_values(&["miss"]).inc_by(misses.saturating_sub(counted.1));
        *counted = (hits.max(counted.0), misses.max(counted.1));
    }

    /// True when the warm starts are kept in the store.
    fn warm_in_store(&self) -> bool {
        self.warm.is_on() && self.limits.warm_starts_in_store
    }
}

/// Least time between two writes of the warm starts to the store: a busy service writes
/// what changed at most this often (and once more at shutdown).
const WARM_WRITE_EVERY: Duration = Duration::from_secs(10);

impl Service {
    /// Reads the warm starts kept in the store back into the solver's cache (when they are
    /// kept there), so that the first solves after a restart, or on a new replica, start
    /// warm. A store that cannot be read leaves the solves cold; it is no reason not to
    /// serve.
    pub async fn restore_warm_starts(&self) {
        let pool = &self.pool;
        if !pool.warm_in_store() {
            return;
        }
        match self.store.warm_starts(pool.limits.warm_start_shapes).await {
            Ok(starts) => {
                let kept = pool.warm.restore(&starts);
                tracing::info!(stored = starts.len(), kept, "warm starts read back from the store");
            }
            Err(e) => tracing::warn!(error = %e, "the stored warm starts could not be read; solves start cold"),
        }
    }

    /// Writes the warm starts that changed to the store (when they are kept there): soon
    /// after a solve, then at most every [`WARM_WRITE_EVERY`], and once more at shutdown.
    /// Runs until shutdown.
    pub async fn keep_warm_starts(self: Arc<Self>) {
        if !self.pool.warm_in_store() {
            return;
        }
        // Generation 0: what this process keeps, not what it read back.
        let mut written = 0;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = self.pool.warm_changed.notified() => {}
            }
            self.write_warm_starts(&mut written).await;
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = tokio::time::sleep(WARM_WRITE_EVERY) => {}
            }
        }
        self.write_warm_starts(&mut written).await;
    }

    /// Writes what changed after generation `written`; on success, moves `written` on.
    async fn write_warm_starts(&self, written: &mut u64) {
        let (starts, now) = self.pool.warm.changed_since(*written);
        if starts.is_empty() {
            *written = now;
            return;
        }
        let n = starts.len();
        match self.store.put_warm_starts(starts, self.pool.limits.warm_start_shapes).await {
            Ok(()) => {
                *written = now;
                tracing::debug!(n, "warm starts written to the store");
            }
            Err(e) => tracing::warn!(error = %e, "the warm starts could not be written to the store; they stay in memory"),
        }
    }
}

impl Service {
    /// Solves on the bounded pool, within the caller's deadline. Refuses with
    /// RESOURCE_EXHAUSTED when the queue is full, DEADLINE_EXCEEDED when no slot frees in
    /// time, UNAVAILABLE when shutting down.
    pub(super) async fn solve(&self, forecast: Forecast, options: Options, deadline: Option<Duration>) -> Result<Schedule, Error> {
        self.solve_with(options, deadline, move |plant, options| model::solve(plant, &forecast, options)).await
    }

    /// [`Service::solve`] for any solve of the service's plant that gives a schedule: the
    /// stochastic day-ahead and the held re-plans of its day take the same pool, deadline,
    /// warm starts and cancellation as a deterministic solve.
    pub(super) async fn solve_with<F>(&self, mut options: Options, deadline: Option<Duration>, solve: F) -> Result<Schedule, Error>
    where
        F: FnOnce(&Plant, &Options) -> Result<Schedule, model::DispatchError> + Send + 'static,
    {
        if self.shutdown.is_cancelled() {
            return Err(Error::Unavailable("the server is shutting down".into()));
        }
        let pool = &self.pool;
        let capacity = pool.limits.max_concurrent + pool.limits.max_queued;
        if pool.in_line.fetch_add(1, Ordering::SeqCst) >= capacity {
            pool.in_line.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Busy(format!("the solver is busy ({capacity} solves running or queued); retry later")));
        }
        let _in_line = InLine(&pool.in_line);
        let started = Instant::now();
        // Everything must end before the caller's deadline does, so the answer is ours
        // (DEADLINE_EXCEEDED) and not the transport's: we work to the deadline less a
        // margin of a tenth of it, at most 100 ms.
        let deadline = deadline.map(|d| d.saturating_sub((d / 10).min(Duration::from_millis(100))));
        let slot = pool.slots.clone().acquire_owned();
        let permit = match deadline {
            Some(d) => tokio::time::timeout(d, slot)
                .await
                .map_err(|_| Error::DeadlineExceeded("no solver slot freed before the deadline".into()))?,
            None => slot.await,
        }
        .map_err(|_| Error::Unavailable("the solver pool is closed".into()))?;
        let budget = match deadline {
            Some(d) => d.saturating_sub(started.elapsed()).min(pool.limits.default_time_limit),
            None => pool.limits.default_time_limit,
        };
        if budget.is_zero() {
            return Err(Error::DeadlineExceeded("the deadline passed while waiting for a solver slot".into()));
        }
        options.time_limit_s = Some(budget.as_secs_f64());
        options.warm = pool.warm.clone();
        // Abandoned when this call is dropped (the caller went away) or at shutdown: the
        // solve stops at its next LP and the slot frees.
        let cancel = options.cancel.clone();
        let _abandon = Abandon(cancel.clone());
        let plant = self.plant.clone();
        let objective = options.objective.name();
        let timer = self.metrics.solve_seconds.with_label_values(&[objective]).start_timer();
        let solving = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            solve(&plant, &options)
        });
        let shutdown = self.shutdown.clone();
        let watch = cancel.clone();
        let stopper = tokio::spawn(async move {
            shutdown.cancelled().await;
            watch.cancel();
        });
        let result = solving.await.map_err(|_| Error::Internal("the solve panicked".into()));
        stopper.abort();
        let result = result?;
        pool.count_warm_lookups(&self.metrics);
        if pool.warm_in_store() {
            pool.warm_changed.notify_one();
        }
        timer.observe_duration();
        let outcome = match &result {
            Ok(_) => "optimal",
            Err(model::DispatchError::Infeasible(_)) => "infeasible",
            Err(model::DispatchError::TimeLimit(_)) => "time_limit",
            Err(model::DispatchError::Cancelled) => "cancelled",
            Err(_) => "error",
        };
        self.metrics.solves.with_label_values(&[objective, outcome]).inc();
        match result {
            Err(model::DispatchError::Cancelled) if self.shutdown.is_cancelled() => {
                Err(Error::Unavailable("the server is shutting down; the solve was abandoned".into()))
            }
            other => other.map_err(Error::from),
        }
    }
}
