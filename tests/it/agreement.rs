//! Issue 10: one answer on every backend. On every fixture, objective and share tolerance,
//! the warm HiGHS session, HiGHS from scratch and Clarabel return the same schedule to
//! 1e-6: share, cost, every park's share and every physical and colour series (charge,
//! discharge, export and buy awards by colour, stored energy by colour, green to load).

use vpp_dispatch::domain::{Forecast, Plant, Schedule};
use vpp_dispatch::model::{self, Backend, Objective, Options};

use crate::checker::{assert_valid, Asked};
use crate::repo;

/// Every number of a schedule that must not depend on the backend, by name.
pub(crate) fn numbers(s: &Schedule) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    let mut push = |name: String, v: &[f64]| {
        for (t, x) in v.iter().enumerate() {
            out.push((format!("{name}[{t}]"), *x));
        }
    };
    push("totals.green_share".into(), &[s.totals.green_share]);
    push("totals.cost_yuan".into(), &[s.totals.cost_yuan]);
    push("totals.green_mwh".into(), &[s.totals.green_mwh]);
    push("totals.curtailed_mwh".into(), &[s.totals.curtailed_mwh]);
    for p in &s.parks {
        push(format!("{}.share_total", p.name), &[p.share_total]);
        push(format!("{}.green_mwh", p.name), &p.green_mwh);
        push(format!("{}.served_mw", p.name), &p.served_mw);
    }
    for r in &s.renewables {
        push(format!("{}.output_mw", r.name), &r.output_mw);
    }
    for st in &s.storages {
        push(format!("{}.charge_mw", st.name), &st.charge_mw);
        push(format!("{}.charge_green_mw", st.name), &st.charge_green_mw);
        push(format!("{}.discharge_mw", st.name), &st.discharge_mw);
        push(format!("{}.discharge_green_mw", st.name), &st.discharge_green_mw);
        push(format!("{}.energy_green_mwh", st.name), &st.energy_green_mwh);
        push(format!("{}.energy_grey_mwh", st.name), &st.energy_grey_mwh);
    }
    for g in &s.grids {
        push(format!("{}.import_mw", g.name), &g.import_mw);
        push(format!("{}.export_mw", g.name), &g.export_mw);
        push(format!("{}.export_green_mw", g.name), &g.export_green_mw);
    }
    for b in &s.bids {
        push(format!("bid {}.accepted_mw", b.id), &[b.accepted_mw]);
        push(format!("bid {}.accepted_green_mw", b.id), &[b.accepted_green_mw]);
    }
    for (t, g) in s.green.iter().enumerate() {
        push(format!("green[{t}]"), &[g.supply_mwh, g.to_storage_mwh, g.exported_mwh, g.to_load_mwh]);
    }
    out
}

/// The differences between two schedules beyond `tol` (relative to max(1, |value|)).
pub(crate) fn differences(a: &Schedule, b: &Schedule, tol: f64) -> Vec<String> {
    let (na, nb) = (numbers(a), numbers(b));
    assert_eq!(na.len(), nb.len(), "schedules of different shapes");
    na.iter()
        .zip(&nb)
        .filter(|((_, x), (_, y))| (x - y).abs() > tol * y.abs().max(1.0))
        .map(|((name, x), (_, y))| format!("{name}: {x} vs {y}"))
        .collect()
}

fn solve(plant: &Plant, fc: &Forecast, options: &Options) -> Schedule {
    let s = model::solve(plant, fc, options).unwrap_or_else(|e| panic!("{e}"));
    let asked = Asked { carbon_price: options.carbon_price, ..Asked::default() };
    assert_valid(plant, fc, &asked, &s);
    s
}

/// Solves on the three backends and fails with every difference found.
pub(crate) fn assert_backends_agree(what: &str, plant: &Plant, fc: &Forecast, options: &Options) {
    let warm = solve(plant, fc, &Options { backend: Backend::Highs, ..options.clone() });
    let mut failures = Vec::new();
    for backend in [Backend::HighsCold, Backend::Clarabel] {
        let other = solve(plant, fc, &Options { backend, ..options.clone() });
        let diff = differences(&other, &warm, 1e-6);
        if !diff.is_empty() {
            let shown: Vec<_> = diff.iter().take(12).cloned().collect();
            failures.push(format!("{what}: {} vs highs, {} difference(s):\n  {}", backend.name(), diff.len(), shown.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn fixture_agrees(name: &str) {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let fc = Forecast::load(repo(&format!("fixtures/forecasts/{name}.json"))).expect("fixture");
    let mut failures = Vec::new();
    for objective in [Objective::GreenShare, Objective::GreenEnergy, Objective::Cost] {
        for tolerance in [1e-4, 0.0] {
            let options = Options { objective, share_tolerance: tolerance, ..Options::default() };
            let what = format!("{name} {} tolerance {tolerance}", objective.name());
            if let Err(e) = std::panic::catch_unwind(|| assert_backends_agree(&what, &plant, &fc, &options)) {
                failures.push(e.downcast_ref::<String>().cloned().unwrap_or_else(|| what.clone()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn summer_peak_60_agrees_on_every_backend() {
    fixture_agrees("summer-peak-60");
}

#[test]
fn spring_valley_60_agrees_on_every_backend() {
    fixture_agrees("spring-valley-60");
}

#[test]
fn windy_winter_60_agrees_on_every_backend() {
    fixture_agrees("windy-winter-60");
}

#[test]
fn summer_peak_15_agrees_on_every_backend() {
    fixture_agrees("summer-peak-15");
}

#[test]
fn spring_valley_15_agrees_on_every_backend() {
    fixture_agrees("spring-valley-15");
}

#[test]
fn windy_winter_15_agrees_on_every_backend() {
    fixture_agrees("windy-winter-15");
}

/// The checker is the acceptance test of colour conservation, so it must fail on the
/// attributions this issue fixed: exports labelled grey with no grey source present, and a
/// park allocation off the water-filling rule.
#[test]
fn checker_fails_on_a_broken_attribution() {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let fc = Forecast::load(repo("fixtures/forecasts/windy-winter-60.json")).expect("fixture");
    let s = solve(&plant, &fc, &Options::default());
    let exported: f64 = s.grids.iter().flat_map(|g| &g.export_green_mw).sum();
    assert!(exported > 100.0, "windy winter exports green power: {exported} MW over the day");

    // Mutation 1: every export labelled grey, the report made consistent with it.
    let mut grey_exports = s.clone();
    for g in &mut grey_exports.grids {
        g.export_green_mw.iter_mut().for_each(|x| *x = 0.0);
    }
    for (t, gi) in grey_exports.green.iter_mut().enumerate() {
        gi.exported_mwh = s.bids.iter().filter(|b| b.interval == t).map(|b| b.accepted_green_mw * s.dt_hours).sum();
    }
    let errors = crate::checker::check(&plant, &fc, &Asked::default(), &grey_exports).expect_err("grey exports must fail");
    assert!(errors.iter().any(|e| e.contains("green conserved")), "{errors:?}");

    // Mutation 2: 1 MWh moved from one park to another where both are served.
    let mut moved = s.clone();
    let t = (0..s.intervals.len())
        .find(|&t| s.parks[0].green_mwh[t] > 2.0 && s.parks[1].served_mw[t] > 2.0 && s.parks[1].share[t] < 0.99)
        .expect("an interval where the first park has green and the second room");
    moved.parks[0].green_mwh[t] -= 1.0;
    moved.parks[1].green_mwh[t] += 1.0;
    moved.parks[0].green_total_mwh -= 1.0;
    moved.parks[1].green_total_mwh += 1.0;
    let errors = crate::checker::check(&plant, &fc, &Asked::default(), &moved).expect_err("a moved allocation must fail");
    assert!(errors.iter().any(|e| e.contains("water-filled") || e.contains("up to its minimum")), "{errors:?}");
}

/// Issue 11: the whole-day stitch (`domain::stitch`) recomputes a day's totals from its
/// series with the plant's data. Stitching one version must give back that version's own
/// totals — share, energies, CO2 and the cost breakdown by the solve's rules — and series.
#[test]
fn issue11_stitching_one_version_gives_back_its_totals() {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    for (name, objective, carbon) in [("windy-winter-60", Objective::Cost, 80.0), ("summer-peak-15", Objective::GreenShare, 0.0)] {
        let fc = Forecast::load(repo(&format!("fixtures/forecasts/{name}.json"))).expect("fixture");
        let s = solve(&plant, &fc, &Options { objective, carbon_price: carbon, ..Options::default() });
        let w = vpp_dispatch::domain::stitch::stitch(&plant, &[(1, &s)]).expect("stitches");
        assert_eq!(w.versions, vec![1; s.intervals.len()]);
        let (a, b) = (&w.schedule.totals, &s.totals);
        for (what, x, y) in [
            ("share", a.green_share, b.green_share),
            ("green", a.green_mwh, b.green_mwh),
            ("served", a.served_mwh, b.served_mwh),
            ("curtailed", a.curtailed_mwh, b.curtailed_mwh),
            ("imported", a.imported_mwh, b.imported_mwh),
            ("co2", a.co2_t, b.co2_t),
            ("cost", a.cost_yuan, b.cost_yuan),
            ("carbon", a.cost.carbon, b.cost.carbon),
        ] {
            assert!(crate::near(x, y, 1e-9), "{name} {what}: stitched {x} vs solved {y}");
        }
        assert!(differences(&w.schedule, &s, 1e-12).is_empty());
    }
}

/// Issue 16: warm starts across requests. With a basis cache, each fixture's first LP and
/// least-cost LP start from the final bases of the fixture solved before it (same plant and
/// horizon, other bounds and right-hand sides); the schedule is the cold one to 1e-6, on
/// every objective, and a horizon of another shape starts cold without disturbing the others.
#[test]
fn a_solve_warm_started_from_another_day_agrees_with_a_cold_one() {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let load = |name: &str| Forecast::load(repo(&format!("fixtures/forecasts/{name}.json"))).expect("fixture");
    let days = ["summer-peak-60", "windy-winter-60", "spring-valley-60", "summer-peak-60"];
    let mut failures = Vec::new();
    for objective in [Objective::GreenShare, Objective::GreenEnergy, Objective::Cost] {
        let warm = model::WarmStarts::keep(16);
        for (n, name) in days.iter().enumerate() {
            let fc = load(name);
            let options = Options { objective, warm: warm.clone(), ..Options::default() };
            let s = solve(&plant, &fc, &options);
            let what = format!("{name} {} (solve {n})", objective.name());
            assert_eq!(s.solver.warm_started, n > 0, "{what}: warm started");
            let cold = solve(&plant, &fc, &Options { objective, backend: Backend::HighsCold, ..Options::default() });
            assert!(!cold.solver.warm_started, "{what}: the cold backend starts cold");
            let diff = differences(&s, &cold, 1e-6);
            if !diff.is_empty() {
                failures.push(format!("{what}: {} difference(s):\n  {}", diff.len(), diff[..diff.len().min(12)].join("\n  ")));
            }
            if n == 1 {
                // Another shape in between: a 15-minute day starts cold and is kept beside.
                let quarter = load("windy-winter-15");
                let q = solve(&plant, &quarter, &Options { objective, warm: warm.clone(), ..Options::default() });
                assert!(!q.solver.warm_started, "{what}: a 15-minute day has a shape of its own");
            }
        }
        // Four hourly solves and one 15-minute one, each with one kept LP in cost mode (its
        // first, least-cost) and two otherwise (the first, and the least-cost one after the
        // floor): the first of each shape found no basis, every later one did. Each also
        // looks for its two tie-break LPs' bases, kept by the shape of their faces: found
        // only where a day's faces hold the same rows as a day before, so certainly not by
        // the first solve (an empty cache) nor by the 15-minute day (a shape of its own).
        let kept = if objective == Objective::Cost { 1 } else { 2 };
        let (hits, misses) = warm.hits_and_misses();
        assert_eq!(hits + misses, 5 * (kept + 2), "{}", objective.name());
        assert!(hits >= 3 * kept && misses >= 2 * kept + 4, "{}: {hits} hits, {misses} misses", objective.name());
    }
    // Without a cache nothing is warm.
    let s = solve(&plant, &load("summer-peak-60"), &Options::default());
    assert!(!s.solver.warm_started);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 16: a green-share run's Dinkelbach iterations start at the share the last run of
/// its shape found. The same day again needs one LP (λ is already the optimum) and starts
/// its tie-break LPs from the first run's bases; a day
/// solved after a greener one starts above its optimum, and one after a less green one
/// below: both end at the cold share and schedule.
#[test]
fn dinkelbach_starts_at_the_kept_share_from_above_and_below() {
    let plant = Plant::load(repo("models/xinyang.toml")).expect("plant");
    let load = |name: &str| Forecast::load(repo(&format!("fixtures/forecasts/{name}.json"))).expect("fixture");
    let cold = |fc: &Forecast| solve(&plant, fc, &Options { backend: Backend::HighsCold, ..Options::default() });
    let days: Vec<(&str, Forecast)> = ["summer-peak-60", "windy-winter-60", "spring-valley-60"].into_iter().map(|n| (n, load(n))).collect();
    let colds: Vec<Schedule> = days.iter().map(|(_, fc)| cold(fc)).collect();
    for (k, (name, fc)) in days.iter().enumerate() {
        let warm = model::WarmStarts::keep(8);
        let options = Options { warm: warm.clone(), ..Options::default() };
        let first = solve(&plant, fc, &options);
        let (hits, misses) = warm.hits_and_misses();
        let again = solve(&plant, fc, &options);
        assert!(first.solver.iterations >= 2, "{name}: a cold Dinkelbach from 0 takes {}", first.solver.iterations);
        assert_eq!(again.solver.iterations, 1, "{name}: from its own share, one LP");
        // The same day again: its first LP, its least-cost LP after the floor and both
        // tie-break LPs (whose faces hold the same rows as the first run's) start from the
        // kept bases.
        assert_eq!(warm.hits_and_misses(), (hits + 4, misses), "{name}: every kept LP of the same day again starts warm");
        assert!(differences(&again, &colds[k], 1e-6).is_empty(), "{name}: again vs cold");
        // Every other day after this one: from above or below its optimum.
        for (j, (other, ofc)) in days.iter().enumerate().filter(|(j, _)| *j != k) {
            let _ = solve(&plant, fc, &options);
            let s = solve(&plant, ofc, &options);
            let (from, to) = (colds[k].totals.green_share, colds[j].totals.green_share);
            let diff = differences(&s, &colds[j], 1e-6);
            assert!(diff.is_empty(), "{other} after {name} (λ from {from} to {to}): {diff:?}");
        }
    }
}
