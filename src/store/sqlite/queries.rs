//! The SQL text of the SQLite store: runtime queries (building needs no database), over the
//! column lists the shared row mapping reads (`store/rows.rs`).

use crate::store::readings::reading_columns;
use crate::store::rows::{bid_columns, schedule_columns, schedule_info_columns};

pub(super) const INSERT_BID: &str = concat!(
    "INSERT INTO bids (",
    bid_columns!(),
    ", submitted_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot, id) DO NOTHING"
);
pub(super) const SELECT_BID: &str = concat!("SELECT ", bid_columns!(), " FROM bids WHERE bot = ? AND id = ?");
pub(super) const SELECT_BID_AND_DIGEST: &str = concat!("SELECT ", bid_columns!(), ", submitted_sha256 FROM bids WHERE bot = ? AND id = ?");
pub(super) const SELECT_BIDS_OF_DAY: &str = concat!("SELECT ", bid_columns!(), " FROM bids WHERE delivery_day = ? ORDER BY bot, id");
pub(super) const SELECT_BIDS_OF_DAY_AND_BOT: &str =
    concat!("SELECT ", bid_columns!(), " FROM bids WHERE delivery_day = ? AND bot = ? ORDER BY bot, id");
pub(super) const AMEND_BID: &str = "UPDATE bids SET quantity_mw = ?, price = ?, revision = revision + 1, acknowledged_at = ? \
                         WHERE bot = ? AND id = ? AND state = 'active'";
pub(super) const CANCEL_BID: &str = "UPDATE bids SET state = 'cancelled', cancelled_at = ? WHERE bot = ? AND id = ? AND state = 'active'";

pub(super) const NEXT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) + 1 FROM schedules WHERE day = ?";
pub(super) const INSERT_SCHEDULE: &str =
    concat!("INSERT INTO schedules (", schedule_columns!(), ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
pub(super) const SELECT_SCHEDULE: &str = concat!("SELECT ", schedule_columns!(), " FROM schedules WHERE day = ? AND version = ?");
pub(super) const SELECT_LATEST_SCHEDULE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE day = ? \
     ORDER BY version DESC LIMIT 1"
);
pub(super) const SELECT_DAY_AHEAD: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE day = ? AND replans_version = 0 \
     ORDER BY version DESC LIMIT 1"
);
pub(super) const SELECT_DAY_AHEAD_VERSION: &str =
    "SELECT version FROM schedules WHERE day = ? AND replans_version = 0 ORDER BY version DESC LIMIT 1";
pub(super) const LIST_SCHEDULES: &str =
    concat!("SELECT ", schedule_info_columns!(), " FROM schedules WHERE day >= ? AND day <= ? ORDER BY day, version");

pub(super) const INSERT_READING: &str =
    concat!("INSERT INTO readings (", reading_columns!(), ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
pub(super) const SELECT_READING_REVISIONS: &str =
    concat!("SELECT ", reading_columns!(), " FROM readings WHERE meter = ? AND quantity = ? AND interval_start = ? ORDER BY revision");
/// The latest revision per key (SQLite takes the other columns from the row with the
/// largest revision).
pub(super) const SELECT_LATEST_READINGS: &str = "SELECT meter, quantity, interval_start, MAX(revision) AS revision, interval_minutes, \
     value_wh, reason, source, received_at FROM readings WHERE interval_start >= ? AND interval_start < ? \
     GROUP BY meter, quantity, interval_start ORDER BY interval_start, meter, quantity";

/// Two subqueries: each is answered from the index (SQLite scans the table for MIN and MAX
/// in one select).
pub(super) const SELECT_READINGS_SPAN: &str =
    "SELECT (SELECT MIN(interval_start) FROM readings) AS first, (SELECT MAX(interval_start) FROM readings) AS last";
pub(super) const MARK_LEDGER_DIRTY: &str = "INSERT INTO ledger_dirty (utc_hour, generation) VALUES (?, 1) \
     ON CONFLICT (utc_hour) DO UPDATE SET generation = ledger_dirty.generation + 1";
pub(super) const SELECT_LEDGER_DIRTY: &str = "SELECT utc_hour, generation FROM ledger_dirty ORDER BY utc_hour";
pub(super) const DELETE_LEDGER_DIRTY: &str = "DELETE FROM ledger_dirty WHERE utc_hour = ? AND generation = ?";
pub(super) const SELECT_LEDGER_DAYS: &str = "SELECT day, basis, parks, built_at FROM ledger_days WHERE day >= ? AND day <= ? ORDER BY day";
pub(super) const SELECT_WARM_STARTS: &str = "SELECT key, cols, rows, share FROM warm_starts ORDER BY kept_at DESC LIMIT ?";
pub(super) const UPSERT_WARM_START: &str = "INSERT INTO warm_starts (key, cols, rows, share, kept_at) VALUES (?, ?, ?, ?, ?) \
     ON CONFLICT (key) DO UPDATE SET cols = excluded.cols, rows = excluded.rows, share = excluded.share, kept_at = excluded.kept_at";
pub(super) const PRUNE_WARM_STARTS: &str =
    "DELETE FROM warm_starts WHERE key NOT IN (SELECT key FROM warm_starts ORDER BY kept_at DESC LIMIT ?)";
pub(super) const SELECT_LEDGER_CLOSING: &str = "SELECT basis, closing FROM ledger_days WHERE day = ?";
pub(super) const UPSERT_LEDGER_DAY: &str = "INSERT INTO ledger_days (day, basis, closing, parks, built_at) VALUES (?, ?, ?, ?, ?) \
     ON CONFLICT (day) DO UPDATE SET basis = excluded.basis, closing = excluded.closing, parks = excluded.parks, \
     built_at = excluded.built_at";
