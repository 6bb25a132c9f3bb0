//! The Xinyang plant on its representative days: every schedule checks, HiGHS and
//! Clarabel agree on the objectives, and the dispatch makes physical sense.

use vpp_dispatch::domain::plant::StorageKind;
use vpp_dispatch::domain::{Forecast, Plant, Schedule};
use vpp_dispatch::model::{self, Backend, Objective, Options, StorageLevel};
use vpp_dispatch::synth::{self, DayKind};

use crate::checker::{assert_valid, Asked};
use crate::{near, repo};

const DAYS: [&str; 3] = ["summer-peak", "spring-valley", "windy-winter"];

fn plant() -> Plant {
    Plant::load(repo("models/xinyang.toml")).expect("the Xinyang plant loads")
}

fn forecast(name: &str) -> Forecast {
    Forecast::load(repo(&format!("fixtures/forecasts/{name}.json"))).expect("fixture loads")
}

fn solve(plant: &Plant, fc: &Forecast, options: &Options) -> Schedule {
    let s = model::solve(plant, fc, options).unwrap_or_else(|e| panic!("{e}"));
    let asked = Asked::of(options);
    assert_valid(plant, fc, &asked, &s);
    s
}

fn both_backends_agree(name: &str) {
    let plant = plant();
    let fc = forecast(name);
    let highs = solve(&plant, &fc, &Options::default());
    let clarabel = solve(&plant, &fc, &Options { backend: Backend::Clarabel, ..Options::default() });
    let (a, b) = (highs.solver.stage1_objective, clarabel.solver.stage1_objective);
    assert!(near(a, b, 1e-6), "{name}: stage-1 share HiGHS {a} vs Clarabel {b}");
    let (a, b) = (highs.totals.cost_yuan, clarabel.totals.cost_yuan);
    assert!(near(a, b, 1e-6), "{name}: cost HiGHS {a} vs Clarabel {b}");
    assert!(highs.totals.green_share >= highs.solver.stage1_objective - 1e-4 - 1e-9);
    // The warm-started HiGHS session against HiGHS solving every LP from scratch.
    let cold = solve(&plant, &fc, &Options { backend: Backend::HighsCold, ..Options::default() });
    let (a, b) = (highs.solver.stage1_objective, cold.solver.stage1_objective);
    assert!(near(a, b, 1e-7), "{name}: stage-1 share warm {a} vs cold {b}");
    let (a, b) = (highs.totals.cost_yuan, cold.totals.cost_yuan);
    assert!(near(a, b, 1e-7), "{name}: cost warm {a} vs cold {b}");
    assert_eq!(cold.solver.backend, "highs-cold");
}

#[test]
fn summer_peak_hourly_backends_agree() {
    both_backends_agree("summer-peak-60");
}

#[test]
fn spring_valley_hourly_backends_agree() {
    both_backends_agree("spring-valley-60");
}

#[test]
fn windy_winter_hourly_backends_agree() {
    both_backends_agree("windy-winter-60");
}

#[test]
fn summer_peak_quarter_hourly_backends_agree() {
    both_backends_agree("summer-peak-15");
}

#[test]
fn spring_valley_quarter_hourly_backends_agree() {
    both_backends_agree("spring-valley-15");
}

#[test]
fn windy_winter_quarter_hourly_backends_agree() {
    both_backends_agree("windy-winter-15");
}

/// Storage buys low and sells high at its own node's marginal price, and pumped hydro fills
/// in the tariff valley or on a renewable surplus and empties outside the valley.
#[test]
fn storage_charges_cheap_and_discharges_dear() {
    let plant = plant();
    let tz = plant.tz();
    for day in DAYS {
        let s = solve(&plant, &forecast(&format!("{day}-60")), &Options::default());
        let dt = s.dt_hours;
        for st in &s.storages {
            let node = s.nodes.iter().find(|n| n.name == st.node).expect("node");
            let (cin, cout): (f64, f64) = (st.charge_mw.iter().sum(), st.discharge_mw.iter().sum());
            if cin < 1.0 || cout < 1.0 {
                continue;
            }
            let pin: f64 = st.charge_mw.iter().zip(&node.price).map(|(c, p)| c * p).sum::<f64>() / cin;
            let pout: f64 = st.discharge_mw.iter().zip(&node.price).map(|(d, p)| d * p).sum::<f64>() / cout;
            assert!(pin <= pout + 1e-6, "{day}: {} charges at {pin:.1} yuan/MWh on average, discharges at {pout:.1}", st.name);
        }
        let grid = &plant.grids[0];
        let (mut charge, mut charge_ok, mut out, mut out_ok) = (0.0, 0.0, 0.0, 0.0);
        for t in 0..s.intervals.len() {
            let valley = grid.tariff.period_at(s.intervals[t], tz) == "valley";
            let renewables: f64 = s.renewables.iter().map(|r| r.output_mw[t]).sum();
            let served: f64 = s.parks.iter().map(|p| p.served_mw[t]).sum();
            let surplus = renewables >= served || s.green[t].share >= 1.0 - 1e-9;
            for st in s.storages.iter().filter(|st| st.kind == StorageKind::PumpedHydro) {
                charge += st.charge_mw[t] * dt;
                out += st.discharge_mw[t] * dt;
                if valley || surplus {
                    charge_ok += st.charge_mw[t] * dt;
                }
                if !valley {
                    out_ok += st.discharge_mw[t] * dt;
                }
            }
        }
        assert!(charge_ok >= 0.85 * charge, "{day}: only {charge_ok:.0} of {charge:.0} MWh pumped in the valley or on surplus");
        assert!(out_ok >= 0.85 * out, "{day}: only {out_ok:.0} of {out:.0} MWh generated outside the valley");
    }
}

/// Wind and PV are curtailed only where nothing could take the energy: the loads are
/// already fully green, or a line out of the curtailed farm's area is at its limit.
#[test]
fn curtailment_only_where_nothing_can_take_it() {
    let plant = plant();
    for day in DAYS {
        let s = solve(&plant, &forecast(&format!("{day}-60")), &Options::default());
        for t in 0..s.intervals.len() {
            for r in s.renewables.iter().filter(|r| r.curtailed_mw[t] > 1e-3) {
                let full_green = s.green[t].share >= 1.0 - 1e-6;
                let congested = s.lines.iter().any(|l| (l.from == r.node || l.to == r.node) && l.loading[t] >= 1.0 - 1e-6);
                let exports_full = s.grids.iter().zip(&plant.grids).all(|(g, p)| g.export_mw[t] >= p.export_cap_mw - 1e-6);
                assert!(
                    congested || (full_green && exports_full) || (full_green && s.green[t].exported_mwh > 0.0),
                    "{day} t={t}: {} curtails {:.1} MW while loads are {:.1} % green and its lines are free",
                    r.name,
                    r.curtailed_mw[t],
                    s.green[t].share * 100.0
                );
            }
        }
    }
}

/// The objectives rank as they should: green-share gives the highest share, cost the
/// lowest cost, and the frontier runs from one to the other, rising.
#[test]
fn objectives_and_frontier_are_consistent() {
    let plant = plant();
    let fc = forecast("summer-peak-60");
    let share = solve(&plant, &fc, &Options::default());
    let energy = solve(&plant, &fc, &Options { objective: Objective::GreenEnergy, ..Options::default() });
    let cost = solve(&plant, &fc, &Options { objective: Objective::Cost, frontier_points: 5, ..Options::default() });
    assert!(share.totals.green_share >= energy.totals.green_share - 1e-4);
    assert!(energy.totals.green_mwh >= share.totals.green_mwh * (1.0 - 1e-4) - 1e-6 || energy.totals.green_mwh >= cost.totals.green_mwh);
    assert!(share.totals.green_share >= cost.totals.green_share - 1e-9);
    let least = cost.totals.cost_yuan * (1.0 - 1e-9);
    assert!(least <= share.totals.cost_yuan && least <= energy.totals.cost_yuan, "cost mode is cheapest");
    let f = &cost.frontier;
    assert_eq!(f.len(), 5);
    assert!(near(f[0].share, cost.totals.green_share, 1e-6), "frontier starts at the cost-optimal share");
    assert!(near(f[0].cost_yuan, cost.totals.cost_yuan, 1e-6));
    assert!(near(f[4].share, share.solver.stage1_objective, 1e-6), "frontier ends at the maximum share");
    for w in f.windows(2) {
        assert!(w[1].share > w[0].share && w[1].cost_yuan >= w[0].cost_yuan - 1e-6, "frontier rises: {f:?}");
    }
    // Cost at the maximum share (tolerance 0) is at least the stage-2 cost at tolerance 1e-4.
    assert!(f[4].cost_yuan >= share.totals.cost_yuan - 1e-6);
    assert!(share.totals.green_premium_yuan_per_mwh.is_some_and(|p| p >= 0.0));
}

/// The MILP mode: no storage charges and discharges at once, the grid never imports and
/// exports at once, CAES runs at its minimum or not at all, and the LP relaxation is a bound.
#[test]
fn milp_mode_on_summer_peak() {
    let plant = plant();
    let fc = forecast("summer-peak-60");
    let lp = solve(&plant, &fc, &Options { objective: Objective::Cost, ..Options::default() });
    let milp = solve(&plant, &fc, &Options { objective: Objective::Cost, milp: true, ..Options::default() });
    assert!(milp.totals.cost_yuan >= lp.totals.cost_yuan - 1e-6 * lp.totals.cost_yuan.abs());
    for st in &milp.storages {
        for t in 0..milp.intervals.len() {
            assert!(st.charge_mw[t] < 1e-6 || st.discharge_mw[t] < 1e-6, "{} at {t}", st.name);
        }
    }
    let min_gen = plant.storage("shawo").and_then(|s| s.min_generation_mw).expect("Shawo has a minimum generation");
    for d in &milp.storages.iter().find(|s| s.kind == StorageKind::Caes).expect("caes").discharge_mw {
        assert!(*d < 1e-6 || *d >= min_gen - 1e-6, "CAES at {d} MW");
    }
    for g in &milp.grids {
        for t in 0..milp.intervals.len() {
            assert!(g.import_mw[t] < 1e-6 || g.export_mw[t] < 1e-6);
        }
    }
    assert!(milp.nodes.iter().all(|n| n.price.len() == milp.intervals.len()), "prices from the fixed LP");
    assert!(!milp.warnings.iter().any(|w| w.contains("at once")), "{:?}", milp.warnings);
}

/// A week (168 h), made by the generator, solves and checks; daily interruption caps hold
/// on every local day (the checker verifies them).
#[test]
fn a_week_hourly() {
    let plant = plant();
    let fc = synth::generate(&plant, DayKind::SpringValley, 60, 7);
    assert_eq!(fc.intervals, 168);
    let s = solve(&plant, &fc, &Options { objective: Objective::Cost, ..Options::default() });
    assert!(s.totals.green_share > 0.0 && s.totals.green_share <= 1.0);
}

/// A re-plan from given storage levels to given end targets honours both.
#[test]
fn replan_from_given_levels() {
    let plant = plant();
    let fc = forecast("spring-valley-60");
    let mut options = Options::default();
    options.initial.insert("wuyue".into(), StorageLevel { green_mwh: 2000.0, grey_mwh: 1000.0 });
    options.end_energy_mwh.insert("wuyue".into(), 4000.0);
    options.end_energy_mwh.insert("shawo".into(), 900.0);
    let s = solve(&plant, &fc, &options);
    let wuyue = s.storages.iter().find(|st| st.name == "wuyue").expect("wuyue");
    assert_eq!(wuyue.energy_green_mwh[0], 2000.0);
    let end = wuyue.energy_green_mwh.last().unwrap() + wuyue.energy_grey_mwh.last().unwrap();
    assert!(end >= 4000.0 - 1e-6, "ends at {end}");
    // Green fraction 2/3 at the start must be kept at the end.
    assert!(*wuyue.energy_green_mwh.last().unwrap() >= 4000.0 * 2.0 / 3.0 - 1e-6);
}

/// Bids cleared with the Xinyang day: awards are within their limits, and a bid's status
/// agrees with its price against the clearing price in a cost-only solve.
#[test]
fn bids_on_the_xinyang_day() {
    let plant = plant();
    let mut fc = forecast("summer-peak-60");
    let h = fc.horizon(plant.tz());
    let bid = |id: &str, t: usize, side: &str, q: f64, price: f64, green: bool| {
        serde_json::from_value(serde_json::json!({
            "id": id, "bot": "bot-1", "node": "shihe", "interval_start": h.instant(t),
            "side": side, "quantity_mw": q, "price": price, "green": green
        }))
        .expect("bid")
    };
    fc.bids = vec![
        bid("cheap-sell", 19, "sell", 50.0, 100.0, false),
        bid("dear-sell", 3, "sell", 50.0, 5000.0, false),
        bid("green-sell", 12, "sell", 40.0, 700.0, true),
        bid("night-buy", 2, "buy", 30.0, 1.0, false),
        bid("peak-curtail", 20, "curtail", 20.0, 50.0, false),
    ];
    let s = solve(&plant, &fc, &Options { objective: Objective::Cost, ..Options::default() });
    for a in &s.bids {
        let better = match a.side {
            vpp_dispatch::domain::BidSide::Buy => a.price > a.clearing_price + 1e-6,
            _ => a.price < a.clearing_price - 1e-6,
        };
        let worse = match a.side {
            vpp_dispatch::domain::BidSide::Buy => a.price < a.clearing_price - 1e-6,
            _ => a.price > a.clearing_price + 1e-6,
        };
        if better {
            assert!(near(a.accepted_mw, a.quantity_mw, 1e-6), "{} is in the money but got {}", a.id, a.accepted_mw);
        }
        if worse {
            assert!(a.accepted_mw < 1e-6, "{} is out of the money but got {}", a.id, a.accepted_mw);
        }
        let settlement = a.accepted_mw * a.clearing_price * s.dt_hours;
        assert!(near(a.settlement_yuan, settlement, 1e-9), "{}: settlement {} want {settlement}", a.id, a.settlement_yuan);
    }
    let find = |id: &str| s.bids.iter().find(|b| b.id == id).expect("bid");
    assert!(find("cheap-sell").accepted_mw > 49.0);
    assert!(find("dear-sell").accepted_mw < 1e-6);
    assert!(find("peak-curtail").accepted_mw > 19.0);
}
