//! What both backends share about meter readings: the columns, the row mapping (times as
//! integers: interval starts in Unix seconds, receipt in Unix microseconds, exact on both),
//! and the one rule deciding what a reading does to the revisions already stored.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::rows::get;
use super::sql::corrupt;
use super::{NewReading, ReadingOutcome, ReadingRecord, StoreError};

/// The columns [`reading_record`] reads, in the order both backends select and insert them.
macro_rules! reading_columns {
    () => {
        "meter, quantity, interval_start, revision, interval_minutes, value_wh, reason, source, received_at"
    };
}
pub(crate) use reading_columns;

/// An interval start as stored.
pub(crate) fn start_value(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// An interval start read back.
pub(crate) fn start_instant(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(v, 0).ok_or_else(|| corrupt("a stored reading's start is out of range"))
}

/// A receipt time as stored.
pub(crate) fn received_value(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A reading row.
pub(crate) fn reading_record<'r, R>(row: &'r R) -> Result<ReadingRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let start: i64 = get(row, "interval_start")?;
    let received: i64 = get(row, "received_at")?;
    let int = |v: i64, what: &str| u32::try_from(v).map_err(|_| corrupt(&format!("a stored reading's {what} is out of range")));
    Ok(ReadingRecord {
        reading: NewReading {
            meter: get(row, "meter")?,
            quantity: get(row, "quantity")?,
            interval_start: start_instant(start)?,
            interval_minutes: int(get(row, "interval_minutes")?, "interval")?,
            value_wh: get(row, "value_wh")?,
            reason: get(row, "reason")?,
            source: get(row, "source")?,
            received_at: DateTime::from_timestamp_micros(received).ok_or_else(|| corrupt("a stored reading's receipt is out of range"))?,
        },
        revision: int(get(row, "revision")?, "revision")?,
    })
}

/// What to do with a reading, given every stored revision of its key (oldest first).
pub(crate) enum Decision {
    /// Store it as this revision.
    Insert(u32),
    /// Answer with this outcome; nothing to store.
    Answer(ReadingOutcome),
}

/// The rule: a new key is revision 1; the value of a stored revision again (without a
/// reason, or the latest's with one) is a redelivery; a different value needs a reason and
/// becomes the next revision.
pub(crate) fn decide(history: &[ReadingRecord], new: &NewReading) -> Decision {
    let Some(latest) = history.last() else { return Decision::Insert(1) };
    let same = |r: &ReadingRecord| r.reading.value_wh == new.value_wh && r.reading.interval_minutes == new.interval_minutes;
    if same(latest) {
        return Decision::Answer(ReadingOutcome::Existing(latest.clone()));
    }
    match (&new.reason, history.iter().rev().find(|r| same(r))) {
        (None, Some(earlier)) => Decision::Answer(ReadingOutcome::Existing(earlier.clone())),
        (None, None) => Decision::Answer(ReadingOutcome::Conflict(latest.clone())),
        (Some(_), _) => Decision::Insert(latest.revision + 1),
    }
}

/// The outcome of an insert of `new` as `revision`.
pub(crate) fn inserted(new: &NewReading, revision: u32) -> ReadingOutcome {
    let record = ReadingRecord { reading: new.clone(), revision };
    if revision == 1 {
        ReadingOutcome::Created(record)
    } else {
        ReadingOutcome::Corrected(record)
    }
}
