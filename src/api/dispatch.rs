//! `DispatchService`: day-ahead schedules and re-plans for grid operators, cleared with the
//! day's bids, published as versions with their exact inputs.

use std::pin::Pin;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::domain::{Bid, Forecast, Schedule};
use crate::model::Options;
use crate::store::{BidState, NewSchedule, ScheduleInfo, ScheduleRecord};

use super::auth::{principal, require_operator};
use super::convert;
use super::pb;
use super::pb::dispatch_service_server::DispatchService;
use super::state::{deadline, publish_stream, AppState, Published};
use super::status::{from_store, invalid};

/// Response header of SubmitDayAhead: `new` when this call cleared the day, `existing` when
/// it returns the day-ahead schedule an earlier call (on any replica) published.
pub const CLEARING_HEADER: &str = "vpp-clearing";

/// The dispatch service.
#[derive(Clone)]
pub struct DispatchApi {
    state: Arc<AppState>,
}

impl DispatchApi {
    /// Over the shared state.
    pub fn new(state: Arc<AppState>) -> DispatchApi {
        DispatchApi { state }
    }

    fn market_hours(&self) -> f64 {
        f64::from(self.state.market.interval_minutes) / 60.0
    }

    /// Reads a stored schedule back.
    fn decode(record: &ScheduleRecord) -> Result<Schedule, Status> {
        super::shares::decode_schedule(&record.schedule_json)
    }

    /// The active bids of `day`, split onto the forecast's intervals.
    async fn bids_for(&self, day: NaiveDate, fc: &Forecast) -> Result<Vec<Bid>, Status> {
        let records = self.state.store.bids_for_day(day, None).await.map_err(from_store)?;
        let h = fc.horizon(self.state.plant.tz());
        let per = self.state.market.interval_minutes / fc.interval_minutes.max(1);
        if !self.state.market.interval_minutes.is_multiple_of(fc.interval_minutes.max(1)) {
            return Err(invalid(
                "forecast.interval_minutes",
                format!("must divide the market interval of {} minutes", self.state.market.interval_minutes),
            ));
        }
        let mut out = Vec::new();
        for r in records.into_iter().filter(|r| r.state == BidState::Active) {
            let Some(k0) = h.index_of(r.bid.interval_start) else { continue };
            for j in 0..per as usize {
                if k0 + j >= h.len {
                    break;
                }
                out.push(Bid { id: convert::lp_bid_id(&r.bid.bot, &r.bid.id, j), interval_start: h.instant(k0 + j), ..r.bid.clone() });
            }
        }
        Ok(out)
    }

    /// Solves, stores and announces a schedule.
    async fn publish(
        &self,
        day: NaiveDate,
        forecast: Forecast,
        options: Options,
        replans_version: u32,
        deadline: Option<std::time::Duration>,
    ) -> Result<Response<pb::Schedule>, Status> {
        self.publish_with(day, forecast, options, replans_version, deadline, Vec::new()).await
    }

    /// Solves, appends the awards `carried` from the version re-planned (after the LP's own
    /// bids, in their order), stores and announces the schedule.
    async fn publish_with(
        &self,
        day: NaiveDate,
        forecast: Forecast,
        options: Options,
        replans_version: u32,
        deadline: Option<std::time::Duration>,
        carried: Vec<crate::domain::schedule::BidAward>,
    ) -> Result<Response<pb::Schedule>, Status> {
        let mut schedule = self.state.solve(forecast.clone(), options.clone(), deadline).await?;
        schedule.bids.extend(carried);
        let forecast_json = serde_json::to_string(&forecast).map_err(|_| Status::internal("cannot encode the forecast"))?;
        let options_json = serde_json::to_string(&options).map_err(|_| Status::internal("cannot encode the options"))?;
        let schedule_json = serde_json::to_string(&schedule).map_err(|_| Status::internal("cannot encode the schedule"))?;
        let info = self
            .state
            .store
            .publish_schedule(NewSchedule {
                day,
                published_at: Utc::now(),
                objective: options.objective.name().to_string(),
                green_share: schedule.totals.green_share,
                cost_yuan: schedule.totals.cost_yuan,
                replans_version,
                plant_toml: self.state.plant_toml.clone(),
                forecast_json,
                options_json,
                schedule_json,
            })
            .await
            .map_err(from_store)?;
        tracing::info!(%day, version = info.version, share = info.green_share, cost = info.cost_yuan, "schedule published");
        let reply = convert::schedule(&info, &schedule, self.market_hours());
        let _ = self.state.published.send(Published { info, schedule: Arc::new(schedule) });
        Ok(Response::new(reply))
    }

    /// The reply to a SubmitDayAhead for a day already cleared: its day-ahead schedule.
    fn already_cleared(&self, existing: &ScheduleRecord) -> Result<Response<pb::Schedule>, Status> {
        tracing::info!(day = %existing.info.day, version = existing.info.version, "day already cleared; returning its day-ahead schedule");
        let schedule = Self::decode(existing)?;
        let mut reply = Response::new(convert::schedule(&existing.info, &schedule, self.market_hours()));
        reply.metadata_mut().insert(CLEARING_HEADER, tonic::metadata::MetadataValue::from_static("existing"));
        Ok(reply)
    }

    async fn record(&self, day: &str, version: u32) -> Result<ScheduleRecord, Status> {
        let day = convert::day(day, "delivery_day")?;
        let version = (version > 0).then_some(version);
        self.state.store.schedule(day, version).await.map_err(from_store)?.ok_or_else(|| match version {
            Some(v) => Status::not_found(format!("no schedule version {v} for {day}")),
            None => Status::not_found(format!("no schedule published for {day}")),
        })
    }
}

type InfoStream = Pin<Box<dyn Stream<Item = Result<pb::ScheduleInfo, Status>> + Send>>;

#[tonic::async_trait]
impl DispatchService for DispatchApi {
    async fn submit_day_ahead(&self, request: Request<pb::SubmitDayAheadRequest>) -> Result<Response<pb::Schedule>, Status> {
        require_operator(&principal(&request)?)?;
        let deadline = deadline(&request);
        let req = request.into_inner();
        let day = convert::day(&req.delivery_day, "delivery_day")?;
        let mut forecast = convert::forecast(req.forecast.ok_or_else(|| invalid("forecast", "is required"))?)?;
        let (start, end) = (self.state.day_start(day), self.state.day_start(day + chrono::Days::new(1)));
        let h = forecast.horizon(self.state.plant.tz());
        if forecast.start != start || forecast.interval_minutes == 0 || h.end() != end {
            return Err(invalid(
                "forecast",
                format!("must cover exactly the delivery day {day}: {} .. {}", start.to_rfc3339(), end.to_rfc3339()),
            ));
        }
        let options = convert::options(req.options)?;
        // One clearing per day, whichever replica is asked: wait for the day's lock, then
        // return the day-ahead schedule if one was published meanwhile (by any replica).
        let lock = self.state.store.lock_clearing(day).await.map_err(from_store)?;
        let cleared = async {
            if let Some(existing) = self.state.store.day_ahead(day).await.map_err(from_store)? {
                return self.already_cleared(&existing);
            }
            forecast.bids = self.bids_for(day, &forecast).await?;
            match self.publish(day, forecast, options, 0, deadline).await {
                Err(e) if e.code() == tonic::Code::AlreadyExists => {
                    // Published by another replica after all (its lock was lost with its
                    // session); the database kept one.
                    let existing = self.state.store.day_ahead(day).await.map_err(from_store)?;
                    existing.map_or(Err(e), |r| self.already_cleared(&r))
                }
                other => other.map(|mut r| {
                    r.metadata_mut().insert(CLEARING_HEADER, tonic::metadata::MetadataValue::from_static("new"));
                    r
                }),
            }
        }
        .await;
        lock.release().await;
        cleared
    }

    async fn replan(&self, request: Request<pb::ReplanRequest>) -> Result<Response<pb::Schedule>, Status> {
        require_operator(&principal(&request)?)?;
        let deadline = deadline(&request);
        let req = request.into_inner();
        let latest = self.record(&req.delivery_day, 0).await.map_err(|e| {
            if e.code() == tonic::Code::NotFound {
                Status::failed_precondition(format!("{}; publish a day-ahead schedule before re-planning", e.message()))
            } else {
                e
            }
        })?;
        let day = latest.info.day;
        let stored: Forecast =
            serde_json::from_str(&latest.forecast_json).map_err(|_| Status::internal("a stored forecast could not be read"))?;
        let schedule = Self::decode(&latest)?;
        let from = convert::instant(req.from.as_ref(), "from")?;
        let h = stored.horizon(self.state.plant.tz());
        let k = h
            .index_of(from)
            .ok_or_else(|| invalid("from", format!("{} is not the start of an interval of the {day} schedule", from.to_rfc3339())))?;
        let mut options = convert::options(req.options)?;
        // Storage levels at `from`: given, or the latest schedule's; the day ends where the
        // latest schedule ended it.
        for st in &schedule.storages {
            options
                .initial
                .insert(st.name.clone(), crate::model::StorageLevel { green_mwh: st.energy_green_mwh[k], grey_mwh: st.energy_grey_mwh[k] });
            let end = st.energy_green_mwh[h.len] + st.energy_grey_mwh[h.len];
            options.end_energy_mwh.insert(st.name.clone(), end);
        }
        for (name, level) in convert::levels(req.levels) {
            if !options.initial.contains_key(&name) {
                return Err(invalid(&format!("levels.{name}"), "no storage of that name in the plant"));
            }
            options.initial.insert(name, level);
        }
        let mut forecast = match req.forecast {
            Some(f) => convert::forecast(f)?,
            None => cut(&stored, k),
        };
        if forecast.start != from || forecast.horizon(self.state.plant.tz()).end() != h.end() {
            return Err(invalid("forecast", format!("must cover {} .. {}", from.to_rfc3339(), h.end().to_rfc3339())));
        }
        // Awards already made are firm for the rest of the day: their quantity and the
        // price they were awarded at. Every other bid of the day is carried into the new
        // version as it stands (the past is settled; a bid that won nothing stays out of
        // the money: the market cleared at gate closure), so every version lists every bid.
        let mut carried = Vec::new();
        let mut firm = Vec::new();
        for (a, b) in schedule.bids.iter().zip(&stored.bids).filter(|(a, b)| a.id == b.id) {
            if a.interval >= k && a.accepted_mw > 1e-9 {
                firm.push(Bid { quantity_mw: a.accepted_mw, firm: true, award_price: Some(a.clearing_price), ..b.clone() });
            } else {
                let interval_start = a.interval_start.or_else(|| schedule.intervals.get(a.interval).copied());
                carried.push(crate::domain::schedule::BidAward { interval_start, firm: a.firm || a.accepted_mw > 1e-9, ..a.clone() });
            }
        }
        // Awards carried into the latest version by earlier re-plans (beyond its LP bids).
        for a in schedule.bids.iter().skip(stored.bids.len()) {
            carried.push(a.clone());
        }
        forecast.bids = firm;
        self.publish_with(day, forecast, options, latest.info.version, deadline, carried).await
    }

    async fn get_schedule(&self, request: Request<pb::GetScheduleRequest>) -> Result<Response<pb::Schedule>, Status> {
        require_operator(&principal(&request)?)?;
        let req = request.into_inner();
        let record = self.record(&req.delivery_day, req.version).await?;
        let schedule = Self::decode(&record)?;
        Ok(Response::new(convert::schedule(&record.info, &schedule, self.market_hours())))
    }

    async fn get_schedule_inputs(&self, request: Request<pb::GetScheduleRequest>) -> Result<Response<pb::ScheduleInputs>, Status> {
        require_operator(&principal(&request)?)?;
        let req = request.into_inner();
        let record = self.record(&req.delivery_day, req.version).await?;
        let schedule = Self::decode(&record)?;
        Ok(Response::new(pb::ScheduleInputs {
            info: Some(convert::info(&record.info, &schedule)),
            plant_toml: record.plant_toml,
            forecast_json: record.forecast_json,
            options_json: record.options_json,
        }))
    }

    async fn list_schedules(&self, request: Request<pb::ListSchedulesRequest>) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        require_operator(&principal(&request)?)?;
        let req = request.into_inner();
        let (from, to) = convert::day_range(&req.from_day, &req.to_day)?;
        let infos = self.state.store.list_schedules(from, to).await.map_err(from_store)?;
        let mut schedules = Vec::with_capacity(infos.len());
        for i in infos {
            schedules.push(self.info_of(&i).await?);
        }
        Ok(Response::new(pb::ListSchedulesResponse { schedules }))
    }

    type StreamSchedulesStream = InfoStream;

    async fn stream_schedules(&self, request: Request<pb::StreamSchedulesRequest>) -> Result<Response<InfoStream>, Status> {
        require_operator(&principal(&request)?)?;
        let req = request.into_inner();
        let (from, to) = convert::day_range(&req.from_day, &req.to_day)?;
        // Subscribe before listing: what is published in between is announced, and what the
        // list already holds is not sent twice.
        let events = self.state.published.subscribe();
        let mut existing = Vec::new();
        let mut listed = std::collections::HashSet::new();
        for i in self.state.store.list_schedules(from, to).await.map_err(from_store)? {
            listed.insert((i.day, i.version));
            existing.push(self.info_of(&i).await?);
        }
        let stream = publish_stream(&self.state, events, existing, move |p| {
            if (from..=to).contains(&p.info.day) && !listed.contains(&(p.info.day, p.info.version)) {
                vec![convert::info(&p.info, &p.schedule)]
            } else {
                Vec::new()
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

impl DispatchApi {
    async fn info_of(&self, i: &ScheduleInfo) -> Result<pb::ScheduleInfo, Status> {
        let record = self.state.store.schedule(i.day, Some(i.version)).await.map_err(from_store)?;
        let record = record.ok_or_else(|| Status::internal("a listed schedule vanished"))?;
        Ok(convert::info(i, &Self::decode(&record)?))
    }
}

/// The forecast from interval `k` on.
fn cut(f: &Forecast, k: usize) -> Forecast {
    let tail = |m: &std::collections::BTreeMap<String, Vec<f64>>| m.iter().map(|(n, v)| (n.clone(), v[k..].to_vec())).collect();
    Forecast {
        description: format!("{} (from interval {k})", f.description),
        start: f.horizon(chrono_tz::Tz::UTC).instant(k),
        interval_minutes: f.interval_minutes,
        intervals: f.intervals - k,
        availability: tail(&f.availability),
        demand_mw: tail(&f.demand_mw),
        inflow_mwh: tail(&f.inflow_mwh),
        interruptible_mw: tail(&f.interruptible_mw),
        import_price: tail(&f.import_price),
        bids: Vec::new(),
    }
}
