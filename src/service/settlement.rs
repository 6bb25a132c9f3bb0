//! Settlement of awards against meter readings (issue 14, item 4): for every awarded bid of
//! a delivery day, what was delivered, the imbalance, and what is owed — one figure per bid
//! and day, from the day's latest (stitched) schedule and the latest revision of every
//! reading.
//!
//! The rules:
//! - **Curtail bids** are measured at their park's meter. In each interval the park was
//!   planned to be served `served` (its demand less the plan's interruptions and every
//!   accepted curtailment); whatever it consumed beyond that was not curtailed. That excess
//!   is taken from the interval's accepted curtail bids of the park pro rata to their
//!   accepted MW: delivered = accepted − excess × (accepted / Σ accepted), within
//!   [0, accepted]. An interval whose consumption readings are not all there leaves the
//!   bid's delivery unknown (never filled).
//! - **Sell and buy bids** are a bot's injection or withdrawal at a node, which no plant
//!   meter measures: their delivery is reported as not metered.
//! - **Imbalance** = delivered − accepted (MWh; negative: short).
//! - **Owed at the award price**: delivered × the price each interval was awarded at (a firm
//!   award keeps its first price), paid to the bot for curtail and sell, by the bot for buy.
//!   **At the node price**: delivered × the latest version's price at the bid's node in that
//!   interval. Both in yuan, summed over the bid's intervals.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::{Bid, BidSide};
use crate::ledger::{Quantity, WH_PER_MWH};

use super::{BidReader, Error};

/// One awarded bid of a day, settled against the readings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The bid.
    pub bid_id: String,
    /// Its bot.
    pub bot: String,
    /// Side.
    pub side: BidSide,
    /// Node.
    pub node: String,
    /// For curtail bids: the park.
    pub park: Option<String>,
    /// Accepted over the day, MWh.
    pub accepted_mwh: f64,
    /// Delivered, MWh; `None` when not metered (sell, buy) or a reading is missing.
    pub delivered_mwh: Option<f64>,
    /// Delivered − accepted, MWh.
    pub imbalance_mwh: Option<f64>,
    /// Delivered × the award prices, yuan.
    pub at_award_yuan: Option<f64>,
    /// Delivered × the node prices of the latest version, yuan.
    pub at_node_yuan: Option<f64>,
    /// Why the delivery is unknown, when it is.
    pub note: Option<String>,
}

impl BidReader<'_> {
    /// The settlement of every awarded bid of `day` the caller may read (operators all, a
    /// bot its own). NOT_FOUND when the day has no schedule.
    pub async fn settlement(&self, day: &str) -> Result<Vec<Settlement>, Error> {
        let svc = self.svc;
        let (day, _info, stitched) = svc.whole_day(day).await?;
        let s = &stitched.schedule;
        let dt = s.dt_hours;
        let n = s.intervals.len();
        let (start, end) = (svc.day_start(day), svc.day_start(day + chrono::Days::new(1)));
        // Consumption readings per park, summed onto the schedule's intervals; `None` when
        // one of an interval's readings is missing.
        let step = chrono::Duration::minutes(i64::from(svc.meters.interval_minutes));
        let per = ((dt * 60.0).round() as i64 / i64::from(svc.meters.interval_minutes)).max(1) as usize;
        let mut read: HashMap<(String, DateTime<Utc>), i64> = HashMap::new();
        for r in svc.store.readings(start, end).await? {
            if Quantity::parse(&r.reading.quantity) == Some(Quantity::Consumption) {
                read.insert((r.reading.meter.clone(), r.reading.interval_start), r.reading.value_wh);
            }
        }
        let consumed = |park: &str, t: usize| -> Option<f64> {
            let from = s.intervals[t];
            (0..per)
                .map(|j| read.get(&(park.to_string(), from + step * j as i32)).copied())
                .sum::<Option<i64>>()
                .map(|wh| wh as f64 / WH_PER_MWH as f64)
        };
        let parks: HashMap<(String, String), Option<String>> =
            svc.store.bids_for_day(day, self.bot).await?.into_iter().map(|r| ((r.bid.bot.clone(), r.bid.id.clone()), r.bid.park)).collect();
        let park_of = |a: &crate::domain::schedule::BidAward| -> Option<usize> {
            let park = parks.get(&(a.bot.clone(), a.id.clone())).cloned().flatten();
            let probe = Bid {
                id: a.id.clone(),
                bot: a.bot.clone(),
                node: a.node.clone(),
                interval_start: s.intervals.get(a.interval).copied().unwrap_or_default(),
                side: a.side,
                quantity_mw: a.quantity_mw,
                price: a.price,
                green: false,
                park,
                firm: false,
                award_price: None,
            };
            crate::domain::forecast::curtail_park(&svc.plant, &probe).ok()
        };
        // Accepted curtailment per (park, interval), MW.
        let mut curtailed: HashMap<(usize, usize), f64> = HashMap::new();
        for a in s.bids.iter().filter(|a| a.side == BidSide::Curtail && a.accepted_mw > 0.0 && a.interval < n) {
            if let Some(p) = park_of(a) {
                *curtailed.entry((p, a.interval)).or_default() += a.accepted_mw;
            }
        }
        let node_price =
            |node: &str, t: usize| s.nodes.iter().find(|x| x.name == node).and_then(|x| x.price.get(t).copied()).unwrap_or(0.0);
        let mut order: Vec<(String, String)> = Vec::new();
        let mut out: HashMap<(String, String), Settlement> = HashMap::new();
        for a in s.bids.iter().filter(|a| a.accepted_mw > 1e-9 && a.interval < n && self.bot.is_none_or(|b| b == a.bot)) {
            let key = super::market::identity(a);
            let key = (key.0.to_string(), key.1.to_string());
            let park = (a.side == BidSide::Curtail).then(|| park_of(a)).flatten();
            let entry = out.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                Settlement {
                    bid_id: key.1.clone(),
                    bot: key.0.clone(),
                    side: a.side,
                    node: a.node.clone(),
                    park: park.map(|p| svc.plant.parks[p].name.clone()),
                    accepted_mwh: 0.0,
                    delivered_mwh: Some(0.0),
                    imbalance_mwh: None,
                    at_award_yuan: Some(0.0),
                    at_node_yuan: Some(0.0),
                    note: None,
                }
            });
            let accepted = a.accepted_mw * dt;
            entry.accepted_mwh += accepted;
            let delivered = match (a.side, park) {
                (BidSide::Curtail, Some(p)) => {
                    let name = &svc.plant.parks[p].name;
                    let planned = s.parks.iter().find(|x| &x.name == name).map_or(0.0, |x| x.served_mw[a.interval] * dt);
                    match consumed(name, a.interval) {
                        Some(c) => {
                            let excess = (c - planned).max(0.0);
                            let total = curtailed.get(&(p, a.interval)).copied().unwrap_or(a.accepted_mw).max(1e-12);
                            Ok((accepted - excess * a.accepted_mw / total).clamp(0.0, accepted))
                        }
                        None => Err(format!("a consumption reading of {name} is missing at {}", s.intervals[a.interval].to_rfc3339())),
                    }
                }
                (BidSide::Curtail, None) => Err("the bid's park is unknown".to_string()),
                _ => Err("sell and buy bids are not metered".to_string()),
            };
            match delivered {
                Ok(d) => {
                    entry.delivered_mwh = entry.delivered_mwh.map(|x| x + d);
                    entry.at_award_yuan = entry.at_award_yuan.map(|x| x + d * a.clearing_price);
                    entry.at_node_yuan = entry.at_node_yuan.map(|x| x + d * node_price(&a.node, a.interval));
                }
                Err(why) => {
                    entry.delivered_mwh = None;
                    entry.at_award_yuan = None;
                    entry.at_node_yuan = None;
                    entry.note.get_or_insert(why);
                }
            }
        }
        Ok(order
            .into_iter()
            .filter_map(|k| out.remove(&k))
            .map(|mut x| {
                x.imbalance_mwh = x.delivered_mwh.map(|d| d - x.accepted_mwh);
                x
            })
            .collect())
    }
}
