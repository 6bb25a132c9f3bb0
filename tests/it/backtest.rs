//! The closed-loop backtest: the hand case lived with each scenario as the truth (worked
//! out in its file), generated days whose realised schedules pass the checker and never
//! beat perfect foresight, the same report on every run, and refusals by field.

use vpp_dispatch::backtest::{self, BacktestError, Policy, Report, Spec, PERFECT_FORESIGHT};
use vpp_dispatch::domain::{Bid, BidSide, Forecast, Plant};
use vpp_dispatch::model::{Backend, Options};
use vpp_dispatch::synth::{self, DayKind};

use crate::cases::{load, Case};
use crate::checker::{assert_valid, Asked};
use crate::near;
use crate::stochastic::Expected;

fn quiet(_: &str, _: &backtest::Day) {}

fn xinyang() -> Plant {
    Plant::load(crate::repo("models/xinyang.toml")).expect("the Xinyang plant loads")
}

/// Every realised day passes the checker on its truth, from the levels the day before
/// closed at, to the day's end targets. A day lived by re-plans ends with the green share
/// its last re-plan started with (each re-plan's own rule), not the day's first.
fn assert_days_valid(plant: &Plant, report: &Report, truth_of: &dyn Fn(usize) -> Forecast, options: &Options) {
    for outcome in &report.outcomes {
        let mut initial = Asked::of(options).initial;
        for (n, day) in outcome.days.iter().enumerate() {
            let s = day.schedule.as_deref().unwrap_or_else(|| panic!("{} {}: no schedule kept", outcome.policy, day.day));
            let mut asked = Asked { initial, ..Asked::of(options) };
            let t_len = s.intervals.len();
            for st in s.storages.iter().filter(|_| outcome.policy != PERFECT_FORESIGHT && t_len > 1) {
                let (g0, k0) = asked.initial.get(&st.name).copied().unwrap_or_else(|| {
                    let p = plant.storage(&st.name).expect("storage");
                    (p.e0_mwh * p.initial_green_fraction, p.e0_mwh * (1.0 - p.initial_green_fraction))
                });
                let target = asked.end_energy.get(&st.name).copied().unwrap_or(g0 + k0);
                let (g, k) = (st.energy_green_mwh[t_len - 1], st.energy_grey_mwh[t_len - 1]);
                let frac = if g + k > 0.0 { g / (g + k) } else { 0.0 };
                asked.end_green.insert(st.name.clone(), frac * target);
            }
            assert_valid(plant, &truth_of(n), &asked, s);
            assert!(near(day.figures.green_share, s.totals.green_share, 1e-12));
            assert!(day.figures.imbalance_mwh >= 0.0);
            initial = s
                .storages
                .iter()
                .map(|st| {
                    (
                        st.name.clone(),
                        (st.energy_green_mwh.last().copied().unwrap_or(0.0), st.energy_grey_mwh.last().copied().unwrap_or(0.0)),
                    )
                })
                .collect();
        }
    }
}

#[test]
fn the_closed_loop_lives_the_hand_case_as_worked_out_on_paper() {
    let c: Case<Expected> = load("stochastic-keep-storage");
    let e = &c.expected;
    assert_eq!(e.backtest.len(), 2, "both scenarios have their worked-out day");
    for backend in [Backend::Highs, Backend::HighsCold, Backend::Clarabel] {
        for (truth_name, [stochastic, deterministic, perfect, imbalance, share]) in &e.backtest {
            let truth = c.forecast.outcomes().into_iter().find(|(n, _, _)| n == truth_name).expect("the scenario").2;
            let options = Options { backend, ..c.case.clone() };
            let spec = Spec {
                policies: Policy::ALL.to_vec(),
                options: options.clone(),
                premium: e.imbalance_premium,
                truth: Some(truth.clone()),
                keep_schedules: true,
                ..Spec::default()
            };
            let report =
                backtest::run(&c.plant, &c.forecast, &spec, &quiet).unwrap_or_else(|err| panic!("{backend:?} {truth_name}: {err}"));
            let ctx = format!("{backend:?}, truth {truth_name}");
            let got = |p: &str| report.outcome(p).unwrap_or_else(|| panic!("{ctx}: no {p}")).total;
            let (s, d, b) = (got("stochastic"), got("deterministic"), got(PERFECT_FORESIGHT));
            assert!(near(s.cost_yuan, *stochastic, 1e-6), "{ctx}: stochastic cost {} want {stochastic}", s.cost_yuan);
            assert!(near(d.cost_yuan, *deterministic, 1e-6), "{ctx}: deterministic cost {} want {deterministic}", d.cost_yuan);
            assert!(near(b.cost_yuan, *perfect, 1e-6), "{ctx}: perfect foresight cost {} want {perfect}", b.cost_yuan);
            assert!(near(d.imbalance_mwh, *imbalance, 1e-6), "{ctx}: deterministic imbalance {} want {imbalance}", d.imbalance_mwh);
            assert!(near(s.imbalance_mwh, 0.0, 1e-6) && near(b.imbalance_mwh, 0.0, 1e-12), "{ctx}: {s:?} {b:?}");
            for f in [s, d, b] {
                assert!(near(f.green_share, *share, 1e-6), "{ctx}: share {} want {share}", f.green_share);
            }
            // One day of two intervals: a day-ahead and two re-plans per policy, one bound solve.
            assert_eq!(report.solves, 3 + 3 + 1, "{ctx}");
            assert_days_valid(&c.plant, &report, &|_| truth.clone(), &options);
        }
    }
}

#[test]
fn generated_days_pass_the_checker_never_beat_perfect_foresight_and_repeat_exactly() {
    let plant = xinyang();
    let point = synth::generate(&plant, DayKind::WindyWinter, 60, 2);
    let spec = Spec { scenarios: 8, reduce: 2, keep_schedules: true, ..Spec::default() };
    let report = backtest::run(&plant, &point, &spec, &quiet).expect("the backtest runs");
    let names: Vec<&str> = report.outcomes.iter().map(|o| o.policy.as_str()).collect();
    assert_eq!(names, ["deterministic", "stochastic", PERFECT_FORESIGHT]);
    assert_eq!(report.solves, 2 * (2 * 25) + 2, "two days: a day-ahead and 24 re-plans per policy, one bound solve a day");

    // The truth is what the bound planned on: its day is valid on it, and so are the
    // realised days of the policies.
    let truths: Vec<Forecast> =
        report.outcome(PERFECT_FORESIGHT).expect("bound").days.iter().map(|d| truth_of(&plant, &point, d)).collect();
    assert_days_valid(&plant, &report, &|n| truths[n].clone(), &Options::default());

    // Day 1 starts every policy from the same levels, and a realised day is a dispatch of
    // the truth: nothing that learns the truth as it goes has a higher share.
    let bound = report.outcome(PERFECT_FORESIGHT).expect("bound").days[0].figures;
    for p in ["deterministic", "stochastic"] {
        let day = report.outcome(p).expect("policy").days[0].figures;
        assert!(day.green_share <= bound.green_share + 2e-4, "{p}: {} above the bound {}", day.green_share, bound.green_share);
        assert!(day.imbalance_mwh > 0.0, "{p}: a drawn truth off the forecast leaves some imbalance");
    }
    // The forecast was wrong: the deterministic plan met some imbalance, and the stitched
    // days add up to the run's total.
    let det = report.outcome("deterministic").expect("policy");
    let sum: f64 = det.days.iter().map(|d| d.figures.green_mwh).sum();
    assert!(near(det.total.green_mwh, sum, 1e-9));

    // Again: the same report, figure for figure (threads change nothing).
    let again = backtest::run(&plant, &point, &spec, &quiet).expect("the backtest runs again");
    for (a, b) in report.outcomes.iter().zip(&again.outcomes) {
        for (x, y) in a.days.iter().zip(&b.days) {
            assert_eq!(x.figures, y.figures, "{} {}", a.policy, x.day);
        }
    }
}

/// The truth of a bound's day: the forecast its schedule was planned on (availability and
/// demand as they turned out), rebuilt from the schedule itself.
fn truth_of(plant: &Plant, point: &Forecast, day: &backtest::Day) -> Forecast {
    let s = day.schedule.as_deref().expect("kept");
    let h = point.horizon(plant.tz());
    let from = h.index_of(s.intervals[0]).expect("the day is in the forecast");
    let mut f = point.window(from, s.intervals.len());
    for r in &s.renewables {
        let cap = plant
            .wind
            .iter()
            .map(|w| (&w.name, w.capacity_mw))
            .chain(plant.pv.iter().map(|p| (&p.name, p.capacity_mw)))
            .find(|(n, _)| **n == r.name)
            .map(|(_, c)| c)
            .expect("asset");
        f.availability.insert(r.name.clone(), r.available_mw.iter().map(|a| a / cap).collect());
    }
    for p in &s.parks {
        f.demand_mw.insert(p.name.clone(), p.demand_mw.clone());
    }
    f
}

#[test]
fn a_backtest_refuses_what_it_cannot_run_by_field() {
    let plant = xinyang();
    let point = synth::generate(&plant, DayKind::SpringValley, 60, 1);
    let refused = |f: &Forecast, spec: &Spec, field: &str| match backtest::run(&plant, f, spec, &quiet) {
        Err(BacktestError::Invalid(e)) => assert!(e.problems.iter().any(|p| p.field == field), "{field} not named in: {e}"),
        other => panic!("{field}: expected a refusal, got {:?}", other.map(|r| r.solves)),
    };
    refused(&point, &Spec { reduce: 30, ..Spec::default() }, "reduce");
    refused(&point, &Spec { scenarios: 0, ..Spec::default() }, "scenarios");
    refused(&point, &Spec { policies: Vec::new(), ..Spec::default() }, "policies");
    refused(&point, &Spec { premium: f64::NAN, ..Spec::default() }, "imbalance_premium");
    refused(&point, &Spec { options: Options { frontier_points: 3, ..Options::default() }, ..Spec::default() }, "frontier_points");
    let other = synth::generate(&plant, DayKind::SpringValley, 30, 1);
    refused(&point, &Spec { truth: Some(other), ..Spec::default() }, "truth");
    let with_bid = Forecast {
        bids: vec![Bid {
            id: "b1".into(),
            bot: "bot".into(),
            node: plant.parks[0].node.clone(),
            park: None,
            interval_start: point.start,
            side: BidSide::Buy,
            green: false,
            quantity_mw: 1.0,
            price: 300.0,
            firm: false,
            award_price: None,
        }],
        ..point.clone()
    };
    refused(&with_bid, &Spec::default(), "forecast.bids");
}
