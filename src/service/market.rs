//! The bid book: bids are exactly-once per (bot, bid id), close at the gate, are checked
//! against the plant and the market rules, and their awards stream back when a schedule
//! clears them.
//!
//! A bid keeps its identity (bot, id) all the way through the LP: a market-interval bid
//! split onto shorter solver intervals becomes one LP bid per solver interval, each with
//! the same bot and id, told apart by its interval; awards group them back by (bot, id).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use crate::domain::schedule::{BidAward, BidStatus};
use crate::domain::{limits, Bid, BidSide, Plant, Schedule};
use crate::store::{BidRecord, BidState, ScheduleInfo, SubmitOutcome};

use super::{decode_schedule, Error, Service, Stream};

/// Rules of the bid book.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketRules {
    /// Length of a market interval; bids start on its boundaries (default 60).
    pub interval_minutes: u32,
    /// Bids for a delivery day close this long before its local midnight (default 14 h:
    /// 10:00 the day before).
    pub gate_closure_before: chrono::Duration,
    /// Lowest limit price accepted, yuan/MWh (default 50, the Henan spot floor).
    pub price_floor: f64,
    /// Highest limit price accepted, yuan/MWh (default 1,200, the Henan spot cap).
    pub price_cap: f64,
}

impl Default for MarketRules {
    fn default() -> Self {
        MarketRules { interval_minutes: 60, gate_closure_before: chrono::Duration::hours(14), price_floor: 50.0, price_cap: 1200.0 }
    }
}

impl MarketRules {
    /// A market interval in hours.
    pub fn interval_hours(&self) -> f64 {
        f64::from(self.interval_minutes) / 60.0
    }
}

/// A bot's view of its own bids (from [`Service::trader`]).
pub struct Trader<'a> {
    pub(super) svc: &'a Service,
    pub(super) bot: &'a str,
}

/// A view of the bids and awards a caller may read (from [`Service::bid_reader`]): all of
/// them for operators, a bot's own for a bot.
pub struct BidReader<'a> {
    pub(super) svc: &'a Service,
    pub(super) bot: Option<&'a str>,
}

/// A bid's award in one published version, over its whole market interval: accepted MW and
/// clearing price are time-weighted means over the solver intervals it spans, settlement
/// their sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Award {
    /// The bid.
    pub bid_id: String,
    /// Its bot.
    pub bot: String,
    /// The delivery day.
    pub day: NaiveDate,
    /// The version that cleared it.
    pub version: u32,
    /// Start of its market interval.
    pub interval_start: Option<DateTime<Utc>>,
    /// Side.
    pub side: BidSide,
    /// Node.
    pub node: String,
    /// Offered, MW.
    pub quantity_mw: f64,
    /// Limit price, yuan/MWh.
    pub price: f64,
    /// Accepted, MW.
    pub accepted_mw: f64,
    /// In, out of the money, or marginal.
    pub status: BidStatus,
    /// Clearing price, yuan/MWh.
    pub clearing_price: f64,
    /// Settlement, yuan.
    pub settlement_yuan: f64,
    /// A firm position carried from an earlier version.
    pub firm: bool,
}

/// A bid as a submit or an amend left it, and when its day's gate closes.
#[derive(Debug, Clone)]
pub struct Acknowledged {
    /// The stored bid.
    pub record: BidRecord,
    /// Gate closure of its delivery day.
    pub gate_closure: DateTime<Utc>,
}

impl Trader<'_> {
    /// Submits a bid (its `bot` is the caller's, whatever it says): checked against the
    /// plant and the rules, refused after the gate, exactly once per (bot, id) — the same
    /// bid again returns the stored one, a different payload under the same id is
    /// ALREADY_EXISTS.
    pub async fn submit(&self, bid: Bid) -> Result<Acknowledged, Error> {
        let svc = self.svc;
        let bid = check_bid(&svc.plant, &svc.market, Bid { bot: self.bot.to_string(), ..bid })
            .inspect_err(|_| self.count("submit", "invalid"))?;
        let day = svc.delivery_day(bid.interval_start);
        let gate_closure = self.gate_open(day).inspect_err(|_| self.count("submit", "gate_closed"))?;
        let record = BidRecord { bid, delivery_day: day, revision: 1, state: BidState::Active, acknowledged_at: Utc::now() };
        match svc.store.submit_bid(record).await? {
            SubmitOutcome::Created(record) => {
                self.count("submit", "created");
                Ok(Acknowledged { record, gate_closure })
            }
            SubmitOutcome::Existing(record) => {
                self.count("submit", "existing");
                Ok(Acknowledged { record, gate_closure })
            }
            SubmitOutcome::Conflict(r) => {
                self.count("submit", "conflict");
                Err(Error::AlreadyExists(format!(
                    "bid '{}' was already submitted with a different payload (revision {}); amend it or use a new id",
                    r.bid.id, r.revision
                )))
            }
        }
    }

    /// Changes a bid's quantity, price or both (an absent one keeps its value) before the
    /// gate; a new revision.
    pub async fn amend(&self, bid_id: &str, quantity_mw: Option<f64>, price: Option<f64>) -> Result<Acknowledged, Error> {
        if quantity_mw.is_none() && price.is_none() {
            return Err(Error::invalid("quantity_mw", "give quantity_mw, price or both to amend (an absent field keeps its value)"));
        }
        if let Some(q) = quantity_mw {
            check_quantity("quantity_mw", q)?;
        }
        if let Some(p) = price {
            check_price(&self.svc.market, "price", p)?;
        }
        let current = self.existing(bid_id).await?;
        let gate_closure = self.gate_open(current.delivery_day)?;
        if current.state == BidState::Cancelled {
            return Err(Error::FailedPrecondition(format!("bid {} is cancelled", limits::quote(bid_id))));
        }
        let quantity = quantity_mw.unwrap_or(current.bid.quantity_mw);
        let price = price.unwrap_or(current.bid.price);
        let record = self.svc.store.amend_bid(self.bot, bid_id, quantity, price, Utc::now()).await?.ok_or_else(|| no_bid(bid_id))?;
        self.count("amend", "amended");
        Ok(Acknowledged { record, gate_closure })
    }

    /// Cancels a bid before the gate.
    pub async fn cancel(&self, bid_id: &str) -> Result<Acknowledged, Error> {
        let current = self.existing(bid_id).await?;
        let gate_closure = self.gate_open(current.delivery_day)?;
        let record = self.svc.store.cancel_bid(self.bot, bid_id, Utc::now()).await?.ok_or_else(|| no_bid(bid_id))?;
        self.count("cancel", "cancelled");
        Ok(Acknowledged { record, gate_closure })
    }

    fn gate_open(&self, day: NaiveDate) -> Result<DateTime<Utc>, Error> {
        let gate = self.svc.gate_closure(day);
        if Utc::now() >= gate {
            return Err(Error::FailedPrecondition(format!("bids for {day} closed at {}", gate.to_rfc3339())));
        }
        Ok(gate)
    }

    fn count(&self, call: &str, outcome: &str) {
        self.svc.metrics.bids.with_label_values(&[call, outcome]).inc();
    }

    async fn existing(&self, bid_id: &str) -> Result<BidRecord, Error> {
        self.svc.store.bid(self.bot, bid_id).await?.ok_or_else(|| no_bid(bid_id))
    }
}

fn no_bid(id: &str) -> Error {
    Error::NotFound(format!("you have no bid {}", limits::quote(id)))
}

impl BidReader<'_> {
    /// The bids of a delivery day the caller may read, and the day's gate closure.
    pub async fn list(&self, day: &str) -> Result<(Vec<BidRecord>, DateTime<Utc>), Error> {
        let day = super::day(day, "delivery_day")?;
        let records = self.svc.store.bids_for_day(day, self.bot).await?;
        Ok((records, self.svc.gate_closure(day)))
    }

    /// The awards of a day the caller may read: those of the latest version, then those of
    /// every later version as it is published.
    pub async fn awards(&self, day: &str) -> Result<Stream<Award>, Error> {
        let svc = self.svc;
        let day = super::day(day, "delivery_day")?;
        let hours = svc.market.interval_hours();
        let bot = self.bot.map(str::to_string);
        let mine = move |a: &Award| bot.as_ref().is_none_or(|b| *b == a.bot);
        // Subscribe before reading the latest schedule: a publication in between is then
        // announced, and one the snapshot already holds is not sent twice.
        let events = svc.subscribe();
        let mut existing = Vec::new();
        let mut seen = 0;
        if let Some(r) = svc.store.schedule(day, None).await? {
            let s = decode_schedule(&r.schedule_json)?;
            seen = r.info.version;
            existing.extend(awards(&s, &r.info, hours).into_iter().filter(&mine));
        }
        Ok(svc.stream(events, existing, move |p| {
            if p.info.day != day || p.info.version <= seen {
                return Vec::new();
            }
            awards(&p.schedule, &p.info, hours).into_iter().filter(&mine).collect()
        }))
    }
}

/// The (bot, id) of an LP bid. Schedules published before bids kept their identity
/// through the LP carry `bot/id#k` as the id; those are read back as (bot, id).
pub(super) fn identity(a: &BidAward) -> (&str, &str) {
    let legacy = a.id.rsplit_once('#').and_then(|(head, _)| head.split_once('/')).filter(|(bot, _)| *bot == a.bot);
    legacy.unwrap_or((&a.bot, &a.id))
}

/// Awards per market bid of a schedule, its LP bids grouped back by (bot, id).
pub fn awards(s: &Schedule, info: &ScheduleInfo, market_hours: f64) -> Vec<Award> {
    let dt = s.dt_hours;
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut groups: HashMap<(&str, &str), Vec<&BidAward>> = HashMap::new();
    for a in &s.bids {
        let key = identity(a);
        if !groups.contains_key(&key) {
            order.push(key);
        }
        groups.entry(key).or_default().push(a);
    }
    order
        .into_iter()
        .map(|key| {
            let parts = &groups[&key];
            let first = parts[0];
            let hours = (parts.len() as f64 * dt).max(dt).min(market_hours.max(dt));
            let accepted = parts.iter().map(|a| a.accepted_mw * dt).sum::<f64>() / hours;
            let price = parts.iter().map(|a| a.clearing_price * dt).sum::<f64>() / hours;
            let status = if accepted <= 1e-6 {
                BidStatus::OutOfTheMoney
            } else if accepted >= first.quantity_mw - 1e-6 {
                BidStatus::InTheMoney
            } else {
                BidStatus::Marginal
            };
            Award {
                bid_id: key.1.to_string(),
                bot: key.0.to_string(),
                day: info.day,
                version: info.version,
                interval_start: first.interval_start.or_else(|| s.intervals.get(first.interval).copied()),
                side: first.side,
                node: first.node.clone(),
                quantity_mw: first.quantity_mw,
                price: first.price,
                accepted_mw: accepted,
                status,
                clearing_price: price,
                settlement_yuan: parts.iter().map(|a| a.settlement_yuan).sum(),
                firm: first.firm,
            }
        })
        .collect()
}

fn check_price(m: &MarketRules, field: &str, price: f64) -> Result<(), Error> {
    if !price.is_finite() {
        return Err(Error::invalid(field, format!("must be a finite number, got {}", limits::num(price))));
    }
    if !(m.price_floor..=m.price_cap).contains(&price) {
        return Err(Error::invalid(
            field,
            format!("must lie in [{}, {}] yuan/MWh, got {}", m.price_floor, m.price_cap, limits::num(price)),
        ));
    }
    Ok(())
}

fn check_quantity(field: &str, q: f64) -> Result<(), Error> {
    if !q.is_finite() {
        return Err(Error::invalid(field, format!("must be a finite number, got {}", limits::num(q))));
    }
    if q <= 0.0 {
        return Err(Error::invalid(field, format!("must be positive, got {}", limits::num(q))));
    }
    if q > limits::MAX_POWER_MW {
        return Err(Error::invalid(field, format!("must be at most {} MW, got {}", limits::MAX_POWER_MW, limits::num(q))));
    }
    Ok(())
}

/// A bid checked against the plant and the market rules: its id's form, its node, its
/// interval on the market grid, quantity, price, and what each side may name (the same
/// function the fuzz target drives).
pub fn check_bid(plant: &Plant, market: &MarketRules, bid: Bid) -> Result<Bid, Error> {
    if bid.id.is_empty() || bid.id.len() > 64 || !bid.id.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)) {
        return Err(Error::invalid("bid_id", "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'"));
    }
    if plant.node_index(&bid.node).is_none() {
        return Err(Error::invalid("node", format!("no node named {} in plant {}", limits::quote(&bid.node), plant.name)));
    }
    let start = bid.interval_start;
    let local = start.with_timezone(&plant.tz());
    let minutes = local.hour() * 60 + local.minute();
    if start.timestamp_subsec_nanos() != 0 || local.second() != 0 || !minutes.is_multiple_of(market.interval_minutes) {
        return Err(Error::invalid(
            "interval_start",
            format!("{} is not the start of a {}-minute market interval", start.to_rfc3339(), market.interval_minutes),
        ));
    }
    check_quantity("quantity_mw", bid.quantity_mw)?;
    check_price(market, "price", bid.price)?;
    if bid.green && bid.side != BidSide::Sell {
        return Err(Error::invalid("green", "only sell bids can be green"));
    }
    if bid.side == BidSide::Curtail {
        crate::domain::forecast::curtail_park(plant, &bid).map_err(|m| Error::invalid("park", m))?;
    } else if bid.park.is_some() {
        return Err(Error::invalid("park", "only curtail bids name a park"));
    }
    Ok(Bid { firm: false, award_price: None, ..bid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn award(bot: &str, id: &str) -> BidAward {
        serde_json::from_value(serde_json::json!({
            "id": id, "bot": bot, "node": "hub", "interval": 0, "side": "sell", "green": false,
            "quantity_mw": 1.0, "price": 100.0, "accepted_mw": 0.0, "accepted_green_mw": 0.0,
            "status": "out_of_the_money", "clearing_price": 0.0, "settlement_yuan": 0.0
        }))
        .expect("a bid award")
    }

    #[test]
    fn a_bid_is_its_bot_and_id_and_old_packed_ids_read_back_the_same() {
        assert_eq!(identity(&award("bot-a", "evening")), ("bot-a", "evening"));
        // Ids may contain ':' '.' '-' '_' but never '/' or '#', so a packed id is unambiguous.
        assert_eq!(identity(&award("bot-a", "bot-a/evening#3")), ("bot-a", "evening"));
        // Only the bot's own prefix is read as packed.
        assert_eq!(identity(&award("", "x/y#1")), ("", "x/y#1"));
    }
}
