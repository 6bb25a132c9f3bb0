//! `GreenShareService`: what share of a park's (or the plant's) power is green, by
//! interval and by day, from the latest published schedule of each day.

use std::sync::Arc;

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use crate::domain::Schedule;
use crate::store::ScheduleInfo;

use super::auth::{may_read_park, principal, Principal};
use super::convert;
use super::pb;
use super::pb::green_share_service_server::GreenShareService;
use super::state::AppState;
use super::status::{from_store, invalid};

/// The green-share service.
#[derive(Clone)]
pub struct GreenApi {
    state: Arc<AppState>,
}

impl GreenApi {
    /// Over the shared state.
    pub fn new(state: Arc<AppState>) -> GreenApi {
        GreenApi { state }
    }

    /// The latest schedule of every day in the range that has one.
    async fn schedules(&self, from: &str, to: &str) -> Result<Vec<(u32, chrono::NaiveDate, Schedule)>, Status> {
        let (from, to) = convert::day_range(from, to)?;
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            if let Some((info, s)) = latest_schedule(&self.state, day).await? {
                out.push((info.version, day, s));
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        if out.is_empty() {
            return Err(Status::not_found(format!("no schedule published for {from} .. {to}")));
        }
        Ok(out)
    }
}

/// The latest published schedule of a day, decoded; what every green-share reader (gRPC
/// and the web API) reads.
pub(crate) async fn latest_schedule(state: &AppState, day: NaiveDate) -> Result<Option<(ScheduleInfo, Schedule)>, Status> {
    let Some(r) = state.store.schedule(day, None).await.map_err(from_store)? else { return Ok(None) };
    let s: Schedule = serde_json::from_str(&r.schedule_json).map_err(|_| Status::internal("a stored schedule could not be read"))?;
    Ok(Some((r.info, s)))
}

/// One day of a park's green share as `GetParkShare` reports it; `None` when the schedule
/// has no such park.
pub(crate) fn park_day(version: u32, day: NaiveDate, s: &Schedule, park: &str) -> Option<pb::DayShare> {
    let p = s.parks.iter().find(|p| p.name == park)?;
    let intervals = (0..s.intervals.len())
        .map(|t| pb::ShareInterval {
            start: Some(convert::timestamp(s.intervals[t])),
            served_mwh: p.served_mw[t] * s.dt_hours,
            green_mwh: p.green_mwh[t],
            share: p.share[t],
        })
        .collect();
    Some(pb::DayShare {
        day: day.to_string(),
        version,
        served_mwh: p.served_mwh,
        green_mwh: p.green_total_mwh,
        share: p.share_total,
        certificates: (p.green_total_mwh + 1e-6).floor().max(0.0) as u64,
        min_share: p.min_share,
        intervals,
    })
}

/// One day of the plant's green share as `GetPlantShare` reports it.
pub(crate) fn plant_day(version: u32, day: NaiveDate, s: &Schedule) -> pb::DayShare {
    let intervals = (0..s.intervals.len())
        .map(|t| pb::ShareInterval {
            start: Some(convert::timestamp(s.intervals[t])),
            served_mwh: s.green[t].served_mwh,
            green_mwh: s.green[t].to_load_mwh,
            share: s.green[t].share,
        })
        .collect();
    pb::DayShare {
        day: day.to_string(),
        version,
        served_mwh: s.totals.served_mwh,
        green_mwh: s.totals.green_mwh,
        share: s.totals.green_share,
        certificates: s.totals.certificates,
        min_share: None,
        intervals,
    }
}

fn report(subject: String, days: Vec<pb::DayShare>) -> pb::ShareReport {
    let served: f64 = days.iter().map(|d| d.served_mwh).sum();
    let green: f64 = days.iter().map(|d| d.green_mwh).sum();
    pb::ShareReport {
        subject,
        served_mwh: served,
        green_mwh: green,
        share: if served > 0.0 { green / served } else { 0.0 },
        certificates: (green + 1e-6).floor().max(0.0) as u64,
        days,
    }
}

#[tonic::async_trait]
impl GreenShareService for GreenApi {
    async fn get_park_share(&self, request: Request<pb::ParkShareRequest>) -> Result<Response<pb::ShareReport>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        may_read_park(&who, &req.park)?;
        if !self.state.plant.parks.iter().any(|p| p.name == req.park) {
            return Err(invalid("park", format!("no park named {} in plant {}", crate::domain::limits::quote(&req.park), self.state.plant.name)));
        }
        let days = self
            .schedules(&req.from_day, &req.to_day)
            .await?
            .into_iter()
            .filter_map(|(version, day, s)| park_day(version, day, &s, &req.park))
            .collect();
        Ok(Response::new(report(req.park, days)))
    }

    async fn get_plant_share(&self, request: Request<pb::PlantShareRequest>) -> Result<Response<pb::ShareReport>, Status> {
        if let Principal::Bot { .. } = principal(&request)? {
            return Err(Status::permission_denied("market bots may not read green shares"));
        }
        let req = request.into_inner();
        let days = self.schedules(&req.from_day, &req.to_day).await?.into_iter().map(|(version, day, s)| plant_day(version, day, &s)).collect();
        Ok(Response::new(report(self.state.plant.name.clone(), days)))
    }
}
