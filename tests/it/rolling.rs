//! Long horizons in windows (`model::solve_rolling`): the stitched schedule checks across
//! every midnight, its cost is an optimum's where the guide is the whole horizon's LP, and
//! bounds the whole LP's optimum from above where the guide is coarser.

use vpp_dispatch::domain::{Bid, BidSide, Forecast, Plant, Schedule};
use vpp_dispatch::model::{self, DispatchError, Objective, Options, Rolling};
use vpp_dispatch::synth::{self, DayKind};

use crate::checker::{assert_valid, Asked};
use crate::{near, repo};

fn plant() -> Plant {
    Plant::load(repo("models/xinyang.toml")).expect("the Xinyang plant loads")
}

/// What the checker asks of a stitched schedule: the horizon's start levels and end
/// targets, and at the end the green fraction the last window started with.
fn asked(plant: &Plant, options: &Options, s: &Schedule, last_window_start: usize) -> Asked {
    let mut asked = Asked::of(options);
    for (name, target) in options.end_targets(plant) {
        let st = s.storages.iter().find(|st| st.name == name).expect("every storage in the schedule");
        let (g, k) = (st.energy_green_mwh[last_window_start], st.energy_grey_mwh[last_window_start]);
        let frac = if g + k > 0.0 { g / (g + k) } else { 0.0 };
        asked.end_green.insert(name, frac * target);
    }
    asked
}

fn rolled(plant: &Plant, fc: &Forecast, options: &Options, rolling: Rolling) -> Schedule {
    model::solve_rolling(plant, fc, options, rolling).unwrap_or_else(|e| panic!("{e}"))
}

/// Guided by the whole horizon's own LP (an optimum's midnight levels), three daily
/// windows in cost mode add up to that optimum's cost: fixing the levels at midnight to an
/// optimum's leaves each day's optimum the optimum's own day. Every series checks across
/// the midnights, and a bid on day 2 is awarded on its interval of the whole horizon.
#[test]
fn daily_windows_guided_by_the_whole_lp_reach_its_optimum() {
    let plant = plant();
    let mut fc = synth::generate(&plant, DayKind::SpringValley, 60, 3);
    let at = fc.horizon(plant.tz()).instant(24 + 19);
    fc.bids.push(Bid {
        id: "evening-sell".into(),
        bot: "bot-a".into(),
        node: "shihe".into(),
        interval_start: at,
        side: BidSide::Sell,
        quantity_mw: 40.0,
        price: 300.0,
        green: false,
        park: None,
        firm: false,
        award_price: None,
    });
    let options = Options { objective: Objective::Cost, ..Options::default() };
    let whole = model::solve(&plant, &fc, &options).unwrap_or_else(|e| panic!("{e}"));
    let s = rolled(&plant, &fc, &options, Rolling { window_days: 1, guide_minutes: 60 });
    assert_valid(&plant, &fc, &asked(&plant, &options, &s, 48), &s);
    assert_eq!(s.intervals.len(), 72);
    assert!(
        near(s.totals.cost_yuan, whole.totals.cost_yuan, 1e-7),
        "windows {} yuan, whole LP {} yuan",
        s.totals.cost_yuan,
        whole.totals.cost_yuan
    );
    assert_eq!(s.solver.stage1_objective, s.totals.cost_yuan);
    assert_eq!(s.bids.len(), 1);
    assert_eq!((s.bids[0].interval, s.bids[0].interval_start), (43, Some(at)));
    assert!(s.bids[0].accepted_mw > 0.0, "a 300-yuan sell bid at the evening peak is taken: {:?}", s.bids[0]);
    assert!(s.warnings.iter().any(|w| w.contains("3 windows of 1 day(s)")), "{:?}", s.warnings);
    // The guide and the three windows, every LP of each.
    assert!(s.solver.solves >= 4 * 2, "{} LPs", s.solver.solves);
}

/// Quarter hours guided by an hourly plan: a feasible schedule of the whole horizon, so no
/// cheaper than the whole 15-minute LP's optimum, and (the levels at midnight being nearly
/// right) within a few per mille of it. Both share objectives check as well.
#[test]
fn quarter_hours_guided_hourly_check_and_bound_the_optimum_from_above() {
    let plant = plant();
    let fc = synth::generate(&plant, DayKind::WindyWinter, 15, 2);
    let cost = Options { objective: Objective::Cost, ..Options::default() };
    let whole = model::solve(&plant, &fc, &cost).unwrap_or_else(|e| panic!("{e}"));
    let s = rolled(&plant, &fc, &cost, Rolling::default());
    assert_valid(&plant, &fc, &asked(&plant, &cost, &s, 96), &s);
    let (got, best) = (s.totals.cost_yuan, whole.totals.cost_yuan);
    assert!(got >= best - 1e-6 * best.abs(), "windows {got} below the whole LP's optimum {best}");
    assert!(got <= best + 5e-3 * best.abs(), "windows {got} far above the whole LP's optimum {best}");
    for objective in [Objective::GreenShare, Objective::GreenEnergy] {
        let options = Options { objective, ..Options::default() };
        let s = rolled(&plant, &fc, &options, Rolling::default());
        assert_valid(&plant, &fc, &asked(&plant, &options, &s, 96), &s);
        let whole = model::solve(&plant, &fc, &options).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.totals.green_share <= whole.totals.green_share + 1e-9,
            "{}: windows {} above the whole LP's maximum {}",
            objective.name(),
            s.totals.green_share,
            whole.totals.green_share
        );
    }
}

/// One window's horizon is solved as `model::solve` solves it.
#[test]
fn a_horizon_of_one_window_is_the_plain_solve() {
    let plant = plant();
    let fc = synth::generate(&plant, DayKind::SummerPeak, 60, 2);
    let options = Options::default();
    let plain = model::solve(&plant, &fc, &options).unwrap_or_else(|e| panic!("{e}"));
    let s = rolled(&plant, &fc, &options, Rolling { window_days: 2, guide_minutes: 60 });
    assert_eq!(s.totals, plain.totals);
    assert!(!s.warnings.iter().any(|w| w.contains("windows")), "{:?}", s.warnings);
}

/// A split that cannot be made is refused by field, before any solve.
#[test]
fn bad_splits_are_refused_by_field() {
    let plant = plant();
    let fc = synth::generate(&plant, DayKind::SummerPeak, 15, 2);
    let options = Options::default();
    for (rolling, field) in [
        (Rolling { window_days: 0, guide_minutes: 60 }, "rolling.window_days"),
        (Rolling { window_days: model::MAX_WINDOW_DAYS + 1, guide_minutes: 60 }, "rolling.window_days"),
        (Rolling { window_days: 1, guide_minutes: 50 }, "rolling.guide_minutes"),
        (Rolling { window_days: 1, guide_minutes: 7 * 60 }, "rolling.guide_minutes"),
    ] {
        match model::solve_rolling(&plant, &fc, &options, rolling) {
            Err(DispatchError::InvalidOptions(e)) => assert!(e.to_string().contains(field), "{rolling:?}: {e}"),
            other => panic!("{rolling:?}: expected invalid options naming {field}, got {:?}", other.map(|s| s.totals)),
        }
    }
    let frontier = Options { frontier_points: 3, ..Options::default() };
    match model::solve_rolling(&plant, &fc, &frontier, Rolling::default()) {
        Err(DispatchError::InvalidOptions(e)) => assert!(e.to_string().contains("frontier_points"), "{e}"),
        other => panic!("expected invalid options naming frontier_points, got {:?}", other.map(|s| s.totals)),
    }
}

/// A horizon no dispatch can serve is explained as in a plain solve, the guide named: it
/// fails first, on its coarse grid, before any window is solved.
#[test]
fn an_infeasible_horizon_is_explained_by_the_guide() {
    let plant = plant();
    let mut fc = synth::generate(&plant, DayKind::SummerPeak, 15, 2);
    let t = 96 + 4 * 19;
    for k in t..t + 4 {
        fc.demand_mw.get_mut("shihe_park").expect("shihe_park has demand")[k] = 4_000.0;
    }
    match model::solve_rolling(&plant, &fc, &Options::default(), Rolling::default()) {
        Err(DispatchError::Infeasible(ds)) => {
            assert!(!ds.is_empty());
            assert!(ds.iter().all(|d| d.message.starts_with("the 60-minute guide: ")), "{ds:?}");
            assert!(ds.iter().any(|d| d.subject.contains("shihe")), "{ds:?}");
        }
        other => panic!("expected an infeasible guide, got {:?}", other.map(|s| s.totals)),
    }
}
