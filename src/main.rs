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
        /// highs (warm-started, the default), highs-cold (every LP from scratch) or clarabel.
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
        /// Draw where the parks' power came from (stacked by source) as SVG here.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Draw one park's power instead of all parks' (with --plot).
        #[arg(long, requires = "plot")]
        plot_park: Option<String>,
        /// Plan the day-ahead over the scenarios (or quantiles) the forecast carries: one
        /// grid position, interruption notice and bid award for all, the rest per
        /// scenario; prints VSS and EVPI. --json writes the plan.
        #[arg(long, conflicts_with_all = ["frontier", "mps", "plot"])]
        stochastic: bool,
        /// Take the scenarios (or quantiles) from this forecast file instead (as `vpp
        /// forecast --scenarios N` writes it; its horizon must be the forecast's).
        /// Implies --stochastic.
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Real-time imbalance premium of the stochastic day-ahead, yuan/MWh.
        #[arg(long, default_value_t = model::DEFAULT_IMBALANCE_PREMIUM)]
        imbalance_premium: f64,
        /// Stochastic day-ahead: weight W in [0, 1] of the cost's CVaR, minimising
        /// (1 − W)·E[cost] + W·CVaR_α[cost].
        #[arg(long, default_value_t = 0.0)]
        cvar_weight: f64,
        /// Stochastic day-ahead: α of that CVaR, in [0, 0.99].
        #[arg(long, default_value_t = 0.9)]
        cvar_alpha: f64,
        /// Stochastic day-ahead: a green share the worst 10 % of the probability must reach
        /// (the P10 share), instead of --min-share in every scenario.
        #[arg(long)]
        p10_min_share: Option<f64>,
        /// Solve in windows of this many whole local days, each storage's level at a
        /// window's end taken from a guide solve of the whole horizon on a coarser grid:
        /// long horizons at a fine grid (a 15-minute year). A feasible schedule, not the
        /// optimum of the whole horizon's LP (the schedule says so).
        #[arg(long, conflicts_with_all = ["frontier", "mps", "stochastic", "scenarios"])]
        window_days: Option<usize>,
        /// The guide's interval with --window-days, minutes (a multiple of the forecast's
        /// that divides a day; the forecast's own: the guide is the whole horizon's LP).
        #[arg(long, requires = "window_days", default_value_t = 60)]
        guide_minutes: u32,
    },
    /// Closed-loop backtest: each day committed the day before by a policy (deterministic,
    /// stochastic), then lived through against a held-out truth with a re-plan at every
    /// interval; realised green share, cost, imbalance and curtailment per day and in all,
    /// against the perfect-foresight bound.
    Backtest {
        /// Plant file (TOML).
        #[arg(long)]
        model: PathBuf,
        /// Point forecast of whole local days (JSON), without bids or scenarios.
        #[arg(long, required_unless_present = "day", conflicts_with = "day")]
        forecast: Option<PathBuf>,
        /// Or generate the point forecast: summer-peak, spring-valley or windy-winter.
        #[arg(long)]
        day: Option<DayKind>,
        /// Days to run (with --day: to generate; with --forecast: the first N of the file).
        #[arg(long)]
        days: Option<usize>,
        /// Interval length in minutes of a generated forecast (a re-plan at each interval).
        #[arg(long, default_value_t = 60)]
        interval: u32,
        /// deterministic, stochastic or both.
        #[arg(long, default_value = "both")]
        policy: String,
        /// green-share, green-energy or cost.
        #[arg(long, default_value = "green-share")]
        objective: Objective,
        /// highs, highs-cold or clarabel.
        #[arg(long, default_value = "highs")]
        backend: Backend,
        /// Scenarios the stochastic policy draws each day.
        #[arg(long, default_value_t = 20)]
        scenarios: usize,
        /// Scenarios it keeps of them (fast forward selection).
        #[arg(long, default_value_t = 3)]
        reduce: usize,
        /// Seed of the stochastic policy's scenarios.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seed of the held-out truth (drawn from the point forecast by the error model).
        #[arg(long, default_value_t = 2)]
        truth_seed: u64,
        /// What happened instead (a forecast file of the same horizon whose series are the
        /// truth, e.g. built from recorded readings).
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Real-time imbalance premium, yuan/MWh.
        #[arg(long, default_value_t = model::DEFAULT_IMBALANCE_PREMIUM)]
        imbalance_premium: f64,
        /// Write the whole report (every day of every policy) as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Draw each policy's realised share day by day as SVG here.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Start every solve from scratch, not from the basis of the last solve of the same
        /// shape (the figures are the same; this measures what warm starts save).
        #[arg(long)]
        cold_starts: bool,
    },
    /// Print the JSON Schema of the schedule files `vpp solve --json` writes.
    Schema,
    /// Validate a plant file (and, optionally, a forecast against it).
    Check {
        /// Plant file (TOML).
        model: PathBuf,
        /// Forecast file (JSON) to check against the plant.
        #[arg(long)]
        forecast: Option<PathBuf>,
    },
    /// Run the gRPC service (on a SQLite file, or PostgreSQL shared by replicas) until SIGTERM or Ctrl-C.
    Serve {
        /// Config file (TOML); VPP_* environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Call a running service.
    Client {
        /// Server address.
        #[arg(long, default_value = "http://127.0.0.1:50051", env = "VPP_ADDR")]
        addr: String,
        /// Bearer token.
        #[arg(long, env = "VPP_TOKEN", hide_env_values = true)]
        token: String,
        /// Print the whole answer as JSON (the protobuf JSON mapping: RFC 3339 instants,
        /// enum names) instead of the summary, for scripts.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        call: ClientCall,
    },
    /// Drive a running service with load and report throughput and latency percentiles.
    Load {
        /// Server address.
        #[arg(long, default_value = "http://127.0.0.1:50051", env = "VPP_ADDR")]
        addr: String,
        /// Concurrent callers.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// HTTP/2 connections the callers share.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Write the report as JSON here too.
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(subcommand)]
        kind: LoadKind,
    },
    /// Meter readings (CSV, see README "Measured green power").
    Meter {
        #[command(subcommand)]
        action: MeterCommand,
    },
    /// The measured green-power ledger of a readings file: granular certificates, and each
    /// park's monthly statement (hourly-matched share, whole GECs, Scope 2).
    Ledger {
        /// Plant file (TOML).
        #[arg(long)]
        model: PathBuf,
        /// Readings file (CSV: interval_start,meter,quantity,value_mwh).
        #[arg(long)]
        readings: PathBuf,
        /// Interval length, minutes (default: the shortest gap between the readings' starts).
        #[arg(long)]
        interval: Option<u32>,
        /// Print only this park's statement.
        #[arg(long)]
        park: Option<String>,
        /// Write every certificate and where its energy went (CSV) here.
        #[arg(long)]
        certificates: Option<PathBuf>,
        /// Write the parks' monthly statements (CSV) here.
        #[arg(long)]
        statement: Option<PathBuf>,
        /// Grid emission factor for Scope 2, t CO2/MWh (Central China grid, DATA.md).
        #[arg(long, default_value_t = vpp_dispatch::ledger::CENTRAL_CHINA_GRID_T_PER_MWH)]
        grid_factor: f64,
    },
    /// Generate a representative forecast for a plant (solar geometry, wind profiles, load shape).
    Forecast {
        /// Plant file (TOML).
        #[arg(long)]
        model: PathBuf,
        /// summer-peak, spring-valley or windy-winter.
        #[arg(long, required_unless_present = "point", conflicts_with = "point")]
        day: Option<DayKind>,
        /// Start from this point forecast (JSON) instead of generating one (for --scenarios).
        #[arg(long)]
        point: Option<PathBuf>,
        /// Add this many scenarios of the point forecast, drawn from the error model
        /// (`crates/core/src/scenarios.rs`: wind errors growing with lead time and
        /// correlated in time, PV scaled by the clear-sky index, load small).
        #[arg(long, default_value_t = 0)]
        scenarios: usize,
        /// Seed of the scenarios.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Reduce the scenarios to this many representative ones (fast forward selection).
        #[arg(long)]
        reduce: Option<usize>,
        /// Give the scenarios' 10 %, 50 % and 90 % quantiles of every series instead of the
        /// scenarios themselves.
        #[arg(long)]
        as_quantiles: bool,
        /// Interval length in minutes.
        #[arg(long, default_value_t = 60)]
        interval: u32,
        /// Number of days.
        #[arg(long, default_value_t = 1)]
        days: usize,
        /// The first local day the forecast covers: YYYY-MM-DD, today or tomorrow (in the
        /// plant's zone); default: the representative day of the kind.
        #[arg(long)]
        date: Option<String>,
        /// Output file (JSON); stdout if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Backtest sweeps (plant variants × seed pairs × policies × chunks of days): planned
    /// into PostgreSQL for `vpp worker`s and read back, or run in this process.
    Sweep {
        #[command(subcommand)]
        action: SweepCommand,
    },
    /// Take backtest-sweep items from PostgreSQL and run them, each exactly once, until
    /// SIGTERM (the item in hand is finished first) or, with --until-empty, none is left.
    Worker {
        /// PostgreSQL URL (postgres://…), as `vpp serve`'s database.
        #[arg(long, env = "VPP_DATABASE", hide_env_values = true)]
        database: String,
        /// This worker's name in the results (default: the host name and process id).
        #[arg(long)]
        name: Option<String>,
        /// Exit (0) once no item of any sweep is left queued.
        #[arg(long)]
        until_empty: bool,
        /// Seconds between looks when there is nothing to take.
        #[arg(long, default_value_t = 5.0)]
        poll: f64,
    },
}

/// Most days `vpp backtest` runs (ten years).
const MAX_BACKTEST_DAYS: usize = 3660;

/// A local day as people type it: `YYYY-MM-DD`, `today`, `tomorrow` or `today+N` (in `tz`).
fn local_day(text: &str, tz: chrono_tz::Tz) -> anyhow::Result<chrono::NaiveDate> {
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let ahead = |n: u64| today.checked_add_days(chrono::Days::new(n)).context("the day is out of range");
    match text.trim() {
        "today" => Ok(today),
        "tomorrow" => ahead(1),
        other => match other.strip_prefix("today+").map(str::parse::<u64>) {
            Some(Ok(n)) if n <= 3650 => ahead(n),
            _ => chrono::NaiveDate::parse_from_str(other, "%Y-%m-%d")
                .with_context(|| format!("'{other}' is not a day: write YYYY-MM-DD, today, tomorrow or today+N")),
        },
    }
}

/// An instant as people type it: RFC 3339 (`2026-12-02T11:00:00Z`), or a local
/// `YYYY-MM-DD HH:MM` / `today HH:MM` / `tomorrow HH:MM` in `tz`.
fn local_instant(text: &str, tz: chrono_tz::Tz) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (day, clock) = text.trim().rsplit_once([' ', 'T']).with_context(|| {
        format!("'{text}' is not an instant: write 2026-12-02T11:00:00Z, or local '2026-12-02 19:00', 'tomorrow 19:00', 'today+2 19:00'")
    })?;
    let day = local_day(day, tz)?;
    let clock = chrono::NaiveTime::parse_from_str(clock, "%H:%M").with_context(|| format!("'{clock}' is not a clock time HH:MM"))?;
    tz.from_local_datetime(&day.and_time(clock))
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .with_context(|| format!("{day} {clock} does not exist in {tz}"))
}

/// The zone the CLI reads local days and times in: the Xinyang plant's (VPP_TZ overrides).
fn cli_zone() -> chrono_tz::Tz {
    std::env::var("VPP_TZ").ok().and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::Tz::Asia__Shanghai)
}

#[derive(Subcommand)]
enum ClientCall {
    /// Re-plan the rest of a published day from a local time (operators).
    Replan {
        /// Local delivery day.
        #[arg(long)]
        day: String,
        /// From when: RFC 3339, or local 'YYYY-MM-DD HH:MM' / 'tomorrow 12:00'.
        #[arg(long)]
        from: String,
        /// Storage levels at `from`, `name=green_mwh/grey_mwh` (repeatable); others keep the
        /// latest schedule's.
        #[arg(long = "level")]
        levels: Vec<String>,
        /// A new forecast (JSON) covering from `from` to the end of the day; default: the
        /// stored one, cut.
        #[arg(long)]
        forecast: Option<PathBuf>,
    },
    /// The published schedule versions of a day range (operators).
    Schedules {
        /// First day.
        #[arg(long)]
        day: String,
        /// Last day (inclusive).
        #[arg(long)]
        to: Option<String>,
    },
    /// Write the exact inputs a schedule version was solved from (operators): plant.toml,
    /// forecast.json and options.json in a directory, and print their SHA-256.
    Inputs {
        /// Local delivery day.
        #[arg(long)]
        day: String,
        /// Version; 0 for the latest.
        #[arg(long, default_value_t = 0)]
        version: u32,
        /// Directory to write the three files into.
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Follow the schedules published for a day range as they come (operators).
    WatchSchedules {
        /// First day.
        #[arg(long)]
        day: String,
        /// Last day (inclusive).
        #[arg(long)]
        to: Option<String>,
        /// Stop after this many (default: until the server ends the stream).
        #[arg(long)]
        count: Option<usize>,
    },
    /// Follow your awards for a day as schedules clear it (bots; operators: all).
    WatchAwards {
        /// Local delivery day.
        #[arg(long)]
        day: String,
        /// Stop after this many (default: until the server ends the stream).
        #[arg(long)]
        count: Option<usize>,
    },
    /// Amend one of your bids before its gate closure (bots); an option left out keeps its value.
    Amend {
        /// The bid's id.
        #[arg(long)]
        id: String,
        /// New quantity, MW.
        #[arg(long)]
        mw: Option<f64>,
        /// New limit price, yuan/MWh.
        #[arg(long)]
        price: Option<f64>,
    },
    /// Cancel one of your bids before its gate closure (bots).
    Cancel {
        /// The bid's id.
        #[arg(long)]
        id: String,
    },
    /// The bids of a delivery day (bots: their own; operators: all).
    ListBids {
        /// Local delivery day.
        #[arg(long)]
        day: String,
    },
    /// The plant's green share by hour (operators and park managers).
    PlantShare {
        /// First day.
        #[arg(long)]
        day: String,
        /// Last day (inclusive).
        #[arg(long)]
        to: Option<String>,
    },
    /// Solve and publish the day-ahead schedule of a delivery day (operators).
    DayAhead {
        /// Local delivery day, YYYY-MM-DD.
        #[arg(long)]
        day: String,
        /// Forecast file (JSON) covering the day.
        #[arg(long)]
        forecast: PathBuf,
        /// green-share, green-energy or cost.
        #[arg(long, default_value = "green-share")]
        objective: Objective,
        /// Plan over the forecast's scenarios (or quantiles) and commit the day to that
        /// plan's first stage (grid positions, interruption notices, awards).
        #[arg(long)]
        stochastic: bool,
        /// Real-time imbalance premium of a stochastic day-ahead, yuan/MWh (default 100).
        #[arg(long, requires = "stochastic")]
        imbalance_premium: Option<f64>,
        /// Stochastic day-ahead: weight W in [0, 1] of the cost's CVaR.
        #[arg(long, requires = "stochastic", default_value_t = 0.0)]
        cvar_weight: f64,
        /// Stochastic day-ahead: α of that CVaR (default 0.9).
        #[arg(long, requires = "stochastic")]
        cvar_alpha: Option<f64>,
        /// Stochastic day-ahead: a green share the worst 10 % of the probability must reach.
        #[arg(long, requires = "stochastic")]
        p10_min_share: Option<f64>,
    },
    /// Read a published schedule's totals and shares (operators).
    Schedule {
        /// Local delivery day.
        #[arg(long)]
        day: String,
        /// Version; 0 for the latest.
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// A park's green share by hour (park managers: their own park).
    Share {
        /// Park.
        #[arg(long)]
        park: String,
        /// First day.
        #[arg(long)]
        day: String,
        /// Last day (inclusive).
        #[arg(long)]
        to: Option<String>,
    },
    /// Send a readings file (CSV, as `vpp meter simulate` writes it) to the service in
    /// batches of 10,000 (meters); with --reason every reading is a correction.
    Readings {
        /// Plant file the readings are read against (TOML).
        #[arg(long, default_value = "models/xinyang.toml")]
        model: PathBuf,
        /// Readings file (CSV: interval_start,meter,quantity,value_mwh).
        #[arg(long)]
        file: PathBuf,
        /// The reason of a correction, for every reading of the file.
        #[arg(long)]
        reason: Option<String>,
    },
    /// A park's measured ledger by month (park managers: their own park).
    Ledger {
        /// Park.
        #[arg(long)]
        park: String,
        /// First day.
        #[arg(long)]
        day: String,
        /// Last day (inclusive).
        #[arg(long)]
        to: Option<String>,
        /// Months and years only, without the range's intervals and certificates.
        #[arg(long)]
        statement_only: bool,
    },
    /// Submit a bid (bots).
    Bid {
        /// Your id for the bid.
        #[arg(long)]
        id: String,
        /// Node.
        #[arg(long)]
        node: String,
        /// Start of the market hour: RFC 3339, or local '2026-12-02 19:00' / 'tomorrow 19:00'.
        #[arg(long)]
        at: String,
        /// For a curtail bid at a node with several parks: the park whose load is reduced.
        #[arg(long)]
        park: Option<String>,
        /// sell, buy or curtail.
        #[arg(long)]
        side: String,
        /// MW.
        #[arg(long)]
        mw: f64,
        /// Limit price, yuan/MWh.
        #[arg(long)]
        price: f64,
        /// Green (sell only).
        #[arg(long)]
        green: bool,
    },
}

#[derive(Subcommand)]
enum LoadKind {
    /// Submit green sell bids (each acknowledged durably) for one delivery day.
    Bids {
        /// Bot token(s), comma-separated; bids are spread over them.
        #[arg(long, env = "VPP_TOKEN", hide_env_values = true, value_delimiter = ',')]
        token: Vec<String>,
        /// Bids to submit.
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        /// Delivery day (default: a week from today, well before gate closure).
        #[arg(long)]
        day: Option<chrono::NaiveDate>,
        /// Node of the bids.
        #[arg(long, default_value = "shihe")]
        node: String,
        /// Plant file, for its time zone.
        #[arg(long, default_value = "models/xinyang.toml")]
        model: PathBuf,
    },
    /// Request day-ahead schedules, each for a delivery day with no schedule yet.
    Solves {
        /// Operator token.
        #[arg(long, env = "VPP_TOKEN", hide_env_values = true)]
        token: String,
        /// Solves to request.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// A one-day forecast, moved onto each delivery day.
        #[arg(long, default_value = "fixtures/forecasts/summer-peak-60.json")]
        forecast: PathBuf,
        /// green-share, green-energy or cost.
        #[arg(long, default_value = "green-share")]
        objective: Objective,
        /// First delivery day to try (default: a year from today); days already scheduled are skipped.
        #[arg(long)]
        from_day: Option<chrono::NaiveDate>,
        /// Plant file, for its time zone.
        #[arg(long, default_value = "models/xinyang.toml")]
        model: PathBuf,
    },
    /// Read a park's hourly green share.
    Shares {
        /// Operator or park-manager token.
        #[arg(long, env = "VPP_TOKEN", hide_env_values = true)]
        token: String,
        /// Park.
        #[arg(long)]
        park: String,
        /// A delivery day with a published schedule: YYYY-MM-DD, today, tomorrow or today+N.
        #[arg(long)]
        day: String,
        /// Queries to make.
        #[arg(long, default_value_t = 20_000)]
        count: usize,
    },
}

#[derive(Subcommand)]
enum MeterCommand {
    /// Play a schedule (`vpp solve --json`) back as the readings its meters would give, with
    /// noise on renewable output and park consumption and some readings dropped.
    Simulate {
        /// Plant file (TOML).
        #[arg(long)]
        model: PathBuf,
        /// Schedule file (JSON, from `vpp solve --json`).
        #[arg(long)]
        schedule: PathBuf,
        /// Seed of the noise and of which readings are dropped.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Relative error bound on renewable output and park consumption (0.05 = ±5 %).
        #[arg(long, default_value_t = 0.05)]
        noise: f64,
        /// Park consumption readings left missing.
        #[arg(long, default_value_t = 1)]
        drop: usize,
        /// Late corrections: this many park consumption readings sent again afterwards with
        /// another value (±1–5 %) and a reason.
        #[arg(long, default_value_t = 0)]
        late: usize,
        /// Write the readings (CSV) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the late corrections (CSV) here.
        #[arg(long)]
        late_out: Option<PathBuf>,
        /// Publish the readings, then the late corrections, to this MQTT broker
        /// (`mqtt://host:port`) as meters would, at QoS 1.
        #[arg(long)]
        mqtt: Option<String>,
        /// Topic prefix for --mqtt: readings go to `{topic}/{quantity}/{meter}`.
        #[arg(long, default_value = "vpp/meters")]
        topic: String,
    },
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Store a sweep and its items (queued) in PostgreSQL for `vpp worker`s; planning the
    /// same name again with the same spec changes nothing, with another is refused.
    Plan {
        /// PostgreSQL URL (postgres://…).
        #[arg(long, env = "VPP_DATABASE", hide_env_values = true)]
        database: String,
        /// The sweep's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        spec: vpp_dispatch::sweep::SpecInput,
    },
    /// A planned sweep's totals per plant, seed pair and policy, and its items done and queued.
    Results {
        /// PostgreSQL URL (postgres://…).
        #[arg(long, env = "VPP_DATABASE", hide_env_values = true)]
        database: String,
        /// The sweep's name.
        #[arg(long)]
        name: String,
        /// Write the whole report (every item's days) as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Run a sweep in this process, no database (its items on every core).
    Run {
        #[command(flatten)]
        spec: vpp_dispatch::sweep::SpecInput,
        /// Write the whole report (every item's days) as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. } | Command::Worker { .. }) {
        // A one-shot command whose reader goes away (`vpp solve … | head`) ends quietly, as
        // Unix tools do, instead of panicking on a closed pipe. (Rust ignores SIGPIPE.)
        // SAFETY: setting a signal's disposition to its default at start, before any
        // thread is spawned, has no preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // The service and a worker log what they do (info); one-shot commands only what went wrong.
    let default = if matches!(cli.command, Command::Serve { .. } | Command::Worker { .. }) { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    // Colour only on a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if std::env::var("VPP_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Client { addr, token, json, call } => client::run(addr, token, json, call),
        Command::Load { addr, concurrency, connections, json, kind } => load(addr, concurrency, connections, json, kind),
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
            plot,
            plot_park,
            stochastic,
            scenarios,
            imbalance_premium,
            cvar_weight,
            cvar_alpha,
            p10_min_share,
            window_days,
            guide_minutes,
        } => {
            let plant = Plant::load(&plant_path)?;
            if let Some(park) = &plot_park {
                if !plant.parks.iter().any(|p| &p.name == park) {
                    let names: Vec<&str> = plant.parks.iter().map(|p| p.name.as_str()).collect();
                    anyhow::bail!("--plot-park: no park named '{park}' in plant {} (parks: {})", plant.name, names.join(", "));
                }
            }
            let mut forecast = Forecast::load(&forecast)?;
            if let Some(path) = bids {
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read bids file {}", path.display()))?;
                let extra: Vec<Bid> =
                    serde_json::from_str(&text).with_context(|| format!("bids file {} is not a JSON array of bids", path.display()))?;
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
                risk: model::Risk { cvar_weight, cvar_alpha, p10_min_share },
                ..Options::default()
            };
            if stochastic || scenarios.is_some() {
                if let Some(path) = &scenarios {
                    let other = Forecast::load(path)?;
                    if (other.start, other.interval_minutes, other.intervals)
                        != (forecast.start, forecast.interval_minutes, forecast.intervals)
                    {
                        anyhow::bail!(
                            "--scenarios: {} covers {} × {} min from {}, the forecast {} × {} min from {}",
                            path.display(),
                            other.intervals,
                            other.interval_minutes,
                            other.start,
                            forecast.intervals,
                            forecast.interval_minutes,
                            forecast.start
                        );
                    }
                    if other.scenarios.is_empty() && other.quantiles.is_none() {
                        anyhow::bail!("--scenarios: {} holds neither scenarios nor quantiles", path.display());
                    }
                    forecast.scenarios = other.scenarios;
                    forecast.quantiles = other.quantiles;
                }
                let plan = model::solve_stochastic(&plant, &forecast, &options, imbalance_premium)?;
                print!("{}", vpp_dispatch::cli::stochastic_summary(&plant, &plan));
                if let Some(path) = json {
                    let text = serde_json::to_string_pretty(&plan)?;
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
                }
                return Ok(());
            }
            if let Some(path) = mps {
                let text = model::export_mps(&plant, &forecast, &options)?;
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            }
            let schedule = match window_days {
                Some(window_days) => model::solve_rolling(&plant, &forecast, &options, model::Rolling { window_days, guide_minutes })?,
                None => model::solve(&plant, &forecast, &options)?,
            };
            print!("{}", vpp_dispatch::cli::summary(&plant, &schedule));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&schedule)?;
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            }
            if let Some(path) = plot {
                vpp_dispatch::plot::schedule_svg(&path, &schedule, plant.tz(), plot_park.as_deref())?;
            }
            Ok(())
        }
        Command::Backtest {
            model: plant_path,
            forecast,
            day,
            days,
            interval,
            policy,
            objective,
            backend,
            scenarios,
            reduce,
            seed,
            truth_seed,
            truth,
            imbalance_premium,
            json,
            plot,
            cold_starts,
        } => {
            use vpp_dispatch::backtest::{self, Policy};
            let plant = Plant::load(&plant_path)?;
            anyhow::ensure!(days.is_none_or(|d| (1..=MAX_BACKTEST_DAYS).contains(&d)), "--days must lie in 1..={MAX_BACKTEST_DAYS}");
            let point = match (&forecast, day) {
                (Some(path), _) => {
                    let f = Forecast::load(path)?;
                    match days {
                        Some(n) => {
                            let per_day = 1440 / f.interval_minutes.max(1) as usize;
                            f.window(0, n.saturating_mul(per_day))
                        }
                        None => f,
                    }
                }
                (None, Some(kind)) => {
                    anyhow::ensure!(interval > 0 && 1440 % interval == 0, "--interval must divide a day (15, 30, 60, …), got {interval}");
                    synth::generate(&plant, kind, interval, days.unwrap_or(7))
                }
                (None, None) => anyhow::bail!("give --forecast FILE or --day KIND"),
            };
            let policies = match policy.trim() {
                "both" => Policy::ALL.to_vec(),
                one => vec![one.parse::<Policy>().map_err(|e| anyhow::anyhow!("--policy: {e}, or both"))?],
            };
            let spec = backtest::Spec {
                policies,
                options: Options { objective, backend, ..Options::default() },
                premium: imbalance_premium,
                scenarios,
                reduce,
                seed,
                truth_seed,
                truth: truth.as_deref().map(Forecast::load).transpose()?.map(|t| t.window(0, point.intervals)),
                warm_starts: !cold_starts,
                ..backtest::Spec::default()
            };
            let progress = |policy: &str, d: &backtest::Day| {
                tracing::info!(policy, day = %d.day, share = d.figures.green_share, imbalance_mwh = d.figures.imbalance_mwh, "day lived");
            };
            let report = backtest::run(&plant, &point, &spec, &progress)?;
            print!("{}", vpp_dispatch::cli::backtest_summary(&report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report)?;
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            }
            if let Some(path) = plot {
                vpp_dispatch::plot::backtest_svg(&path, &report)?;
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
                "{}: ok ({} nodes, {} lines, {} wind, {} pv, {} storage, {} parks, {} behind a park's meter)",
                plant_path.display(),
                plant.nodes.len(),
                plant.lines.len(),
                plant.wind.len(),
                plant.pv.len(),
                plant.storage.len(),
                plant.parks.len(),
                plant.renewables().filter(|(_, r)| r.park.is_some()).count() + plant.storage.iter().filter(|s| s.park.is_some()).count()
            );
            Ok(())
        }
        Command::Meter {
            action: MeterCommand::Simulate { model: plant_path, schedule, seed, noise, drop, late, out, late_out, mqtt, topic },
        } => {
            anyhow::ensure!(out.is_some() || mqtt.is_some(), "give --out FILE, --mqtt URL or both: the readings must go somewhere");
            anyhow::ensure!(late_out.is_none() || late > 0, "--late-out needs --late N (N > 0)");
            let plant = Plant::load(&plant_path)?;
            let text = std::fs::read_to_string(&schedule).with_context(|| format!("cannot read schedule {}", schedule.display()))?;
            let s: vpp_dispatch::domain::Schedule = serde_json::from_str(&text)
                .with_context(|| format!("schedule {} is not a schedule (vpp solve --json)", schedule.display()))?;
            let sim = vpp_dispatch::ledger::Simulation { seed, noise, dropped: drop };
            let readings =
                vpp_dispatch::ledger::simulate(&plant, &s, &sim).map_err(|e| anyhow::anyhow!("schedule {}: {e}", schedule.display()))?;
            let corrections = vpp_dispatch::ledger::late_corrections(&plant, &readings, seed, late);
            if let Some(out) = &out {
                std::fs::write(out, vpp_dispatch::ledger::readings_to_csv(&readings))
                    .with_context(|| format!("cannot write {}", out.display()))?;
                println!(
                    "{}: {} intervals of {} min from {}",
                    out.display(),
                    readings.intervals,
                    readings.interval_minutes,
                    readings.start.to_rfc3339()
                );
            }
            if let Some(path) = &late_out {
                std::fs::write(path, vpp_dispatch::ledger::readings_to_csv(&corrections))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("{}: {late} late corrections", path.display());
            }
            if let Some(url) = mqtt {
                let wire = vpp_dispatch::service::MeterReading::all_of;
                let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
                let client_id = format!("vpp-simulate-{}", std::process::id());
                let (sent, fixed) = runtime.block_on(async {
                    let sent = vpp_dispatch::mqtt::publish(&url, &topic, &client_id, &wire(&readings, None)).await;
                    let sent = sent.map_err(|e| anyhow::anyhow!("--mqtt: {e}"))?;
                    let fixed = match late {
                        0 => 0,
                        _ => {
                            vpp_dispatch::mqtt::publish(&url, &topic, &client_id, &wire(&corrections, Some("late meter data (simulated)")))
                                .await
                                .map_err(|e| anyhow::anyhow!("--mqtt: {e}"))?
                        }
                    };
                    anyhow::Ok((sent, fixed))
                })?;
                println!("{url}: {sent} messages of readings and {fixed} of late corrections acknowledged by the broker under {topic}/");
            }
            Ok(())
        }
        Command::Ledger { model: plant_path, readings, interval, park, certificates, statement, grid_factor } => {
            ledger(plant_path, readings, interval, park, certificates, statement, grid_factor)
        }
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&schemars::schema_for!(vpp_dispatch::domain::Schedule))?);
            Ok(())
        }
        Command::Forecast { model: plant_path, day, point, scenarios, seed, reduce, as_quantiles, interval, days, date, out } => {
            let plant = Plant::load(&plant_path)?;
            anyhow::ensure!(interval > 0 && 1440 % interval == 0, "--interval must divide a day (15, 30, 60, …), got {interval}");
            anyhow::ensure!(days > 0, "--days must be at least 1");
            anyhow::ensure!(reduce.is_none() || scenarios > 0, "--reduce needs --scenarios N");
            anyhow::ensure!(!as_quantiles || scenarios > 0, "--as-quantiles needs --scenarios N");
            anyhow::ensure!(reduce != Some(0), "--reduce must be at least 1");
            let mut forecast = match (day, &point) {
                (Some(day), _) => synth::generate(&plant, day, interval, days),
                (None, Some(path)) => {
                    let f = Forecast::load(path)?;
                    f.validate(&plant).map_err(|e| anyhow::anyhow!("forecast {}:\n{e}", path.display()))?;
                    f
                }
                (None, None) => anyhow::bail!("give --day KIND or --point FILE"),
            };
            if scenarios > 0 {
                let model = vpp_dispatch::scenarios::ErrorModel::default();
                let drawn = vpp_dispatch::scenarios::generate(&plant, &forecast, &model, scenarios, seed)
                    .map_err(|e| anyhow::anyhow!("--scenarios: {e}"))?;
                forecast.scenarios = match reduce {
                    Some(k) => vpp_dispatch::scenarios::reduce(&plant, &forecast, &drawn, k),
                    None => drawn,
                };
                forecast.quantiles = None;
                if as_quantiles {
                    forecast.quantiles = Some(vpp_dispatch::scenarios::quantiles(&forecast.scenarios));
                    forecast.scenarios = Vec::new();
                }
            }
            if let Some(date) = date {
                // The representative day's shapes, moved onto the local day asked for.
                let date = local_day(&date, plant.tz())?;
                forecast.start = vpp_dispatch::domain::local_midnight(plant.tz(), date);
                forecast.description = format!("{} (moved onto {date})", forecast.description);
            }
            let text = serde_json::to_string_pretty(&forecast)?;
            match out {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(())
        }
        Command::Sweep { action } => {
            use vpp_dispatch::sweep::{self, queue::Planned, queue::Queue, SweepReport};
            let refused = |e: vpp_dispatch::domain::ValidationErrors| anyhow::anyhow!("the sweep is refused:\n{e}");
            let write = |path: &PathBuf, report: &SweepReport| -> anyhow::Result<()> {
                std::fs::write(path, serde_json::to_string_pretty(report)?).with_context(|| format!("cannot write {}", path.display()))
            };
            let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
            match action {
                SweepCommand::Run { spec, json } => {
                    let sweep = spec.into_sweep().map_err(refused)?;
                    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                    let progress = |i: &sweep::ItemSpec, r: &sweep::ItemResult| {
                        tracing::info!(item = i.number, plant = %i.plant, policy = i.policy.name(), from = %i.from, share = r.outcome.total.green_share, "item done");
                    };
                    let report = SweepReport::local(sweep::run_local(&sweep, threads, &progress)?);
                    print!("{}", report.text());
                    json.map_or(Ok(()), |path| write(&path, &report))
                }
                SweepCommand::Plan { database, name, spec } => {
                    let sweep = spec.into_sweep().map_err(refused)?;
                    runtime()?.block_on(async {
                        let queue = Queue::open(&database).await?;
                        let planned = queue.plan(&name, &sweep).await;
                        queue.close().await;
                        match planned? {
                            Planned::Created { id, items } => println!("sweep {name} (id {id}): {items} items queued"),
                            Planned::Existing { id, items, done } => {
                                println!("sweep {name} (id {id}) was planned already with this spec: {items} items, {done} done")
                            }
                        }
                        anyhow::Ok(())
                    })
                }
                SweepCommand::Results { database, name, json } => {
                    let report = runtime()?.block_on(async {
                        let queue = Queue::open(&database).await?;
                        let report = queue.report(&name).await;
                        queue.close().await;
                        report
                    })?;
                    print!("{}", report.text());
                    json.map_or(Ok(()), |path| write(&path, &report))
                }
            }
        }
        Command::Worker { database, name, until_empty, poll } => {
            use vpp_dispatch::sweep::queue::{self, WorkerOptions};
            anyhow::ensure!(poll.is_finite() && (0.1..=3600.0).contains(&poll), "--poll must lie in [0.1, 3600] seconds, got {poll}");
            let options = WorkerOptions {
                name: name.unwrap_or_else(queue::default_worker_name),
                until_empty,
                poll: std::time::Duration::from_secs_f64(poll),
            };
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
                queue::work(&database, &options, queue::on_signals()).await?;
                anyhow::Ok(())
            })
        }
    }
}

fn load(addr: String, concurrency: usize, connections: usize, json: Option<PathBuf>, kind: LoadKind) -> anyhow::Result<()> {
    use vpp_dispatch::loadgen::{self as load, BidLoad, Driver, ShareLoad, SolveLoad};
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async move {
        let driver = Driver::connect(&addr, connections, concurrency).await?;
        let today = chrono::Utc::now().date_naive();
        let report = match kind {
            LoadKind::Bids { token, count, day, node, model } => {
                let plant = Plant::load(&model)?;
                let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
                let prefix = format!("load-{nanos:x}");
                let day = day.unwrap_or(today + chrono::Days::new(7));
                load::bids(&driver, BidLoad { tokens: token, day, tz: plant.tz(), node, prefix, count }).await?
            }
            LoadKind::Solves { token, count, forecast, objective, from_day, model } => {
                let plant = Plant::load(&model)?;
                let forecast = Forecast::load(&forecast)?;
                let from = from_day.unwrap_or(today + chrono::Days::new(365));
                let days = load::free_days(&driver, &token, from, count).await?;
                load::solves(&driver, SolveLoad { token, forecast, tz: plant.tz(), days, objective: objective.into() }).await?
            }
            LoadKind::Shares { token, park, day, count } => {
                let day = local_day(&day, cli_zone())?;
                load::shares(&driver, ShareLoad { token, park, day, count }).await?
            }
        };
        anyhow::Ok(report)
    })?;
    println!("{report}");
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", path.display()))?;
    }
    anyhow::ensure!(report.ok == report.calls, "{} of {} calls failed", report.calls - report.ok, report.calls);
    Ok(())
}

fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    use vpp_dispatch::server::{self, Listeners, RawConfig};
    let config = RawConfig::load(config.as_deref(), |k| std::env::var(k).ok())?.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listeners = Listeners::bind(&config).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        };
        server::run(config, listeners, shutdown).await?;
        Ok(())
    })
}

mod client;

/// `vpp ledger`: readings → certificates → statements, printed and written.
fn ledger(
    plant_path: PathBuf,
    readings: PathBuf,
    interval: Option<u32>,
    park: Option<String>,
    certificates: Option<PathBuf>,
    statement: Option<PathBuf>,
    grid_factor: f64,
) -> anyhow::Result<()> {
    use vpp_dispatch::ledger::{self, Destination, Ledger, StatementOptions, StorageState};
    let plant = Plant::load(&plant_path)?;
    anyhow::ensure!(
        grid_factor.is_finite() && (0.0..=5.0).contains(&grid_factor),
        "--grid-factor must lie in [0, 5] t/MWh, got {grid_factor}"
    );
    if let Some(p) = &park {
        anyhow::ensure!(plant.parks.iter().any(|x| &x.name == p), "--park: no park named '{p}' in plant {}", plant.name);
    }
    let text = std::fs::read_to_string(&readings).with_context(|| format!("cannot read readings {}", readings.display()))?;
    let name = readings.display().to_string();
    let r = ledger::readings_from_csv(&plant, &name, &text, interval).map_err(|e| anyhow::anyhow!("readings {name} are refused:\n{e}"))?;
    let built = Ledger::build(&plant, r, StorageState::unread(&plant))
        .map_err(|e| anyhow::anyhow!("readings {name} do not fit plant {}:\n{e}", plant.name))?;
    let statements = built.statement(&plant, &StatementOptions { grid_factor_t_per_mwh: grid_factor });
    let (mut issued, mut count, mut exported, mut unallocated) = (0u64, 0usize, 0u64, 0u64);
    for c in built.certificates() {
        issued += c.wh;
        count += 1;
        for p in &c.placements {
            match p.to {
                Destination::Exported { .. } => exported += p.wh,
                Destination::Unallocated => unallocated += p.wh,
                _ => {}
            }
        }
    }
    let mwh = |wh: u64| wh as f64 / ledger::WH_PER_MWH as f64;
    println!(
        "{}: {count} certificates, {:.3} MWh green issued; {:.3} MWh exported, {:.3} MWh unallocated",
        plant.name,
        mwh(issued),
        mwh(exported),
        mwh(unallocated)
    );
    for s in statements.iter().filter(|s| park.as_ref().is_none_or(|p| *p == s.park)) {
        println!("{}", s.park);
        for m in &s.months {
            let share = m.share.map_or_else(|| "-".to_string(), |x| format!("{:.2} %", 100.0 * x));
            println!(
                "  {:04}-{:02}: consumed {:.3} MWh, green {:.3} MWh (own {:.3}, pool {:.3}), hourly-matched {share}, {} GEC (carried {:.3} MWh), Scope 2 {:.2} t location / {:.2} t market, {} missing intervals",
                m.year,
                m.month,
                mwh(m.consumption_wh),
                mwh(m.cancelled_wh()),
                mwh(m.own_wh),
                mwh(m.pool_wh),
                m.gec_issued,
                mwh(m.carried_wh),
                m.location_based_t,
                m.market_based_t,
                m.missing_intervals
            );
        }
    }
    if let Some(path) = certificates {
        std::fs::write(&path, ledger::certificates_csv(&built)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = statement {
        std::fs::write(&path, ledger::statement_csv(&statements)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
