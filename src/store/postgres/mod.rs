//! The PostgreSQL store: one database shared by any number of service replicas.
//!
//! Selected by a `postgres://` or `postgresql://` URL in the `database` setting. Schema:
//! `migrations/postgres/`, embedded with `sqlx::migrate!` and applied when the store opens
//! (sqlx serializes replicas migrating at once with an advisory lock).
//!
//! What the database guarantees, whatever the replicas do:
//!
//! - **Durability.** A call returns only after its transaction committed. The store refuses
//!   to open on a server that would acknowledge a commit it could still lose: `fsync = off`,
//!   `synchronous_commit = off`, or `synchronous_commit = local` while synchronous standbys
//!   are configured (a failover would drop what only the primary had). `local` without
//!   synchronous standbys is what `on` means there, and is accepted. Every new pooled
//!   connection is checked again, so a setting changed while the service runs makes the
//!   store unavailable rather than lossy. `full_page_writes = off` is logged as a warning.
//! - **Exactly-once bids.** `(bot, id)` is the primary key; a submission is `INSERT … ON
//!   CONFLICT DO NOTHING` then a read of what is there, in one transaction, and a retried
//!   submission is compared with the digest of the first payload (as in SQLite).
//! - **Versions.** `(day, version)` is the primary key; a publishing transaction first takes
//!   a transaction-scoped advisory lock ([`PUBLISH_LOCK_CLASS`]), so versions are assigned
//!   one after the other across processes, and publications commit in `seq` order.
//! - **One day-ahead schedule per day**: a partial unique index; a second one is refused
//!   with [`StoreError::DayAheadExists`].
//!
//! Coordination between replicas:
//!
//! - [`Store::lock_clearing`]: a per-day mutex of this process, then a session-level
//!   advisory lock ([`CLEARING_LOCK_CLASS`], day) taken with `pg_try_advisory_lock` (polled,
//!   so a caller that gives up never leaves a waiting backend behind) on a connection of its
//!   own, outside the pool. Releasing unlocks and closes that connection; dropping the lock
//!   or killing the process closes it, and PostgreSQL then releases the lock. Should the
//!   connection break during a clearing, the lock is gone, but the unique index above still
//!   allows only one day-ahead schedule.
//! - [`Store::remote_publications`]: each publishing transaction sends `NOTIFY
//!   vpp_published` with `{"day", "version", "seq"}`; a task of every replica `LISTEN`s on a
//!   connection of its own and, woken by a notification or by a reconnection, reads every
//!   schedule with a `seq` above the last it saw and forwards those another replica
//!   published. Notifications lost while disconnected are thus caught up from the table.
//!
//! Queries are runtime queries, so building never needs a database. Connections are plain
//! TCP (this build has no TLS client for PostgreSQL): keep the database on a private network.
//! Session-level advisory locks and LISTEN need real sessions: a pooler in between must run
//! in session mode.
//!
//! By concern: this file opens the store and implements [`Store`]; `durability.rs` is the
//! check that refuses a server which could lose acknowledged writes; `locks.rs` the advisory
//! locks (clearing, publication); `feed.rs` the publication feed; `queries.rs` the SQL text;
//! `error.rs` the mapping of PostgreSQL errors; `url.rs` the checking and redaction of the
//! `database` URL. Rows become records through the mapping both backends share
//! (`store/rows.rs`).

mod durability;
mod error;
mod feed;
mod locks;
mod queries;
mod url;

pub(crate) use url::{check_url, redact};

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::Connection;
use tokio::sync::mpsc;

use self::durability::{check_server, durability_problem};
use self::error::{connect_error, db_error, unique_violation};
use self::queries::*;
use super::ledger::{built_instant, changed_days};
use super::readings::{decide, inserted, reading_record, received_value, start_instant, start_value, Decision};
use super::rows::{bid_record, existing_or_conflict, get, kept_start, schedule_info, schedule_record, CommonValues, StoredRow};
use super::sql::{corrupt, migrate_error, payload_sha256, side_text};
use super::{
    inputs_sha256, row_limit, BidRecord, ClearingLock, DirtyMark, LedgerDayRecord, LocalDayLocks, NewLedgerDay, NewReading, NewSchedule,
    ReadingOutcome, ReadingRecord, ScheduleInfo, ScheduleRecord, Store, StoreError, SubmitOutcome,
};
use crate::model::KeptStart;

/// Pooled connections per replica (clearing locks and the publication listener use
/// connections of their own besides).
pub const POOL_SIZE: u32 = 16;
/// How long a call waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// The channel publications are announced on.
pub const CHANNEL: &str = "vpp_published";
/// First key of the clearing locks (`pg_advisory_lock(CLEARING_LOCK_CLASS, day)`, the day
/// counted from 0001-01-01): "VPP1".
pub const CLEARING_LOCK_CLASS: i32 = 0x5650_5031;
/// First key of the transaction lock every publication takes (second key 0): "VPP2".
pub const PUBLISH_LOCK_CLASS: i32 = 0x5650_5032;
/// First key of the lock held while the measured ledger is built (second key: the day
/// `NaiveDate::MIN` counted as the clearing locks count theirs): "VPP3".
pub const LEDGER_LOCK_CLASS: i32 = 0x5650_5033;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The PostgreSQL-backed [`Store`].
pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    /// Identifies this store instance in `schedules.origin`.
    origin: String,
    clearing: LocalDayLocks,
    feed_started: AtomicBool,
    feed: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url`, refuses a server that could lose acknowledged writes, and applies
    /// pending migrations. Must be called within a tokio runtime.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("database: not a usable PostgreSQL URL ({e})")))?
            .application_name("vpp-dispatch");
        let db = options.get_database().unwrap_or(options.get_username()).to_string();
        let user = options.get_username().to_string();

        // One plain connection first: its errors are the clearest.
        let conn = PgConnection::connect_with(&options).await.map_err(|e| connect_error(e, &options))?;
        check_server(conn, &db, &user).await?;

        let (check_db, check_user) = (db.clone(), user.clone());
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                let (db, user) = (check_db.clone(), check_user.clone());
                Box::pin(async move {
                    match durability_problem(conn, &db, &user).await? {
                        None => Ok(()),
                        Some(problem) => {
                            tracing::error!(%problem, "refusing a PostgreSQL connection");
                            Err(sqlx::Error::Configuration(problem.into()))
                        }
                    }
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(|e| connect_error(e, &options))?;
        MIGRATOR.run(&pool).await.map_err(|e| migrate_error(e, db_error))?;
        let origin = new_origin();
        tracing::info!(%origin, database = %db, "PostgreSQL store open");
        Ok(PgStore {
            pool,
            options,
            origin,
            clearing: LocalDayLocks::default(),
            feed_started: AtomicBool::new(false),
            feed: Mutex::new(None),
        })
    }

    /// This store instance's name in `schedules.origin`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    async fn select_bid<'e, E>(executor: E, bot: &str, id: &str) -> Result<Option<BidRecord>, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Postgres>,
    {
        let row = sqlx::query(SELECT_BID).bind(bot).bind(id).fetch_optional(executor).await.map_err(db_error)?;
        row.as_ref().map(bid_record).transpose()
    }
}

#[async_trait]
impl Store for PgStore {
    async fn submit_bid(&self, record: BidRecord) -> Result<SubmitOutcome, StoreError> {
        // The digest of the payload as given; the record as PostgreSQL keeps it (µs).
        let digest = payload_sha256(&record.bid);
        let mut record = record;
        record.acknowledged_at = micros(record.acknowledged_at);
        record.bid.interval_start = micros(record.bid.interval_start);
        let b = &record.bid;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let inserted = sqlx::query(INSERT_BID)
            .bind(&b.bot)
            .bind(&b.id)
            .bind(&b.node)
            .bind(b.interval_start)
            .bind(side_text(b.side))
            .bind(b.quantity_mw)
            .bind(b.price)
            .bind(b.green)
            .bind(b.park.as_deref())
            .bind(record.delivery_day)
            .bind(revision_value(record.revision)?)
            .bind(record.state.as_str())
            .bind(record.acknowledged_at)
            .bind(&digest[..])
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if inserted.rows_affected() == 1 {
            tx.commit().await.map_err(db_error)?;
            return Ok(SubmitOutcome::Created(record));
        }
        let row = sqlx::query(SELECT_BID_AND_DIGEST).bind(&b.bot).bind(&b.id).fetch_one(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        existing_or_conflict(&row, &digest)
    }

    async fn amend_bid(
        &self,
        bot: &str,
        id: &str,
        quantity_mw: f64,
        price: f64,
        at: DateTime<Utc>,
    ) -> Result<Option<BidRecord>, StoreError> {
        let row = sqlx::query(AMEND_BID)
            .bind(quantity_mw)
            .bind(price)
            .bind(micros(at))
            .bind(bot)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => bid_record(&row).map(Some),
            // Cancelled (returned unchanged) or unknown.
            None => Self::select_bid(&self.pool, bot, id).await,
        }
    }

    async fn cancel_bid(&self, bot: &str, id: &str, at: DateTime<Utc>) -> Result<Option<BidRecord>, StoreError> {
        let row = sqlx::query(CANCEL_BID).bind(micros(at)).bind(bot).bind(id).fetch_optional(&self.pool).await.map_err(db_error)?;
        match row {
            Some(row) => bid_record(&row).map(Some),
            None => Self::select_bid(&self.pool, bot, id).await,
        }
    }

    async fn bid(&self, bot: &str, id: &str) -> Result<Option<BidRecord>, StoreError> {
        Self::select_bid(&self.pool, bot, id).await
    }

    async fn bids_for_day(&self, day: NaiveDate, bot: Option<&str>) -> Result<Vec<BidRecord>, StoreError> {
        let rows = match bot {
            None => sqlx::query(SELECT_BIDS_OF_DAY).bind(day).fetch_all(&self.pool).await,
            Some(bot) => sqlx::query(SELECT_BIDS_OF_DAY_AND_BOT).bind(day).bind(bot).fetch_all(&self.pool).await,
        }
        .map_err(db_error)?;
        rows.iter().map(bid_record).collect()
    }

    async fn publish_schedule(&self, s: NewSchedule) -> Result<ScheduleInfo, StoreError> {
        let published_at = micros(s.published_at);
        let replans = i32::try_from(s.replans_version).map_err(|_| corrupt("a replanned version is out of range"))?;
        let digest = inputs_sha256(&s.plant_toml, &s.forecast_json, &s.options_json);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Publications, one at a time across every replica: versions follow each other and
        // `seq` values commit in increasing order.
        locks::serialize_publications(&mut tx).await?;
        if s.replans_version == 0 {
            let existing: Option<i32> =
                sqlx::query_scalar(SELECT_DAY_AHEAD_VERSION).bind(s.day).fetch_optional(&mut *tx).await.map_err(db_error)?;
            if let Some(version) = existing {
                return Err(StoreError::DayAheadExists { day: s.day, version: u32::try_from(version).unwrap_or(0) });
            }
        }
        let next: i32 = sqlx::query_scalar(NEXT_VERSION).bind(s.day).fetch_one(&mut *tx).await.map_err(db_error)?;
        let version = u32::try_from(next).map_err(|_| corrupt("a schedule version is out of range"))?;
        let seq: i64 = sqlx::query_scalar(INSERT_SCHEDULE)
            .bind(s.day)
            .bind(next)
            .bind(published_at)
            .bind(&s.objective)
            .bind(s.green_share)
            .bind(s.cost_yuan)
            .bind(replans)
            .bind(&digest)
            .bind(&s.plant_toml)
            .bind(&s.forecast_json)
            .bind(&s.options_json)
            .bind(&s.schedule_json)
            .bind(&self.origin)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match unique_violation(&e) {
                Some(c) if c == "schedules_one_day_ahead" => StoreError::DayAheadExists { day: s.day, version: 0 },
                _ => db_error(e),
            })?;
        feed::announce(&mut tx, s.day, version, seq).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(ScheduleInfo {
            day: s.day,
            version,
            published_at,
            objective: s.objective,
            green_share: s.green_share,
            cost_yuan: s.cost_yuan,
            replans_version: s.replans_version,
            inputs_sha256: digest,
        })
    }

    async fn schedule(&self, day: NaiveDate, version: Option<u32>) -> Result<Option<ScheduleRecord>, StoreError> {
        let row = match version {
            Some(v) => {
                let v = i32::try_from(v).map_err(|_| corrupt("a schedule version is out of range"))?;
                sqlx::query(SELECT_SCHEDULE).bind(day).bind(v).fetch_optional(&self.pool).await
            }
            None => sqlx::query(SELECT_LATEST_SCHEDULE).bind(day).fetch_optional(&self.pool).await,
        }
        .map_err(db_error)?;
        row.as_ref().map(schedule_record).transpose()
    }

    async fn list_schedules(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<ScheduleInfo>, StoreError> {
        let rows = sqlx::query(LIST_SCHEDULES).bind(from).bind(to).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(schedule_info).collect()
    }

    async fn put_readings(&self, batch: Vec<NewReading>) -> Result<Vec<ReadingOutcome>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let mut out = Vec::with_capacity(batch.len());
        for r in &batch {
            out.push(put_reading(&mut tx, r).await?);
        }
        for utc_hour in changed_days(&out) {
            sqlx::query(MARK_LEDGER_DIRTY).bind(utc_hour).execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(out)
    }

    async fn readings_span(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(SELECT_READINGS_SPAN).fetch_one(&self.pool).await.map_err(db_error)?;
        let (first, last): (Option<i64>, Option<i64>) = (get(&row, "first")?, get(&row, "last")?);
        first.zip(last).map(|(f, l)| Ok((start_instant(f)?, start_instant(l)?))).transpose()
    }

    async fn ledger_dirty(&self) -> Result<Vec<DirtyMark>, StoreError> {
        let rows = sqlx::query(SELECT_LEDGER_DIRTY).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(|r| Ok(DirtyMark { utc_hour: get(r, "utc_hour")?, generation: get(r, "generation")? })).collect()
    }

    async fn ledger_days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<LedgerDayRecord>, StoreError> {
        let rows = sqlx::query(SELECT_LEDGER_DAYS).bind(from).bind(to).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(LedgerDayRecord {
                    day: get(r, "day")?,
                    basis: get(r, "basis")?,
                    parks_json: get(r, "parks")?,
                    built_at: built_instant(get(r, "built_at")?)?,
                })
            })
            .collect()
    }

    async fn ledger_closing(&self, day: NaiveDate) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(SELECT_LEDGER_CLOSING).bind(day).fetch_optional(&self.pool).await.map_err(db_error)?;
        row.map(|r| Ok((get(&r, "basis")?, get(&r, "closing")?))).transpose()
    }

    async fn put_ledger_days(&self, days: Vec<NewLedgerDay>, consumed: Vec<DirtyMark>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        for d in &days {
            sqlx::query(UPSERT_LEDGER_DAY)
                .bind(d.record.day)
                .bind(&d.record.basis)
                .bind(&d.closing_json)
                .bind(&d.record.parks_json)
                .bind(received_value(d.record.built_at))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        for m in &consumed {
            sqlx::query(DELETE_LEDGER_DIRTY).bind(m.utc_hour).bind(m.generation).execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn warm_starts(&self, limit: usize) -> Result<Vec<KeptStart>, StoreError> {
        let rows = sqlx::query(SELECT_WARM_STARTS).bind(row_limit(limit)).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(kept_start).collect()
    }

    async fn put_warm_starts(&self, starts: Vec<KeptStart>, keep: usize) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        super::sql::put_warm_starts::<sqlx::Postgres>(&mut tx, UPSERT_WARM_START, PRUNE_WARM_STARTS, &starts, keep)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn lock_ledger(&self) -> Result<ClearingLock, StoreError> {
        locks::lock_clearing(&self.clearing, &self.options, LEDGER_LOCK_CLASS, NaiveDate::MIN).await
    }

    async fn readings(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ReadingRecord>, StoreError> {
        let rows = sqlx::query(SELECT_LATEST_READINGS)
            .bind(start_value(from))
            .bind(start_value(to))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(reading_record).collect()
    }

    async fn reading_revisions(&self, meter: &str, quantity: &str, start: DateTime<Utc>) -> Result<Vec<ReadingRecord>, StoreError> {
        revisions(&self.pool, meter, quantity, start).await
    }

    async fn lock_clearing(&self, day: NaiveDate) -> Result<ClearingLock, StoreError> {
        locks::lock_clearing(&self.clearing, &self.options, CLEARING_LOCK_CLASS, day).await
    }

    async fn day_ahead(&self, day: NaiveDate) -> Result<Option<ScheduleRecord>, StoreError> {
        let row = sqlx::query(SELECT_DAY_AHEAD).bind(day).fetch_optional(&self.pool).await.map_err(db_error)?;
        row.as_ref().map(schedule_record).transpose()
    }

    async fn remote_publications(&self) -> Result<Option<mpsc::Receiver<ScheduleRecord>>, StoreError> {
        if self.feed_started.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        let (rx, task) = feed::start(&self.pool, &self.options, &self.origin).await?;
        *self.feed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        Ok(Some(rx))
    }

    async fn close(&self) {
        let task = self.feed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.pool.close().await;
    }
}

// ---------------------------------------------------------------------------------------
// Rows and values.

impl StoredRow for PgRow {
    fn timestamp(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        get(self, column)
    }

    fn day(&self, column: &str) -> Result<NaiveDate, StoreError> {
        get(self, column)
    }

    fn integer(&self, column: &str) -> Result<i64, StoreError> {
        get::<_, i32, _>(self, column).map(i64::from)
    }

    fn float_or_nan(&self, column: &str) -> Result<f64, StoreError> {
        self.float(column)
    }
}

fn revision_value(revision: u32) -> Result<i32, StoreError> {
    i32::try_from(revision).map_err(|_| StoreError::Unavailable("a bid revision is too large to store".into()))
}

/// `t` truncated to the microsecond, what TIMESTAMPTZ keeps.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.timestamp_subsec_nanos();
    t - chrono::Duration::nanoseconds(i64::from(nanos % 1_000))
}

/// A name for a new store instance: host (the pod name under Kubernetes), process, time
/// and a counter, so two stores never share one.
fn new_origin() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "host".into());
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("{host}/{}/{nanos:x}/{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Every revision of a key, oldest first.
async fn revisions<'e, E>(db: E, meter: &str, quantity: &str, start: DateTime<Utc>) -> Result<Vec<ReadingRecord>, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows =
        sqlx::query(SELECT_READING_REVISIONS).bind(meter).bind(quantity).bind(start_value(start)).fetch_all(db).await.map_err(db_error)?;
    rows.iter().map(reading_record).collect()
}

/// One reading, by the rule both backends share (`store::readings::decide`). The primary
/// key settles a race with another replica: an insert that finds its revision taken reads
/// the key again and decides anew.
async fn put_reading(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, r: &NewReading) -> Result<ReadingOutcome, StoreError> {
    // Most readings are new: revision 1 is tried first, and only a key already there is read.
    if insert_reading(tx, r, 1).await? {
        return Ok(inserted(r, 1));
    }
    for _ in 0..4 {
        let history = revisions(&mut **tx, &r.meter, &r.quantity, r.interval_start).await?;
        match decide(&history, r) {
            Decision::Answer(outcome) => return Ok(outcome),
            Decision::Insert(revision) if insert_reading(tx, r, revision).await? => return Ok(inserted(r, revision)),
            Decision::Insert(_) => {}
        }
    }
    Err(StoreError::Unavailable("a reading kept racing with another replica's; retry".into()))
}

/// Inserts `r` as `revision`; false when that revision of its key is already there.
async fn insert_reading(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, r: &NewReading, revision: u32) -> Result<bool, StoreError> {
    let done = sqlx::query(INSERT_READING)
        .bind(&r.meter)
        .bind(&r.quantity)
        .bind(start_value(r.interval_start))
        .bind(i64::from(revision))
        .bind(i64::from(r.interval_minutes))
        .bind(r.value_wh)
        .bind(r.reason.as_deref())
        .bind(&r.source)
        .bind(received_value(r.received_at))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_microseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default();
        assert_eq!(micros(t).timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(micros(t).timestamp(), 1_700_000_000);
    }
}
