//! `MarketService`: a thin adapter over the service's bid book (`service::market`).

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::service::Service;

use super::auth::principal;
use super::convert;
use super::pb;
use super::pb::market_service_server::MarketService;

/// The market service.
#[derive(Clone)]
pub struct MarketApi {
    svc: Arc<Service>,
}

impl MarketApi {
    /// Over the service.
    pub fn new(svc: Arc<Service>) -> MarketApi {
        MarketApi { svc }
    }
}

type AwardStream = Pin<Box<dyn Stream<Item = Result<pb::Award, Status>> + Send>>;

#[tonic::async_trait]
impl MarketService for MarketApi {
    async fn submit_bid(&self, request: Request<pb::Bid>) -> Result<Response<pb::BidAck>, Status> {
        let who = principal(&request)?;
        let trader = self.svc.trader(&who)?;
        let bid = convert::bid(request.into_inner())?;
        Ok(Response::new(convert::ack(&trader.submit(bid).await?)))
    }

    async fn amend_bid(&self, request: Request<pb::AmendBidRequest>) -> Result<Response<pb::BidAck>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let ack = self.svc.trader(&who)?.amend(&req.bid_id, req.quantity_mw, req.price).await?;
        Ok(Response::new(convert::ack(&ack)))
    }

    async fn cancel_bid(&self, request: Request<pb::CancelBidRequest>) -> Result<Response<pb::BidAck>, Status> {
        let who = principal(&request)?;
        let ack = self.svc.trader(&who)?.cancel(&request.into_inner().bid_id).await?;
        Ok(Response::new(convert::ack(&ack)))
    }

    async fn list_bids(&self, request: Request<pb::ListBidsRequest>) -> Result<Response<pb::ListBidsResponse>, Status> {
        let who = principal(&request)?;
        let (records, gate_closure) = self.svc.bid_reader(&who, "bids")?.list(&request.into_inner().delivery_day).await?;
        let bids = records
            .into_iter()
            .map(|record| {
                let bid = Some(convert::bid_to_pb(&record.bid));
                pb::BidRecord { bid, ack: Some(convert::ack(&crate::service::Acknowledged { record, gate_closure })) }
            })
            .collect();
        Ok(Response::new(pb::ListBidsResponse { bids }))
    }

    async fn get_settlement(&self, request: Request<pb::SettlementRequest>) -> Result<Response<pb::SettlementReport>, Status> {
        let who = principal(&request)?;
        let day = request.into_inner().delivery_day;
        let list = self.svc.bid_reader(&who, "settlements")?.settlement(&day).await?;
        let bids = list
            .into_iter()
            .map(|x| pb::BidSettlement {
                side: convert::side_to_pb(x.side),
                bid_id: x.bid_id,
                bot: x.bot,
                node: x.node,
                park: x.park.unwrap_or_default(),
                accepted_mwh: x.accepted_mwh,
                delivered_mwh: x.delivered_mwh,
                imbalance_mwh: x.imbalance_mwh,
                at_award_yuan: x.at_award_yuan,
                at_node_yuan: x.at_node_yuan,
                note: x.note.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::SettlementReport { delivery_day: day, bids }))
    }

    type StreamAwardsStream = AwardStream;

    async fn stream_awards(&self, request: Request<pb::StreamAwardsRequest>) -> Result<Response<AwardStream>, Status> {
        let who = principal(&request)?;
        let stream = self.svc.bid_reader(&who, "awards")?.awards(&request.into_inner().delivery_day).await?;
        Ok(Response::new(Box::pin(stream.map(|a| a.map(|a| convert::award(&a)).map_err(Status::from)))))
    }
}
