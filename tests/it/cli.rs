//! The `vpp` command as a user runs it: exit codes, what it prints, the JSON it writes.

use std::process::{Command, Output};

use vpp_dispatch::domain::{Forecast, Plant, Schedule};

use crate::checker::{assert_valid, Asked};
use crate::repo;

fn vpp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpp")).args(args).current_dir(repo("")).output().expect("vpp runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_accepts_the_xinyang_plant_and_its_fixtures() {
    let out = vpp(&["check", "models/xinyang.toml", "--forecast", "fixtures/forecasts/summer-peak-15.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("models/xinyang.toml: ok (10 nodes"), "{}", text(&out.stdout));
}

#[test]
fn check_reports_every_problem_and_exits_non_zero() {
    let dir = std::env::temp_dir().join(format!("vpp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    let good = std::fs::read_to_string(repo("models/xinyang.toml")).unwrap();
    let broken = good.replacen("eta_pump = 0.8803", "eta_pump = 1.8803", 1).replacen("import_cap_mw = 2500", "import_cap_mw = -2500", 1);
    assert_ne!(broken, good, "the edits apply");
    std::fs::write(&bad, broken).unwrap();
    let out = vpp(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("has 2 problem(s)"), "{err}");
    assert!(err.contains("pumped_hydro[wuyue].eta_pump: an efficiency must lie in (0, 1], got 1.8803"), "{err}");
    assert!(err.contains("grid[henan_grid].import_cap_mw: must not be negative"), "{err}");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn solve_prints_a_summary_and_writes_a_schedule_that_checks() {
    let json = std::env::temp_dir().join(format!("vpp-cli-schedule-{}.json", std::process::id()));
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/spring-valley-60.json",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    for want in ["green share", "certificates", "CO2", "huangchuan_zero_carbon", "wuyue", "hour (MW)", "11:00"] {
        assert!(summary.contains(want), "summary lacks {want:?}:\n{summary}");
    }
    let schedule: Schedule = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let plant = Plant::load(repo("models/xinyang.toml")).unwrap();
    let fc = Forecast::load(repo("fixtures/forecasts/spring-valley-60.json")).unwrap();
    assert_valid(&plant, &fc, &Asked::default(), &schedule);
    assert!(summary.contains(&format!("{:.2} %", schedule.totals.green_share * 100.0)));
}

#[test]
fn solve_rejects_unknown_objective_and_missing_files() {
    let out = vpp(&["solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/forecasts/spring-valley-60.json", "--objective", "cheap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown objective 'cheap'"), "{}", text(&out.stderr));
    let out = vpp(&["solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/nope.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read forecast file fixtures/nope.json"), "{}", text(&out.stderr));
}

#[test]
fn forecast_command_remakes_the_fixtures_exactly() {
    let out = vpp(&["forecast", "--model", "models/xinyang.toml", "--day", "windy-winter", "--interval", "15"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let made: Forecast = serde_json::from_slice(&out.stdout).unwrap();
    let stored = Forecast::load(repo("fixtures/forecasts/windy-winter-15.json")).unwrap();
    assert_eq!(made, stored, "fixtures/forecasts/windy-winter-15.json is what `vpp forecast` makes");
}

#[test]
fn solve_writes_an_mps_file_highs_can_read() {
    let mps = std::env::temp_dir().join(format!("vpp-cli-{}.mps", std::process::id()));
    let out = vpp(&[
        "solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/forecasts/summer-peak-60.json",
        "--objective", "cost", "--mps", mps.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(&mps).unwrap();
    assert!(body.starts_with("NAME vpp") && body.trim_end().ends_with("ENDATA"));
    assert!(body.contains(" E balance[shihe,t=19]"), "rows carry their names");
}
