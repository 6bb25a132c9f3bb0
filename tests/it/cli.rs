//! The `vpp` command as a user runs it: exit codes, what it prints, the JSON it writes.

use std::process::{Command, Output};

use vpp_dispatch::domain::sources::Source;
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
    let broken =
        good.replacen("eta_charge = 0.8803", "eta_charge = 1.8803", 1).replacen("import_cap_mw = 2500", "import_cap_mw = -2500", 1);
    assert_ne!(broken, good, "the edits apply");
    std::fs::write(&bad, broken).unwrap();
    let out = vpp(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("has 2 problem(s)"), "{err}");
    assert!(err.contains("storage[wuyue].eta_charge: an efficiency must lie in (0, 1], got 1.8803"), "{err}");
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
    let out =
        vpp(&["solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/forecasts/spring-valley-60.json", "--objective", "cheap"]);
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

/// `vpp forecast --scenarios N --seed S --reduce K`: scenarios of the point forecast (or of
/// a file's), the same for the same seed, K kept with all the probability; the forecast
/// with them still validates and solves (the deterministic solve uses the point series),
/// and it crosses the wire whole.
#[test]
fn forecast_command_adds_scenarios_and_reduces_them() {
    let make = |seed: &str, reduce: Option<&str>| -> Forecast {
        let mut args = vec!["forecast", "--model", "models/xinyang.toml", "--day", "summer-peak", "--scenarios", "40", "--seed", seed];
        if let Some(k) = reduce {
            args.extend(["--reduce", k]);
        }
        let out = vpp(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let all = make("5", None);
    assert_eq!(all.scenarios.len(), 40);
    assert_eq!(all, make("5", None), "deterministic for a seed");
    assert_ne!(all.scenarios, make("6", None).scenarios);
    let few = make("5", Some("4"));
    assert_eq!(few.scenarios.len(), 4);
    assert!((few.scenarios.iter().map(|s| s.probability).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(few.scenarios.iter().all(|s| all.scenarios.iter().any(|a| a.name == s.name && a.demand_mw == s.demand_mw)));
    let plant = Plant::load(repo("models/xinyang.toml")).unwrap();
    few.validate(&plant).unwrap();
    let point = Forecast { scenarios: Vec::new(), ..few.clone() };
    let a = vpp_dispatch::model::solve(&plant, &few, &Default::default()).unwrap();
    let b = vpp_dispatch::model::solve(&plant, &point, &Default::default()).unwrap();
    assert_eq!(a.totals.green_share, b.totals.green_share);
    assert_eq!(vpp_dispatch::api::forecast_from_pb(vpp_dispatch::api::forecast_to_pb(&few)).unwrap(), few, "the wire keeps them");

    // From a file, with its own point series; bad flags are refused by name.
    let out =
        vpp(&["forecast", "--model", "models/xinyang.toml", "--point", "fixtures/forecasts/windy-winter-15.json", "--scenarios", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f: Forecast = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((f.intervals, f.scenarios.len()), (96, 3));
    let out = vpp(&["forecast", "--model", "models/xinyang.toml", "--day", "summer-peak", "--scenarios", "50", "--as-quantiles"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let q: Forecast = serde_json::from_slice(&out.stdout).unwrap();
    assert!(q.scenarios.is_empty() && q.quantiles.is_some());
    q.validate(&plant).unwrap();
    assert_eq!(q.outcomes().len(), 3);
    let out = vpp(&["forecast", "--model", "models/xinyang.toml", "--day", "summer-peak", "--reduce", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--reduce needs --scenarios N"), "{}", text(&out.stderr));
}

#[test]
fn solve_plans_the_day_ahead_over_scenarios_from_a_file() {
    let dir = std::env::temp_dir().join(format!("vpp-cli-stochastic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (scen, plan) = (dir.join("scenarios.json"), dir.join("plan.json"));
    let point = "fixtures/forecasts/spring-valley-60.json";
    let args = ["forecast", "--model", "models/xinyang.toml", "--point", point, "--scenarios", "12", "--seed", "4", "--reduce", "3"];
    let out = vpp(&[&args[..], &["--out", scen.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        point,
        "--scenarios",
        scen.to_str().unwrap(),
        "--objective",
        "cost",
        "--json",
        plan.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    for want in ["stochastic day-ahead", "3 scenario(s)", "deterministic plan (EEV)", "VSS", "EVPI"] {
        assert!(printed.contains(want), "no '{want}' in:\n{printed}");
    }
    let plan: vpp_dispatch::domain::stochastic::StochasticPlan = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(plan.scenarios.len(), 3);
    assert!(plan.vss.cost_yuan >= -1e-6 * plan.stochastic.cost_yuan.abs(), "{:?}", plan.vss);
    assert!(plan.evpi.cost_yuan >= -1e-6 * plan.stochastic.cost_yuan.abs(), "{:?}", plan.evpi);

    // Scenarios of another horizon, and a file without any, are refused by name.
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/spring-valley-15.json",
        "--scenarios",
        scen.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--scenarios:") && text(&out.stderr).contains("96 × 15 min"), "{}", text(&out.stderr));
    let out = vpp(&["solve", "--model", "models/xinyang.toml", "--forecast", point, "--scenarios", point]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("holds neither scenarios nor quantiles"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn backtest_lives_a_generated_day_and_writes_its_report_and_chart() {
    let dir = std::env::temp_dir().join(format!("vpp-cli-backtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, svg) = (dir.join("backtest.json"), dir.join("backtest.svg"));
    let out = vpp(&[
        "backtest",
        "--model",
        "models/xinyang.toml",
        "--day",
        "spring-valley",
        "--days",
        "1",
        "--scenarios",
        "6",
        "--reduce",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    for want in
        ["backtest", "deterministic", "stochastic", "perfect-foresight", "stochastic gain", "gap to the bound", "51 dispatch solves"]
    {
        assert!(printed.contains(want), "no '{want}' in:\n{printed}");
    }
    let report: vpp_dispatch::backtest::Report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report.outcomes.len(), 3);
    assert!(report.outcomes.iter().all(|o| o.days.len() == 1 && o.days[0].schedule.is_none()));
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("perfect-foresight"), "not the chart: {}", &chart[..chart.len().min(200)]);

    // Refusals name the flag or field.
    let out = vpp(&["backtest", "--model", "models/xinyang.toml", "--day", "spring-valley", "--days", "1", "--policy", "lucky"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--policy: unknown policy 'lucky'"), "{}", text(&out.stderr));
    let out =
        vpp(&["backtest", "--model", "models/xinyang.toml", "--day", "spring-valley", "--days", "1", "--reduce", "9", "--scenarios", "6"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("reduce: must lie in 1..=6"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn solve_writes_an_mps_file_highs_can_read() {
    let mps = std::env::temp_dir().join(format!("vpp-cli-{}.mps", std::process::id()));
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/summer-peak-60.json",
        "--objective",
        "cost",
        "--mps",
        mps.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(&mps).unwrap();
    assert!(body.starts_with("NAME vpp") && body.trim_end().ends_with("ENDATA"));
    assert!(body.contains(" E balance[shihe,t=19]"), "rows carry their names");
}

#[test]
fn solve_plot_writes_the_stacked_source_chart_as_svg() {
    let dir = std::env::temp_dir().join(format!("vpp-cli-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, json) = (dir.join("stack.svg"), dir.join("schedule.json"));
    let _ = std::fs::remove_file(&svg);
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/summer-peak-60.json",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let schedule: Schedule = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let body = std::fs::read_to_string(&svg).expect("the SVG is written");
    assert!(body.trim_start().starts_with("<svg") && body.trim_end().ends_with("</svg>"), "an SVG document");
    let texts = svg_texts(&body);
    // Every source the park manager looks for, in the legend, in its colour.
    let lower = body.to_lowercase();
    for source in [Source::Wind, Source::Pv, Source::StorageGreen, Source::StorageGrey, Source::GridGrey] {
        assert!(texts.iter().any(|t| t == source.label()), "legend lacks {:?}: {texts:?}", source.label());
        assert!(lower.contains(&format!("fill=\"{}\"", source.colour())), "no area filled with {}'s colour", source.label());
    }
    // Layers without energy (no bids, no thermal, no green imports) are left out.
    for source in [Source::OtherGreen, Source::GridGreen, Source::OtherGrey] {
        assert!(!texts.iter().any(|t| t == source.label()), "{:?} carries nothing: {texts:?}", source.label());
    }
    let title = format!("xinyang · all parks · 2026-07-22 · green share {:.2} %", schedule.totals.green_share * 100.0);
    assert!(texts.contains(&title), "the title gives the day and the share: {texts:?}");
    assert!(texts.iter().any(|t| t == "06:00") && texts.iter().any(|t| t == "24:00"), "local hours on the axis: {texts:?}");
    // Issue 11 (2): a demand line over the stack, in the legend.
    assert!(texts.iter().any(|t| t == "Demand"), "the legend names the demand line: {texts:?}");
    assert!(body.contains("stroke=\"#212121\""), "a demand line is drawn");

    // One park's chart; a park that is not there is refused before solving.
    let park_svg = dir.join("park.svg");
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/summer-peak-60.json",
        "--plot",
        park_svg.to_str().unwrap(),
        "--plot-park",
        "huangchuan_zero_carbon",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let park = schedule.parks.iter().find(|p| p.name == "huangchuan_zero_carbon").unwrap();
    let texts = svg_texts(&std::fs::read_to_string(&park_svg).unwrap());
    let title = format!("xinyang · park huangchuan_zero_carbon · 2026-07-22 · green share {:.2} %", park.share_total * 100.0);
    assert!(texts.contains(&title), "{texts:?}");
    let never = dir.join("never.svg");
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/summer-peak-60.json",
        "--plot",
        never.to_str().unwrap(),
        "--plot-park",
        "gotham",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!never.exists());
    assert!(text(&out.stderr).contains("--plot-park: no park named 'gotham'"), "{}", text(&out.stderr));
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/summer-peak-60.json",
        "--plot-park",
        "shihe_park",
    ]);
    assert_eq!(out.status.code(), Some(2), "--plot-park needs --plot");
}

/// The text of every `<text>` element of an SVG document.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|part| {
            let (_, rest) = part.split_once('>')?;
            let (inner, _) = rest.split_once("</text>")?;
            Some(inner.trim().to_string())
        })
        .collect()
}

/// Issue 11 (7): `vpp solve … | head` panicked with a backtrace when the reader went away.
/// A closed pipe now ends the command quietly (SIGPIPE, as Unix tools do).
#[test]
fn issue11_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpp"))
        .args(["solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/forecasts/windy-winter-60.json"])
        .current_dir(repo(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vpp runs");
    // The reader goes away before anything is printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("vpp ends");
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}: {err}", out.status);
}

/// Issue 10: the published schema is the one the types generate (`vpp schema`), and a
/// schedule file `vpp solve --json` writes matches it.
#[test]
fn issue10_the_schedule_schema_is_current_and_written_files_match_it() {
    let out = vpp(&["schema"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("docs/schedule.schema.json")).expect("docs/schedule.schema.json"))
            .expect("JSON");
    assert_eq!(generated, committed, "docs/schedule.schema.json is stale: regenerate it with `vpp schema > docs/schedule.schema.json`");
    let dir = std::env::temp_dir().join(format!("vpp-cli-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("s.json");
    let out = vpp(&[
        "solve",
        "--model",
        "models/xinyang.toml",
        "--forecast",
        "fixtures/forecasts/windy-winter-15.json",
        "--objective",
        "cost",
        "--frontier",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written: Schedule = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("a schedule file");
    crate::checker::assert_matches_schema(&written);
    let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&committed).expect("compiles");
    assert!(validator.is_valid(&raw), "the file as written matches the schema");
    // And the schema has teeth: a share written as a string does not match.
    let mut broken = raw.clone();
    broken["totals"]["green_share"] = serde_json::Value::String("42 %".into());
    assert!(!validator.is_valid(&broken));
}

/// Issue 14's loop on the command line: a schedule played back as meter readings (noise, a
/// dropped reading), then the ledger: every certificate's energy placed once, each park's
/// cancelled green within its measured consumption, the statement's figures recounted from
/// the certificates file, the dropped reading reported missing; bad readings refused by line.
#[test]
fn issue14_readings_from_a_schedule_make_a_ledger_the_files_agree_with() {
    let dir = std::env::temp_dir().join(format!("vpp-cli-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (schedule, readings, certs, statement) =
        (dir.join("s.json"), dir.join("readings.csv"), dir.join("certificates.csv"), dir.join("statement.csv"));
    let p = |x: &std::path::PathBuf| x.to_str().unwrap().to_string();
    let out =
        vpp(&["solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/forecasts/summer-peak-15.json", "--json", &p(&schedule)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let args = ["meter", "simulate", "--model", "models/xinyang.toml", "--schedule", &p(&schedule), "--seed", "7", "--drop", "2", "--out"];
    let out = vpp(&[&args[..], &[p(&readings).as_str()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = vpp(&[
        "ledger",
        "--model",
        "models/xinyang.toml",
        "--readings",
        &p(&readings),
        "--certificates",
        &p(&certs),
        "--statement",
        &p(&statement),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("huangchuan_zero_carbon") && printed.contains("hourly-matched"), "{printed}");

    // Readings per (meter, quantity) summed, MWh.
    let plant = Plant::load(repo("models/xinyang.toml")).unwrap();
    let mut consumed: std::collections::BTreeMap<String, f64> = Default::default();
    let mut produced: std::collections::BTreeMap<String, f64> = Default::default();
    for line in std::fs::read_to_string(&readings).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let v: f64 = f[3].parse().unwrap();
        match f[2] {
            "consumption" => *consumed.entry(f[1].to_string()).or_default() += v,
            "output" => *produced.entry(f[1].to_string()).or_default() += v,
            _ => {}
        }
    }
    let missing =
        plant.parks.len() * 96 - std::fs::read_to_string(&readings).unwrap().lines().filter(|l| l.contains(",consumption,")).count();
    assert_eq!(missing, 2, "two consumption readings dropped");

    // Certificates: each id issued once, for one asset and interval; the direct ones add up
    // to the measured output of their asset.
    let mut by_id: std::collections::BTreeMap<String, (String, String)> = Default::default();
    let mut direct: std::collections::BTreeMap<String, f64> = Default::default();
    let mut cancelled: std::collections::BTreeMap<String, f64> = Default::default();
    for line in std::fs::read_to_string(&certs).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (id, asset, start, origin, destination, to, mwh) = (f[0], f[1], f[2], f[3], f[5], f[6], f[8].parse::<f64>().unwrap());
        let seen = by_id.entry(id.to_string()).or_insert_with(|| (asset.to_string(), start.to_string()));
        assert_eq!(seen, &(asset.to_string(), start.to_string()), "certificate {id} names one asset and interval");
        if origin == "direct" {
            *direct.entry(asset.to_string()).or_default() += mwh;
        }
        if destination == "cancelled" {
            *cancelled.entry(to.to_string()).or_default() += mwh;
        }
    }
    for (asset, mwh) in &produced {
        assert!(
            (direct.get(asset).copied().unwrap_or(0.0) - mwh).abs() < 1e-6,
            "{asset}: issued {:?} vs measured {mwh}",
            direct.get(asset)
        );
    }
    // The statement agrees with the certificates, and no park is cancelled more green than
    // it consumed; GECs are the floor of the cancelled MWh (one month here).
    let rows: Vec<Vec<String>> =
        std::fs::read_to_string(&statement).unwrap().lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), plant.parks.len());
    let mut missing_reported = 0;
    for r in &rows {
        let (park, consumption, green, gec): (&str, f64, f64, u64) =
            (&r[0], r[2].parse().unwrap(), r[5].parse().unwrap(), r[8].parse().unwrap());
        assert!(green <= consumption + 1e-9, "{park}: green {green} > consumed {consumption}");
        assert!(
            (green - cancelled.get(park).copied().unwrap_or(0.0)).abs() < 1e-6,
            "{park}: statement {green} vs certificates {:?}",
            cancelled.get(park)
        );
        assert_eq!(gec, green.floor() as u64, "{park}");
        missing_reported += r[7].parse::<usize>().unwrap();
        // Consumption counted only where it was read: at most what the file holds.
        assert!(consumption <= consumed.get(park).copied().unwrap_or(0.0) + 1e-6, "{park}");
    }
    assert_eq!(missing_reported, 2, "the dropped readings are reported missing");

    // A bad readings file: refused by line and column, exit 1.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "interval_start,meter,quantity,value_mwh\n2026-07-14T00:00:00Z,shihe_park,consumption,-3\n2026-07-14T00:15:00Z,nobody,consumption,1\n").unwrap();
    let out = vpp(&["ledger", "--model", "models/xinyang.toml", "--readings", &p(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("bad.csv:3.meter: no park named 'nobody'"), "{err}");
}

/// `vpp solve --window-days`: two quarter-hourly days in daily windows guided hourly; the
/// schedule covers both days and says how it was made; a window of 0 days is refused by
/// field with a non-zero exit.
#[test]
fn solve_in_windows_covers_the_horizon_and_refuses_an_empty_window() {
    let dir = std::env::temp_dir().join(format!("vpp-cli-windows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (fc, json) = (dir.join("two-days.json"), dir.join("schedule.json"));
    let (fc, json) = (fc.to_str().unwrap(), json.to_str().unwrap());
    let made =
        vpp(&["forecast", "--model", "models/xinyang.toml", "--day", "spring-valley", "--interval", "15", "--days", "2", "--out", fc]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let base = ["solve", "--model", "models/xinyang.toml", "--forecast", fc, "--objective", "cost"];
    let out = vpp(&[&base[..], &["--window-days", "1", "--json", json]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 windows of 1 day(s)"), "{}", text(&out.stdout));
    let s: Schedule = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(s.intervals.len(), 192);
    let out = vpp(&[&base[..], &["--window-days", "0"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("rolling.window_days: must lie in 1..=31, got 0"), "{}", text(&out.stderr));
}
