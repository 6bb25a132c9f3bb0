//! `GreenShareService`: a thin adapter over the service's share reader.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::service::Service;

use super::auth::principal;
use super::convert;
use super::pb;
use super::pb::green_share_service_server::GreenShareService;

/// The green-share service.
#[derive(Clone)]
pub struct GreenApi {
    svc: Arc<Service>,
}

impl GreenApi {
    /// Over the service.
    pub fn new(svc: Arc<Service>) -> GreenApi {
        GreenApi { svc }
    }
}

#[tonic::async_trait]
impl GreenShareService for GreenApi {
    async fn get_park_share(&self, request: Request<pb::ParkShareRequest>) -> Result<Response<pb::ShareReport>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let report = self.svc.reader(&who)?.park_share(&req.park, &req.from_day, &req.to_day).await?;
        Ok(Response::new(convert::share_report(report)))
    }

    async fn get_plant_share(&self, request: Request<pb::PlantShareRequest>) -> Result<Response<pb::ShareReport>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let report = self.svc.reader(&who)?.plant_share(&req.from_day, &req.to_day).await?;
        Ok(Response::new(convert::share_report(report)))
    }
}
