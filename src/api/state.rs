//! What every service shares: the plant, the store, the market rules, the bounded solver
//! pool and the channel on which published schedules are announced.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::domain::{Forecast, Plant, Schedule};
use crate::model::{self, Options};
use crate::store::{ScheduleInfo, ScheduleRecord, Store};

use super::metrics::Metrics;
use super::status;

/// Rules of the bid book.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketRules {
    /// Length of a market interval; bids start on its boundaries (default 60).
    pub interval_minutes: u32,
    /// Bids for a delivery day close this long before its local midnight (default 14 h:
    /// 10:00 the day before).
    pub gate_closure_before: chrono::Duration,
    /// Lowest limit price accepted, yuan/MWh (default 50, the Henan spot floor).
    pub price_floor: f64,
    /// Highest limit price accepted, yuan/MWh (default 1,200, the Henan spot cap).
    pub price_cap: f64,
}

impl Default for MarketRules {
    fn default() -> Self {
        MarketRules { interval_minutes: 60, gate_closure_before: chrono::Duration::hours(14), price_floor: 50.0, price_cap: 1200.0 }
    }
}

/// Bounds on solving.
#[derive(Debug, Clone, PartialEq)]
pub struct SolverLimits {
    /// Solves running at once (the blocking pool's size for solves).
    pub max_concurrent: usize,
    /// Solves waiting for a slot before new ones are refused with RESOURCE_EXHAUSTED.
    pub max_queued: usize,
    /// Time limit per solve when the caller sets no deadline.
    pub default_time_limit: Duration,
}

impl Default for SolverLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SolverLimits { max_concurrent: cores, max_queued: 4 * cores, default_time_limit: Duration::from_secs(120) }
    }
}

/// A schedule just published.
#[derive(Debug, Clone)]
pub struct Published {
    /// Its identity.
    pub info: ScheduleInfo,
    /// The schedule.
    pub schedule: Arc<Schedule>,
}

/// The state every service shares.
pub struct AppState {
    /// The plant the service dispatches.
    pub plant: Arc<Plant>,
    /// Its file text, stored with every schedule.
    pub plant_toml: String,
    /// The durable store.
    pub store: Arc<dyn Store>,
    /// Bid book rules.
    pub market: MarketRules,
    /// Solver bounds.
    pub limits: SolverLimits,
    /// Metrics.
    pub metrics: Metrics,
    /// Announces published schedules to streams.
    pub published: broadcast::Sender<Published>,
    /// Cancelled at shutdown: streams end, new solves are refused.
    pub shutdown: CancellationToken,
    slots: Arc<Semaphore>,
    in_line: AtomicUsize,
}

struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AppState {
    /// Shared state for a plant and a store.
    pub fn new(
        plant: Plant,
        plant_toml: String,
        store: Arc<dyn Store>,
        market: MarketRules,
        limits: SolverLimits,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> AppState {
        let (published, _) = broadcast::channel(256);
        AppState {
            plant: Arc::new(plant),
            plant_toml,
            store,
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            in_line: AtomicUsize::new(0),
            market,
            limits,
            metrics,
            published,
            shutdown,
        }
    }

    /// Local midnight starting `day`, as a UTC instant.
    pub fn day_start(&self, day: NaiveDate) -> DateTime<Utc> {
        crate::domain::local_midnight(self.plant.tz(), day)
    }

    /// The local delivery day of an instant.
    pub fn delivery_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.plant.tz()).date_naive()
    }

    /// When bids for `day` close.
    pub fn gate_closure(&self, day: NaiveDate) -> DateTime<Utc> {
        self.day_start(day) - self.market.gate_closure_before
    }

    /// Solves on the bounded blocking pool, within the caller's deadline. Refuses with
    /// RESOURCE_EXHAUSTED when the queue is full, DEADLINE_EXCEEDED when no slot frees in
    /// time, UNAVAILABLE when shutting down.
    pub async fn solve(&self, forecast: Forecast, mut options: Options, deadline: Option<Duration>) -> Result<Schedule, Status> {
        if self.shutdown.is_cancelled() {
            return Err(Status::unavailable("the server is shutting down"));
        }
        let capacity = self.limits.max_concurrent + self.limits.max_queued;
        if self.in_line.fetch_add(1, Ordering::SeqCst) >= capacity {
            self.in_line.fetch_sub(1, Ordering::SeqCst);
            return Err(Status::resource_exhausted(format!("the solver is busy ({capacity} solves running or queued); retry later")));
        }
        let _in_line = InLine(&self.in_line);
        let started = Instant::now();
        // Everything must end before the caller's deadline does, so the answer is ours
        // (DEADLINE_EXCEEDED) and not the transport's (CANCELLED "Timeout expired"): we
        // work to the deadline less a margin of a tenth of it, at most 100 ms.
        let deadline = deadline.map(|d| d.saturating_sub((d / 10).min(Duration::from_millis(100))));
        let slot = self.slots.clone().acquire_owned();
        let permit = match deadline {
            Some(d) => {
                tokio::time::timeout(d, slot).await.map_err(|_| Status::deadline_exceeded("no solver slot freed before the deadline"))?
            }
            None => slot.await,
        }
        .map_err(|_| Status::unavailable("the solver pool is closed"))?;
        let budget = match deadline {
            Some(d) => d.saturating_sub(started.elapsed()).min(self.limits.default_time_limit),
            None => self.limits.default_time_limit,
        };
        if budget.is_zero() {
            return Err(Status::deadline_exceeded("the deadline passed while waiting for a solver slot"));
        }
        options.time_limit_s = Some(budget.as_secs_f64());
        // Abandoned when this call is dropped (the caller went away) or at shutdown: the
        // solve stops at its next LP and the slot frees.
        let cancel = options.cancel.clone();
        let _abandon = Abandon(cancel.clone());
        let plant = self.plant.clone();
        let objective = options.objective.name();
        let timer = self.metrics.solve_seconds.with_label_values(&[objective]).start_timer();
        let solving = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            model::solve(&plant, &forecast, &options)
        });
        let shutdown = self.shutdown.clone();
        let watch = cancel.clone();
        let stopper = tokio::spawn(async move {
            shutdown.cancelled().await;
            watch.cancel();
        });
        let result = solving.await.map_err(|_| Status::internal("the solve panicked"));
        stopper.abort();
        let result = result?;
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
                Err(Status::unavailable("the server is shutting down; the solve was abandoned"))
            }
            other => other.map_err(status::from_dispatch),
        }
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

/// A server stream: `existing` items first, then those `live` makes of each schedule
/// announced on `events` (subscribed to before `existing` was read, so nothing published
/// in between is missed; `live` skips what `existing` already holds); it ends with
/// UNAVAILABLE at shutdown, and when the client goes away.
pub(crate) fn publish_stream<T: Send + 'static>(
    state: &AppState,
    mut events: broadcast::Receiver<Published>,
    existing: Vec<T>,
    mut live: impl FnMut(&Published) -> Vec<T> + Send + 'static,
) -> tokio_stream::wrappers::ReceiverStream<Result<T, Status>> {
    let shutdown = state.shutdown.clone();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        for item in existing {
            if tx.send(Ok(item)).await.is_err() {
                return;
            }
        }
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => {
                    // A bot must tell shutdown from the end of a day: the stream ends with
                    // UNAVAILABLE (retry on another replica, or later), not OK.
                    let _ = tx.send(Err(Status::unavailable("the server is shutting down; reconnect"))).await;
                    return;
                }
                () = tx.closed() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(p) => {
                    for item in live(&p) {
                        if tx.send(Ok(item)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "a stream lagged"),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Announces on `state.published` the schedules other replicas publish (see
/// [`crate::store::Store::remote_publications`]), so this replica's streams carry them too.
/// Runs until the feed ends or the server shuts down.
pub async fn forward_remote_publications(state: Arc<AppState>, mut feed: tokio::sync::mpsc::Receiver<ScheduleRecord>) {
    loop {
        let record = tokio::select! {
            () = state.shutdown.cancelled() => return,
            record = feed.recv() => record,
        };
        let Some(record) = record else { return };
        match serde_json::from_str::<Schedule>(&record.schedule_json) {
            Ok(schedule) => {
                let _ = state.published.send(Published { info: record.info, schedule: Arc::new(schedule) });
            }
            Err(e) => tracing::error!(
                day = %record.info.day,
                version = record.info.version,
                error = %e,
                "a schedule published by another replica could not be read; its streams miss it"
            ),
        }
    }
}

/// The caller's deadline, from the `grpc-timeout` header.
pub(crate) fn deadline<T>(request: &tonic::Request<T>) -> Option<Duration> {
    parse_grpc_timeout(request.metadata().get("grpc-timeout")?.to_str().ok()?)
}

/// A `grpc-timeout` value (digits and a unit: H, M, S, m, u, n) as a duration.
pub(crate) fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}
