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

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use tokio::sync::mpsc;

use super::rows::{
    bid_columns, bid_record, get, schedule_columns, schedule_info, schedule_info_columns, schedule_record, CommonValues,
    StoredRow,
};
use super::sql::{corrupt, migrate_error, payload_sha256, side_text, sqlx_error};
use super::{
    inputs_sha256, BidRecord, ClearingLock, HeldLock, LocalDayLocks, NewSchedule, ScheduleInfo,
    ScheduleRecord, Store, StoreError, SubmitOutcome,
};

/// Pooled connections per replica (clearing locks and the publication listener use
/// connections of their own besides).
pub const POOL_SIZE: u32 = 16;
/// How long a call waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a clearing waiting for another replica's asks again.
const LOCK_POLL: Duration = Duration::from_millis(100);
/// Pause before the publication listener reconnects after an error.
const FEED_RETRY: Duration = Duration::from_secs(1);
/// The channel publications are announced on.
pub const CHANNEL: &str = "vpp_published";
/// First key of the clearing locks (`pg_advisory_lock(CLEARING_LOCK_CLASS, day)`, the day
/// counted from 0001-01-01): "VPP1".
pub const CLEARING_LOCK_CLASS: i32 = 0x5650_5031;
/// First key of the transaction lock every publication takes (second key 0): "VPP2".
pub const PUBLISH_LOCK_CLASS: i32 = 0x5650_5032;

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
        let mut conn = PgConnection::connect_with(&options).await.map_err(|e| connect_error(e, &options))?;
        if let Some(problem) = durability_problem(&mut conn, &db, &user).await.map_err(db_error)? {
            let _ = conn.close().await;
            return Err(StoreError::Unsafe(problem));
        }
        let full_page_writes: String = sqlx::query_scalar("SHOW full_page_writes").fetch_one(&mut conn).await.map_err(db_error)?;
        if full_page_writes != "on" {
            tracing::warn!(
                "PostgreSQL runs with full_page_writes = off: unless its file system prevents torn pages \
                 (e.g. ZFS), a crash of its machine can corrupt the database"
            );
        }
        let _ = conn.close().await;

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
        let row = sqlx::query(SELECT_BID_AND_DIGEST)
            .bind(&b.bot)
            .bind(&b.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let stored = bid_record(&row)?;
        let stored_digest = row.bytes("submitted_sha256")?;
        if stored_digest.as_slice() == digest.as_slice() {
            Ok(SubmitOutcome::Existing(stored))
        } else {
            Ok(SubmitOutcome::Conflict(stored))
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
        let row = sqlx::query(CANCEL_BID)
            .bind(micros(at))
            .bind(bot)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
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
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(PUBLISH_LOCK_CLASS)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
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
        let payload = serde_json::json!({ "day": s.day.to_string(), "version": version, "seq": seq }).to_string();
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
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

    async fn lock_clearing(&self, day: NaiveDate) -> Result<ClearingLock, StoreError> {
        // Callers of this process queue here, so the process holds at most one session per day.
        let local = self.clearing.lock(day).await;
        let key = day.num_days_from_ce();
        let mut conn = PgConnection::connect_with(&self.options).await.map_err(|e| connect_error(e, &self.options))?;
        let mut waited = false;
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(CLEARING_LOCK_CLASS)
                .bind(key)
                .fetch_one(&mut conn)
                .await
                .map_err(db_error)?;
            if got {
                if waited {
                    tracing::info!(%day, "clearing lock taken after waiting for another replica");
                }
                return Ok(ClearingLock::new(day, Box::new(PgHeld { conn: Some(conn), key, _local: local })));
            }
            if !waited {
                tracing::info!(%day, "another replica is clearing this day; waiting for it");
                waited = true;
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    async fn day_ahead(&self, day: NaiveDate) -> Result<Option<ScheduleRecord>, StoreError> {
        let row = sqlx::query(SELECT_DAY_AHEAD).bind(day).fetch_optional(&self.pool).await.map_err(db_error)?;
        row.as_ref().map(schedule_record).transpose()
    }

    async fn remote_publications(&self) -> Result<Option<mpsc::Receiver<ScheduleRecord>>, StoreError> {
        if self.feed_started.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        // LISTEN first, then note where the table ends: nothing committed in between is missed.
        let (listener, listen_pool) = listen(&self.options).await.map_err(db_error)?;
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM schedules")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let (tx, rx) = mpsc::channel(64);
        let feed = Feed { pool: self.pool.clone(), options: self.options.clone(), origin: self.origin.clone(), last, tx };
        let task = tokio::spawn(feed.run(listener, listen_pool));
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
// The clearing lock.

/// A session holding `pg_advisory_lock(CLEARING_LOCK_CLASS, key)`, and this process's
/// mutex for the day. Dropped, the connection closes and PostgreSQL releases the lock.
struct PgHeld {
    conn: Option<PgConnection>,
    key: i32,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

#[async_trait]
impl HeldLock for PgHeld {
    async fn release(mut self: Box<Self>) {
        let Some(mut conn) = self.conn.take() else { return };
        let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1, $2)")
            .bind(CLEARING_LOCK_CLASS)
            .bind(self.key)
            .fetch_one(&mut conn)
            .await;
        match unlocked {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the clearing lock was no longer held when released (its session was reset)"),
            Err(e) => tracing::warn!(error = %db_error(e), "unlocking a clearing failed; closing its session releases it"),
        }
        if let Err(e) = conn.close().await {
            tracing::debug!(error = %db_error(e), "closing a clearing lock's connection failed");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The publication feed.

/// A LISTEN session on a one-connection pool of its own (the pool reconnects it).
async fn listen(options: &PgConnectOptions) -> Result<(PgListener, PgPool), sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok((listener, pool))
}

struct Feed {
    pool: PgPool,
    options: PgConnectOptions,
    origin: String,
    /// The highest `seq` looked at.
    last: i64,
    tx: mpsc::Sender<ScheduleRecord>,
}

impl Feed {
    async fn run(mut self, listener: PgListener, listen_pool: PgPool) {
        let mut session = Some((listener, listen_pool));
        loop {
            let Some((listener, _)) = session.as_mut() else {
                // Reconnect after an error; catch up once listening again.
                tokio::select! {
                    () = self.tx.closed() => return,
                    () = tokio::time::sleep(FEED_RETRY) => {}
                }
                match listen(&self.options).await {
                    Ok(s) => {
                        tracing::info!("listening for publications of other replicas again");
                        session = Some(s);
                        if !self.catch_up().await {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %db_error(e), "cannot listen for publications of other replicas; retrying"),
                }
                continue;
            };
            let event = tokio::select! {
                () = self.tx.closed() => return,
                event = listener.try_recv() => event,
            };
            match event {
                Ok(Some(_)) => {}
                Ok(None) => tracing::warn!("the connection listening for publications was lost and re-made; catching up"),
                Err(e) => {
                    tracing::warn!(error = %db_error(e), "listening for publications of other replicas failed; reconnecting");
                    session = None;
                    continue;
                }
            }
            if !self.catch_up().await {
                return;
            }
        }
    }

    /// Forwards every publication after `last` made by another store. `false` once nobody
    /// receives any more.
    async fn catch_up(&mut self) -> bool {
        loop {
            let rows = match sqlx::query(SELECT_PUBLISHED_AFTER).bind(self.last).fetch_all(&self.pool).await {
                Ok(rows) => rows,
                Err(e) => {
                    // The next notification or reconnection tries again from `last`.
                    tracing::warn!(error = %db_error(e), "reading publications of other replicas failed");
                    return !self.tx.is_closed();
                }
            };
            if rows.is_empty() {
                return !self.tx.is_closed();
            }
            for row in &rows {
                let Ok(seq) = row.try_get::<i64, _>("seq") else { return !self.tx.is_closed() };
                let origin: String = row.try_get("origin").unwrap_or_default();
                if origin != self.origin {
                    let record = match (row.try_get::<NaiveDate, _>("day"), row.try_get::<i32, _>("version")) {
                        (Ok(day), Ok(version)) => self.record(day, version).await,
                        _ => Err(corrupt("a published schedule's key is unreadable")),
                    };
                    match record {
                        Ok(Some(record)) => {
                            tracing::info!(day = %record.info.day, version = record.info.version, %origin, "schedule published by another replica");
                            if self.tx.send(record).await.is_err() {
                                return false;
                            }
                        }
                        Ok(None) => tracing::warn!(seq, "a publication vanished before it could be read"),
                        Err(e) => {
                            tracing::warn!(error = %e, seq, "reading a publication of another replica failed");
                            return !self.tx.is_closed();
                        }
                    }
                }
                self.last = seq;
            }
        }
    }

    async fn record(&self, day: NaiveDate, version: i32) -> Result<Option<ScheduleRecord>, StoreError> {
        let row = sqlx::query(SELECT_SCHEDULE).bind(day).bind(version).fetch_optional(&self.pool).await.map_err(db_error)?;
        row.as_ref().map(schedule_record).transpose()
    }
}

// ---------------------------------------------------------------------------------------
// Durability.

/// Why this session could lose acknowledged writes, naming the setting and the fix; `None`
/// when it cannot.
async fn durability_problem(conn: &mut PgConnection, db: &str, user: &str) -> Result<Option<String>, sqlx::Error> {
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut *conn).await?;
    if fsync != "on" {
        return Ok(Some(format!(
            "refusing to use PostgreSQL database '{db}': the server runs with fsync = {fsync}, so it does not force \
             commits to disk and a crash of the server or its machine can lose acknowledged bids and schedules. \
             Set fsync = on in postgresql.conf (or ALTER SYSTEM SET fsync = on) and reload the server \
             (SELECT pg_reload_conf())."
        )));
    }
    let row = sqlx::query("SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'")
        .fetch_one(&mut *conn)
        .await?;
    let sync: String = row.try_get("setting")?;
    let source: String = row.try_get("source")?;
    let standbys: String = sqlx::query_scalar("SHOW synchronous_standby_names").fetch_one(&mut *conn).await?;
    let fix = format!(
        "Set it to on: ALTER DATABASE \"{db}\" SET synchronous_commit = on (or ALTER ROLE \"{user}\" SET \
         synchronous_commit = on, or synchronous_commit = on in postgresql.conf; remove any \
         '-c synchronous_commit' from the connection's options), then restart the service"
    );
    if sync == "off" {
        return Ok(Some(format!(
            "refusing to use PostgreSQL database '{db}': synchronous_commit = off (set by: {source}) for user \
             '{user}', so commits are acknowledged before they are flushed to disk and a crash can lose \
             acknowledged bids and schedules. {fix}."
        )));
    }
    if sync == "local" && !standbys.trim().is_empty() {
        return Ok(Some(format!(
            "refusing to use PostgreSQL database '{db}': synchronous_commit = local (set by: {source}) while \
             synchronous standbys are configured (synchronous_standby_names = '{standbys}'), so commits are \
             acknowledged before a standby has them and a failover can lose acknowledged bids and schedules. \
             {fix} (or remote_write / remote_apply)."
        )));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------
// SQL.

const INSERT_BID: &str = concat!(
    "INSERT INTO bids (",
    bid_columns!(),
    ", submitted_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (bot, id) DO NOTHING"
);
const SELECT_BID: &str = concat!("SELECT ", bid_columns!(), " FROM bids WHERE bot = $1 AND id = $2");
const SELECT_BID_AND_DIGEST: &str =
    concat!("SELECT ", bid_columns!(), ", submitted_sha256 FROM bids WHERE bot = $1 AND id = $2");
const SELECT_BIDS_OF_DAY: &str =
    concat!("SELECT ", bid_columns!(), " FROM bids WHERE delivery_day = $1 ORDER BY bot, id");
const SELECT_BIDS_OF_DAY_AND_BOT: &str =
    concat!("SELECT ", bid_columns!(), " FROM bids WHERE delivery_day = $1 AND bot = $2 ORDER BY bot, id");
const AMEND_BID: &str = concat!(
    "UPDATE bids SET quantity_mw = $1, price = $2, revision = revision + 1, acknowledged_at = $3 \
     WHERE bot = $4 AND id = $5 AND state = 'active' RETURNING ",
    bid_columns!()
);
const CANCEL_BID: &str = concat!(
    "UPDATE bids SET state = 'cancelled', cancelled_at = $1 WHERE bot = $2 AND id = $3 AND state = 'active' RETURNING ",
    bid_columns!()
);

const NEXT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) + 1 FROM schedules WHERE day = $1";
const SELECT_DAY_AHEAD_VERSION: &str =
    "SELECT version FROM schedules WHERE day = $1 AND replans_version = 0 ORDER BY version DESC LIMIT 1";
const INSERT_SCHEDULE: &str = concat!(
    "INSERT INTO schedules (",
    schedule_columns!(),
    ", origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq"
);
const SELECT_SCHEDULE: &str =
    concat!("SELECT ", schedule_columns!(), " FROM schedules WHERE day = $1 AND version = $2");
const SELECT_LATEST_SCHEDULE: &str =
    concat!("SELECT ", schedule_columns!(), " FROM schedules WHERE day = $1 ORDER BY version DESC LIMIT 1");
const SELECT_DAY_AHEAD: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE day = $1 AND replans_version = 0 ORDER BY version DESC LIMIT 1"
);
const LIST_SCHEDULES: &str = concat!(
    "SELECT ",
    schedule_info_columns!(),
    " FROM schedules WHERE day >= $1 AND day <= $2 ORDER BY day, version"
);
const SELECT_PUBLISHED_AFTER: &str =
    "SELECT seq, origin, day, version FROM schedules WHERE seq > $1 ORDER BY seq LIMIT 256";

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

/// Checks that a `database` URL is usable, without echoing it.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    PgConnectOptions::from_str(url).map(|_| ()).map_err(|e| format!("not a usable PostgreSQL URL: {e}"))
}

/// A PostgreSQL URL with its password (in the user part or a `password=` parameter) masked.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "postgres://…".into() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

// ---------------------------------------------------------------------------------------
// Errors: described by kind and SQLSTATE, never with SQL text or row data.

/// The constraint a unique violation hit, if `e` is one.
fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => db.constraint().map(str::to_string),
        _ => None,
    }
}

fn connect_error(e: sqlx::Error, options: &PgConnectOptions) -> StoreError {
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    );
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // 28xxx: authentication; 3D000: no such database.
            let what = match code.as_str() {
                "3D000" => "the database does not exist".to_string(),
                c if c.starts_with("28") => "authentication failed".to_string(),
                _ => format!("SQLSTATE {code}"),
            };
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {what}"))
        }
        sqlx::Error::Io(io) => StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {}", io.kind())),
        other => match db_error(other) {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {m}")),
            e => e,
        },
    }
}

fn db_error(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            tracing::warn!(sqlstate = %code, "PostgreSQL refused an operation");
            match code.as_str() {
                // data_corrupted, index_corrupted
                "XX001" | "XX002" => StoreError::Corrupt(format!("the database reports damaged data (SQLSTATE {code})")),
                _ => StoreError::Unavailable(format!("the database refused the operation (SQLSTATE {code})")),
            }
        }
        E::Tls(_) => StoreError::Unavailable("TLS error reaching the database".into()),
        E::Protocol(_) => StoreError::Unavailable("the database connection broke (protocol error)".into()),
        E::Configuration(msg) => StoreError::Unsafe(msg.to_string()),
        other => sqlx_error(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact("postgres://vpp:s3cret@db:5432/vpp"), "postgres://vpp:***@db:5432/vpp");
        assert_eq!(redact("postgresql://vpp@db/vpp?password=s3cret&sslmode=disable"), "postgresql://vpp@db/vpp?password=***&sslmode=disable");
        assert_eq!(redact("postgres://db"), "postgres://db");
        assert!(!redact("postgres://a:b:c@h/d").contains("b:c"));
    }

    #[test]
    fn timestamps_keep_microseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default();
        assert_eq!(micros(t).timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(micros(t).timestamp(), 1_700_000_000);
    }
}
