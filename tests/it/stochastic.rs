//! The stochastic day-ahead: a hand-solved two-scenario day, no value without uncertainty,
//! VSS and EVPI never negative, and every scenario's schedule through the checker with the
//! first stage the same in every scenario.

use serde::Deserialize;
use vpp_dispatch::domain::stochastic::StochasticPlan;
use vpp_dispatch::domain::{Forecast, Plant};
use vpp_dispatch::model::{self, Backend, DispatchError, Options, DEFAULT_IMBALANCE_PREMIUM};
use vpp_dispatch::scenarios::{self, ErrorModel};

use crate::cases::{load, Case};
use crate::checker::{assert_valid, Asked};
use crate::{near, repo};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expected {
    pub(crate) imbalance_premium: f64,
    green_share: f64,
    stochastic_cost_yuan: f64,
    deterministic_cost_yuan: f64,
    perfect_information_cost_yuan: f64,
    position_mw: Vec<f64>,
    deterministic_position_mw: Vec<f64>,
    /// The closed loop with each scenario as the truth (tests/it/backtest.rs): realised
    /// cost of the stochastic policy, the deterministic one and perfect foresight, the
    /// deterministic policy's imbalance, the realised share.
    pub(crate) backtest: std::collections::BTreeMap<String, [f64; 5]>,
}

/// Every scenario's schedule is valid on its own forecast, and the scenarios share the
/// first stage: net import − short + long = the position, the same notices and awards.
fn assert_plan_valid(plant: &Plant, forecast: &Forecast, options: &Options, plan: &StochasticPlan) {
    let outcomes = forecast.outcomes();
    assert_eq!(plan.scenarios.len(), outcomes.len());
    let asked = Asked::of(options);
    let mut expected = (0.0, 0.0, 0.0);
    for (s, (name, p, f)) in plan.scenarios.iter().zip(&outcomes) {
        assert_eq!(&s.name, name);
        assert_valid(plant, f, &asked, &s.schedule);
        for (g, grid) in s.schedule.grids.iter().enumerate() {
            let position = &plan.first_stage.grids[g].position_mw;
            let imb = &s.imbalance[g];
            for t in 0..position.len() {
                let net = grid.import_mw[t] - grid.export_mw[t] - imb.short_mw[t] + imb.long_mw[t];
                assert!(near(net, position[t], 1e-6), "{name} {} t={t}: net {net} vs position {}", grid.name, position[t]);
            }
        }
        for (park, notice) in s.schedule.parks.iter().zip(&plan.first_stage.parks) {
            for (a, b) in park.interrupted_mw.iter().zip(&notice.interrupted_mw) {
                assert!(near(*a, *b, 1e-6), "{name} {}: interrupted {a} vs notice {b}", park.name);
            }
        }
        for (a, b) in s.schedule.bids.iter().zip(&plan.first_stage.bids) {
            assert!(near(a.accepted_mw, b.accepted_mw, 1e-6), "{name} bid {}: {} vs {}", a.id, a.accepted_mw, b.accepted_mw);
        }
        // The expectations, again from the schedules themselves.
        let imbalance: f64 =
            s.imbalance.iter().map(|i| i.short_mw.iter().chain(&i.long_mw).sum::<f64>()).sum::<f64>() * s.schedule.dt_hours;
        expected.0 += p * s.schedule.totals.green_mwh;
        expected.1 += p * s.schedule.totals.served_mwh;
        expected.2 += p * (s.schedule.totals.cost_yuan + plan.imbalance_premium_yuan_per_mwh * imbalance);
    }
    assert!(
        near(plan.stochastic.green_share, expected.0 / expected.1, 1e-7),
        "share {} vs {}",
        plan.stochastic.green_share,
        expected.0 / expected.1
    );
    assert!(near(plan.stochastic.cost_yuan, expected.2, 1e-7), "cost {} vs {}", plan.stochastic.cost_yuan, expected.2);
}

#[test]
fn the_stochastic_plan_keeps_back_the_storage_the_deterministic_plan_spends() {
    let c: Case<Expected> = load("stochastic-keep-storage");
    let e = &c.expected;
    for backend in [Backend::Highs, Backend::HighsCold, Backend::Clarabel] {
        let options = Options { backend, ..c.case.clone() };
        let plan = model::solve_stochastic(&c.plant, &c.forecast, &options, e.imbalance_premium)
            .unwrap_or_else(|err| panic!("{backend:?}: {err}"));
        let ctx = format!("{backend:?}");
        assert_plan_valid(&c.plant, &c.forecast, &options, &plan);
        for (what, got) in
            [("stochastic", &plan.stochastic), ("deterministic", &plan.deterministic), ("perfect information", &plan.perfect_information)]
        {
            assert!(near(got.green_share, e.green_share, 1e-6), "{ctx} {what}: share {}", got.green_share);
        }
        assert!(near(plan.stochastic.cost_yuan, e.stochastic_cost_yuan, 1e-6), "{ctx}: RP {}", plan.stochastic.cost_yuan);
        assert!(near(plan.deterministic.cost_yuan, e.deterministic_cost_yuan, 1e-6), "{ctx}: EEV {}", plan.deterministic.cost_yuan);
        assert!(
            near(plan.perfect_information.cost_yuan, e.perfect_information_cost_yuan, 1e-6),
            "{ctx}: WS {}",
            plan.perfect_information.cost_yuan
        );
        assert!(near(plan.vss.cost_yuan, e.deterministic_cost_yuan - e.stochastic_cost_yuan, 1e-6), "{ctx}: VSS {:?}", plan.vss);
        assert!(near(plan.evpi.cost_yuan, e.stochastic_cost_yuan - e.perfect_information_cost_yuan, 1e-6), "{ctx}: EVPI {:?}", plan.evpi);
        assert!(plan.vss.green_share.abs() < 1e-9 && plan.evpi.green_share.abs() < 1e-9, "{ctx}: {:?} {:?}", plan.vss, plan.evpi);
        let position = &plan.first_stage.grids[0].position_mw;
        for (got, want) in position.iter().zip(&e.position_mw) {
            assert!(near(*got, *want, 1e-6), "{ctx}: position {position:?}");
        }
        // The store is kept whole through hour 1 in both scenarios...
        for s in &plan.scenarios {
            let store = &s.schedule.storages[0];
            assert!(store.discharge_mw[0].abs() < 1e-6, "{ctx} {}: discharges {} in hour 1", s.name, store.discharge_mw[0]);
        }
        // ...which the deterministic plan spends.
        let det = model::solve(&c.plant, &c.forecast, &options).expect("deterministic");
        let det_position: Vec<f64> = det.grids[0].import_mw.iter().zip(&det.grids[0].export_mw).map(|(i, x)| i - x).collect();
        for (got, want) in det_position.iter().zip(&e.deterministic_position_mw) {
            assert!(near(*got, *want, 1e-6), "{ctx}: deterministic position {det_position:?}");
        }
        assert!(
            near(det.storages[0].discharge_mw[0], 5.0, 1e-6),
            "{ctx}: deterministic hour-1 discharge {}",
            det.storages[0].discharge_mw[0]
        );
    }
}

#[test]
fn without_uncertainty_the_plan_is_the_deterministic_one_and_worth_nothing_more() {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let forecast = Forecast::load(repo("fixtures/forecasts/summer-peak-60.json")).expect("forecast");
    let options = Options::default();
    let plan = model::solve_stochastic(&plant, &forecast, &options, DEFAULT_IMBALANCE_PREMIUM).expect("plan");
    assert_plan_valid(&plant, &forecast, &options, &plan);
    let det = model::solve(&plant, &forecast, &options).expect("deterministic");
    assert_eq!(plan.scenarios.len(), 1);
    for got in [&plan.stochastic, &plan.deterministic, &plan.perfect_information] {
        assert!(near(got.green_share, det.totals.green_share, 1e-7), "share {} vs {}", got.green_share, det.totals.green_share);
        assert!(near(got.cost_yuan, det.totals.cost_yuan, 1e-7), "cost {} vs {}", got.cost_yuan, det.totals.cost_yuan);
        assert!(got.imbalance_mwh.abs() < 1e-6, "imbalance {}", got.imbalance_mwh);
    }
    assert!(plan.vss.green_share.abs() < 1e-9 && plan.evpi.green_share.abs() < 1e-9, "{:?} {:?}", plan.vss, plan.evpi);
    assert!(plan.vss.cost_yuan.abs() < 1e-6 * det.totals.cost_yuan.abs().max(1.0), "VSS {:?}", plan.vss);
    assert!(plan.evpi.cost_yuan.abs() < 1e-6 * det.totals.cost_yuan.abs().max(1.0), "EVPI {:?}", plan.evpi);
}

#[test]
fn generated_scenarios_give_a_plan_worth_at_least_the_deterministic_one() {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let mut forecast = Forecast::load(repo("fixtures/forecasts/windy-winter-60.json")).expect("forecast");
    let drawn = scenarios::generate(&plant, &forecast, &ErrorModel::default(), 40, 7).expect("scenarios");
    forecast.scenarios = scenarios::reduce(&plant, &forecast, &drawn, 4);
    for objective in [model::Objective::GreenShare, model::Objective::Cost] {
        let options = Options { objective, ..Options::default() };
        let plan = model::solve_stochastic(&plant, &forecast, &options, DEFAULT_IMBALANCE_PREMIUM).expect("plan");
        assert_plan_valid(&plant, &forecast, &options, &plan);
        let tol = options.share_tolerance;
        let scale = plan.stochastic.cost_yuan.abs().max(1.0);
        match objective {
            model::Objective::Cost => {
                assert!(plan.vss.cost_yuan >= -1e-7 * scale, "cost VSS {:?}", plan.vss);
                assert!(plan.evpi.cost_yuan >= -1e-7 * scale, "cost EVPI {:?}", plan.evpi);
            }
            _ => {
                assert!(plan.vss.green_share >= -tol, "share VSS {:?}", plan.vss);
                assert!(plan.evpi.green_share >= -tol, "share EVPI {:?}", plan.evpi);
            }
        }
        // Perfect information never buys or sells in real time.
        assert!(plan.perfect_information.imbalance_mwh.abs() < 1e-9);
    }
}

#[test]
fn a_stochastic_day_ahead_names_what_it_cannot_take() {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let forecast = Forecast::load(repo("fixtures/forecasts/summer-peak-60.json")).expect("forecast");
    let bad = |premium: f64, options: Options| match model::solve_stochastic(&plant, &forecast, &options, premium) {
        Err(DispatchError::InvalidOptions(e)) => e.to_string(),
        other => panic!("expected invalid options, got {:?}", other.map(|p| p.stochastic)),
    };
    assert!(bad(f64::NAN, Options::default()).contains("imbalance_premium"));
    assert!(bad(-1.0, Options::default()).contains("imbalance_premium"));
    assert!(bad(100.0, Options { frontier_points: 3, ..Options::default() }).contains("frontier_points"));
    let mut many = forecast.clone();
    let drawn = scenarios::generate(&plant, &forecast, &ErrorModel::default(), 1000, 1).expect("scenarios");
    many.scenarios = drawn;
    let msg = match model::solve_stochastic(&plant, &many, &Options::default(), 100.0) {
        Err(DispatchError::InvalidOptions(e)) => e.to_string(),
        other => panic!("expected invalid options, got {:?}", other.map(|p| p.stochastic)),
    };
    assert!(msg.contains("scenarios") && msg.contains("--reduce"), "{msg}");
    let mut tiny = forecast.clone();
    tiny.scenarios = scenarios::generate(&plant, &forecast, &ErrorModel::default(), 2, 1).expect("scenarios");
    tiny.scenarios[0].probability = 1e-9;
    tiny.scenarios[1].probability = 1.0 - 1e-9;
    let msg = match model::solve_stochastic(&plant, &tiny, &Options::default(), 100.0) {
        Err(DispatchError::InvalidOptions(e)) => e.to_string(),
        other => panic!("expected invalid options, got {:?}", other.map(|p| p.stochastic)),
    };
    assert!(msg.contains("scenarios[s001].probability"), "{msg}");
}

#[test]
fn an_infeasible_scenario_is_named_in_the_diagnosis() {
    let mut c: Case<Expected> = load("stochastic-keep-storage");
    // The calm scenario's park needs 60 MW in hour 2: 20 from the grid and 10 from the
    // store are all there is.
    c.forecast.scenarios[1].demand_mw.insert("p".into(), vec![10.0, 60.0]);
    match model::solve_stochastic(&c.plant, &c.forecast, &c.case, c.expected.imbalance_premium) {
        Err(DispatchError::Infeasible(reasons)) => {
            assert!(!reasons.is_empty());
            assert!(reasons.iter().all(|r| r.message.starts_with("scenario calm: ") && r.subject.starts_with("calm/")), "{reasons:?}");
            assert!(reasons.iter().any(|r| r.interval == Some(1)), "{reasons:?}");
        }
        other => panic!("expected infeasible, got {:?}", other.map(|p| p.stochastic)),
    }
}
