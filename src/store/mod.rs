//! The durable store behind the service: bids (exactly once per bot and bid id) and
//! published schedules (versioned, with the exact inputs they were solved from).
//!
//! One trait, [`Store`]; SQLite (`sqlite.rs`, the embedded default) implements it, and a
//! PostgreSQL backend will too. An acknowledged write is durable: the call returns only
//! after the transaction holding it has committed to disk.
//!
//! Architecture invariant: nothing here knows of gRPC or the LP; records carry domain
//! types and JSON/TOML text.

pub mod sqlite;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Bid;

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

/// Why a store call failed. The text never carries SQL or row data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (corruption or an incompatible version).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
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
}
