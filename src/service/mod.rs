//! The service: everything the product does, between the edges (gRPC in `api`, the page
//! in `web`) and the store. It owns the plant, the store, the market rules, the bounded
//! solver pool and the announcement of published schedules, and answers in plain types
//! (domain types and the records and reports defined here) with one error type, [`Error`].
//! No tonic, prost or axum type appears here.
//!
//! Operations are methods of views, and a view is had only from a [`Principal`] that the
//! view's rule admits (`auth.rs` has the table):
//! - [`Operator`] (`dispatch.rs`): clearing a day-ahead with the day's bids, re-plans,
//!   schedules, their inputs, the whole day for the page;
//! - [`Reader`] (`shares.rs`): green shares of a park or the plant, whole days stitched
//!   across versions;
//! - [`Trader`] and [`BidReader`] (`market.rs`): the bid book and awards;
//! - [`Meters`] (`meters.rs`): meter readings in; and a park's measured ledger
//!   ([`Reader::park_ledger`]) out, from the ledger the service keeps built day by day in
//!   the store (`ledger.rs`).
//!
//! `pool.rs` is the bounded solver pool; `input.rs` the request fields every edge parses
//! the same way (days, ranges).

pub mod auth;
mod dispatch;
mod error;
mod input;
mod ledger;
mod market;
mod meters;
mod pool;
mod settlement;
mod shares;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::domain::{Plant, Schedule};
use crate::metrics::Metrics;
use crate::store::{ScheduleInfo, ScheduleRecord, Store};

pub use auth::{Authenticator, Principal};
pub use dispatch::{Cleared, Operator, Replan, ScheduleInputs};
pub use error::Error;
pub use input::{day, day_range};
pub use ledger::{Chain, LedgerBuild};
pub use market::{awards, check_bid, Acknowledged, Award, BidReader, MarketRules, Trader};
pub use meters::{
    Accepted, Cancelled, CertificateDay, LedgerInterval, MeterReading, MeterRules, Meters, ParkLedger, MAX_READINGS_PER_BATCH,
};
pub use pool::SolverLimits;
pub use settlement::Settlement;
pub use shares::{park_day, plant_day, DayShare, DayVersions, Reader, ShareInterval, ShareReport};

/// A schedule just published.
#[derive(Debug, Clone)]
pub struct Published {
    /// Its identity.
    pub info: ScheduleInfo,
    /// The schedule.
    pub schedule: Arc<Schedule>,
}

/// The service's rules, from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The bid book.
    pub market: MarketRules,
    /// The meters.
    pub meters: MeterRules,
    /// The solver pool.
    pub limits: SolverLimits,
}

/// The service over one plant and one store.
pub struct Service {
    plant: Arc<Plant>,
    plant_toml: String,
    store: Arc<dyn Store>,
    market: MarketRules,
    meters: MeterRules,
    metrics: Metrics,
    published: broadcast::Sender<Published>,
    shutdown: CancellationToken,
    pool: pool::Pool,
    ledger: ledger::Kept,
}

impl Service {
    /// The service for a plant (and its file text, stored with every schedule) and a store.
    pub fn new(
        plant: Plant,
        plant_toml: String,
        store: Arc<dyn Store>,
        rules: Rules,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Service {
        let (published, _) = broadcast::channel(256);
        let Rules { market, meters, limits } = rules;
        let plant = Arc::new(plant);
        let ledger = ledger::Kept::new(plant.clone(), &plant_toml, meters.interval_minutes, store.clone());
        Service { plant, plant_toml, store, market, meters, pool: pool::Pool::new(limits), metrics, published, shutdown, ledger }
    }

    /// The plant (its names and figures are configuration, readable by anyone signed in).
    pub fn plant(&self) -> &Plant {
        &self.plant
    }

    /// The bid book's rules.
    pub fn market(&self) -> &MarketRules {
        &self.market
    }

    /// The meters' rules.
    pub fn meter_rules(&self) -> &MeterRules {
        &self.meters
    }

    /// Cancelled at shutdown: streams end, new solves are refused.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// An operator's view, or PERMISSION_DENIED.
    pub fn operator(&self, who: &Principal, what: &str) -> Result<Operator<'_>, Error> {
        auth::require_operator(who, what)?;
        Ok(Operator { svc: self })
    }

    /// A share reader's view (operators and park managers), or PERMISSION_DENIED.
    pub fn reader<'a>(&'a self, who: &'a Principal) -> Result<Reader<'a>, Error> {
        auth::require_reader(who)?;
        Ok(Reader { svc: self, who })
    }

    /// A bot's view of its own bids, or PERMISSION_DENIED.
    pub fn trader<'a>(&'a self, who: &'a Principal) -> Result<Trader<'a>, Error> {
        let bot = auth::require_bot(who)?;
        Ok(Trader { svc: self, bot })
    }

    /// A view of the bids and awards the caller may read (operators all, a bot its own),
    /// or PERMISSION_DENIED naming `what`.
    pub fn bid_reader<'a>(&'a self, who: &'a Principal, what: &str) -> Result<BidReader<'a>, Error> {
        let bot = auth::bid_scope(who, what)?;
        Ok(BidReader { svc: self, bot })
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

    /// Announces on this replica's streams the schedules other replicas publish (see
    /// [`crate::store::Store::remote_publications`]). Runs until the feed ends or the
    /// server shuts down.
    pub async fn forward_remote_publications(self: Arc<Self>, mut feed: tokio::sync::mpsc::Receiver<ScheduleRecord>) {
        loop {
            let record = tokio::select! {
                () = self.shutdown.cancelled() => return,
                record = feed.recv() => record,
            };
            let Some(record) = record else { return };
            match serde_json::from_str::<Schedule>(&record.schedule_json) {
                Ok(schedule) => {
                    let _ = self.published.send(Published { info: record.info, schedule: Arc::new(schedule) });
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

    /// The latest published schedule of a day, decoded.
    async fn latest(&self, day: NaiveDate) -> Result<Option<(ScheduleInfo, Schedule)>, Error> {
        let Some(r) = self.store.schedule(day, None).await? else { return Ok(None) };
        let s = decode_schedule(&r.schedule_json)?;
        Ok(Some((r.info, s)))
    }

    /// A stream: `existing` items first, then those `live` makes of each schedule
    /// announced (subscribed to before `existing` was read by the caller of
    /// [`Service::subscribe`], so nothing published in between is missed; `live` skips
    /// what `existing` already holds); it ends with UNAVAILABLE at shutdown, and when the
    /// receiver goes away.
    fn stream<T: Send + 'static>(
        &self,
        mut events: broadcast::Receiver<Published>,
        existing: Vec<T>,
        mut live: impl FnMut(&Published) -> Vec<T> + Send + 'static,
    ) -> Stream<T> {
        let shutdown = self.shutdown.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            for item in existing {
                if tx.send(Ok(item)).await.is_err() {
                    return;
                }
            }
            loop {
                let Some(event) = next_event(&shutdown, &tx, &mut events).await else { return };
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

    fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.published.subscribe()
    }
}

/// The next announcement for a stream's task to handle; `None` when the stream is over:
/// at shutdown, after telling the client with UNAVAILABLE (a client must tell shutdown from
/// the end of its stream, and retries on another replica or later), or when the client went
/// away.
async fn next_event<E: Clone, T>(
    shutdown: &CancellationToken,
    tx: &tokio::sync::mpsc::Sender<Result<T, Error>>,
    events: &mut broadcast::Receiver<E>,
) -> Option<Result<E, broadcast::error::RecvError>> {
    tokio::select! {
        () = shutdown.cancelled() => {
            let _ = tx.send(Err(Error::Unavailable("the server is shutting down; reconnect".into()))).await;
            None
        }
        () = tx.closed() => None,
        event = events.recv() => Some(event),
    }
}

/// A stream of items or the error that ended it.
pub type Stream<T> = tokio_stream::wrappers::ReceiverStream<Result<T, Error>>;

/// A stored schedule read back (INTERNAL, without its text, if it cannot be).
fn decode_schedule(json: &str) -> Result<Schedule, Error> {
    serde_json::from_str(json).map_err(|_| Error::Internal("a stored schedule could not be read".into()))
}
