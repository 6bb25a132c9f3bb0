//! Shared by `benches/dispatch.rs` and `examples/bench_report.rs`: the benchmark cases
//! (Xinyang plant, synthetic forecasts) and "HiGHS alone" on MPS files.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use vpp_dispatch::domain::{Forecast, Plant};
use vpp_dispatch::model::{Objective, Options};
use vpp_dispatch::synth::{generate, DayKind};

/// One benchmark case.
pub struct Case {
    pub name: &'static str,
    pub forecast: Forecast,
    pub options: Options,
}

pub fn plant() -> Plant {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/xinyang.toml");
    Plant::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn green_share() -> Options {
    Options::default()
}

pub fn cost() -> Options {
    Options { objective: Objective::Cost, ..Options::default() }
}

pub fn day_ahead_60(plant: &Plant) -> Case {
    Case { name: "day-ahead 60 min, green-share", forecast: generate(plant, DayKind::SummerPeak, 60, 1), options: green_share() }
}

pub fn day_ahead_15(plant: &Plant) -> Case {
    Case { name: "day-ahead 15 min, green-share", forecast: generate(plant, DayKind::SummerPeak, 15, 1), options: green_share() }
}

pub fn week_60(plant: &Plant) -> Case {
    Case { name: "week 60 min, green-share", forecast: generate(plant, DayKind::SummerPeak, 60, 7), options: green_share() }
}

pub fn year_60(plant: &Plant) -> Case {
    Case { name: "year 60 min, cost", forecast: year(plant), options: cost() }
}

pub fn all(plant: &Plant) -> Vec<Case> {
    vec![day_ahead_60(plant), day_ahead_15(plant), week_60(plant), year_60(plant)]
}

/// A calendar year 2026 of hourly intervals (8760) from local midnight of 1 January,
/// stitched from the generator's seasons: January–February and December windy-winter,
/// March–May and September–November spring-valley, June–August summer-peak. Each season
/// is one multi-day run of `synth::generate` (so wind, clouds and load vary from day to
/// day within it); the run for a season starts at its kind's representative date, so the
/// solar geometry is that of a date up to ~7 weeks off the calendar date — irrelevant to
/// the LP's size and structure, and the demand/wind/PV levels follow the seasons.
pub fn year(plant: &Plant) -> Forecast {
    const DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let season = |month: usize| match month {
        0 | 1 | 11 => DayKind::WindyWinter,
        5..=7 => DayKind::SummerPeak,
        _ => DayKind::SpringValley,
    };
    let mut need = std::collections::BTreeMap::<&str, usize>::new();
    for (m, d) in DAYS.iter().enumerate() {
        *need.entry(season(m).as_str()).or_default() += *d as usize;
    }
    let runs: Vec<(DayKind, Forecast)> = DayKind::ALL.iter().map(|&k| (k, generate(plant, k, 60, need[k.as_str()]))).collect();
    let mut used = std::collections::BTreeMap::<&str, usize>::new();
    let jan1 = generate(plant, DayKind::WindyWinter, 60, 1);
    let mut out = jan1.clone();
    // Local midnight of 1 January 2026 (the winter run starts at local midnight of 14 January).
    out.start = jan1.start - chrono::Duration::days(13);
    out.intervals = 0;
    for v in out.availability.values_mut().chain(out.demand_mw.values_mut()).chain(out.inflow_mwh.values_mut()) {
        v.clear();
    }
    for (m, d) in DAYS.iter().enumerate() {
        let kind = season(m);
        let src = &runs.iter().find(|(k, _)| *k == kind).unwrap().1;
        let from = used.entry(kind.as_str()).or_default();
        let (a, b) = (*from * 24, (*from + *d as usize) * 24);
        *from += *d as usize;
        for (name, v) in out.availability.iter_mut() {
            v.extend_from_slice(&src.availability[name][a..b]);
        }
        for (name, v) in out.demand_mw.iter_mut() {
            v.extend_from_slice(&src.demand_mw[name][a..b]);
        }
        for (name, v) in out.inflow_mwh.iter_mut() {
            v.extend_from_slice(&src.inflow_mwh[name][a..b]);
        }
        out.intervals += b - a;
    }
    assert_eq!(out.intervals, 8760);
    out.description = format!(
        "Synthetic hourly year 2026 for plant {}: windy-winter (Jan, Feb, Dec), spring-valley (Mar–May, Sep–Nov), \
         summer-peak (Jun–Aug), stitched from multi-day synth::generate runs (benches/common/mod.rs).",
        plant.name
    );
    out
}

/// HiGHS alone on one MPS file: a fresh instance, `output_flag` off, `threads` 1 (as our
/// solver sets), presolve default; read the file and run.
#[derive(Debug, Clone, Copy, Default)]
pub struct HighsAlone {
    /// Create + options + read the MPS file.
    pub read_ms: f64,
    /// `Highs_run`.
    pub run_ms: f64,
    /// Whole call, including destroy.
    pub total_ms: f64,
    pub objective: f64,
    /// `kHighsModelStatusOptimal` is 7.
    pub model_status: i32,
}

pub fn highs_alone(path: &Path) -> HighsAlone {
    use highs_sys::*;
    let file = CString::new(path.to_str().expect("utf-8 temp path")).unwrap();
    let started = Instant::now();
    unsafe {
        let h = Highs_create();
        Highs_setBoolOptionValue(h, c"output_flag".as_ptr(), 0);
        Highs_setIntOptionValue(h, c"threads".as_ptr(), 1);
        let status = Highs_readModel(h, file.as_ptr());
        assert!(status != kHighsStatusError, "HiGHS could not read {}", path.display());
        let read = started.elapsed();
        let status = Highs_run(h);
        let run = started.elapsed() - read;
        assert!(status != kHighsStatusError, "HiGHS failed on {}", path.display());
        let objective = Highs_getObjectiveValue(h);
        let model_status = Highs_getModelStatus(h);
        Highs_destroy(h);
        HighsAlone {
            read_ms: read.as_secs_f64() * 1e3,
            run_ms: run.as_secs_f64() * 1e3,
            total_ms: started.elapsed().as_secs_f64() * 1e3,
            objective,
            model_status: model_status as i32,
        }
    }
}

/// Writes each MPS text to its own file in a fresh temporary directory.
pub struct MpsFiles {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

impl MpsFiles {
    pub fn write(tag: &str, lps: &[String]) -> MpsFiles {
        let dir = std::env::temp_dir().join(format!("vpp-bench-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let files = lps
            .iter()
            .enumerate()
            .map(|(k, text)| {
                let p = dir.join(format!("lp{k:02}.mps"));
                std::fs::write(&p, text).expect("write MPS");
                p
            })
            .collect();
        MpsFiles { dir, files }
    }
}

impl Drop for MpsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
