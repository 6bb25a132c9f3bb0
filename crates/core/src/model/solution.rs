//! Turns a solved LP (primal values and duals) into a [`Schedule`]. Each family reads its
//! own results back next to the code that adds it (`wind_pv`, `storage`, `grid`, `bids`,
//! `network`, `green`); this module puts them together with the totals, the cost
//! breakdown (the same named expressions the objective is made of), warnings and the
//! solver's report.

use crate::domain::schedule::{CostBreakdown, FrontierPoint, Schedule, SolvedWith, SolverReport, Totals};
use crate::domain::{Forecast, Plant};

use super::builder::Built;
use super::lp::Var;
use super::{bids, green, grid, network, wind_pv, Backend, Options};

/// Numbers of the solve, for the schedule's solver report.
#[derive(Clone)]
pub(crate) struct Report {
    pub(crate) backend: Backend,
    pub(crate) stage1: f64,
    pub(crate) iterations: u32,
    pub(crate) solves: u32,
    pub(crate) variables: usize,
    pub(crate) rows: usize,
    pub(crate) build_ms: f64,
    pub(crate) solve_ms: f64,
    /// Dual of the share constraint of the final solve, yuan per green MWh.
    pub(crate) premium: Option<f64>,
    /// The share–cost frontier, when asked for.
    pub(crate) frontier: Vec<FrontierPoint>,
    /// An LP started from the basis of an earlier solve of the same shape.
    pub(crate) warm_started: bool,
}

/// Values this close to zero are printed as zero.
const ZERO: f64 = 1e-9;

pub(crate) fn clean(v: f64) -> f64 {
    if v.abs() < ZERO {
        0.0
    } else {
        v
    }
}

/// The primal values of a solution, read with tiny values shown as zero.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values<'x>(pub(crate) &'x [f64]);

impl Values<'_> {
    /// One variable's value.
    pub(crate) fn get(&self, v: Var) -> f64 {
        clean(self.0[v.idx()])
    }

    /// A series of variables' values.
    pub(crate) fn series(&self, vs: &[Var]) -> Vec<f64> {
        vs.iter().map(|&v| self.get(v)).collect()
    }
}

/// The schedule of the solution `x` (with the final LP's `duals`) of the model `b`.
pub(crate) fn schedule(
    plant: &Plant,
    forecast: &Forecast,
    options: &Options,
    b: &Built,
    x: &[f64],
    duals: &[f64],
    report: Report,
) -> Schedule {
    let h = &b.h;
    let dt = h.dt;
    let v = Values(x);
    let renewables = wind_pv::read_renewables(plant, forecast, &b.ix.renewable, &v);
    let storages: Vec<_> = plant
        .storage
        .iter()
        .zip(&b.ix.storage)
        .map(|(s, vars)| {
            let inflow = forecast.inflow_mwh.get(&s.name).filter(|_| s.kind.has_inflow()).cloned().unwrap_or_else(|| vec![0.0; h.len]);
            vars.read(s, &inflow, &v)
        })
        .collect();
    let prices = network::read_prices(&b.ix, duals);
    let (bids, curtailed_by_bids) = bids::read_bids(plant, forecast, h, &b.ix, &prices, &v);
    let (grids, thermal) = grid::read_grid(plant, forecast, h, &b.ix, &v);
    let (nodes, lines) = network::read_network(plant, &b.ix, &prices, &v);
    let (green, parks) = green::read_green(plant, forecast, b, &v, &curtailed_by_bids, &renewables, &storages, &grids, &bids);

    // The cost breakdown evaluates the very expressions the objective is made of.
    let parts = &b.cost_parts;
    let co2 = b.emissions.eval(x);
    let cost = CostBreakdown {
        imports: parts.imports.eval(x),
        export_revenue: parts.export_revenue.eval(x),
        interruption: parts.interruption.eval(x),
        storage: parts.storage.eval(x),
        thermal: parts.thermal.eval(x),
        bids_paid: parts.bids_paid.eval(x),
        bids_received: parts.bids_received.eval(x),
        carbon: options.carbon_price * co2,
    };
    let cost_yuan = cost.total();
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
        green_premium_yuan_per_mwh: report.premium.map(clean),
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
        frontier: report.frontier,
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
            warm_started: report.warm_started,
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
        commitment: None,
    }
}
