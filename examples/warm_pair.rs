//! Two day-ahead solves in one process: `BEFORE`, then `DAY`, the second started from the
//! basis the first left in a `model::WarmStarts` cache (issue 16), or from scratch with
//! `--cold`. The second solve runs inside `measured`, so callgrind can count it alone:
//!
//! ```sh
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured*' \
//!   target/release/examples/warm_pair fixtures/forecasts/summer-peak-60.json \
//!   fixtures/forecasts/windy-winter-60.json [--cold] [--objective cost]
//! ```
//!
//! Prints the second solve's wall time, LPs and whether it was warm-started.

use std::process::ExitCode;
use std::time::Instant;

use vpp_dispatch::domain::{Forecast, Plant, Schedule};
use vpp_dispatch::model::{self, Objective, Options, WarmStarts};

#[inline(never)]
fn measured(plant: &Plant, day: &Forecast, options: &Options) -> Result<Schedule, model::DispatchError> {
    model::solve(plant, day, options)
}

fn main() -> ExitCode {
    // RUST_LOG=vpp_core=trace: every LP's time.
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files: Vec<&String> = args.iter().filter(|a| a.ends_with(".json")).collect();
    let cold = args.iter().any(|a| a == "--cold");
    let objective = match args.iter().position(|a| a == "--objective").and_then(|k| args.get(k + 1)) {
        Some(name) => match name.parse::<Objective>() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("--objective: {e}");
                return ExitCode::from(2);
            }
        },
        None => Objective::GreenShare,
    };
    let [before, day] = files[..] else {
        eprintln!("usage: warm_pair BEFORE.json DAY.json [--cold] [--objective green-share|green-energy|cost]");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let plant = Plant::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/xinyang.toml"))?;
        let (before, day) = (Forecast::load(before)?, Forecast::load(day)?);
        let warm = if cold { WarmStarts::default() } else { WarmStarts::keep(model::DEFAULT_SHAPES) };
        let options = Options { objective, warm, ..Options::default() };
        model::solve(&plant, &before, &options)?;
        let started = Instant::now();
        let s = measured(&plant, &day, &options)?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        println!(
            "second solve: {ms:.2} ms, {} LPs, warm_started {}, share {:.9}, cost {:.3}",
            s.solver.solves, s.solver.warm_started, s.totals.green_share, s.totals.cost_yuan
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
