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

/// The hand case again with each scenario split into five equal copies (ten scenarios,
/// enough for the least-cost stage to start from the least cost without the share floor
/// and reach the floor through its multiplier): the same plan, to the hand-worked figures.
#[test]
fn the_hand_case_split_into_ten_scenarios_gives_the_same_plan() {
    let c: Case<Expected> = load("stochastic-keep-storage");
    let e = &c.expected;
    let mut fc = c.forecast.clone();
    fc.scenarios = c
        .forecast
        .scenarios
        .iter()
        .flat_map(|s| {
            (0..5).map(move |k| vpp_dispatch::domain::forecast::Scenario {
                name: format!("{}-{k}", s.name),
                probability: s.probability / 5.0,
                ..s.clone()
            })
        })
        .collect();
    assert_eq!(fc.scenarios.len(), 10);
    let plan = model::solve_stochastic(&c.plant, &fc, &c.case, e.imbalance_premium).expect("ten scenarios");
    assert_plan_valid(&c.plant, &fc, &c.case, &plan);
    assert!(near(plan.stochastic.green_share, e.green_share, 1e-6), "share {}", plan.stochastic.green_share);
    for (what, got, want) in [
        ("RP", plan.stochastic.cost_yuan, e.stochastic_cost_yuan),
        ("EEV", plan.deterministic.cost_yuan, e.deterministic_cost_yuan),
        ("WS", plan.perfect_information.cost_yuan, e.perfect_information_cost_yuan),
    ] {
        assert!(near(got, want, 1e-6), "{what}: {got} vs {want}");
    }
    for (got, want) in plan.first_stage.grids[0].position_mw.iter().zip(&e.position_mw) {
        assert!(near(*got, *want, 1e-6), "position {got} vs {want}");
    }
    // Copies of one scenario are dispatched alike.
    let two = model::solve_stochastic(&c.plant, &c.forecast, &c.case, e.imbalance_premium).expect("two scenarios");
    // More LPs in each of the plan, EEV and WS: the least cost without the floor, then the
    // search for the floor's multiplier (the least cost is below the floor here).
    assert!(plan.solver.solves > two.solver.solves + 3, "ten scenarios take the least cost first, then the multiplier");
    for s in &plan.scenarios {
        let whole = two.scenarios.iter().find(|w| s.name.starts_with(&format!("{}-", w.name))).expect("its scenario");
        let diff = crate::agreement::differences(&s.schedule, &whole.schedule, 1e-6);
        assert!(diff.is_empty(), "{}: {diff:?}", s.name);
    }
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

/// A stochastic day-ahead over gRPC: the day is planned over its scenarios and committed.
/// The published schedule is the plan's first stage held on the point forecast (the same
/// plan and schedule as in process, through the checker), and a re-plan of the day on
/// another outcome holds the day-ahead's positions, settling the rest as imbalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stochastic_day_ahead_over_grpc_commits_its_day() {
    use tonic::Code;
    use vpp_dispatch::api::pb;
    use vpp_dispatch::api::pb::dispatch_service_client::DispatchServiceClient;

    use crate::service::{day_ahead, future_day, req, temp_db, Running, OPERATOR};

    let db = temp_db("stochastic");
    let server = Running::start(&db, "").await;
    let mut dispatch = DispatchServiceClient::new(server.channel().await).max_decoding_message_size(64 << 20);
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let (day, moved) = future_day(8);
    let mut fc = Forecast { start: moved.start, ..Forecast::load(repo("fixtures/forecasts/windy-winter-60.json")).expect("forecast") };
    let drawn = scenarios::generate(&plant, &fc, &ErrorModel::default(), 20, 5).expect("scenarios");
    fc.scenarios = scenarios::reduce(&plant, &fc, &drawn, 3);
    let stochastic = |premium| Some(pb::StochasticOptions { imbalance_premium_yuan_per_mwh: premium, ..Default::default() });
    let submit = |fc: &Forecast, s: Option<pb::StochasticOptions>| {
        req(Some(OPERATOR), pb::SubmitDayAheadRequest { stochastic: s, ..day_ahead(day, fc, Default::default()) })
    };

    // Refused by field, and nothing stored: no scenarios to plan over, a premium out of range.
    let point = Forecast { scenarios: Vec::new(), ..fc.clone() };
    let e = dispatch.submit_day_ahead(submit(&point, stochastic(None))).await.expect_err("no scenarios");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("forecast.scenarios"), "{}", e.message());
    for premium in [-1.0, f64::NAN, 2e5] {
        let e = dispatch.submit_day_ahead(submit(&fc, stochastic(Some(premium)))).await.expect_err("bad premium");
        assert_eq!(e.code(), Code::InvalidArgument, "{premium}: {e:?}");
        assert!(e.message().contains("stochastic.imbalance_premium_yuan_per_mwh"), "{}", e.message());
    }
    let risky = |o: pb::StochasticOptions| Some(pb::StochasticOptions { imbalance_premium_yuan_per_mwh: Some(150.0), ..o });
    for (field, o) in [
        ("stochastic.cvar_weight", pb::StochasticOptions { cvar_weight: 1.5, ..Default::default() }),
        ("stochastic.cvar_weight", pb::StochasticOptions { cvar_weight: f64::NAN, ..Default::default() }),
        ("stochastic.cvar_alpha", pb::StochasticOptions { cvar_alpha: Some(1.0), ..Default::default() }),
        ("stochastic.p10_min_share", pb::StochasticOptions { p10_min_share: Some(-0.1), ..Default::default() }),
    ] {
        let e = dispatch.submit_day_ahead(submit(&fc, risky(o))).await.expect_err("bad risk option");
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    let get = pb::GetScheduleRequest { delivery_day: day.to_string(), version: 0 };
    assert_eq!(dispatch.get_schedule(req(Some(OPERATOR), get.clone())).await.expect_err("nothing stored").code(), Code::NotFound);

    // The day-ahead, against the same plan in process.
    let premium = 150.0;
    // The CVaR's α travels: a weight of 0 leaves the plan as it is, the figures are at α.
    let alpha = 0.8;
    let asked = risky(pb::StochasticOptions { cvar_alpha: Some(alpha), ..Default::default() });
    let s = dispatch.submit_day_ahead(submit(&fc, asked)).await.expect("day-ahead").into_inner();
    let c = s.commitment.clone().expect("a stochastic day-ahead is committed");
    assert!(near(c.imbalance_premium_yuan_per_mwh, premium, 0.0));
    assert_eq!(c.intervals.len(), fc.intervals);
    let options = Options { risk: model::Risk { cvar_alpha: alpha, ..model::Risk::default() }, ..Options::default() };
    let plan = model::solve_stochastic(&plant, &fc, &options, premium).expect("in process");
    assert_plan_valid(&plant, &fc, &options, &plan);
    let v = c.valuation.clone().expect("valued");
    for (what, wire, local) in [
        ("RP", v.stochastic.as_ref(), &plan.stochastic),
        ("EEV", v.deterministic.as_ref(), &plan.deterministic),
        ("WS", v.perfect_information.as_ref(), &plan.perfect_information),
    ] {
        let wire = wire.expect(what);
        assert!(near(wire.green_share, local.green_share, 1e-7), "{what}: share {} vs {}", wire.green_share, local.green_share);
        assert!(near(wire.cost_yuan, local.cost_yuan, 1e-7), "{what}: cost {} vs {}", wire.cost_yuan, local.cost_yuan);
        assert!(near(wire.cvar_alpha, alpha, 0.0), "{what}: α {}", wire.cvar_alpha);
        assert!(near(wire.cvar_cost_yuan, local.cvar_cost_yuan, 1e-7), "{what}: CVaR {} vs {}", wire.cvar_cost_yuan, local.cvar_cost_yuan);
        assert!(wire.cvar_cost_yuan >= wire.cost_yuan - 1e-6 * wire.cost_yuan.abs(), "{what}: CVaR below the mean");
        assert!(near(wire.p10_green_share, local.p10_green_share, 1e-7), "{what}: P10 {}", wire.p10_green_share);
        assert_eq!(wire.scenarios.len(), 3, "{what}");
    }
    assert!(v.vss_green_share >= -options.share_tolerance && v.evpi_green_share >= -options.share_tolerance, "{v:?}");
    for (wire, local) in c.positions.iter().zip(&plan.first_stage.grids) {
        assert_eq!(wire.grid, local.grid);
        for (a, b) in wire.position_mw.iter().zip(&local.position_mw) {
            assert!(near(*a, *b, 1e-6), "{}: position {a} vs {b}", wire.grid);
        }
    }
    // The published schedule is the first stage held on the point forecast.
    let committed = model::commit_day_ahead(&plant, &fc, &options, premium).expect("committed in process");
    assert_valid(&plant, &point, &Asked::of(&options), &committed);
    let totals = s.totals.expect("totals");
    assert!(near(totals.green_share, committed.totals.green_share, 1e-7), "{} vs {}", totals.green_share, committed.totals.green_share);
    assert!(near(totals.cost_yuan, committed.totals.cost_yuan, 1e-7), "{} vs {}", totals.cost_yuan, committed.totals.cost_yuan);
    assert_holds(&s, &c, 0);

    // A re-plan from hour 12 on the first scenario's outcome, the rest of the day as it
    // turns out: the positions hold, the difference is imbalance.
    let (_, _, outcome) = fc.outcomes().into_iter().next().expect("an outcome");
    let rest = outcome.window(12, 12);
    let replan = pb::ReplanRequest {
        delivery_day: day.to_string(),
        from: Some(prost_types::Timestamp { seconds: rest.start.timestamp(), nanos: 0 }),
        levels: Vec::new(),
        forecast: Some(vpp_dispatch::api::forecast_to_pb(&rest)),
        options: None,
    };
    let r = dispatch.replan(req(Some(OPERATOR), replan)).await.expect("re-plan").into_inner();
    assert_eq!(r.info.as_ref().map(|i| i.version), Some(2));
    let rc = r.commitment.clone().expect("the re-plan holds the commitment");
    assert_eq!(rc.positions, c.positions, "the day's first stage is carried unchanged");
    assert_holds(&r, &rc, 12);
    // The same re-plan in process, from the stored inputs of version 2.
    let inputs = dispatch
        .get_schedule_inputs(req(Some(OPERATOR), pb::GetScheduleRequest { delivery_day: day.to_string(), version: 2 }))
        .await
        .expect("inputs")
        .into_inner();
    let fc2: Forecast = serde_json::from_str(&inputs.forecast_json).expect("stored forecast");
    let options2: Options = serde_json::from_str(&inputs.options_json).expect("stored options");
    let again =
        model::replan_committed(&plant, &fc2, &options2, committed.commitment.as_ref().expect("commitment")).expect("re-plan in process");
    assert_valid(&plant, &fc2, &Asked::of(&options2), &again);
    let rt = r.totals.expect("totals");
    assert!(near(rt.cost_yuan, again.totals.cost_yuan, 1e-7), "{} vs {}", rt.cost_yuan, again.totals.cost_yuan);
    assert!(near(rc.imbalance_mwh, again.commitment.as_ref().map_or(f64::NAN, |c| c.imbalance_mwh), 1e-6));

    // A deterministic day-ahead of a forecast with scenarios says it did not use them.
    let (other, moved) = future_day(9);
    let d = dispatch
        .submit_day_ahead(req(Some(OPERATOR), day_ahead(other, &Forecast { start: moved.start, ..fc.clone() }, Default::default())))
        .await
        .expect("deterministic")
        .into_inner();
    assert!(d.commitment.is_none());
    assert!(d.warnings.iter().any(|w| w.contains("3 scenarios were not used")), "{:?}", d.warnings);
    server.stop().await;
}

/// Each interval of a committed schedule (from interval `k` of its day): net import −
/// bought short + sold long = the day's position, and the imbalance adds up.
fn assert_holds(s: &vpp_dispatch::api::pb::Schedule, c: &vpp_dispatch::api::pb::Commitment, k: usize) {
    let mut mwh = 0.0;
    for grid in &s.grids {
        let position = &c.positions.iter().find(|p| p.grid == grid.name).expect("a position per grid").position_mw;
        let imb = c.imbalance.iter().find(|i| i.grid == grid.name).expect("an imbalance per grid");
        for t in 0..grid.import_mw.len() {
            let net = grid.import_mw[t] - grid.export_mw[t] - imb.short_mw[t] + imb.long_mw[t];
            assert!(near(net, position[k + t], 1e-6), "{} t={}: net {net} vs position {}", grid.name, k + t, position[k + t]);
            mwh += (imb.short_mw[t] + imb.long_mw[t]) * s.dt_hours;
        }
    }
    assert!(near(mwh, c.imbalance_mwh, 1e-6), "imbalance {mwh} vs {}", c.imbalance_mwh);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CvarExpected {
    imbalance_premium: f64,
    cvar_alpha: f64,
    green_share: f64,
    /// cvar_weight → [position, expected cost, CVaR, windy cost, calm cost].
    plans: std::collections::BTreeMap<String, [f64; 5]>,
}

/// The CVaR of cost, worked out by hand in `fixtures/cases/stochastic-cvar.toml`: with the
/// expected cost alone the plan buys nothing day-ahead and a calm day costs 13,000 yuan;
/// weighing the CVaR by half moves the position to 6.5 MW, where both outcomes cost 6,500.
#[test]
fn the_cvar_of_cost_buys_the_position_that_caps_the_dear_outcome() {
    let c: Case<CvarExpected> = load("stochastic-cvar");
    let e = &c.expected;
    for (weight, want) in &e.plans {
        let cvar_weight: f64 = weight.parse().expect("a weight");
        for backend in [Backend::Highs, Backend::HighsCold, Backend::Clarabel] {
            let risk = model::Risk { cvar_weight, cvar_alpha: e.cvar_alpha, p10_min_share: None };
            let options = Options { backend, risk, ..c.case.clone() };
            let ctx = format!("W = {weight}, {backend:?}");
            let plan =
                model::solve_stochastic(&c.plant, &c.forecast, &options, e.imbalance_premium).unwrap_or_else(|err| panic!("{ctx}: {err}"));
            assert_plan_valid(&c.plant, &c.forecast, &options, &plan);
            let [position, expected, cvar, windy, calm] = *want;
            let got = plan.first_stage.grids[0].position_mw[0];
            assert!(near(got, position, 1e-6), "{ctx}: position {got}");
            let rp = &plan.stochastic;
            assert!(near(rp.green_share, e.green_share, 1e-7), "{ctx}: share {}", rp.green_share);
            assert!(near(rp.cost_yuan, expected, 1e-6), "{ctx}: expected cost {}", rp.cost_yuan);
            assert!(near(rp.cvar_cost_yuan, cvar, 1e-6), "{ctx}: CVaR {}", rp.cvar_cost_yuan);
            assert!(near(rp.cvar_alpha, e.cvar_alpha, 0.0));
            for (name, cost) in [("windy", windy), ("calm", calm)] {
                let s = rp.scenarios.iter().find(|s| s.name == name).expect(name);
                assert!(near(s.cost_yuan, cost, 1e-6), "{ctx}: {name} costs {}", s.cost_yuan);
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct P10Expected {
    imbalance_premium: f64,
    p10_min_share: f64,
    /// [position, expected cost, expected share, P10 share] without and with the P10 share.
    free: [f64; 4],
    held: [f64; 4],
}

/// A P10 minimum share, worked out by hand in `fixtures/cases/stochastic-p10.toml`: held,
/// the plan gives up the cheap day-ahead position so that the likely windy day keeps its
/// wind; the same share in every scenario is infeasible, and so is a P10 share of 1, named.
#[test]
fn a_p10_share_holds_where_a_share_in_every_scenario_cannot() {
    let c: Case<P10Expected> = load("stochastic-p10");
    let e = &c.expected;
    for backend in [Backend::Highs, Backend::HighsCold, Backend::Clarabel] {
        for (m, want) in [(None, e.free), (Some(e.p10_min_share), e.held)] {
            let risk = model::Risk { p10_min_share: m, ..model::Risk::default() };
            let options = Options { backend, risk, ..c.case.clone() };
            let ctx = format!("{backend:?}, p10 {m:?}");
            let plan =
                model::solve_stochastic(&c.plant, &c.forecast, &options, e.imbalance_premium).unwrap_or_else(|err| panic!("{ctx}: {err}"));
            assert_plan_valid(&c.plant, &c.forecast, &options, &plan);
            let [position, cost, share, p10] = want;
            let got = plan.first_stage.grids[0].position_mw[0];
            assert!(near(got, position, 1e-6), "{ctx}: position {got}");
            assert!(near(plan.stochastic.cost_yuan, cost, 1e-6), "{ctx}: cost {}", plan.stochastic.cost_yuan);
            assert!(near(plan.stochastic.green_share, share, 1e-6), "{ctx}: share {}", plan.stochastic.green_share);
            assert!(near(plan.stochastic.p10_green_share, p10, 1e-6), "{ctx}: P10 share {}", plan.stochastic.p10_green_share);
        }
        let every = Options { backend, min_share: Some(e.p10_min_share), ..c.case.clone() };
        match model::solve_stochastic(&c.plant, &c.forecast, &every, e.imbalance_premium) {
            Err(DispatchError::Infeasible(reasons)) => assert!(reasons.iter().any(|r| r.message.contains("calm")), "{reasons:?}"),
            other => panic!("{backend:?}: a share in every scenario must be infeasible, got {other:?}"),
        }
        let all = Options { backend, risk: model::Risk { p10_min_share: Some(1.0), ..model::Risk::default() }, ..c.case.clone() };
        match model::solve_stochastic(&c.plant, &c.forecast, &all, e.imbalance_premium) {
            Err(DispatchError::Infeasible(reasons)) => {
                assert!(reasons.iter().any(|r| r.message.contains("risk.p10_min_share")), "{reasons:?}")
            }
            other => panic!("{backend:?}: a P10 share of 1 must be infeasible, got {other:?}"),
        }
    }
    // Risk weighs scenarios: a deterministic solve refuses it, by field.
    let risky = Options { risk: model::Risk { cvar_weight: 0.5, ..model::Risk::default() }, ..c.case.clone() };
    match model::solve(&c.plant, &c.forecast, &risky) {
        Err(DispatchError::InvalidOptions(v)) => assert!(v.to_string().contains("risk"), "{v}"),
        other => panic!("a deterministic solve must refuse risk, got {other:?}"),
    }
    let bad = Options { risk: model::Risk { cvar_weight: 1.5, cvar_alpha: 1.0, p10_min_share: Some(-0.1) }, ..c.case.clone() };
    match model::solve_stochastic(&c.plant, &c.forecast, &bad, e.imbalance_premium) {
        Err(DispatchError::InvalidOptions(v)) => {
            let text = v.to_string();
            for field in ["risk.cvar_weight", "risk.cvar_alpha", "risk.p10_min_share"] {
                assert!(text.contains(field), "{field} in {text}");
            }
        }
        other => panic!("out-of-range risk must be refused, got {other:?}"),
    }
}
