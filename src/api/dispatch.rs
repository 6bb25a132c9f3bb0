//! `DispatchService`: a thin adapter over the service's operator view (clearing,
//! re-plans, schedules).

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::service::{Replan, Service};

use super::auth::principal;
use super::convert;
use super::pb;
use super::pb::dispatch_service_server::DispatchService;
use super::status::invalid;

/// Response header of SubmitDayAhead: `new` when this call cleared the day, `existing` when
/// it returns the day-ahead schedule an earlier call (on any replica) published.
pub const CLEARING_HEADER: &str = "vpp-clearing";

/// The dispatch service.
#[derive(Clone)]
pub struct DispatchApi {
    svc: Arc<Service>,
}

impl DispatchApi {
    /// Over the service.
    pub fn new(svc: Arc<Service>) -> DispatchApi {
        DispatchApi { svc }
    }

    fn market_hours(&self) -> f64 {
        self.svc.market().interval_hours()
    }
}

type InfoStream = Pin<Box<dyn Stream<Item = Result<pb::ScheduleInfo, Status>> + Send>>;

#[tonic::async_trait]
impl DispatchService for DispatchApi {
    async fn submit_day_ahead(&self, request: Request<pb::SubmitDayAheadRequest>) -> Result<Response<pb::Schedule>, Status> {
        let who = principal(&request)?;
        let op = self.svc.operator(&who, "clear a day-ahead")?;
        let deadline = super::deadline(&request);
        let req = request.into_inner();
        let forecast = convert::forecast(req.forecast.ok_or_else(|| invalid("forecast", "is required"))?)?;
        let mut options = convert::options(req.options)?;
        let stochastic = convert::stochastic(req.stochastic)?.map(|(premium, risk)| {
            options.risk = risk;
            premium
        });
        let cleared = op.clear_day_ahead(&req.delivery_day, forecast, options, stochastic, deadline).await?;
        let p = &cleared.published;
        let mut reply = Response::new(convert::schedule(&p.info, &p.schedule, self.market_hours()));
        let how = if cleared.new { "new" } else { "existing" };
        reply.metadata_mut().insert(CLEARING_HEADER, tonic::metadata::MetadataValue::from_static(how));
        Ok(reply)
    }

    async fn replan(&self, request: Request<pb::ReplanRequest>) -> Result<Response<pb::Schedule>, Status> {
        let who = principal(&request)?;
        let op = self.svc.operator(&who, "re-plan")?;
        let deadline = super::deadline(&request);
        let req = request.into_inner();
        let replan = Replan {
            day: req.delivery_day,
            from: convert::instant(req.from.as_ref(), "from")?,
            forecast: req.forecast.map(convert::forecast).transpose()?,
            options: convert::options(req.options)?,
            levels: convert::levels(req.levels),
        };
        let p = op.replan(replan, deadline).await?;
        Ok(Response::new(convert::schedule(&p.info, &p.schedule, self.market_hours())))
    }

    async fn get_schedule(&self, request: Request<pb::GetScheduleRequest>) -> Result<Response<pb::Schedule>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let (info, schedule) = self.svc.operator(&who, "read schedules")?.schedule(&req.delivery_day, Some(req.version)).await?;
        Ok(Response::new(convert::schedule(&info, &schedule, self.market_hours())))
    }

    async fn get_schedule_inputs(&self, request: Request<pb::GetScheduleRequest>) -> Result<Response<pb::ScheduleInputs>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let r = self.svc.operator(&who, "read schedule inputs")?.inputs(&req.delivery_day, Some(req.version)).await?;
        Ok(Response::new(pb::ScheduleInputs {
            info: Some(convert::info(&r.info, &r.schedule)),
            plant_toml: r.plant_toml,
            forecast_json: r.forecast_json,
            options_json: r.options_json,
        }))
    }

    async fn list_schedules(&self, request: Request<pb::ListSchedulesRequest>) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let list = self.svc.operator(&who, "list schedules")?.list(&req.from_day, &req.to_day).await?;
        Ok(Response::new(pb::ListSchedulesResponse { schedules: list.iter().map(|(i, s)| convert::info(i, s)).collect() }))
    }

    type StreamSchedulesStream = InfoStream;

    async fn stream_schedules(&self, request: Request<pb::StreamSchedulesRequest>) -> Result<Response<InfoStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let stream = self.svc.operator(&who, "stream schedules")?.watch(&req.from_day, &req.to_day).await?;
        let stream = stream.map(|item| item.map(|(i, s)| convert::info(&i, &s)).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }
}
