//! The objectives as sequences of solves over one model:
//!
//! - `green-share`: Dinkelbach iterations max N − λ·D, λ ← N/D, until max N − λ·D = 0
//!   (exact for LPs and MILPs alike); then least cost with N ≥ (s* − tol)·D.
//! - `green-energy`: max N; then least cost with N ≥ (1 − tol)·N*.
//! - `cost`: least cost (N ≥ σ·D when a minimum share is given).
//! - frontier: least cost at shares evenly spaced from the cost-optimal share to s*.
//!
//! Every objective then breaks the ties of its least-cost optimum by the same documented
//! lexicographic rule, on that optimum's face (held exactly through its duals): first the
//! highest green share among the least-cost dispatches, then the canonical objective
//! ([`canonical_objective`]). So the schedule — dispatch and colours — is a function of the
//! inputs alone, the same on every backend.
//!
//! Prices are the duals of the final least-cost solve (with binaries fixed in MILP mode).

use std::time::Instant;

use crate::domain::schedule::FrontierPoint;
use crate::domain::{Forecast, Plant, Schedule};

use super::builder::{Builder, Built};
use super::lp::{Family, LinExpr, RowId, Sense, Var};
use super::solver::{self, Backend, Direction, Failure, HighsSession, RawSolution};
use super::warm::Shape;
use super::{diagnose, solution, DispatchError, Objective, Options};

/// A reduced cost or dual below this (relative to the objective's largest coefficient) is
/// taken as zero when the tie-break stages hold an optimal face.
const FACE_TOLERANCE: f64 = 1e-7;

/// From how many scenarios a stochastic day-ahead's least-cost stage solves the least cost
/// without the share floor first (see `run_stages`): 20 windy-winter scenarios 11.8 s
/// against 16.3, 10 scenarios 3.1 against 4.0, 5 scenarios no gain (benches/README.md).
const COST_FIRST_SCENARIOS: usize = 8;

/// How far above the share floor's multiplier μ* the last solve of `Run::floor_multiplier`
/// goes (relative), for the optimal point on the floor's side of μ*.
const MULTIPLIER_STEP: f64 = 1e-6;

/// From how many columns the first LP on a newly held optimal face starts from scratch
/// (presolve, which removes the columns the face fixes, then dual simplex) rather than by
/// primal simplex from the last basis; the LPs after it on the same face differ only in
/// the objective and stay warm. Spring-valley hourly, cost mode, solver time warm against
/// cold: 1 day 27 against 39 ms, 7 days 355 against 562 ms, 14 days (29,904 columns) even
/// at 1.3 s, 30 days (64,080) 6.8 against 4.7 s, 91 days 56.7 against 45.5 s; on the
/// benchmark's year a face's first LP warm was unfinished after 9 min, cold it takes
/// 105–110 s, and the LP after it on the same face 0.2 s warm against 108 s cold
/// (benches/README.md, "The hourly year").
const TIE_BREAK_COLD_COLUMNS: usize = 40_000;

/// Which LPs of a run keep their bases across runs ([`Run::warm_key`]): the objective's
/// own stages, and the two tie-break stages (the highest share on the least-cost face, and
/// the canonical objective).
const OWN_STAGE: u8 = 0;
const FACE_SHARE: u8 = 1;
const FACE_CANONICAL: u8 = 2;

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
    let result = solve_run(plant, forecast, options, Staging { trace: trace.then_some(&mut lps), ..Staging::default() });
    (result, lps)
}

/// The objective's stages without the tie-break stages, on HiGHS from scratch whatever
/// `options` name (backend, warm starts): a vertex that depends on the input alone, the same
/// for every backend and run, but not the one schedule the tie-break rule picks, and its
/// colours as the solver left them. For a rolling solve's guide, of which only the storage
/// levels at window ends are read.
pub(crate) fn solve_untied(plant: &Plant, forecast: &Forecast, options: &Options) -> Result<Schedule, DispatchError> {
    let options = Options { backend: Backend::Highs, warm: super::WarmStarts::default(), ..options.clone() };
    solve_run(plant, forecast, &options, Staging { tie_break_stages: false, ..Staging::default() })
}

fn solve_run(plant: &Plant, forecast: &Forecast, options: &Options, staging: Staging<'_>) -> Result<Schedule, DispatchError> {
    plant.validate().map_err(DispatchError::InvalidPlant)?;
    forecast.validate(plant).map_err(DispatchError::InvalidForecast)?;
    options.validate(plant, forecast).map_err(DispatchError::InvalidOptions)?;
    if !options.risk.is_neutral() {
        let mut c = crate::domain::validation::Collector::default();
        c.push("risk", "weighs scenarios: only a stochastic day-ahead takes it (vpp solve --stochastic)");
        c.finish().map_err(DispatchError::InvalidOptions)?;
    }
    let started = Instant::now();
    let built = Builder::new(plant, forecast, options)?.build();
    let staged = run_stages(plant, forecast, options, built, started, staging)?;
    tracing::debug!(solves = staged.report.solves, cold_starts = staged.cold_starts, "stages solved");
    let mut schedule = solution::schedule(plant, forecast, options, &staged.b, &staged.x, &staged.duals, staged.report);
    schedule.warnings.extend(staged.warnings);
    Ok(schedule)
}

/// What the stages leave: the model, the final point and its duals, the solver's report
/// and the warnings of the tie-break stages.
pub(crate) struct Staged {
    pub(crate) b: Built,
    pub(crate) x: Vec<f64>,
    pub(crate) duals: Vec<f64>,
    pub(crate) report: solution::Report,
    pub(crate) warnings: Vec<String>,
    /// How many LPs the HiGHS session solved from scratch after its first.
    pub(crate) cold_starts: u32,
}

/// How [`run_stages`] runs.
pub(crate) struct Staging<'t> {
    /// Collects every LP solved, as MPS text.
    pub(crate) trace: Option<&'t mut Vec<String>>,
    /// Explain an infeasible model row by row (see [`diagnose::explain`]); otherwise it is
    /// reported without reasons and the caller explains it.
    pub(crate) diagnose: bool,
    /// End with the tie-break stages (every schedule a user sees does: see
    /// [`solve_untied`] for the one that does not).
    pub(crate) tie_break_stages: bool,
    /// From how many columns the first LP on a newly held optimal face starts from
    /// scratch ([`TIE_BREAK_COLD_COLUMNS`]).
    pub(crate) cold_face_columns: usize,
}

/// What every schedule a user sees gets: no trace, infeasibility explained, the tie-break
/// stages, large faces started from scratch.
impl Default for Staging<'_> {
    fn default() -> Self {
        Staging { trace: None, diagnose: true, tie_break_stages: true, cold_face_columns: TIE_BREAK_COLD_COLUMNS }
    }
}

/// Runs `options.objective`'s stages and the tie-break stages on a built model (one plant,
/// or every scenario of a stochastic day-ahead in one LP). `started` is when building
/// began: the time budget counts from it.
pub(crate) fn run_stages(
    plant: &Plant,
    forecast: &Forecast,
    options: &Options,
    built: Built,
    started: Instant,
    staging: Staging<'_>,
) -> Result<Staged, DispatchError> {
    let Staging { trace, diagnose, tie_break_stages, cold_face_columns } = staging;
    let deadline = options.time_limit_s.map(|s| started + std::time::Duration::from_secs_f64(s));
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
        warnings: Vec::new(),
        tie_break: false,
        tight: false,
        deadline,
        diagnose,
        warm_started: false,
        cold_face_columns,
    };
    if options.backend == Backend::Highs {
        let t = Instant::now();
        run.session = HighsSession::new(&run.b.lp, &options.cancel);
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
    let cost = run.b.cost.clone();
    let (stage1, fin, premium_row) = match options.objective {
        Objective::GreenShare => {
            // Warm: Dinkelbach starts at the share the last run of this shape found, its
            // first LP from the basis that run's last LP ended with (at the λ this run
            // starts at).
            let shape = run.warm_key(OWN_STAGE);
            let kept = shape.as_ref().and_then(|s| options.warm.share(s));
            let (share, best, iters, _) = run.kept(shape, |run| run.max_share(kept.unwrap_or(0.0), kept.is_none(), false))?;
            if let Some(shape) = shape {
                run.warm_started |= kept.is_some();
                options.warm.put_share(shape, share);
            }
            iterations = iters;
            let floor = (share - options.share_tolerance).max(0.0);
            // Many scenarios: primal simplex from the Dinkelbach optimum to the least cost
            // above the floor takes long (the floor is one dense row over every scenario).
            // Least cost without the floor first, from scratch; then the floor's multiplier
            // (`floor_multiplier`), which ends at a basis just above the floor: primal
            // simplex from there with the floor (or, if the search did not end above it,
            // dual simplex from where it ended; benches/README.md).
            let many = run.session.is_some() && run.b.more.len() + 1 >= COST_FIRST_SCENARIOS;
            let mut above = false;
            if many {
                run.start_next(solver::Start::Cold);
                let least = run.solve(&cost, Direction::Minimise, false)?;
                above = run.floor_multiplier(&cost, floor, &least, &best)?;
            }
            let row = run.push_share_floor(Family::ShareFloor, floor);
            if many && !above {
                run.start_next(solver::Start::Dual);
            }
            let fin = run.kept(run.warm_key(OWN_STAGE), |run| run.solve(&cost, Direction::Minimise, true))?;
            (share, fin, Some(row))
        }
        Objective::GreenEnergy => {
            let green = run.b.green.clone();
            let best = run.kept(run.warm_key(OWN_STAGE), |run| run.solve(&green, Direction::Maximise, false))?;
            let floor = best.objective * (1.0 - options.share_tolerance);
            let mut expr = green.clone();
            expr.constant -= floor;
            let subject = run.b.lp.subject(&plant.name);
            let row = run.b.lp.row_expr(Family::GreenFloor, subject, &expr, Sense::Ge);
            let fin = run.kept(run.warm_key(OWN_STAGE), |run| run.solve(&cost, Direction::Minimise, true))?;
            (best.objective, fin, Some(row))
        }
        Objective::Cost => {
            let least = run.kept(run.warm_key(OWN_STAGE), |run| run.solve(&cost, Direction::Minimise, true))?;
            let row = options
                .min_share
                .and_then(|_| run.b.lp.rows.iter().position(|r| r.name.family == Family::PlantMinShare).map(|k| RowId(k as u32)));
            (least.objective, least, row)
        }
    };
    // Prices come from the final least-cost LP; the tie-break stages below stay on its
    // optimal face, so they remain valid prices for the dispatch reported.
    let duals = run.duals(&fin, &cost)?;
    let x = if tie_break_stages { run.canonical(&fin, &cost, &duals)? } else { fin.x.clone() };
    if options.objective == Objective::Cost && options.frontier_points >= 2 {
        frontier = run.frontier(options.frontier_points, Some((share_of(&run.b, &x), fin.objective)))?;
    }
    let report = solution::Report {
        premium: premium_row.and_then(|r| duals.get(r.idx()).copied()),
        frontier,
        backend: options.backend,
        stage1,
        iterations,
        solves: run.solves,
        variables: run.variables,
        rows: run.rows,
        build_ms: run.build_ms,
        solve_ms: run.solve_ms,
        warm_started: run.warm_started,
    };
    let cold_starts = run.session.as_ref().map_or(0, HighsSession::cold_starts);
    Ok(Staged { b: run.b, x, duals, report, warnings: run.warnings, cold_starts })
}

/// Writes the base model (the `cost` objective's first LP) as free MPS, so HiGHS alone can
/// be timed on exactly the problem this crate solves.
pub fn export_mps(plant: &Plant, forecast: &Forecast, options: &Options) -> Result<String, DispatchError> {
    plant.validate().map_err(DispatchError::InvalidPlant)?;
    forecast.validate(plant).map_err(DispatchError::InvalidForecast)?;
    options.validate(plant, forecast).map_err(DispatchError::InvalidOptions)?;
    let built = Builder::new(plant, forecast, options)?.build();
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
    /// Things the tie-break stages could not do exactly.
    warnings: Vec<String>,
    /// True while the tie-break stages run: they need a vertex (see [`Run::backend`]).
    tie_break: bool,
    /// Tie-break stages at HiGHS's tight tolerances.
    tight: bool,
    /// When the whole run's time budget ends.
    deadline: Option<Instant>,
    /// Explain an infeasible model (see [`run_stages`]).
    diagnose: bool,
    /// An LP started from an earlier run's basis ([`Run::kept`]).
    warm_started: bool,
    /// See [`Staging::cold_face_columns`].
    cold_face_columns: usize,
}

impl Run<'_> {
    /// The backend of the next solve. The tie-break stages need the vertex their rule
    /// picks; an interior-point method returns the centre of an optimal face instead, so
    /// on the clarabel backend they run on HiGHS (simplex, from scratch), on the face that
    /// Clarabel's own optimum defines. Share, cost and prices stay Clarabel's.
    fn backend(&self) -> Backend {
        match self.options.backend {
            Backend::Clarabel if self.tie_break => Backend::HighsCold,
            other => other,
        }
    }

    fn solve(&mut self, objective: &LinExpr, direction: Direction, duals: bool) -> Result<RawSolution, DispatchError> {
        if let Some(trace) = self.trace.as_mut() {
            trace.push(self.b.lp.to_mps(objective, direction == Direction::Maximise));
        }
        if self.options.cancel.is_cancelled() {
            return Err(DispatchError::Cancelled);
        }
        // Every LP gets what is left of the run's budget, so the whole solve ends by the
        // deadline whatever the number of stages.
        let remaining = match self.deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now()).as_secs_f64();
                if left <= 0.0 {
                    return Err(DispatchError::TimeLimit(self.options.time_limit_s.unwrap_or(0.0)));
                }
                Some(left)
            }
            None => None,
        };
        let started = Instant::now();
        let result = match self.session.as_mut() {
            Some(session) => {
                session.set_time_limit(remaining);
                session.solve(&self.b.lp, objective, direction, duals, self.tie_break && self.tight)
            }
            None => solver::solve(&self.b.lp, objective, direction, self.backend(), duals, remaining, self.tie_break && self.tight),
        };
        let total_ms = started.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(sol) => {
                tracing::trace!(lp = self.solves + 1, solve_ms = sol.solve_ms, tie_break = self.tie_break, "LP solved");
                self.warm_started |= self.session.as_ref().is_some_and(HighsSession::seeded);
                self.solves += 1;
                self.solve_ms += sol.solve_ms;
                self.build_ms += total_ms - sol.solve_ms;
                Ok(sol)
            }
            // A tie-break stage is infeasible only numerically (its face comes from a solved
            // optimum): no diagnosis, the caller falls back.
            Err(Failure::Infeasible) if self.tie_break => Err(DispatchError::Solver("tie-break stage infeasible".into())),
            Err(Failure::Infeasible) if !self.diagnose => Err(DispatchError::Infeasible(Vec::new())),
            Err(Failure::Infeasible) => Err(diagnose::explain(self.plant, self.forecast, self.options, &self.b)),
            Err(Failure::Unbounded) => {
                Err(DispatchError::Unbounded("some quantity has no limit; check for a negative price on an unbounded variable".into()))
            }
            Err(Failure::TimeLimit) if self.options.cancel.is_cancelled() => Err(DispatchError::Cancelled),
            Err(Failure::TimeLimit) => Err(DispatchError::TimeLimit(self.options.time_limit_s.unwrap_or(f64::INFINITY))),
            Err(Failure::Other(msg)) => Err(DispatchError::Solver(msg)),
        }
    }

    /// How the next LP starts in the HiGHS session, if there is one.
    fn start_next(&mut self, start: solver::Start) {
        if let Some(session) = self.session.as_mut() {
            session.start_next(start);
        }
    }

    /// Duals of `sol`'s LP. In MILP mode the binaries are fixed at their values and the LP
    /// is solved again, the usual way to price a unit-commitment schedule.
    fn duals(&mut self, sol: &RawSolution, objective: &LinExpr) -> Result<Vec<f64>, DispatchError> {
        if !self.b.lp.has_integers() {
            return Ok(sol.duals.clone());
        }
        let saved = self.b.lp.cols.clone();
        self.fix_integers(&sol.x);
        let fixed = self.solve(objective, Direction::Minimise, true);
        self.b.lp.cols = saved;
        Ok(fixed?.duals)
    }

    /// Fixes every binary at its (rounded) value in `x`, leaving an LP.
    fn fix_integers(&mut self, x: &[f64]) {
        for (j, col) in self.b.lp.cols.iter_mut().enumerate() {
            if col.integer {
                let v = x[j].round();
                *col = super::lp::Col { lo: v, hi: v, integer: false };
            }
        }
    }

    /// Restores the LP's columns and drops the rows added since `rows`.
    fn restore(&mut self, cols: Vec<super::lp::Col>, rows: usize) {
        self.b.lp.cols = cols;
        while self.b.lp.rows.len() > rows {
            self.b.lp.pop_row();
        }
    }

    /// The tie-break stages (one answer on every backend). `fin` is the final least-cost
    /// solution and `duals` its row duals (of the LP with binaries fixed in MILP mode).
    /// Within the optimal face of that least-cost LP:
    ///
    /// 1. the highest green share (Dinkelbach again, on the face): among dispatches of
    ///    equal cost, the greenest;
    /// 2. on the face of that, the canonical objective of [`canonical_objective`]: keep the
    ///    most green energy stored, then move the least energy, with fixed priorities
    ///    between assets and intervals, so that no tie is left to the solver.
    ///
    /// The face is held exactly, not by a cost cap with a tolerance: columns with a
    /// nonzero reduced cost are fixed at their bound and inequalities with a nonzero dual
    /// are held tight. The LP is restored afterwards.
    fn canonical(&mut self, fin: &RawSolution, cost: &LinExpr, duals: &[f64]) -> Result<Vec<f64>, DispatchError> {
        // The face is held from a vertex and its duals. Clarabel's interior-point optimum
        // is near the centre of the face and its duals are only near zero where they
        // vanish, which misjudges which rows and columns the face holds; its final LP is
        // solved once more by HiGHS (from scratch) for the vertex the tie-break starts
        // from. Share, cost and prices stay Clarabel's.
        let vertex;
        let (fin, duals) = if self.options.backend == Backend::Clarabel {
            self.tie_break = true;
            self.tight = false;
            let solved = self.solve(cost, Direction::Minimise, true);
            self.tie_break = false;
            match solved {
                Ok(v) => {
                    vertex = v;
                    (&vertex, vertex.duals.as_slice())
                }
                Err(_) => (fin, duals),
            }
        } else {
            (fin, duals)
        };
        let saved = (self.b.lp.cols.clone(), self.b.lp.rows.len());
        // Tight tolerances first; a face held from an interior-point optimum can be
        // infeasible by 1e-9 at them (a share floor at Clarabel's own maximum), so once
        // more at HiGHS's defaults.
        let mut outcome = Err(DispatchError::Solver(String::new()));
        for tight in [true, false] {
            if self.b.lp.has_integers() {
                self.fix_integers(&fin.x);
            }
            self.tie_break = true;
            self.tight = tight;
            outcome = self.canonical_on_face(fin, cost, duals);
            self.tie_break = false;
            self.restore(saved.0.clone(), saved.1);
            match &outcome {
                Err(e @ (DispatchError::Infeasible(_) | DispatchError::Solver(_))) => {
                    tracing::debug!(tight, error = %e, "tie-break stages failed");
                }
                _ => break,
            }
        }
        match outcome {
            Ok(x) => Ok(x),
            Err(DispatchError::Infeasible(_)) | Err(DispatchError::Solver(_)) => {
                tracing::warn!("tie-break stages failed; colour attributed to the least-cost dispatch as it came");
                self.warnings.push(
                    "the tie-break stages failed numerically: ties in the dispatch are as the solver left them (colours follow the rule)"
                        .into(),
                );
                self.colour_only(&fin.x)
            }
            Err(e) => Err(e),
        }
    }

    /// The last resort of [`Run::canonical`]: the dispatch `x` kept exactly, only its
    /// colour parts chosen by the canonical objective (so colour is still conserved).
    fn colour_only(&mut self, x: &[f64]) -> Result<Vec<f64>, DispatchError> {
        let colour = self.b.colour_vars();
        let saved = (self.b.lp.cols.clone(), self.b.lp.rows.len());
        for (j, col) in self.b.lp.cols.iter_mut().enumerate() {
            if !colour[j] {
                let v = x[j].clamp(col.lo, col.hi);
                *col = super::lp::Col { lo: v, hi: v, integer: false };
            }
        }
        self.tie_break = true;
        self.tight = false;
        let objective = canonical_objective(&self.b);
        let result = self.solve(&objective, Direction::Maximise, false);
        self.tie_break = false;
        self.restore(saved.0, saved.1);
        match result {
            Ok(sol) => Ok(sol.x),
            Err(DispatchError::Infeasible(_)) | Err(DispatchError::Solver(_)) => Ok(x.to_vec()),
            Err(e) => Err(e),
        }
    }

    fn canonical_on_face(&mut self, fin: &RawSolution, cost: &LinExpr, duals: &[f64]) -> Result<Vec<f64>, DispatchError> {
        self.hold_face(&fin.x, duals, cost, Direction::Minimise);
        let start = share_of(&self.b, &fin.x);
        let (_, best, _, lambda) = self.kept(self.warm_key(FACE_SHARE), |run| run.max_share(start, true, true))?;
        let dinkelbach = self.b.green.plus(-lambda, &self.b.served);
        self.hold_face(&best.x, &best.duals, &dinkelbach, Direction::Maximise);
        let objective = canonical_objective(&self.b);
        let sol = self.kept(self.warm_key(FACE_CANONICAL), |run| run.solve(&objective, Direction::Maximise, false))?;
        Ok(sol.x)
    }

    /// The key under which this run's LP as it stands now keeps its basis across runs (see
    /// [`super::warm`] and [`Run::kept`]), if the cache is on and HiGHS runs in a session:
    /// `stage` [`OWN_STAGE`] for the objective's own stages, [`FACE_SHARE`] or
    /// [`FACE_CANONICAL`] for a tie-break stage, whose LP carries rows of this run's own
    /// optimal faces (a kept basis is found only by a run whose faces hold the same rows,
    /// the same day planned again). None for a tie-break stage from `cold_face_columns`
    /// columns on: its faces start from scratch.
    fn warm_key(&self, stage: u8) -> Option<Shape> {
        let cold_face = stage != OWN_STAGE && self.b.lp.cols.len() >= self.cold_face_columns;
        if self.session.is_none() || !self.options.warm.is_on() || cold_face {
            return None;
        }
        Some(Shape::of(&self.b.lp, self.options.objective).at_stage(stage))
    }

    /// Runs `lps` (one LP, or a sequence of LPs of one shape such as Dinkelbach's) warm
    /// across runs under `key` (from [`Run::warm_key`]): its first LP starts from the basis
    /// kept under `key`, if any, and the basis its last LP ends with is kept under `key`
    /// for later runs, where a repeated sequence will start.
    fn kept<T>(&mut self, key: Option<Shape>, lps: impl FnOnce(&mut Self) -> Result<T, DispatchError>) -> Result<T, DispatchError> {
        let Some(key) = key else { return lps(self) };
        if let (Some(session), Some(basis)) = (self.session.as_mut(), self.options.warm.get(&key)) {
            session.seed(basis);
        }
        let out = lps(self)?;
        if let Some(basis) = self.session.as_mut().and_then(HighsSession::basis) {
            self.options.warm.put(key, basis);
        }
        Ok(out)
    }

    /// The highest share among the dispatches of `least`'s cost (tie-break 1 alone).
    fn least_cost_share(&mut self, least: &RawSolution, cost: &LinExpr) -> Result<f64, DispatchError> {
        let saved = (self.b.lp.cols.clone(), self.b.lp.rows.len());
        self.hold_face(&least.x, &least.duals, cost, Direction::Minimise);
        let start = share_of(&self.b, &least.x);
        self.tie_break = true;
        let result = self.max_share(start, true, false);
        self.tie_break = false;
        self.restore(saved.0, saved.1);
        Ok(result?.0)
    }

    /// Restricts the LP to the optimal face of the point `x` for `objective`, given the
    /// row duals `duals` (`∂objective/∂rhs`). A point of an LP is optimal exactly when it
    /// is complementary to an optimal dual, so every column whose reduced cost
    /// c_j − Σ_i a_ij·y_i is nonzero is fixed at the bound its sign names, and every
    /// inequality whose dual is nonzero is repeated as an equality. (Signs, not `x`, decide:
    /// an interior-point `x` is only near its bounds.)
    fn hold_face(&mut self, x: &[f64], duals: &[f64], objective: &LinExpr, direction: Direction) {
        let lp = &mut self.b.lp;
        if duals.len() < lp.rows.len() {
            self.warnings.push("no duals for the tie-break stages: ties are as the solver left them".into());
            return;
        }
        let mut reduced = vec![0.0; lp.cols.len()];
        for &(v, a) in &objective.terms {
            reduced[v.idx()] += a;
        }
        let scale = 1.0 + reduced.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        for (k, r) in lp.rows.iter().enumerate() {
            let y = duals[k];
            if y != 0.0 {
                for &(v, a) in &lp.coefs[r.start..r.end] {
                    reduced[v.idx()] -= a * y;
                }
            }
        }
        let threshold = FACE_TOLERANCE * scale;
        let (mut fixed, mut held, mut odd) = (0usize, 0usize, 0usize);
        for (j, col) in lp.cols.iter_mut().enumerate() {
            if reduced[j].abs() <= threshold || col.lo == col.hi {
                continue;
            }
            // Complementary slackness: minimising, a positive reduced cost holds the column
            // at its lower bound; maximising, at its upper bound (and the other way round).
            let at = if (reduced[j] > 0.0) == (direction == Direction::Minimise) { col.lo } else { col.hi };
            if !at.is_finite() {
                odd += 1;
                continue;
            }
            if (x[j] - at).abs() > 1e-5 * (1.0 + at.abs()) {
                odd += 1;
            }
            *col = super::lp::Col { lo: at, hi: at, integer: false };
            fixed += 1;
        }
        for k in 0..lp.rows.len() {
            let r = lp.rows[k].clone();
            if r.sense == Sense::Eq || duals[k].abs() <= threshold {
                continue;
            }
            let terms = lp.terms(&r).to_vec();
            lp.row(Family::OptimalFace, r.name.subject, r.name.t.map(|t| t as usize), terms, Sense::Eq, r.rhs);
            held += 1;
        }
        tracing::debug!(fixed, held, odd, "optimal face held");
        if lp.cols.len() >= self.cold_face_columns {
            self.start_next(solver::Start::Cold);
        }
    }

    /// Dinkelbach: the exact maximum of N/D. Returns the share, the last solution and the
    /// number of iterations; with `duals` the last LP's duals are kept. Also returns the λ
    /// of that last LP, whose optimal face is the set of maximum-share dispatches.
    ///
    /// λ starts at `start`. From 0, or from the share of a dispatch (`proven`: a share some
    /// point reaches), λ only rises: the first λ with max N − λ·D = 0 is the answer. Any
    /// other start (a share kept from another run) may lie above the optimum s*: then
    /// max N − λ·D < 0, and the dispatch found has a share below s*, from which λ rises as
    /// before. At λ = s* every maximiser has N = s*·D, so a kept share that is still right
    /// ends in one LP.
    fn max_share(&mut self, start: f64, proven: bool, duals: bool) -> Result<(f64, RawSolution, u32, f64), DispatchError> {
        let green = self.b.green.clone();
        let served = self.b.served.clone();
        let d0 = served.constant;
        let tolerance = 1e-10 * d0.max(1.0);
        let mut lambda = start;
        let mut proven = proven || start == 0.0;
        for k in 1..=MAX_ITERATIONS {
            let objective = green.plus(-lambda, &served);
            let sol = self.solve(&objective, Direction::Maximise, duals)?;
            let (n, d) = (green.eval(&sol.x), served.eval(&sol.x));
            if d <= 1e-9 * d0.max(1.0) {
                if proven {
                    return Ok((lambda, sol, k, lambda));
                }
                // Nothing served at a kept λ: start again from 0.
                (lambda, proven) = (0.0, true);
                continue;
            }
            let next = n / d;
            let gap = n - lambda * d;
            tracing::debug!(iteration = k, lambda, share = next, gap, proven, "dinkelbach");
            // Served energy fixed (no interruption, no curtail bid): every λ has the same
            // maximiser, and its share is the answer, whatever λ was.
            let fixed = served.terms.is_empty();
            if fixed || gap.abs() <= tolerance || (proven && (gap <= tolerance || next <= lambda)) {
                // Only a proven λ is a share reached; a kept one may lie above the optimum.
                return Ok((if proven { next.max(lambda) } else { next }, sol, k, lambda));
            }
            (lambda, proven) = (next, true);
        }
        Err(DispatchError::Solver(format!("Dinkelbach did not converge in {MAX_ITERATIONS} iterations")))
    }

    /// The multiplier μ* of the share floor N − floor·D ≥ 0 (g ≥ 0 below) in the least-cost
    /// LP, found without the floor row: the Lagrangian L(μ) = min (cost − μ·g) is concave
    /// and piecewise linear, and each solve at μ gives a point x on the line cost(x) − μ·g(x)
    /// that supports it. Starting from the least-cost point `a` (g < 0) and the Dinkelbach
    /// optimum `b` (g ≥ 0), the next μ is where their lines cross; the point found there
    /// replaces `a` or `b` by the sign of its g, until it lies on the crossing (then both
    /// are optimal at μ = μ*), as Dinkelbach's iterations do for the share. Each solve
    /// changes only the objective, from the last basis by primal simplex. Then one solve at
    /// μ* slightly raised, for the optimal point on the floor's side: a basis feasible for
    /// the floored LP and optimal for its Lagrangian, from which primal simplex needs few
    /// iterations. True when the last solve ended above the floor.
    ///
    /// The floored LP is solved after it either way: the search only chooses its start, so
    /// its result (and the schedule) does not depend on it.
    fn floor_multiplier(&mut self, cost: &LinExpr, floor: f64, a: &RawSolution, b: &RawSolution) -> Result<bool, DispatchError> {
        let g = self.b.green.plus(-floor, &self.b.served);
        let (mut ca, mut ga) = (cost.eval(&a.x), g.eval(&a.x));
        let (mut cb, mut gb) = (cost.eval(&b.x), g.eval(&b.x));
        if ga >= 0.0 {
            return Ok(true);
        }
        for k in 1..=MAX_ITERATIONS {
            if gb <= ga {
                break;
            }
            let mu = ((cb - ca) / (gb - ga)).max(0.0);
            let sol = self.solve(&cost.plus(-mu, &g), Direction::Minimise, false)?;
            let (c, gx) = (cost.eval(&sol.x), g.eval(&sol.x));
            let line = ca - mu * ga;
            let value = c - mu * gx;
            tracing::debug!(iteration = k, mu, cost = c, g = gx, gap = line - value, "floor multiplier");
            if value >= line - 1e-9 * (1.0 + line.abs()) {
                if gx >= 0.0 {
                    return Ok(true);
                }
                let above = self.solve(&cost.plus(-mu * (1.0 + MULTIPLIER_STEP), &g), Direction::Minimise, false)?;
                return Ok(g.eval(&above.x) >= 0.0);
            }
            if gx < 0.0 {
                (ca, ga) = (c, gx);
            } else {
                (cb, gb) = (c, gx);
            }
        }
        Ok(false)
    }

    /// Adds N − share·D ≥ 0.
    fn push_share_floor(&mut self, family: Family, share: f64) -> RowId {
        let expr = self.b.green.plus(-share, &self.b.served);
        let subject = self.b.lp.subject(&self.plant.name);
        self.b.lp.row_expr(family, subject, &expr, Sense::Ge)
    }

    /// The share–cost frontier from the cost-optimal share to the maximum share.
    /// `least`: the least-cost point (share, cost) when already solved.
    fn frontier(&mut self, points: usize, least: Option<(f64, f64)>) -> Result<Vec<FrontierPoint>, DispatchError> {
        let cost = self.b.cost.clone();
        let (low, low_cost) = match least {
            Some(point) => point,
            None => {
                let least = self.solve(&cost, Direction::Minimise, true)?;
                (self.least_cost_share(&least, &cost)?, least.objective)
            }
        };
        let (high, _, _, _) = self.max_share(0.0, true, false)?;
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

/// Weight of "move the least energy" against "keep the most green stored" in the
/// canonical objective, per MWh.
const MOVE_WEIGHT: f64 = 1e-3;

/// Every coefficient of the canonical objective is multiplied by its own fixed factor in
/// [1, 1 + SPREAD), so that no two choices weigh the same and the optimum is one vertex.
const SPREAD: f64 = 1e-2;

/// The fixed factor of column `j`: splitmix64 of its number, mapped to [1, 1 + SPREAD).
/// Columns are numbered in the order the families add them, so the factor depends on the
/// plant and horizon alone.
fn factor(j: usize) -> f64 {
    let mut z = (j as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    1.0 + SPREAD * (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The canonical objective of the last tie-break stage (maximised on the face of the
/// least-cost, greenest dispatches). In words, where cost and share leave a choice:
///
/// - storage keeps green energy rather than grey: green is stored before grey and grey is
///   released before green (Σ green stored energy, every interval, weight 1 per MWh);
/// - every green use is rewarded (green to load, green charged through the stock, green
///   exported and sold: weight 10⁻³), which makes the hourly matching row tight; so is a
///   park's own green from behind its meter (weight 10⁻³), which it gets first;
/// - no energy is moved that need not be (weight 10⁻³ per MWh): the least storage
///   throughput, imports, exports, interruptions, spill and thermal output, and the least
///   curtailment; a marginal award at equal prices is raised rather than cut;
/// - each coefficient carries its column's fixed factor ([`factor`]), so what is left of a
///   tie is decided by a fixed, documented order, never by the solver.
fn canonical_objective(b: &Built) -> LinExpr {
    let dt = b.h.dt;
    let mut o = LinExpr::default();
    let mut add = |v: Var, w: f64| o.add(v, w * factor(v.idx()));
    let m = MOVE_WEIGHT * dt;
    for &v in &b.moves {
        add(v, -m);
    }
    for ix in b.indices() {
        canonical_terms(ix, dt, &mut add);
    }
    o
}

/// The canonical objective's terms for one copy of the plant.
fn canonical_terms(ix: &super::builder::Index, dt: f64, add: &mut impl FnMut(Var, f64)) {
    let m = MOVE_WEIGHT * dt;
    for s in &ix.storage {
        for t in 0..s.charge.len() {
            add(s.energy_green[t], 1.0);
            add(s.charge[t], -m);
            add(s.discharge[t], -m);
            if let Some(sp) = s.spill[t] {
                add(sp, -MOVE_WEIGHT);
            }
        }
    }
    for &v in ix.renewable.iter().flatten() {
        add(v, m);
    }
    for k in 0..ix.import.len() {
        for t in 0..ix.import[k].len() {
            add(ix.import[k][t], -m);
            add(ix.export[k][t], -m);
            if let Some(eg) = ix.export_green[k][t] {
                add(eg, m);
            }
        }
    }
    for &v in ix.interrupted.iter().flatten() {
        add(v, -m);
    }
    for (&x, g) in ix.bid.iter().zip(&ix.bid_green) {
        add(x, m);
        if let Some(g) = g {
            add(*g, m);
        }
    }
    for &v in &ix.green_to_load {
        add(v, MOVE_WEIGHT);
    }
    // A park's own green counts for it first: as much as its meter allows.
    for &v in ix.own_green.iter().flatten().flatten() {
        add(v, MOVE_WEIGHT);
    }
    for &v in ix.thermal.iter().flatten() {
        add(v, -m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{generate, DayKind};

    /// Every number in `a` equals its place in `b` to 1e-6 relative (the solver's report
    /// left out: timings differ).
    fn same_numbers(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(x.len(), y.len(), "{at}: fields");
                for (k, v) in x.iter().filter(|(k, _)| k.as_str() != "solver") {
                    same_numbers(v, &y[k], &format!("{at}.{k}"));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}: length");
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    same_numbers(v, w, &format!("{at}[{i}]"));
                }
            }
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
                assert!((x - y).abs() <= 1e-6 * (1.0 + x.abs()), "{at}: {x} against {y}");
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }

    /// A 2-day cost-mode solve with its tie-break faces started from scratch, and with them
    /// started warm: HiGHS really takes each path, and both give the same schedule.
    #[test]
    fn a_face_started_from_scratch_gives_the_warm_schedule() {
        let plant = Plant::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/xinyang.toml")).expect("models/xinyang.toml loads");
        let forecast = generate(&plant, DayKind::WindyWinter, 60, 2);
        let options = Options { objective: Objective::Cost, ..Options::default() };
        let solved = |cold_face_columns| {
            let built = Builder::new(&plant, &forecast, &options).expect("builds").build();
            let staging = Staging { cold_face_columns, ..Staging::default() };
            let s = run_stages(&plant, &forecast, &options, built, Instant::now(), staging).expect("solves");
            let schedule = solution::schedule(&plant, &forecast, &options, &s.b, &s.x, &s.duals, s.report);
            (s.cold_starts, serde_json::to_value(schedule).expect("serialises"))
        };
        let ((warm_starts, warm), (cold_starts, cold)) = (solved(usize::MAX), solved(0));
        assert_eq!(warm_starts, 0, "no face started from scratch");
        // Two faces (the least-cost optimum's, then the greenest one's): two cold starts.
        assert_eq!(cold_starts, 2, "each newly held face started from scratch");
        same_numbers(&warm, &cold, "schedule");
    }
}
