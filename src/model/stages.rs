//! The objectives as sequences of solves over one model:
//!
//! - `green-share`: Dinkelbach iterations max N − λ·D, λ ← N/D, until max N − λ·D = 0
//!   (exact for LPs and MILPs alike); then least cost with N ≥ (s* − tol)·D.
//! - `green-energy`: max N; then least cost with N ≥ (1 − tol)·N*.
//! - `cost`: least cost (N ≥ σ·D when a minimum share is given); then, for that very
//!   dispatch, the colour attribution that delivers the most green energy to loads.
//! - frontier: least cost at shares evenly spaced from the cost-optimal share to s*.
//!
//! Prices are the duals of the final least-cost solve (with binaries fixed in MILP mode).

use std::time::Instant;

use crate::domain::{Forecast, Plant, Schedule};
use crate::domain::schedule::FrontierPoint;

use super::builder::{Builder, Built};
use super::lp::{Family, LinExpr, RowId, Sense};
use super::solver::{self, Backend, Direction, Failure, HighsSession, RawSolution};
use super::{diagnose, solution, DispatchError, Objective, Options};

/// Most Dinkelbach iterations before giving up (it converges superlinearly; a handful is
/// usual).
const MAX_ITERATIONS: u32 = 50;

/// Solves the dispatch of `forecast` on `plant`.
pub fn solve(plant: &Plant, forecast: &Forecast, options: &Options) -> Result<Schedule, DispatchError> {
    solve_inner(plant, forecast, options, false).0
}

/// Solves like [`solve`] and also returns every LP it solved, in order, as free MPS text
/// (for timing HiGHS alone on exactly the same problems).
pub fn solve_traced(plant: &Plant, forecast: &Forecast, options: &Options) -> (Result<Schedule, DispatchError>, Vec<String>) {
    solve_inner(plant, forecast, options, true)
}

fn solve_inner(plant: &Plant, forecast: &Forecast, options: &Options, trace: bool) -> (Result<Schedule, DispatchError>, Vec<String>) {
    let mut lps = Vec::new();
    let result = solve_run(plant, forecast, options, trace.then_some(&mut lps));
    (result, lps)
}

fn solve_run(plant: &Plant, forecast: &Forecast, options: &Options, trace: Option<&mut Vec<String>>) -> Result<Schedule, DispatchError> {
    plant.validate().map_err(DispatchError::InvalidPlant)?;
    forecast.validate(plant).map_err(DispatchError::InvalidForecast)?;
    options.validate(plant, forecast).map_err(DispatchError::InvalidOptions)?;
    let started = Instant::now();
    let built = Builder::new(plant, forecast, options).build();
    let mut run = Run {
        plant,
        forecast,
        options,
        variables: built.lp.cols.len(),
        rows: built.lp.rows.len(),
        b: built,
        build_ms: started.elapsed().as_secs_f64() * 1e3,
        solve_ms: 0.0,
        solves: 0,
        trace,
        session: None,
    };
    if options.backend == Backend::Highs {
        let t = Instant::now();
        run.session = HighsSession::new(&run.b.lp, options.time_limit_s);
        run.build_ms += t.elapsed().as_secs_f64() * 1e3;
    }
    tracing::debug!(variables = run.variables, rows = run.rows, build_ms = run.build_ms, "model built");
    // In cost mode the least-cost dispatch is solved first and is the frontier's first
    // point itself: the least-cost LP is degenerate (several dispatches share the optimum),
    // so a second solve of it could land on another vertex with another share.
    let mut frontier = Vec::new();
    if options.frontier_points >= 2 && options.objective != Objective::Cost {
        frontier = run.frontier(options.frontier_points, None)?;
    }
    let mut iterations = 0;
    let (stage1, x, duals, premium_row) = match options.objective {
        Objective::GreenShare => {
            let (share, _, iters) = run.max_share()?;
            iterations = iters;
            let floor = (share - options.share_tolerance).max(0.0);
            let row = run.push_share_floor(Family::ShareFloor, floor);
            let fin = run.solve(&run.b.cost.clone(), Direction::Minimise, true)?;
            let duals = run.duals(&fin, &run.b.cost.clone())?;
            (share, fin.x, duals, Some(row))
        }
        Objective::GreenEnergy => {
            let green = run.b.green.clone();
            let best = run.solve(&green, Direction::Maximise, false)?;
            let floor = best.objective * (1.0 - options.share_tolerance);
            let mut expr = green.clone();
            expr.constant -= floor;
            let subject = run.b.lp.subject(&plant.name);
            let row = run.b.lp.row_expr(Family::GreenFloor, subject, &expr, Sense::Ge);
            let fin = run.solve(&run.b.cost.clone(), Direction::Minimise, true)?;
            let duals = run.duals(&fin, &run.b.cost.clone())?;
            (best.objective, fin.x, duals, Some(row))
        }
        Objective::Cost => {
            let cost = run.b.cost.clone();
            let least = run.solve(&cost, Direction::Minimise, true)?;
            let duals = run.duals(&least, &cost)?;
            let x = run.attribute_colour(&least)?;
            if options.frontier_points >= 2 {
                frontier = run.frontier(options.frontier_points, Some((share_of(&run.b, &x), least.objective)))?;
            }
            let row = options.min_share.and_then(|_| {
                run.b.lp.rows.iter().position(|r| r.name.family == Family::PlantMinShare).map(|k| RowId(k as u32))
            });
            (least.objective, x, duals, row)
        }
    };
    let premium = premium_row.and_then(|r| duals.get(r.idx()).copied());
    let report = solution::Report {
        backend: options.backend,
        stage1,
        iterations,
        solves: run.solves,
        variables: run.variables,
        rows: run.rows,
        build_ms: run.build_ms,
        solve_ms: run.solve_ms,
    };
    Ok(solution::schedule(plant, forecast, options, &run.b, &x, &duals, premium, report, frontier))
}

/// Writes the base model (the `cost` objective's first LP) as free MPS, so HiGHS alone can
/// be timed on exactly the problem this crate solves.
pub fn export_mps(plant: &Plant, forecast: &Forecast, options: &Options) -> Result<String, DispatchError> {
    plant.validate().map_err(DispatchError::InvalidPlant)?;
    forecast.validate(plant).map_err(DispatchError::InvalidForecast)?;
    options.validate(plant, forecast).map_err(DispatchError::InvalidOptions)?;
    let built = Builder::new(plant, forecast, options).build();
    Ok(built.lp.to_mps(&built.cost, false))
}

struct Run<'a> {
    trace: Option<&'a mut Vec<String>>,
    plant: &'a Plant,
    forecast: &'a Forecast,
    options: &'a Options,
    b: Built,
    variables: usize,
    rows: usize,
    build_ms: f64,
    solve_ms: f64,
    solves: u32,
    /// HiGHS kept warm across this run's LPs (HiGHS backend, LP mode).
    session: Option<HighsSession>,
}

impl Run<'_> {
    fn solve(&mut self, objective: &LinExpr, direction: Direction, duals: bool) -> Result<RawSolution, DispatchError> {
        if let Some(trace) = self.trace.as_mut() {
            trace.push(self.b.lp.to_mps(objective, direction == Direction::Maximise));
        }
        let started = Instant::now();
        let result = match self.session.as_mut() {
            Some(session) => session.solve(&self.b.lp, objective, direction, duals),
            None => solver::solve(&self.b.lp, objective, direction, self.options.backend, duals, self.options.time_limit_s),
        };
        let total_ms = started.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(sol) => {
                self.solves += 1;
                self.solve_ms += sol.solve_ms;
                self.build_ms += total_ms - sol.solve_ms;
                Ok(sol)
            }
            Err(Failure::Infeasible) => Err(diagnose::explain(self.plant, self.forecast, self.options, &self.b)),
            Err(Failure::Unbounded) => Err(DispatchError::Unbounded(
                "some quantity has no limit; check for a negative price on an unbounded variable".into(),
            )),
            Err(Failure::TimeLimit) => Err(DispatchError::TimeLimit(self.options.time_limit_s.unwrap_or(f64::INFINITY))),
            Err(Failure::Other(msg)) => Err(DispatchError::Solver(msg)),
        }
    }

    /// Duals of `sol`'s LP. In MILP mode the binaries are fixed at their values and the LP
    /// is solved again, the usual way to price a unit-commitment schedule.
    fn duals(&mut self, sol: &RawSolution, objective: &LinExpr) -> Result<Vec<f64>, DispatchError> {
        if !self.b.lp.has_integers() {
            return Ok(sol.duals.clone());
        }
        let saved = self.b.lp.cols.clone();
        for (j, col) in self.b.lp.cols.iter_mut().enumerate() {
            if col.integer {
                let v = sol.x[j].round();
                *col = super::lp::Col { lo: v, hi: v, integer: false };
            }
        }
        let fixed = self.solve(objective, Direction::Minimise, true);
        self.b.lp.cols = saved;
        Ok(fixed?.duals)
    }

    /// Dinkelbach: the exact maximum of N/D. Returns the share, the last solution and the
    /// number of iterations.
    fn max_share(&mut self) -> Result<(f64, RawSolution, u32), DispatchError> {
        let green = self.b.green.clone();
        let served = self.b.served.clone();
        let d0 = served.constant;
        let mut lambda = 0.0;
        for k in 1..=MAX_ITERATIONS {
            let objective = green.plus(-lambda, &served);
            let sol = self.solve(&objective, Direction::Maximise, false)?;
            let (n, d) = (green.eval(&sol.x), served.eval(&sol.x));
            if d <= 1e-9 * d0.max(1.0) {
                return Ok((lambda, sol, k));
            }
            let next = n / d;
            let gap = n - lambda * d;
            tracing::debug!(iteration = k, lambda, share = next, gap, "dinkelbach");
            if served.terms.is_empty() || gap <= 1e-10 * d0.max(1.0) || next <= lambda {
                return Ok((next.max(lambda), sol, k));
            }
            lambda = next;
        }
        Err(DispatchError::Solver(format!("Dinkelbach did not converge in {MAX_ITERATIONS} iterations")))
    }

    /// Adds N − share·D ≥ 0.
    fn push_share_floor(&mut self, family: Family, share: f64) -> RowId {
        let expr = self.b.green.plus(-share, &self.b.served);
        let subject = self.b.lp.subject(&self.plant.name);
        self.b.lp.row_expr(family, subject, &expr, Sense::Ge)
    }

    /// The colour attribution of `least`'s dispatch that delivers the most green energy to
    /// loads: every physical quantity stays as `least` has it (so the cost is unchanged
    /// exactly) and only the colour splits move. Falls back to `least` itself if that
    /// extra solve fails.
    fn attribute_colour(&mut self, least: &RawSolution) -> Result<Vec<f64>, DispatchError> {
        let colour = self.b.ix.colour_vars(self.b.lp.cols.len());
        let saved = self.b.lp.cols.clone();
        for (j, col) in self.b.lp.cols.iter_mut().enumerate() {
            if !colour[j] {
                let v = least.x[j].clamp(col.lo, col.hi);
                *col = super::lp::Col { lo: v, hi: v, integer: false };
            }
        }
        let green = self.b.green.clone();
        let result = self.solve(&green, Direction::Maximise, false);
        self.b.lp.cols = saved;
        match result {
            Ok(sol) => Ok(sol.x),
            Err(DispatchError::Infeasible(_)) | Err(DispatchError::Solver(_)) => {
                tracing::warn!("colour attribution failed; reporting the least-cost solve's own colours");
                Ok(least.x.clone())
            }
            Err(e) => Err(e),
        }
    }

    /// The share–cost frontier from the cost-optimal share to the maximum share.
    /// `least`: the least-cost point (share, cost) when already solved.
    fn frontier(&mut self, points: usize, least: Option<(f64, f64)>) -> Result<Vec<FrontierPoint>, DispatchError> {
        let cost = self.b.cost.clone();
        let (low, low_cost) = match least {
            Some(point) => point,
            None => {
                let least = self.solve(&cost, Direction::Minimise, false)?;
                let x = self.attribute_colour(&least)?;
                (share_of(&self.b, &x), least.objective)
            }
        };
        let (high, _, _) = self.max_share()?;
        let mut out = Vec::with_capacity(points);
        out.push(FrontierPoint { share: low, cost_yuan: low_cost });
        for k in 1..points {
            let share = low + (high - low) * k as f64 / (points - 1) as f64;
            self.push_share_floor(Family::ShareFloor, (share - 1e-9).max(0.0));
            let sol = self.solve(&cost, Direction::Minimise, false);
            self.b.lp.pop_row();
            out.push(FrontierPoint { share, cost_yuan: sol?.objective });
        }
        Ok(out)
    }
}

fn share_of(b: &Built, x: &[f64]) -> f64 {
    let d = b.served.eval(x);
    if d > 0.0 {
        b.green.eval(x) / d
    } else {
        0.0
    }
}
