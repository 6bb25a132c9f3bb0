//! The solver backends: our [`Lp`] handed to good_lp, solved by HiGHS (the production
//! backend, LP and MILP) or Clarabel (an interior-point LP backend used to cross-check);
//! and [`HighsSession`], one HiGHS instance kept warm across a run's LPs (the default).
//!
//! Duals are returned in one convention for both: `dual[r] = ∂(objective)/∂(rhs of r)`.

use std::time::Instant;

use good_lp::solvers::{ResolutionError, SolutionWithDual};
use good_lp::{constraint, variable, Expression, ProblemVariables, Solution, SolverModel, Variable};

use super::lp::{LinExpr, Lp, Sense};
use super::warm::Basis;

/// Which solver runs the LPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// HiGHS (dual simplex; branch and bound for the MILP mode), one instance kept warm
    /// across a run's LPs.
    #[default]
    Highs,
    /// HiGHS through good_lp, every LP solved from scratch (a cross-check of the warm
    /// session, and the baseline it is measured against).
    HighsCold,
    /// Clarabel (interior point; LP only).
    Clarabel,
}

impl Backend {
    /// Name as shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Highs => "highs",
            Backend::HighsCold => "highs-cold",
            Backend::Clarabel => "clarabel",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "highs" => Ok(Backend::Highs),
            "highs-cold" => Ok(Backend::HighsCold),
            "clarabel" => Ok(Backend::Clarabel),
            other => Err(format!("unknown backend '{other}' (highs, highs-cold, clarabel)")),
        }
    }
}

/// Direction of an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Minimise,
    Maximise,
}

/// What one solve produced.
#[derive(Debug, Clone)]
pub(crate) struct RawSolution {
    pub(crate) x: Vec<f64>,
    /// One per row, `∂objective/∂rhs`; empty when not asked for.
    pub(crate) duals: Vec<f64>,
    pub(crate) objective: f64,
    pub(crate) solve_ms: f64,
}

/// Why a solve gave no solution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    Infeasible,
    Unbounded,
    TimeLimit,
    Other(String),
}

impl From<ResolutionError> for Failure {
    fn from(e: ResolutionError) -> Self {
        match e {
            ResolutionError::Infeasible => Failure::Infeasible,
            ResolutionError::Unbounded => Failure::Unbounded,
            ResolutionError::Other(s) if s.contains("Time limit") => Failure::TimeLimit,
            other => Failure::Other(other.to_string()),
        }
    }
}

/// HiGHS's feasibility tolerances for the tie-break stages, whose canonical objective tells
/// vertices apart by small margins (the defaults, 1e-7, would let a warm and a cold solve
/// stop at different vertices).
const TIGHT_TOLERANCE: f64 = 1e-10;
/// HiGHS's default primal and dual feasibility tolerance.
const DEFAULT_TOLERANCE: f64 = 1e-7;

/// A failure of a run that used up its time limit is the time limit, whatever the solver
/// called it (a MILP stopped before its first feasible point reports "no solution found").
fn out_of_time(e: ResolutionError, started: Instant, time_limit_s: Option<f64>) -> Failure {
    match time_limit_s {
        Some(limit) if started.elapsed().as_secs_f64() >= 0.95 * limit => Failure::TimeLimit,
        _ => Failure::from(e),
    }
}

/// Solves `lp` for `objective` in `direction`; `tight`: with [`TIGHT_TOLERANCE`] (HiGHS).
pub(crate) fn solve(
    lp: &Lp,
    objective: &LinExpr,
    direction: Direction,
    backend: Backend,
    want_duals: bool,
    time_limit_s: Option<f64>,
    tight: bool,
) -> Result<RawSolution, Failure> {
    let mut vars = ProblemVariables::new();
    let xs: Vec<Variable> = lp
        .cols
        .iter()
        .map(|c| {
            let mut def = variable();
            if c.lo.is_finite() {
                def = def.min(c.lo);
            }
            if c.hi.is_finite() {
                def = def.max(c.hi);
            }
            if c.integer {
                def = def.integer();
            }
            vars.add(def)
        })
        .collect();
    let mut obj = Expression::with_capacity(objective.terms.len());
    for &(v, a) in &objective.terms {
        obj.add_mul(a, xs[v.idx()]);
    }
    let problem = match direction {
        Direction::Minimise => vars.minimise(obj),
        Direction::Maximise => vars.maximise(obj),
    };
    let rows = lp.rows.iter().map(|r| {
        let terms = lp.terms(r);
        let mut e = Expression::with_capacity(terms.len());
        for &(v, a) in terms {
            e.add_mul(a, xs[v.idx()]);
        }
        match r.sense {
            Sense::Le => constraint::leq(e, r.rhs),
            Sense::Ge => constraint::geq(e, r.rhs),
            Sense::Eq => constraint::eq(e, r.rhs),
        }
    });
    let started = Instant::now();
    let (x, duals) = match backend {
        Backend::Highs | Backend::HighsCold => {
            let mut model = problem.using(good_lp::solvers::highs::highs);
            model.set_verbose(false);
            if tight {
                model = model
                    .set_option("dual_feasibility_tolerance", TIGHT_TOLERANCE)
                    .set_option("primal_feasibility_tolerance", TIGHT_TOLERANCE);
            }
            model = model.set_threads(1);
            if let Some(limit) = time_limit_s {
                model = model.set_time_limit(limit);
            }
            if lp.has_integers() {
                model = model.set_mip_rel_gap(1e-9).map_err(|e| Failure::Other(e.to_string()))?;
            }
            let refs: Vec<_> = rows.map(|c| model.add_constraint(c)).collect();
            let mut sol = model.solve().map_err(|e| out_of_time(e, started, time_limit_s))?;
            if matches!(sol.status(), good_lp::solvers::SolutionStatus::TimeLimit) {
                return Err(Failure::TimeLimit);
            }
            let x: Vec<f64> = xs.iter().map(|&v| sol.value(v)).collect();
            let duals = if want_duals && !lp.has_integers() {
                let d = sol.compute_dual();
                refs.iter().map(|r| good_lp::solvers::DualValues::dual(&d, r.clone())).collect()
            } else {
                Vec::new()
            };
            (x, duals)
        }
        Backend::Clarabel => {
            if lp.has_integers() {
                return Err(Failure::Other("the clarabel backend solves LPs only; use highs for the MILP mode".into()));
            }
            let mut model = problem.using(good_lp::solvers::clarabel::clarabel);
            model.settings().tol_gap_abs(1e-9).tol_gap_rel(1e-10).tol_feas(1e-10).max_iter(400);
            if let Some(limit) = time_limit_s {
                model.settings().time_limit(limit);
            }
            let refs: Vec<_> = rows.map(|c| model.add_constraint(c)).collect();
            let mut sol = model.solve().map_err(|e| out_of_time(e, started, time_limit_s))?;
            let x: Vec<f64> = xs.iter().map(|&v| sol.value(v)).collect();
            let duals = if want_duals {
                let d = sol.compute_dual();
                refs.iter().map(|r| good_lp::solvers::DualValues::dual(&d, r.clone())).collect()
            } else {
                Vec::new()
            };
            (x, duals)
        }
    };
    let solve_ms = started.elapsed().as_secs_f64() * 1e3;
    let objective_value = objective.eval(&x);
    Ok(RawSolution { x, duals, objective: objective_value, solve_ms })
}

/// A row as the session sent it to HiGHS: sense, right-hand side, (column, coefficient).
type RowAsSent = (Sense, f64, Vec<(usize, f64)>);

/// One HiGHS instance kept across the solves of a run (LP only): each solve sends HiGHS
/// only what changed in [`Lp`] since the last one (objective coefficients, column bounds,
/// rows added or removed at the end) and HiGHS starts from the previous optimal basis.
/// Dinkelbach's iterations differ only in the objective, and the final least-cost stage
/// only by one added row, so they take a fraction of a cold solve's simplex iterations.
///
/// Results are those of a cold solve: the same optimum (to the solver's tolerances), duals
/// in the same convention (`∂objective/∂rhs`, HiGHS row duals of rows passed in their
/// own orientation, as good_lp passes them).
pub(crate) struct HighsSession {
    /// `None` only while HiGHS runs.
    model: Option<highs::Model>,
    /// Columns of the LP (HiGHS's column j is the LP's column j).
    cols: usize,
    /// Bounds as HiGHS has them.
    bounds: Vec<(f64, f64)>,
    /// Objective coefficients as HiGHS has them.
    costs: Vec<f64>,
    /// Rows of the LP when the session was made; later rows are tracked one by one.
    base_rows: usize,
    /// Rows beyond `base_rows` as HiGHS has them: (sense, rhs, terms).
    extra: Vec<RowAsSent>,
    direction: Direction,
    /// Solved once: later solves are warm-started.
    warm: bool,
    /// A basis to start the next solve from ([`HighsSession::seed`]).
    pending: Option<std::sync::Arc<Basis>>,
    /// The last solve started from a seeded basis.
    last_seeded: bool,
    /// The tight tolerances are set.
    tight: bool,
    /// How the next solve starts (see [`HighsSession::start_next`]).
    next: Start,
    /// Solves started from scratch after the first.
    cold_starts: u32,
    /// The flag HiGHS's interrupt callback reads (kept alive here, as HiGHS holds a raw
    /// pointer to it).
    _cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// HiGHS's interrupt callback: asks the running simplex, interior-point or MIP solve to
/// stop as soon as the session's cancellation flag is set.
///
/// # Safety
/// HiGHS calls it with `data_in` valid for writing and `user` the pointer the session
/// registered: an `AtomicBool` the session keeps alive for as long as HiGHS runs.
unsafe extern "C" fn interrupt(
    _kind: std::os::raw::c_int,
    _message: *const std::os::raw::c_char,
    _data_out: *const highs_sys::HighsCallbackDataOut,
    data_in: *mut highs_sys::HighsCallbackDataIn,
    user: *mut std::os::raw::c_void,
) {
    if user.is_null() || data_in.is_null() {
        return;
    }
    // SAFETY: see the function's contract.
    let flag = unsafe { &*(user as *const std::sync::atomic::AtomicBool) };
    if flag.load(std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: see the function's contract.
        unsafe { (*data_in).user_interrupt = 1 };
    }
}

/// HiGHS's callback types for interrupting a simplex, an interior-point and a MIP solve.
const INTERRUPT_CALLBACKS: [highs_sys::HighsInt; 3] = [1, 2, 6];

fn row_bounds(sense: Sense, rhs: f64) -> (f64, f64) {
    match sense {
        Sense::Le => (f64::NEG_INFINITY, rhs),
        Sense::Ge => (rhs, f64::INFINITY),
        Sense::Eq => (rhs, rhs),
    }
}

/// How a session's solve starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// From the last solve's basis by primal simplex (only the objective changed, or a row
    /// the last optimum satisfies was added): the default.
    Warm,
    /// From scratch: presolve, then dual simplex.
    Cold,
    /// From the last solve's basis by dual simplex: a row the last optimum violates was
    /// added, the objective kept.
    Dual,
}

/// Passes `lp` (with a zero objective) to HiGHS column-wise, as `highs::ColProblem` would,
/// onto an instance that already has its options and callback. `None` if HiGHS refuses it.
fn pass_lp(model: &mut highs::Model, lp: &Lp) -> Option<()> {
    let n = lp.cols.len();
    let mut count = vec![0usize; n + 1];
    for r in &lp.rows {
        for &(v, _) in lp.terms(r) {
            count[v.idx() + 1] += 1;
        }
    }
    for j in 0..n {
        count[j + 1] += count[j];
    }
    let starts: Vec<highs_sys::HighsInt> = count[..n].iter().map(|&c| c as highs_sys::HighsInt).collect();
    let nz = count[n];
    let (mut index, mut value) = (vec![0 as highs_sys::HighsInt; nz], vec![0.0; nz]);
    let mut next = count;
    let (mut row_lower, mut row_upper) = (Vec::with_capacity(lp.rows.len()), Vec::with_capacity(lp.rows.len()));
    for (k, r) in lp.rows.iter().enumerate() {
        let (lo, hi) = row_bounds(r.sense, r.rhs);
        row_lower.push(lo);
        row_upper.push(hi);
        for &(v, a) in lp.terms(r) {
            let at = next[v.idx()];
            index[at] = k as highs_sys::HighsInt;
            value[at] = a;
            next[v.idx()] += 1;
        }
    }
    let costs = vec![0.0; n];
    let (col_lower, col_upper): (Vec<f64>, Vec<f64>) = lp.cols.iter().map(|c| (c.lo, c.hi)).unzip();
    // SAFETY: the live HiGHS instance `model` owns; the cost and column-bound arrays have
    // one entry per column, the row-bound arrays one per row, `starts` one per column and
    // `index`/`value` `nz` entries, every index a row of the LP.
    let status = unsafe {
        highs_sys::Highs_passLp(
            model.as_mut_ptr(),
            n as highs_sys::HighsInt,
            lp.rows.len() as highs_sys::HighsInt,
            nz as highs_sys::HighsInt,
            highs_sys::MATRIX_FORMAT_COLUMN_WISE,
            highs_sys::OBJECTIVE_SENSE_MINIMIZE,
            0.0,
            costs.as_ptr(),
            col_lower.as_ptr(),
            col_upper.as_ptr(),
            row_lower.as_ptr(),
            row_upper.as_ptr(),
            starts.as_ptr(),
            index.as_ptr(),
            value.as_ptr(),
        )
    };
    (status != highs_sys::STATUS_ERROR).then_some(())
}

impl HighsSession {
    /// Loads `lp` (with a zero objective) into a new HiGHS instance. `None` for MILPs,
    /// which go through [`solve`].
    pub(crate) fn new(lp: &Lp, cancel: &super::Cancel) -> Option<HighsSession> {
        if lp.has_integers() {
            return None;
        }
        // The interrupt callback is registered on the empty instance, before the LP is
        // passed: HiGHS sizes the callback's input (a user solution, one entry per column)
        // when the callback is set, and its C interface copies that input on every call,
        // i.e. every simplex iteration. Registered after the LP, that was a copy of every
        // column per iteration: the year's least-cost LP took 284 s instead of HiGHS's
        // own 111 s (benches/README.md, "The hourly year").
        let mut model = highs::RowProblem::default().try_optimise(highs::Sense::Minimise).ok()?;
        model.make_quiet();
        model.set_threads(std::num::NonZeroU32::MIN);
        let flag = cancel.flag().clone();
        // SAFETY: `model` owns a live HiGHS instance; the callback's data is the flag's
        // AtomicBool, which the session keeps (`_cancel`) for as long as the instance lives.
        unsafe {
            let user = std::sync::Arc::as_ptr(&flag) as *mut std::os::raw::c_void;
            highs_sys::Highs_setCallback(model.as_mut_ptr(), Some(interrupt), user);
            for kind in INTERRUPT_CALLBACKS {
                highs_sys::Highs_startCallback(model.as_mut_ptr(), kind);
            }
        }
        pass_lp(&mut model, lp)?;
        Some(HighsSession {
            _cancel: flag,
            model: Some(model),
            bounds: lp.cols.iter().map(|c| (c.lo, c.hi)).collect(),
            costs: vec![0.0; lp.cols.len()],
            cols: lp.cols.len(),
            base_rows: lp.rows.len(),
            extra: Vec::new(),
            direction: Direction::Minimise,
            warm: false,
            pending: None,
            last_seeded: false,
            tight: false,
            next: Start::Warm,
            cold_starts: 0,
        })
    }

    /// Starts the next solve from `basis`, the final basis of an earlier LP of the same
    /// shape (see [`super::warm`]), by dual simplex: new bounds and right-hand sides may
    /// leave it primal infeasible. Taken after the model is brought up to date, if it fits
    /// (as many columns and rows as HiGHS then has) and HiGHS accepts it; otherwise the
    /// solve starts as it would have. [`HighsSession::seeded`] tells which.
    pub(crate) fn seed(&mut self, basis: std::sync::Arc<Basis>) {
        self.pending = Some(basis);
    }

    /// How the next solve starts, unless a seeded basis is taken (then dual simplex from it).
    pub(crate) fn start_next(&mut self, start: Start) {
        self.next = start;
    }

    /// How many solves started from scratch after the first (a [`Start::Cold`], many
    /// columns rebounded, or a warm start retried).
    pub(crate) fn cold_starts(&self) -> u32 {
        self.cold_starts
    }

    /// True when the last solve started from a basis given by [`HighsSession::seed`].
    pub(crate) fn seeded(&self) -> bool {
        self.last_seeded
    }

    /// Sets the pending basis, if any and if it fits; true when HiGHS took it.
    fn take_pending(&mut self, model: &mut highs::Model) -> bool {
        let Some(basis) = self.pending.take() else { return false };
        let rows = self.base_rows + self.extra.len();
        if basis.cols.len() != self.cols || basis.rows.len() != rows {
            return false;
        }
        // SAFETY: the live HiGHS instance `model` owns, with as many columns and rows as
        // the two arrays have entries (checked above).
        let status = unsafe { highs_sys::Highs_setBasis(model.as_mut_ptr(), basis.cols.as_ptr(), basis.rows.as_ptr()) };
        if status == highs_sys::STATUS_ERROR {
            tracing::debug!("HiGHS refused the warm-start basis");
            return false;
        }
        model.set_option("simplex_strategy", 1);
        model.set_option("presolve", "off");
        true
    }

    /// The basis HiGHS ended its last solve with (`None` before any solve).
    pub(crate) fn basis(&mut self) -> Option<Basis> {
        if !self.warm {
            return None;
        }
        let rows = self.base_rows + self.extra.len();
        let model = self.model.as_mut()?;
        let mut basis = Basis { cols: vec![0; self.cols], rows: vec![0; rows] };
        // SAFETY: the live HiGHS instance `model` owns; the arrays have one entry per
        // column and per row of its model (its base rows and the extra ones sent since).
        let status = unsafe { highs_sys::Highs_getBasis(model.as_mut_ptr(), basis.cols.as_mut_ptr(), basis.rows.as_mut_ptr()) };
        (status != highs_sys::STATUS_ERROR).then_some(basis)
    }

    /// Brings HiGHS's copy of the model up to `lp` and `objective`; returns how many
    /// columns' bounds changed.
    fn sync(&mut self, model: &mut highs::Model, lp: &Lp, objective: &LinExpr, direction: Direction) -> Result<usize, Failure> {
        let mut costs = vec![0.0; self.cols];
        for &(v, a) in &objective.terms {
            costs[v.idx()] += a;
        }
        // Changed costs and bounds go to HiGHS in one call each (one call per column was 5 %
        // of a day-ahead's instructions). Columns were added in order: column j is HiGHS's j.
        let mut set: Vec<highs_sys::HighsInt> = Vec::new();
        let mut values: Vec<f64> = Vec::new();
        for (j, (&new, old)) in costs.iter().zip(self.costs.iter_mut()).enumerate() {
            if new != *old {
                set.push(j as highs_sys::HighsInt);
                values.push(new);
                *old = new;
            }
        }
        if !set.is_empty() {
            // SAFETY: the pointer is the live HiGHS instance `model` owns; every index of
            // `set` is one of its columns, and `values` has one entry per index.
            let status = unsafe {
                highs_sys::Highs_changeColsCostBySet(model.as_mut_ptr(), set.len() as highs_sys::HighsInt, set.as_ptr(), values.as_ptr())
            };
            if status == highs_sys::STATUS_ERROR {
                return Err(Failure::Other("HiGHS could not change the costs".into()));
            }
        }
        if direction != self.direction {
            model.set_sense(match direction {
                Direction::Minimise => highs::Sense::Minimise,
                Direction::Maximise => highs::Sense::Maximise,
            });
            self.direction = direction;
        }
        let (mut set, mut lower, mut upper) = (Vec::new(), Vec::new(), Vec::new());
        for (j, (c, old)) in lp.cols.iter().zip(self.bounds.iter_mut()).enumerate() {
            if (c.lo, c.hi) != *old {
                set.push(j as highs_sys::HighsInt);
                lower.push(c.lo);
                upper.push(c.hi);
                *old = (c.lo, c.hi);
            }
        }
        let rebounded = set.len();
        if !set.is_empty() {
            // SAFETY: as for the costs above; `lower` and `upper` have one entry per index.
            let status = unsafe {
                highs_sys::Highs_changeColsBoundsBySet(
                    model.as_mut_ptr(),
                    set.len() as highs_sys::HighsInt,
                    set.as_ptr(),
                    lower.as_ptr(),
                    upper.as_ptr(),
                )
            };
            if status == highs_sys::STATUS_ERROR {
                return Err(Failure::Other("HiGHS could not change the column bounds".into()));
            }
        }
        if lp.rows.len() < self.base_rows {
            return Err(Failure::Other("the LP lost rows the solver session was built with".into()));
        }
        let wanted: Vec<RowAsSent> =
            lp.rows[self.base_rows..].iter().map(|r| (r.sense, r.rhs, lp.terms(r).iter().map(|&(v, a)| (v.idx(), a)).collect())).collect();
        let keep = self.extra.iter().zip(&wanted).take_while(|(a, b)| a == b).count();
        if keep < self.extra.len() {
            let from = (self.base_rows + keep) as highs_sys::HighsInt;
            let to = (self.base_rows + self.extra.len() - 1) as highs_sys::HighsInt;
            // SAFETY: the pointer is the live HiGHS instance `model` owns; the range lies
            // within its rows.
            let status = unsafe { highs_sys::Highs_deleteRowsByRange(model.as_mut_ptr(), from, to) };
            if status == highs_sys::STATUS_ERROR {
                return Err(Failure::Other("HiGHS could not delete rows".into()));
            }
            self.extra.truncate(keep);
        }
        // New rows go to HiGHS in one call: one call per row cost 2.5 ms each on a year
        // (a tie-break face holds up to 26,276 rows there: 66 s).
        let new: Vec<RowAsSent> = wanted.into_iter().skip(keep).collect();
        if !new.is_empty() {
            let (mut lower, mut upper, mut starts) =
                (Vec::with_capacity(new.len()), Vec::with_capacity(new.len()), Vec::with_capacity(new.len()));
            let (mut index, mut value): (Vec<highs_sys::HighsInt>, Vec<f64>) = (Vec::new(), Vec::new());
            for (sense, rhs, terms) in &new {
                let (lo, hi) = row_bounds(*sense, *rhs);
                lower.push(lo);
                upper.push(hi);
                starts.push(index.len() as highs_sys::HighsInt);
                for &(j, a) in terms {
                    index.push(j as highs_sys::HighsInt);
                    value.push(a);
                }
            }
            // SAFETY: the pointer is the live HiGHS instance `model` owns; `lower`, `upper`
            // and `starts` have one entry per new row, `index` and `value` one per nonzero,
            // and every index is one of its columns (column j is HiGHS's j).
            let status = unsafe {
                highs_sys::Highs_addRows(
                    model.as_mut_ptr(),
                    new.len() as highs_sys::HighsInt,
                    lower.as_ptr(),
                    upper.as_ptr(),
                    index.len() as highs_sys::HighsInt,
                    starts.as_ptr(),
                    index.as_ptr(),
                    value.as_ptr(),
                )
            };
            if status == highs_sys::STATUS_ERROR {
                return Err(Failure::Other("HiGHS could not add rows".into()));
            }
            self.extra.extend(new);
        }
        Ok(rebounded)
    }

    /// Limits the next solves to `seconds` (none: no limit).
    pub(crate) fn set_time_limit(&mut self, seconds: Option<f64>) {
        if let Some(model) = self.model.as_mut() {
            model.set_option("time_limit", seconds.unwrap_or(f64::INFINITY));
        }
    }

    /// Solves `lp` for `objective`, warm-started from the previous solve.
    pub(crate) fn solve(
        &mut self,
        lp: &Lp,
        objective: &LinExpr,
        direction: Direction,
        want_duals: bool,
        tight: bool,
    ) -> Result<RawSolution, Failure> {
        let mut model = self.model.take().ok_or_else(|| Failure::Other("the HiGHS session was lost by an earlier failure".into()))?;
        if tight != self.tight {
            let tolerance = if tight { TIGHT_TOLERANCE } else { DEFAULT_TOLERANCE };
            model.set_option("dual_feasibility_tolerance", tolerance);
            model.set_option("primal_feasibility_tolerance", tolerance);
            self.tight = tight;
        }
        let rebounded = self.sync(&mut model, lp, objective, direction)?;
        let seeded = self.take_pending(&mut model);
        self.last_seeded = seeded;
        // When most columns were just fixed (the colour attribution, MILP duals), presolve
        // removes them and a cold dual simplex on what is left beats re-pivoting the whole
        // model from the old basis (year, cost mode: 2.1 s against ≈ 27 s).
        let start = std::mem::replace(&mut self.next, Start::Warm);
        if start == Start::Dual && !seeded {
            model.set_option("simplex_strategy", 1);
        }
        let mut cold = (start == Start::Cold || (self.warm && rebounded * 2 > self.cols)) && !seeded;
        let mut solve_ms = 0.0;
        let mut attempt = 0;
        let (solved, outcome) = loop {
            attempt += 1;
            if cold {
                self.cold_starts += 1;
                // SAFETY: the live HiGHS instance `model` owns; clearing the solver keeps the model.
                unsafe { highs_sys::Highs_clearSolver(model.as_mut_ptr()) };
                model.set_option("simplex_strategy", 1);
                model.set_option("presolve", "choose");
            }
            let started = Instant::now();
            let solved = model.try_solve().map_err(|e| Failure::Other(format!("HiGHS error while solving: {e:?}")))?;
            solve_ms += started.elapsed().as_secs_f64() * 1e3;
            use highs::HighsModelStatus as S;
            let status = solved.status();
            let outcome = match status {
                S::Optimal => {
                    let sol = solved.get_solution();
                    let x = sol.columns().to_vec();
                    let duals = if want_duals { sol.dual_rows()[..lp.rows.len()].to_vec() } else { Vec::new() };
                    let objective_value = objective.eval(&x);
                    Ok(RawSolution { x, duals, objective: objective_value, solve_ms })
                }
                S::Infeasible | S::UnboundedOrInfeasible => Err(Failure::Infeasible),
                S::Unbounded => Err(Failure::Unbounded),
                S::ReachedTimeLimit | S::ReachedInterrupt | S::ReachedIterationLimit => Err(Failure::TimeLimit),
                other => Err(Failure::Other(format!("HiGHS ended with {other:?}"))),
            };
            // A warm start that ends without a verdict (status Unknown: numerical trouble
            // from the old basis) is solved once more from scratch.
            if matches!(outcome, Err(Failure::Other(_))) && (self.warm || seeded) && !cold && attempt == 1 {
                tracing::debug!(?status, "warm-started solve ended without a verdict; solving again from scratch");
                model = highs::Model::from(solved);
                cold = true;
                continue;
            }
            break (solved, outcome);
        };
        let mut model = highs::Model::from(solved);
        if !self.warm || cold || seeded || start == Start::Dual {
            // Every later solve starts from a primal-feasible basis (only the objective
            // changed, a row was added that the optimum satisfies, or bounds were fixed at
            // the optimum's values): primal simplex, and no presolve (which would discard
            // the basis). Day-ahead windy-winter: 34.6 -> 20.7 ms; see benches/README.md.
            model.set_option("simplex_strategy", 4);
            model.set_option("presolve", "off");
            self.warm = true;
        }
        self.model = Some(model);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Plant;
    use crate::model::builder::Builder;
    use crate::model::{Cancel, Objective, Options};
    use crate::synth::{generate, DayKind};

    /// The session's LP, passed column-wise after its callback was set, is the LP: it
    /// solves to the optimum of the good_lp path; and the interrupt callback still reaches
    /// a running simplex: with the flag set, HiGHS stops instead of solving.
    #[test]
    fn the_session_solves_its_lp_and_its_callback_interrupts_it() {
        let plant = Plant::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/xinyang.toml")).expect("models/xinyang.toml loads");
        let forecast = generate(&plant, DayKind::SpringValley, 60, 2);
        let options = Options { objective: Objective::Cost, ..Options::default() };
        let built = Builder::new(&plant, &forecast, &options).expect("builds").build();
        let cancel = Cancel::default();
        let mut session = HighsSession::new(&built.lp, &cancel).expect("an LP gets a session");
        let warm = session.solve(&built.lp, &built.cost, Direction::Minimise, true, false).expect("solves");
        let cold = solve(&built.lp, &built.cost, Direction::Minimise, Backend::HighsCold, true, None, false).expect("solves");
        assert!((warm.objective - cold.objective).abs() <= 1e-9 * cold.objective.abs(), "{} against {}", warm.objective, cold.objective);
        assert_eq!(warm.duals.len(), built.lp.rows.len());

        let cancel = Cancel::default();
        let mut session = HighsSession::new(&built.lp, &cancel).expect("an LP gets a session");
        cancel.cancel();
        let stopped = session.solve(&built.lp, &built.cost, Direction::Minimise, false, false);
        assert!(matches!(stopped, Err(Failure::TimeLimit)), "interrupted, not {:?}", stopped.map(|s| s.objective));
    }
}
