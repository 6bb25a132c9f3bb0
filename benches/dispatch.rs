//! Criterion benchmarks of the dispatch core on the Xinyang plant (`models/xinyang.toml`)
//! with synthetic forecasts (`vpp_dispatch::synth::generate`):
//!
//! - `solve/…`: `model::solve` end to end (validation, model building, every HiGHS solve
//!   through good_lp, schedule extraction);
//! - `highs_alone/…`: HiGHS alone (fresh instance, read MPS file + run, 1 thread, presolve
//!   default) on exactly the LPs that `model::solve_traced` ran for that case, in order.
//!
//! Before measuring, each case prints (stderr) the `build_ms` / `solve_ms` split that
//! `Schedule.solver` reports. `cargo run --release --example bench_report` gives the
//! full breakdown and the peak RSS. See `benches/README.md`.
//!
//! The year case (8760 h, cost mode; ~46 s per solve on the 2-core reference machine, so
//! ≥ 11 solves plus 11 HiGHS-alone runs ≈ 20 min) runs only with `VPP_BENCH_YEAR=1`;
//! `examples/bench_report.rs` measures it once by default.
//!
//! `day-ahead 60 min, green-share, across requests/{cold,warm}/KIND`: the second day of a
//! two-day run of each kind, solved from scratch, and started from the bases its day
//! before left in a `model::WarmStarts` cache (issue 16, warm starts across requests).
//!
//! `stochastic/N`: the stochastic day-ahead (`model::solve_stochastic`: the plan, the
//! deterministic plan, EEV and WS) over N scenarios of the windy-winter hourly fixture
//! (drawn with seed 3 and reduced from 40), with `VPP_BENCH_STOCHASTIC=1` (N = 2, 5, 10:
//! ≈ 3 min).
//!
//! `backtest/POLICY`: a closed-loop backtest day (`backtest::run`: the day-ahead, 24 hourly
//! re-plans holding it, the perfect-foresight day) of the windy-winter hourly forecast, for
//! each policy, with `VPP_BENCH_BACKTEST=1`. The 365-day figures in benches/README.md come
//! from `vpp backtest --days 365` (release), timed whole.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use vpp_dispatch::domain::Plant;
use vpp_dispatch::model;

fn bench_case(c: &mut Criterion, plant: &Plant, case: &common::Case, samples: usize, measure_s: u64) {
    let (traced, lps) = model::solve_traced(plant, &case.forecast, &case.options);
    let s = traced.expect("solve");
    eprintln!(
        "{}: {} variables, {} rows, {} solves; build_ms {:.1}, solve_ms (HiGHS incl. passing the model) {:.1}",
        case.name, s.solver.variables, s.solver.rows, s.solver.solves, s.solver.build_ms, s.solver.solve_ms
    );
    let files = common::MpsFiles::write(&case.name.replace([' ', ','], "_"), &lps);
    drop(lps);
    let mut g = c.benchmark_group(case.name);
    g.sample_size(samples).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(measure_s));
    g.bench_function(BenchmarkId::from_parameter("solve"), |b| {
        b.iter(|| model::solve(plant, &case.forecast, &case.options).expect("solve"))
    });
    g.bench_function(BenchmarkId::from_parameter("highs_alone"), |b| {
        b.iter(|| files.files.iter().map(|f| common::highs_alone(f).objective).sum::<f64>())
    });
    g.finish();
}

/// Warm starts across requests (issue 16): the second day of a two-day run of each kind of
/// hourly day, green-share, solved from scratch (`cold/KIND`) and started from the final
/// bases its day before left in a `model::WarmStarts` cache (`warm/KIND`: the day before is
/// solved untimed before each timed solve, so the cache holds its bases, not the timed
/// day's own).
fn warm(c: &mut Criterion, plant: &Plant) {
    use vpp_dispatch::synth::{generate, DayKind};

    let mut g = c.benchmark_group("day-ahead 60 min, green-share, across requests");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for kind in DayKind::ALL {
        let two = generate(plant, kind, 60, 2);
        let (before, day) = (two.window(0, 24), two.window(24, 24));
        g.bench_function(BenchmarkId::new("cold", kind.as_str()), |b| {
            b.iter(|| model::solve(plant, &day, &common::green_share()).expect("solve"))
        });
        let options = model::Options { warm: model::WarmStarts::keep(4), ..common::green_share() };
        g.bench_function(BenchmarkId::new("warm", kind.as_str()), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    model::solve(plant, &before, &options).expect("solve");
                    let started = std::time::Instant::now();
                    let s = model::solve(plant, &day, &options).expect("solve");
                    total += started.elapsed();
                    assert!(s.solver.warm_started);
                }
                total
            })
        });
    }
    g.finish();
}

fn dispatch(c: &mut Criterion) {
    let plant = common::plant();
    warm(c, &plant);
    bench_case(c, &plant, &common::day_ahead_60(&plant), 30, 10);
    bench_case(c, &plant, &common::day_ahead_15(&plant), 10, 10);
    bench_case(c, &plant, &common::week_60(&plant), 10, 10);
    if std::env::var("VPP_BENCH_YEAR").is_ok_and(|v| v == "1") {
        bench_case(c, &plant, &common::year_60(&plant), 10, 60);
    }
    if std::env::var("VPP_BENCH_STOCHASTIC").is_ok_and(|v| v == "1") {
        stochastic(c, &plant);
    }
    if std::env::var("VPP_BENCH_BACKTEST").is_ok_and(|v| v == "1") {
        backtest(c, &plant);
    }
}

fn backtest(c: &mut Criterion, plant: &Plant) {
    use vpp_dispatch::backtest::{self, Policy, Spec};
    let point = vpp_dispatch::domain::Forecast::load("fixtures/forecasts/windy-winter-60.json").expect("fixture");
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(20));
    for policy in Policy::ALL {
        let spec = Spec { policies: vec![policy], ..Spec::default() };
        let quiet = |_: &str, _: &backtest::Day| {};
        let r = backtest::run(plant, &point, &spec, &quiet).expect("backtest");
        eprintln!("backtest/{}: {} solves, {:.0} ms", policy.name(), r.solves, r.total_ms);
        g.bench_function(BenchmarkId::from_parameter(policy.name()), |b| {
            b.iter(|| backtest::run(plant, &point, &spec, &quiet).expect("backtest"))
        });
    }
    g.finish();
}

fn stochastic(c: &mut Criterion, plant: &Plant) {
    use vpp_dispatch::scenarios::{self, ErrorModel};
    let point = vpp_dispatch::domain::Forecast::load("fixtures/forecasts/windy-winter-60.json").expect("fixture");
    let drawn = scenarios::generate(plant, &point, &ErrorModel::default(), 40, 3).expect("scenarios");
    let mut g = c.benchmark_group("stochastic");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(20));
    for n in [2, 5, 10] {
        let forecast = vpp_dispatch::domain::Forecast { scenarios: scenarios::reduce(plant, &point, &drawn, n), ..point.clone() };
        let options = model::Options::default();
        let plan = model::solve_stochastic(plant, &forecast, &options, model::DEFAULT_IMBALANCE_PREMIUM).expect("plan");
        eprintln!(
            "stochastic/{n}: {} variables, {} rows, {} solves, {:.0} ms; VSS {:.4} share, EVPI {:.4} share",
            plan.solver.variables, plan.solver.rows, plan.solver.solves, plan.solver.total_ms, plan.vss.green_share, plan.evpi.green_share
        );
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| model::solve_stochastic(plant, &forecast, &options, model::DEFAULT_IMBALANCE_PREMIUM).expect("plan"))
        });
    }
    g.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
