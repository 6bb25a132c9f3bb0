//! `GreenShareService`: what share of a park's (or the plant's) power is green, by
//! interval and by day. A day is always the whole day: each interval from the latest
//! version that covers it, so after a re-plan the firm past of the earlier version is
//! stitched to the re-planned remainder (and each interval says which version it is).

use std::sync::Arc;

use chrono::NaiveDate;
use tonic::{Request, Response, Status};

use crate::domain::stitch::{stitch, Stitched};
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

    /// Every version of every day in the range that has one.
    async fn days(&self, from: &str, to: &str) -> Result<Vec<DayVersions>, Status> {
        let (from, to) = convert::day_range(from, to)?;
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            let versions = day_versions(&self.state, day).await?;
            if !versions.is_empty() {
                out.push(DayVersions { day, versions });
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

/// Every published version of one day, oldest first.
pub(crate) struct DayVersions {
    pub(crate) day: NaiveDate,
    pub(crate) versions: Vec<(ScheduleInfo, Schedule)>,
}

impl DayVersions {
    /// The latest version.
    pub(crate) fn latest(&self) -> Option<&(ScheduleInfo, Schedule)> {
        self.versions.last()
    }

    /// The whole day, stitched from the versions (`domain::stitch`).
    pub(crate) fn whole(&self, plant: &crate::domain::Plant) -> Result<Stitched, Status> {
        let list: Vec<(u32, &Schedule)> = self.versions.iter().map(|(i, s)| (i.version, s)).collect();
        stitch(plant, &list).ok_or_else(|| Status::internal("the day's schedule versions do not fit together"))
    }
}

/// The latest published schedule of a day, decoded; what every green-share reader (gRPC
/// and the web API) reads.
pub(crate) async fn latest_schedule(state: &AppState, day: NaiveDate) -> Result<Option<(ScheduleInfo, Schedule)>, Status> {
    let Some(r) = state.store.schedule(day, None).await.map_err(from_store)? else { return Ok(None) };
    let s = decode_schedule(&r.schedule_json)?;
    Ok(Some((r.info, s)))
}

/// A stored schedule read back (INTERNAL, without its text, if it cannot be).
pub(crate) fn decode_schedule(json: &str) -> Result<Schedule, Status> {
    serde_json::from_str(json).map_err(|_| Status::internal("a stored schedule could not be read"))
}

/// Every published version of a day, decoded, oldest first (empty when none).
pub(crate) async fn day_versions(state: &AppState, day: NaiveDate) -> Result<Vec<(ScheduleInfo, Schedule)>, Status> {
    let Some(latest) = latest_schedule(state, day).await? else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(latest.0.version as usize);
    for v in 1..latest.0.version {
        if let Some(r) = state.store.schedule(day, Some(v)).await.map_err(from_store)? {
            out.push((r.info, decode_schedule(&r.schedule_json)?));
        }
    }
    out.push(latest);
    Ok(out)
}

/// One whole day of a park's green share as `GetParkShare` reports it; `None` when the
/// day has no such park.
pub(crate) fn park_day(day: NaiveDate, version: u32, w: &Stitched, park: &str) -> Option<pb::DayShare> {
    let s = &w.schedule;
    let p = s.parks.iter().find(|p| p.name == park)?;
    let dt = s.dt_hours;
    let rows = (0..s.intervals.len())
        .map(|t| {
            let interrupted = (p.interrupted_mw[t] + p.curtailed_by_bids_mw[t]) * dt;
            (s.intervals[t], w.versions[t], p.served_mw[t] * dt, p.green_mwh[t], p.demand_mw[t] * dt, interrupted)
        })
        .collect();
    Some(day_share(day, version, rows, p.min_share))
}

/// One whole day of the plant's green share as `GetPlantShare` reports it.
pub(crate) fn plant_day(day: NaiveDate, version: u32, w: &Stitched) -> pb::DayShare {
    let s = &w.schedule;
    let dt = s.dt_hours;
    let rows = (0..s.intervals.len())
        .map(|t| {
            let demand: f64 = s.parks.iter().map(|p| p.demand_mw[t] * dt).sum();
            let interrupted: f64 = s.parks.iter().map(|p| (p.interrupted_mw[t] + p.curtailed_by_bids_mw[t]) * dt).sum();
            (s.intervals[t], w.versions[t], s.green[t].served_mwh, s.green[t].to_load_mwh, demand, interrupted)
        })
        .collect();
    day_share(day, version, rows, None)
}

/// One interval's figures before they are summed: (start, version, served, green,
/// demand, interrupted), MWh.
type Row = (chrono::DateTime<chrono::Utc>, u32, f64, f64, f64, f64);

/// A day from its rows: sums, the share of the sums, the versions used.
fn day_share(day: NaiveDate, version: u32, rows: Vec<Row>, min_share: Option<f64>) -> pb::DayShare {
    let (mut served, mut green, mut demand, mut interrupted) = (0.0, 0.0, 0.0, 0.0);
    let mut versions: Vec<u32> = Vec::new();
    let intervals = rows
        .into_iter()
        .map(|(at, v, s, g, dm, i)| {
            served += s;
            green += g;
            demand += dm;
            interrupted += i;
            if !versions.contains(&v) {
                versions.push(v);
            }
            pb::ShareInterval {
                start: Some(convert::timestamp(at)),
                served_mwh: s,
                green_mwh: g,
                share: if s > 0.0 { g / s } else { 0.0 },
                version: v,
                demand_mwh: dm,
                interrupted_mwh: i,
            }
        })
        .collect();
    versions.sort_unstable();
    pb::DayShare {
        day: day.to_string(),
        version,
        served_mwh: served,
        green_mwh: green,
        share: if served > 0.0 { green / served } else { 0.0 },
        certificates: (green + 1e-6).floor().max(0.0) as u64,
        min_share,
        intervals,
        demand_mwh: demand,
        interrupted_mwh: interrupted,
        versions,
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
        demand_mwh: days.iter().map(|d| d.demand_mwh).sum(),
        interrupted_mwh: days.iter().map(|d| d.interrupted_mwh).sum(),
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
            return Err(invalid(
                "park",
                format!("no park named {} in plant {}", crate::domain::limits::quote(&req.park), self.state.plant.name),
            ));
        }
        let mut days = Vec::new();
        for d in self.days(&req.from_day, &req.to_day).await? {
            let version = d.latest().map_or(0, |l| l.0.version);
            days.extend(park_day(d.day, version, &d.whole(&self.state.plant)?, &req.park));
        }
        Ok(Response::new(report(req.park, days)))
    }

    async fn get_plant_share(&self, request: Request<pb::PlantShareRequest>) -> Result<Response<pb::ShareReport>, Status> {
        if let Principal::Bot { .. } = principal(&request)? {
            return Err(Status::permission_denied("market bots may not read green shares"));
        }
        let req = request.into_inner();
        let mut days = Vec::new();
        for d in self.days(&req.from_day, &req.to_day).await? {
            let version = d.latest().map_or(0, |l| l.0.version);
            days.push(plant_day(d.day, version, &d.whole(&self.state.plant)?));
        }
        Ok(Response::new(report(self.state.plant.name.clone(), days)))
    }
}
