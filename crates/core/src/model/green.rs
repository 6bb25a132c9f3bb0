//! Green power, hourly matched. In every interval
//!
//! green to load + green charged + green exported (and sold to buy bids) ≤ green available
//! (wind, PV, green storage discharge, φ·imports, green sell bids),
//!
//! green to load ≤ energy served, and where parks have minimum shares α_p,
//! green to load ≥ Σ_p α_p·served_p. Colour is matched across the plant as one balancing
//! portfolio in each interval, not traced along lines.
//!
//! Behind the meter: a park's own green o_p,t (rooftop PV output and green discharge of
//! storage behind its meter, used on site) counts for that park first:
//! o_p ≤ own green produced behind p's meter, o_p ≤ served_p, Σ_p o_p ≤ green to load.
//! With minimum shares, each such park needs n_p ≥ α_p·served_p − o_p (n_p ≥ 0) from the
//! pool, and Σ_p (o_p + n_p) + Σ_(parks with nothing behind the meter) α_p·served_p ≤ green
//! to load replaces the single row above. The tie-break stage rewards o_p, so a park's own
//! green is as large as its meter allows. Plants without anything behind a meter build
//! exactly the rows above.
//!
//! Park allocation rule, per interval: each park first gets its own green (from behind its
//! meter); the rest of the green to loads (the pool) is water-filled over what the parks
//! still serve: every park gets the same share θ_t of it, raised to what its minimum α_p
//! still asks (α_p·served_p − own_p) where θ_t is below, and never above 100 %. Where the
//! pool cannot lift every park to its minimum (only in a diagnosis: the LP guarantees it
//! can), it goes to the parks equally up to their minimums. With nothing behind any meter
//! and no minimum shares this is plain pro rata.
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

use crate::domain::schedule::{BidAward, GreenInterval, GridSchedule, ParkSchedule, RenewableSchedule, StorageSchedule};
use crate::domain::{BidSide, Forecast, Plant};

use super::builder::{Builder, Built};
use super::lp::{Family, LinExpr, Sense};
use super::solution::{clean, Values};

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
        self.ix.own_green = vec![Vec::with_capacity(self.h.len); self.plant.parks.len()];
        for t in self.intervals() {
            let lg = self.lp.var(0.0, f64::INFINITY);
            let mut matching = vec![(lg, 1.0)];
            matching.extend(self.green_use[t].iter().copied());
            matching.extend(self.green_supply[t].iter().map(|&(v, a)| (v, -a)));
            self.lp.row(Family::GreenMatch, plant_subject, Some(t), matching, Sense::Le, 0.0);
            let mut serve_terms = vec![(lg, 1.0)];
            let mut demand_t = 0.0;
            // The requirement row: green to load covers each park's minimum (own + need for
            // parks with something behind the meter, α·served for the others).
            let mut share_terms = vec![(lg, 1.0)];
            let mut share_rhs = 0.0;
            let mut own_t = Vec::with_capacity(self.plant.parks.len());
            for (p, park) in self.plant.parks.iter().enumerate() {
                let d = self.forecast.demand_mw[&park.name][t] * dt;
                demand_t += d;
                served.constant += d;
                let alpha = park.min_green_share.unwrap_or(0.0);
                for &r in &self.reductions[p][t] {
                    serve_terms.push((r, dt));
                    served.add(r, -dt);
                }
                let own = self.own_green_of(p, t);
                own_t.push(own);
                match own {
                    None => {
                        share_rhs += alpha * d;
                        share_terms.extend(self.reductions[p][t].iter().map(|&r| (r, alpha * dt)));
                    }
                    Some(o) if alpha > 0.0 => {
                        // n_p ≥ α·served_p − o_p: a definition (n_p is free to grow).
                        // Never more than the minimum asks of the whole demand.
                        let need = self.lp.var(0.0, alpha * d);
                        self.ix.park_need.push(need);
                        let subject = self.lp.subject(&park.name);
                        let mut terms = vec![(need, 1.0), (o, 1.0)];
                        terms.extend(self.reductions[p][t].iter().map(|&r| (r, alpha * dt)));
                        self.lp.row(Family::ParkNeed, subject, Some(t), terms, Sense::Ge, alpha * d);
                        share_terms.push((o, -1.0));
                        share_terms.push((need, -1.0));
                    }
                    Some(o) => share_terms.push((o, -1.0)),
                }
            }
            self.lp.row(Family::GreenServed, plant_subject, Some(t), serve_terms, Sense::Le, demand_t);
            if any_min {
                self.lp.row(Family::ParkMinShare, parks_subject, Some(t), share_terms, Sense::Ge, share_rhs);
            }
            // With minimum shares the requirement row above already keeps Σ own ≤ green to
            // load; a second row saying so would only make the LP degenerate.
            let owned: Vec<_> = own_t.iter().flatten().map(|&o| (o, 1.0)).chain([(lg, -1.0)]).collect();
            if owned.len() > 1 && !any_min {
                self.lp.row(Family::OwnWithinGreen, parks_subject, Some(t), owned, Sense::Le, 0.0);
            }
            self.ix.own_green.iter_mut().zip(own_t).for_each(|(series, o)| series.push(o));
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

impl Builder<'_> {
    /// Park p's own green at t, when something sits behind its meter: o ≤ the green produced
    /// behind the meter, o ≤ served. (Σ o ≤ green to load is added by the caller.)
    fn own_green_of(&mut self, p: usize, t: usize) -> Option<super::lp::Var> {
        if self.own_green[p][t].is_empty() {
            return None;
        }
        let dt = self.dt();
        let park = &self.plant.parks[p];
        let subject = self.lp.subject(&park.name);
        let d = self.forecast.demand_mw[&park.name][t] * dt;
        let o = self.lp.var(0.0, d);
        let mut produced = vec![(o, 1.0)];
        produced.extend(self.own_green[p][t].iter().map(|&(v, a)| (v, -a)));
        self.lp.row(Family::OwnGreen, subject, Some(t), produced, Sense::Le, 0.0);
        let mut served = vec![(o, 1.0)];
        served.extend(self.reductions[p][t].iter().map(|&r| (r, dt)));
        self.lp.row(Family::OwnServed, subject, Some(t), served, Sense::Le, d);
        Some(o)
    }
}

/// Reads the plant's green accounting per interval and the parks' allocation back.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_green(
    plant: &Plant,
    forecast: &Forecast,
    b: &Built,
    v: &Values<'_>,
    curtailed_by_bids: &[Vec<f64>],
    renewables: &[RenewableSchedule],
    storages: &[StorageSchedule],
    grids: &[GridSchedule],
    bids: &[BidAward],
) -> (Vec<GreenInterval>, Vec<ParkSchedule>) {
    let h = &b.h;
    let dt = h.dt;
    let served_mw: Vec<Vec<f64>> = plant
        .parks
        .iter()
        .enumerate()
        .map(|(p, park)| {
            (0..h.len).map(|t| clean(forecast.demand_mw[&park.name][t] - v.get(b.ix.interrupted[p][t]) - curtailed_by_bids[p][t])).collect()
        })
        .collect();
    // The matching row holds with equality, so green to load is what the green supply
    // leaves after storage and exports.
    let green: Vec<GreenInterval> = (0..h.len)
        .map(|t| {
            let mut supply: f64 = renewables.iter().map(|r| r.output_mw[t] * dt).sum();
            supply += storages.iter().map(|s| s.discharge_green_mw[t] * dt).sum::<f64>();
            supply += plant.grids.iter().zip(grids).map(|(g, sg)| g.green_fraction * sg.import_mw[t] * dt).sum::<f64>();
            supply +=
                bids.iter().filter(|a| a.green && a.side == BidSide::Sell && a.interval == t).map(|a| a.accepted_mw * dt).sum::<f64>();
            let to_storage: f64 = storages.iter().map(|s| s.charge_green_mw[t] * dt).sum();
            let mut exported: f64 = grids.iter().map(|g| g.export_green_mw[t] * dt).sum();
            exported += bids.iter().filter(|a| a.interval == t).map(|a| a.accepted_green_mw * dt).sum::<f64>();
            let served: f64 = served_mw.iter().map(|s| s[t] * dt).sum();
            let to_load = v.get(b.ix.green_to_load[t]);
            GreenInterval {
                supply_mwh: clean(supply),
                to_storage_mwh: clean(to_storage),
                exported_mwh: clean(exported),
                to_load_mwh: to_load,
                served_mwh: clean(served),
                share: if served > 0.0 { to_load / served } else { 0.0 },
            }
        })
        .collect();

    let n = plant.parks.len();
    let alpha: Vec<f64> = plant.parks.iter().map(|p| p.min_green_share.unwrap_or(0.0)).collect();
    let own: Vec<Vec<f64>> = (0..n).map(|p| (0..h.len).map(|t| clean(b.ix.own_green_at(p, t, v.0))).collect()).collect();
    let mut alloc = vec![vec![0.0; h.len]; n];
    for (t, g) in green.iter().enumerate() {
        let served: Vec<f64> = (0..n).map(|p| served_mw[p][t] * dt).collect();
        let own_t: Vec<f64> = (0..n).map(|p| own[p][t]).collect();
        for (p, mwh) in allocate(&served, &alpha, &own_t, g.to_load_mwh).into_iter().enumerate() {
            alloc[p][t] = clean(mwh);
        }
    }
    let parks = plant
        .parks
        .iter()
        .enumerate()
        .map(|(p, park)| {
            let served_mwh: f64 = served_mw[p].iter().sum::<f64>() * dt;
            let green_total: f64 = alloc[p].iter().sum();
            ParkSchedule {
                name: park.name.clone(),
                node: park.node.clone(),
                demand_mw: forecast.demand_mw[&park.name].clone(),
                interrupted_mw: v.series(&b.ix.interrupted[p]),
                curtailed_by_bids_mw: curtailed_by_bids[p].clone(),
                served_mw: served_mw[p].clone(),
                share: (0..h.len).map(|t| if served_mw[p][t] > 0.0 { alloc[p][t] / (served_mw[p][t] * dt) } else { 0.0 }).collect(),
                green_mwh: alloc[p].clone(),
                own_green_mwh: own[p].clone(),
                min_share: park.min_green_share,
                served_mwh,
                green_total_mwh: green_total,
                share_total: if served_mwh > 0.0 { green_total / served_mwh } else { 0.0 },
            }
        })
        .collect();
    (green, parks)
}

/// The allocation of one interval, MWh per park: each park's own green first, then the pool
/// (`green` less the parks' own) water-filled over what each park still serves, its
/// minimum reduced by its own green.
pub(crate) fn allocate(served: &[f64], alpha: &[f64], own: &[f64], green: f64) -> Vec<f64> {
    let own: Vec<f64> = own.iter().zip(served).map(|(o, s)| o.clamp(0.0, s.max(0.0))).collect();
    let rest: Vec<f64> = served.iter().zip(&own).map(|(s, o)| (s - o).max(0.0)).collect();
    let still: Vec<f64> = (0..served.len())
        .map(|p| if rest[p] > 0.0 { ((alpha[p].clamp(0.0, 1.0) * served[p] - own[p]).max(0.0) / rest[p]).min(1.0) } else { 0.0 })
        .collect();
    let pool = (green - own.iter().sum::<f64>()).max(0.0);
    water_fill(&rest, &still, pool).iter().zip(&rest).zip(&own).map(|((x, r), o)| o + x * r).collect()
}

/// The share of each park under the water-filling rule: min(1, max(α_p, θ)) with one θ
/// for all, such that Σ_p share_p·served_p = `green` (or, where `green` is below the
/// minimums, min(α_p, θ')). Parks that serve nothing get 0.
pub(crate) fn water_fill(served: &[f64], alpha: &[f64], green: f64) -> Vec<f64> {
    let floor: f64 = served.iter().zip(alpha).map(|(s, a)| s * a.clamp(0.0, 1.0)).sum();
    let total: f64 = served.iter().sum();
    let shares = |level: f64| -> Vec<f64> {
        served
            .iter()
            .zip(alpha)
            .map(|(&s, &a)| {
                let a = a.clamp(0.0, 1.0);
                if s <= 0.0 {
                    0.0
                } else if green < floor {
                    a.min(level)
                } else {
                    a.max(level).min(1.0)
                }
            })
            .collect()
    };
    if total <= 0.0 || green <= 0.0 {
        return vec![0.0; served.len()];
    }
    if green >= total {
        return shares(1.0);
    }
    // The allocation grows continuously and monotonically with the level: bisect on it
    // (100 halvings of [0, 1] reach the level to the last bit of an f64).
    let filled = |level: f64| shares(level).iter().zip(served).map(|(x, s)| x * s).sum::<f64>();
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if filled(mid) < green {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    shares(0.5 * (lo + hi))
}

#[cfg(test)]
mod tests {
    use super::{allocate, water_fill};

    fn alloc(served: &[f64], alpha: &[f64], green: f64) -> Vec<f64> {
        water_fill(served, alpha, green).iter().zip(served).map(|(x, s)| x * s).collect()
    }

    #[test]
    fn equal_shares_raised_to_minimums() {
        // No minimums: pro rata, 50 % each.
        let a = alloc(&[100.0, 300.0], &[0.0, 0.0], 200.0);
        assert!((a[0] - 50.0).abs() < 1e-9 && (a[1] - 150.0).abs() < 1e-9, "{a:?}");
        // Park 0 owed 35 %, the common share would be 25 %: park 0 gets 35 %, park 1 gets
        // (100 − 35)/300 = 21.67 %.
        let a = alloc(&[100.0, 300.0], &[0.35, 0.0], 100.0);
        assert!((a[0] - 35.0).abs() < 1e-9 && (a[1] - 65.0).abs() < 1e-9, "{a:?}");
        // A minimum below the common share changes nothing.
        let a = alloc(&[100.0, 300.0], &[0.35, 0.0], 200.0);
        assert!((a[0] - 50.0).abs() < 1e-9 && (a[1] - 150.0).abs() < 1e-9, "{a:?}");
        // Too little for the minimums: equal shares up to them.
        let a = alloc(&[100.0, 100.0], &[0.5, 0.2], 30.0);
        assert!((a[0] - 15.0).abs() < 1e-9 && (a[1] - 15.0).abs() < 1e-9, "{a:?}");
        let a = alloc(&[100.0, 100.0], &[0.5, 0.2], 50.0);
        assert!((a[0] - 30.0).abs() < 1e-9 && (a[1] - 20.0).abs() < 1e-9, "{a:?}");
        // Everything green.
        let a = alloc(&[100.0, 0.0], &[0.0, 0.5], 100.0);
        assert_eq!(a, vec![100.0, 0.0]);
        assert_eq!(alloc(&[100.0], &[0.0], 0.0), vec![0.0]);
    }

    #[test]
    fn own_green_first_then_the_pool() {
        // Park 0 has 60 MWh of its own green; 40 MWh more in the pool are shared over what
        // the parks still serve (40 and 100): θ = 40/140.
        let a = allocate(&[100.0, 100.0], &[0.0, 0.0], &[60.0, 0.0], 100.0);
        let theta = 40.0 / 140.0;
        assert!((a[0] - (60.0 + 40.0 * theta)).abs() < 1e-9 && (a[1] - 100.0 * theta).abs() < 1e-9, "{a:?}");
        // A minimum is met by own green first: park 0 owes 50 %, has 60 of its own, and
        // asks nothing of the pool beyond its equal share; park 1 (owed 30 %) gets 30.
        let a = allocate(&[100.0, 100.0], &[0.5, 0.3], &[60.0, 0.0], 90.0);
        assert!((a[0] - 60.0).abs() < 1e-9 && (a[1] - 30.0).abs() < 1e-9, "{a:?}");
        // Own green above the park's load counts only up to the load.
        let a = allocate(&[50.0, 100.0], &[0.0, 0.0], &[80.0, 0.0], 50.0);
        assert!((a[0] - 50.0).abs() < 1e-9 && a[1].abs() < 1e-9, "{a:?}");
        // Nothing behind any meter: the water-filling rule unchanged.
        let (a, b) = (allocate(&[100.0, 300.0], &[0.35, 0.0], &[0.0, 0.0], 100.0), alloc(&[100.0, 300.0], &[0.35, 0.0], 100.0));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-9), "{a:?} {b:?}");
    }
}
