//! The writer task: every write of the SQLite store (submit, amend, cancel, publish) comes
//! over a channel; the task drains what is queued (up to [`MAX_BATCH`]), applies it in one
//! transaction on its own connection, commits, and only then answers each caller. One fsync
//! thus acknowledges a whole batch. A write that fails is answered with its error and the
//! rest of its batch is applied without it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use super::queries::*;
use super::{closed, day_text, db_error, timestamp_text, MAX_BATCH};
use crate::model::KeptStart;
use crate::store::ledger::changed_days;
use crate::store::readings::{decide, inserted, reading_columns, reading_record, received_value, start_value, Decision};
use crate::store::rows::{bid_record, existing_or_conflict, get};
use crate::store::sql::{self, corrupt, side_text};
use crate::store::{
    inputs_sha256, BidRecord, DirtyMark, NewLedgerDay, NewReading, NewSchedule, ReadingOutcome, ScheduleInfo, StoreError, SubmitOutcome,
};

/// A write to apply.
pub(super) enum Op {
    Submit(Box<BidRecord>, [u8; 32]),
    Amend { bot: String, id: String, quantity_mw: f64, price: f64, at: DateTime<Utc> },
    Cancel { bot: String, id: String, at: DateTime<Utc> },
    Publish(Box<NewSchedule>),
    PutReadings(Vec<NewReading>),
    PutLedgerDays(Vec<NewLedgerDay>, Vec<DirtyMark>),
    PutWarmStarts(Vec<KeptStart>, usize),
}

/// What a write did, sent once its transaction has committed.
pub(super) enum Done {
    Submit(SubmitOutcome),
    Bid(Option<BidRecord>),
    Published(ScheduleInfo),
    Readings(Vec<ReadingOutcome>),
    LedgerDays,
    WarmStarts,
}

pub(super) struct Job {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Result<Done, StoreError>>,
}

pub(super) enum Msg {
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

pub(super) async fn write_loop(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Msg>) {
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
            sqlx::query(CANCEL_BID).bind(timestamp_text(at)).bind(bot).bind(id).execute(&mut *conn).await.map_err(db_error)?;
            select_bid(conn, bot, id).await.map(Done::Bid)
        }
        Op::Publish(schedule) => publish(conn, schedule).await.map(Done::Published),
        Op::PutReadings(batch) => put_readings(conn, batch).await.map(Done::Readings),
        Op::PutLedgerDays(days, consumed) => put_ledger_days(conn, days, consumed).await.map(|()| Done::LedgerDays),
        Op::PutWarmStarts(starts, keep) => put_warm_starts(conn, starts, *keep).await.map(|()| Done::WarmStarts),
    }
}

async fn put_warm_starts(conn: &mut SqliteConnection, starts: &[KeptStart], keep: usize) -> Result<(), StoreError> {
    sql::put_warm_starts::<sqlx::Sqlite>(conn, UPSERT_WARM_START, PRUNE_WARM_STARTS, starts, keep).await.map_err(db_error)
}

/// Rows per multi-row insert (9 values each, well under SQLite's variable limit).
const READINGS_PER_INSERT: usize = 500;

/// A batch of readings: first every reading as revision 1 in multi-row inserts that
/// return what they inserted (most readings are new), then each one that was not inserted
/// by the rule both backends share. Outcomes in the batch's order.
async fn put_readings(conn: &mut SqliteConnection, batch: &[NewReading]) -> Result<Vec<ReadingOutcome>, StoreError> {
    let mut out: Vec<Option<ReadingOutcome>> = (0..batch.len()).map(|_| None).collect();
    for (c, chunk) in batch.chunks(READINGS_PER_INSERT).enumerate() {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(concat!("INSERT INTO readings (", reading_columns!(), ") "));
        q.push_values(chunk, |mut row, r| {
            row.push_bind(&r.meter)
                .push_bind(&r.quantity)
                .push_bind(start_value(r.interval_start))
                .push_bind(1_i64)
                .push_bind(i64::from(r.interval_minutes))
                .push_bind(r.value_wh)
                .push_bind(r.reason.as_deref())
                .push_bind(&r.source)
                .push_bind(received_value(r.received_at));
        });
        q.push(" ON CONFLICT DO NOTHING RETURNING meter, quantity, interval_start");
        let rows = q.build().fetch_all(&mut *conn).await.map_err(db_error)?;
        let mut new: HashSet<(String, String, i64)> = HashSet::with_capacity(rows.len());
        for row in &rows {
            new.insert((get(row, 0)?, get(row, 1)?, get(row, 2)?));
        }
        for (j, r) in chunk.iter().enumerate() {
            // A key twice in one insert: its first row is the one stored.
            if new.remove(&(r.meter.clone(), r.quantity.clone(), start_value(r.interval_start))) {
                out[c * READINGS_PER_INSERT + j] = Some(inserted(r, 1));
            }
        }
    }
    let mut done = Vec::with_capacity(batch.len());
    for (r, o) in batch.iter().zip(out) {
        done.push(match o {
            Some(o) => o,
            None => put_reading(conn, r).await?,
        });
    }
    for utc_hour in changed_days(&done) {
        sqlx::query(MARK_LEDGER_DIRTY).bind(utc_hour).execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(done)
}

/// Built ledger days replace those stored; the dirty marks they consumed go, where no
/// change came since.
async fn put_ledger_days(conn: &mut SqliteConnection, days: &[NewLedgerDay], consumed: &[DirtyMark]) -> Result<(), StoreError> {
    for d in days {
        sqlx::query(UPSERT_LEDGER_DAY)
            .bind(day_text(d.record.day))
            .bind(&d.record.basis)
            .bind(&d.closing_json)
            .bind(&d.record.parks_json)
            .bind(received_value(d.record.built_at))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    for m in consumed {
        sqlx::query(DELETE_LEDGER_DIRTY).bind(m.utc_hour).bind(m.generation).execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(())
}

/// A reading whose key is already stored, by the rule both backends share
/// (`store::readings::decide`).
async fn put_reading(conn: &mut SqliteConnection, r: &NewReading) -> Result<ReadingOutcome, StoreError> {
    let rows = sqlx::query(SELECT_READING_REVISIONS)
        .bind(&r.meter)
        .bind(&r.quantity)
        .bind(start_value(r.interval_start))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let history = rows.iter().map(reading_record).collect::<Result<Vec<_>, _>>()?;
    match decide(&history, r) {
        Decision::Answer(outcome) => Ok(outcome),
        Decision::Insert(revision) => {
            insert_reading(conn, r, revision).await?;
            Ok(inserted(r, revision))
        }
    }
}

/// Inserts `r` as `revision`; false when that revision of its key is already there.
async fn insert_reading(conn: &mut SqliteConnection, r: &NewReading, revision: u32) -> Result<bool, StoreError> {
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
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
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
    let row = sqlx::query(SELECT_BID_AND_DIGEST).bind(&b.bot).bind(&b.id).fetch_one(&mut *conn).await.map_err(db_error)?;
    existing_or_conflict(&row, digest)
}

async fn select_bid(conn: &mut SqliteConnection, bot: &str, id: &str) -> Result<Option<BidRecord>, StoreError> {
    let row = sqlx::query(SELECT_BID).bind(bot).bind(id).fetch_optional(&mut *conn).await.map_err(db_error)?;
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
    let next: i64 = sqlx::query(NEXT_VERSION).bind(&day).fetch_one(&mut *conn).await.map_err(db_error).and_then(|row| get(&row, 0))?;
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

/// A batch failure, for each job of the batch.
fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::DayAheadExists { day, version } => StoreError::DayAheadExists { day: *day, version: *version },
        StoreError::Unsafe(m) => StoreError::Unsafe(m.clone()),
    }
}
