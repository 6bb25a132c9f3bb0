//! The embedded SQLite store, the service's default: one database file, written by one
//! writer task with group commit, read through a small pool of query-only connections.
//!
//! Durability: the file is in WAL mode with `synchronous = FULL`, so a committed
//! transaction has been fsynced. Every write (submit, amend, cancel, publish) goes over a
//! channel to the single writer task, which drains what is queued (up to [`MAX_BATCH`]),
//! applies it in one transaction on its own connection, commits, and only then answers
//! each caller. One fsync thus acknowledges a whole batch, which is what lets the store
//! acknowledge well over 10,000 bids/s durably.
//!
//! Schema: `migrations/sqlite/`, embedded with `sqlx::migrate!` and applied when the store
//! opens. Queries are runtime queries, so building never needs a database.
//!
//! One process: the clearing lock ([`Store::lock_clearing`]) is a per-day mutex of this
//! process, so two service processes must not share one SQLite file (use PostgreSQL for
//! replicas). A second day-ahead schedule for a day is refused inside the writer's
//! transaction ([`StoreError::DayAheadExists`]).
//!
//! Idempotency: a bid's row keeps the SHA-256 of the payload it was first submitted with
//! (see [`super::payload_sha256`]); a retried submission is compared with that digest. The
//! `(bot, id)` primary key makes a second row impossible whatever the application does:
//! a submission is `INSERT … ON CONFLICT DO NOTHING`, then a read of what is there.
//!
//! By concern: this file opens the store, implements [`Store`] (reads on the pool, writes
//! handed to the writer) and holds the SQLite forms of timestamps and days; `writer.rs` is
//! the writer task and its batches; `queries.rs` the SQL text. Rows become records through
//! the mapping both backends share (`store/rows.rs`).

mod queries;
mod writer;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use self::queries::*;
use self::writer::{write_loop, Done, Job, Msg, Op};
use super::ledger::built_instant;
use super::readings::{reading_record, start_instant, start_value};
use super::rows::{bid_record, get, kept_start, schedule_info, schedule_record, CommonValues, StoredRow};
use super::sql::{corrupt, migrate_error, payload_sha256, sqlx_error};
use super::{
    row_limit, BidRecord, ClearingLock, DirtyMark, LedgerDayRecord, LocalDayLocks, NewLedgerDay, NewReading, NewSchedule, ReadingOutcome,
    ReadingRecord, ScheduleInfo, ScheduleRecord, Store, StoreError, SubmitOutcome,
};
use crate::model::KeptStart;

/// Most writes the writer applies in one transaction.
pub const MAX_BATCH: usize = 1024;
/// Writes that may wait for the writer before callers are held back.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Read connections.
const READERS: u32 = 4;
/// How long a connection waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: mpsc::Sender<Msg>,
    readers: SqlitePool,
    clearing: LocalDayLocks,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, applies pending migrations and
    /// starts the writer task. Must be called within a tokio runtime.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let base =
            SqliteConnectOptions::new().filename(path).busy_timeout(BUSY_TIMEOUT).foreign_keys(true).synchronous(SqliteSynchronous::Full);

        // The writer's connection sets WAL (a persistent property of the file) and migrates.
        let write_options = base.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
        // Migrate through a one-connection pool: `Migrator::run` on a bare connection makes
        // this future !Send (a known sqlx limitation), and servers spawn it.
        let migrating = SqlitePoolOptions::new().max_connections(1).connect_with(write_options.clone()).await.map_err(db_error)?;
        MIGRATOR.run(&migrating).await.map_err(|e| migrate_error(e, db_error))?;
        migrating.close().await;
        let conn = SqliteConnection::connect_with(&write_options).await.map_err(db_error)?;

        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(0)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(db_error)?;

        let (writer, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_loop(conn, rx));
        Ok(SqliteStore { writer, readers, clearing: LocalDayLocks::default() })
    }

    /// Applies and commits every write queued so far, then closes the connections. Later
    /// calls fail with [`StoreError::Unavailable`]. Closing twice is harmless.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.writer.send(Msg::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.readers.close().await;
    }

    /// Hands a write to the writer task and waits until it is committed.
    async fn write(&self, op: Op) -> Result<Done, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer.send(Msg::Job(Job { op, reply })).await.map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn submit_bid(&self, record: BidRecord) -> Result<SubmitOutcome, StoreError> {
        let digest = payload_sha256(&record.bid);
        match self.write(Op::Submit(Box::new(record), digest)).await? {
            Done::Submit(outcome) => Ok(outcome),
            _ => Err(out_of_turn()),
        }
    }

    async fn amend_bid(
        &self,
        bot: &str,
        id: &str,
        quantity_mw: f64,
        price: f64,
        at: DateTime<Utc>,
    ) -> Result<Option<BidRecord>, StoreError> {
        let op = Op::Amend { bot: bot.to_owned(), id: id.to_owned(), quantity_mw, price, at };
        match self.write(op).await? {
            Done::Bid(bid) => Ok(bid),
            _ => Err(out_of_turn()),
        }
    }

    async fn cancel_bid(&self, bot: &str, id: &str, at: DateTime<Utc>) -> Result<Option<BidRecord>, StoreError> {
        match self.write(Op::Cancel { bot: bot.to_owned(), id: id.to_owned(), at }).await? {
            Done::Bid(bid) => Ok(bid),
            _ => Err(out_of_turn()),
        }
    }

    async fn bid(&self, bot: &str, id: &str) -> Result<Option<BidRecord>, StoreError> {
        let row = sqlx::query(SELECT_BID).bind(bot).bind(id).fetch_optional(&self.readers).await.map_err(db_error)?;
        row.as_ref().map(bid_record).transpose()
    }

    async fn bids_for_day(&self, day: NaiveDate, bot: Option<&str>) -> Result<Vec<BidRecord>, StoreError> {
        let day = day_text(day);
        let rows = match bot {
            None => sqlx::query(SELECT_BIDS_OF_DAY).bind(&day).fetch_all(&self.readers).await,
            Some(bot) => sqlx::query(SELECT_BIDS_OF_DAY_AND_BOT).bind(&day).bind(bot).fetch_all(&self.readers).await,
        }
        .map_err(db_error)?;
        rows.iter().map(bid_record).collect()
    }

    async fn publish_schedule(&self, schedule: NewSchedule) -> Result<ScheduleInfo, StoreError> {
        match self.write(Op::Publish(Box::new(schedule))).await? {
            Done::Published(info) => Ok(info),
            _ => Err(out_of_turn()),
        }
    }

    async fn schedule(&self, day: NaiveDate, version: Option<u32>) -> Result<Option<ScheduleRecord>, StoreError> {
        let day = day_text(day);
        let row = match version {
            Some(v) => sqlx::query(SELECT_SCHEDULE).bind(&day).bind(i64::from(v)).fetch_optional(&self.readers).await,
            None => sqlx::query(SELECT_LATEST_SCHEDULE).bind(&day).fetch_optional(&self.readers).await,
        }
        .map_err(db_error)?;
        row.as_ref().map(schedule_record).transpose()
    }

    async fn day_ahead(&self, day: NaiveDate) -> Result<Option<ScheduleRecord>, StoreError> {
        let row = sqlx::query(SELECT_DAY_AHEAD).bind(day_text(day)).fetch_optional(&self.readers).await.map_err(db_error)?;
        row.as_ref().map(schedule_record).transpose()
    }

    async fn lock_clearing(&self, day: NaiveDate) -> Result<ClearingLock, StoreError> {
        Ok(self.clearing.clearing_lock(day).await)
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn list_schedules(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<ScheduleInfo>, StoreError> {
        let rows = sqlx::query(LIST_SCHEDULES).bind(day_text(from)).bind(day_text(to)).fetch_all(&self.readers).await.map_err(db_error)?;
        rows.iter().map(schedule_info).collect()
    }

    async fn put_readings(&self, batch: Vec<NewReading>) -> Result<Vec<ReadingOutcome>, StoreError> {
        match self.write(Op::PutReadings(batch)).await? {
            Done::Readings(out) => Ok(out),
            _ => Err(out_of_turn()),
        }
    }

    async fn readings(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ReadingRecord>, StoreError> {
        let rows = sqlx::query(SELECT_LATEST_READINGS)
            .bind(start_value(from))
            .bind(start_value(to))
            .fetch_all(&self.readers)
            .await
            .map_err(db_error)?;
        rows.iter().map(reading_record).collect()
    }

    async fn reading_revisions(&self, meter: &str, quantity: &str, start: DateTime<Utc>) -> Result<Vec<ReadingRecord>, StoreError> {
        let rows = sqlx::query(SELECT_READING_REVISIONS)
            .bind(meter)
            .bind(quantity)
            .bind(start_value(start))
            .fetch_all(&self.readers)
            .await
            .map_err(db_error)?;
        rows.iter().map(reading_record).collect()
    }
    async fn readings_span(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(SELECT_READINGS_SPAN).fetch_one(&self.readers).await.map_err(db_error)?;
        let (first, last): (Option<i64>, Option<i64>) = (get(&row, "first")?, get(&row, "last")?);
        first.zip(last).map(|(f, l)| Ok((start_instant(f)?, start_instant(l)?))).transpose()
    }

    async fn ledger_dirty(&self) -> Result<Vec<DirtyMark>, StoreError> {
        let rows = sqlx::query(SELECT_LEDGER_DIRTY).fetch_all(&self.readers).await.map_err(db_error)?;
        rows.iter().map(|r| Ok(DirtyMark { utc_hour: get(r, "utc_hour")?, generation: get(r, "generation")? })).collect()
    }

    async fn ledger_days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<LedgerDayRecord>, StoreError> {
        let rows =
            sqlx::query(SELECT_LEDGER_DAYS).bind(day_text(from)).bind(day_text(to)).fetch_all(&self.readers).await.map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(LedgerDayRecord {
                    day: r.day("day")?,
                    basis: get(r, "basis")?,
                    parks_json: get(r, "parks")?,
                    built_at: built_instant(get(r, "built_at")?)?,
                })
            })
            .collect()
    }

    async fn ledger_closing(&self, day: NaiveDate) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(SELECT_LEDGER_CLOSING).bind(day_text(day)).fetch_optional(&self.readers).await.map_err(db_error)?;
        row.map(|r| Ok((get(&r, "basis")?, get(&r, "closing")?))).transpose()
    }

    async fn put_ledger_days(&self, days: Vec<NewLedgerDay>, consumed: Vec<DirtyMark>) -> Result<(), StoreError> {
        match self.write(Op::PutLedgerDays(days, consumed)).await? {
            Done::LedgerDays => Ok(()),
            _ => Err(out_of_turn()),
        }
    }

    async fn warm_starts(&self, limit: usize) -> Result<Vec<KeptStart>, StoreError> {
        let rows = sqlx::query(SELECT_WARM_STARTS).bind(row_limit(limit)).fetch_all(&self.readers).await.map_err(db_error)?;
        rows.iter().map(kept_start).collect()
    }

    async fn put_warm_starts(&self, starts: Vec<KeptStart>, keep: usize) -> Result<(), StoreError> {
        match self.write(Op::PutWarmStarts(starts, keep)).await? {
            Done::WarmStarts => Ok(()),
            _ => Err(out_of_turn()),
        }
    }

    async fn lock_ledger(&self) -> Result<ClearingLock, StoreError> {
        // One process per SQLite file: the process's own mutex, on a day no clearing has.
        Ok(self.clearing.clearing_lock(NaiveDate::MIN).await)
    }
}

// ---------------------------------------------------------------------------------------
// Rows and values.

impl StoredRow for SqliteRow {
    fn timestamp(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        parse_timestamp(&self.text(column)?)
    }

    fn day(&self, column: &str) -> Result<NaiveDate, StoreError> {
        parse_day(&self.text(column)?)
    }

    fn integer(&self, column: &str) -> Result<i64, StoreError> {
        get(self, column)
    }

    fn float_or_nan(&self, column: &str) -> Result<f64, StoreError> {
        // SQLite stores NaN as NULL.
        Ok(get::<_, Option<f64>, _>(self, column)?.unwrap_or(f64::NAN))
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed: exact both ways.
fn timestamp_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| corrupt("a stored timestamp is malformed"))
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn parse_day(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| corrupt("a stored day is malformed"))
}

// ---------------------------------------------------------------------------------------
// Errors: described by kind and SQLite result code, never with SQL text or row data.

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

fn out_of_turn() -> StoreError {
    StoreError::Unavailable("the store's writer gave an unexpected answer".into())
}

fn db_error(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // The primary result code is the low byte of an extended one.
            let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(-1);
            tracing::warn!(sqlite_code = %code, "SQLite refused an operation");
            match primary {
                // SQLITE_CORRUPT, SQLITE_NOTADB
                11 | 26 => StoreError::Corrupt(format!("the database file is damaged (SQLite code {code})")),
                _ => StoreError::Unavailable(format!("the database refused the operation (SQLite code {code})")),
            }
        }
        other => sqlx_error(other),
    }
}
