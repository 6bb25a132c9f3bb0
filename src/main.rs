//! `vpp`: the command-line front of vpp-dispatch. Thin: it parses arguments, calls the
//! library and prints; errors go to stderr with a non-zero exit.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vpp_dispatch::domain::{Bid, Forecast, Plant};
use vpp_dispatch::model::{self, Backend, Objective, Options};
use vpp_dispatch::synth::{self, DayKind};

#[derive(Parser)]
#[command(name = "vpp", version, about = "Dispatch a virtual power plant for the most green power")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Solve the dispatch of a forecast on a plant and print a summary.
    Solve {
        /// Plant file (TOML).
        #[arg(long)]
        model: PathBuf,
        /// Forecast file (JSON).
        #[arg(long)]
        forecast: PathBuf,
        /// green-share, green-energy or cost.
        #[arg(long, default_value = "green-share")]
        objective: Objective,
        /// highs or clarabel.
        #[arg(long, default_value = "highs")]
        backend: Backend,
        /// Forbid simultaneous charge and discharge exactly (MILP).
        #[arg(long)]
        milp: bool,
        /// Stage-2 tolerance on the stage-1 optimum.
        #[arg(long, default_value_t = 1e-4)]
        tolerance: f64,
        /// Carbon price, yuan/tCO2.
        #[arg(long, default_value_t = 0.0)]
        carbon_price: f64,
        /// Minimum green share of the plant over the horizon (0..1).
        #[arg(long)]
        min_share: Option<f64>,
        /// Compute the share–cost frontier with this many points.
        #[arg(long, default_value_t = 0)]
        frontier: usize,
        /// Extra bids (JSON array) cleared with the schedule.
        #[arg(long)]
        bids: Option<PathBuf>,
        /// Time limit per solve, seconds.
        #[arg(long)]
        time_limit: Option<f64>,
        /// Write the whole schedule as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the base LP (cost objective) as MPS here.
        #[arg(long)]
        mps: Option<PathBuf>,
    },
    /// Validate a plant file (and, optionally, a forecast against it).
    Check {
        /// Plant file (TOML).
        model: PathBuf,
        /// Forecast file (JSON) to check against the plant.
        #[arg(long)]
        forecast: Option<PathBuf>,
    },
    /// Generate a representative forecast for a plant (solar geometry, wind profiles, load shape).
    Forecast {
        /// Plant file (TOML).
        #[arg(long)]
        model: PathBuf,
        /// summer-peak, spring-valley or windy-winter.
        #[arg(long)]
        day: DayKind,
        /// Interval length in minutes.
        #[arg(long, default_value_t = 60)]
        interval: u32,
        /// Number of days.
        #[arg(long, default_value_t = 1)]
        days: usize,
        /// Output file (JSON); stdout if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Solve {
            model: plant_path,
            forecast,
            objective,
            backend,
            milp,
            tolerance,
            carbon_price,
            min_share,
            frontier,
            bids,
            time_limit,
            json,
            mps,
        } => {
            let plant = Plant::load(&plant_path)?;
            let mut forecast = Forecast::load(&forecast)?;
            if let Some(path) = bids {
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read bids file {}", path.display()))?;
                let extra: Vec<Bid> = serde_json::from_str(&text)
                    .with_context(|| format!("bids file {} is not a JSON array of bids", path.display()))?;
                forecast.bids.extend(extra);
            }
            let options = Options {
                objective,
                backend,
                milp,
                share_tolerance: tolerance,
                carbon_price,
                min_share,
                frontier_points: frontier,
                time_limit_s: time_limit,
                ..Options::default()
            };
            if let Some(path) = mps {
                let text = model::export_mps(&plant, &forecast, &options)?;
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            }
            let schedule = model::solve(&plant, &forecast, &options)?;
            print!("{}", vpp_dispatch::cli::summary(&plant, &schedule));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&schedule)?;
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(())
        }
        Command::Check { model: plant_path, forecast } => {
            let plant = Plant::load(&plant_path)?;
            if let Some(path) = forecast {
                let forecast = Forecast::load(&path)?;
                forecast
                    .validate(&plant)
                    .map_err(|e| anyhow::anyhow!("forecast {} does not fit plant {}:\n{e}", path.display(), plant.name))?;
            }
            println!(
                "{}: ok ({} nodes, {} lines, {} wind, {} pv, {} pumped hydro, {} caes, {} parks)",
                plant_path.display(),
                plant.nodes.len(),
                plant.lines.len(),
                plant.wind.len(),
                plant.pv.len(),
                plant.pumped_hydro.len(),
                plant.caes.len(),
                plant.parks.len()
            );
            Ok(())
        }
        Command::Forecast { model: plant_path, day, interval, days, out } => {
            let plant = Plant::load(&plant_path)?;
            anyhow::ensure!(interval > 0 && 1440 % interval == 0, "--interval must divide a day (15, 30, 60, …), got {interval}");
            anyhow::ensure!(days > 0, "--days must be at least 1");
            let forecast = synth::generate(&plant, day, interval, days);
            let text = serde_json::to_string_pretty(&forecast)?;
            match out {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(())
        }
    }
}
