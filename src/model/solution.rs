//! Turns a solved LP (primal values and duals) into a [`Schedule`]: per-asset series,
//! prices, green accounting, the parks' green allocation, totals and warnings.
//!
//! Park allocation rule, per interval (water-filling): every park gets the same share θ_t
//! of its served energy, raised to its minimum α_p where θ_t is below it, and never above
//! 100 %: green_p = min(1, max(α_p, θ_t))·served_p, with θ_t the level at which the parks'
//! allocations add up to the plant's green energy to loads. Where the green to loads cannot
//! lift every park to its minimum (only in a diagnosis: the LP guarantees it can), it goes
//! to the parks equally up to their minimums: green_p = min(α_p, θ'_t)·served_p. With no
//! minimum shares this is plain pro rata.

use crate::domain::schedule::{
    BidAward, BidStatus, CostBreakdown, GreenInterval, GridSchedule, LineSchedule, NodeSchedule, ParkSchedule,
    RenewableSchedule, SolvedWith, SolverReport, StorageSchedule, ThermalSchedule, Totals, FrontierPoint,
};
use crate::domain::{BidSide, Forecast, Plant, Schedule};

use super::builder::Built;
use super::lp::Var;
use super::{Backend, Options};

/// Numbers of the solve, for the schedule's solver report.
pub(crate) struct Report {
    pub(crate) backend: Backend,
    pub(crate) stage1: f64,
    pub(crate) iterations: u32,
    pub(crate) solves: u32,
    pub(crate) variables: usize,
    pub(crate) rows: usize,
    pub(crate) build_ms: f64,
    pub(crate) solve_ms: f64,
}

/// Values this close to zero are printed as zero.
const ZERO: f64 = 1e-9;

fn clean(v: f64) -> f64 {
    if v.abs() < ZERO {
        0.0
    } else {
        v
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn schedule(
    plant: &Plant,
    forecast: &Forecast,
    options: &Options,
    b: &Built,
    x: &[f64],
    duals: &[f64],
    premium: Option<f64>,
    report: Report,
    frontier: Vec<FrontierPoint>,
) -> Schedule {
    let h = &b.h;
    let dt = h.dt;
    let val = |v: Var| clean(x[v.idx()]);
    let series = |vs: &[Var]| vs.iter().map(|&v| val(v)).collect::<Vec<f64>>();
    let tz = plant.tz();

    let renewables: Vec<RenewableSchedule> = plant
        .wind
        .iter()
        .map(|r| (r, "wind"))
        .chain(plant.pv.iter().map(|r| (r, "pv")))
        .zip(&b.ix.renewable)
        .map(|((r, kind), vars)| {
            let available: Vec<f64> = forecast.availability[&r.name].iter().map(|a| a * r.capacity_mw).collect();
            let output = series(vars);
            let curtailed = available.iter().zip(&output).map(|(a, g)| clean(a - g)).collect();
            RenewableSchedule {
                name: r.name.clone(),
                kind: kind.into(),
                node: r.node.clone(),
                available_mw: available,
                output_mw: output,
                curtailed_mw: curtailed,
            }
        })
        .collect();

    let storage_meta = plant
        .pumped_hydro
        .iter()
        .map(|s| (&s.name, &s.node, "pumped_hydro"))
        .chain(plant.caes.iter().map(|s| (&s.name, &s.node, "caes")));
    let storages: Vec<StorageSchedule> = storage_meta
        .zip(&b.ix.storage)
        .map(|((name, node, kind), v)| {
            let inflow = forecast.inflow_mwh.get(name).cloned().unwrap_or_else(|| vec![0.0; h.len]);
            let mut eg = vec![v.initial_green];
            eg.extend(series(&v.energy_green));
            let mut ek = vec![v.initial_grey];
            ek.extend(series(&v.energy_grey));
            StorageSchedule {
                name: name.clone(),
                kind: kind.into(),
                node: node.clone(),
                charge_mw: series(&v.charge),
                charge_green_mw: series(&v.charge_green),
                discharge_mw: series(&v.discharge),
                discharge_green_mw: series(&v.discharge_green),
                inflow_mwh: inflow,
                spill_mwh: v.spill.iter().map(|s| s.map_or(0.0, val)).collect(),
                energy_green_mwh: eg,
                energy_grey_mwh: ek,
            }
        })
        .collect();

    // Bids, and the load they curtail per park.
    let prices: Vec<Vec<f64>> = b
        .ix
        .balance
        .iter()
        .map(|rows| if duals.is_empty() { Vec::new() } else { rows.iter().map(|r| clean(duals[r.idx()])).collect() })
        .collect();
    let mut curtailed_by_bids = vec![vec![0.0; h.len]; plant.parks.len()];
    let bids: Vec<BidAward> = forecast
        .bids
        .iter()
        .zip(b.ix.bid.iter().zip(&b.ix.bid_green))
        .map(|(bid, (&xv, green))| {
            let t = h.index_of(bid.interval_start).unwrap_or(0);
            let node = plant.node_index(&bid.node).unwrap_or(0);
            let accepted = val(xv);
            if bid.side == BidSide::Curtail {
                if let Ok(p) = crate::domain::forecast::curtail_park(plant, bid) {
                    curtailed_by_bids[p][t] += accepted;
                }
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
                accepted_green_mw: green.map_or(0.0, val),
                status,
                clearing_price,
                settlement_yuan: clean(accepted * dt * clearing_price),
                firm: bid.firm,
            }
        })
        .collect();

    // Green accounting per interval. The matching row is an equality, so green to load is
    // what the green supply leaves after storage and exports.
    let mut green = Vec::with_capacity(h.len);
    let served_mw: Vec<Vec<f64>> = plant
        .parks
        .iter()
        .enumerate()
        .map(|(p, park)| {
            (0..h.len)
                .map(|t| clean(forecast.demand_mw[&park.name][t] - val(b.ix.interrupted[p][t]) - curtailed_by_bids[p][t]))
                .collect()
        })
        .collect();
    for t in 0..h.len {
        let mut supply: f64 = renewables.iter().map(|r| r.output_mw[t] * dt).sum();
        supply += storages.iter().map(|s| s.discharge_green_mw[t] * dt).sum::<f64>();
        for (g, imp) in plant.grids.iter().zip(&b.ix.import) {
            supply += g.green_fraction * val(imp[t]) * dt;
        }
        supply += bids.iter().filter(|a| a.green && a.side == BidSide::Sell && a.interval == t).map(|a| a.accepted_mw * dt).sum::<f64>();
        let to_storage: f64 = storages.iter().map(|s| s.charge_green_mw[t] * dt).sum();
        let mut exported: f64 = b.ix.export_green.iter().map(|e| e[t].map_or(0.0, val) * dt).sum();
        exported += bids.iter().filter(|a| a.interval == t).map(|a| a.accepted_green_mw * dt).sum::<f64>();
        let served: f64 = served_mw.iter().map(|s| s[t] * dt).sum();
        let to_load = val(b.ix.green_to_load[t]);
        green.push(GreenInterval {
            supply_mwh: clean(supply),
            to_storage_mwh: clean(to_storage),
            exported_mwh: clean(exported),
            to_load_mwh: to_load,
            served_mwh: clean(served),
            share: if served > 0.0 { to_load / served } else { 0.0 },
        });
    }

    let parks = allocate_parks(plant, forecast, &b.ix.interrupted, x, &curtailed_by_bids, &served_mw, &green, dt);

    let grids: Vec<GridSchedule> = plant
        .grids
        .iter()
        .enumerate()
        .map(|(k, g)| GridSchedule {
            name: g.name.clone(),
            node: g.node.clone(),
            import_mw: series(&b.ix.import[k]),
            export_mw: series(&b.ix.export[k]),
            export_green_mw: b.ix.export_green[k].iter().map(|e| e.map_or(0.0, val)).collect(),
            import_price: (0..h.len)
                .map(|t| forecast.import_price.get(&g.name).map_or_else(|| g.tariff.price_at(h.instant(t), tz), |p| p[t]))
                .collect(),
            export_price: g.export_price,
        })
        .collect();
    let thermal: Vec<ThermalSchedule> = plant
        .thermal
        .iter()
        .zip(&b.ix.thermal)
        .map(|(u, v)| ThermalSchedule { name: u.name.clone(), node: u.node.clone(), output_mw: series(v) })
        .collect();
    let lines: Vec<LineSchedule> = plant
        .lines
        .iter()
        .zip(&b.ix.flow)
        .map(|(l, v)| {
            let flow = series(v);
            let loading = flow.iter().map(|f| if l.capacity_mw > 0.0 { f.abs() / l.capacity_mw } else { 0.0 }).collect();
            LineSchedule { name: l.name.clone(), from: l.from.clone(), to: l.to.clone(), flow_mw: flow, loading }
        })
        .collect();
    let on_dc: Vec<bool> = plant
        .nodes
        .iter()
        .map(|n| plant.lines.iter().any(|l| l.reactance_pu.is_some() && (l.from == n.name || l.to == n.name)))
        .collect();
    let nodes: Vec<NodeSchedule> = plant
        .nodes
        .iter()
        .enumerate()
        .map(|(k, n)| NodeSchedule {
            name: n.name.clone(),
            price: prices[k].clone(),
            angle_rad: if on_dc[k] { b.ix.angle[k].iter().map(|a| a.map_or(0.0, val)).collect() } else { Vec::new() },
        })
        .collect();

    // Totals, and the cost recomputed from its parts.
    let mut cost = CostBreakdown::default();
    for g in &grids {
        for t in 0..h.len {
            cost.imports += g.import_mw[t] * dt * g.import_price[t];
            cost.export_revenue += g.export_mw[t] * dt * g.export_price;
        }
    }
    for (park, p) in plant.parks.iter().zip(&parks) {
        cost.interruption += p.interrupted_mw.iter().sum::<f64>() * dt * park.compensation_yuan_per_mwh;
    }
    let storage_costs = plant.pumped_hydro.iter().map(|s| s.variable_cost).chain(plant.caes.iter().map(|s| s.variable_cost));
    for (vc, s) in storage_costs.zip(&storages) {
        cost.storage += s.discharge_mw.iter().sum::<f64>() * dt * vc;
    }
    for (u, th) in plant.thermal.iter().zip(&thermal) {
        cost.thermal += th.output_mw.iter().sum::<f64>() * dt * u.marginal_cost;
    }
    for a in &bids {
        match a.side {
            BidSide::Sell | BidSide::Curtail => cost.bids_paid += a.accepted_mw * dt * a.price,
            BidSide::Buy => cost.bids_received += a.accepted_mw * dt * a.price,
        }
    }
    let co2 = b.emissions.eval(x);
    cost.carbon = options.carbon_price * co2;
    let cost_yuan = cost.imports - cost.export_revenue + cost.interruption + cost.storage + cost.thermal
        + cost.bids_paid
        - cost.bids_received
        + cost.carbon;
    let green_mwh: f64 = green.iter().map(|g| g.to_load_mwh).sum();
    let served_mwh: f64 = green.iter().map(|g| g.served_mwh).sum();
    let totals = Totals {
        green_share: if served_mwh > 0.0 { green_mwh / served_mwh } else { 0.0 },
        green_mwh,
        served_mwh,
        grey_mwh: served_mwh - green_mwh,
        curtailed_mwh: renewables.iter().map(|r| r.curtailed_mw.iter().sum::<f64>() * dt).sum(),
        interrupted_mwh: parks
            .iter()
            .map(|p| (p.interrupted_mw.iter().sum::<f64>() + p.curtailed_by_bids_mw.iter().sum::<f64>()) * dt)
            .sum(),
        imported_mwh: grids.iter().map(|g| g.import_mw.iter().sum::<f64>() * dt).sum(),
        exported_mwh: grids.iter().map(|g| g.export_mw.iter().sum::<f64>() * dt).sum(),
        cost_yuan,
        cost,
        co2_t: co2,
        certificates: (green_mwh + 1e-6).floor().max(0.0) as u64,
        green_premium_yuan_per_mwh: premium.map(clean),
    };

    let mut warnings = b.warnings.clone();
    for s in &storages {
        let both = (0..h.len).filter(|&t| s.charge_mw[t] > 1e-6 && s.discharge_mw[t] > 1e-6).count();
        if both > 0 {
            warnings.push(format!(
                "{}: charges and discharges at once in {both} interval(s); the MILP mode (option milp, vpp solve --milp) forbids it",
                s.name
            ));
        }
    }

    for g in &grids {
        let both = (0..h.len).filter(|&t| g.import_mw[t] > 1e-6 && g.export_mw[t] > 1e-6).count();
        if both > 0 {
            warnings.push(format!(
                "{}: imports and exports at once in {both} interval(s) (export price above import price); the MILP mode (option milp, vpp solve --milp) forbids it",
                g.name
            ));
        }
    }

    Schedule {
        plant: plant.name.clone(),
        objective: options.objective.name().into(),
        intervals: (0..h.len).map(|t| h.instant(t)).collect(),
        dt_hours: dt,
        renewables,
        storages,
        parks,
        grids,
        thermal,
        lines,
        nodes,
        bids,
        green,
        totals,
        frontier,
        solver: SolverReport {
            backend: report.backend.name().into(),
            status: "optimal".into(),
            milp: options.milp,
            stage1_objective: report.stage1,
            objective: b.cost.eval(x),
            iterations: report.iterations,
            solves: report.solves,
            variables: report.variables,
            rows: report.rows,
            build_ms: report.build_ms,
            solve_ms: report.solve_ms,
            options: Some(SolvedWith {
                objective: options.objective.name().into(),
                backend: report.backend.name().into(),
                milp: options.milp,
                share_tolerance: options.share_tolerance,
                carbon_price_yuan_per_t: options.carbon_price,
                min_share: options.min_share,
                frontier_points: options.frontier_points,
                time_limit_s: options.time_limit_s,
                tie_break: super::TIE_BREAK.into(),
            }),
        },
        warnings,
    }
}

#[allow(clippy::too_many_arguments)]
fn allocate_parks(
    plant: &Plant,
    forecast: &Forecast,
    interrupted: &[Vec<Var>],
    x: &[f64],
    curtailed_by_bids: &[Vec<f64>],
    served_mw: &[Vec<f64>],
    green: &[GreenInterval],
    dt: f64,
) -> Vec<ParkSchedule> {
    let n = plant.parks.len();
    let t_len = green.len();
    let alpha: Vec<f64> = plant.parks.iter().map(|p| p.min_green_share.unwrap_or(0.0)).collect();
    let mut alloc = vec![vec![0.0; t_len]; n];
    for (t, g) in green.iter().enumerate() {
        let served: Vec<f64> = (0..n).map(|p| served_mw[p][t] * dt).collect();
        for (p, share) in water_fill(&served, &alpha, g.to_load_mwh).into_iter().enumerate() {
            alloc[p][t] = clean(share * served[p]);
        }
    }
    plant
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
                interrupted_mw: interrupted[p].iter().map(|v| clean(x[v.idx()])).collect(),
                curtailed_by_bids_mw: curtailed_by_bids[p].clone(),
                served_mw: served_mw[p].clone(),
                share: (0..t_len).map(|t| if served_mw[p][t] > 0.0 { alloc[p][t] / (served_mw[p][t] * dt) } else { 0.0 }).collect(),
                green_mwh: alloc[p].clone(),
                min_share: park.min_green_share,
                served_mwh,
                green_total_mwh: green_total,
                share_total: if served_mwh > 0.0 { green_total / served_mwh } else { 0.0 },
            }
        })
        .collect()
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
    use super::water_fill;

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
}
