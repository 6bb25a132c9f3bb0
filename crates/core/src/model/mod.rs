//! The dispatch LP: built from a plant, a forecast and options; solved in stages
//! (lexicographic green share, then cost); turned into a [`Schedule`].
//!
//! Architecture invariant: this module does no IO and knows nothing of gRPC, storage or
//! async runtimes; it is a pure function from inputs to a schedule or a typed error.
//!
//! One file per family of MODEL.md: `wind_pv`, `storage` (every kind: pumped hydro, CAES,
//! batteries), `load`, `grid` (with thermal units), `bids`, `network`, `green` (with the
//! parks' own green behind their meters). Each family adds its variables and rows and
//! reads its own results back; `solution` puts the schedule together, `stages` runs the
//! objectives, `diagnose` explains infeasible inputs.

mod bids;
mod builder;
mod diagnose;
pub(crate) mod green;
mod grid;
mod load;
pub(crate) mod lp;
mod network;
mod rolling;
mod solution;
pub(crate) mod solver;
mod stages;
mod stochastic;
mod storage;
mod warm;
mod wind_pv;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::validation::Collector;
use crate::domain::{Forecast, Plant, ValidationErrors};

pub use rolling::{solve_rolling, Rolling, MAX_WINDOW_DAYS};
pub use solver::Backend;
pub use stages::{export_mps, solve, solve_traced};
pub use stochastic::{
    commit_day_ahead, plan_first_stage, replan_committed, solve_held, solve_stochastic, DEFAULT_IMBALANCE_PREMIUM, MAX_SCENARIO_INTERVALS,
    MIN_PROBABILITY,
};
pub use warm::{KeptStart, WarmStarts, DEFAULT_SHAPES};

/// The rule that chooses among equal optima, as schedules name it: the highest green share
/// among least-cost dispatches, then the canonical objective (keep green stored, move the
/// least energy, fixed priorities). Version it when the rule changes.
pub const TIE_BREAK: &str = "max-share-then-canonical/1";

/// What the optimizer maximises first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Stage 1: the plant's green share, exactly (Dinkelbach); stage 2: least cost within
    /// the share tolerance.
    #[default]
    GreenShare,
    /// Stage 1: green MWh delivered to loads; stage 2: least cost within the tolerance.
    GreenEnergy,
    /// Least cost (with optional carbon price and minimum share); colour is then attributed
    /// to maximise green delivered at that cost.
    Cost,
}

impl Objective {
    /// Name as written on the command line and in schedules.
    pub fn name(self) -> &'static str {
        match self {
            Objective::GreenShare => "green-share",
            Objective::GreenEnergy => "green-energy",
            Objective::Cost => "cost",
        }
    }
}

impl std::str::FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "green-share" => Ok(Objective::GreenShare),
            "green-energy" => Ok(Objective::GreenEnergy),
            "cost" => Ok(Objective::Cost),
            other => Err(format!("unknown objective '{other}' (green-share, green-energy, cost)")),
        }
    }
}

/// Stored energy of one storage at the start of the horizon, by colour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StorageLevel {
    /// Green energy, MWh.
    pub green_mwh: f64,
    /// Grey energy, MWh.
    pub grey_mwh: f64,
}

impl StorageLevel {
    /// This level as a solved schedule reads it back, put within the storage's limits: a
    /// solver's answer may lie a rounding error outside [e_min, e_max] or below 0, which a
    /// re-plan from it would otherwise refuse as input.
    pub fn within(self, s: &crate::domain::plant::Storage) -> StorageLevel {
        let (g, k) = (self.green_mwh.max(0.0), self.grey_mwh.max(0.0));
        let total = g + k;
        // A clamped total keeps a relative 1e-12 inside the limit, so that the sum of its
        // scaled parts cannot round back out of it.
        let margin = 1e-12 * s.e_max_mwh.abs().max(1.0);
        let target = if total > s.e_max_mwh {
            s.e_max_mwh - margin
        } else if total < s.e_min_mwh {
            s.e_min_mwh + margin
        } else {
            return StorageLevel { green_mwh: g, grey_mwh: k };
        };
        if total <= 0.0 {
            return StorageLevel { green_mwh: 0.0, grey_mwh: target };
        }
        StorageLevel { green_mwh: g * target / total, grey_mwh: k * target / total }
    }
}

/// How to solve. Defaults: green-share, HiGHS, LP mode, tolerance 1e-4, no carbon price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// What to maximise first.
    pub objective: Objective,
    /// Solver backend.
    pub backend: Backend,
    /// Forbid simultaneous charge and discharge exactly (binaries; HiGHS only).
    pub milp: bool,
    /// How far (absolute share, or relative green MWh) stage 2 may fall below stage 1.
    pub share_tolerance: f64,
    /// Carbon price, yuan/tCO2, added to the cost.
    pub carbon_price: f64,
    /// Minimum green share of the plant over the horizon.
    pub min_share: Option<f64>,
    /// Number of points of the share–cost frontier to compute (0: none; otherwise ≥ 2).
    pub frontier_points: usize,
    /// Start levels of storages (a re-plan); default: the plant's e0 and green fraction.
    pub initial: BTreeMap<String, StorageLevel>,
    /// End-of-horizon energy targets, MWh; default: the start level.
    pub end_energy_mwh: BTreeMap<String, f64>,
    /// Wall-clock budget of the whole solve (every LP of every stage together), seconds.
    pub time_limit_s: Option<f64>,
    /// How a stochastic day-ahead weighs risk beyond expectations (none by default; a
    /// deterministic solve refuses any).
    pub risk: Risk,
    /// Set from outside to abandon the solve (the caller went away, the server is
    /// shutting down): checked before every LP, and it ends the LP that runs.
    #[serde(skip)]
    pub cancel: Cancel,
    /// Bases of earlier solves to start the first and the least-cost LP from (HiGHS
    /// backend; off by default, see [`WarmStarts`]). The schedule is the same either way.
    #[serde(skip)]
    pub warm: WarmStarts,
}

/// How a stochastic day-ahead weighs risk beyond expectations. The default weighs none:
/// the expected cost, and `min_share` in every scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Risk {
    /// Weight W ∈ [0, 1] of the cost's conditional value at risk: the cost minimised is
    /// (1 − W)·E[cost] + W·CVaR_α[cost] (Rockafellar–Uryasev, exact in the LP). 0: the
    /// expected cost alone; 1: the mean cost of the worst 1 − α of the probability alone.
    pub cvar_weight: f64,
    /// α ∈ [0, 0.99] of that CVaR (and of the CVaR each evaluation reports).
    pub cvar_alpha: f64,
    /// A green share the plan must reach in the worst 10 % of the probability: the CVaR at
    /// 90 % of the shortfall m·served − green is held ≤ 0, so the scenarios reaching the
    /// share m hold at least 90 % of the probability (the P10 share is ≥ m). Conservative:
    /// the worst 10 % must reach m on average by energy, not only at their best.
    pub p10_min_share: Option<f64>,
}

/// The tail level of [`Risk::p10_min_share`]: the worst 10 % of the probability.
pub const P10: f64 = 0.1;

/// Highest [`Risk::cvar_alpha`]: beyond it the tail's weight 1 / (1 − α) outgrows the
/// solver's tolerances.
pub const MAX_CVAR_ALPHA: f64 = 0.99;

impl Default for Risk {
    fn default() -> Self {
        Risk { cvar_weight: 0.0, cvar_alpha: 0.9, p10_min_share: None }
    }
}

impl Risk {
    /// Weighs nothing beyond expectations (the tail level α is then only reported).
    pub fn is_neutral(&self) -> bool {
        self.cvar_weight == 0.0 && self.p10_min_share.is_none()
    }

    fn validate(&self, c: &mut Collector) {
        c.within("risk.cvar_weight", self.cvar_weight, 0.0, 1.0);
        c.within("risk.cvar_alpha", self.cvar_alpha, 0.0, MAX_CVAR_ALPHA);
        if let Some(m) = self.p10_min_share {
            c.within("risk.p10_min_share", m, 0.0, 1.0);
        }
    }
}

/// A flag that abandons a running solve. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Asks the solve to stop.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True once asked.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The shared flag itself (for the solver's interrupt callback).
    pub(crate) fn flag(&self) -> &std::sync::Arc<std::sync::atomic::AtomicBool> {
        &self.0
    }
}

/// Options compare by what they ask, not by their cancellation flag.
impl PartialEq for Cancel {
    fn eq(&self, _: &Cancel) -> bool {
        true
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            objective: Objective::GreenShare,
            backend: Backend::Highs,
            milp: false,
            share_tolerance: 1e-4,
            carbon_price: 0.0,
            min_share: None,
            frontier_points: 0,
            initial: BTreeMap::new(),
            end_energy_mwh: BTreeMap::new(),
            time_limit_s: None,
            risk: Risk::default(),
            cancel: Cancel::default(),
            warm: WarmStarts::default(),
        }
    }
}

impl Options {
    /// These options for a re-plan of `latest` from its interval `k`: each storage starts
    /// at its level in `latest` at `k` and ends the horizon where `latest` ended it (the
    /// service's re-plan rule; measured levels, where there are any, then replace the
    /// start levels). `k` must not exceed `latest`'s intervals.
    pub fn replanning(self, plant: &Plant, latest: &crate::domain::Schedule, k: usize) -> Options {
        let mut o = self.starting_at(plant, latest, k);
        for st in &latest.storages {
            let Some(s) = plant.storage(&st.name) else { continue };
            if let (Some(&g), Some(&k0)) = (st.energy_green_mwh.last(), st.energy_grey_mwh.last()) {
                o.end_energy_mwh.insert(st.name.clone(), (g + k0).clamp(s.e_min_mwh, s.e_max_mwh));
            }
        }
        o
    }

    /// These options with each storage starting at its level in `schedule` at interval `k`
    /// (within the storage's limits: see [`StorageLevel::within`]).
    pub fn starting_at(mut self, plant: &Plant, schedule: &crate::domain::Schedule, k: usize) -> Options {
        for st in &schedule.storages {
            let Some(s) = plant.storage(&st.name) else { continue };
            if let (Some(&g), Some(&k0)) = (st.energy_green_mwh.get(k), st.energy_grey_mwh.get(k)) {
                self.initial.insert(st.name.clone(), StorageLevel { green_mwh: g, grey_mwh: k0 }.within(s));
            }
        }
        self
    }

    /// Each storage's end-of-horizon target as these options set it: the one given, or else
    /// its start level (given, or the plant's e0).
    pub fn end_targets(&self, plant: &Plant) -> BTreeMap<String, f64> {
        plant
            .storage
            .iter()
            .map(|s| {
                let start = self.initial.get(&s.name).map_or(s.e0_mwh, |l| l.green_mwh + l.grey_mwh);
                (s.name.clone(), self.end_energy_mwh.get(&s.name).copied().unwrap_or(start))
            })
            .collect()
    }

    /// Checks the options against the plant and forecast; reports all problems.
    pub fn validate(&self, plant: &Plant, forecast: &Forecast) -> Result<(), ValidationErrors> {
        let mut c = Collector::default();
        c.within("share_tolerance", self.share_tolerance, 0.0, 1.0);
        self.risk.validate(&mut c);
        c.range("carbon_price", self.carbon_price, 0.0, crate::domain::limits::MAX_CARBON_PRICE_YUAN_PER_T, "yuan/tCO2");
        if let Some(s) = self.min_share {
            c.within("min_share", s, 0.0, 1.0);
        }
        if self.frontier_points == 1 || self.frontier_points > 200 {
            c.push("frontier_points", format!("must be 0 (none) or 2..=200, got {}", self.frontier_points));
        }
        if let Some(limit) = self.time_limit_s {
            if c.finite("time_limit_s", limit) && !(limit > 0.0 && limit <= crate::domain::limits::MAX_TIME_LIMIT_S) {
                c.push("time_limit_s", format!("must lie in (0, {}] s, got {limit}", crate::domain::limits::MAX_TIME_LIMIT_S));
            }
        }
        if self.milp && self.backend == Backend::Clarabel {
            c.push("milp", "the clarabel backend solves LPs only; use the highs backend for the MILP mode");
        }
        let find = |name: &str| plant.storage(name).map(|s| (s.name.as_str(), s.e_min_mwh, s.e_max_mwh));
        for (name, level) in &self.initial {
            let f = format!("initial.{}", crate::domain::limits::short(name));
            match find(name) {
                None => c.push(f, "no storage of that name in the plant"),
                Some((_, lo, hi)) => {
                    c.non_negative(&format!("{f}.green_mwh"), level.green_mwh);
                    c.non_negative(&format!("{f}.grey_mwh"), level.grey_mwh);
                    let total = level.green_mwh + level.grey_mwh;
                    if total.is_finite() && !(lo..=hi).contains(&total) {
                        c.push(f, format!("total {total} MWh lies outside [e_min, e_max] = [{lo}, {hi}]"));
                    }
                }
            }
        }
        for (name, target) in &self.end_energy_mwh {
            let f = format!("end_energy_mwh.{}", crate::domain::limits::short(name));
            match find(name) {
                None => c.push(f, "no storage of that name in the plant"),
                Some((_, lo, hi)) => {
                    if c.finite(&f, *target) && !(lo..=hi).contains(target) {
                        c.push(f, format!("{target} MWh lies outside [e_min, e_max] = [{lo}, {hi}]"));
                    }
                }
            }
        }
        let dt = f64::from(forecast.interval_minutes) / 60.0;
        for s in &plant.storage {
            if s.standing_loss_per_h * dt >= 1.0 {
                c.push(
                    format!("storage[{}].standing_loss_per_h", s.name),
                    format!("loses all energy within one {}-minute interval", forecast.interval_minutes),
                );
            }
        }
        c.finish()
    }
}

/// The options of each solve of a run of several (the stochastic day-ahead's LPs, a rolling
/// solve's windows): the whole run's time budget shared out as it goes.
pub(crate) struct Budget<'a> {
    /// The run's options; their time limit is the whole run's.
    pub(crate) options: &'a Options,
    pub(crate) started: std::time::Instant,
}

impl Budget<'_> {
    /// The run's options with what is left of its time limit.
    pub(crate) fn options(&self) -> Result<Options, DispatchError> {
        self.apply(self.options.clone())
    }

    /// `o` (one solve's options within the run) with what is left of the run's time limit.
    pub(crate) fn apply(&self, mut o: Options) -> Result<Options, DispatchError> {
        if let Some(limit) = self.options.time_limit_s {
            let left = limit - self.started.elapsed().as_secs_f64();
            if left <= 0.0 {
                return Err(DispatchError::TimeLimit(limit));
            }
            o.time_limit_s = Some(left);
        }
        Ok(o)
    }
}

/// One reason an input cannot be met, found by the elastic re-solve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Constraint family (`balance`, `energy_min`, `end_energy`, `park_min_share`, …).
    pub family: String,
    /// Node, asset or park concerned.
    pub subject: String,
    /// Interval index, where the family is per interval.
    pub interval: Option<usize>,
    /// Start of that interval.
    pub at: Option<DateTime<Utc>>,
    /// Amount by which the requirement is missed (MW for balances, MWh otherwise).
    pub shortfall: f64,
    /// A sentence for an operator.
    pub message: String,
}

/// Why no schedule was produced.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DispatchError {
    /// The plant is inconsistent.
    #[error("invalid plant:\n{0}")]
    InvalidPlant(ValidationErrors),
    /// The forecast does not fit the plant.
    #[error("invalid forecast:\n{0}")]
    InvalidForecast(ValidationErrors),
    /// The options do not fit the plant.
    #[error("invalid options:\n{0}")]
    InvalidOptions(ValidationErrors),
    /// No dispatch meets every requirement; the diagnoses say which and where.
    #[error("infeasible: {}", summarize(.0))]
    Infeasible(Vec<Diagnosis>),
    /// The objective is unbounded (a modelling error: some quantity lacks a limit).
    #[error("the problem is unbounded: {0}")]
    Unbounded(String),
    /// The solve ran out of its time budget.
    #[error("the solve ran out of its time limit of {0} s")]
    TimeLimit(f64),
    /// The solve was abandoned (its [`Cancel`] was set).
    #[error("the solve was abandoned")]
    Cancelled,
    /// The solver failed.
    #[error("solver failure: {0}")]
    Solver(String),
}

fn summarize(d: &[Diagnosis]) -> String {
    let mut s: Vec<String> = d.iter().take(5).map(|d| d.message.clone()).collect();
    if d.len() > 5 {
        s.push(format!("… and {} more", d.len() - 5));
    }
    s.join("; ")
}
