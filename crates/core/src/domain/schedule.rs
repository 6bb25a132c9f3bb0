//! A solved schedule: every decision per interval and asset, prices, green accounting,
//! totals and the solver's report. This is what `vpp solve --json` writes; its JSON
//! Schema (generated from these types by `vpp schema`) is `docs/schedule.schema.json`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::bid::BidSide;
use super::plant::{RenewableKind, StorageKind};

/// The dispatch of one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Schedule {
    /// Plant name.
    pub plant: String,
    /// Objective it was solved for (`green-share`, `green-energy`, `cost`).
    pub objective: String,
    /// Start of each interval (UTC).
    pub intervals: Vec<DateTime<Utc>>,
    /// Interval length, hours.
    pub dt_hours: f64,
    /// Wind and PV.
    pub renewables: Vec<RenewableSchedule>,
    /// Storage plants of every kind, in plant order.
    pub storages: Vec<StorageSchedule>,
    /// Park loads and their green allocation.
    pub parks: Vec<ParkSchedule>,
    /// Grid exchanges.
    pub grids: Vec<GridSchedule>,
    /// Thermal units.
    pub thermal: Vec<ThermalSchedule>,
    /// Lines.
    pub lines: Vec<LineSchedule>,
    /// Nodes with their marginal prices.
    pub nodes: Vec<NodeSchedule>,
    /// Bids with their awards.
    pub bids: Vec<BidAward>,
    /// Plant-wide green accounting per interval.
    pub green: Vec<GreenInterval>,
    /// Horizon totals.
    pub totals: Totals,
    /// The share–cost frontier, when requested.
    pub frontier: Vec<FrontierPoint>,
    /// How the solve went.
    pub solver: SolverReport,
    /// Things an operator should know (relaxations, simultaneous charging, …).
    pub warnings: Vec<String>,
    /// The stochastic day-ahead's commitment its day holds (first stage, imbalance,
    /// valuation); absent for a deterministic plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<super::stochastic::Commitment>,
}

/// A wind farm or PV plant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RenewableSchedule {
    /// Asset name.
    pub name: String,
    /// `wind` or `pv`.
    pub kind: RenewableKind,
    /// Node.
    pub node: String,
    /// The park behind whose meter it sits, if any (its output counts for that park first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub park: Option<String>,
    /// Available power a_t·P, MW.
    pub available_mw: Vec<f64>,
    /// Output g_t, MW.
    pub output_mw: Vec<f64>,
    /// Curtailment a_t·P − g_t, MW.
    pub curtailed_mw: Vec<f64>,
}

/// A storage plant of any kind; energy series have T+1 points (start of each interval and
/// end of the horizon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StorageSchedule {
    /// Asset name.
    pub name: String,
    /// `pumped_hydro`, `caes` or `battery`.
    pub kind: StorageKind,
    /// Node.
    pub node: String,
    /// The park behind whose meter it sits, if any (its green discharge counts for that
    /// park first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub park: Option<String>,
    /// Charging (pumping, compression) power, MW.
    pub charge_mw: Vec<f64>,
    /// Part of the charging power that is green, MW.
    pub charge_green_mw: Vec<f64>,
    /// Discharging (turbine, generation) power, MW.
    pub discharge_mw: Vec<f64>,
    /// Part of the discharging power that is green, MW.
    pub discharge_green_mw: Vec<f64>,
    /// Natural inflow, MWh per interval.
    pub inflow_mwh: Vec<f64>,
    /// Inflow spilled, MWh per interval.
    pub spill_mwh: Vec<f64>,
    /// Green stored energy, MWh (T+1 points).
    pub energy_green_mwh: Vec<f64>,
    /// Grey stored energy, MWh (T+1 points).
    pub energy_grey_mwh: Vec<f64>,
}

/// A park load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParkSchedule {
    /// Park name.
    pub name: String,
    /// Node.
    pub node: String,
    /// Forecast demand, MW.
    pub demand_mw: Vec<f64>,
    /// Interrupted by the operator, MW.
    pub interrupted_mw: Vec<f64>,
    /// Reduced by accepted curtail bids, MW.
    pub curtailed_by_bids_mw: Vec<f64>,
    /// Served power, MW.
    pub served_mw: Vec<f64>,
    /// Green energy allocated to the park, MWh per interval (its own green first).
    pub green_mwh: Vec<f64>,
    /// The park's own green: green from behind its meter used on site, MWh per interval
    /// (part of `green_mwh`; zeros for a park with nothing behind its meter).
    #[serde(default)]
    pub own_green_mwh: Vec<f64>,
    /// Green share per interval (0 where nothing is served).
    pub share: Vec<f64>,
    /// Minimum share the park is owed, if any.
    pub min_share: Option<f64>,
    /// Energy served over the horizon, MWh.
    pub served_mwh: f64,
    /// Green energy allocated over the horizon, MWh (= certificates).
    pub green_total_mwh: f64,
    /// Green share over the horizon.
    pub share_total: f64,
}

/// A grid exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GridSchedule {
    /// Name.
    pub name: String,
    /// Node.
    pub node: String,
    /// Import, MW.
    pub import_mw: Vec<f64>,
    /// Export, MW.
    pub export_mw: Vec<f64>,
    /// Part of the export that is green, MW.
    pub export_green_mw: Vec<f64>,
    /// Import price in force, yuan/MWh.
    pub import_price: Vec<f64>,
    /// Export price, yuan/MWh.
    pub export_price: f64,
}

/// A thermal unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThermalSchedule {
    /// Name.
    pub name: String,
    /// Node.
    pub node: String,
    /// Output, MW.
    pub output_mw: Vec<f64>,
}

/// A line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineSchedule {
    /// Name.
    pub name: String,
    /// From node.
    pub from: String,
    /// To node.
    pub to: String,
    /// Flow from `from` to `to`, MW.
    pub flow_mw: Vec<f64>,
    /// |flow| / capacity.
    pub loading: Vec<f64>,
}

/// A node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeSchedule {
    /// Name.
    pub name: String,
    /// Marginal price (dual of the node balance), yuan/MWh; empty when the final solve was
    /// a MILP whose LP re-solve failed.
    pub price: Vec<f64>,
    /// Voltage angle, radians (DC flow only; empty otherwise).
    pub angle_rad: Vec<f64>,
}

/// Where a bid ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BidStatus {
    /// Accepted in full.
    InTheMoney,
    /// Accepted in part: it sets the price.
    Marginal,
    /// Not accepted.
    OutOfTheMoney,
}

/// The award of one bid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BidAward {
    /// Bid id.
    pub id: String,
    /// Bot.
    pub bot: String,
    /// Node.
    pub node: String,
    /// Interval index (0 = the schedule's first interval).
    pub interval: usize,
    /// Start of that interval (UTC); absent in schedules stored before it was recorded.
    #[serde(default)]
    pub interval_start: Option<DateTime<Utc>>,
    /// Side.
    pub side: BidSide,
    /// Green sell bid.
    pub green: bool,
    /// Offered quantity, MW.
    pub quantity_mw: f64,
    /// Limit price, yuan/MWh.
    pub price: f64,
    /// Accepted quantity x_b, MW.
    pub accepted_mw: f64,
    /// Part of an accepted buy that is green, MW.
    pub accepted_green_mw: f64,
    /// In, out of the money, or marginal.
    pub status: BidStatus,
    /// Clearing price at its node and interval, yuan/MWh.
    pub clearing_price: f64,
    /// Settlement at the clearing price, yuan: paid to the bot for sell and curtail,
    /// paid by the bot for buy (positive numbers).
    pub settlement_yuan: f64,
    /// An award of an earlier version carried into this one (a re-plan): quantity and
    /// price fixed, settled at the price first awarded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub firm: bool,
}

/// Plant-wide green accounting of one interval, MWh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GreenInterval {
    /// Green energy available: wind, PV, green storage discharge, green imports, green
    /// sell bids.
    pub supply_mwh: f64,
    /// Green energy put into storage.
    pub to_storage_mwh: f64,
    /// Green energy exported or sold to buy bids.
    pub exported_mwh: f64,
    /// Green energy delivered to park loads.
    pub to_load_mwh: f64,
    /// Energy served to park loads.
    pub served_mwh: f64,
    /// to_load / served.
    pub share: f64,
}

/// Horizon totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Totals {
    /// Green share of the plant: green to loads / served.
    pub green_share: f64,
    /// Green energy delivered to loads, MWh.
    pub green_mwh: f64,
    /// Energy served to loads, MWh.
    pub served_mwh: f64,
    /// Grey energy delivered to loads, MWh.
    pub grey_mwh: f64,
    /// Wind and PV curtailed, MWh.
    pub curtailed_mwh: f64,
    /// Load interrupted (operator and curtail bids), MWh.
    pub interrupted_mwh: f64,
    /// Imported, MWh.
    pub imported_mwh: f64,
    /// Exported, MWh.
    pub exported_mwh: f64,
    /// Operating cost, yuan (the stage-2 objective).
    pub cost_yuan: f64,
    /// The cost's parts.
    pub cost: CostBreakdown,
    /// Emissions of imports and thermal units, tCO2.
    pub co2_t: f64,
    /// Green certificates owed to loads: whole MWh of green energy delivered.
    pub certificates: u64,
    /// Dual of the green-share constraint, yuan per MWh of green energy delivered (the
    /// cost of one more green MWh to loads); absent when no share constraint binds the
    /// final solve.
    pub green_premium_yuan_per_mwh: Option<f64>,
}

/// Parts of the operating cost, yuan.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CostBreakdown {
    /// Imports at time-of-use prices.
    pub imports: f64,
    /// Export revenue (subtracted).
    pub export_revenue: f64,
    /// Interruption compensation.
    pub interruption: f64,
    /// Storage variable cost.
    pub storage: f64,
    /// Thermal fuel cost.
    pub thermal: f64,
    /// Paid to accepted sell and curtail bids at their limit prices.
    pub bids_paid: f64,
    /// Received from accepted buy bids at their limit prices (subtracted).
    pub bids_received: f64,
    /// Carbon price × emissions.
    pub carbon: f64,
}

impl CostBreakdown {
    /// The operating cost these parts make: imports − export revenue + interruption +
    /// storage + thermal + bids paid − bids received + carbon.
    pub fn total(&self) -> f64 {
        self.imports - self.export_revenue + self.interruption + self.storage + self.thermal + self.bids_paid - self.bids_received
            + self.carbon
    }
}

/// One point of the share–cost frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FrontierPoint {
    /// Green share required.
    pub share: f64,
    /// Least operating cost at that share, yuan.
    pub cost_yuan: f64,
}

/// How the solve went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SolverReport {
    /// `highs` or `clarabel`.
    pub backend: String,
    /// `optimal`.
    pub status: String,
    /// True when binaries forbade simultaneous charge and discharge.
    pub milp: bool,
    /// Stage-1 optimum: the green share (green-share), green MWh (green-energy) or cost.
    pub stage1_objective: f64,
    /// Final objective (cost, yuan).
    pub objective: f64,
    /// Dinkelbach iterations in stage 1 (0 when not used).
    pub iterations: u32,
    /// Number of LPs/MILPs solved.
    pub solves: u32,
    /// Variables and rows of the base model.
    pub variables: usize,
    /// Rows of the base model.
    pub rows: usize,
    /// Time spent building models, ms.
    pub build_ms: f64,
    /// Time spent in the solver, ms.
    pub solve_ms: f64,
    /// True when an LP (the first, or the least-cost one after the share floor) started
    /// from the final basis of an earlier solve of the same shape (a warm start across
    /// requests); the schedule is the same either way.
    #[serde(default)]
    pub warm_started: bool,
    /// The options the schedule was solved with (absent in schedules stored before they
    /// were recorded).
    #[serde(default)]
    pub options: Option<SolvedWith>,
}

/// The options a schedule was solved with, echoed so that every figure can be traced to
/// them: why the share is 0.42795 when the stage-1 maximum is 0.42805 (the tolerance), what
/// the cost includes (the carbon price), which tie-break rule chose among equal optima.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SolvedWith {
    /// `green-share`, `green-energy` or `cost`.
    pub objective: String,
    /// `highs`, `highs-cold` or `clarabel`.
    pub backend: String,
    /// MILP mode.
    pub milp: bool,
    /// How far stage 2 may fall below the stage-1 optimum: an absolute share
    /// (green-share) or a fraction of the green MWh (green-energy); unused in cost mode.
    pub share_tolerance: f64,
    /// Carbon price in the cost, yuan/tCO2.
    pub carbon_price_yuan_per_t: f64,
    /// Minimum plant share asked for, if any.
    pub min_share: Option<f64>,
    /// Points of the share–cost frontier asked for (0: none).
    pub frontier_points: usize,
    /// Time limit, seconds, if any.
    pub time_limit_s: Option<f64>,
    /// The rule that chose among equal optima (see README, "Colour and ties").
    pub tie_break: String,
}
