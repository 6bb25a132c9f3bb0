//! Every class of bad input gets an error that names the field (or, for an infeasible
//! request, the constraint family, the asset and the interval) and the problem.

use vpp_dispatch::domain::{Forecast, Plant};
use vpp_dispatch::model::{self, Backend, DispatchError, Objective, Options, StorageLevel};

use crate::repo;

const PLANT: &str = r#"
name = "tiny"
node = [{ name = "hub", kind = "park" }, { name = "site", kind = "plant_site" }]
line = [{ name = "l1", from = "site", to = "hub", capacity_mw = 500, reactance_pu = 0.05 }]
wind = [{ name = "w", node = "site", capacity_mw = 100 }]
park = [{ name = "p", node = "hub", interruptible_mw = 10, daily_interruptible_mwh = 20, min_green_share = 0.0 }]

[[storage]]
name = "ph"
kind = "pumped_hydro"
node = "site"
charge_mw = 50
discharge_mw = 50
e_min_mwh = 10
e_max_mwh = 200
e0_mwh = 100
eta_charge = 0.9
eta_discharge = 0.9

[[grid]]
name = "grid"
node = "hub"
import_cap_mw = 1000
export_cap_mw = 0
export_price = 0
carbon_intensity = 0.5
tariff = { prices = { flat = 300, peak = 500 }, default_period = "flat", rule = [{ period = "peak", hours = [16, 24] }] }
"#;

const FORECAST: &str = r#"{
  "start": "2026-07-14T16:00:00Z", "interval_minutes": 60, "intervals": 3,
  "availability": { "w": [0.5, 0.2, 0.9] },
  "demand_mw": { "p": [80, 90, 100] }
}"#;

fn plant_with(find: &str, replace: &str) -> String {
    assert!(PLANT.contains(find), "test plant has no {find:?}");
    PLANT.replacen(find, replace, 1)
}

/// The validation problems of a plant text, as "field: message" lines.
fn plant_problems(text: &str) -> String {
    let plant = Plant::from_toml(text).expect("parses");
    plant.validate().expect_err("must be invalid").to_string()
}

fn plant() -> Plant {
    let p = Plant::from_toml(PLANT).expect("parses");
    p.validate().expect("the base plant is valid");
    p
}

fn forecast() -> Forecast {
    serde_json::from_str(FORECAST).expect("forecast parses")
}

fn forecast_problems(edit: impl FnOnce(&mut Forecast)) -> String {
    let mut fc = forecast();
    edit(&mut fc);
    match model::solve(&plant(), &fc, &Options::default()) {
        Err(DispatchError::InvalidForecast(e)) => e.to_string(),
        other => panic!("expected an invalid forecast, got {other:?}"),
    }
}

fn infeasible(plant: &Plant, fc: &Forecast, options: &Options) -> Vec<vpp_dispatch::model::Diagnosis> {
    match model::solve(plant, fc, options) {
        Err(DispatchError::Infeasible(d)) => d,
        other => panic!("expected infeasible, got {other:?}"),
    }
}

#[test]
fn the_base_case_solves() {
    model::solve(&plant(), &forecast(), &Options::default()).expect("solves");
}

#[test]
fn negative_capacity() {
    let e = plant_problems(&plant_with("capacity_mw = 100", "capacity_mw = -100"));
    assert!(e.contains("wind[w].capacity_mw: must not be negative, got -100"), "{e}");
}

#[test]
fn e_min_above_e_max() {
    let e = plant_problems(&plant_with("e_min_mwh = 10", "e_min_mwh = 300"));
    assert!(e.contains("storage[ph].e_min_mwh: must not exceed e_max_mwh (300 > 200)"), "{e}");
}

#[test]
fn e0_outside_the_reservoir() {
    let e = plant_problems(&plant_with("e0_mwh = 100", "e0_mwh = 250"));
    assert!(e.contains("storage[ph].e0_mwh: must lie in [e_min_mwh, e_max_mwh]"), "{e}");
}

#[test]
fn line_to_unknown_node() {
    let e = plant_problems(&plant_with(r#"to = "hub""#, r#"to = "nowhere""#));
    assert!(e.contains("line[l1].to: unknown node 'nowhere'"), "{e}");
}

#[test]
fn asset_on_unknown_node() {
    let e = plant_problems(&plant_with(r#"wind = [{ name = "w", node = "site""#, r#"wind = [{ name = "w", node = "moon""#));
    assert!(e.contains("wind[w].node: unknown node 'moon'"), "{e}");
}

#[test]
fn efficiency_outside_unit_interval() {
    let e = plant_problems(&plant_with("eta_charge = 0.9", "eta_charge = 1.2"));
    assert!(e.contains("storage[ph].eta_charge: an efficiency must lie in (0, 1], got 1.2"), "{e}");
    let e = plant_problems(&plant_with("eta_discharge = 0.9", "eta_discharge = 0"));
    assert!(e.contains("storage[ph].eta_discharge: an efficiency must lie in (0, 1], got 0"), "{e}");
}

#[test]
fn not_a_number() {
    let e = plant_problems(&plant_with("import_cap_mw = 1000", "import_cap_mw = nan"));
    assert!(e.contains("grid[grid].import_cap_mw: must be a finite number, got NaN"), "{e}");
}

#[test]
fn duplicate_names() {
    let e = plant_problems(&plant_with(r#"name = "ph""#, r#"name = "w""#));
    assert!(e.contains("storage[w].name: name already used by wind[w]"), "{e}");
}

#[test]
fn tariff_rule_with_unknown_period() {
    let e = plant_problems(&plant_with(r#"rule = [{ period = "peak""#, r#"rule = [{ period = "critical""#));
    assert!(e.contains("grid[grid].tariff.rule[0].period: period 'critical' has no price in prices"), "{e}");
}

#[test]
fn several_problems_are_all_reported() {
    let text = plant_with("capacity_mw = 100", "capacity_mw = -1").replace("eta_charge = 0.9", "eta_charge = 2");
    let plant = Plant::from_toml(&text).unwrap();
    let errors = plant.validate().unwrap_err();
    assert_eq!(errors.problems.len(), 2, "{errors}");
}

#[test]
fn unknown_field_and_syntax_errors_name_the_key() {
    let e = Plant::from_toml(&plant_with("charge_mw = 50", "charge_mw = 50\nchargee_mw = 3")).unwrap_err();
    assert!(e.contains("chargee_mw"), "{e}");
    let e = Plant::from_toml(&plant_with("charge_mw = 50", "charge_mw = = 50")).unwrap_err();
    assert!(e.contains("line"), "{e}");
}

/// Issue 13: a plant file written before storage became one list is refused with the way
/// to rewrite it, not just "unknown field".
#[test]
fn issue13_legacy_storage_tables_say_how_to_rewrite_them() {
    let legacy = PLANT.replace("[[storage]]", "[[pumped_hydro]]").replace("kind = \"pumped_hydro\"\n", "");
    let e = Plant::from_toml(&legacy).unwrap_err();
    assert!(e.contains("unknown field `pumped_hydro`"), "{e}");
    assert!(e.contains("[[pumped_hydro]] was replaced by [[storage]] with kind = \"pumped_hydro\" (pump_mw -> charge_mw"), "{e}");
    let e = Plant::from_toml(&plant_with("kind = \"pumped_hydro\"", "kind = \"flywheel\"")).unwrap_err();
    assert!(e.contains("flywheel") && e.contains("battery"), "{e}");
}

/// Issue 13: an asset behind a park's meter names a known park and sits at its node.
#[test]
fn issue13_behind_the_meter_names_a_park_at_its_node() {
    let e = plant_problems(&plant_with(
        r#"node = "site"
charge_mw"#,
        r#"node = "site"
park = "p"
charge_mw"#,
    ));
    assert!(e.contains("storage[ph].node: behind the meter of park 'p' it must be at that park's node 'hub', not 'site'"), "{e}");
    let e =
        plant_problems(&plant_with(r#"wind = [{ name = "w", node = "site""#, r#"wind = [{ name = "w", node = "site", park = "nowhere""#));
    assert!(e.contains("wind[w].park: unknown park 'nowhere'"), "{e}");
    let e = plant_problems(&plant_with("eta_discharge = 0.9", "eta_discharge = 0.9\ncycle_cost_yuan_per_mwh = -5"));
    assert!(e.contains("storage[ph].cycle_cost_yuan_per_mwh"), "{e}");
}

#[test]
fn plant_file_errors_name_the_file() {
    let e = Plant::load(repo("fixtures/does-not-exist.toml")).unwrap_err().to_string();
    assert!(e.contains("cannot read plant file") && e.contains("does-not-exist.toml"), "{e}");
}

#[test]
fn missing_series() {
    let e = forecast_problems(|f| {
        f.availability.clear();
    });
    assert!(e.contains("availability.w: missing: every wind farm or PV plant needs a series"), "{e}");
}

#[test]
fn series_of_the_wrong_length() {
    let e = forecast_problems(|f| {
        f.demand_mw.insert("p".into(), vec![1.0, 2.0]);
    });
    assert!(e.contains("demand_mw.p: has 2 values, the horizon has 3 intervals"), "{e}");
}

#[test]
fn availability_above_one_and_negative_demand() {
    let e = forecast_problems(|f| {
        f.availability.insert("w".into(), vec![0.5, 1.5, 0.1]);
        f.demand_mw.insert("p".into(), vec![80.0, -1.0, f64::NAN]);
    });
    assert!(e.contains("availability.w[1]: must lie in [0, 1], got 1.5"), "{e}");
    assert!(e.contains("demand_mw.p[1]: must not be negative, got -1"), "{e}");
    assert!(e.contains("demand_mw.p[2]: must be a finite number, got NaN"), "{e}");
}

#[test]
fn series_for_an_unknown_asset() {
    let e = forecast_problems(|f| {
        f.inflow_mwh.insert("niagara".into(), vec![0.0; 3]);
    });
    assert!(e.contains("inflow_mwh.niagara: no pumped-hydro station of that name in the plant"), "{e}");
}

#[test]
fn interval_that_does_not_divide_a_day() {
    let e = forecast_problems(|f| f.interval_minutes = 7);
    assert!(e.contains("interval_minutes: must divide a day"), "{e}");
}

#[test]
fn bad_bids() {
    let bid = |json: &str| serde_json::from_str(json).expect("bid parses");
    let e = forecast_problems(|f| {
        f.bids = vec![
            bid(r#"{"id":"neg","node":"hub","interval_start":"2026-07-14T16:00:00Z","side":"sell","quantity_mw":-5,"price":100}"#),
            bid(r#"{"id":"late","node":"hub","interval_start":"2026-07-15T16:00:00Z","side":"sell","quantity_mw":5,"price":100}"#),
            bid(r#"{"id":"odd","node":"hub","interval_start":"2026-07-14T16:30:00Z","side":"sell","quantity_mw":5,"price":100}"#),
            bid(
                r#"{"id":"gbuy","node":"hub","interval_start":"2026-07-14T16:00:00Z","side":"buy","quantity_mw":5,"price":100,"green":true}"#,
            ),
            bid(r#"{"id":"cut","node":"site","interval_start":"2026-07-14T16:00:00Z","side":"curtail","quantity_mw":5,"price":100}"#),
            bid(r#"{"id":"where","node":"mars","interval_start":"2026-07-14T16:00:00Z","side":"sell","quantity_mw":5,"price":100}"#),
            bid(r#"{"id":"where","node":"hub","interval_start":"2026-07-14T16:00:00Z","side":"sell","quantity_mw":5,"price":100}"#),
        ];
        f.bids[0].price = f64::NAN;
    });
    assert!(e.contains("bids[neg].quantity_mw: must not be negative, got -5"), "{e}");
    assert!(e.contains("bids[neg].price: must be a finite number"), "{e}");
    assert!(e.contains("bids[late].interval_start: 2026-07-15T16:00:00+00:00 is not the start of an interval"), "{e}");
    assert!(e.contains("bids[odd].interval_start"), "{e}");
    assert!(e.contains("bids[gbuy].green: only sell bids can be green"), "{e}");
    assert!(e.contains("bids[cut].park: a curtail bid needs a park at its node, and node 'site' has none"), "{e}");
    assert!(e.contains("bids[where].node: unknown node 'mars'"), "{e}");
    assert!(e.contains("bids[where].id: duplicate bid id"), "{e}");
}

#[test]
fn bad_options() {
    let mut o = Options { min_share: Some(1.5), frontier_points: 1, milp: true, backend: Backend::Clarabel, ..Options::default() };
    o.initial.insert("nope".into(), StorageLevel { green_mwh: 1.0, grey_mwh: 1.0 });
    o.initial.insert("ph".into(), StorageLevel { green_mwh: 150.0, grey_mwh: 100.0 });
    o.end_energy_mwh.insert("ph".into(), 5.0);
    let e = match model::solve(&plant(), &forecast(), &o) {
        Err(DispatchError::InvalidOptions(e)) => e.to_string(),
        other => panic!("{other:?}"),
    };
    for want in [
        "min_share: must lie in [0, 1], got 1.5",
        "frontier_points: must be 0 (none) or 2..=200, got 1",
        "milp: the clarabel backend solves LPs only",
        "initial.nope: no storage of that name in the plant",
        "initial.ph: total 250 MWh lies outside [e_min, e_max] = [10, 200]",
        "end_energy_mwh.ph: 5 MWh lies outside [e_min, e_max] = [10, 200]",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
}

#[test]
fn infeasible_supply_names_the_park_the_hour_and_the_amounts() {
    let text = plant_with("import_cap_mw = 1000", "import_cap_mw = 40");
    let plant = Plant::from_toml(&text).unwrap();
    let mut fc = forecast();
    fc.availability.insert("w".into(), vec![0.0, 0.0, 0.0]);
    // 300 MWh of load; 40 MW of import for 3 h and 20 MWh of interruption (the daily cap)
    // leave 160 MWh short. The store must end where it started, so it cannot help.
    fc.demand_mw.insert("p".into(), vec![100.0, 100.0, 100.0]);
    let d = infeasible(&plant, &fc, &Options::default());
    let first = &d[0];
    assert_eq!(first.family, "balance");
    assert_eq!(first.subject, "hub");
    assert!(first.message.starts_with("park p cannot be served at "), "{}", first.message);
    assert!(first.message.contains("demand 100.0 MW"), "{}", first.message);
    assert!(first.interval.is_some() && first.at.is_some());
    assert!(d.iter().all(|x| x.family == "balance" && x.subject == "hub"), "{d:?}");
    let short: f64 = d.iter().map(|x| x.shortfall).sum();
    assert!((short - 160.0).abs() < 1e-6, "total shortfall {short}: {d:?}");
    let shown = DispatchError::Infeasible(d).to_string();
    assert!(shown.starts_with("infeasible: park p cannot be served at"), "{shown}");
}

#[test]
fn infeasible_minimum_green_share_names_the_hour() {
    let plant = Plant::from_toml(&plant_with("min_green_share = 0.0", "min_green_share = 0.9")).unwrap();
    let d = infeasible(&plant, &forecast(), &Options::default());
    assert!(d.iter().all(|x| x.family == "park_min_share"), "{d:?}");
    assert!(d.iter().all(|x| x.subject == "p"), "{d:?}");
    assert!(
        d[0].message.starts_with("park p cannot get its minimum green share of 90% at ")
            && d[0].message.contains("MWh of green energy missing"),
        "{}",
        d[0].message
    );
}

#[test]
fn infeasible_end_target_names_the_storage() {
    let plant = plant();
    let mut fc = forecast();
    fc.availability.insert("w".into(), vec![0.0, 0.0, 0.0]);
    let text = plant_with("import_cap_mw = 1000", "import_cap_mw = 100");
    let plant2 = Plant::from_toml(&text).unwrap();
    let mut o = Options::default();
    o.end_energy_mwh.insert("ph".into(), 200.0);
    // The 300 MW-h of load take all 100 MW of import; nothing is left to pump.
    fc.demand_mw.insert("p".into(), vec![100.0, 100.0, 100.0]);
    let d = infeasible(&plant2, &fc, &o);
    assert!(
        d.iter().any(|x| x.family == "end_energy" && x.subject == "ph" && x.message.contains("cannot end the horizon at 200.0 MWh")),
        "{d:?}"
    );
    let _ = plant;
}

#[test]
fn infeasible_plant_minimum_share() {
    let o = Options { objective: Objective::Cost, min_share: Some(0.99), ..Options::default() };
    let d = infeasible(&plant(), &forecast(), &o);
    assert_eq!(d[0].family, "plant_min_share");
    assert!(d[0].message.contains("the plant cannot reach its minimum green share 99.0%"), "{}", d[0].message);
}

#[test]
fn infeasible_must_run_surplus() {
    let text = format!(
        "{PLANT}\n[[thermal]]\nname = \"coal\"\nnode = \"site\"\np_min_mw = 400\np_max_mw = 600\nmarginal_cost = 300\ncarbon_intensity = 0.9\n"
    );
    let plant = Plant::from_toml(&text).unwrap();
    plant.validate().unwrap();
    let d = infeasible(&plant, &forecast(), &Options::default());
    assert!(d.iter().any(|x| x.family == "balance" && x.message.contains("that no load, storage, line or export can take")), "{d:?}");
}

/// Scenarios and quantiles are checked like the point series, by field, all at once.
#[test]
fn bad_scenarios_and_quantiles_are_named() {
    use vpp_dispatch::domain::{QuantileSeries, Quantiles, Scenario};
    let s = |name: &str, p: f64, w: Vec<f64>| Scenario {
        name: name.into(),
        probability: p,
        availability: [("w".to_string(), w)].into(),
        demand_mw: Default::default(),
    };
    let e = forecast_problems(|f| f.scenarios = vec![s("a", 0.5, vec![0.5, 0.2, 0.9]), s("b", 0.4, vec![0.5, 0.2, 0.9])]);
    assert!(e.contains("scenarios: the probabilities add up to 0.9, not 1"), "{e}");
    let e = forecast_problems(|f| {
        f.scenarios = vec![s("a", 0.5, vec![0.5, 1.2, 0.9]), s("a", -0.5, vec![0.5]), s("c", 1.0, vec![0.1, 0.1, 0.1])];
        f.scenarios[2].demand_mw.insert("nowhere".into(), vec![1.0, 1.0, 1.0]);
    });
    for want in [
        "scenarios[a].availability.w[1]: must lie in [0, 1], got 1.2",
        "scenarios[a].name: duplicate scenario name",
        "scenarios[a].probability: must lie in (0, 1], got -0.5",
        "scenarios[a].availability.w: has 1 values, the horizon has 3 intervals",
        "scenarios[c].demand_mw.nowhere: no park of that name in the plant",
    ] {
        assert!(e.contains(want), "{want}\n in {e}");
    }
    let q = |w: Vec<f64>| QuantileSeries { availability: [("w".to_string(), w)].into(), demand_mw: Default::default() };
    let e = forecast_problems(|f| {
        f.quantiles = Some(Quantiles { q10: q(vec![0.4, 0.3, 0.8]), q50: q(vec![0.5, 0.2, 0.9]), q90: q(vec![0.6, 0.3, 1.0]) });
        f.scenarios = vec![s("a", 1.0, vec![0.5, 0.2, 0.9])];
    });
    assert!(e.contains("quantiles: give scenarios or quantiles, not both"), "{e}");
    let e = forecast_problems(|f| {
        f.quantiles = Some(Quantiles { q10: q(vec![0.4, 0.3, 0.8]), q50: q(vec![0.5, 0.2, 0.9]), q90: q(vec![0.6, 0.3, 1.0]) })
    });
    assert!(e.contains("quantiles.availability.w[1]: q10 ≤ q50 ≤ q90 fails: 0.3 / 0.2 / 0.3"), "{e}");
    // Well-formed quantiles read as three scenarios weighted by Swanson's rule.
    let mut f = forecast();
    f.quantiles = Some(Quantiles { q10: q(vec![0.4, 0.1, 0.8]), q50: q(vec![0.5, 0.2, 0.9]), q90: q(vec![0.6, 0.3, 1.0]) });
    f.validate(&plant()).unwrap();
    let o = f.outcomes();
    assert_eq!(o.iter().map(|(n, p, _)| (n.as_str(), *p)).collect::<Vec<_>>(), [("q10", 0.3), ("q50", 0.4), ("q90", 0.3)]);
    assert_eq!(o[2].2.availability["w"], [0.6, 0.3, 1.0]);
    assert_eq!(o[2].2.demand_mw["p"], [80.0, 90.0, 100.0], "a series not given is the point one");
}
