//! The closed-loop backtest: plans meet a held-out truth, hour by hour.
//!
//! Over the whole local days of a point forecast, each policy plans every day the day
//! before and then lives through it:
//!
//! 1. **Truth.** Each day's outcome is given (a forecast file of what happened, say from
//!    recorded readings) or drawn from the point forecast by the scenario generator's
//!    error model ([`crate::scenarios`]) with a seed of its own (`truth_seed`, mixed with
//!    the day's number and a salt, so it is never one of the scenarios a policy planned
//!    over, even with equal seeds). Nobody plans on it.
//! 2. **Day-ahead.** The `deterministic` policy plans the point forecast (`model::solve`);
//!    the `stochastic` policy plans over the scenarios (or quantiles) the forecast carries,
//!    or else draws `scenarios` scenarios of the point forecast (`seed`) and keeps `reduce`
//!    of them (`model::plan_first_stage`). Either way
//!    what is fixed the day before is the first stage: each grid's position per interval,
//!    each park's interruption notice, the bid awards.
//! 3. **Re-plans.** At the start of every interval k the interval's truth is revealed and
//!    the rest of the day is re-planned (`model::solve_held`): storages start from the
//!    levels the day actually reached (the measured levels, read as the service reads them,
//!    [`Options::starting_at`]) and must end the day at the day's own targets (the
//!    day-ahead's: not the last re-plan's closing level, as the service's re-plan rule
//!    [`Options::replanning`] has it, which would ratchet the target up to whatever a plan
//!    happened to keep); the forecast of
//!    interval k is its truth and of every later interval the point forecast corrected by
//!    the error just seen, fading as the error model's AR(1) does (φ^(t−k), φ = e^(−Δt/τ)
//!    of the asset type; wind additive, PV and load relative); the first stage is held, and
//!    a deviation from a grid position is bought short or sold long at the day-ahead price
//!    ± the imbalance premium. Interval k is then done as that re-plan says.
//! 4. **The realised day** is the day's re-plans stitched as the service stitches versions
//!    ([`crate::domain::stitch`]: each interval from the re-plan made at its start), its
//!    cost plus the imbalance premium paid; the next day starts from its closing levels.
//!
//! Beside the policies, the **perfect-foresight** bound plans each day on its truth with no
//! imbalance (its own storage carried from day to day): no policy that learns the truth
//! only as it happens can do better on average.
//!
//! The policies and the bound run on threads of their own; each day's figures depend only
//! on the inputs, never on timing. Bids are not part of a backtest (a forecast with bids is
//! refused): the market clears at gate closure on bots' bids, which no simulator draws.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::stitch::stitch;
use crate::domain::stochastic::FirstStage;
use crate::domain::validation::Collector;
use crate::domain::{Forecast, Plant, Schedule, ValidationErrors};
use crate::model::{self, DispatchError, Options, StorageLevel};
use crate::scenarios::{self, ErrorModel};

/// How a day is committed the day before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Plan the point forecast as if it were certain.
    Deterministic,
    /// Plan over scenarios of the forecast (the stochastic day-ahead).
    Stochastic,
}

impl Policy {
    /// Both policies, in report order.
    pub const ALL: [Policy; 2] = [Policy::Deterministic, Policy::Stochastic];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Deterministic => "deterministic",
            Policy::Stochastic => "stochastic",
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Policy, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| format!("unknown policy '{s}'; expected deterministic or stochastic"))
    }
}

/// The name the perfect-foresight bound has in reports.
pub const PERFECT_FORESIGHT: &str = "perfect-foresight";

/// What to backtest.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Policies to run (each once; the bound always runs).
    pub policies: Vec<Policy>,
    /// Objective, backend and the rest, for every solve (start levels, if any, of the first day).
    pub options: Options,
    /// Imbalance premium, yuan/MWh.
    pub premium: f64,
    /// Scenarios the stochastic policy draws each day.
    pub scenarios: usize,
    /// Scenarios it keeps of them.
    pub reduce: usize,
    /// Seed of its scenarios.
    pub seed: u64,
    /// Seed of the truth.
    pub truth_seed: u64,
    /// The error model of the scenarios, the truth and the re-plans' forecast updates.
    pub errors: ErrorModel,
    /// What happened (its point series), over the forecast's horizon; `None`: drawn.
    pub truth: Option<Forecast>,
    /// Start each solve from the final basis of the last solve of the same shape (the day
    /// before's day-ahead, or its re-plan at the same hour): each policy, and the bound,
    /// keeps bases of its own, so the figures do not depend on how the threads interleave.
    pub warm_starts: bool,
    /// Keep each realised day's schedule in the report (for checking; large over a year).
    pub keep_schedules: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            policies: Policy::ALL.to_vec(),
            options: Options::default(),
            premium: model::DEFAULT_IMBALANCE_PREMIUM,
            scenarios: 20,
            reduce: 3,
            seed: 1,
            truth_seed: 2,
            errors: ErrorModel::default(),
            truth: None,
            warm_starts: true,
            keep_schedules: false,
        }
    }
}

/// Realised figures of a day or of the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Figures {
    /// Green MWh to loads over MWh served.
    pub green_share: f64,
    /// Green MWh to loads.
    pub green_mwh: f64,
    /// MWh served.
    pub served_mwh: f64,
    /// Operating cost, yuan, imbalance premium included.
    pub cost_yuan: f64,
    /// Real-time imbalance, MWh (bought short plus sold long).
    pub imbalance_mwh: f64,
    /// Renewable energy curtailed, MWh.
    pub curtailed_mwh: f64,
    /// Load interrupted, MWh.
    pub interrupted_mwh: f64,
}

impl Figures {
    /// The sum of `days` (the share recomputed as a ratio of sums).
    pub fn total<'a>(days: impl IntoIterator<Item = &'a Figures>) -> Figures {
        let mut t = Figures::default();
        for d in days {
            t.green_mwh += d.green_mwh;
            t.served_mwh += d.served_mwh;
            t.cost_yuan += d.cost_yuan;
            t.imbalance_mwh += d.imbalance_mwh;
            t.curtailed_mwh += d.curtailed_mwh;
            t.interrupted_mwh += d.interrupted_mwh;
        }
        t.green_share = if t.served_mwh > 0.0 { t.green_mwh / t.served_mwh } else { 0.0 };
        t
    }
}

/// One realised day of one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Day {
    /// Local delivery day.
    pub day: NaiveDate,
    /// What happened.
    #[serde(flatten)]
    pub figures: Figures,
    /// Dispatch solves it took (the day-ahead and every re-plan).
    pub solves: u32,
    /// The realised day as one schedule (the re-plans stitched; the bound's own plan), when
    /// asked for ([`Spec::keep_schedules`]); its cost leaves out the imbalance premium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Box<Schedule>>,
}

/// One policy (or the bound) over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outcome {
    /// `deterministic`, `stochastic` or `perfect-foresight`.
    pub policy: String,
    /// Day by day.
    pub days: Vec<Day>,
    /// The whole run.
    pub total: Figures,
}

/// A backtest's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// Plant name.
    pub plant: String,
    /// What each solve maximised first.
    pub objective: String,
    /// Interval length, minutes (a re-plan at every interval's start).
    pub interval_minutes: u32,
    /// Imbalance premium, yuan/MWh.
    pub imbalance_premium_yuan_per_mwh: f64,
    /// Scenarios drawn per day, and kept, for the stochastic policy.
    pub scenarios: usize,
    /// Scenarios kept.
    pub reduce: usize,
    /// Seed of the scenarios.
    pub seed: u64,
    /// Seed of the truth.
    pub truth_seed: u64,
    /// Each policy asked for, then the perfect-foresight bound.
    pub outcomes: Vec<Outcome>,
    /// Dispatch solves in all.
    pub solves: u64,
    /// Wall-clock time, milliseconds.
    pub total_ms: f64,
}

impl Report {
    /// The outcome of a policy (or of the bound, [`PERFECT_FORESIGHT`]).
    pub fn outcome(&self, policy: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.policy == policy)
    }
}

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The plant, forecast or spec is not usable; every problem named by field.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// A solve failed (infeasible, time limit, …) on a day.
    #[error("{policy} policy, {day}{at}: {error}")]
    Solve {
        /// Policy (or the bound).
        policy: String,
        /// Local day.
        day: NaiveDate,
        /// ", day-ahead" or ", re-plan at interval k".
        at: String,
        /// The solve's error.
        error: DispatchError,
    },
}

/// A day's inputs: its point forecast and its truth.
struct DayInput {
    day: NaiveDate,
    /// The day's window of the forecast when it carries scenarios or quantiles.
    over: Option<Forecast>,
    point: Forecast,
    truth: Forecast,
}

/// Runs the backtest over every local day of `forecast` (a point forecast without bids;
/// a day it covers only in part is a shorter day). `progress` hears of every finished day
/// of every policy.
pub fn run(plant: &Plant, forecast: &Forecast, spec: &Spec, progress: &(dyn Fn(&str, &Day) + Sync)) -> Result<Report, BacktestError> {
    let days = check(plant, forecast, spec).map_err(BacktestError::Invalid)?;
    let started = Instant::now();
    let days = &days;
    let outcomes = std::thread::scope(|scope| {
        let runs: Vec<_> =
            spec.policies.iter().map(|&policy| scope.spawn(move || run_policy(plant, days, spec, Some(policy), progress))).collect();
        let bound = run_policy(plant, days, spec, None, progress);
        let mut out = Vec::with_capacity(runs.len() + 1);
        for run in runs {
            out.push(run.join().unwrap_or_else(|_| {
                Err(BacktestError::Solve {
                    policy: "a policy".into(),
                    day: days[0].day,
                    at: String::new(),
                    error: DispatchError::Solver("its thread failed unexpectedly".into()),
                })
            })?);
        }
        out.push(bound?);
        Ok::<_, BacktestError>(out)
    })?;
    let solves = outcomes.iter().flat_map(|o| &o.days).map(|d| u64::from(d.solves)).sum();
    Ok(Report {
        plant: plant.name.clone(),
        objective: spec.options.objective.name().into(),
        interval_minutes: forecast.interval_minutes,
        imbalance_premium_yuan_per_mwh: spec.premium,
        scenarios: spec.scenarios,
        reduce: spec.reduce,
        seed: spec.seed,
        truth_seed: spec.truth_seed,
        outcomes,
        solves,
        total_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Checks the inputs by field and cuts the forecast into days with their truths.
fn check(plant: &Plant, forecast: &Forecast, spec: &Spec) -> Result<Vec<DayInput>, ValidationErrors> {
    plant.validate()?;
    forecast.validate(plant)?;
    let mut c = Collector::default();
    let days = forecast.horizon(plant.tz()).days();
    if !forecast.bids.is_empty() {
        c.push("forecast.bids", "a backtest clears no bids (no simulator draws the bots' bids); give a forecast without bids");
    }
    if let Some(truth) = &spec.truth {
        if (truth.start, truth.interval_minutes, truth.intervals) != (forecast.start, forecast.interval_minutes, forecast.intervals) {
            c.push(
                "truth",
                format!(
                    "covers {} × {} min from {}, the forecast {} × {} min from {}",
                    truth.intervals,
                    truth.interval_minutes,
                    truth.start.to_rfc3339(),
                    forecast.intervals,
                    forecast.interval_minutes,
                    forecast.start.to_rfc3339()
                ),
            );
        } else if let Err(e) = truth.validate(plant) {
            for p in e.problems {
                c.push(format!("truth.{}", p.field), p.message);
            }
        }
    }
    if spec.policies.is_empty() {
        c.push("policies", "name at least one policy (deterministic, stochastic)");
    }
    let own = !forecast.scenarios.is_empty() || forecast.quantiles.is_some();
    if spec.policies.contains(&Policy::Stochastic) && !own {
        if !(1..=scenarios::MAX_GENERATED).contains(&spec.scenarios) {
            c.push("scenarios", format!("must lie in 1..={}, got {}", scenarios::MAX_GENERATED, spec.scenarios));
        }
        if !(1..=spec.scenarios.max(1)).contains(&spec.reduce) {
            c.push("reduce", format!("must lie in 1..={} (the scenarios drawn), got {}", spec.scenarios, spec.reduce));
        }
    }
    if !spec.premium.is_finite() || !(0.0..=crate::domain::limits::MAX_PRICE_YUAN_PER_MWH).contains(&spec.premium) {
        c.push(
            "imbalance_premium",
            format!("must lie in [0, {}] yuan/MWh, got {}", crate::domain::limits::MAX_PRICE_YUAN_PER_MWH, spec.premium),
        );
    }
    if spec.options.frontier_points > 0 {
        c.push("frontier_points", "a backtest computes no frontier");
    }
    c.finish()?;
    let mut out = Vec::with_capacity(days.len());
    for (n, (day, ts)) in days.iter().enumerate() {
        let (Some(&from), len) = (ts.first(), ts.len()) else { continue };
        let over = forecast.window(from, len);
        let point = Forecast { scenarios: Vec::new(), quantiles: None, ..over.clone() };
        let truth = match &spec.truth {
            Some(t) => Forecast { scenarios: Vec::new(), quantiles: None, ..t.window(from, len) },
            None => {
                let drawn = scenarios::generate(plant, &point, &spec.errors, 1, truth_seed(spec.truth_seed, n))
                    .map_err(|e| ValidationErrors { problems: vec![crate::domain::Problem { field: "truth".into(), message: e }] })?;
                Forecast { scenarios: drawn, ..point.clone() }.outcomes().remove(0).2
            }
        };
        out.push(DayInput { day: *day, over: own.then_some(over), point, truth });
    }
    Ok(out)
}

/// The truth's seed of day `n`: apart from every scenario seed by a salt.
fn truth_seed(seed: u64, n: usize) -> u64 {
    mix(seed ^ 0x7275_7468_7275_7468, n)
}

/// The scenarios' seed of day `n`.
fn scenario_seed(seed: u64, n: usize) -> u64 {
    mix(seed, n)
}

fn mix(seed: u64, n: usize) -> u64 {
    let mut z = seed.wrapping_add((n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One policy (or, with `None`, the perfect-foresight bound) over every day.
fn run_policy(
    plant: &Plant,
    days: &[DayInput],
    spec: &Spec,
    policy: Option<Policy>,
    progress: &(dyn Fn(&str, &Day) + Sync),
) -> Result<Outcome, BacktestError> {
    let name = policy.map_or(PERFECT_FORESIGHT, Policy::name);
    let mut levels = spec.options.initial.clone();
    let mut out = Vec::with_capacity(days.len());
    let warm = if spec.warm_starts { model::WarmStarts::keep(model::DEFAULT_SHAPES) } else { model::WarmStarts::default() };
    for (n, input) in days.iter().enumerate() {
        let fail = |at: String| move |error| BacktestError::Solve { policy: name.into(), day: input.day, at, error };
        let options = Options { initial: levels.clone(), warm: warm.clone(), ..spec.options.clone() };
        let (day, closing) = match policy {
            None => {
                let s = model::solve(plant, &input.truth, &options).map_err(fail(String::new()))?;
                let figures = figures(&s, 0.0, spec.premium);
                let closing = closing_levels(plant, &s);
                (Day { day: input.day, figures, solves: 1, schedule: spec.keep_schedules.then(|| Box::new(s)) }, closing)
            }
            Some(policy) => {
                let first = match policy {
                    Policy::Deterministic => {
                        FirstStage::of(&model::solve(plant, &input.point, &options).map_err(fail(", day-ahead".into()))?)
                    }
                    Policy::Stochastic => {
                        let over = match &input.over {
                            Some(over) => over.clone(),
                            None => {
                                let drawn =
                                    scenarios::generate(plant, &input.point, &spec.errors, spec.scenarios, scenario_seed(spec.seed, n))
                                        .map_err(|e| fail(", day-ahead".into())(DispatchError::Solver(e)))?;
                                let kept = scenarios::reduce(plant, &input.point, &drawn, spec.reduce);
                                Forecast { scenarios: kept, ..input.point.clone() }
                            }
                        };
                        model::plan_first_stage(plant, &over, &options, spec.premium).map_err(fail(", day-ahead".into()))?
                    }
                };
                live(plant, input, spec, options, &first).map_err(|(k, e)| fail(format!(", re-plan at interval {k}"))(e))?
            }
        };
        progress(name, &day);
        levels = closing;
        out.push(day);
    }
    let (hits, misses) = warm.hits_and_misses();
    tracing::info!(policy = name, warm_starts = hits, cold_starts = misses, "backtest policy done");
    let total = Figures::total(out.iter().map(|d| &d.figures));
    Ok(Outcome { policy: name.into(), days: out, total })
}

/// Lives through a day under a first stage: a re-plan at every interval, interval k done
/// as the re-plan at k says. The realised day's figures and its closing levels.
fn live(
    plant: &Plant,
    input: &DayInput,
    spec: &Spec,
    options: Options,
    first: &FirstStage,
) -> Result<(Day, BTreeMap<String, StorageLevel>), (usize, DispatchError)> {
    let t_len = input.point.intervals;
    let h = input.point.horizon(plant.tz());
    let dt = h.dt;
    let mut versions: Vec<Schedule> = Vec::with_capacity(t_len);
    let mut imbalance = 0.0;
    // The day's end targets hold for every re-plan (not the last plan's own closing level,
    // which would ratchet the target up to whatever a plan happened to keep).
    let targets = options.end_targets(plant);
    for k in 0..t_len {
        let forecast = nowcast(plant, &input.point, &input.truth, k, &spec.errors).window(k, t_len - k);
        let options = match versions.last() {
            None => options.clone(),
            Some(prev) => Options { end_energy_mwh: targets.clone(), ..options.clone() }.starting_at(plant, prev, 1),
        };
        let held =
            model::solve_held(plant, &forecast, &options, &first.from_interval(k, h.instant(k)), spec.premium).map_err(|e| (k, e))?;
        imbalance += held
            .imbalance
            .iter()
            .map(|i| i.short_mw.first().copied().unwrap_or(0.0) + i.long_mw.first().copied().unwrap_or(0.0))
            .sum::<f64>()
            * dt;
        versions.push(held.schedule);
    }
    let numbered: Vec<(u32, &Schedule)> = versions.iter().enumerate().map(|(k, s)| (k as u32, s)).collect();
    let realised = stitch(plant, &numbered).ok_or((0, DispatchError::Solver("the day's re-plans could not be stitched".into())))?;
    let closing = versions.last().map(|s| closing_levels(plant, s)).unwrap_or_default();
    let day = Day {
        day: input.day,
        figures: figures(&realised.schedule, imbalance, spec.premium),
        solves: t_len as u32 + 1,
        schedule: spec.keep_schedules.then(|| Box::new(realised.schedule)),
    };
    Ok((day, closing))
}

/// A day's figures from its (realised) schedule and the imbalance it paid for.
fn figures(s: &Schedule, imbalance_mwh: f64, premium: f64) -> Figures {
    let t = &s.totals;
    Figures {
        green_share: t.green_share,
        green_mwh: t.green_mwh,
        served_mwh: t.served_mwh,
        cost_yuan: t.cost_yuan + premium * imbalance_mwh,
        imbalance_mwh,
        curtailed_mwh: t.curtailed_mwh,
        interrupted_mwh: t.interrupted_mwh,
    }
}

/// Each storage's level at the end of a schedule, by colour (within its limits).
fn closing_levels(plant: &Plant, s: &Schedule) -> BTreeMap<String, StorageLevel> {
    s.storages
        .iter()
        .filter_map(|st| {
            let (g, k) = (st.energy_green_mwh.last()?, st.energy_grey_mwh.last()?);
            let level = StorageLevel { green_mwh: *g, grey_mwh: *k }.within(plant.storage(&st.name)?);
            Some((st.name.clone(), level))
        })
        .collect()
}

/// The day's forecast as known at the start of interval `k`: intervals up to `k` as they
/// turned out, later ones the point forecast corrected by the error seen at `k`, fading by
/// φ^(t−k) (module documentation).
pub fn nowcast(plant: &Plant, point: &Forecast, truth: &Forecast, k: usize, m: &ErrorModel) -> Forecast {
    let dt = f64::from(point.interval_minutes) / 60.0;
    let mut f = point.clone();
    let update = |series: &mut Vec<f64>, seen: &[f64], tau: f64, relative: bool, cap: &dyn Fn(usize) -> f64| {
        let phi = (-dt / tau).exp();
        let (Some(&p), Some(&o)) = (series.get(k), seen.get(k)) else { return };
        let error = if relative {
            if p > 1e-9 {
                o / p - 1.0
            } else {
                0.0
            }
        } else {
            o - p
        };
        for t in 0..series.len() {
            if t <= k {
                series[t] = seen[t];
            } else {
                let fade = phi.powi((t - k) as i32);
                let v = if relative { series[t] * (1.0 + error * fade) } else { series[t] + error * fade };
                series[t] = v.clamp(0.0, cap(t));
            }
        }
    };
    for w in &plant.wind {
        if let (Some(series), Some(seen)) = (f.availability.get_mut(&w.name), truth.availability.get(&w.name)) {
            update(series, seen, m.wind_tau_h, false, &|_| 1.0);
        }
    }
    for p in &plant.pv {
        if let (Some(series), Some(seen)) = (f.availability.get_mut(&p.name), truth.availability.get(&p.name)) {
            let caps: Vec<f64> = series.iter().map(|v| v.clamp(crate::synth::PV_MAX_AVAILABILITY, 1.0)).collect();
            update(series, seen, m.pv_tau_h, true, &|t| caps[t]);
        }
    }
    for park in &plant.parks {
        if let (Some(series), Some(seen)) = (f.demand_mw.get_mut(&park.name), truth.demand_mw.get(&park.name)) {
            update(series, seen, m.load_tau_h, true, &|_| f64::INFINITY);
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xinyang() -> Plant {
        Plant::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/xinyang.toml")).expect("the Xinyang plant loads")
    }

    #[test]
    fn the_nowcast_is_the_truth_up_to_k_and_fades_to_the_point_forecast() {
        let plant = xinyang();
        let point = crate::synth::generate(&plant, crate::synth::DayKind::WindyWinter, 60, 1);
        let truth =
            Forecast { scenarios: scenarios::generate(&plant, &point, &ErrorModel::default(), 1, 9).expect("draws"), ..point.clone() }
                .outcomes()
                .remove(0)
                .2;
        let k = 10;
        let now = nowcast(&plant, &point, &truth, k, &ErrorModel::default());
        let w = &plant.wind[0].name;
        let (p, o, n) = (&point.availability[w], &truth.availability[w], &now.availability[w]);
        assert_eq!(&n[..=k], &o[..=k], "up to k the nowcast is what happened");
        let (e_next, e_far) = (n[k + 1] - p[k + 1], n[23] - p[23]);
        assert!((o[k] - p[k]).abs() > 1e-3, "the drawn truth differs from the point forecast at k");
        assert!(e_next.abs() > e_far.abs(), "the correction fades: {e_next} at k+1, {e_far} at the day's end");
        assert!(n.iter().all(|v| (0.0..=1.0).contains(v)));
        for park in &plant.parks {
            assert!(now.demand_mw[&park.name].iter().all(|v| *v >= 0.0));
        }
    }

    #[test]
    fn truth_and_scenario_seeds_differ_even_when_equal() {
        assert_ne!(truth_seed(5, 0), scenario_seed(5, 0));
        assert_ne!(scenario_seed(5, 0), scenario_seed(5, 1));
    }
}
