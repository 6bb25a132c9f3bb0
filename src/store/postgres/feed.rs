//! The publication feed: each publishing transaction sends `NOTIFY vpp_published` with
//! `{"day", "version", "seq"}` ([`announce`]); a task of every replica `LISTEN`s on a
//! connection of its own and, woken by a notification or by a reconnection, reads every
//! schedule with a `seq` above the last it saw and forwards those another replica published
//! ([`start`]). Notifications lost while disconnected are thus caught up from the table.

use std::time::Duration;

use chrono::NaiveDate;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, Postgres};
use sqlx::Row;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::db_error;
use super::queries::{LAST_PUBLISHED, SELECT_PUBLISHED_AFTER, SELECT_SCHEDULE};
use super::CHANNEL;
use crate::store::rows::schedule_record;
use crate::store::sql::corrupt;
use crate::store::{ScheduleRecord, StoreError};

/// Pause before the publication listener reconnects after an error.
const FEED_RETRY: Duration = Duration::from_secs(1);

/// Announces a publication to the other replicas when `tx` commits.
pub(super) async fn announce(tx: &mut sqlx::Transaction<'_, Postgres>, day: NaiveDate, version: u32, seq: i64) -> Result<(), StoreError> {
    let payload = serde_json::json!({ "day": day.to_string(), "version": version, "seq": seq }).to_string();
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

/// Starts the feed of the store named `origin`: the publications of every other store from
/// now on, each once, in commit order. The task ends when the receiver is dropped.
pub(super) async fn start(
    pool: &PgPool,
    options: &PgConnectOptions,
    origin: &str,
) -> Result<(mpsc::Receiver<ScheduleRecord>, JoinHandle<()>), StoreError> {
    // LISTEN first, then note where the table ends: nothing committed in between is missed.
    let (listener, listen_pool) = listen(options).await.map_err(db_error)?;
    let last: i64 = sqlx::query_scalar(LAST_PUBLISHED).fetch_one(pool).await.map_err(db_error)?;
    let (tx, rx) = mpsc::channel(64);
    let feed = Feed { pool: pool.clone(), options: options.clone(), origin: origin.to_string(), last, tx };
    Ok((rx, tokio::spawn(feed.run(listener, listen_pool))))
}

/// A LISTEN session on a one-connection pool of its own (the pool reconnects it).
async fn listen(options: &PgConnectOptions) -> Result<(PgListener, PgPool), sqlx::Error> {
    let pool = PgPoolOptions::new().max_connections(1).max_lifetime(None).idle_timeout(None).connect_with(options.clone()).await?;
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
