//! The durability check: the store refuses a PostgreSQL server that could lose a commit it
//! has acknowledged — `fsync = off`, `synchronous_commit = off`, or `synchronous_commit =
//! local` while synchronous standbys are configured — and says which setting to change and
//! how. It runs on the first connection when the store opens ([`check_server`]) and on every
//! new pooled connection after (`PgStore::open` installs [`durability_problem`] as the
//! pool's `after_connect`), so a setting changed while the service runs makes the store
//! unavailable rather than lossy.

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::error::db_error;
use crate::store::StoreError;

/// Refuses a server that could lose acknowledged writes ([`StoreError::Unsafe`], the
/// connection closed), and warns when `full_page_writes` is off.
pub(super) async fn check_server(mut conn: PgConnection, db: &str, user: &str) -> Result<(), StoreError> {
    if let Some(problem) = durability_problem(&mut conn, db, user).await.map_err(db_error)? {
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
    Ok(())
}

/// Why this session could lose acknowledged writes, naming the setting and the fix; `None`
/// when it cannot.
pub(super) async fn durability_problem(conn: &mut PgConnection, db: &str, user: &str) -> Result<Option<String>, sqlx::Error> {
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut *conn).await?;
    if fsync != "on" {
        return Ok(Some(format!(
            "refusing to use PostgreSQL database '{db}': the server runs with fsync = {fsync}, so it does not force \
             commits to disk and a crash of the server or its machine can lose acknowledged bids and schedules. \
             Set fsync = on in postgresql.conf (or ALTER SYSTEM SET fsync = on) and reload the server \
             (SELECT pg_reload_conf())."
        )));
    }
    let row = sqlx::query("SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'").fetch_one(&mut *conn).await?;
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
