//! The durable store behind the service: bids (exactly once per bot and bid id),
//! published schedules (versioned, with the exact inputs they were solved from) and meter
//! readings (exactly once per meter, quantity and interval; corrections as revisions).
//!
//! One trait, [`Store`], two implementations chosen by the `database` setting
//! ([`Database`], [`open`]):
//!
//! - SQLite ([`sqlite`], the embedded default): one file, one service process.
//! - PostgreSQL ([`postgres`]): one database shared by any number of service replicas.
//!   Exactly-once bids and schedule versions are enforced by the database itself (keys,
//!   `INSERT … ON CONFLICT`, transaction-scoped advisory locks), the day-ahead clearing of a
//!   day runs once across replicas ([`Store::lock_clearing`]), and every replica learns of
//!   schedules published by the others ([`Store::remote_publications`]).
//!
//! An acknowledged write is durable: the call returns only after the transaction holding
//! it has committed to disk (PostgreSQL: the store refuses to open on a server configured
//! to acknowledge commits before they are flushed).
//!
//! What both backends share lives here once: the records and errors (this file), the row
//! mapping and column lists (`rows.rs`), the payload digest and error mapping (`sql.rs`).
//! The tests' store suite (`tests/it/store_suite.rs`) runs the same cases on each backend.
//!
//! Architecture invariant: nothing here knows of gRPC or the LP; records carry domain
//! types and JSON/TOML text.

mod ledger;
pub mod postgres;
mod readings;
mod rows;
mod sql;
pub mod sqlite;

pub use ledger::{DirtyMark, LedgerDayRecord, NewLedgerDay};
pub use sql::payload_sha256;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::domain::Bid;
use crate::model::KeptStart;

/// Lifecycle of a bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidState {
    /// Submitted (possibly amended), taking part in clearings.
    Active,
    /// Cancelled by its bot; kept for the record, never cleared.
    Cancelled,
}

impl BidState {
    /// Name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            BidState::Active => "active",
            BidState::Cancelled => "cancelled",
        }
    }
}

/// A stored bid. `bid.bot` is the owning bot; (`bid.bot`, `bid.id`) is unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BidRecord {
    /// The bid as last submitted or amended.
    pub bid: Bid,
    /// Local delivery day of its interval.
    pub delivery_day: NaiveDate,
    /// 1 at submission, +1 per amendment.
    pub revision: u32,
    /// Active or cancelled.
    pub state: BidState,
    /// When the current revision was acknowledged.
    pub acknowledged_at: DateTime<Utc>,
}

/// What a submission did.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitOutcome {
    /// Stored now.
    Created(BidRecord),
    /// The same bot already stored this id with the same payload: the original record.
    Existing(BidRecord),
    /// The same bot already stored this id with a different payload (nothing changed).
    Conflict(BidRecord),
}

/// A schedule to publish; the store assigns its version.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    /// Local delivery day.
    pub day: NaiveDate,
    /// When it was solved.
    pub published_at: DateTime<Utc>,
    /// `green-share`, `green-energy`, `cost`.
    pub objective: String,
    /// Plant green share.
    pub green_share: f64,
    /// Operating cost, yuan.
    pub cost_yuan: f64,
    /// The version it re-plans, 0 for a day-ahead schedule.
    pub replans_version: u32,
    /// Exact inputs: plant TOML, forecast JSON (with the bids cleared), options JSON.
    pub plant_toml: String,
    /// Forecast JSON, with the bids cleared.
    pub forecast_json: String,
    /// Options JSON.
    pub options_json: String,
    /// The whole schedule as JSON (`domain::Schedule`).
    pub schedule_json: String,
}

/// What identifies a published schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// Local delivery day.
    pub day: NaiveDate,
    /// 1, 2, … per day.
    pub version: u32,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// Objective.
    pub objective: String,
    /// Plant green share.
    pub green_share: f64,
    /// Operating cost, yuan.
    pub cost_yuan: f64,
    /// The version it re-plans, 0 for a day-ahead schedule.
    pub replans_version: u32,
    /// SHA-256 (hex) of plant_toml ‖ 0 ‖ forecast_json ‖ 0 ‖ options_json.
    pub inputs_sha256: String,
}

/// A published schedule with its inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    /// Its identity.
    pub info: ScheduleInfo,
    /// Plant TOML as solved.
    pub plant_toml: String,
    /// Forecast JSON as solved, with the bids cleared.
    pub forecast_json: String,
    /// Options JSON.
    pub options_json: String,
    /// The schedule JSON.
    pub schedule_json: String,
}

/// A meter reading to store: the energy `meter` read for `quantity` in the interval of
/// `interval_minutes` starting at `interval_start` (whole seconds). The key is (meter,
/// quantity, interval_start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReading {
    /// The meter (a renewable, storage, park or grid exchange of the plant).
    pub meter: String,
    /// What it reads (`output`, `charge`, …; `ledger::Quantity::name`).
    pub quantity: String,
    /// Start of the interval (whole seconds).
    pub interval_start: DateTime<Utc>,
    /// Length of the interval.
    pub interval_minutes: u32,
    /// The energy, Wh (at least 0).
    pub value_wh: i64,
    /// Why a different value for a key already read replaces it (a correction); `None` for
    /// a first reading or a redelivery.
    pub reason: Option<String>,
    /// How it came in: `grpc`, `mqtt`, `csv`.
    pub source: String,
    /// When the service received it (microseconds kept).
    pub received_at: DateTime<Utc>,
}

/// A stored reading: one revision of a key. Revision 1 is the first reading; each
/// correction adds the next; nothing is ever overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingRecord {
    /// The reading as stored.
    pub reading: NewReading,
    /// 1, 2, … per key.
    pub revision: u32,
}

/// What storing a reading did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadingOutcome {
    /// A first reading of its key: revision 1.
    Created(ReadingRecord),
    /// The same value as a revision already stored (a redelivery): that revision.
    Existing(ReadingRecord),
    /// A different value with a reason: stored as the next revision.
    Corrected(ReadingRecord),
    /// A different value without a reason: refused; the latest revision, unchanged.
    Conflict(ReadingRecord),
}

/// Why a store call failed. The text never carries SQL or row data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (corruption or an incompatible version).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A day-ahead schedule (re-planning nothing) is already published for the day; a
    /// second one is refused. Later changes are re-plans.
    #[error("a day-ahead schedule for {day} is already published (version {version})")]
    DayAheadExists {
        /// The delivery day.
        day: NaiveDate,
        /// The published day-ahead version (0 when the database did not say).
        version: u32,
    },
    /// The database is configured so that it could lose acknowledged writes; the store
    /// refuses to run on it. The text names the setting and how to fix it.
    #[error("{0}")]
    Unsafe(String),
}

/// The digest stored with a schedule's inputs.
pub fn inputs_sha256(plant_toml: &str, forecast_json: &str, options_json: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(plant_toml.as_bytes());
    h.update([0u8]);
    h.update(forecast_json.as_bytes());
    h.update([0u8]);
    h.update(options_json.as_bytes());
    hex::encode(h.finalize())
}

/// The store the service runs on.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new bid atomically, keyed by (bot, id): insert, or return what is there.
    async fn submit_bid(&self, record: BidRecord) -> Result<SubmitOutcome, StoreError>;
    /// Replaces an active bid's quantity and price, bumping its revision. `None` when the
    /// bot has no such bid. A cancelled bid is returned unchanged.
    async fn amend_bid(
        &self,
        bot: &str,
        id: &str,
        quantity_mw: f64,
        price: f64,
        at: DateTime<Utc>,
    ) -> Result<Option<BidRecord>, StoreError>;
    /// Cancels a bid. `None` when the bot has no such bid; cancelling twice is harmless.
    async fn cancel_bid(&self, bot: &str, id: &str, at: DateTime<Utc>) -> Result<Option<BidRecord>, StoreError>;
    /// One bid of a bot.
    async fn bid(&self, bot: &str, id: &str) -> Result<Option<BidRecord>, StoreError>;
    /// Bids of a delivery day (all bots, or one), every state, ordered by bot then id.
    async fn bids_for_day(&self, day: NaiveDate, bot: Option<&str>) -> Result<Vec<BidRecord>, StoreError>;
    /// Publishes a schedule as the day's next version (1 for the first) and returns it.
    async fn publish_schedule(&self, schedule: NewSchedule) -> Result<ScheduleInfo, StoreError>;
    /// A published schedule: the given version, or the latest when `None`.
    async fn schedule(&self, day: NaiveDate, version: Option<u32>) -> Result<Option<ScheduleRecord>, StoreError>;
    /// Every published version for days in `[from, to]`, by day then version.
    async fn list_schedules(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<ScheduleInfo>, StoreError>;
    /// Waits until this caller alone may run the day-ahead clearing of `day` — alone in
    /// this process and, for a shared database, among every process using it — and holds
    /// that right until the returned lock is released or dropped (or the process dies).
    async fn lock_clearing(&self, day: NaiveDate) -> Result<ClearingLock, StoreError>;
    /// The day's published day-ahead schedule (the version re-planning nothing), if any.
    /// Should a day hold several (a SQLite file written before the rule of one clearing
    /// per day), the latest.
    async fn day_ahead(&self, day: NaiveDate) -> Result<Option<ScheduleRecord>, StoreError>;
    /// Stores a batch of readings, each keyed by (meter, quantity, interval_start), in one
    /// transaction: new keys as revision 1, redeliveries answered with what is there,
    /// corrections (a different value with a reason) as the next revision, a different
    /// value without a reason refused. One outcome per reading, in order.
    async fn put_readings(&self, batch: Vec<NewReading>) -> Result<Vec<ReadingOutcome>, StoreError>;
    /// The latest revision of every reading whose interval starts in `[from, to)`, by
    /// start, meter and quantity.
    async fn readings(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ReadingRecord>, StoreError>;
    /// Every revision of one key, oldest first: the audit trail of its corrections.
    async fn reading_revisions(&self, meter: &str, quantity: &str, start: DateTime<Utc>) -> Result<Vec<ReadingRecord>, StoreError>;
    /// The first and last interval start of any stored reading; `None` when there is none.
    async fn readings_span(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError>;
    /// The hours whose readings changed since the ledger was last built over them
    /// ([`Store::put_readings`] marks them in its transaction), by day.
    async fn ledger_dirty(&self) -> Result<Vec<DirtyMark>, StoreError>;
    /// The built ledger days in `[from, to]`, by day, without their closing state.
    async fn ledger_days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<LedgerDayRecord>, StoreError>;
    /// A built day's basis and closing state (JSON).
    async fn ledger_closing(&self, day: NaiveDate) -> Result<Option<(String, String)>, StoreError>;
    /// Stores built days (replacing those of the same day) and removes the dirty marks
    /// `consumed` where their generation is still the one given, in one transaction.
    async fn put_ledger_days(&self, days: Vec<NewLedgerDay>, consumed: Vec<DirtyMark>) -> Result<(), StoreError>;
    /// Waits until this caller alone builds the ledger (in this process and, for a shared
    /// database, among every process using it); held until the returned lock is dropped.
    async fn lock_ledger(&self) -> Result<ClearingLock, StoreError>;
    /// The solver's kept warm starts (see [`crate::model::WarmStarts`]), the most recently
    /// kept first, at most `limit`.
    async fn warm_starts(&self, limit: usize) -> Result<Vec<KeptStart>, StoreError>;
    /// Stores `starts` (most recently used first; each replaces a row of its key) as kept
    /// now, then removes all but the `keep` most recently kept rows, in one transaction.
    async fn put_warm_starts(&self, starts: Vec<KeptStart>, keep: usize) -> Result<(), StoreError>;
    /// Schedules published from now on by *other* processes sharing this database, each
    /// once, in commit order. `None` when no other process can publish (SQLite). Call at
    /// most once: the first call starts the feed; later calls return `None`.
    async fn remote_publications(&self) -> Result<Option<mpsc::Receiver<ScheduleRecord>>, StoreError> {
        Ok(None)
    }
    /// Finishes pending writes and closes the connections; later calls fail with
    /// [`StoreError::Unavailable`]. Closing twice is harmless.
    async fn close(&self) {}
}

/// Where the store lives, from the `database` setting: a `postgres://` or `postgresql://`
/// URL selects PostgreSQL, anything else is a SQLite file path (an optional `sqlite://`
/// prefix is dropped).
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Database {
    /// Reads a `database` setting. Errors say what is wrong without repeating the value
    /// (a URL may hold a password).
    pub fn parse(text: &str) -> Result<Database, String> {
        let t = text.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            postgres::check_url(t)?;
            return Ok(Database::Postgres(t.to_string()));
        }
        let path = t.strip_prefix("sqlite://").unwrap_or(t);
        if path.is_empty() {
            return Err("must be a SQLite file path or a postgres:// URL, got an empty value".into());
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }
}

/// Shows the path, or the URL without its password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Database::Postgres(url) => f.write_str(&postgres::redact(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

/// Opens the store `database` names: creates a missing SQLite file, applies pending
/// migrations, and for PostgreSQL checks that the server will not lose acknowledged writes.
pub async fn open(database: &Database) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match database {
        Database::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(path).await?),
        Database::Postgres(url) => Arc::new(postgres::PgStore::open(url).await?),
    })
}

/// The right to run one day's day-ahead clearing, from [`Store::lock_clearing`]. Release
/// it with [`ClearingLock::release`]; dropping it releases it too (for PostgreSQL by
/// closing the session that holds it).
pub struct ClearingLock {
    day: NaiveDate,
    held: Option<Box<dyn HeldLock>>,
}

impl ClearingLock {
    /// A lock over what `held` holds.
    pub fn new(day: NaiveDate, held: Box<dyn HeldLock>) -> ClearingLock {
        ClearingLock { day, held: Some(held) }
    }

    /// The day it is for.
    pub fn day(&self) -> NaiveDate {
        self.day
    }

    /// Gives the right up.
    pub async fn release(mut self) {
        if let Some(held) = self.held.take() {
            held.release().await;
        }
    }
}

impl fmt::Debug for ClearingLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClearingLock").field("day", &self.day).finish_non_exhaustive()
    }
}

/// What a store holds while a [`ClearingLock`] is held. Dropping it must release it.
#[async_trait::async_trait]
pub trait HeldLock: Send {
    /// Releases it, waiting until others can take it.
    async fn release(self: Box<Self>);
}

/// Per-day mutexes within one process: the clearing lock of the SQLite store, and the first
/// step of the PostgreSQL one (so that one process holds at most one database session per
/// day being cleared).
#[derive(Default)]
pub struct LocalDayLocks {
    days: std::sync::Mutex<HashMap<NaiveDate, Arc<tokio::sync::Mutex<()>>>>,
}

impl LocalDayLocks {
    /// Waits for `day`'s mutex.
    pub async fn lock(&self, day: NaiveDate) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = {
            let mut days = self.days.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget the days nobody holds or waits for.
            days.retain(|_, m| Arc::strong_count(m) > 1);
            days.entry(day).or_default().clone()
        };
        mutex.lock_owned().await
    }
}

impl fmt::Debug for LocalDayLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalDayLocks").finish_non_exhaustive()
    }
}

/// Holds the mutex until dropped.
struct LocalHeld {
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

#[async_trait::async_trait]
impl HeldLock for LocalHeld {
    async fn release(self: Box<Self>) {}
}

impl LocalDayLocks {
    /// `day`'s mutex as a [`ClearingLock`].
    pub async fn clearing_lock(&self, day: NaiveDate) -> ClearingLock {
        ClearingLock::new(day, Box::new(LocalHeld { _guard: self.lock(day).await }))
    }
}

/// The `kept_at` of the `k`-th of starts stored together at `now` (most recently used
/// first): microseconds since the epoch, one less for each later start, so the order of
/// a batch survives.
pub(crate) fn kept_at(now: DateTime<Utc>, k: usize) -> i64 {
    now.timestamp_micros().saturating_sub(i64::try_from(k).unwrap_or(i64::MAX))
}

/// The most rows a query for warm starts asks for (an SQL limit is a signed 64-bit number).
pub(crate) fn row_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
