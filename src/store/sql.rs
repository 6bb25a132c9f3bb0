//! What both SQL backends share: the bid payload digest, the text forms of a bid's side and
//! state, the writing of warm starts, and the mapping of sqlx and migration errors that do
//! not depend on the database (each backend maps its own database error codes and passes
//! the rest here).

use sha2::{Digest, Sha256};

use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use super::{kept_at, row_limit, BidState, StoreError};
use crate::domain::{Bid, BidSide};
use crate::model::KeptStart;

/// Stores `starts` (most recently used first) as kept now, each replacing the row of its
/// key, then removes all but the `keep` most recently kept rows: a backend's `upsert` and
/// `prune` SQL on `conn`, within the caller's transaction.
pub(crate) async fn put_warm_starts<DB>(
    conn: &mut DB::Connection,
    upsert: &'static str,
    prune: &'static str,
    starts: &[KeptStart],
    keep: usize,
) -> Result<(), sqlx::Error>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t [u8]: Encode<'t, DB> + Type<DB>,
    for<'t> Option<f64>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let now = chrono::Utc::now();
    for (k, s) in starts.iter().enumerate() {
        sqlx::query::<DB>(upsert)
            .bind(s.key.as_str())
            .bind(s.cols.as_slice())
            .bind(s.rows.as_slice())
            .bind(s.share)
            .bind(kept_at(now, k))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query::<DB>(prune).bind(row_limit(keep)).execute(&mut *conn).await?;
    Ok(())
}

/// SHA-256 of a bid's payload — node, interval start, side, quantity, price, green, park —
/// in a fixed binary encoding (floats bitwise, strings length-prefixed). Stored with the
/// bid, so the encoding must never change for an existing version tag.
pub fn payload_sha256(bid: &Bid) -> [u8; 32] {
    fn text(h: &mut Sha256, s: &str) {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    let mut h = Sha256::new();
    text(&mut h, "vpp-bid-payload-v1");
    text(&mut h, &bid.node);
    h.update(bid.interval_start.timestamp().to_le_bytes());
    h.update(bid.interval_start.timestamp_subsec_nanos().to_le_bytes());
    text(&mut h, side_text(bid.side));
    h.update(bid.quantity_mw.to_bits().to_le_bytes());
    h.update(bid.price.to_bits().to_le_bytes());
    h.update([u8::from(bid.green)]);
    match &bid.park {
        None => h.update([0u8]),
        Some(park) => {
            h.update([1u8]);
            text(&mut h, park);
        }
    }
    h.finalize().into()
}

/// A side as stored.
pub(crate) fn side_text(side: BidSide) -> &'static str {
    match side {
        BidSide::Sell => "sell",
        BidSide::Buy => "buy",
        BidSide::Curtail => "curtail",
    }
}

/// A stored side.
pub(crate) fn parse_side(s: &str) -> Result<BidSide, StoreError> {
    match s {
        "sell" => Ok(BidSide::Sell),
        "buy" => Ok(BidSide::Buy),
        "curtail" => Ok(BidSide::Curtail),
        _ => Err(corrupt("a stored bid has an unknown side")),
    }
}

/// A stored state (written with [`BidState::as_str`]).
pub(crate) fn parse_state(s: &str) -> Result<BidState, StoreError> {
    match s {
        "active" => Ok(BidState::Active),
        "cancelled" => Ok(BidState::Cancelled),
        _ => Err(corrupt("a stored bid has an unknown state")),
    }
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// The sqlx errors whose meaning does not depend on the backend. Described by kind, never
/// with SQL text or row data.
pub(crate) fn sqlx_error(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::Io(io) => StoreError::Unavailable(format!("I/O error reaching the database ({})", io.kind())),
        E::PoolTimedOut => StoreError::Unavailable("timed out waiting for a database connection".into()),
        E::PoolClosed => StoreError::Unavailable("the store is closed".into()),
        E::WorkerCrashed => StoreError::Unavailable("the database worker stopped".into()),
        E::RowNotFound
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::ColumnDecode { .. }
        | E::Decode(_)
        | E::TypeNotFound { .. } => corrupt("a stored row could not be decoded"),
        _ => StoreError::Unavailable("database error".into()),
    }
}

/// A failed migration; `db_error` maps the backend's own database errors.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError, db_error: fn(sqlx::Error) -> StoreError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::Execute(e) | M::ExecuteMigration(e, _) => db_error(e),
        M::VersionMissing(v) => StoreError::Corrupt(format!("the database has migration {v}, unknown to this version of the service")),
        M::VersionMismatch(v) => StoreError::Corrupt(format!("migration {v} applied to the database differs from ours")),
        M::Dirty(v) => StoreError::Corrupt(format!("migration {v} was left partially applied")),
        _ => StoreError::Corrupt("the database schema could not be brought up to date".into()),
    }
}
