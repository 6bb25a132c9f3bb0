//! A whole day from its versions. After a re-plan the day has several schedules: the
//! day-ahead one covers the whole day, each re-plan the rest of the day from its start.
//! What holds for an interval is the latest version that covers it (the past before a
//! re-plan stays as the version that planned it), so a day's figures — shares, energies,
//! cost, every series — always cover the whole day.
//!
//! [`stitch`] builds that day as one [`Schedule`]: every per-interval series taken from
//! the version that holds the interval, storage levels at each interval's start from the
//! same version (and the day's end from the last), the totals recomputed from the stitched
//! series with the plant's data (the cost breakdown by the same rules as a solve), and
//! [`Stitched::versions`] saying which version each interval comes from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::bid::BidSide;
use super::plant::Plant;
use super::schedule::{CostBreakdown, Schedule};

/// A day stitched from its versions.
#[derive(Debug, Clone)]
pub struct Stitched {
    /// The whole day as one schedule (solver report, bids and warnings of the latest).
    pub schedule: Schedule,
    /// The version each interval comes from.
    pub versions: Vec<u32>,
}

/// Stitches `versions` (version number and schedule, oldest first) into the whole day.
/// `None` when there are none or their shapes differ (another plant).
pub fn stitch(plant: &Plant, versions: &[(u32, &Schedule)]) -> Option<Stitched> {
    let (_, last) = versions.last()?;
    let mut by_start: BTreeMap<DateTime<Utc>, (usize, usize)> = BTreeMap::new();
    for (v, (_, s)) in versions.iter().enumerate() {
        let same = s.renewables.len() == last.renewables.len()
            && s.storages.len() == last.storages.len()
            && s.parks.len() == last.parks.len()
            && s.grids.len() == last.grids.len()
            && s.thermal.len() == last.thermal.len()
            && s.lines.len() == last.lines.len()
            && s.nodes.len() == last.nodes.len()
            && s.dt_hours == last.dt_hours;
        if !same {
            return None;
        }
        for (t, at) in s.intervals.iter().enumerate() {
            by_start.insert(*at, (v, t));
        }
    }
    let order: Vec<(usize, usize)> = by_start.values().copied().collect();
    let sched = |v: usize| versions[v].1;
    // One series stitched: `pick` reads a version's series (empty where absent).
    let series = |pick: &dyn Fn(&Schedule) -> &Vec<f64>| -> Vec<f64> {
        order.iter().map(|&(v, t)| pick(sched(v)).get(t).copied().unwrap_or(0.0)).collect()
    };
    // Storage levels: each interval's start from its version, the end from the last one.
    let points = |pick: &dyn Fn(&Schedule) -> &Vec<f64>| -> Option<Vec<f64>> {
        let mut out: Vec<f64> = order.iter().map(|&(v, t)| pick(sched(v)).get(t).copied().unwrap_or(0.0)).collect();
        let (v, t) = *order.last()?;
        out.push(pick(sched(v)).get(t + 1).copied().unwrap_or(0.0));
        Some(out)
    };
    let mut s = (*last).clone();
    s.intervals = by_start.keys().copied().collect();
    for (k, r) in s.renewables.iter_mut().enumerate() {
        r.available_mw = series(&|x| &x.renewables[k].available_mw);
        r.output_mw = series(&|x| &x.renewables[k].output_mw);
        r.curtailed_mw = series(&|x| &x.renewables[k].curtailed_mw);
    }
    for (k, st) in s.storages.iter_mut().enumerate() {
        st.charge_mw = series(&|x| &x.storages[k].charge_mw);
        st.charge_green_mw = series(&|x| &x.storages[k].charge_green_mw);
        st.discharge_mw = series(&|x| &x.storages[k].discharge_mw);
        st.discharge_green_mw = series(&|x| &x.storages[k].discharge_green_mw);
        st.inflow_mwh = series(&|x| &x.storages[k].inflow_mwh);
        st.spill_mwh = series(&|x| &x.storages[k].spill_mwh);
        st.energy_green_mwh = points(&|x| &x.storages[k].energy_green_mwh)?;
        st.energy_grey_mwh = points(&|x| &x.storages[k].energy_grey_mwh)?;
    }
    let dt = s.dt_hours;
    for (k, p) in s.parks.iter_mut().enumerate() {
        p.demand_mw = series(&|x| &x.parks[k].demand_mw);
        p.interrupted_mw = series(&|x| &x.parks[k].interrupted_mw);
        p.curtailed_by_bids_mw = series(&|x| &x.parks[k].curtailed_by_bids_mw);
        p.served_mw = series(&|x| &x.parks[k].served_mw);
        p.green_mwh = series(&|x| &x.parks[k].green_mwh);
        p.own_green_mwh = series(&|x| &x.parks[k].own_green_mwh);
        p.share = series(&|x| &x.parks[k].share);
        p.served_mwh = p.served_mw.iter().sum::<f64>() * dt;
        p.green_total_mwh = p.green_mwh.iter().sum();
        p.share_total = if p.served_mwh > 0.0 { p.green_total_mwh / p.served_mwh } else { 0.0 };
    }
    for (k, g) in s.grids.iter_mut().enumerate() {
        g.import_mw = series(&|x| &x.grids[k].import_mw);
        g.export_mw = series(&|x| &x.grids[k].export_mw);
        g.export_green_mw = series(&|x| &x.grids[k].export_green_mw);
        g.import_price = series(&|x| &x.grids[k].import_price);
    }
    for (k, u) in s.thermal.iter_mut().enumerate() {
        u.output_mw = series(&|x| &x.thermal[k].output_mw);
    }
    for (k, l) in s.lines.iter_mut().enumerate() {
        l.flow_mw = series(&|x| &x.lines[k].flow_mw);
        l.loading = series(&|x| &x.lines[k].loading);
    }
    for (k, n) in s.nodes.iter_mut().enumerate() {
        n.price = series(&|x| &x.nodes[k].price);
        if !n.angle_rad.is_empty() {
            n.angle_rad = series(&|x| &x.nodes[k].angle_rad);
        }
    }
    s.green = order.iter().filter_map(|&(v, t)| sched(v).green.get(t).cloned()).collect();
    s.frontier = Vec::new();

    // Totals from the stitched series; the cost by the solve's rules, each interval with
    // the carbon price of the version that planned it; bids from the version that holds
    // their interval.
    let mut cost = CostBreakdown::default();
    let mut co2 = 0.0;
    for (i, &(v, t)) in order.iter().enumerate() {
        let x = sched(v);
        let carbon_price = x.solver.options.as_ref().map_or(0.0, |o| o.carbon_price_yuan_per_t);
        let mut co2_t = 0.0;
        for (g, pg) in s.grids.iter().zip(&plant.grids) {
            cost.imports += g.import_mw[i] * dt * g.import_price[i];
            cost.export_revenue += g.export_mw[i] * dt * pg.export_price;
            co2_t += g.import_mw[i] * dt * pg.carbon_intensity;
        }
        for (u, pu) in s.thermal.iter().zip(&plant.thermal) {
            cost.thermal += u.output_mw[i] * dt * pu.marginal_cost;
            co2_t += u.output_mw[i] * dt * pu.carbon_intensity;
        }
        for (p, pp) in s.parks.iter().zip(&plant.parks) {
            cost.interruption += p.interrupted_mw[i] * dt * pp.compensation_yuan_per_mwh;
        }
        for st in &s.storages {
            if let Some(ps) = plant.storage(&st.name) {
                cost.storage +=
                    st.discharge_mw[i] * dt * ps.variable_cost + (st.charge_mw[i] + st.discharge_mw[i]) * dt * ps.cycle_cost_yuan_per_mwh;
            }
        }
        let at = x.intervals[t];
        for a in x.bids.iter().filter(|a| a.interval_start.or_else(|| x.intervals.get(a.interval).copied()) == Some(at)) {
            match a.side {
                BidSide::Sell | BidSide::Curtail => cost.bids_paid += a.accepted_mw * dt * a.price,
                BidSide::Buy => cost.bids_received += a.accepted_mw * dt * a.price,
            }
        }
        cost.carbon += carbon_price * co2_t;
        co2 += co2_t;
    }
    let t = &mut s.totals;
    t.green_mwh = s.green.iter().map(|g| g.to_load_mwh).sum();
    t.served_mwh = s.green.iter().map(|g| g.served_mwh).sum();
    t.green_share = if t.served_mwh > 0.0 { t.green_mwh / t.served_mwh } else { 0.0 };
    t.grey_mwh = t.served_mwh - t.green_mwh;
    t.curtailed_mwh = s.renewables.iter().map(|r| r.curtailed_mw.iter().sum::<f64>() * dt).sum();
    t.interrupted_mwh =
        s.parks.iter().map(|p| (p.interrupted_mw.iter().sum::<f64>() + p.curtailed_by_bids_mw.iter().sum::<f64>()) * dt).sum();
    t.imported_mwh = s.grids.iter().map(|g| g.import_mw.iter().sum::<f64>() * dt).sum();
    t.exported_mwh = s.grids.iter().map(|g| g.export_mw.iter().sum::<f64>() * dt).sum();
    t.cost_yuan = cost.total();
    t.cost = cost;
    // The day's objective is its cost as stitched, not the last version's (which covers only
    // the rest of the day from its start).
    if versions.len() > 1 {
        s.solver.objective = t.cost_yuan;
    }
    t.co2_t = co2;
    t.certificates = (t.green_mwh + 1e-6).floor().max(0.0) as u64;
    // A premium is a property of one solve, not of a stitched day.
    if versions.len() > 1 {
        t.green_premium_yuan_per_mwh = None;
    }
    let versions_of = order.iter().map(|&(v, _)| versions[v].0).collect();
    Some(Stitched { schedule: s, versions: versions_of })
}
