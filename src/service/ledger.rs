//! The measured ledger as the service keeps it: built once, day by day, into the store, and
//! built again only where readings changed.
//!
//! - **The chain.** The ledger begins on the local day of the first stored reading (the
//!   storages' opening colour inferred there, `StorageState::unread`) and runs day after
//!   day to the local day of the last one, each day opening with the previous day's closing
//!   storage state. Every built day is a row of the store: its closing state and each
//!   park's totals (`ledger::ParkDay`), under a *basis* (a digest of the plant file, the
//!   meters' interval and the ledger's rules version); a row of another basis counts as not
//!   built, so a changed plant rebuilds everything.
//! - **What changed.** Storing a new reading or a correction marks its UTC hour in the same
//!   transaction (`Store::put_readings`). A build takes the marks, rebuilds from the first
//!   local day a mark touches (or the first day not built), and goes forward only until a
//!   day closes with the storage state already stored for it and no later day is marked or
//!   unbuilt: a correction recomputes the days it affects, no more. The marks it saw are
//!   removed with its rows, in one transaction, and only at the generation it saw, so a
//!   reading stored while it built stays marked for the next build.
//! - **One builder at a time** (`Store::lock_ledger`: a process mutex, and for PostgreSQL an
//!   advisory lock shared by the replicas). Readers never wait for it when nothing is
//!   marked.
//! - **Statements** are rolled up from the rows (a park-year is 365 small rows), never from
//!   the readings; a range's intervals and certificates are built again from its readings,
//!   opening with the stored closing state of the day before, so they are the chain's own.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use std::sync::Arc;

use tokio::sync::{broadcast, Notify};

use crate::domain::Plant;
use crate::ledger::{Ledger, ParkDay, Quantity, Readings, StorageState};
use crate::store::{DirtyMark, LedgerDayRecord, NewLedgerDay, Store};

use super::Error;

/// The ledger's rules, as far as built days depend on them: a new version rebuilds them.
const LEDGER_RULES: &str = "vpp-ledger-rules/1";
/// Built days written per store transaction during a long build.
const DAYS_PER_WRITE: usize = 31;

/// The built ledger: every local day from where it began, with each park's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its days, in order, each with every park's totals (plant order).
    pub days: Vec<(NaiveDate, Vec<ParkDay>)>,
}

impl Chain {
    /// The day the ledger began.
    pub fn first(&self) -> Option<NaiveDate> {
        self.days.first().map(|d| d.0)
    }
}

/// When each built day was built.
type BuildTimes = BTreeMap<NaiveDate, DateTime<Utc>>;

/// The ledger kept in the store, and the announcement of the days it builds. Cheap to
/// clone: a stream's task keeps its own.
#[derive(Clone)]
pub(super) struct Kept {
    plant: Arc<Plant>,
    store: Arc<dyn Store>,
    /// The readings' interval, minutes.
    step: u32,
    /// What the days are built under.
    basis: String,
    /// Each build that computed days, announced.
    pub(super) built: broadcast::Sender<LedgerBuild>,
    /// Readings were stored: the keeper may build.
    pub(super) changed: Arc<Notify>,
    /// When each built day was last built, as this replica knows it (`None` until the
    /// keeper's first look): a day built again by another replica is announced here too.
    known: Arc<std::sync::Mutex<Option<BuildTimes>>>,
}

/// What bringing the ledger up to date did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerBuild {
    /// The days computed (again), in order.
    pub recomputed: Vec<NaiveDate>,
    /// The dirty marks it consumed.
    pub marks: usize,
}

impl Kept {
    /// The kept ledger of `plant` (its file text `plant_toml`) with readings every
    /// `step` minutes, in `store`.
    pub(super) fn new(plant: Arc<Plant>, plant_toml: &str, step: u32, store: Arc<dyn Store>) -> Kept {
        let mut h = Sha256::new();
        h.update(LEDGER_RULES.as_bytes());
        h.update([0u8]);
        h.update(step.to_le_bytes());
        h.update([0u8]);
        h.update(plant_toml.as_bytes());
        let (built, _) = broadcast::channel(64);
        Kept {
            plant,
            store,
            step,
            basis: hex::encode(h.finalize()),
            built,
            changed: Arc::new(Notify::new()),
            known: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    fn delivery_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.plant.tz()).date_naive()
    }

    fn day_start(&self, day: NaiveDate) -> DateTime<Utc> {
        crate::domain::local_midnight(self.plant.tz(), day)
    }

    /// The built ledger, brought up to date first where readings changed; `None` when no
    /// reading is stored.
    pub(super) async fn chain(&self) -> Result<Option<Chain>, Error> {
        // Most of the time nothing is to be built: one read of the store answers.
        let Some(seen) = self.look().await? else { return Ok(None) };
        match self.plan(&seen)? {
            None => Ok(Some(self.chain_of(seen.rows)?)),
            Some(_) => {
                self.update().await?;
                match self.look().await? {
                    Some(seen) => Ok(Some(self.chain_of(seen.rows)?)),
                    None => Ok(None),
                }
            }
        }
    }

    /// Builds every day of the ledger that is not built or whose readings changed (see the
    /// module's rules).
    pub(super) async fn update(&self) -> Result<LedgerBuild, Error> {
        // Nothing to do, most of the time: no lock taken.
        let Some(seen) = self.look().await? else { return Ok(LedgerBuild::default()) };
        if self.plan(&seen)?.is_none() {
            return Ok(LedgerBuild::default());
        }
        let _lock = self.store.lock_ledger().await?;
        // Another builder may have done it while this one waited.
        let Some(seen) = self.look().await? else { return Ok(LedgerBuild::default()) };
        let Some(plan) = self.plan(&seen)? else { return Ok(LedgerBuild::default()) };
        let built = self.build(plan).await?;
        if !built.recomputed.is_empty() {
            // Nobody listening is fine.
            let _ = self.built.send(built.clone());
        }
        Ok(built)
    }

    /// Notes the days this replica builds, so that they are not announced again as built
    /// by another.
    fn remember(&self, rows: &[NewLedgerDay]) {
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(k) = known.as_mut() {
            for r in rows {
                k.insert(r.record.day, r.record.built_at);
            }
        }
    }

    /// One pass of the keeper: builds what is to be built, then announces the days another
    /// replica built. One look at the store when there is nothing to build.
    pub(super) async fn keep(&self) -> Result<(), Error> {
        let Some(mut seen) = self.look().await? else { return Ok(()) };
        if self.plan(&seen)?.is_some() {
            self.update().await?;
            match self.look().await? {
                Some(now) => seen = now,
                None => return Ok(()),
            }
        }
        self.notice_others(&seen);
        Ok(())
    }

    /// Announces the days another replica built since the last look (their build time
    /// changed), as if built here: streams on this replica hear of them too.
    fn notice_others(&self, seen: &Seen) {
        let mut changed = Vec::new();
        {
            let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match known.as_mut() {
                None => *known = Some(seen.rows.iter().map(|r| (r.day, r.built_at)).collect()),
                Some(k) => {
                    for r in &seen.rows {
                        if k.insert(r.day, r.built_at) != Some(r.built_at) {
                            changed.push(r.day);
                        }
                    }
                }
            }
        }
        if !changed.is_empty() {
            tracing::debug!(days = changed.len(), "ledger days built by another replica");
            let _ = self.built.send(LedgerBuild { recomputed: changed, marks: 0 });
        }
    }

    /// What the store holds of the ledger: where it begins and ends, the marks, the built
    /// days; `None` without readings.
    async fn look(&self) -> Result<Option<Seen>, Error> {
        let Some((first, last)) = self.store.readings_span().await? else { return Ok(None) };
        let (first, last) = (self.delivery_day(first), self.delivery_day(last));
        let marks = self.store.ledger_dirty().await?;
        let rows = self.store.ledger_days(first, last).await?;
        Ok(Some(Seen { first, last, marks, rows }))
    }

    /// What a build has to do; `None` when nothing.
    fn plan(&self, seen: &Seen) -> Result<Option<Plan>, Error> {
        let (first, last) = (seen.first, seen.last);
        let basis = self.basis.clone();
        let built: BTreeSet<NaiveDate> = seen.rows.iter().filter(|r| r.basis == basis).map(|r| r.day).collect();
        let mut stale: BTreeSet<NaiveDate> = BTreeSet::new();
        for m in &seen.marks {
            let (start, end) = m.span();
            for at in [start, end - chrono::Duration::seconds(1)] {
                let day = self.delivery_day(at);
                if (first..=last).contains(&day) {
                    stale.insert(day);
                }
            }
        }
        let mut day = first;
        while day <= last {
            if !built.contains(&day) {
                stale.insert(day);
            }
            day = next(day)?;
        }
        if stale.is_empty() && seen.marks.is_empty() {
            return Ok(None);
        }
        Ok(Some(Plan { first, last, stale, marks: seen.marks.clone(), basis }))
    }

    async fn build(&self, plan: Plan) -> Result<LedgerBuild, Error> {
        let Plan { first, last, stale, marks, basis } = plan;
        let mut out = LedgerBuild { recomputed: Vec::new(), marks: marks.len() };
        let Some(&from) = stale.first() else {
            // Marks only outside the readings' days (cannot happen: every mark is a
            // reading's day); consume them.
            self.store.put_ledger_days(Vec::new(), marks).await?;
            return Ok(out);
        };
        let last_stale = stale.last().copied().unwrap_or(from);
        let mut state = if from == first {
            StorageState::unread(&self.plant)
        } else {
            // The day before `from` is built and not stale (`from` is the first stale day).
            let before = from.pred_opt().unwrap_or(from);
            self.stored_closing(before, &basis).await?.ok_or_else(|| Error::Internal(format!("the ledger of {before} is not built")))?
        };
        let mut rows: Vec<NewLedgerDay> = Vec::new();
        let mut day = from;
        while day <= last {
            let (readings, _) = self.readings_of(day, day).await?;
            let built = build_ledger(&self.plant, readings, state)?;
            let d = &built.days[0];
            let closing_json = json(&d.closing)?;
            let parks_json = json(&d.park_days(self.plant.parks.len()))?;
            // Converged: no later day is stale and this one closes as its stored build did,
            // so every later stored day opened from what it opens from now.
            let converged =
                day >= last_stale && self.store.ledger_closing(day).await?.is_some_and(|(b, c)| b == basis && c == closing_json);
            out.recomputed.push(day);
            state = built.days[0].closing.clone();
            rows.push(NewLedgerDay { record: LedgerDayRecord { day, basis: basis.clone(), parks_json, built_at: now() }, closing_json });
            if converged {
                break;
            }
            if rows.len() >= DAYS_PER_WRITE {
                self.remember(&rows);
                self.store.put_ledger_days(std::mem::take(&mut rows), Vec::new()).await?;
            }
            day = next(day)?;
        }
        self.remember(&rows);
        self.store.put_ledger_days(rows, marks).await?;
        tracing::info!(days = out.recomputed.len(), from = %from, marks = out.marks, "measured ledger built");
        Ok(out)
    }

    /// The day the ledger began (of the first stored reading).
    pub(super) async fn first_day(&self) -> Result<Option<NaiveDate>, Error> {
        Ok(self.store.readings_span().await?.map(|(first, _)| self.delivery_day(first)))
    }

    /// The built days as read (every one built under this basis).
    fn chain_of(&self, rows: Vec<LedgerDayRecord>) -> Result<Chain, Error> {
        let mut days = Vec::with_capacity(rows.len());
        for r in rows {
            if r.basis != self.basis {
                return Err(Error::Internal(format!("the ledger of {} is not built under this plant", r.day)));
            }
            let parks: Vec<ParkDay> = serde_json::from_str(&r.parks_json)
                .map_err(|e| Error::Internal(format!("the stored ledger of {} is unreadable: {e}", r.day)))?;
            days.push((r.day, parks));
        }
        Ok(Chain { days })
    }

    /// The stored closing state of a built day, if it is built under `basis`.
    async fn stored_closing(&self, day: NaiveDate, basis: &str) -> Result<Option<StorageState>, Error> {
        match self.store.ledger_closing(day).await? {
            Some((b, closing)) if b == basis => serde_json::from_str(&closing)
                .map(Some)
                .map_err(|e| Error::Internal(format!("the stored closing state of {day} is unreadable: {e}"))),
            _ => Ok(None),
        }
    }

    /// The ledger of the local days `from ..= to` built from their readings, opening with
    /// the chain's closing state of the day before (`first` is the day the ledger began).
    pub(super) async fn range(&self, first: NaiveDate, from: NaiveDate, to: NaiveDate) -> Result<Ledger, Error> {
        let opening = if from > first {
            let before = from.pred_opt().unwrap_or(from);
            self.stored_closing(before, &self.basis)
                .await?
                .ok_or_else(|| Error::Internal(format!("the ledger of {before} is not built")))?
        } else {
            StorageState::unread(&self.plant)
        };
        let (readings, _) = self.readings_of(from, to).await?;
        build_ledger(&self.plant, readings, opening)
    }

    /// The latest revision of every reading of the local days `from ..= to`, on the meters'
    /// grid, and how many there were.
    pub(super) async fn readings_of(&self, from: NaiveDate, to: NaiveDate) -> Result<(Readings, usize), Error> {
        let (start, end) = (self.day_start(from), self.day_start(next(to)?));
        let records = self.store.readings(start, end).await?;
        let step = self.step;
        let intervals = ((end - start).num_minutes() / i64::from(step)) as usize;
        let mut readings = Readings::empty(&self.plant, start, step, intervals);
        let n = records.len();
        for r in records {
            let n = &r.reading;
            let (Some(q), true) = (Quantity::parse(&n.quantity), n.interval_minutes == step) else { continue };
            let t = ((n.interval_start - start).num_minutes() / i64::from(step)) as usize;
            if let Some(slot) = readings.slot(q, &n.meter, t) {
                *slot = Some(n.value_wh);
            }
        }
        Ok((readings, n))
    }
}

/// How often the keeper looks for readings it was not told of (stored by another replica).
const KEEPER_POLL: std::time::Duration = std::time::Duration::from_secs(5);
/// How long the keeper lets a burst of readings settle before it builds.
const KEEPER_SETTLE: std::time::Duration = std::time::Duration::from_millis(250);

impl super::Service {
    /// Keeps the measured ledger built as readings arrive (told by every stored batch, and
    /// looking every few seconds for what other replicas stored), so that reads find it
    /// built and certificate streams hear of new days. Runs until shutdown.
    pub async fn keep_ledger(self: Arc<Self>) {
        loop {
            // The first pass (at once) learns what is built already: known, not news.
            if let Err(e) = self.ledger.keep().await {
                tracing::warn!(error = %e, "the measured ledger could not be brought up to date");
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = self.ledger.changed.notified() => {}
                () = tokio::time::sleep(KEEPER_POLL) => {}
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = tokio::time::sleep(KEEPER_SETTLE) => {}
            }
        }
    }
}

/// What the store holds of the ledger at one look.
struct Seen {
    first: NaiveDate,
    last: NaiveDate,
    marks: Vec<DirtyMark>,
    rows: Vec<LedgerDayRecord>,
}

/// What a build has to do.
struct Plan {
    /// Where the ledger begins and ends (local days of the first and last reading).
    first: NaiveDate,
    last: NaiveDate,
    /// Days marked or not built.
    stale: BTreeSet<NaiveDate>,
    /// The marks read.
    marks: Vec<DirtyMark>,
    basis: String,
}

fn build_ledger(plant: &Plant, readings: Readings, opening: StorageState) -> Result<Ledger, Error> {
    Ledger::build(plant, readings, opening)
        .map_err(|e| Error::FailedPrecondition(super::error::bounded(format!("the stored readings do not make a ledger:\n{e}"))))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("a built ledger day does not serialise: {e}")))
}

fn next(day: NaiveDate) -> Result<NaiveDate, Error> {
    day.checked_add_days(Days::new(1)).ok_or_else(|| Error::Internal(format!("no day after {day}")))
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_default()
}

/// Each park's totals by day, for one park.
pub(super) fn park_days(chain: &Chain, p: usize, to: NaiveDate) -> impl Iterator<Item = (NaiveDate, ParkDay)> + '_ {
    chain.days.iter().take_while(move |(d, _)| *d <= to).map(move |(d, parks)| (*d, parks.get(p).copied().unwrap_or_default()))
}
