//! `MarketService`: the bid book. Bids are exactly-once per (bot, bid id), close at the
//! gate, and their awards stream back when a schedule clears them.

use std::pin::Pin;
use std::sync::Arc;

use chrono::{Timelike, Utc};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::domain::{Bid, BidSide};
use crate::store::{BidRecord, BidState, SubmitOutcome};

use super::auth::{principal, require_bot, Principal};
use super::convert;
use super::pb;
use super::pb::market_service_server::MarketService;
use super::state::{publish_stream, AppState, MarketRules};
use super::status::{from_store, invalid};

/// The market service.
#[derive(Clone)]
pub struct MarketApi {
    state: Arc<AppState>,
}

impl MarketApi {
    /// Over the shared state.
    pub fn new(state: Arc<AppState>) -> MarketApi {
        MarketApi { state }
    }

    fn check_price(&self, field: &str, price: f64) -> Result<(), Status> {
        check_price(&self.state.market, field, price)
    }

    fn check_quantity(field: &str, q: f64) -> Result<(), Status> {
        check_quantity(field, q)
    }

    /// Validates a wire bid from `bot` into a domain bid.
    fn bid(&self, bot: &str, b: pb::Bid) -> Result<Bid, Status> {
        bid_from_wire(&self.state.plant, &self.state.market, bot, b)
    }

    fn gate_open(&self, day: chrono::NaiveDate) -> Result<chrono::DateTime<Utc>, Status> {
        let gate = self.state.gate_closure(day);
        if Utc::now() >= gate {
            return Err(Status::failed_precondition(format!("bids for {day} closed at {}", gate.to_rfc3339())));
        }
        Ok(gate)
    }

    fn count(&self, call: &str, outcome: &str) {
        self.state.metrics.bids.with_label_values(&[call, outcome]).inc();
    }

    async fn existing(&self, bot: &str, id: &str) -> Result<BidRecord, Status> {
        self.state
            .store
            .bid(bot, id)
            .await
            .map_err(from_store)?
            .ok_or_else(|| Status::not_found(format!("you have no bid {}", crate::domain::limits::quote(id))))
    }
}

type AwardStream = Pin<Box<dyn Stream<Item = Result<pb::Award, Status>> + Send>>;

#[tonic::async_trait]
impl MarketService for MarketApi {
    async fn submit_bid(&self, request: Request<pb::Bid>) -> Result<Response<pb::BidAck>, Status> {
        let who = principal(&request)?;
        let bot = require_bot(&who)?.to_string();
        let bid = self.bid(&bot, request.into_inner()).inspect_err(|_| self.count("submit", "invalid"))?;
        let day = self.state.delivery_day(bid.interval_start);
        let gate = self.gate_open(day).inspect_err(|_| self.count("submit", "gate_closed"))?;
        let record = BidRecord { bid, delivery_day: day, revision: 1, state: BidState::Active, acknowledged_at: Utc::now() };
        match self.state.store.submit_bid(record).await.map_err(from_store)? {
            SubmitOutcome::Created(r) => {
                self.count("submit", "created");
                Ok(Response::new(convert::ack(&r, gate)))
            }
            SubmitOutcome::Existing(r) => {
                self.count("submit", "existing");
                Ok(Response::new(convert::ack(&r, gate)))
            }
            SubmitOutcome::Conflict(r) => {
                self.count("submit", "conflict");
                Err(Status::already_exists(format!(
                    "bid '{}' was already submitted with a different payload (revision {}); amend it or use a new id",
                    r.bid.id, r.revision
                )))
            }
        }
    }

    async fn amend_bid(&self, request: Request<pb::AmendBidRequest>) -> Result<Response<pb::BidAck>, Status> {
        let who = principal(&request)?;
        let bot = require_bot(&who)?.to_string();
        let req = request.into_inner();
        if req.quantity_mw.is_none() && req.price.is_none() {
            return Err(invalid("quantity_mw", "give quantity_mw, price or both to amend (an absent field keeps its value)"));
        }
        if let Some(q) = req.quantity_mw {
            Self::check_quantity("quantity_mw", q)?;
        }
        if let Some(p) = req.price {
            self.check_price("price", p)?;
        }
        let current = self.existing(&bot, &req.bid_id).await?;
        let gate = self.gate_open(current.delivery_day)?;
        if current.state == BidState::Cancelled {
            return Err(Status::failed_precondition(format!("bid {} is cancelled", crate::domain::limits::quote(&req.bid_id))));
        }
        let quantity = req.quantity_mw.unwrap_or(current.bid.quantity_mw);
        let price = req.price.unwrap_or(current.bid.price);
        let r = self
            .state
            .store
            .amend_bid(&bot, &req.bid_id, quantity, price, Utc::now())
            .await
            .map_err(from_store)?
            .ok_or_else(|| Status::not_found(format!("you have no bid {}", crate::domain::limits::quote(&req.bid_id))))?;
        self.count("amend", "amended");
        Ok(Response::new(convert::ack(&r, gate)))
    }

    async fn cancel_bid(&self, request: Request<pb::CancelBidRequest>) -> Result<Response<pb::BidAck>, Status> {
        let who = principal(&request)?;
        let bot = require_bot(&who)?.to_string();
        let req = request.into_inner();
        let current = self.existing(&bot, &req.bid_id).await?;
        let gate = self.gate_open(current.delivery_day)?;
        let r = self
            .state
            .store
            .cancel_bid(&bot, &req.bid_id, Utc::now())
            .await
            .map_err(from_store)?
            .ok_or_else(|| Status::not_found(format!("you have no bid {}", crate::domain::limits::quote(&req.bid_id))))?;
        self.count("cancel", "cancelled");
        Ok(Response::new(convert::ack(&r, gate)))
    }

    async fn list_bids(&self, request: Request<pb::ListBidsRequest>) -> Result<Response<pb::ListBidsResponse>, Status> {
        let who = principal(&request)?;
        let bot = match &who {
            Principal::Operator { .. } => None,
            Principal::Bot { bot } => Some(bot.clone()),
            Principal::ParkManager { .. } => return Err(Status::permission_denied("park managers may not read bids")),
        };
        let day = convert::day(&request.into_inner().delivery_day, "delivery_day")?;
        let gate = self.state.gate_closure(day);
        let records = self.state.store.bids_for_day(day, bot.as_deref()).await.map_err(from_store)?;
        let bids =
            records.iter().map(|r| pb::BidRecord { bid: Some(convert::bid_to_pb(&r.bid)), ack: Some(convert::ack(r, gate)) }).collect();
        Ok(Response::new(pb::ListBidsResponse { bids }))
    }

    type StreamAwardsStream = AwardStream;

    async fn stream_awards(&self, request: Request<pb::StreamAwardsRequest>) -> Result<Response<AwardStream>, Status> {
        let who = principal(&request)?;
        let bot = match &who {
            Principal::Operator { .. } => None,
            Principal::Bot { bot } => Some(bot.clone()),
            Principal::ParkManager { .. } => return Err(Status::permission_denied("park managers may not read awards")),
        };
        let day = convert::day(&request.into_inner().delivery_day, "delivery_day")?;
        let hours = f64::from(self.state.market.interval_minutes) / 60.0;
        let mine = move |a: &pb::Award| bot.as_ref().is_none_or(|b| *b == a.bot);
        // Subscribe before reading the latest schedule: a publication in between is then
        // announced, and one the snapshot already holds is not sent twice.
        let events = self.state.published.subscribe();
        let mut existing = Vec::new();
        let mut seen = 0;
        if let Some(r) = self.state.store.schedule(day, None).await.map_err(from_store)? {
            let s = super::shares::decode_schedule(&r.schedule_json)?;
            seen = r.info.version;
            existing.extend(convert::awards(&s, &r.info, hours).into_iter().filter(&mine));
        }
        let stream = publish_stream(&self.state, events, existing, move |p| {
            if p.info.day != day || p.info.version <= seen {
                return Vec::new();
            }
            convert::awards(&p.schedule, &p.info, hours).into_iter().filter(&mine).collect()
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

fn check_price(m: &MarketRules, field: &str, price: f64) -> Result<(), Status> {
    if !price.is_finite() {
        return Err(invalid(field, format!("must be a finite number, got {}", crate::domain::limits::num(price))));
    }
    if !(m.price_floor..=m.price_cap).contains(&price) {
        return Err(invalid(
            field,
            format!("must lie in [{}, {}] yuan/MWh, got {}", m.price_floor, m.price_cap, crate::domain::limits::num(price)),
        ));
    }
    Ok(())
}

fn check_quantity(field: &str, q: f64) -> Result<(), Status> {
    if !q.is_finite() {
        return Err(invalid(field, format!("must be a finite number, got {}", crate::domain::limits::num(q))));
    }
    if q <= 0.0 {
        return Err(invalid(field, format!("must be positive, got {}", crate::domain::limits::num(q))));
    }
    if q > crate::domain::limits::MAX_POWER_MW {
        return Err(invalid(
            field,
            format!("must be at most {} MW, got {}", crate::domain::limits::MAX_POWER_MW, crate::domain::limits::num(q)),
        ));
    }
    Ok(())
}

/// Validates a wire bid from `bot` into a domain bid, against the plant and the market
/// rules (the same function the fuzz target drives).
pub(crate) fn bid_from_wire(plant: &crate::domain::Plant, market: &MarketRules, bot: &str, b: pb::Bid) -> Result<Bid, Status> {
    if b.bid_id.is_empty() || b.bid_id.len() > 64 || !b.bid_id.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)) {
        return Err(invalid("bid_id", "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'"));
    }
    if plant.node_index(&b.node).is_none() {
        return Err(invalid("node", format!("no node named {} in plant {}", crate::domain::limits::quote(&b.node), plant.name)));
    }
    let start = convert::instant(b.interval_start.as_ref(), "interval_start")?;
    let local = start.with_timezone(&plant.tz());
    let minutes = local.hour() * 60 + local.minute();
    if start.timestamp_subsec_nanos() != 0 || local.second() != 0 || minutes % market.interval_minutes != 0 {
        return Err(invalid(
            "interval_start",
            format!("{} is not the start of a {}-minute market interval", start.to_rfc3339(), market.interval_minutes),
        ));
    }
    let side = convert::side(b.side)?;
    check_quantity("quantity_mw", b.quantity_mw)?;
    check_price(market, "price", b.price)?;
    if b.green && side != BidSide::Sell {
        return Err(invalid("green", "only sell bids can be green"));
    }
    let park = (!b.park.is_empty()).then(|| b.park.clone());
    let bid = Bid {
        id: b.bid_id,
        bot: bot.to_string(),
        node: b.node,
        interval_start: start,
        side,
        quantity_mw: b.quantity_mw,
        price: b.price,
        green: b.green,
        park,
        firm: false,
        award_price: None,
    };
    if side == BidSide::Curtail {
        crate::domain::forecast::curtail_park(plant, &bid).map_err(|m| invalid("park", m))?;
    } else if bid.park.is_some() {
        return Err(invalid("park", "only curtail bids name a park"));
    }
    Ok(bid)
}
