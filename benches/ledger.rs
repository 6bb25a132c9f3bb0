//! The measured ledger (issue 14): building it from readings, durable ingestion of
//! readings into the SQLite store, and a park's statement — at a day (always) and a year of
//! 15-minute readings for the whole plant (`VPP_BENCH_YEAR=1`).
//!
//! The readings are synthetic but shaped like the plant's: every wind farm and PV plant
//! reads its forecast availability × capacity, every park its forecast demand, storages
//! charge from 10:00 to 14:00 and discharge from 18:00 to 22:00 within their ratings, the
//! grid exchange imports what the parks lack and exports the surplus.

use std::time::{Duration, Instant};

use chrono::Timelike;
use criterion::{criterion_group, criterion_main, Criterion};
use tokio_util::sync::CancellationToken;
use vpp_dispatch::domain::Plant;
use vpp_dispatch::ledger::{Ledger, Readings, StatementOptions, StorageReading, StorageState, WH_PER_MWH};
use vpp_dispatch::metrics::Metrics;
use vpp_dispatch::service::{MeterReading, Principal, Rules, Service};
use vpp_dispatch::store::sqlite::SqliteStore;
use vpp_dispatch::store::{NewReading, Store};
use vpp_dispatch::synth::{generate, DayKind};

fn plant() -> Plant {
    Plant::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/xinyang.toml")).expect("the Xinyang plant")
}

/// `days` of 15-minute readings of every meter of the plant.
fn readings(plant: &Plant, days: usize) -> Readings {
    let fc = generate(plant, DayKind::SpringValley, 15, days);
    let n = fc.intervals;
    let dt = 0.25;
    let wh = |mwh: f64| (mwh.max(0.0) * WH_PER_MWH as f64).round() as i64;
    let mut r = Readings::empty(plant, fc.start, 15, n);
    let mut net = vec![0.0; n];
    for (_, a) in plant.renewables() {
        let avail = &fc.availability[&a.name];
        let s: Vec<Option<i64>> = (0..n).map(|t| Some(wh(avail[t] * a.capacity_mw * dt))).collect();
        for t in 0..n {
            net[t] += avail[t] * a.capacity_mw * dt;
        }
        r.output_wh.insert(a.name.clone(), s);
    }
    for p in &plant.parks {
        let d = &fc.demand_mw[&p.name];
        for t in 0..n {
            net[t] -= d[t] * dt;
        }
        r.consumption_wh.insert(p.name.clone(), (0..n).map(|t| Some(wh(d[t] * dt))).collect());
    }
    for s in &plant.storage {
        let mut soc = s.e_min_mwh + 0.5 * (s.e_max_mwh - s.e_min_mwh);
        let series = (0..n)
            .map(|t| {
                let hour = fc.start.with_timezone(&plant.tz()).hour() as usize + t / 4;
                let (c, d) = match hour % 24 {
                    10..=13 => ((0.5 * s.charge_mw * dt).min((s.e_max_mwh - soc) / s.eta_charge), 0.0),
                    18..=21 => (0.0, (0.5 * s.discharge_mw * dt).min((soc - s.e_min_mwh) * s.eta_discharge)),
                    _ => (0.0, 0.0),
                };
                soc += c * s.eta_charge - d / s.eta_discharge;
                net[t] += d - c;
                StorageReading { charge_wh: Some(wh(c)), discharge_wh: Some(wh(d)), soc_wh: Some(wh(soc)) }
            })
            .collect();
        r.storage.insert(s.name.clone(), series);
    }
    for g in &plant.grids {
        let s = (0..n)
            .map(|t| vpp_dispatch::ledger::GridReading {
                import_wh: Some(wh(-net[t])),
                export_wh: Some(wh(net[t].min(g.export_cap_mw * dt))),
            })
            .collect();
        r.grid.insert(g.name.clone(), s);
    }
    r
}

/// Every reading of `r` as a store row.
fn rows(r: &Readings) -> Vec<NewReading> {
    let now = chrono::Utc::now();
    r.entries()
        .into_iter()
        .map(|e| NewReading {
            meter: e.meter.into(),
            quantity: e.quantity.name().into(),
            interval_start: r.instant(e.t),
            interval_minutes: 15,
            value_wh: e.wh,
            reason: None,
            source: "bench".into(),
            received_at: now,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let plant = plant();
    let year = std::env::var("VPP_BENCH_YEAR").is_ok_and(|v| v == "1");
    let mut cases = vec![("day", 1usize)];
    if year {
        cases.push(("year", 365));
    }
    for (name, days) in cases {
        let r = readings(&plant, days);
        let n = r.entries().len();
        // One timed build, with the figures printed (criterion's own figures follow).
        let started = Instant::now();
        let ledger = Ledger::build(&plant, r.clone(), StorageState::unread(&plant)).expect("the readings make a ledger");
        let build = started.elapsed();
        let started = Instant::now();
        let statements = ledger.statement(&plant, &StatementOptions::default());
        let statement = started.elapsed();
        println!(
            "ledger {name}: {n} readings, {} certificates; build {:.3} s ({:.0} readings/s), statement of every park {:.1} ms",
            ledger.certificates().count(),
            build.as_secs_f64(),
            n as f64 / build.as_secs_f64(),
            statement.as_secs_f64() * 1e3,
        );
        assert_eq!(statements.len(), plant.parks.len());
        let mut g = c.benchmark_group(format!("ledger {name}"));
        g.sample_size(10).measurement_time(Duration::from_secs(if days > 1 { 60 } else { 5 }));
        g.bench_function("build", |b| {
            b.iter(|| Ledger::build(&plant, r.clone(), StorageState::unread(&plant)).map(|l| l.closing().storages.len()))
        });
        g.bench_function("statement", |b| b.iter(|| ledger.statement(&plant, &StatementOptions::default()).len()));
        g.finish();

        // Durable ingestion into a fresh SQLite file, in batches of 10,000 (the gRPC
        // maximum), one commit per batch.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        let batch = rows(&r);
        let path = std::env::temp_dir().join(format!("vpp-bench-readings-{}-{name}.sqlite", std::process::id()));
        let secs = rt.block_on(async {
            let store = SqliteStore::open(&path).await.expect("store opens");
            let started = Instant::now();
            for chunk in batch.chunks(10_000) {
                store.put_readings(chunk.to_vec()).await.expect("stored");
            }
            let secs = started.elapsed().as_secs_f64();
            // What a park's statement costs the service: the ledger built into the store
            // once (every day's readings read back, built, kept), then statements read from
            // the kept days; a correction rebuilds from its day only.
            let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
            let toml =
                std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/xinyang.toml")).expect("plant file");
            let svc = Service::new(plant.clone(), toml, store.clone(), Rules::default(), Metrics::new(), CancellationToken::new());
            let operator = Principal::Operator { name: "bench".into() };
            let started = Instant::now();
            let built = svc.operator(&operator, "bench").expect("operator").update_ledger().await.expect("built");
            println!(
                "ledger {name} built and kept by the service: {} days in {:.3} s (readings read back from SQLite, built, stored)",
                built.recomputed.len(),
                started.elapsed().as_secs_f64()
            );
            let reader = svc.reader(&operator).expect("reader");
            let park = &plant.parks[0].name;
            let tz = plant.tz();
            let (first, last) = (r.start.with_timezone(&tz).date_naive(), r.instant(r.intervals - 1).with_timezone(&tz).date_naive());
            let (first, last) = (first.to_string(), last.to_string());
            let mut times = Vec::new();
            for _ in 0..21 {
                let started = Instant::now();
                let l = reader.park_ledger(park, &first, &last, false).await.expect("a statement");
                times.push(started.elapsed().as_secs_f64());
                assert!(!l.statement.months.is_empty());
            }
            times.sort_by(f64::total_cmp);
            println!("statement {name} of one park served from the kept ledger: median {:.2} ms (21 runs)", times[10] * 1e3);
            let started = Instant::now();
            let detail = reader.park_ledger(park, &last, &last, true).await.expect("a day's detail");
            println!(
                "detail {name}: one day's intervals and {} certificate parts served in {:.1} ms",
                detail.certificates.len(),
                started.elapsed().as_secs_f64() * 1e3
            );
            // A correction in the middle of the range.
            let t = r.intervals / 2 + 10;
            let value = r.consumption_wh[park][t].unwrap_or(0) + 100_000;
            let fix = MeterReading {
                meter: park.clone(),
                quantity: "consumption".into(),
                interval_start: r.instant(t),
                value_mwh: value as f64 / WH_PER_MWH as f64,
                reason: Some("bench correction".into()),
            };
            svc.meter(&Principal::Meter { name: "bench".into() }).expect("meter").submit(vec![fix], "bench").await.expect("corrected");
            let started = Instant::now();
            let again = svc.operator(&operator, "bench").expect("operator").update_ledger().await.expect("rebuilt");
            println!(
                "correction {name}: {} day(s) of {} recomputed in {:.1} ms",
                again.recomputed.len(),
                built.recomputed.len(),
                started.elapsed().as_secs_f64() * 1e3
            );
            store.close().await;
            secs
        });
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        println!(
            "ingestion {name}: {} readings durably into SQLite in {secs:.3} s: {:.0} readings/s",
            batch.len(),
            batch.len() as f64 / secs
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
