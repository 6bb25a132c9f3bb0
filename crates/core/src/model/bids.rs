//! Bids cleared in the same LP: an accepted quantity 0 ≤ x_b ≤ quantity per bid. Sell bids
//! inject (green ones add to green supply), buy bids withdraw (their green part counts as
//! green used), curtail bids reduce a park's load. Awards settle at the node price. A firm
//! bid (an earlier award carried into a re-plan) is accepted in full.

use std::collections::HashMap;

use crate::domain::forecast::curtail_park;
use crate::domain::schedule::{BidAward, BidStatus};
use crate::domain::{BidSide, Forecast, Horizon, Plant};

use super::builder::{Builder, Index};
use super::lp::{Family, Sense, Var};
use super::solution::{clean, Values};

impl Builder<'_> {
    /// Adds one accepted-quantity variable per bid.
    pub(crate) fn add_bids(&mut self) {
        let dt = self.dt();
        let mut curtailed: HashMap<(usize, usize), Vec<Var>> = HashMap::new();
        let places = std::mem::take(&mut self.bid_places);
        for (b, place) in self.forecast.bids.iter().zip(&places) {
            let (t, node) = (place.t, place.node);
            let x = self.lp.var(if b.firm { b.quantity_mw } else { 0.0 }, b.quantity_mw);
            let mut green = None;
            match b.side {
                BidSide::Sell => {
                    self.inject[node][t].push((x, dt));
                    self.cost.bids_paid.add(x, b.price * dt);
                    if b.green {
                        self.green_supply[t].push((x, dt));
                    }
                }
                BidSide::Buy => {
                    self.inject[node][t].push((x, -dt));
                    self.cost.bids_received.add(x, b.price * dt);
                    let subject = self.lp.subject(&b.label());
                    let g = self.lp.var(0.0, b.quantity_mw);
                    self.lp.row(Family::BuySplit, subject, Some(t), [(g, 1.0), (x, -1.0)], Sense::Le, 0.0);
                    self.green_use[t].push((g, dt));
                    green = Some(g);
                }
                BidSide::Curtail => {
                    // Placing the bids gave every curtail bid its park.
                    if let Some(p) = place.park {
                        self.inject[node][t].push((x, dt));
                        self.cost.bids_paid.add(x, b.price * dt);
                        self.reductions[p][t].push(x);
                        curtailed.entry((p, t)).or_default().push(x);
                    }
                }
            }
            self.ix.bid.push(x);
            self.ix.bid_green.push(green);
        }
        self.ix.bid_places = places;
        let mut keys: Vec<_> = curtailed.into_iter().collect();
        keys.sort_by_key(|(k, _)| *k);
        for ((p, t), xs) in keys {
            let park = &self.plant.parks[p];
            let subject = self.lp.subject(&park.name);
            let demand = self.forecast.demand_mw[&park.name][t];
            let mut terms: Vec<_> = xs.iter().map(|&x| (x, 1.0)).collect();
            terms.push((self.ix.interrupted[p][t], 1.0));
            self.lp.row(Family::CurtailLimit, subject, Some(t), terms, Sense::Le, demand);
        }
    }
}

/// Reads the awards back, with the load the curtail bids took off each park (MW, per park
/// and interval). An award settles at its node's price, or at the price a firm award keeps.
pub(crate) fn read_bids(
    plant: &Plant,
    forecast: &Forecast,
    h: &Horizon,
    ix: &Index,
    prices: &[Vec<f64>],
    v: &Values<'_>,
) -> (Vec<BidAward>, Vec<Vec<f64>>) {
    let mut curtailed_by_bids = vec![vec![0.0; h.len]; plant.parks.len()];
    let awards = forecast
        .bids
        .iter()
        .zip(ix.bid.iter().zip(&ix.bid_green).zip(&ix.bid_places))
        .map(|(bid, ((&xv, green), place))| {
            let (t, node) = (place.t, place.node);
            let accepted = v.get(xv);
            if let Some(p) = place.park {
                curtailed_by_bids[p][t] += accepted;
            }
            let status = if accepted <= 1e-6 {
                BidStatus::OutOfTheMoney
            } else if accepted >= bid.quantity_mw - 1e-6 {
                BidStatus::InTheMoney
            } else {
                BidStatus::Marginal
            };
            // A firm award keeps the price it was first awarded at.
            let clearing_price = bid.award_price.unwrap_or_else(|| prices[node].get(t).copied().unwrap_or(f64::NAN));
            BidAward {
                id: bid.id.clone(),
                bot: bid.bot.clone(),
                node: bid.node.clone(),
                interval: t,
                interval_start: Some(h.instant(t)),
                side: bid.side,
                green: bid.green,
                quantity_mw: bid.quantity_mw,
                price: bid.price,
                accepted_mw: accepted,
                accepted_green_mw: green.map_or(0.0, |g| v.get(g)),
                status,
                clearing_price,
                settlement_yuan: clean(accepted * h.dt * clearing_price),
                firm: bid.firm,
            }
        })
        .collect();
    (awards, curtailed_by_bids)
}

/// Where a bid lands in the model: its interval, its node and, for a curtail bid, its park.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BidPlace {
    pub(crate) t: usize,
    pub(crate) node: usize,
    pub(crate) park: Option<usize>,
}

/// Places every bid of the forecast, or says which one validation should have refused.
pub(crate) fn place_bids(plant: &Plant, forecast: &Forecast, h: &Horizon) -> Result<Vec<BidPlace>, String> {
    forecast
        .bids
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let t = h.index_of(b.interval_start).ok_or_else(|| format!("bids[{k}].interval_start: not an interval of the horizon"))?;
            let node = plant.node_index(&b.node).ok_or_else(|| format!("bids[{k}].node: unknown node"))?;
            let park = match b.side {
                BidSide::Curtail => Some(curtail_park(plant, b).map_err(|e| format!("bids[{k}]: {e}"))?),
                _ => None,
            };
            Ok(BidPlace { t, node, park })
        })
        .collect()
}
