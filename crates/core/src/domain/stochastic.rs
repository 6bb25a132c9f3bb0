//! The stochastic day-ahead plan: what is fixed the day before (grid positions, interruption
//! notices, bid awards), each scenario's own dispatch under it, and what the plan is worth
//! against the deterministic plan (VSS) and against perfect information (EVPI).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schedule::BidAward;
use super::Schedule;

/// A day-ahead planned over every scenario of a forecast at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StochasticPlan {
    /// Plant name.
    pub plant: String,
    /// What was maximised first (`green-share`, `green-energy` or `cost`).
    pub objective: String,
    /// Real-time imbalance premium, yuan/MWh: a deviation from the grid position is settled
    /// at the day-ahead price plus this (bought short) or minus it (sold long).
    pub imbalance_premium_yuan_per_mwh: f64,
    /// Interval starts (UTC).
    pub intervals: Vec<DateTime<Utc>>,
    /// The first stage: the same in every scenario.
    pub first_stage: FirstStage,
    /// This plan, evaluated over the scenarios (the recourse problem, RP).
    pub stochastic: Evaluation,
    /// The deterministic plan (solved on the point forecast) with its first stage held in
    /// every scenario and the rest re-planned per scenario (EEV).
    pub deterministic: Evaluation,
    /// Each scenario planned as if it were known the day before (wait-and-see, WS): the
    /// bound no day-ahead plan can beat.
    pub perfect_information: Evaluation,
    /// Value of the stochastic solution: stochastic minus deterministic (share), and
    /// deterministic minus stochastic (cost).
    pub vss: Gain,
    /// Expected value of perfect information: perfect information minus stochastic (share),
    /// stochastic minus perfect information (cost).
    pub evpi: Gain,
    /// Each scenario's dispatch under the stochastic plan's first stage.
    pub scenarios: Vec<ScenarioPlan>,
    /// How the solves went.
    pub solver: PlanSolver,
    /// Things an operator should know.
    pub warnings: Vec<String>,
}

/// What a stochastic day-ahead committed its delivery day to: carried by the day-ahead
/// schedule the service publishes and by every re-plan of that day, which holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Commitment {
    /// Real-time imbalance premium, yuan/MWh: a deviation from a grid position is settled at
    /// the day-ahead price plus this (bought short) or minus it (sold long).
    pub imbalance_premium_yuan_per_mwh: f64,
    /// Start of each interval of the day the first stage covers (UTC).
    pub intervals: Vec<DateTime<Utc>>,
    /// The first stage of the whole day, as the day-ahead fixed it.
    pub first_stage: FirstStage,
    /// This schedule's real-time deviation from the positions on each grid exchange, over
    /// the schedule's own intervals.
    pub imbalance: Vec<Imbalance>,
    /// This schedule's imbalance, MWh (bought short plus sold long); its cost at the
    /// premium is not in the schedule's operating cost.
    pub imbalance_mwh: f64,
    /// The day-ahead plan valued over its scenarios.
    pub valuation: Valuation,
}

/// A stochastic plan against the deterministic plan and perfect information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Valuation {
    /// The plan over the scenarios (RP).
    pub stochastic: Evaluation,
    /// The deterministic plan's first stage held in every scenario (EEV).
    pub deterministic: Evaluation,
    /// Each scenario planned as if known the day before (WS).
    pub perfect_information: Evaluation,
    /// Value of the stochastic solution (RP against EEV).
    pub vss: Gain,
    /// Expected value of perfect information (WS against RP).
    pub evpi: Gain,
    /// The solves behind the plan and its valuation.
    pub solver: PlanSolver,
}

/// What is fixed the day before, per interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FirstStage {
    /// Net position bought (+) or sold (−) on each grid exchange, MW.
    pub grids: Vec<Position>,
    /// Interruption notified to each park, MW.
    pub parks: Vec<Notice>,
    /// Bid awards (the first scenario's schedule's awards: every scenario has the same
    /// quantities).
    pub bids: Vec<BidAward>,
}

impl FirstStage {
    /// The first stage a deterministic schedule commits to: each grid's net import, each
    /// park's interruption and the bid awards, as planned.
    pub fn of(schedule: &Schedule) -> FirstStage {
        FirstStage {
            grids: schedule
                .grids
                .iter()
                .map(|g| Position { grid: g.name.clone(), position_mw: g.import_mw.iter().zip(&g.export_mw).map(|(i, e)| i - e).collect() })
                .collect(),
            parks: schedule.parks.iter().map(|p| Notice { park: p.name.clone(), interrupted_mw: p.interrupted_mw.clone() }).collect(),
            bids: schedule.bids.clone(),
        }
    }

    /// Its intervals from `k` on (awards of bids starting before `k`'s instant `from` dropped).
    pub fn from_interval(&self, k: usize, from: DateTime<Utc>) -> FirstStage {
        let tail = |v: &[f64]| v.get(k..).unwrap_or_default().to_vec();
        FirstStage {
            grids: self.grids.iter().map(|g| Position { grid: g.grid.clone(), position_mw: tail(&g.position_mw) }).collect(),
            parks: self.parks.iter().map(|p| Notice { park: p.park.clone(), interrupted_mw: tail(&p.interrupted_mw) }).collect(),
            bids: self.bids.iter().filter(|a| a.interval_start.is_none_or(|at| at >= from)).cloned().collect(),
        }
    }
}

/// A grid exchange's day-ahead position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Position {
    /// Grid exchange.
    pub grid: String,
    /// Import minus export, MW, per interval.
    pub position_mw: Vec<f64>,
}

/// A park's interruption notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Notice {
    /// Park.
    pub park: String,
    /// Interrupted load, MW, per interval.
    pub interrupted_mw: Vec<f64>,
}

/// A plan evaluated over the scenarios: expectations (green share as the ratio of the
/// expected green energy to the expected served energy) and each scenario's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evaluation {
    /// Expected green MWh to loads over expected MWh served.
    pub green_share: f64,
    /// Expected cost, yuan: the day-ahead operating cost plus the imbalance premium.
    pub cost_yuan: f64,
    /// Expected real-time imbalance, MWh (bought short plus sold long).
    pub imbalance_mwh: f64,
    /// The α of `cvar_cost_yuan` (the options' `risk.cvar_alpha`).
    pub cvar_alpha: f64,
    /// Conditional value at risk of the cost, yuan: the mean cost over the worst 1 − α of
    /// the probability.
    pub cvar_cost_yuan: f64,
    /// The P10 green share: at most 10 % of the probability lies below it.
    pub p10_green_share: f64,
    /// Per scenario.
    pub scenarios: Vec<ScenarioOutcome>,
}

/// One scenario's figures under a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScenarioOutcome {
    /// Scenario name.
    pub name: String,
    /// Its probability.
    pub probability: f64,
    /// Green share of the scenario.
    pub green_share: f64,
    /// Green MWh to loads.
    pub green_mwh: f64,
    /// MWh served.
    pub served_mwh: f64,
    /// Cost, yuan, imbalance premium included.
    pub cost_yuan: f64,
    /// Real-time imbalance, MWh.
    pub imbalance_mwh: f64,
}

/// What one plan gains over another (positive: better).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Gain {
    /// Expected green share, absolute.
    pub green_share: f64,
    /// Expected cost saved, yuan.
    pub cost_yuan: f64,
}

/// One scenario's second stage under the stochastic plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScenarioPlan {
    /// Scenario name.
    pub name: String,
    /// Its probability.
    pub probability: f64,
    /// Real-time imbalance on each grid exchange.
    pub imbalance: Vec<Imbalance>,
    /// The scenario's dispatch, a full schedule (its cost without the imbalance premium).
    pub schedule: Schedule,
}

/// Deviation from a grid position in one scenario, MW per interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Imbalance {
    /// Grid exchange.
    pub grid: String,
    /// Bought short in real time (net import above the position).
    pub short_mw: Vec<f64>,
    /// Sold long in real time (net import below the position).
    pub long_mw: Vec<f64>,
}

/// The solves behind a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanSolver {
    /// Backend.
    pub backend: String,
    /// LPs solved, all evaluations together.
    pub solves: u32,
    /// Columns of the stochastic LP.
    pub variables: usize,
    /// Rows of the stochastic LP.
    pub rows: usize,
    /// Wall-clock time of everything, milliseconds.
    pub total_ms: f64,
}
