//! The row mapping both SQL backends share: the columns a bid and a schedule are read from,
//! and how a row becomes a [`BidRecord`], [`ScheduleInfo`] or [`ScheduleRecord`].
//!
//! The mapping is written once, over any sqlx [`Row`]. The values both schemas store with
//! the same column types (text, booleans, floats, bytes) are decoded generically
//! ([`CommonValues`]); the few a backend stores in a form of its own — SQLite keeps
//! timestamps and days as text, integers as 64 bits and NaN as NULL — come through the
//! small adapter each backend implements ([`StoredRow`]).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::sql::{corrupt, parse_side, parse_state, sqlx_error};
use super::{BidRecord, ScheduleInfo, ScheduleRecord, StoreError, SubmitOutcome};
use crate::domain::Bid;
use crate::model::KeptStart;

/// The columns [`bid_record`] reads, in the order both backends select and insert them.
macro_rules! bid_columns {
    () => {
        "bot, id, node, interval_start, side, quantity_mw, price, green, park, delivery_day, \
         revision, state, acknowledged_at"
    };
}

/// The columns [`schedule_info`] reads.
macro_rules! schedule_info_columns {
    () => {
        "day, version, published_at, objective, green_share, cost_yuan, replans_version, inputs_sha256"
    };
}

/// The columns [`schedule_record`] reads: the info, then the inputs and the schedule.
macro_rules! schedule_columns {
    () => {
        concat!(schedule_info_columns!(), ", plant_toml, forecast_json, options_json, schedule_json")
    };
}

pub(crate) use {bid_columns, schedule_columns, schedule_info_columns};

/// `column` of `row`, decoded as `T`; a value that does not decode means damaged data.
pub(crate) fn get<'r, R, T, I>(row: &'r R, column: I) -> Result<T, StoreError>
where
    R: Row,
    I: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column).map_err(sqlx_error)
}

/// The values both backends store with the same column types, read from any sqlx row
/// whose database decodes them.
pub(crate) trait CommonValues {
    /// A `TEXT NOT NULL` column.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable `TEXT` column.
    fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A boolean column.
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    /// A finite float column (quantities, prices).
    fn float(&self, column: &str) -> Result<f64, StoreError>;
    /// A byte string column (digests).
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    /// A nullable float column.
    fn optional_float(&self, column: &str) -> Result<Option<f64>, StoreError>;
}

impl<R> CommonValues for R
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<String, StoreError> {
        get(self, column)
    }

    fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        get(self, column)
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        get(self, column)
    }

    fn float(&self, column: &str) -> Result<f64, StoreError> {
        get(self, column)
    }

    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        get(self, column)
    }

    fn optional_float(&self, column: &str) -> Result<Option<f64>, StoreError> {
        get(self, column)
    }
}

/// A stored warm start (`key, cols, rows, share`).
pub(crate) fn kept_start(row: &impl CommonValues) -> Result<KeptStart, StoreError> {
    Ok(KeptStart { key: row.text("key")?, cols: row.bytes("cols")?, rows: row.bytes("rows")?, share: row.optional_float("share")? })
}

/// A backend's row: the shared values, and the values each backend stores its own way.
pub(crate) trait StoredRow: CommonValues {
    /// A timestamp column (PostgreSQL: `TIMESTAMPTZ`; SQLite: RFC 3339 text).
    fn timestamp(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    /// A day column (PostgreSQL: `DATE`; SQLite: `YYYY-MM-DD` text).
    fn day(&self, column: &str) -> Result<NaiveDate, StoreError>;
    /// An integer column (PostgreSQL: `INTEGER`; SQLite: 64-bit `INTEGER`).
    fn integer(&self, column: &str) -> Result<i64, StoreError>;
    /// A float column that may hold NaN (SQLite stores NaN as NULL).
    fn float_or_nan(&self, column: &str) -> Result<f64, StoreError>;
}

/// A bid row (the [`bid_columns!`]).
pub(crate) fn bid_record(row: &impl StoredRow) -> Result<BidRecord, StoreError> {
    let side = row.text("side")?;
    let state = row.text("state")?;
    let revision = row.integer("revision")?;
    Ok(BidRecord {
        bid: Bid {
            id: row.text("id")?,
            bot: row.text("bot")?,
            node: row.text("node")?,
            interval_start: row.timestamp("interval_start")?,
            side: parse_side(&side)?,
            quantity_mw: row.float("quantity_mw")?,
            price: row.float("price")?,
            green: row.flag("green")?,
            park: row.optional_text("park")?,
            firm: false,
            award_price: None,
        },
        delivery_day: row.day("delivery_day")?,
        revision: u32::try_from(revision).map_err(|_| corrupt("a stored bid revision is out of range"))?,
        state: parse_state(&state)?,
        acknowledged_at: row.timestamp("acknowledged_at")?,
    })
}

/// A schedule's identity (the [`schedule_info_columns!`]).
/// What a submit found already stored under its key: the same payload (its digest matches)
/// is the earlier submit again, a different one a conflict.
pub(crate) fn existing_or_conflict(row: &impl StoredRow, digest: &[u8; 32]) -> Result<SubmitOutcome, StoreError> {
    let stored = bid_record(row)?;
    if row.bytes("submitted_sha256")?.as_slice() == digest.as_slice() {
        Ok(SubmitOutcome::Existing(stored))
    } else {
        Ok(SubmitOutcome::Conflict(stored))
    }
}

pub(crate) fn schedule_info(row: &impl StoredRow) -> Result<ScheduleInfo, StoreError> {
    let version = row.integer("version")?;
    let replans = row.integer("replans_version")?;
    Ok(ScheduleInfo {
        day: row.day("day")?,
        version: u32::try_from(version).map_err(|_| corrupt("a schedule version is out of range"))?,
        published_at: row.timestamp("published_at")?,
        objective: row.text("objective")?,
        green_share: row.float_or_nan("green_share")?,
        cost_yuan: row.float_or_nan("cost_yuan")?,
        replans_version: u32::try_from(replans).map_err(|_| corrupt("a replanned version is out of range"))?,
        inputs_sha256: row.text("inputs_sha256")?,
    })
}

/// A published schedule with its inputs (the [`schedule_columns!`]).
pub(crate) fn schedule_record(row: &impl StoredRow) -> Result<ScheduleRecord, StoreError> {
    Ok(ScheduleRecord {
        info: schedule_info(row)?,
        plant_toml: row.text("plant_toml")?,
        forecast_json: row.text("forecast_json")?,
        options_json: row.text("options_json")?,
        schedule_json: row.text("schedule_json")?,
    })
}
