//! Bids cleared in the same LP: an accepted quantity 0 ≤ x_b ≤ quantity per bid. Sell bids
//! inject (green ones add to green supply), buy bids withdraw (their green part counts as
//! green used), curtail bids reduce a park's load. Awards settle at the node price. A firm
//! bid (an earlier award carried into a re-plan) is accepted in full.

use std::collections::HashMap;

use crate::domain::forecast::curtail_park;
use crate::domain::BidSide;

use super::builder::Builder;
use super::lp::{Family, Sense, Var};

impl Builder<'_> {
    /// Adds one accepted-quantity variable per bid.
    pub(crate) fn add_bids(&mut self) {
        let dt = self.dt();
        let mut curtailed: HashMap<(usize, usize), Vec<Var>> = HashMap::new();
        for b in &self.forecast.bids {
            let node = self.node(&b.node);
            let t = self.h.index_of(b.interval_start).unwrap_or(0);
            let x = self.lp.var(if b.firm { b.quantity_mw } else { 0.0 }, b.quantity_mw);
            let mut green = None;
            match b.side {
                BidSide::Sell => {
                    self.inject[node][t].push((x, dt));
                    self.cost.add(x, b.price * dt);
                    if b.green {
                        self.green_supply[t].push((x, dt));
                    }
                }
                BidSide::Buy => {
                    self.inject[node][t].push((x, -dt));
                    self.cost.add(x, -b.price * dt);
                    let subject = self.lp.subject(&b.id);
                    let g = self.lp.var(0.0, b.quantity_mw);
                    self.lp.row(Family::BuySplit, subject, Some(t), [(g, 1.0), (x, -1.0)], Sense::Le, 0.0);
                    self.green_use[t].push((g, dt));
                    green = Some(g);
                }
                BidSide::Curtail => {
                    let p = curtail_park(self.plant, b).unwrap_or(0);
                    self.inject[node][t].push((x, dt));
                    self.cost.add(x, b.price * dt);
                    self.reductions[p][t].push(x);
                    curtailed.entry((p, t)).or_default().push(x);
                }
            }
            self.ix.bid.push(x);
            self.ix.bid_green.push(green);
        }
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
