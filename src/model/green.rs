//! Green power, hourly matched. In every interval
//!
//! green to load + green charged + green exported (and sold to buy bids) ≤ green available
//! (wind, PV, green storage discharge, φ·imports, green sell bids),
//!
//! green to load ≤ energy served, and where parks have minimum shares α_p,
//! green to load ≥ Σ_p α_p·served_p. Colour is matched across the plant as one balancing
//! portfolio in each interval, not traced along lines.
//!
//! Colour is conserved, not chosen: in the schedule every green MWh supplied goes to load,
//! into storage or out of the plant as green (the row holds with equality), so with the
//! node balances (Σ uses = Σ supplies) the grey parts add up to the grey supplied (imports
//! × (1 − φ), thermal, grey discharge, grey sell bids) and nothing is labelled grey where
//! no grey source exists. The row is written as an inequality so that its dual, the value
//! of green energy, keeps its sign and the node prices stay unique; the canonical
//! tie-break stage (`stages.rs`) rewards every green use, which makes the row tight in
//! every interval (a slack row would leave some use's grey part to be relabelled green at
//! a gain). Which use gets the green where both colours are present is decided by that
//! stage too, never left to the solver.

use super::builder::Builder;
use super::lp::{Family, LinExpr, Sense};

impl Builder<'_> {
    /// Adds the green-to-load variable and the matching rows; returns (N, D): green energy
    /// to loads and energy served, both in MWh over the horizon.
    pub(crate) fn add_green(&mut self) -> (LinExpr, LinExpr) {
        let dt = self.dt();
        let plant_subject = self.lp.subject(&self.plant.name);
        let parks_subject = self.lp.subject("parks");
        let mut green = LinExpr::default();
        let mut served = LinExpr::default();
        let any_min = self.plant.parks.iter().any(|p| p.min_green_share.is_some_and(|a| a > 0.0));
        for t in self.intervals() {
            let lg = self.lp.var(0.0, f64::INFINITY);
            let mut matching = vec![(lg, 1.0)];
            matching.extend(self.green_use[t].iter().copied());
            matching.extend(self.green_supply[t].iter().map(|&(v, a)| (v, -a)));
            self.lp.row(Family::GreenMatch, plant_subject, Some(t), matching, Sense::Le, 0.0);
            let mut serve_terms = vec![(lg, 1.0)];
            let mut demand_t = 0.0;
            let mut share_terms = vec![(lg, 1.0)];
            let mut share_rhs = 0.0;
            for (p, park) in self.plant.parks.iter().enumerate() {
                let d = self.forecast.demand_mw[&park.name][t] * dt;
                demand_t += d;
                served.constant += d;
                let alpha = park.min_green_share.unwrap_or(0.0);
                share_rhs += alpha * d;
                for &r in &self.reductions[p][t] {
                    serve_terms.push((r, dt));
                    served.add(r, -dt);
                    share_terms.push((r, alpha * dt));
                }
            }
            self.lp.row(Family::GreenServed, plant_subject, Some(t), serve_terms, Sense::Le, demand_t);
            if any_min {
                self.lp.row(Family::ParkMinShare, parks_subject, Some(t), share_terms, Sense::Ge, share_rhs);
            }
            green.add(lg, 1.0);
            self.ix.green_to_load.push(lg);
        }
        if let Some(sigma) = self.options.min_share {
            let row = green.plus(-sigma, &served);
            self.lp.row_expr(Family::PlantMinShare, plant_subject, &row, Sense::Ge);
        }
        (green, served)
    }
}
