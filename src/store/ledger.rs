//! What both backends share about the built ledger's days: the records, and which hours
//! a batch of stored readings marks as changed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ReadingOutcome;

/// Seconds per hour.
const HOUR_SECONDS: i64 = 3_600;

/// An hour whose readings changed since the ledger was last built over it (Unix hours:
/// interval start in seconds / 3,600), and how many times it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirtyMark {
    /// Unix hour.
    pub utc_hour: i64,
    /// Rises at each change.
    pub generation: i64,
}

impl DirtyMark {
    /// The instants `[start, end)` of its hour.
    pub fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
        (at(self.utc_hour * HOUR_SECONDS), at((self.utc_hour + 1) * HOUR_SECONDS))
    }
}

/// A built day of the ledger as stored, without its closing state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerDayRecord {
    /// The local day.
    pub day: NaiveDate,
    /// What it was built under (plant, meter interval, ledger rules).
    pub basis: String,
    /// Each park's totals over the day, JSON (`[ledger::ParkDay]`, plant order).
    pub parks_json: String,
    /// When it was built (microseconds kept): a replica that sees it change learns that
    /// another one built the day again.
    pub built_at: DateTime<Utc>,
}

/// A built day to store (replacing what is stored for the day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLedgerDay {
    /// The day, its basis and totals.
    pub record: LedgerDayRecord,
    /// The storages' content at its end, JSON (`ledger::StorageState`).
    pub closing_json: String,
}

/// A build time read back (microseconds).
pub(crate) fn built_instant(micros: i64) -> Result<DateTime<Utc>, super::StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| super::sql::corrupt("a built ledger day's time is out of range"))
}

/// The distinct hours of the readings a batch stored (new readings and corrections; a
/// redelivery or a refused conflict changes nothing).
pub(crate) fn changed_days(outcomes: &[ReadingOutcome]) -> Vec<i64> {
    let mut days: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| match o {
            ReadingOutcome::Created(r) | ReadingOutcome::Corrected(r) => {
                Some(r.reading.interval_start.timestamp().div_euclid(HOUR_SECONDS))
            }
            ReadingOutcome::Existing(_) | ReadingOutcome::Conflict(_) => None,
        })
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}
