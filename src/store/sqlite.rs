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

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use super::rows::{
    bid_columns, bid_record, get, schedule_columns, schedule_info, schedule_info_columns, schedule_record, CommonValues,
    StoredRow,
};
use super::sql::{corrupt, migrate_error, payload_sha256, side_text, sqlx_error};
use super::{
    inputs_sha256, BidRecord, ClearingLock, LocalDayLocks, NewSchedule, ScheduleInfo, ScheduleRecord, Store,
    StoreError, SubmitOutcome,
};

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
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full);

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
        let row = sqlx::query(SELECT_BID)
            .bind(bot)
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(db_error)?;
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
        let row = sqlx::query(SELECT_DAY_AHEAD)
            .bind(day_text(day))
            .fetch_optional(&self.readers)
            .await
            .map_err(db_error)?;
        row.as_ref().map(schedule_record).transpose()
    }

    async fn lock_clearing(&self, day: NaiveDate) -> Result<ClearingLock, StoreError> {
        Ok(self.clearing.clearing_lock(day).await)
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn list_schedules(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<ScheduleInfo>, StoreError> {
        let rows = sqlx::query(LIST_SCHEDULES)
            .bind(day_text(from))
            .bind(day_text(to))
            .fetch_all(&self.readers)
            .await
            .map_err(db_error)?;
        rows.iter().map(schedule_info).collect()
    }
}

// ---------------------------------------------------------------------------------------
// The writer task.

/// A write to apply.
enum Op {
    Submit(Box<BidRecord>, [u8; 32]),
    Amend { bot: String, id: String, quantity_mw: f64, price: f64, at: DateTime<Utc> },
    Cancel { bot: String, id: String, at: DateTime<Utc> },
    Publish(Box<NewSchedule>),
}

/// What a write did, sent once its transaction has committed.
enum Done {
    Submit(SubmitOutcome),
    Bid(Option<BidRecord>),
    Published(ScheduleInfo),
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

enum Msg {
    Job(Job),
    /// Commit what came before, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// Why a batch did not commit.
enum Failure {
    /// Job `.0` failed; the transaction was rolled back, the other jobs may be retried.
    Job(usize, StoreError),
    /// The transaction could not begin or commit: every job of the batch fails.
    Batch(StoreError),
}

async fn write_loop(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut closers = Vec::new();
    while closers.is_empty() {
        msgs.clear();
        if rx.recv_many(&mut msgs, MAX_BATCH).await == 0 {
            break; // every handle dropped
        }
        let mut jobs = Vec::with_capacity(msgs.len());
        for msg in msgs.drain(..) {
            match msg {
                Msg::Job(job) if closers.is_empty() => jobs.push(job),
                Msg::Job(job) => {
                    let _ = job.reply.send(Err(closed()));
                }
                Msg::Close(tx) => closers.push(tx),
            }
        }
        run_batch(&mut conn, jobs).await;
    }
    rx.close();
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Job(job) => {
                let _ = job.reply.send(Err(closed()));
            }
            Msg::Close(tx) => closers.push(tx),
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %db_error(e), "closing the SQLite write connection failed");
    }
    for tx in closers {
        let _ = tx.send(());
    }
}

/// Applies `jobs` in one transaction and answers them after the commit. A job that fails
/// is answered with its error and the others are retried without it.
async fn run_batch(conn: &mut SqliteConnection, mut jobs: Vec<Job>) {
    while !jobs.is_empty() {
        match apply(conn, &jobs).await {
            Ok(done) => {
                for (job, done) in jobs.into_iter().zip(done) {
                    let _ = job.reply.send(Ok(done));
                }
                return;
            }
            Err(Failure::Job(i, e)) => {
                let _ = jobs.remove(i).reply.send(Err(e));
            }
            Err(Failure::Batch(e)) => {
                for job in jobs {
                    let _ = job.reply.send(Err(same_error(&e)));
                }
                return;
            }
        }
    }
}

async fn apply(conn: &mut SqliteConnection, jobs: &[Job]) -> Result<Vec<Done>, Failure> {
    let mut tx = conn.begin().await.map_err(|e| Failure::Batch(db_error(e)))?;
    let mut done = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        match apply_one(&mut tx, &job.op).await {
            Ok(d) => done.push(d),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(Failure::Job(i, e));
            }
        }
    }
    tx.commit().await.map_err(|e| Failure::Batch(db_error(e)))?;
    Ok(done)
}

async fn apply_one(conn: &mut SqliteConnection, op: &Op) -> Result<Done, StoreError> {
    match op {
        Op::Submit(record, digest) => submit(conn, record, digest).await.map(Done::Submit),
        Op::Amend { bot, id, quantity_mw, price, at } => {
            sqlx::query(AMEND_BID)
                .bind(quantity_mw)
                .bind(price)
                .bind(timestamp_text(at))
                .bind(bot)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            select_bid(conn, bot, id).await.map(Done::Bid)
        }
        Op::Cancel { bot, id, at } => {
            sqlx::query(CANCEL_BID)
                .bind(timestamp_text(at))
                .bind(bot)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            select_bid(conn, bot, id).await.map(Done::Bid)
        }
        Op::Publish(schedule) => publish(conn, schedule).await.map(Done::Published),
    }
}

async fn submit(conn: &mut SqliteConnection, record: &BidRecord, digest: &[u8; 32]) -> Result<SubmitOutcome, StoreError> {
    let b = &record.bid;
    let inserted = sqlx::query(INSERT_BID)
        .bind(&b.bot)
        .bind(&b.id)
        .bind(&b.node)
        .bind(timestamp_text(&b.interval_start))
        .bind(side_text(b.side))
        .bind(b.quantity_mw)
        .bind(b.price)
        .bind(b.green)
        .bind(b.park.as_deref())
        .bind(day_text(record.delivery_day))
        .bind(i64::from(record.revision))
        .bind(record.state.as_str())
        .bind(timestamp_text(&record.acknowledged_at))
        .bind(&digest[..])
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if inserted.rows_affected() == 1 {
        return Ok(SubmitOutcome::Created(record.clone()));
    }
    let row = sqlx::query(SELECT_BID_AND_DIGEST)
        .bind(&b.bot)
        .bind(&b.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let stored = bid_record(&row)?;
    let stored_digest = row.bytes("submitted_sha256")?;
    if stored_digest.as_slice() == digest.as_slice() {
        Ok(SubmitOutcome::Existing(stored))
    } else {
        Ok(SubmitOutcome::Conflict(stored))
    }
}

async fn select_bid(conn: &mut SqliteConnection, bot: &str, id: &str) -> Result<Option<BidRecord>, StoreError> {
    let row = sqlx::query(SELECT_BID)
        .bind(bot)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.as_ref().map(bid_record).transpose()
}

async fn publish(conn: &mut SqliteConnection, s: &NewSchedule) -> Result<ScheduleInfo, StoreError> {
    let day = day_text(s.day);
    if s.replans_version == 0 {
        let existing = sqlx::query(SELECT_DAY_AHEAD_VERSION).bind(&day).fetch_optional(&mut *conn).await.map_err(db_error)?;
        if let Some(row) = existing {
            let version: i64 = get(&row, 0)?;
            return Err(StoreError::DayAheadExists { day: s.day, version: u32::try_from(version).unwrap_or(0) });
        }
    }
    let next: i64 = sqlx::query(NEXT_VERSION)
        .bind(&day)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)
        .and_then(|row| get(&row, 0))?;
    let version = u32::try_from(next).map_err(|_| corrupt("a schedule version is out of range"))?;
    let digest = inputs_sha256(&s.plant_toml, &s.forecast_json, &s.options_json);
    sqlx::query(INSERT_SCHEDULE)
        .bind(&day)
        .bind(next)
        .bind(timestamp_text(&s.published_at))
        .bind(&s.objective)
        .bind(s.green_share)
        .bind(s.cost_yuan)
        .bind(i64::from(s.replans_version))
        .bind(&digest)
        .bind(&s.plant_toml)
        .bind(&s.forecast_json)
        .bind(&s.options_json)
        .bind(&s.schedule_json)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(ScheduleInfo {
        day: s.day,
        version,
        published_at: s.published_at,
        objective: s.objective.clone(),
        green_share: s.green_share,
        cost_yuan: s.cost_yuan,
        replans_version: s.replans_version,
        inputs_sha256: digest,
    })
}

// ---------------------------------------------------------------------------------------
// SQL.

const INSERT_BID: &str = concat!(
    "INSERT INTO bids (",
    bid_columns!(),
    ", submitted_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot, id) DO NOTHING"
);
const SELECT_BID: &str = concat!("SELECT ", bid_columns!(), " FROM bids WHERE bot = ? AND id = ?");
const SELECT_BID_AND_DIGEST: &str =
    concat!("SELECT ", bid_columns!(), ", submitted_sha256 FROM bids WHERE bot = ? AND id = ?");
const SELECT_BIDS_OF_DAY: &str =
    concat!("SELECT ", bid_columns!(), " FROM bids WHERE delivery_day = ? ORDER BY bot, id");
const SELECT_BIDS_OF_DAY_AND_BOT: &str =
    concat!("SELECT ", bid_columns!(), " FROM bids WHERE delivery_day = ? AND bot = ? ORDER BY bot, id");
const AMEND_BID: &str = "UPDATE bids SET quantity_mw = ?, price = ?, revision = revision + 1, acknowledged_at = ? \
                         WHERE bot = ? AND id = ? AND state = 'active'";
const CANCEL_BID: &str =
    "UPDATE bids SET state = 'cancelled', cancelled_at = ? WHERE bot = ? AND id = ? AND state = 'active'";

const NEXT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) + 1 FROM schedules WHERE day = ?";
const INSERT_SCHEDULE: &str = concat!(
    "INSERT INTO schedules (",
    schedule_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);
const SELECT_SCHEDULE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE day = ? AND version = ?"
);
const SELECT_LATEST_SCHEDULE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE day = ? \
     ORDER BY version DESC LIMIT 1"
);
const SELECT_DAY_AHEAD: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE day = ? AND replans_version = 0 \
     ORDER BY version DESC LIMIT 1"
);
const SELECT_DAY_AHEAD_VERSION: &str =
    "SELECT version FROM schedules WHERE day = ? AND replans_version = 0 ORDER BY version DESC LIMIT 1";
const LIST_SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_info_columns!(),
    " FROM schedules WHERE day >= ? AND day <= ? ORDER BY day, version"
);

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
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt("a stored timestamp is malformed"))
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

fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::DayAheadExists { day, version } => StoreError::DayAheadExists { day: *day, version: *version },
        StoreError::Unsafe(m) => StoreError::Unsafe(m.clone()),
    }
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

