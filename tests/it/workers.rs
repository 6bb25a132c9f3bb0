//! Backtest sweeps on `vpp worker` processes (issue 15 item 4): items split as documented,
//! bad specs refused by field, and three workers on the real PostgreSQL, one killed with
//! `kill -9` mid-item, doing every item exactly once with the single-process results.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Row;
use vpp_dispatch::backtest::Policy;
use vpp_dispatch::model::Objective;
use vpp_dispatch::sweep::{self, ForecastSpec, PlantVariant, SeedPair, SpecInput, Sweep, SweepReport, SweepSpec};

use crate::repo;
use crate::support::pg::PgDb;
use crate::support::replica::vpp_command;

fn xinyang_toml() -> String {
    std::fs::read_to_string(repo("models/xinyang.toml")).expect("the Xinyang plant file")
}

fn spec(days: usize, chunk_days: usize, policies: Vec<Policy>, seeds: Vec<SeedPair>) -> SweepSpec {
    SweepSpec {
        plants: vec![PlantVariant { name: "xinyang".into(), toml: xinyang_toml() }],
        forecast: ForecastSpec::Generated { day: "windy-winter".into(), interval_minutes: 60, days },
        chunk_days,
        policies,
        seeds,
        scenarios: 4,
        reduce: 2,
        imbalance_premium: 100.0,
        objective: Objective::GreenShare,
    }
}

fn fields(e: &vpp_dispatch::domain::ValidationErrors) -> Vec<&str> {
    e.problems.iter().map(|p| p.field.as_str()).collect()
}

fn vpp(args: &[&str]) -> Output {
    vpp_command().args(args).output().expect("vpp runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn items_are_plant_by_seed_pair_by_chunk_by_policy_and_chunks_cut_local_days() {
    let pairs = vec![SeedPair { seed: 1, truth_seed: 2 }, SeedPair { seed: 3, truth_seed: 4 }];
    let items = sweep::items(&spec(5, 2, Policy::ALL.to_vec(), pairs.clone())).expect("a valid spec");
    // 2 seed pairs × 3 chunks (2 + 2 + 1 days) × 2 policies.
    assert_eq!(items.len(), 12);
    for (k, item) in items.iter().enumerate() {
        assert_eq!(item.number as usize, k);
        assert_eq!(item.plant, "xinyang");
        assert_eq!(item.seeds, pairs[k / 6]);
        assert_eq!(item.chunk as usize, (k / 2) % 3);
        assert_eq!(item.policy, Policy::ALL[k % 2]);
        assert_eq!(item.first_day, 2 * item.chunk);
        assert_eq!(item.days, if item.chunk == 2 { 1 } else { 2 });
        let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 14).unwrap() + chrono::Days::new(u64::from(item.first_day));
        assert_eq!(item.from, first, "windy-winter days start on 14 January");
    }
    // One chunk of every day: one item per policy and pair.
    assert_eq!(sweep::items(&spec(5, 7, vec![Policy::Deterministic], pairs)).unwrap().len(), 2);
    // Chunk 0 keeps the pair's seeds, so one chunk of all days is `vpp backtest` with them.
    assert_eq!(sweep::chunk_seed(5, 0), 5);
    assert_ne!(sweep::chunk_seed(5, 1), 5);
}

#[test]
fn a_bad_sweep_is_refused_naming_every_field_and_flag() {
    let mut s = spec(0, 0, Vec::new(), Vec::new());
    s.forecast = ForecastSpec::Generated { day: "monsoon".into(), interval_minutes: 7, days: 0 };
    s.imbalance_premium = -1.0;
    s.plants.push(PlantVariant { name: "xinyang".into(), toml: "nodes = 3".into() });
    let e = Sweep::new(s).expect_err("refused");
    let f = fields(&e);
    for want in [
        "chunk_days",
        "policies",
        "seeds",
        "imbalance_premium",
        "forecast.day",
        "forecast.interval_minutes",
        "forecast.days",
        "plants[1].name",
        "plants[1].toml",
    ] {
        assert!(f.contains(&want), "{want} missing in {e}");
    }
    let mut s = spec(2, 1, vec![Policy::Stochastic], vec![SeedPair { seed: 1, truth_seed: 1 }; 2]);
    s.reduce = 9;
    let f = Sweep::new(s).expect_err("refused");
    assert_eq!(fields(&f), ["seeds", "reduce"], "{f}");

    // From the command line, by flag.
    let input = SpecInput {
        models: vec![repo("models/xinyang.toml")],
        day: Some("windy-winter".into()),
        forecast: None,
        days: Some(2),
        chunk_days: 0,
        interval: 7,
        policy: "random".into(),
        seeds: "1:x".into(),
        scenarios: 4,
        reduce: 2,
        imbalance_premium: 100.0,
        objective: Objective::GreenShare,
    };
    let e = input.clone().into_sweep().expect_err("refused");
    assert_eq!(fields(&e), ["--policy", "--seeds"], "{e}");
    let e = SpecInput { policy: "both".into(), seeds: "1:2".into(), ..input }.into_sweep().expect_err("refused");
    assert_eq!(fields(&e), ["--chunk-days", "--interval"], "{e}");

    let out = vpp(&["sweep", "run", "--model", "models/xinyang.toml", "--day", "windy-winter", "--seeds", "1-2"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--seeds: '1-2' is not seed:truth_seed"), "{}", text(&out.stderr));
    let out = vpp(&["worker", "--database", "vpp.sqlite", "--until-empty"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--database: must be a postgres:// or postgresql:// URL"), "{}", text(&out.stderr));
}

/// The flags of the sweeps the worker test plans: six one-day items, and a stochastic one.
const DETERMINISTIC: &[&str] = &[
    "--model",
    "models/xinyang.toml",
    "--day",
    "windy-winter",
    "--days",
    "6",
    "--chunk-days",
    "1",
    "--policy",
    "deterministic",
    "--seeds",
    "3:4",
    "--objective",
    "cost",
];
const STOCHASTIC: &[&str] = &[
    "--model",
    "models/xinyang.toml",
    "--day",
    "windy-winter",
    "--days",
    "1",
    "--policy",
    "stochastic",
    "--seeds",
    "5:6",
    "--scenarios",
    "4",
    "--reduce",
    "2",
    "--imbalance-premium",
    "80",
    "--objective",
    "cost",
];

fn local_input(flags: &[&str]) -> SpecInput {
    use clap::{Args, FromArgMatches};
    let cmd = SpecInput::augment_args(clap::Command::new("sweep"));
    let m = cmd.try_get_matches_from(std::iter::once("sweep").chain(flags.iter().copied())).expect("the flags parse");
    let mut input = SpecInput::from_arg_matches(&m).expect("the flags parse");
    input.models = input.models.iter().map(|p| repo(&p.to_string_lossy())).collect();
    input
}

fn start_worker(dir: &Path, url: &str, name: &str) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    vpp_command()
        .args(["worker", "--database", url, "--name", name, "--until-empty", "--poll", "0.2"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("vpp worker starts")
}

fn log_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_one_killed_mid_item_do_every_item_once_with_the_single_process_results() {
    let db = PgDb::create("workers").await;
    let url = db.url.clone();
    let dir = std::env::temp_dir().join(&db.name);
    std::fs::create_dir_all(&dir).unwrap();

    let plan = |name: &str, flags: &[&str]| vpp(&[&["sweep", "plan", "--database", url.as_str(), "--name", name][..], flags].concat());
    let out = plan("det", DETERMINISTIC);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sweep det (id 1): 6 items queued"), "{}", text(&out.stdout));
    let out = plan("stoch", STOCHASTIC);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The same name again: identical is a no-op, different is refused.
    let out = plan("det", DETERMINISTIC);
    assert!(out.status.success() && text(&out.stdout).contains("planned already with this spec: 6 items, 0 done"), "{}", text(&out.stdout));
    let mut other = DETERMINISTIC.to_vec();
    other[5] = "5";
    let out = plan("det", &other);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("a sweep named 'det' exists with another spec"), "{}", text(&out.stderr));

    let names = ["w1", "w2", "w3"];
    let mut workers: Vec<Option<Child>> = names.iter().map(|n| Some(start_worker(&dir, &url, n))).collect();

    // As soon as one worker has started an item, kill it (its item runs for seconds).
    let mut conn = db.connect().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (sweep_id, item, killed) = loop {
        let row = sqlx::query("SELECT sweep, item, worker FROM work_item_starts ORDER BY started_at LIMIT 1")
            .fetch_optional(&mut conn)
            .await
            .unwrap();
        if let Some(row) = row {
            break (row.get::<i64, _>("sweep"), row.get::<i32, _>("item"), row.get::<String, _>("worker"));
        }
        assert!(Instant::now() < deadline, "no worker started an item:\n{}", names.map(|n| log_of(&dir, n)).join("\n"));
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let k = names.iter().position(|n| *n == killed).expect("a worker's name");
    let mut child = workers[k].take().expect("running");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let state: String = sqlx::query_scalar("SELECT state FROM work_items WHERE sweep = $1 AND item = $2")
        .bind(sweep_id)
        .bind(item)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(state, "queued", "the killed worker's item was not done yet");

    for (name, child) in names.iter().zip(&mut workers) {
        let Some(child) = child else { continue };
        let deadline = Instant::now() + Duration::from_secs(180);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "worker {name} did not finish:\n{}", log_of(&dir, name));
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "worker {name}: {status}\n{}", log_of(&dir, name));
    }

    // Every item done exactly once, with a result, none by the killed worker; the killed
    // worker's item started twice, every other once.
    let rows = sqlx::query(
        "SELECT w.sweep, w.item, w.state, w.worker, w.result IS NOT NULL AS has_result, \
         (SELECT count(*) FROM work_item_starts s WHERE s.sweep = w.sweep AND s.item = w.item) AS starts, \
         (SELECT array_agg(s.worker ORDER BY s.started_at) FROM work_item_starts s WHERE s.sweep = w.sweep AND s.item = w.item) AS by \
         FROM work_items w ORDER BY w.sweep, w.item",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), 7, "6 deterministic items and 1 stochastic");
    for row in &rows {
        let (s, i): (i64, i32) = (row.get("sweep"), row.get("item"));
        let worker: Option<String> = row.get("worker");
        let by: Vec<String> = row.get("by");
        assert_eq!(row.get::<String, _>("state"), "done", "sweep {s} item {i}");
        assert!(row.get::<bool, _>("has_result"), "sweep {s} item {i}");
        assert_ne!(worker.as_deref(), Some(killed.as_str()), "sweep {s} item {i} done by the killed worker");
        if (s, i) == (sweep_id, item) {
            assert_eq!(row.get::<i64, _>("starts"), 2, "the killed worker's item: {by:?}");
            assert_eq!(by[0], killed);
            assert_eq!(by.last(), worker.as_ref(), "finished by the worker that started it the second time");
        } else {
            assert_eq!(row.get::<i64, _>("starts"), 1, "sweep {s} item {i}: {by:?}");
        }
    }
    let total_starts: i64 = sqlx::query_scalar("SELECT count(*) FROM work_item_starts").fetch_one(&mut conn).await.unwrap();
    assert_eq!(total_starts, 8, "every item started once, the killed worker's twice");

    // The results, read back by `vpp sweep results`, are the single-process run's, figure
    // for figure.
    for (name, flags) in [("det", DETERMINISTIC), ("stoch", STOCHASTIC)] {
        let path = dir.join(format!("{name}.json"));
        let out = vpp(&["sweep", "results", "--database", url.as_str(), "--name", name, "--json", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: SweepReport = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!((report.done, report.queued, report.failed.len()), (report.items, 0, 0), "{}", text(&out.stdout));
        let sweep = local_input(flags).into_sweep().expect("the same spec");
        let local = SweepReport::local(sweep::run_local(&sweep, 2, &|_, _| {}).expect("runs in-process"));
        assert_eq!(report.items, local.items);
        for (got, want) in report.results.iter().zip(&local.results) {
            assert_eq!(got.item, want.item);
            assert_eq!(got.result, want.result, "item {} differs from the in-process run", got.item.number);
        }
        assert_eq!(report.summary, local.summary);
        assert!(
            text(&out.stdout).contains(&format!("sweep {name}: {} items: {0} done, 0 queued, 0 failed", report.items)),
            "{}",
            text(&out.stdout)
        );
    }

    // A worker with nothing to do waits, and stops on SIGTERM.
    let log = std::fs::File::create(dir.join("idle.log")).unwrap();
    let mut idle = vpp_command()
        .args(["worker", "--database", url.as_str(), "--name", "idle", "--poll", "0.2"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("vpp worker starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(&dir, "idle").contains("worker started") {
        assert!(Instant::now() < deadline && idle.try_wait().unwrap().is_none(), "{}", log_of(&dir, "idle"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: signalling a child process this test started, by its id.
    unsafe {
        libc::kill(idle.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = idle.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the idle worker did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}: {}", log_of(&dir, "idle"));
    let _ = std::fs::remove_dir_all(&dir);
}
