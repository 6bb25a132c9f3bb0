//! Sweep items as a work queue in PostgreSQL, taken by any number of `vpp worker` processes.
//!
//! Schema: `migrations/postgres/0004_work_items.sql` — `sweeps` (one row per named sweep,
//! its spec as JSON and the spec's SHA-256), `work_items` (one row per item: its spec, state
//! `queued`, `done` or `failed`, result, worker, finish time; primary key (sweep, item)),
//! and `work_item_starts`, an append-only log of every start. [`Queue::open`] opens the
//! database as the store does ([`PgStore::open`]: the durability check and the same
//! migrator, so the tables exist), then a small pool of its own.
//!
//! **Taking an item** ([`work`]): in a transaction, `SELECT … FROM work_items WHERE state =
//! 'queued' ORDER BY sweep, item LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED` — the first item no
//! other worker holds — and the row stays locked while the item runs (the CPU-bound
//! backtest on `spawn_blocking`); then `UPDATE … SET state = 'done', result = …, worker =
//! …, finished_at = now()` and commit. The start is written to `work_item_starts` at once,
//! in autocommit on another connection, so it stays even if the worker dies.
//!
//! **Exactly once, by construction.** Only a committed transaction marks an item done, and
//! only the transaction holding the row lock can: a worker killed (`kill -9`, OOM, a lost
//! node) drops its connection, PostgreSQL rolls its transaction back and releases the row,
//! which the next worker's `SKIP LOCKED` select takes at once. Work may be *run* twice (a
//! killed worker's partial run is lost); it is *done* once. A worker whose commit fails
//! (its connection broke) has done nothing, and the item is still queued. Results are
//! functions of the item alone (`sweep` module), so who runs it, and how often, does not
//! change them.
//!
//! `FOR NO KEY UPDATE` rather than `FOR UPDATE`: the same exclusion between workers (the
//! two conflict with themselves alike), but it lets the start log's foreign key check
//! (`FOR KEY SHARE`) through on the other connection; under `FOR UPDATE` that insert would
//! wait for the claim it records.
//!
//! **Session settings.** While an item runs, the claiming session is *idle in transaction*.
//! Each of this pool's connections sets `idle_in_transaction_session_timeout = 0` (and
//! `transaction_timeout = 0` where the server has it, PostgreSQL 17) so a server or role
//! default cannot end a long item's transaction; the item would only run again elsewhere,
//! never be done twice, but could never finish. It also sets TCP keepalives (30 s idle,
//! 10 s interval, 3 probes) so that the server notices a worker whose machine vanished
//! (no FIN or RST) within about a minute, instead of the operating system's two hours, and
//! frees its item. A long item holds back the xmin horizon of vacuum for its duration: keep
//! items to minutes (`chunk_days`).
//!
//! A failed item (its backtest refused the input or a solve failed) is final: `failed`, with
//! the error, since the same inputs fail the same way on every worker. A worker exits on a
//! database error (the item it held goes back to the queue): under a Kubernetes Job the pod
//! is restarted.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::{FailedItem, ItemRecord, ItemResult, ItemSpec, Sweep, SweepReport};
use crate::domain::{limits, ValidationErrors};
use crate::store::postgres::PgStore;
use crate::store::{Store, StoreError};

/// Connections of a worker's or planner's pool: the claim held while an item runs, the
/// start log and reads beside it.
const POOL_SIZE: u32 = 4;
/// Items inserted per statement when planning.
const PLAN_BATCH: usize = 5_000;

const SESSION_SETTINGS: &str = "SELECT set_config('idle_in_transaction_session_timeout', '0', false), \
     set_config('tcp_keepalives_idle', '30', false), set_config('tcp_keepalives_interval', '10', false), \
     set_config('tcp_keepalives_count', '3', false)";
const NO_TRANSACTION_TIMEOUT: &str =
    "SELECT set_config('transaction_timeout', '0', false) WHERE current_setting('transaction_timeout', true) IS NOT NULL";
const INSERT_SWEEP: &str =
    "INSERT INTO sweeps (name, spec, spec_sha256) VALUES ($1, $2::jsonb, $3) ON CONFLICT (name) DO NOTHING RETURNING id";
const SELECT_SWEEP: &str = "SELECT id, spec::text AS spec, spec_sha256 FROM sweeps WHERE name = $1";
const SELECT_SWEEP_SPEC: &str = "SELECT spec::text AS spec FROM sweeps WHERE id = $1";
const INSERT_ITEMS: &str =
    "INSERT INTO work_items (sweep, item, spec) SELECT $1, n, s::jsonb FROM UNNEST($2::int4[], $3::text[]) AS t(n, s)";
const COUNT_ITEMS: &str = "SELECT count(*) FILTER (WHERE state = 'done') AS done, count(*) FILTER (WHERE state = 'queued') AS queued, \
     count(*) FILTER (WHERE state = 'failed') AS failed FROM work_items WHERE sweep = $1";
const SELECT_ITEMS: &str = "SELECT item, state, spec::text AS spec, result::text AS result, error, worker \
     FROM work_items WHERE sweep = $1 ORDER BY item";
const CLAIM: &str = "SELECT sweep, item, spec::text AS spec FROM work_items WHERE state = 'queued' \
     ORDER BY sweep, item LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED";
const LOG_START: &str = "INSERT INTO work_item_starts (sweep, item, worker) VALUES ($1, $2, $3)";
const UNFINISHED: &str = "SELECT count(*) FROM work_items WHERE state = 'queued'";
const FINISH: &str = "UPDATE work_items SET state = $3, result = $4::jsonb, error = $5, worker = $6, finished_at = now() \
     WHERE sweep = $1 AND item = $2 AND state = 'queued'";

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database could not be opened (unreachable, unsafe, migrations refused).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A statement failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The spec is not usable, by field.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// Another sweep has this name.
    #[error("a sweep named {0} exists with another spec; choose another --name (or ask for its results)")]
    Exists(String),
    /// No sweep has this name.
    #[error("no sweep named {0}")]
    NotFound(String),
    /// Stored data that does not read back.
    #[error("stored data does not read back: {0}")]
    Corrupt(String),
}

/// What [`Queue::plan`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// The sweep and its items were inserted.
    Created {
        /// Its id.
        id: i64,
        /// Its items.
        items: usize,
    },
    /// A sweep of this name and the same spec was there already; nothing changed.
    Existing {
        /// Its id.
        id: i64,
        /// Its items.
        items: usize,
        /// Of them, done.
        done: usize,
    },
}

/// The sweep tables of one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct Queue {
    pool: PgPool,
}

impl Queue {
    /// Opens the database at `url` as the store does (durability check, migrations), then a
    /// pool of its own whose sessions never time out idle in a transaction.
    pub async fn open(url: &str) -> Result<Queue, QueueError> {
        let t = url.trim();
        if !(t.starts_with("postgres://") || t.starts_with("postgresql://")) {
            let message = "must be a postgres:// or postgresql:// URL (sweeps are shared through PostgreSQL; `vpp sweep run` needs none)";
            return Err(invalid("--database", message.into()));
        }
        let store = PgStore::open(url).await?;
        store.close().await;
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("database: not a usable PostgreSQL URL ({e})")))?
            .application_name("vpp-worker");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query(SESSION_SETTINGS).execute(&mut *conn).await?;
                    sqlx::query(NO_TRANSACTION_TIMEOUT).execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Queue { pool })
    }

    /// Inserts the sweep `name` and all its items, queued, in one transaction. A sweep of
    /// that name with the same spec (by SHA-256 of its JSON) is left as it is; with another
    /// spec, refused ([`QueueError::Exists`]).
    pub async fn plan(&self, name: &str, sweep: &Sweep) -> Result<Planned, QueueError> {
        check_name(name)?;
        let spec = serde_json::to_string(sweep.spec()).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let digest = Sha256::digest(spec.as_bytes()).to_vec();
        let items = sweep.items();
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(INSERT_SWEEP).bind(name).bind(&spec).bind(&digest).fetch_optional(&mut *tx).await?;
        let Some(id) = id else {
            let row = sqlx::query(SELECT_SWEEP).bind(name).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            let (id, stored): (i64, Vec<u8>) = (row.try_get("id")?, row.try_get("spec_sha256")?);
            if stored != digest {
                return Err(QueueError::Exists(limits::quote(name)));
            }
            let (done, queued, failed) = self.counts(id).await?;
            return Ok(Planned::Existing { id, items: done + queued + failed, done });
        };
        for batch in items.chunks(PLAN_BATCH) {
            let numbers: Vec<i32> = batch.iter().map(|i| i.number as i32).collect();
            let specs = batch
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<String>, _>>()
                .map_err(|e| QueueError::Corrupt(e.to_string()))?;
            sqlx::query(INSERT_ITEMS).bind(id).bind(&numbers).bind(&specs).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Planned::Created { id, items: items.len() })
    }

    async fn counts(&self, id: i64) -> Result<(usize, usize, usize), QueueError> {
        let row = sqlx::query(COUNT_ITEMS).bind(id).fetch_one(&self.pool).await?;
        let n = |c: &str| row.try_get::<i64, _>(c).map(|v| v.max(0) as usize);
        Ok((n("done")?, n("queued")?, n("failed")?))
    }

    /// The sweep `name` as it stands: counts, the results done so far and their summary.
    pub async fn report(&self, name: &str) -> Result<SweepReport, QueueError> {
        let row = sqlx::query(SELECT_SWEEP).bind(name).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Err(QueueError::NotFound(limits::quote(name))) };
        let id: i64 = row.try_get("id")?;
        let rows = sqlx::query(SELECT_ITEMS).bind(id).fetch_all(&self.pool).await?;
        let mut report = SweepReport {
            name: Some(name.to_string()),
            items: rows.len(),
            done: 0,
            queued: 0,
            failed: Vec::new(),
            summary: Vec::new(),
            results: Vec::new(),
        };
        for row in &rows {
            let item = item_spec(row)?;
            let worker: Option<String> = row.try_get("worker")?;
            match row.try_get::<String, _>("state")?.as_str() {
                "done" => {
                    let text: Option<String> = row.try_get("result")?;
                    let result: ItemResult = serde_json::from_str(text.as_deref().unwrap_or("null"))
                        .map_err(|e| QueueError::Corrupt(format!("item {}'s result: {e}", item.number)))?;
                    report.done += 1;
                    report.results.push(ItemRecord { item, worker, result });
                }
                "failed" => {
                    let error: Option<String> = row.try_get("error")?;
                    report.failed.push(FailedItem { item, error: error.unwrap_or_default(), worker });
                }
                _ => report.queued += 1,
            }
        }
        report.summary = super::summarise(report.results.iter().map(|r| (&r.item, &r.result)));
        Ok(report)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn item_spec(row: &PgRow) -> Result<ItemSpec, QueueError> {
    let text: String = row.try_get("spec")?;
    serde_json::from_str(&text).map_err(|e| QueueError::Corrupt(format!("an item's spec: {e}")))
}

fn check_name(name: &str) -> Result<(), QueueError> {
    if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(invalid("--name", format!("must be 1 to 100 printable characters, got {}", limits::quote(name))));
    }
    Ok(())
}

fn invalid(field: &str, message: String) -> QueueError {
    QueueError::Invalid(ValidationErrors { problems: vec![crate::domain::Problem { field: field.into(), message }] })
}

/// A worker's name when none is given: the host's (a pod's name under Kubernetes) and the
/// process id.
pub fn default_worker_name() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.trim().is_empty()).unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Its name in `work_items.worker` and the start log.
    pub name: String,
    /// Exit once no item of any sweep is left queued (none to take, none held by another
    /// worker that could die and give it back); otherwise wait for new sweeps.
    pub until_empty: bool,
    /// How often to look again when there is nothing to take.
    pub poll: Duration,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Items it marked done.
    pub done: usize,
    /// Items it marked failed.
    pub failed: usize,
}

/// A cancellation token cancelled by SIGTERM or Ctrl-C: the worker finishes the item it
/// holds, then stops.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    // Registered before this returns, so a SIGTERM from now on is seen.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    tokio::spawn(async move {
        let term = async {
            match term {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term => {},
        }
        tracing::info!("stopping after the current item");
        cancel.cancel();
    });
    token
}

/// Takes items from the database at `url` until `stop` is cancelled (after finishing the
/// item in hand) or, with [`WorkerOptions::until_empty`], until no item is left queued.
pub async fn work(url: &str, options: &WorkerOptions, stop: CancellationToken) -> Result<WorkerReport, QueueError> {
    check_name(&options.name)?;
    let queue = Queue::open(url).await?;
    tracing::info!(worker = %options.name, "worker started");
    let mut report = WorkerReport::default();
    let mut sweeps: HashMap<i64, Arc<Result<Sweep, String>>> = HashMap::new();
    while !stop.is_cancelled() {
        match take_one(&queue, &options.name, &mut sweeps).await? {
            Some(true) => report.done += 1,
            Some(false) => report.failed += 1,
            None => {
                let unfinished: i64 = sqlx::query_scalar(UNFINISHED).fetch_one(&queue.pool).await?;
                if options.until_empty && unfinished == 0 {
                    tracing::info!(worker = %options.name, "no item left");
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(options.poll) => {},
                    _ = stop.cancelled() => {},
                }
            }
        }
    }
    tracing::info!(worker = %options.name, done = report.done, failed = report.failed, "worker stopped");
    queue.close().await;
    Ok(report)
}

/// Claims the first free item, runs it and records the outcome in the claiming
/// transaction: `Some(true)` done, `Some(false)` failed, `None` nothing to take.
async fn take_one(queue: &Queue, worker: &str, sweeps: &mut HashMap<i64, Arc<Result<Sweep, String>>>) -> Result<Option<bool>, QueueError> {
    let mut tx = queue.pool.begin().await?;
    let Some(row) = sqlx::query(CLAIM).fetch_optional(&mut *tx).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let (sweep_id, number): (i64, i32) = (row.try_get("sweep")?, row.try_get("item")?);
    // Autocommit on another connection: the start stays recorded if this worker dies.
    sqlx::query(LOG_START).bind(sweep_id).bind(number).bind(worker).execute(&queue.pool).await?;
    let sweep = match sweeps.get(&sweep_id) {
        Some(s) => Arc::clone(s),
        None => {
            let text: String = sqlx::query_scalar(SELECT_SWEEP_SPEC).bind(sweep_id).fetch_one(&queue.pool).await?;
            let prepared = tokio::task::spawn_blocking(move || Sweep::from_json(&text).map_err(|e| format!("the sweep's spec: {e}")))
                .await
                .unwrap_or_else(|_| Err("reading the sweep's spec failed unexpectedly".into()));
            let s = Arc::new(prepared);
            sweeps.insert(sweep_id, Arc::clone(&s));
            s
        }
    };
    let item = item_spec(&row);
    tracing::info!(worker, sweep = sweep_id, item = number, "item started");
    let started = std::time::Instant::now();
    let outcome: Result<ItemResult, String> = match (&*sweep, item) {
        (Err(e), _) => Err(e.clone()),
        (_, Err(e)) => Err(e.to_string()),
        (Ok(_), Ok(item)) => {
            let sweep = Arc::clone(&sweep);
            tokio::task::spawn_blocking(move || match &*sweep {
                Ok(s) => s.run_item(&item).map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            })
            .await
            .unwrap_or_else(|_| Err(format!("item {number}: its thread failed unexpectedly")))
        }
    };
    let (state, result, error) = match &outcome {
        Ok(r) => ("done", Some(serde_json::to_string(r).map_err(|e| QueueError::Corrupt(e.to_string()))?), None),
        Err(e) => ("failed", None, Some(e.as_str())),
    };
    let updated = sqlx::query(FINISH)
        .bind(sweep_id)
        .bind(number)
        .bind(state)
        .bind(result)
        .bind(error)
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if updated != 1 {
        // Cannot happen while the row lock is held; give the item back rather than guess.
        tx.rollback().await?;
        return Err(QueueError::Corrupt(format!("sweep {sweep_id} item {number} was not queued at the finish")));
    }
    tx.commit().await?;
    let seconds = started.elapsed().as_secs_f64();
    match &outcome {
        Ok(_) => tracing::info!(worker, sweep = sweep_id, item = number, seconds, "item done"),
        Err(e) => tracing::warn!(worker, sweep = sweep_id, item = number, error = %e, "item failed"),
    }
    Ok(Some(outcome.is_ok()))
}
