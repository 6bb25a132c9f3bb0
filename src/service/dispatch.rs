//! Operators' work: clearing a day-ahead with the day's bids under the day's clearing
//! lock, re-plans from measured storage levels, and the published schedules with their
//! exact inputs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::schedule::BidAward;
use crate::domain::stitch::Stitched;
use crate::domain::stochastic::Commitment;
use crate::domain::{Bid, Forecast, Schedule};
use crate::model::{self, Options, StorageLevel};
use crate::store::{BidState, NewSchedule, ScheduleInfo, ScheduleRecord, StoreError};

use super::{decode_schedule, Error, Published, Service, Stream};

/// What operators may do (from [`Service::operator`]).
pub struct Operator<'a> {
    pub(super) svc: &'a Service,
}

/// The answer to a day-ahead: the day's day-ahead schedule, and whether this call cleared
/// it (`new`) or an earlier call on any replica had.
#[derive(Debug)]
pub struct Cleared {
    /// The schedule published.
    pub published: Published,
    /// This call cleared the day.
    pub new: bool,
}

/// How a version of a day is solved.
#[derive(Debug, Clone)]
enum Plan {
    /// On the point forecast ([`model::solve`]).
    Deterministic,
    /// Over the forecast's scenarios, then held on the point forecast
    /// ([`model::commit_day_ahead`]), with this imbalance premium, yuan/MWh.
    Stochastic(f64),
    /// A re-plan of a committed day, holding its commitment ([`model::replan_committed`]).
    Held(Box<Commitment>),
}

/// A re-plan of a published day from an interval on.
#[derive(Debug, Clone)]
pub struct Replan {
    /// The delivery day (its latest version is re-planned).
    pub day: String,
    /// The first interval re-planned.
    pub from: DateTime<Utc>,
    /// The updated forecast from `from` to the day's end; `None` keeps the stored one.
    pub forecast: Option<Forecast>,
    /// Solve options.
    pub options: Options,
    /// Measured storage levels at `from`; storages not named keep the latest schedule's.
    pub levels: BTreeMap<String, StorageLevel>,
}

/// A published schedule and the exact inputs it was solved from.
#[derive(Debug)]
pub struct ScheduleInputs {
    /// Its identity.
    pub info: ScheduleInfo,
    /// The schedule.
    pub schedule: Schedule,
    /// The plant file text.
    pub plant_toml: String,
    /// The forecast (with the bids cleared), JSON.
    pub forecast_json: String,
    /// The options, JSON.
    pub options_json: String,
}

impl Operator<'_> {
    /// Clears `day`: one clearing per day, whichever replica is asked. Waits for the day's
    /// lock, then returns the day-ahead schedule if one was published meanwhile (by any
    /// replica); otherwise solves with the day's active bids and publishes version 1.
    /// With `stochastic` (an imbalance premium, yuan/MWh) the day is planned over the
    /// forecast's scenarios and committed: the schedule published is that plan's first
    /// stage held on the point forecast, and every re-plan of the day holds it too.
    pub async fn clear_day_ahead(
        &self,
        day: &str,
        forecast: Forecast,
        options: Options,
        stochastic: Option<f64>,
        deadline: Option<Duration>,
    ) -> Result<Cleared, Error> {
        let svc = self.svc;
        let day = super::day(day, "delivery_day")?;
        let (start, end) = (svc.day_start(day), svc.day_start(day + chrono::Days::new(1)));
        let h = forecast.horizon(svc.plant.tz());
        if forecast.start != start || forecast.interval_minutes == 0 || h.end() != end {
            return Err(Error::invalid(
                "forecast",
                format!("must cover exactly the delivery day {day}: {} .. {}", start.to_rfc3339(), end.to_rfc3339()),
            ));
        }
        let plan = match stochastic {
            Some(_) if forecast.scenarios.is_empty() && forecast.quantiles.is_none() => {
                return Err(Error::invalid("forecast.scenarios", "a stochastic day-ahead needs scenarios or quantiles in the forecast"));
            }
            Some(premium) => Plan::Stochastic(premium),
            None => Plan::Deterministic,
        };
        let lock = svc.store.lock_clearing(day).await?;
        let cleared = async {
            if let Some(existing) = svc.store.day_ahead(day).await? {
                return already_cleared(&existing);
            }
            let mut forecast = forecast;
            forecast.bids = self.bids_for(day, &forecast).await?;
            match self.publish(day, forecast, options, plan, 0, deadline, Vec::new()).await {
                Err(PublishError::Exists(e)) => {
                    // Published by another replica after all (its lock was lost with its
                    // session); the database kept one.
                    let existing = svc.store.day_ahead(day).await?;
                    existing.map_or(Err(Error::from(e)), |r| already_cleared(&r))
                }
                Err(PublishError::Other(e)) => Err(e),
                Ok(published) => Ok(Cleared { published, new: true }),
            }
        }
        .await;
        lock.release().await;
        cleared
    }

    /// Re-plans the latest version of a day from an interval on: storage levels at `from`
    /// are the measured ones given, or the latest schedule's; the day ends where the latest
    /// schedule ended it; awards already made stay firm at their quantity and price.
    pub async fn replan(&self, r: Replan, deadline: Option<Duration>) -> Result<Published, Error> {
        let svc = self.svc;
        let day = super::day(&r.day, "delivery_day")?;
        let latest = svc.store.schedule(day, None).await?.ok_or_else(|| {
            Error::FailedPrecondition(format!("no schedule published for {day}; publish a day-ahead schedule before re-planning"))
        })?;
        let stored: Forecast =
            serde_json::from_str(&latest.forecast_json).map_err(|_| Error::Internal("a stored forecast could not be read".into()))?;
        let schedule = decode_schedule(&latest.schedule_json)?;
        let plan = schedule.commitment.clone().map_or(Plan::Deterministic, |c| Plan::Held(Box::new(c)));
        let h = stored.horizon(svc.plant.tz());
        let from = r.from;
        let k = h.index_of(from).ok_or_else(|| {
            Error::invalid("from", format!("{} is not the start of an interval of the {day} schedule", from.to_rfc3339()))
        })?;
        let mut options = r.options.replanning(&svc.plant, &schedule, k);
        for (name, level) in r.levels {
            if !options.initial.contains_key(&name) {
                return Err(Error::invalid(&format!("levels.{name}"), "no storage of that name in the plant"));
            }
            options.initial.insert(name, level);
        }
        let mut forecast = r.forecast.unwrap_or_else(|| {
            let rest = stored.window(k, h.len - k);
            Forecast { description: format!("{} (from interval {k})", stored.description), ..rest }
        });
        if forecast.start != from || forecast.horizon(svc.plant.tz()).end() != h.end() {
            return Err(Error::invalid("forecast", format!("must cover {} .. {}", from.to_rfc3339(), h.end().to_rfc3339())));
        }
        // Awards already made are firm for the rest of the day: their quantity and the
        // price they were awarded at. Every other bid of the day is carried into the new
        // version as it stands (the past is settled; a bid that won nothing stays out of
        // the money: the market cleared at gate closure), so every version lists every bid.
        let mut carried = Vec::new();
        let mut firm = Vec::new();
        for (a, b) in schedule.bids.iter().zip(&stored.bids).filter(|(a, b)| a.id == b.id && a.bot == b.bot) {
            if a.interval >= k && a.accepted_mw > 1e-9 {
                firm.push(Bid { quantity_mw: a.accepted_mw, firm: true, award_price: Some(a.clearing_price), ..b.clone() });
            } else {
                let interval_start = a.interval_start.or_else(|| schedule.intervals.get(a.interval).copied());
                carried.push(BidAward { interval_start, firm: a.firm || a.accepted_mw > 1e-9, ..a.clone() });
            }
        }
        // Awards carried into the latest version by earlier re-plans (beyond its LP bids).
        carried.extend(schedule.bids.iter().skip(stored.bids.len()).cloned());
        forecast.bids = firm;
        self.publish(day, forecast, options, plan, latest.info.version, deadline, carried).await.map_err(Error::from)
    }

    /// A version of a day's schedule (the latest when `version` is `None`), or NOT_FOUND.
    pub async fn schedule(&self, day: &str, version: Option<u32>) -> Result<(ScheduleInfo, Schedule), Error> {
        let r = self.record(day, version).await?;
        let s = decode_schedule(&r.schedule_json)?;
        Ok((r.info, s))
    }

    /// A version of a day's schedule with the exact inputs it was solved from.
    pub async fn inputs(&self, day: &str, version: Option<u32>) -> Result<ScheduleInputs, Error> {
        let r = self.record(day, version).await?;
        let schedule = decode_schedule(&r.schedule_json)?;
        Ok(ScheduleInputs {
            info: r.info,
            schedule,
            plant_toml: r.plant_toml,
            forecast_json: r.forecast_json,
            options_json: r.options_json,
        })
    }

    /// Every version of every day in a range, oldest first.
    pub async fn list(&self, from_day: &str, to_day: &str) -> Result<Vec<(ScheduleInfo, Schedule)>, Error> {
        let (from, to) = super::day_range(from_day, to_day)?;
        let mut out = Vec::new();
        for i in self.svc.store.list_schedules(from, to).await? {
            out.push(self.with_schedule(i).await?);
        }
        Ok(out)
    }

    /// Every version in a range, then each one published later (on any replica) while the
    /// stream is open.
    pub async fn watch(&self, from_day: &str, to_day: &str) -> Result<Stream<(ScheduleInfo, Arc<Schedule>)>, Error> {
        let (from, to) = super::day_range(from_day, to_day)?;
        // Subscribe before listing: what is published in between is announced, and what the
        // list already holds is not sent twice.
        let events = self.svc.subscribe();
        let mut existing = Vec::new();
        let mut listed = std::collections::HashSet::new();
        for i in self.svc.store.list_schedules(from, to).await? {
            listed.insert((i.day, i.version));
            let (info, s) = self.with_schedule(i).await?;
            existing.push((info, Arc::new(s)));
        }
        Ok(self.svc.stream(events, existing, move |p| {
            if (from..=to).contains(&p.info.day) && !listed.contains(&(p.info.day, p.info.version)) {
                vec![(p.info.clone(), p.schedule.clone())]
            } else {
                Vec::new()
            }
        }))
    }

    /// The whole day (every version stitched) with its latest version's record: what the
    /// page's plant view and the set-points file show.
    pub async fn whole_day(&self, day: &str) -> Result<(NaiveDate, ScheduleInfo, Stitched), Error> {
        self.svc.whole_day(day).await
    }

    async fn with_schedule(&self, i: ScheduleInfo) -> Result<(ScheduleInfo, Schedule), Error> {
        let record = self.svc.store.schedule(i.day, Some(i.version)).await?;
        let record = record.ok_or_else(|| Error::Internal("a listed schedule vanished".into()))?;
        Ok((i, decode_schedule(&record.schedule_json)?))
    }

    async fn record(&self, day: &str, version: Option<u32>) -> Result<ScheduleRecord, Error> {
        let day = super::day(day, "delivery_day")?;
        let version = version.filter(|v| *v > 0);
        self.svc.store.schedule(day, version).await?.ok_or_else(|| match version {
            Some(v) => Error::NotFound(format!("no schedule version {v} for {day}")),
            None => Error::NotFound(format!("no schedule published for {day}")),
        })
    }

    /// The active bids of `day`, split onto the forecast's intervals. Each part keeps its
    /// bid's identity (bot, id); it is told from its siblings by its interval.
    async fn bids_for(&self, day: NaiveDate, fc: &Forecast) -> Result<Vec<Bid>, Error> {
        let svc = self.svc;
        let step = fc.interval_minutes.max(1);
        if !svc.market.interval_minutes.is_multiple_of(step) {
            return Err(Error::invalid(
                "forecast.interval_minutes",
                format!("must divide the market interval of {} minutes", svc.market.interval_minutes),
            ));
        }
        let records = svc.store.bids_for_day(day, None).await?;
        let h = fc.horizon(svc.plant.tz());
        let per = (svc.market.interval_minutes / step) as usize;
        let mut out = Vec::new();
        for r in records.into_iter().filter(|r| r.state == BidState::Active) {
            let Some(k0) = h.index_of(r.bid.interval_start) else { continue };
            for k in (k0..k0 + per).take_while(|k| *k < h.len) {
                out.push(Bid { interval_start: h.instant(k), ..r.bid.clone() });
            }
        }
        Ok(out)
    }

    /// Solves as `plan` says, appends the awards `carried` from the version re-planned
    /// (after the LP's own bids, in their order), stores and announces the schedule.
    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &self,
        day: NaiveDate,
        forecast: Forecast,
        options: Options,
        plan: Plan,
        replans_version: u32,
        deadline: Option<Duration>,
        carried: Vec<BidAward>,
    ) -> Result<Published, PublishError> {
        let svc = self.svc;
        let fc = forecast.clone();
        let mut schedule = match plan {
            Plan::Deterministic => {
                let mut s = svc.solve(fc, options.clone(), deadline).await?;
                let outcomes = forecast.scenarios.len() + if forecast.quantiles.is_some() { 3 } else { 0 };
                if outcomes > 0 {
                    s.warnings.push(format!(
                        "forecast: planned on the point forecast alone; its {outcomes} scenarios were not used (a stochastic day-ahead plans over them)"
                    ));
                }
                s
            }
            Plan::Stochastic(premium) => {
                svc.solve_with(options.clone(), deadline, move |p, o| model::commit_day_ahead(p, &fc, o, premium)).await?
            }
            Plan::Held(c) => svc.solve_with(options.clone(), deadline, move |p, o| model::replan_committed(p, &fc, o, &c)).await?,
        };
        schedule.bids.extend(carried);
        let encode = |what: &str, r: serde_json::Result<String>| r.map_err(|_| Error::Internal(format!("cannot encode the {what}")));
        let forecast_json = encode("forecast", serde_json::to_string(&forecast))?;
        let options_json = encode("options", serde_json::to_string(&options))?;
        let schedule_json = encode("schedule", serde_json::to_string(&schedule))?;
        let info = svc
            .store
            .publish_schedule(NewSchedule {
                day,
                published_at: Utc::now(),
                objective: options.objective.name().to_string(),
                green_share: schedule.totals.green_share,
                cost_yuan: schedule.totals.cost_yuan,
                replans_version,
                plant_toml: svc.plant_toml.clone(),
                forecast_json,
                options_json,
                schedule_json,
            })
            .await
            .map_err(|e| match e {
                e @ StoreError::DayAheadExists { .. } => PublishError::Exists(e),
                e => PublishError::Other(e.into()),
            })?;
        tracing::info!(%day, version = info.version, share = info.green_share, cost = info.cost_yuan, "schedule published");
        let published = Published { info, schedule: Arc::new(schedule) };
        let _ = svc.published.send(published.clone());
        Ok(published)
    }
}

/// Why publishing failed: the store already holds the day-ahead schedule (a replica won the
/// race), or anything else.
#[derive(Debug)]
enum PublishError {
    Exists(StoreError),
    Other(Error),
}

impl From<Error> for PublishError {
    fn from(e: Error) -> Self {
        PublishError::Other(e)
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Error {
        match e {
            PublishError::Exists(e) => e.into(),
            PublishError::Other(e) => e,
        }
    }
}

/// The answer for a day already cleared: its day-ahead schedule.
fn already_cleared(existing: &ScheduleRecord) -> Result<Cleared, Error> {
    tracing::info!(day = %existing.info.day, version = existing.info.version, "day already cleared; returning its day-ahead schedule");
    let schedule = decode_schedule(&existing.schedule_json)?;
    Ok(Cleared { published: Published { info: existing.info.clone(), schedule: Arc::new(schedule) }, new: false })
}
