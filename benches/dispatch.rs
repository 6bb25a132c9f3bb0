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

fn dispatch(c: &mut Criterion) {
    let plant = common::plant();
    bench_case(c, &plant, &common::day_ahead_60(&plant), 30, 10);
    bench_case(c, &plant, &common::day_ahead_15(&plant), 10, 10);
    bench_case(c, &plant, &common::week_60(&plant), 10, 10);
    if std::env::var("VPP_BENCH_YEAR").is_ok_and(|v| v == "1") {
        bench_case(c, &plant, &common::year_60(&plant), 10, 60);
    }
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
