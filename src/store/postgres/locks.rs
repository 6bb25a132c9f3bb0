//! The advisory locks: the day-ahead clearing lock, a session-level
//! `pg_advisory_lock(CLEARING_LOCK_CLASS, day)` held on a connection of its own (the ledger's
//! build lock is the same with `LEDGER_LOCK_CLASS`), and the
//! transaction-scoped lock every publication takes first
//! (`pg_advisory_xact_lock(PUBLISH_LOCK_CLASS, 0)`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use sqlx::postgres::{PgConnectOptions, PgConnection, Postgres};
use sqlx::Connection;

use super::error::{connect_error, db_error};
use super::PUBLISH_LOCK_CLASS;
use crate::store::{ClearingLock, HeldLock, LocalDayLocks, StoreError};

/// How often a clearing waiting for another replica's asks again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Waits until this caller alone clears `day`: first among the callers of this process
/// (`local`), then among every process using the database, with `pg_try_advisory_lock`
/// polled on a new connection (so a caller that gives up leaves no waiting backend).
pub(super) async fn lock_clearing(
    local: &LocalDayLocks,
    options: &PgConnectOptions,
    class: i32,
    day: NaiveDate,
) -> Result<ClearingLock, StoreError> {
    // Callers of this process queue here, so the process holds at most one session per day.
    let local = local.lock(day).await;
    let key = day.num_days_from_ce();
    let mut conn = PgConnection::connect_with(options).await.map_err(|e| connect_error(e, options))?;
    let mut waited = false;
    loop {
        let got: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)").bind(class).bind(key).fetch_one(&mut conn).await.map_err(db_error)?;
        if got {
            if waited {
                tracing::info!(%day, "clearing lock taken after waiting for another replica");
            }
            return Ok(ClearingLock::new(day, Box::new(PgHeld { conn: Some(conn), class, key, _local: local })));
        }
        if !waited {
            tracing::info!(%day, "another replica is clearing this day; waiting for it");
            waited = true;
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

/// Takes the publication lock for the rest of `tx`: publications, one at a time across
/// every replica, so versions follow each other and `seq` values commit in increasing order.
pub(super) async fn serialize_publications(tx: &mut sqlx::Transaction<'_, Postgres>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)").bind(PUBLISH_LOCK_CLASS).execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

/// A session holding `pg_advisory_lock(CLEARING_LOCK_CLASS, key)`, and this process's
/// mutex for the day. Dropped, the connection closes and PostgreSQL releases the lock.
struct PgHeld {
    conn: Option<PgConnection>,
    class: i32,
    key: i32,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

#[async_trait]
impl HeldLock for PgHeld {
    async fn release(mut self: Box<Self>) {
        let Some(mut conn) = self.conn.take() else { return };
        let unlocked =
            sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1, $2)").bind(self.class).bind(self.key).fetch_one(&mut conn).await;
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
