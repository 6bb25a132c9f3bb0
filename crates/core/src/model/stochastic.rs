//! The stochastic day-ahead: one LP holding a copy of the plant per scenario of the
//! forecast, tied together by what must be fixed the day before.
//!
//! - **First stage** (one value for every scenario): each grid exchange's net position per
//!   interval, each park's interruption notice per interval, each bid's award.
//! - **Second stage** (per scenario): everything else — renewable output and curtailment,
//!   storage dispatch with its colours, exports, thermal output — and the real-time
//!   imbalance: net import = position + bought short − sold long. Imbalance is settled at
//!   the day-ahead price plus a premium (short) or minus it (long), so it costs the premium
//!   per MWh either way. The default premium, [`DEFAULT_IMBALANCE_PREMIUM`], is assumed.
//! - **Objective**: the objective of [`Options`] on expectations — the expected green
//!   share is Σ p·N / Σ p·D (the ratio of expectations, exact through Dinkelbach as for
//!   one scenario), the expected cost is Σ p·(cost + premium × imbalance) — then the
//!   tie-break stages on every scenario's columns. A minimum share holds in every scenario.
//!
//! The plan is then valued twice more on the same LP: with the first stage fixed at the
//! deterministic plan's (solved on the point forecast; its notices clipped to what every
//! scenario allows), which gives the expected value of that plan (EEV), and without the
//! first stage (each scenario on its own, wait-and-see, WS). VSS = RP − EEV and
//! EVPI = WS − RP (share; the other way round for cost) follow, both ≥ 0 up to the share
//! tolerance for the objective optimised first.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::domain::limits;
use crate::domain::stochastic::{
    Commitment, Evaluation, FirstStage, Gain, Imbalance, Notice, PlanSolver, Position, ScenarioOutcome, ScenarioPlan, StochasticPlan,
    Valuation,
};
use crate::domain::validation::Collector;
use crate::domain::{Forecast, Plant, Schedule};

use super::builder::{Builder, Built, CostParts};
use super::lp::{Family, LinExpr, Lp, Sense, Var};
use super::stages::{run_stages, Staged, Staging};
use super::{solution, Budget, DispatchError, Options};

/// Real-time imbalance premium, yuan/MWh, when none is given. Assumed: the Henan spot
/// market trial's price band (50–1,200 yuan/MWh, DATA.md) gives no deviation charge, and
/// 100 yuan/MWh is about a quarter of a mid-day price, a common order for deviation
/// penalties in China's provincial spot pilots.
pub const DEFAULT_IMBALANCE_PREMIUM: f64 = 100.0;

/// Largest stochastic LP accepted: scenarios × intervals.
pub const MAX_SCENARIO_INTERVALS: usize = 20_000;

/// Smallest scenario probability the stochastic LP weighs: below it a scenario's rows are
/// scaled past what the solver's tolerances can tell from zero.
pub const MIN_PROBABILITY: f64 = 1e-6;

/// Highest imbalance premium accepted, yuan/MWh.
const MAX_PREMIUM: f64 = limits::MAX_PRICE_YUAN_PER_MWH;

/// Plans the day-ahead over every scenario of `forecast` (its scenarios, or its quantiles
/// as three scenarios, or the point forecast alone) and values the plan against the
/// deterministic one and against perfect information.
pub fn solve_stochastic(plant: &Plant, forecast: &Forecast, options: &Options, premium: f64) -> Result<StochasticPlan, DispatchError> {
    let outcomes = check(plant, forecast, options, premium)?;
    let started = Instant::now();
    let budget = Budget { options, started };
    // The plan on this thread; the deterministic plan, EEV and WS (independent of it) on
    // another: each LP has its own HiGHS instance, so the figures do not depend on it.
    // The evaluations start every LP cold: bases kept by the caller's warm starts would
    // make them depend on which thread solved first.
    let cold = Options { warm: super::WarmStarts::default(), ..options.clone() };
    let (rp, valued) = std::thread::scope(|scope| {
        let valued = scope.spawn(|| value(plant, forecast, &outcomes, &cold, premium, &budget));
        let rp = Joint::build(plant, &outcomes, options, premium, Link::Shared).and_then(|j| j.solve(plant, forecast, &budget.options()?));
        (rp, valued.join())
    });
    let rp = rp?;
    let (det, eev, ws) =
        valued.map_err(|_| DispatchError::Solver("the evaluation of the deterministic plan failed unexpectedly".into()))??;
    let solves = rp.staged.report.solves + det.report.solves + eev.staged.report.solves + ws.staged.report.solves;

    let alpha = options.risk.cvar_alpha;
    let (stochastic, deterministic, perfect_information) =
        (rp.evaluate(premium, alpha), eev.evaluate(premium, alpha), ws.evaluate(premium, alpha));
    let vss =
        Gain { green_share: stochastic.green_share - deterministic.green_share, cost_yuan: deterministic.cost_yuan - stochastic.cost_yuan };
    let evpi = Gain {
        green_share: perfect_information.green_share - stochastic.green_share,
        cost_yuan: stochastic.cost_yuan - perfect_information.cost_yuan,
    };
    let scenarios = rp.schedules(plant, options);
    let first_stage = rp.first_stage(plant, &scenarios);
    let mut warnings = rp.staged.warnings.clone();
    warnings.extend(eev.staged.warnings.iter().map(|w| format!("deterministic plan: {w}")));
    warnings.extend(ws.staged.warnings.iter().map(|w| format!("perfect information: {w}")));
    Ok(StochasticPlan {
        plant: plant.name.clone(),
        objective: options.objective.name().into(),
        imbalance_premium_yuan_per_mwh: premium,
        intervals: (0..rp.h_len()).map(|t| rp.staged.b.h.instant(t)).collect(),
        first_stage,
        stochastic,
        deterministic,
        perfect_information,
        vss,
        evpi,
        scenarios,
        solver: PlanSolver {
            backend: options.backend.name().into(),
            solves,
            variables: rp.staged.report.variables,
            rows: rp.staged.report.rows,
            total_ms: started.elapsed().as_secs_f64() * 1e3,
        },
        warnings,
    })
}

/// The first stage alone of the stochastic day-ahead (no valuation against the
/// deterministic plan or perfect information): what a closed-loop backtest commits to the
/// day before. The same plan as [`solve_stochastic`]'s, tie-break stages included.
pub fn plan_first_stage(plant: &Plant, forecast: &Forecast, options: &Options, premium: f64) -> Result<FirstStage, DispatchError> {
    let outcomes = check(plant, forecast, options, premium)?;
    let rp = Joint::build(plant, &outcomes, options, premium, Link::Shared)?.solve(plant, forecast, options)?;
    let scenarios = rp.schedules(plant, options);
    Ok(rp.first_stage(plant, &scenarios))
}

/// A re-plan of `forecast` (one outcome, its point series) that holds a first stage fixed
/// the day before: each grid's position per interval (deviations bought short or sold long
/// at the day-ahead price ± `premium`), each park's interruption notice and each bid's
/// award. `first` must cover the forecast's intervals; it names every grid and park of
/// the plant and awards every bid of the forecast (by id, bot and interval start).
pub fn solve_held(
    plant: &Plant,
    forecast: &Forecast,
    options: &Options,
    first: &FirstStage,
    premium: f64,
) -> Result<ScenarioPlan, DispatchError> {
    let point = Forecast { scenarios: Vec::new(), quantiles: None, ..forecast.clone() };
    // One outcome: no risk to weigh.
    let options = &Options { risk: super::Risk::default(), ..options.clone() };
    let outcomes = check(plant, &point, options, premium)?;
    let values = held_values(plant, &point, first).map_err(DispatchError::InvalidOptions)?;
    let held = Joint::build(plant, &outcomes, options, premium, Link::Fixed(&values))?.solve(plant, &point, options)?;
    held.schedules(plant, options).into_iter().next().ok_or_else(|| DispatchError::Solver("a held re-plan without its outcome".into()))
}

/// A stochastic day-ahead as the one schedule a service publishes for its day: the plan of
/// [`solve_stochastic`] over `forecast`'s scenarios, its first stage then held on the point
/// forecast (the day as expected, [`solve_held`]), with the [`Commitment`] (the whole day's
/// first stage, this schedule's imbalance, the plan's valuation) attached for re-plans to
/// hold. The plan's warnings are kept, prefixed.
pub fn commit_day_ahead(plant: &Plant, forecast: &Forecast, options: &Options, premium: f64) -> Result<Schedule, DispatchError> {
    let started = Instant::now();
    let plan = solve_stochastic(plant, forecast, options, premium)?;
    let budget = Budget { options, started };
    let held = solve_held(plant, forecast, &budget.options()?, &plan.first_stage, premium)?;
    let valuation = Valuation {
        stochastic: plan.stochastic,
        deterministic: plan.deterministic,
        perfect_information: plan.perfect_information,
        vss: plan.vss,
        evpi: plan.evpi,
        solver: plan.solver,
    };
    let mut schedule = committed(held, premium, plan.intervals, plan.first_stage, valuation);
    schedule.warnings.extend(plan.warnings.iter().map(|w| format!("stochastic plan: {w}")));
    Ok(schedule)
}

/// A re-plan of a committed day from `forecast.start` to its end: the commitment's first
/// stage held from that interval on ([`solve_held`]; deviations from the positions bought
/// short or sold long at the premium), the commitment carried with this schedule's own
/// imbalance. The forecast must start at one of the commitment's intervals, at its
/// interval length, and end within its day.
pub fn replan_committed(plant: &Plant, forecast: &Forecast, options: &Options, commitment: &Commitment) -> Result<Schedule, DispatchError> {
    let mut c = Collector::default();
    let day = &commitment.intervals;
    let k = day.iter().position(|t| *t == forecast.start);
    if k.is_none() {
        c.push("forecast.start", format!("{} is not an interval start of the committed day", forecast.start.to_rfc3339()));
    }
    let step = match day.as_slice() {
        [a, b, ..] => (*b - *a).num_minutes(),
        _ => i64::from(forecast.interval_minutes),
    };
    if i64::from(forecast.interval_minutes) != step {
        c.push("forecast.interval_minutes", format!("must be the committed day's {step} minutes, got {}", forecast.interval_minutes));
    }
    if let Some(k) = k {
        if k + forecast.intervals > day.len() {
            c.push(
                "forecast.intervals",
                format!("{} intervals from interval {k} run past the committed day's {}", forecast.intervals, day.len()),
            );
        }
    }
    c.finish().map_err(DispatchError::InvalidForecast)?;
    let k = k.unwrap_or_default();
    let first = commitment.first_stage.from_interval(k, forecast.start);
    let premium = commitment.imbalance_premium_yuan_per_mwh;
    let held = solve_held(plant, forecast, options, &first, premium)?;
    Ok(committed(held, premium, day.clone(), commitment.first_stage.clone(), commitment.valuation.clone()))
}

/// A held schedule with its commitment attached.
fn committed(held: ScenarioPlan, premium: f64, intervals: Vec<DateTime<Utc>>, first_stage: FirstStage, valuation: Valuation) -> Schedule {
    let mut schedule = held.schedule;
    let imbalance_mwh = held.imbalance.iter().map(|i| i.short_mw.iter().chain(&i.long_mw).sum::<f64>()).sum::<f64>() * schedule.dt_hours;
    schedule.commitment = Some(Commitment {
        imbalance_premium_yuan_per_mwh: premium,
        intervals,
        first_stage,
        imbalance: held.imbalance,
        imbalance_mwh,
        valuation,
    });
    schedule
}

/// `first` as first-stage values for `forecast`'s LP, every gap named by field.
fn held_values(plant: &Plant, forecast: &Forecast, first: &FirstStage) -> Result<FirstValues, crate::domain::ValidationErrors> {
    let mut c = Collector::default();
    let t_len = forecast.intervals;
    let mut series = |field: String, found: Option<&Vec<f64>>| -> Vec<f64> {
        match found {
            Some(v) if v.len() == t_len && v.iter().all(|x| x.is_finite()) => v.clone(),
            Some(v) => {
                c.push(field, format!("needs {t_len} finite values, got {}", v.len()));
                vec![0.0; t_len]
            }
            None => {
                c.push(field, "missing");
                vec![0.0; t_len]
            }
        }
    };
    let positions = plant
        .grids
        .iter()
        .map(|g| {
            let found = first.grids.iter().find(|p| p.grid == g.name).map(|p| &p.position_mw);
            series(format!("first_stage.grids.{}", limits::short(&g.name)), found)
        })
        .collect();
    let notices = plant
        .parks
        .iter()
        .map(|p| {
            let found = first.parks.iter().find(|n| n.park == p.name).map(|n| &n.interrupted_mw);
            series(format!("first_stage.parks.{}", limits::short(&p.name)), found)
        })
        .collect();
    let awards = forecast
        .bids
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let award = first.bids.iter().find(|a| a.id == b.id && a.bot == b.bot && a.interval_start == Some(b.interval_start));
            match award {
                Some(a) if a.accepted_mw.is_finite() => a.accepted_mw,
                _ => {
                    c.push(
                        format!("first_stage.bids[{k}]"),
                        format!(
                            "no award for bid {} of {} at {}",
                            limits::short(&b.id),
                            limits::short(&b.bot),
                            b.interval_start.to_rfc3339()
                        ),
                    );
                    0.0
                }
            }
        })
        .collect();
    c.finish()?;
    Ok(FirstValues { positions, notices, awards })
}

/// The checks of a stochastic solve (by field), then the forecast's outcomes.
fn check(plant: &Plant, forecast: &Forecast, options: &Options, premium: f64) -> Result<Vec<(String, f64, Forecast)>, DispatchError> {
    plant.validate().map_err(DispatchError::InvalidPlant)?;
    forecast.validate(plant).map_err(DispatchError::InvalidForecast)?;
    options.validate(plant, forecast).map_err(DispatchError::InvalidOptions)?;
    let outcomes = forecast.outcomes();
    let mut c = Collector::default();
    if c.finite("imbalance_premium", premium) && !(0.0..=MAX_PREMIUM).contains(&premium) {
        c.push("imbalance_premium", format!("must lie in [0, {MAX_PREMIUM}] yuan/MWh, got {premium}"));
    }
    if outcomes.len() * forecast.intervals > MAX_SCENARIO_INTERVALS {
        c.push(
            "scenarios",
            format!(
                "{} scenarios × {} intervals exceed the {MAX_SCENARIO_INTERVALS} a stochastic day-ahead takes; reduce the scenarios (vpp forecast --reduce K)",
                outcomes.len(),
                forecast.intervals
            ),
        );
    }
    for (name, p, _) in &outcomes {
        if *p < MIN_PROBABILITY {
            c.push(
                format!("scenarios[{}].probability", limits::short(name)),
                format!(
                    "{p} is below the {MIN_PROBABILITY} a stochastic day-ahead weighs; merge it into a neighbour (vpp forecast --reduce K)"
                ),
            );
        }
    }
    if options.frontier_points > 0 {
        c.push("frontier_points", "a stochastic day-ahead computes no frontier");
    }
    c.finish().map_err(DispatchError::InvalidOptions)?;
    Ok(outcomes)
}

/// The deterministic plan (the point forecast alone, as `model::solve` plans it), then the
/// joint LP with its first stage fixed (EEV) and without a first stage (WS).
fn value(
    plant: &Plant,
    forecast: &Forecast,
    outcomes: &[(String, f64, Forecast)],
    options: &Options,
    premium: f64,
    budget: &Budget<'_>,
) -> Result<(Staged, Solved, Solved), DispatchError> {
    let point = Forecast { scenarios: Vec::new(), quantiles: None, ..forecast.clone() };
    let det = {
        let options = budget.options()?;
        let built = Builder::new(plant, &point, &options)?.build();
        run_stages(plant, &point, &options, built, Instant::now(), Staging::default())?
    };
    let fixed = first_stage_values(&det.b, &det.x);
    // The deterministic plan knows nothing of a P10 share (held in every scenario it may not
    // reach it), so neither evaluation holds one; the CVaR weight prices both.
    let free = Options { risk: super::Risk { p10_min_share: None, ..options.risk }, ..options.clone() };
    let eev = Joint::build(plant, outcomes, &free, premium, Link::Fixed(&fixed))?.solve(plant, forecast, &budget.options()?)?;
    let ws = Joint::build(plant, outcomes, &free, premium, Link::Free)?.solve(plant, forecast, &budget.options()?)?;
    Ok((det, eev, ws))
}

/// How the scenarios' first stages are tied.
enum Link<'a> {
    /// One first stage for all, chosen by the optimizer (the stochastic plan).
    Shared,
    /// One first stage for all, fixed at these values (the deterministic plan's).
    Fixed(&'a FirstValues),
    /// None: each scenario plans as if it knew its outcome (perfect information).
    Free,
}

/// First-stage values: positions[grid][t], notices[park][t], awards[bid].
#[derive(Debug, Clone, Default)]
struct FirstValues {
    positions: Vec<Vec<f64>>,
    notices: Vec<Vec<f64>>,
    awards: Vec<f64>,
}

/// The first stage a solved single-scenario model chose.
fn first_stage_values(b: &Built, x: &[f64]) -> FirstValues {
    let ix = &b.ix;
    FirstValues {
        positions: ix.import.iter().zip(&ix.export).map(|(i, e)| i.iter().zip(e).map(|(i, e)| x[i.idx()] - x[e.idx()]).collect()).collect(),
        notices: ix.interrupted.iter().map(|vs| vs.iter().map(|v| x[v.idx()]).collect()).collect(),
        awards: ix.bid.iter().map(|v| x[v.idx()]).collect(),
    }
}

/// The first-stage columns: positions[grid][t] and notices[park][t] (awards are read from
/// the first scenario's schedule).
struct FirstVars {
    positions: Vec<Vec<Var>>,
    notices: Vec<Vec<Var>>,
}

/// One scenario's copy of the plant in the joint LP.
struct Part {
    name: String,
    probability: f64,
    forecast: Forecast,
    /// The copy's model (its `lp` empty: the columns live in the joint LP).
    b: Built,
    /// Bought short and sold long, per grid and interval (none without a first stage).
    short: Vec<Vec<Var>>,
    long: Vec<Vec<Var>>,
}

/// The joint LP of every scenario.
struct Joint {
    parts: Vec<Part>,
    built: Built,
    first: Option<FirstVars>,
}

impl Joint {
    fn build(
        plant: &Plant,
        outcomes: &[(String, f64, Forecast)],
        options: &Options,
        premium: f64,
        link: Link<'_>,
    ) -> Result<Joint, DispatchError> {
        let mut lp = Lp::default();
        let mut parts = Vec::with_capacity(outcomes.len());
        for (name, probability, forecast) in outcomes {
            let mut b = Builder::new(plant, forecast, options)?.into_lp(lp).build();
            lp = std::mem::take(&mut b.lp);
            parts.push(Part {
                name: name.clone(),
                probability: *probability,
                forecast: forecast.clone(),
                b,
                short: Vec::new(),
                long: Vec::new(),
            });
        }
        let Some(head) = parts.first() else {
            return Err(DispatchError::Solver("a forecast without outcomes".into()));
        };
        let (h, t_len, dt) = (head.b.h.clone(), head.b.h.len, head.b.h.dt);
        let mut green = LinExpr::default();
        let mut served = LinExpr::default();
        for part in &parts {
            green = green.plus(part.probability, &part.b.green);
            served = served.plus(part.probability, &part.b.served);
        }
        let mut moves = Vec::new();
        let mut first = None;
        let (linked, fixed) = match link {
            Link::Free => (false, None),
            Link::Shared => (true, None),
            Link::Fixed(values) => (true, Some(values)),
        };
        if linked {
            let fix = |lp: &mut Lp, v: Var, value: Option<f64>| {
                if let Some(value) = value {
                    let col = &mut lp.cols[v.idx()];
                    let value = value.clamp(col.lo, col.hi);
                    (col.lo, col.hi) = (value, value);
                }
            };
            // Grid positions, and each scenario's imbalance against them.
            let mut positions = Vec::with_capacity(plant.grids.len());
            for (g, grid) in plant.grids.iter().enumerate() {
                let subject = lp.subject(&grid.name);
                let span = grid.import_cap_mw + grid.export_cap_mw;
                let row: Vec<Var> = (0..t_len).map(|_| lp.var(-grid.export_cap_mw, grid.import_cap_mw)).collect();
                for (t, &x) in row.iter().enumerate() {
                    fix(&mut lp, x, fixed.map(|f| f.positions[g][t]));
                }
                for part in &mut parts {
                    let (mut short, mut long) = (Vec::with_capacity(t_len), Vec::with_capacity(t_len));
                    for (t, &x) in row.iter().enumerate() {
                        let (s, l) = (lp.var(0.0, span), lp.var(0.0, span));
                        let (i, e) = (part.b.ix.import[g][t], part.b.ix.export[g][t]);
                        lp.row(Family::Position, subject, Some(t), [(i, 1.0), (e, -1.0), (x, -1.0), (s, -1.0), (l, 1.0)], Sense::Eq, 0.0);
                        moves.extend([s, l]);
                        short.push(s);
                        long.push(l);
                    }
                    part.short.push(short);
                    part.long.push(long);
                }
                positions.push(row);
            }
            // Interruption notices: within what every scenario allows.
            let mut notices = Vec::with_capacity(plant.parks.len());
            for (p, park) in plant.parks.iter().enumerate() {
                let subject = lp.subject(&park.name);
                let mut row = Vec::with_capacity(t_len);
                for t in 0..t_len {
                    let cols: Vec<_> = parts.iter().map(|part| lp.cols[part.b.ix.interrupted[p][t].idx()]).collect();
                    let lo = cols.iter().fold(0.0f64, |m, c| m.max(c.lo));
                    let hi = cols.iter().fold(f64::INFINITY, |m, c| m.min(c.hi));
                    let x = lp.var(lo, hi.max(lo));
                    fix(&mut lp, x, fixed.map(|f| f.notices[p][t]));
                    for part in &parts {
                        lp.row(Family::Notice, subject, Some(t), [(part.b.ix.interrupted[p][t], 1.0), (x, -1.0)], Sense::Eq, 0.0);
                    }
                    row.push(x);
                }
                notices.push(row);
            }
            // Bid awards.
            let subject = lp.subject("bids");
            for (k, &award) in head_bids(&parts).iter().enumerate() {
                let col = lp.cols[award.idx()];
                let x = lp.var(col.lo, col.hi);
                fix(&mut lp, x, fixed.map(|f| f.awards[k]));
                for part in &parts {
                    lp.row(
                        Family::Award,
                        subject,
                        part.b.ix.bid_places.get(k).map(|p| p.t),
                        [(part.b.ix.bid[k], 1.0), (x, -1.0)],
                        Sense::Eq,
                        0.0,
                    );
                }
            }
            first = Some(FirstVars { positions, notices });
        }
        // The expected cost: each scenario's own, imbalance at the premium included.
        let mut cost = LinExpr::default();
        for part in &parts {
            cost = cost.plus(part.probability, &scenario_cost(part, premium, dt));
        }
        let risk = options.risk;
        if risk.cvar_weight > 0.0 {
            // CVaR_α[cost] = min over z of z + Σ p·max(0, cost_s − z) / (1 − α): z free,
            // u_s ≥ cost_s − z, u_s ≥ 0 (Rockafellar–Uryasev).
            let subject = lp.subject("cvar_cost");
            let z = lp.var(f64::NEG_INFINITY, f64::INFINITY);
            let mut cvar = LinExpr::default();
            cvar.add(z, 1.0);
            for part in &parts {
                let u = lp.var(0.0, f64::INFINITY);
                let mut row = LinExpr::default().plus(-1.0, &scenario_cost(part, premium, dt));
                row.add(u, 1.0);
                row.add(z, 1.0);
                lp.row_expr(Family::CvarCost, subject, &merged(&row), Sense::Ge);
                cvar.add(u, part.probability / (1.0 - risk.cvar_alpha));
            }
            let expected = if risk.cvar_weight < 1.0 { LinExpr::default().plus(1.0 - risk.cvar_weight, &cost) } else { LinExpr::default() };
            cost = expected.plus(risk.cvar_weight, &cvar);
        }
        if let Some(m) = risk.p10_min_share {
            // CVaR_0.9[m·served_s − green_s] ≤ 0: η free, v_s ≥ m·served_s − green_s − η,
            // v_s ≥ 0, η + Σ p·v_s / 0.1 ≤ 0.
            let subject = lp.subject("p10_share");
            let eta = lp.var(f64::NEG_INFINITY, f64::INFINITY);
            let mut tail = LinExpr::default();
            tail.add(eta, -1.0);
            for part in &parts {
                let v = lp.var(0.0, f64::INFINITY);
                let mut row = part.b.green.plus(-m, &part.b.served);
                row.add(v, 1.0);
                row.add(eta, 1.0);
                lp.row_expr(Family::P10Share, subject, &merged(&row), Sense::Ge);
                tail.add(v, -part.probability / super::P10);
            }
            lp.row_expr(Family::P10Share, subject, &tail, Sense::Ge);
        }
        let mut ix = parts.iter().map(|p| p.b.ix.clone());
        let built = Built {
            lp,
            ix: ix.next().unwrap_or_default(),
            more: ix.collect(),
            h,
            green,
            served,
            cost,
            cost_parts: CostParts::default(),
            emissions: LinExpr::default(),
            warnings: parts.iter().flat_map(|p| p.b.warnings.iter().map(|w| format!("scenario {}: {w}", p.name))).collect(),
            moves,
        };
        Ok(Joint { parts, built, first })
    }

    /// Runs the objective's stages and the tie-break stages on the joint LP: every figure
    /// of every scenario, evaluations included, is that of the one dispatch the rule picks
    /// (without the canonical stage the split of an expectation between scenarios was the
    /// solver's: an EEV's CVaR moved with the solver's path). An infeasible joint LP is
    /// explained by the first scenario that is infeasible on its own.
    fn solve(self, plant: &Plant, forecast: &Forecast, options: &Options) -> Result<Solved, DispatchError> {
        let Joint { parts, built, first } = self;
        match run_stages(plant, forecast, options, built, Instant::now(), Staging { diagnose: false, ..Staging::default() }) {
            Ok(staged) => Ok(Solved { parts, staged, first }),
            Err(DispatchError::Infeasible(_)) => Err(explain(plant, &parts, options)),
            Err(e) => Err(e),
        }
    }
}

/// CVaR_α of a discrete distribution of (probability, value): the mean value over the worst
/// (highest) 1 − α of the probability, the scenario on the boundary counted in part.
/// α = 0 gives the mean.
fn cvar(outcomes: &[(f64, f64)], alpha: f64) -> f64 {
    let mut sorted = outcomes.to_vec();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mass = 1.0 - alpha;
    let (mut left, mut sum) = (mass, 0.0);
    for (p, v) in sorted {
        let take = p.min(left);
        sum += take * v;
        left -= take;
        if left <= 0.0 {
            break;
        }
    }
    sum / (mass - left.max(0.0)).max(f64::MIN_POSITIVE)
}

/// The lower `q`-quantile of a discrete distribution of (probability, value): the lowest
/// value at which more than `q` of the probability lies at or below it (within 1e-9), so
/// at most `q` of the probability lies below it.
fn lower_quantile(outcomes: &[(f64, f64)], q: f64) -> f64 {
    let mut sorted = outcomes.to_vec();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut below = 0.0;
    for &(p, v) in &sorted {
        below += p;
        if below > q + 1e-9 {
            return v;
        }
    }
    sorted.last().map_or(0.0, |s| s.1)
}

/// A scenario's own cost: its operating cost and its imbalance at the premium (none
/// without a first stage).
fn scenario_cost(part: &Part, premium: f64, dt: f64) -> LinExpr {
    let mut cost = part.b.cost.clone();
    for v in part.short.iter().chain(&part.long).flatten() {
        cost.add(*v, premium * dt);
    }
    cost
}

/// `e` with each column once (a row may not name a column twice).
fn merged(e: &LinExpr) -> LinExpr {
    let mut at = std::collections::HashMap::new();
    let mut out = LinExpr { terms: Vec::with_capacity(e.terms.len()), constant: e.constant };
    for &(v, a) in &e.terms {
        match at.get(&v.idx()) {
            Some(&k) => {
                let term: &mut (Var, f64) = &mut out.terms[k];
                term.1 += a;
            }
            None => {
                at.insert(v.idx(), out.terms.len());
                out.terms.push((v, a));
            }
        }
    }
    out
}

/// The bid award columns of the first scenario (every scenario has the same bids).
fn head_bids(parts: &[Part]) -> Vec<Var> {
    parts.first().map(|p| p.b.ix.bid.clone()).unwrap_or_default()
}

/// Why a stochastic day-ahead is infeasible: the first scenario that is infeasible alone,
/// its reasons named by scenario; otherwise the first stage itself (a notice or award no
/// single first stage can meet in every scenario).
fn explain(plant: &Plant, parts: &[Part], options: &Options) -> DispatchError {
    let alone = Options { risk: super::Risk::default(), ..options.clone() };
    for part in parts {
        if let Err(DispatchError::Infeasible(reasons)) = super::solve(plant, &part.forecast, &alone) {
            let reasons = reasons
                .into_iter()
                .map(|mut d| {
                    d.message = format!("scenario {}: {}", part.name, d.message);
                    d.subject = format!("{}/{}", part.name, d.subject);
                    d
                })
                .collect();
            return DispatchError::Infeasible(reasons);
        }
    }
    DispatchError::Infeasible(vec![super::Diagnosis {
        family: "first_stage".into(),
        subject: plant.name.clone(),
        interval: None,
        at: None,
        shortfall: 0.0,
        message: match options.risk.p10_min_share {
            None => "every scenario is feasible alone, but no single day-ahead position, notice and award suits them all".into(),
            Some(m) => format!(
                "every scenario is feasible alone, but no single day-ahead position, notice and award suits them all with a green share of at least {m} in the scenarios holding 90 % of the probability (risk.p10_min_share)"
            ),
        },
    }])
}

/// A solved joint LP.
struct Solved {
    parts: Vec<Part>,
    staged: Staged,
    first: Option<FirstVars>,
}

impl Solved {
    fn h_len(&self) -> usize {
        self.staged.b.h.len
    }

    /// Real-time imbalance of a part, MWh.
    fn imbalance_mwh(&self, part: &Part) -> f64 {
        let x = &self.staged.x;
        let dt = self.staged.b.h.dt;
        part.short.iter().chain(&part.long).flatten().map(|v| x[v.idx()]).sum::<f64>() * dt
    }

    fn evaluate(&self, premium: f64, alpha: f64) -> Evaluation {
        let x = &self.staged.x;
        let scenarios: Vec<ScenarioOutcome> = self
            .parts
            .iter()
            .map(|part| {
                let (green, served) = (part.b.green.eval(x), part.b.served.eval(x));
                let imbalance = self.imbalance_mwh(part);
                ScenarioOutcome {
                    name: part.name.clone(),
                    probability: part.probability,
                    green_share: if served > 0.0 { green / served } else { 0.0 },
                    green_mwh: green,
                    served_mwh: served,
                    cost_yuan: part.b.cost.eval(x) + premium * imbalance,
                    imbalance_mwh: imbalance,
                }
            })
            .collect();
        let expect = |f: fn(&ScenarioOutcome) -> f64| scenarios.iter().map(|s| s.probability * f(s)).sum::<f64>();
        let served = expect(|s| s.served_mwh);
        let costs: Vec<(f64, f64)> = scenarios.iter().map(|s| (s.probability, s.cost_yuan)).collect();
        let shares: Vec<(f64, f64)> = scenarios.iter().map(|s| (s.probability, s.green_share)).collect();
        Evaluation {
            green_share: if served > 0.0 { expect(|s| s.green_mwh) / served } else { 0.0 },
            cost_yuan: expect(|s| s.cost_yuan),
            imbalance_mwh: expect(|s| s.imbalance_mwh),
            cvar_alpha: alpha,
            cvar_cost_yuan: cvar(&costs, alpha),
            p10_green_share: lower_quantile(&shares, super::P10),
            scenarios,
        }
    }

    /// Each scenario's schedule. The joint LP weighs scenario k's rows by its probability,
    /// so its prices are its rows' duals divided by that probability.
    fn schedules(&self, plant: &Plant, options: &Options) -> Vec<ScenarioPlan> {
        let x = &self.staged.x;
        let r = &self.staged.report;
        self.parts
            .iter()
            .map(|part| {
                let duals: Vec<f64> = self.staged.duals.iter().map(|d| d / part.probability).collect();
                let report = solution::Report { frontier: Vec::new(), ..r.clone() };
                let schedule = solution::schedule(plant, &part.forecast, options, &part.b, x, &duals, report);
                let v = solution::Values(x);
                let imbalance = plant
                    .grids
                    .iter()
                    .zip(part.short.iter().zip(&part.long))
                    .map(|(g, (s, l))| Imbalance { grid: g.name.clone(), short_mw: v.series(s), long_mw: v.series(l) })
                    .collect();
                ScenarioPlan { name: part.name.clone(), probability: part.probability, imbalance, schedule }
            })
            .collect()
    }

    /// The first stage as solved (the first scenario's flows where there is none).
    fn first_stage(&self, plant: &Plant, scenarios: &[ScenarioPlan]) -> FirstStage {
        let v = solution::Values(&self.staged.x);
        let (grids, parks) = match &self.first {
            Some(FirstVars { positions, notices }) => (
                plant.grids.iter().zip(positions).map(|(g, p)| Position { grid: g.name.clone(), position_mw: v.series(p) }).collect(),
                plant.parks.iter().zip(notices).map(|(p, n)| Notice { park: p.name.clone(), interrupted_mw: v.series(n) }).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        FirstStage { grids, parks, bids: scenarios.first().map(|s| s.schedule.bids.clone()).unwrap_or_default() }
    }
}
