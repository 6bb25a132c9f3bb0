//! The solver backends: our [`Lp`] handed to good_lp, solved by HiGHS (the production
//! backend, LP and MILP) or Clarabel (an interior-point LP backend used to cross-check).
//!
//! Duals are returned in one convention for both: `dual[r] = ∂(objective)/∂(rhs of r)`.

use std::time::Instant;

use good_lp::solvers::{ResolutionError, SolutionWithDual};
use good_lp::{constraint, variable, Expression, ProblemVariables, Solution, SolverModel, Variable};

use super::lp::{LinExpr, Lp, Sense};

/// Which solver runs the LPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// HiGHS (dual simplex; branch and bound for the MILP mode).
    #[default]
    Highs,
    /// Clarabel (interior point; LP only).
    Clarabel,
}

impl Backend {
    /// Name as shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Highs => "highs",
            Backend::Clarabel => "clarabel",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "highs" => Ok(Backend::Highs),
            "clarabel" => Ok(Backend::Clarabel),
            other => Err(format!("unknown backend '{other}' (highs, clarabel)")),
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

/// Solves `lp` for `objective` in `direction`.
pub(crate) fn solve(
    lp: &Lp,
    objective: &LinExpr,
    direction: Direction,
    backend: Backend,
    want_duals: bool,
    time_limit_s: Option<f64>,
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
        Backend::Highs => {
            let mut model = problem.using(good_lp::solvers::highs::highs);
            model.set_verbose(false);
            model = model.set_threads(1);
            if let Some(limit) = time_limit_s {
                model = model.set_time_limit(limit);
            }
            if lp.has_integers() {
                model = model.set_mip_rel_gap(1e-9).map_err(|e| Failure::Other(e.to_string()))?;
            }
            let refs: Vec<_> = rows.map(|c| model.add_constraint(c)).collect();
            let mut sol = model.solve()?;
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
            let mut sol = model.solve()?;
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
