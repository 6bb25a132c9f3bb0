//! Long horizons at a fine grid, in windows of whole local days (a 15-minute year: issue 16
//! item 5). One LP over 35,040 quarter hours (3.1 M columns) is past what HiGHS solves in
//! useful time here (benches/README.md), but the days of a horizon are tied only by what
//! the storages hold at each midnight. So:
//!
//! 1. **The guide**: the whole horizon on a coarser grid ([`Rolling::guide_minutes`],
//!    hourly by default; [`Forecast::coarsened`]), solved for the same objective as one
//!    LP: where each storage stands at each window's end. Only those levels are read, so
//!    the guide skips the tie-break stages (on a year they take longer than the guide's own
//!    LPs) and is solved on HiGHS from scratch whatever the options name: its vertex
//!    depends on the input alone, and so does the schedule.
//! 2. **The windows**, in order, at the forecast's own grid: each starts where the window
//!    before ended (both colours, carried exactly), ends at or above the guide's level at
//!    its end (the last: the horizon's own targets), and is solved with every stage and
//!    tie-break of [`super::solve`], its bids cleared in it.
//! 3. **The schedule**: the windows stitched into one ([`crate::domain::stitch`]: every
//!    total and the cost recomputed from the stitched series).
//!
//! The result is a feasible schedule of the whole horizon (every balance, limit, daily
//! interruption cap and the storage dynamics hold across the midnights), not the optimum
//! of the whole horizon's LP: the guide fixes the midnight levels from averaged data. When
//! the guide's grid is the forecast's own, its levels are those of an optimum, and in cost
//! mode the windows then add up to that optimum's cost (tested). In the share objectives
//! each window maximises its own share, a plant minimum share holds in every window. The
//! schedule says so in a warning.

use chrono::NaiveDate;

use crate::domain::stitch::stitch;
use crate::domain::validation::Collector;
use crate::domain::{Forecast, Plant, Schedule};

use super::{solve, Budget, DispatchError, Objective, Options};

/// Most days in one window.
pub const MAX_WINDOW_DAYS: usize = 31;

/// How a long horizon is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rolling {
    /// Whole local days per window (1..=[`MAX_WINDOW_DAYS`]).
    pub window_days: usize,
    /// The guide's interval, minutes: a multiple of the forecast's that divides a day.
    /// The forecast's own (or less) makes the guide the whole horizon at its own grid.
    pub guide_minutes: u32,
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling { window_days: 1, guide_minutes: 60 }
    }
}

/// Solves `forecast` window by window (see the module's rules). A horizon of one window
/// is solved as [`super::solve`] solves it.
pub fn solve_rolling(plant: &Plant, forecast: &Forecast, options: &Options, rolling: Rolling) -> Result<Schedule, DispatchError> {
    plant.validate().map_err(DispatchError::InvalidPlant)?;
    forecast.validate(plant).map_err(DispatchError::InvalidForecast)?;
    options.validate(plant, forecast).map_err(DispatchError::InvalidOptions)?;
    let guide_forecast = check(forecast, options, rolling)?;
    let h = forecast.horizon(plant.tz());
    let windows = windows(&h.days(), rolling.window_days);
    if windows.len() <= 1 {
        return solve(plant, forecast, options);
    }
    let budget = Budget { options, started: std::time::Instant::now() };
    let point = Forecast { scenarios: Vec::new(), quantiles: None, ..forecast.clone() };
    let guide_forecast = guide_forecast.unwrap_or_else(|| Forecast { bids: Vec::new(), ..point.clone() });
    let guide_minutes = guide_forecast.interval_minutes;
    let guide = super::stages::solve_untied(plant, &guide_forecast, &budget.options()?)
        .map_err(|e| relabel(e, &format!("the {guide_minutes}-minute guide"), |_| None))?;
    let guide_h = guide_forecast.horizon(plant.tz());
    tracing::debug!(windows = windows.len(), guide_intervals = guide_h.len, "rolling: guide solved");

    // The windows are days of one shape: each starts from the bases and share the one
    // before left (the schedule is the same either way: the tie-break stages decide it).
    let warm = if options.warm.is_on() { options.warm.clone() } else { super::WarmStarts::keep(super::DEFAULT_SHAPES) };
    let mut solved: Vec<Schedule> = Vec::with_capacity(windows.len());
    for (w, window) in windows.iter().enumerate() {
        let f = point.window(window.first, window.len);
        let mut o = Options { warm: warm.clone(), ..options.clone() };
        if let Some(before) = solved.last() {
            o = o.starting_at(plant, before, before.intervals.len());
        }
        o.end_energy_mwh = if w + 1 == windows.len() {
            options.end_targets(plant)
        } else {
            // The guide's level at this window's end (a guide interval starts there: windows
            // are whole days, the guide's grid divides a day).
            let k = guide_h.index_of(h.instant(window.first + window.len)).ok_or_else(|| {
                DispatchError::Solver(format!("the guide has no interval starting at the end of the window of {}", window.day))
            })?;
            guide
                .storages
                .iter()
                .filter_map(|st| {
                    let s = plant.storage(&st.name)?;
                    let level = st.energy_green_mwh.get(k)? + st.energy_grey_mwh.get(k)?;
                    Some((st.name.clone(), level.clamp(s.e_min_mwh, s.e_max_mwh)))
                })
                .collect()
        };
        let s = solve(plant, &f, &budget.apply(o)?)
            .map_err(|e| relabel(e, &format!("window from {}", window.day), |t| Some(t + window.first)))?;
        tracing::debug!(window = w, day = %window.day, cost = s.totals.cost_yuan, "rolling: window solved");
        solved.push(s);
    }
    let note = format!(
        "solved in {} windows of {} day(s), each storage's level at a window's end from a guide solve every {guide_minutes} min: \
         a feasible schedule of the whole horizon, not the optimum of its one LP",
        windows.len(),
        rolling.window_days,
    );
    assemble(plant, &point, options.objective, &guide, &solved, &windows, note)
}

/// Checks the split; returns the guide's forecast (`None`: the forecast's own grid).
fn check(forecast: &Forecast, options: &Options, rolling: Rolling) -> Result<Option<Forecast>, DispatchError> {
    let mut c = Collector::default();
    if !(1..=MAX_WINDOW_DAYS).contains(&rolling.window_days) {
        c.push("rolling.window_days", format!("must lie in 1..={MAX_WINDOW_DAYS}, got {}", rolling.window_days));
    }
    let guide = if rolling.guide_minutes <= forecast.interval_minutes {
        None
    } else {
        let coarse = forecast.coarsened(rolling.guide_minutes);
        if coarse.is_none() {
            c.push(
                "rolling.guide_minutes",
                format!(
                    "must be a multiple of the forecast's {} min that divides a day and its {} intervals, got {}",
                    forecast.interval_minutes, forecast.intervals, rolling.guide_minutes
                ),
            );
        }
        coarse
    };
    if options.frontier_points > 0 {
        c.push("frontier_points", "a solve in windows computes no frontier");
    }
    c.finish().map_err(DispatchError::InvalidOptions)?;
    Ok(guide)
}

/// One window: whole local days from interval `first`.
#[derive(Debug, Clone, Copy)]
struct Window {
    day: NaiveDate,
    first: usize,
    len: usize,
}

/// The horizon's local days in groups of `per` (the last may be shorter).
fn windows(days: &[(NaiveDate, Vec<usize>)], per: usize) -> Vec<Window> {
    days.chunks(per.max(1))
        .filter_map(|group| {
            let (day, first) = group.first().map(|(d, ts)| (*d, ts.first().copied()))?;
            Some(Window { day, first: first?, len: group.iter().map(|(_, ts)| ts.len()).sum() })
        })
        .collect()
}

/// The windows as one schedule, `note` its first warning: stitched, their awards on the
/// whole horizon's intervals, the solver's work summed, the warnings once each.
fn assemble(
    plant: &Plant,
    forecast: &Forecast,
    objective: Objective,
    guide: &Schedule,
    solved: &[Schedule],
    windows: &[Window],
    note: String,
) -> Result<Schedule, DispatchError> {
    let h = forecast.horizon(plant.tz());
    let versions: Vec<(u32, &Schedule)> = solved.iter().enumerate().map(|(k, s)| (k as u32 + 1, s)).collect();
    // Every window is the same plant on the same grid: stitch refuses none.
    let stitched = stitch(plant, &versions).ok_or_else(|| DispatchError::Solver("the windows' schedules do not stitch".into()))?;
    let mut s = stitched.schedule;
    // Awards in the forecast's order of bids (each window's are in its own, a subsequence).
    let mut awards = Vec::with_capacity(forecast.bids.len());
    for (x, w) in solved.iter().zip(windows) {
        let (from, to) = (h.instant(w.first), h.instant(w.first + w.len));
        let inside = forecast.bids.iter().enumerate().filter(|(_, b)| b.interval_start >= from && b.interval_start < to);
        for ((i, _), a) in inside.zip(&x.bids) {
            let mut a = a.clone();
            a.interval_start = a.interval_start.or_else(|| x.intervals.get(a.interval).copied());
            a.interval += w.first;
            awards.push((i, a));
        }
    }
    awards.sort_by_key(|(i, _)| *i);
    s.bids = awards.into_iter().map(|(_, a)| a).collect();
    let all = std::iter::once(guide).chain(solved);
    s.solver.solves = all.clone().map(|x| x.solver.solves).sum();
    s.solver.iterations = all.clone().map(|x| x.solver.iterations).sum();
    s.solver.build_ms = all.clone().map(|x| x.solver.build_ms).sum();
    s.solver.solve_ms = all.clone().map(|x| x.solver.solve_ms).sum();
    s.solver.variables = solved.iter().map(|x| x.solver.variables).max().unwrap_or(0);
    s.solver.rows = solved.iter().map(|x| x.solver.rows).max().unwrap_or(0);
    s.solver.warm_started = solved.iter().any(|x| x.solver.warm_started);
    s.solver.stage1_objective = match objective {
        Objective::GreenShare => s.totals.green_share,
        Objective::GreenEnergy => s.totals.green_mwh,
        Objective::Cost => s.totals.cost_yuan,
    };
    let mut warnings = vec![note];
    for w in all.flat_map(|x| &x.warnings) {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    s.warnings = warnings;
    Ok(s)
}

/// A failure of one solve of the run (the guide, a window) as the run's: every message
/// prefixed with `what`, each diagnosis's interval put on the whole horizon by `interval`
/// (`None` where it has no interval there).
fn relabel(e: DispatchError, what: &str, interval: impl Fn(usize) -> Option<usize>) -> DispatchError {
    match e {
        DispatchError::Infeasible(mut ds) => {
            for d in &mut ds {
                d.interval = d.interval.and_then(&interval);
                d.message = format!("{what}: {}", d.message);
            }
            DispatchError::Infeasible(ds)
        }
        DispatchError::Solver(m) => DispatchError::Solver(format!("{what}: {m}")),
        other => other,
    }
}
