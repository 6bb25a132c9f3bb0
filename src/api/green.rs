//! `GreenShareService`: what share of a park's (or the plant's) power is green, by
//! interval and by day, from the latest published schedule of each day.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::domain::Schedule;

use super::auth::{principal, Principal};
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
            if let Some(r) = self.state.store.schedule(day, None).await.map_err(from_store)? {
                let s: Schedule = serde_json::from_str(&r.schedule_json).map_err(|_| Status::internal("a stored schedule could not be read"))?;
                out.push((r.info.version, day, s));
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
        match &who {
            Principal::Operator { .. } => {}
            Principal::ParkManager { park } if *park == req.park => {}
            Principal::ParkManager { .. } => {
                return Err(Status::permission_denied("park managers may read only their own park"));
            }
            Principal::Bot { .. } => return Err(Status::permission_denied("market bots may not read green shares")),
        }
        if !self.state.plant.parks.iter().any(|p| p.name == req.park) {
            return Err(invalid("park", format!("no park named '{}' in plant {}", req.park, self.state.plant.name)));
        }
        let mut days = Vec::new();
        for (version, day, s) in self.schedules(&req.from_day, &req.to_day).await? {
            let Some(p) = s.parks.iter().find(|p| p.name == req.park) else { continue };
            let intervals = (0..s.intervals.len())
                .map(|t| pb::ShareInterval {
                    start: Some(convert::timestamp(s.intervals[t])),
                    served_mwh: p.served_mw[t] * s.dt_hours,
                    green_mwh: p.green_mwh[t],
                    share: p.share[t],
                })
                .collect();
            days.push(pb::DayShare {
                day: day.to_string(),
                version,
                served_mwh: p.served_mwh,
                green_mwh: p.green_total_mwh,
                share: p.share_total,
                certificates: (p.green_total_mwh + 1e-6).floor().max(0.0) as u64,
                min_share: p.min_share,
                intervals,
            });
        }
        Ok(Response::new(report(req.park, days)))
    }

    async fn get_plant_share(&self, request: Request<pb::PlantShareRequest>) -> Result<Response<pb::ShareReport>, Status> {
        if let Principal::Bot { .. } = principal(&request)? {
            return Err(Status::permission_denied("market bots may not read green shares"));
        }
        let req = request.into_inner();
        let mut days = Vec::new();
        for (version, day, s) in self.schedules(&req.from_day, &req.to_day).await? {
            let intervals = (0..s.intervals.len())
                .map(|t| pb::ShareInterval {
                    start: Some(convert::timestamp(s.intervals[t])),
                    served_mwh: s.green[t].served_mwh,
                    green_mwh: s.green[t].to_load_mwh,
                    share: s.green[t].share,
                })
                .collect();
            days.push(pb::DayShare {
                day: day.to_string(),
                version,
                served_mwh: s.totals.served_mwh,
                green_mwh: s.totals.green_mwh,
                share: s.totals.green_share,
                certificates: s.totals.certificates,
                min_share: None,
                intervals,
            });
        }
        Ok(Response::new(report(self.state.plant.name.clone(), days)))
    }
}
