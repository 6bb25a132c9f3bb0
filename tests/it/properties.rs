//! Issue 12: property tests. Any plant that validates builds an LP that HiGHS settles —
//! optimal or infeasible (with a diagnosis), never a solver failure or a panic — whatever
//! numbers it holds: plausible ones, zeros, the edges of the accepted ranges and the
//! absurd values an attacker sends (1e308, 1e-308, negative, huge reactances).

use proptest::prelude::*;
use vpp_dispatch::domain::{Forecast, Plant};
use vpp_dispatch::model::{self, DispatchError, Options};

/// A number from the mix an attacker and a careless file would send.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        30 => 0.1f64..2000.0,
        1 => Just(0.0),
        1 => Just(1e-308),
        1 => Just(1e-4),
        1 => Just(100_000.0),
        1 => Just(100_001.0),
        1 => Just(1e308),
        1 => Just(-5.0),
        1 => Just(0.9),
    ]
}

fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![20 => 0.0f64..=1.0, 1 => Just(1.5), 1 => Just(1e-308), 1 => Just(-0.1)]
}

/// The reactance of the line, if any.
fn reactance() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![Just(None), Just(Some(1e-308)), Just(Some(1e-4)), Just(Some(0.01)), Just(Some(1e6))]
}

/// A two-node plant file with one of every asset, its numbers drawn from `n` (powers,
/// energies, prices) and `f` (fractions).
fn plant_text(n: &[f64], f: &[f64], reactance: Option<f64>, alpha: Option<f64>, thermal: bool) -> String {
    let mut t = format!(
        r#"
name = "prop"
[[node]]
name = "a"
kind = "park"
[[node]]
name = "b"
kind = "plant_site"
[[line]]
name = "ab"
from = "a"
to = "b"
capacity_mw = {line:e}
{reactance}
[[wind]]
name = "w"
node = "b"
capacity_mw = {wind:e}
[[pv]]
name = "s"
node = "a"
capacity_mw = {pv:e}
[[storage]]
name = "ph"
kind = "pumped_hydro"
node = "b"
charge_mw = {pump:e}
discharge_mw = {turbine:e}
e_min_mwh = 0
e_max_mwh = {e_max:e}
e0_mwh = {e0:e}
eta_charge = {eta:e}
eta_discharge = 0.9
[[park]]
name = "p"
node = "a"
interruptible_mw = {interruptible:e}
compensation_yuan_per_mwh = {compensation:e}
{alpha}
[[grid]]
name = "g"
node = "b"
import_cap_mw = {import:e}
export_cap_mw = {export:e}
export_price = {export_price:e}
carbon_intensity = 0.5
tariff = {{ prices = {{ flat = {price:e} }}, default_period = "flat" }}
"#,
        line = n[0],
        wind = n[1],
        pv = n[2],
        pump = n[3],
        turbine = n[4],
        e_max = n[5],
        e0 = f[0] * n[5],
        eta = f[1],
        interruptible = n[6],
        compensation = n[7],
        import = n[8],
        export = n[9],
        export_price = n[10],
        price = n[11],
        reactance = reactance.map_or(String::new(), |x| format!("reactance_pu = {x:e}")),
        alpha = alpha.map_or(String::new(), |a| format!("min_green_share = {a:e}")),
    );
    if thermal {
        t.push_str(&format!(
            "[[thermal]]\nname = \"coal\"\nnode = \"b\"\np_min_mw = {:e}\np_max_mw = {:e}\nmarginal_cost = {:e}\ncarbon_intensity = 0.9\n",
            n[12].min(n[13]),
            n[13],
            n[14]
        ));
    }
    t
}

fn day(plant: &Plant, demand: f64, avail: f64) -> Forecast {
    Forecast {
        description: String::new(),
        start: chrono::DateTime::from_timestamp(1_784_044_800, 0).expect("instant"),
        interval_minutes: 60,
        intervals: 6,
        availability: plant.wind.iter().chain(&plant.pv).map(|r| (r.name.clone(), vec![avail; 6])).collect(),
        demand_mw: plant.parks.iter().map(|p| (p.name.clone(), vec![demand; 6])).collect(),
        inflow_mwh: Default::default(),
        interruptible_mw: Default::default(),
        import_price: Default::default(),
        bids: Vec::new(),
        scenarios: Vec::new(),
        quantiles: None,
    }
}

#[test]
fn issue12_a_plant_that_validates_builds_an_lp_highs_settles() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let solved = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
    // A fixed seed: the same cases on every run, so the counts below cannot flake.
    let rng = proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha);
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(config, rng);
    let inputs = (
        proptest::collection::vec(number(), 16),
        proptest::collection::vec(fraction(), 3),
        reactance(),
        proptest::option::of(fraction()),
        any::<bool>(),
    );
    let outcome = runner.run(&inputs, |(n, f, x, alpha, thermal)| {
        let text = plant_text(&n, &f, x, alpha, thermal);
        let plant = Plant::from_toml(&text).map_err(|e| TestCaseError::fail(format!("the generated file parses: {e}")))?;
        let fc = day(&plant, n[15], f[2]);
        if plant.validate().is_err() || fc.validate(&plant).is_err() {
            refused.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        solved.fetch_add(1, Ordering::Relaxed);
        match model::solve(&plant, &fc, &Options::default()) {
            Ok(s) => {
                prop_assert!(s.totals.green_share.is_finite() && s.totals.cost_yuan.is_finite(), "{:?}", s.totals);
                prop_assert!(s.totals.curtailed_mwh.is_finite());
            }
            Err(DispatchError::Infeasible(d)) => prop_assert!(!d.is_empty()),
            Err(other) => prop_assert!(false, "a valid plant reached the solver and failed: {other}\n{text}"),
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (solved, refused) = (solved.into_inner(), refused.into_inner());
    // The mix must exercise both sides: plants that validate and reach HiGHS, and plants
    // the ranges refuse.
    assert!(solved >= 20 && refused >= 10, "solved {solved}, refused {refused}");
}
